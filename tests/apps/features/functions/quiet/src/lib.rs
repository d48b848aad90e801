//! `quiet`: `{"name": n}` -> `{"greeting": g, "salute": s}`, the shared crate's greeting and the
//! shared procedural macro's salute, both without their feature `loud`.

use quilt_sdk::Error;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct Request {
    name: String,
}

fn quiet(req: Request) -> Result<Value, Error> {
    Ok(json!({
        "greeting": features_shared::greet(&req.name),
        "salute": features_macro::salute!(),
    }))
}

quilt_sdk::handler!(quiet);
