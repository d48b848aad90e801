//! `text-service`: finds the mentions and URLs of a post's text, resolves the mentions
//! (user-mention-service), shortens the URLs (url-shorten-service) and rewrites the text with the
//! short URLs (docs/BENCHMARKS.md §2.2, §5.3). Async: the two calls form one fork group.

use quilt_apps_common::is_async;
use quilt_sdk::{invoke, invoke_async, Error};
use social_network_shared::{
    parse_mentions, parse_urls, shorten_text, TextRequest, TextServiceReturn, UrlPair, UrlsRequest,
    UserMention, UsernamesRequest,
};

fn text_service(req: TextRequest) -> Result<TextServiceReturn, Error> {
    let usernames = UsernamesRequest {
        usernames: parse_mentions(&req.text),
    };
    let urls = UrlsRequest {
        urls: parse_urls(&req.text),
    };
    let (user_mentions, urls): (Vec<UserMention>, Vec<UrlPair>) = if is_async() {
        let mentions = invoke_async("user-mention-service", &usernames);
        let urls = invoke_async("url-shorten-service", &urls);
        (mentions.join()?, urls.join()?)
    } else {
        (
            invoke("user-mention-service", &usernames)?,
            invoke("url-shorten-service", &urls)?,
        )
    };
    Ok(TextServiceReturn {
        text: shorten_text(&req.text, &urls),
        user_mentions,
        urls,
    })
}

quilt_sdk::handler!(text_service);
