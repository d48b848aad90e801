//! `quiet`: `{"name": n}` -> `{"greeting": g}`, the shared crate's greeting without its feature
//! `loud`.

use quilt_sdk::Error;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct Request {
    name: String,
}

fn quiet(req: Request) -> Result<Value, Error> {
    Ok(json!({ "greeting": features_shared::greet(&req.name) }))
}

quilt_sdk::handler!(quiet);
