//! `upload-user-review` (§3.2): `ZADD user_review:<user_id> <timestamp> <review_id>`. Fake
//! database: 4 ms.

use quilt_apps_common::{fake_sleep, fakedb, store};
use quilt_sdk::Error;
use serde::Deserialize;

#[derive(Deserialize)]
struct Request {
    user_id: i64,
    review_id: i64,
    timestamp: i64,
}

fn upload_user_review(req: Request) -> Result<(), Error> {
    if fakedb() {
        fake_sleep(4);
        return Ok(());
    }
    store::redis(|c| {
        redis::cmd("ZADD")
            .arg(format!("user_review:{}", req.user_id))
            .arg(req.timestamp)
            .arg(req.review_id)
            .query::<()>(c)
    })
}

quilt_sdk::handler!(upload_user_review);
