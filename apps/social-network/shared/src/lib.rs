//! Record shapes, requests and helpers shared by the social network's functions
//! (docs/BENCHMARKS.md §2). Field order is the reference's emission order.
//!
//! Invocations stay in the function crates, each with a literal callee name, so that the merging
//! compiler sees constant names at every call site.

use quilt_sdk::Error;
use rand::RngExt;
use serde::{Deserialize, Serialize};

/// The author of a post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Creator {
    pub user_id: i64,
    pub username: String,
}

/// A user mentioned in a post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserMention {
    pub user_id: i64,
    pub user_name: String,
}

/// A media item of a post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    pub media_type: String,
    pub media_id: i64,
}

/// A shortened URL and the URL it stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UrlPair {
    pub shortened_url: String,
    pub expanded_url: String,
}

/// The kind of a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum PostType {
    Post,
    Repost,
    Reply,
    Dm,
}

/// A post as stored and read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Post {
    pub post_id: i64,
    pub creator: Creator,
    pub text: String,
    pub user_mentions: Vec<UserMention>,
    pub media: Vec<Media>,
    pub urls: Vec<UrlPair>,
    pub timestamp: i64,
    pub post_type: PostType,
}

/// What text-service answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextServiceReturn {
    pub user_mentions: Vec<UserMention>,
    pub urls: Vec<UrlPair>,
    pub text: String,
}

/// An entry of a user's follower list (`social-graph:<uid>` field `followers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Follower {
    pub follower_id: i64,
    pub timestamp: i64,
}

/// An entry of a user's followee list (`social-graph:<uid>` field `followees`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Followee {
    pub followee_id: i64,
    pub timestamp: i64,
}

/// `{"msg": str}`: the request of unique-id-service (not even parsed by it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MsgRequest {
    pub msg: String,
}

/// `{"text": str}`: the request of text-service.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TextRequest {
    pub text: String,
}

/// `{"usernames": [str]}`: the request of user-mention-service.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UsernamesRequest {
    pub usernames: Vec<String>,
}

/// `{"urls": [str]}`: the request of url-shorten-service.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UrlsRequest {
    pub urls: Vec<String>,
}

/// `{"media_id": [i64], "media_type": [str]}`: the request of media-service.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MediaRequest {
    pub media_id: Vec<i64>,
    pub media_type: Vec<String>,
}

/// `{"post_id", "user_id", "timestamp"}`: the request of write-user-timeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserTimelineWrite {
    pub post_id: i64,
    pub user_id: i64,
    pub timestamp: i64,
}

/// `{"post_id", "user_id", "timestamp", "user_mentions_id"}`: the request of write-home-timeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HomeTimelineWrite {
    pub post_id: i64,
    pub user_id: i64,
    pub timestamp: i64,
    pub user_mentions_id: Vec<i64>,
}

/// `{"user_id": i64}`: the request of social-graph-get-followers and social-graph-insert-user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserIdRequest {
    pub user_id: i64,
}

/// `{"username": str}`: the request of get-user-id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UsernameRequest {
    pub username: String,
}

/// `{"user_id", "followee_id"}`: the request of social-graph-follow.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FollowRequest {
    pub user_id: i64,
    pub followee_id: i64,
}

/// `{"post_ids": [i64]}`: the request of read-posts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PostIdsRequest {
    pub post_ids: Vec<i64>,
}

fn is_mention_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

fn is_url_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"_!~*'().&=+$%-".contains(&c)
}

