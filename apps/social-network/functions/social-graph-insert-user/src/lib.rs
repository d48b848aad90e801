//! `social-graph-insert-user`: `HSET social-graph:<uid>` `user_id`, `followers` = `[]`,
//! `followees` = `[]` (docs/BENCHMARKS.md §2.3); real storage in every mode. Answers
//! `"from social-graph-insert-user"` in the sync variant, `""` in the async one, as the reference.

use quilt_apps_common::{is_async, store};
use quilt_sdk::Error;
use social_network_shared::UserIdRequest;

fn social_graph_insert_user(req: UserIdRequest) -> Result<String, Error> {
    store::redis(|c| {
        redis::cmd("HSET")
            .arg(format!("social-graph:{}", req.user_id))
            .arg("user_id")
            .arg(req.user_id)
            .arg("followers")
            .arg("[]")
            .arg("followees")
            .arg("[]")
            .query::<()>(c)
    })?;
    Ok(if is_async() {
        String::new()
    } else {
        "from social-graph-insert-user".to_string()
    })
}

quilt_sdk::handler!(social_graph_insert_user);
