//! `url-shorten-service`: a short URL for every URL, in input order (docs/BENCHMARKS.md §2.2).
//!
//! Real: `HSET url-shorten <short> <url>`, one field per short URL (the reference overwrote two
//! fields of one global hash every time, §7.16). Fake database: a 4 ms sleep per URL.

use quilt_apps_common::{alnum, fake_sleep, fakedb, store};
use quilt_sdk::Error;
use social_network_shared::{UrlPair, UrlsRequest};

fn url_shorten_service(req: UrlsRequest) -> Result<Vec<UrlPair>, Error> {
    let pairs: Vec<UrlPair> = req
        .urls
        .into_iter()
        .map(|url| UrlPair {
            shortened_url: format!("http://short-url.com/{}", alnum(10)),
            expanded_url: url,
        })
        .collect();
    if fakedb() {
        fake_sleep(4 * pairs.len() as u64);
    } else if !pairs.is_empty() {
        store::redis(|c| {
            let mut cmd = redis::cmd("HSET");
            cmd.arg("url-shorten");
            for p in &pairs {
                cmd.arg(&p.shortened_url).arg(&p.expanded_url);
            }
            cmd.query::<()>(c)
        })?;
    }
    Ok(pairs)
}

quilt_sdk::handler!(url_shorten_service);