/// The usernames mentioned in `text`: every match of `@[A-Za-z0-9_-]+` in order, `@` stripped,
/// duplicates kept.
pub fn parse_mentions(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'@' {
            let mut j = i + 1;
            while j < b.len() && is_mention_char(b[j]) {
                j += 1;
            }
            if j > i + 1 {
                out.push(text[i + 1..j].to_string());
                i = j;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// The URLs in `text`: every match of `(http://|https://)[A-Za-z0-9_!~*'().&=+$%-]+` in order.
pub fn parse_urls(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let scheme = if b[i..].starts_with(b"http://") {
            7
        } else if b[i..].starts_with(b"https://") {
            8
        } else {
            0
        };
        if scheme > 0 {
            let mut j = i + scheme;
            while j < b.len() && is_url_char(b[j]) {
                j += 1;
            }
            if j > i + scheme {
                out.push(text[i..j].to_string());
                i = j;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// `text` with every occurrence of each pair's expanded URL replaced by its short URL, pair by
/// pair in order.
pub fn shorten_text(text: &str, urls: &[UrlPair]) -> String {
    let mut text = text.to_string();
    for u in urls {
        if !u.expanded_url.is_empty() {
            text = text.replace(&u.expanded_url, &u.shortened_url);
        }
    }
    text
}

/// The id the fake-database mode derives from a username `username_<n>`: the integer after its
/// first 9 characters.
pub fn id_from_username(username: &str) -> Result<i64, Error> {
    username
        .get(9..)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::msg(format!("User: {username} is not of the form username_<n>")))
}

/// Distinct values in first-seen order.
pub fn dedup<T: PartialEq + Clone>(items: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for x in items {
        if !out.contains(x) {
            out.push(x.clone());
        }
    }
    out
}

fn fake_user(rng: &mut impl RngExt) -> (i64, String) {
    let id = rng.random_range(1..=100);
    (id, format!("username_{id}"))
}

/// The fake-database stand-in for a stored post (docs/BENCHMARKS.md §2.2, read-posts).
pub fn random_post(post_id: i64) -> Post {
    let mut rng = rand::rng();
    let alnum = quilt_apps_common::alnum;
    let media = (0..rng.random_range(1..=5))
        .map(|_| Media {
            media_type: alnum(8),
            media_id: rng.random(),
        })
        .collect();
    let urls = (0..rng.random_range(1..=5))
        .map(|_| UrlPair {
            shortened_url: alnum(7),
            expanded_url: alnum(7),
        })
        .collect();
    let user_mentions = (0..rng.random_range(1..=5))
        .map(|_| {
            let (user_id, user_name) = fake_user(&mut rng);
            UserMention { user_id, user_name }
        })
        .collect();
    let (user_id, username) = fake_user(&mut rng);
    Post {
        post_id,
        creator: Creator { user_id, username },
        text: alnum(20),
        user_mentions,
        media,
        urls,
        timestamp: rng.random(),
        post_type: PostType::Post,
    }
}

/// Parses a JSON text stored by another function.
pub fn from_stored<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|e| Error::msg(format!("stored {what} is not valid: {e}")))
}

/// JSON text of a value (infallible for the plain records of this crate).
pub fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("plain records always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_and_urls_follow_the_reference_patterns() {
        let t = "hi @alice and @bob-2_x, @ @@carol http://a.com/x https://b.org?q=1 http:// x";
        assert_eq!(parse_mentions(t), ["alice", "bob-2_x", "carol"]);
        assert_eq!(parse_urls(t), ["http://a.com", "https://b.org"]);
        let pairs = [UrlPair {
            shortened_url: "http://short-url.com/abc".into(),
            expanded_url: "http://a.com".into(),
        }];
        assert_eq!(
            shorten_text("x http://a.com y http://a.com", &pairs),
            "x http://short-url.com/abc y http://short-url.com/abc"
        );
    }

    #[test]
    fn post_json_keeps_the_reference_field_order() {
        let p = Post {
            post_id: 1,
            creator: Creator {
                user_id: 2,
                username: "u".into(),
            },
            text: "t".into(),
            user_mentions: vec![],
            media: vec![],
            urls: vec![],
            timestamp: 3,
            post_type: PostType::Dm,
        };
        assert_eq!(
            to_json(&p),
            r#"{"post_id":1,"creator":{"user_id":2,"username":"u"},"text":"t","user_mentions":[],"media":[],"urls":[],"timestamp":3,"post_type":"DM"}"#
        );
        assert_eq!(id_from_username("username_17").unwrap(), 17);
        assert!(id_from_username("bob").is_err());
    }
}
