//! `social-graph-follow-with-username`: `user_name` follows `followee_name`
//! (docs/BENCHMARKS.md §2.2, §5.4).
//!
//! Sync: get-user-id (user), get-user-id (followee), social-graph-follow. Async: the two lookups
//! as one fork group, then social-graph-follow as a group of one. The fake-database sync variant of
//! the reference skipped social-graph-follow (§7.8); here every variant calls it. Answers `""`.

use quilt_apps_common::is_async;
use quilt_sdk::{invoke, invoke_async, Error};
use serde::de::IgnoredAny;
use serde::Deserialize;
use social_network_shared::{FollowRequest, UsernameRequest};

#[derive(Deserialize)]
struct Request {
    user_name: String,
    followee_name: String,
}

fn social_graph_follow_with_username(req: Request) -> Result<String, Error> {
    let user = UsernameRequest {
        username: req.user_name,
    };
    let followee = UsernameRequest {
        username: req.followee_name,
    };
    if is_async() {
        let user_id = invoke_async("get-user-id", &user);
        let followee_id = invoke_async("get-user-id", &followee);
        let follow = FollowRequest {
            user_id: user_id.join()?,
            followee_id: followee_id.join()?,
        };
        let _: IgnoredAny = invoke_async("social-graph-follow", &follow).join()?;
    } else {
        let follow = FollowRequest {
            user_id: invoke("get-user-id", &user)?,
            followee_id: invoke("get-user-id", &followee)?,
        };
        let _: IgnoredAny = invoke("social-graph-follow", &follow)?;
    }
    Ok(String::new())
}

quilt_sdk::handler!(social_graph_follow_with_username);
