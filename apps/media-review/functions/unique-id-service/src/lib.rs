//! `unique-id-service` (§3.2): draws the review id and hands it to
//! compose-review-upload-unique-id.

use quilt_apps_common::unique_id;
use quilt_sdk::{invoke, Error};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Request {
    req_id: i64,
}

#[derive(Serialize)]
struct Upload {
    req_id: i64,
    review_id: i64,
}

fn unique_id_service(req: Request) -> Result<(), Error> {
    let up = Upload {
        req_id: req.req_id,
        review_id: unique_id(),
    };
    invoke::<_, IgnoredAny>("compose-review-upload-unique-id", &up)?;
    Ok(())
}

quilt_sdk::handler!(unique_id_service);
