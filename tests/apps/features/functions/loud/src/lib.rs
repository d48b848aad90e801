//! `loud`: `{"name": n}` -> `{"greeting": g, "length": l}`, where `g` is the shared crate's greeting
//! with its feature `loud` and `l` is what `plain` counts in it.

use quilt_sdk::Error;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct Request {
    name: String,
}

fn loud(req: Request) -> Result<Value, Error> {
    let greeting = features_shared::greet(&req.name);
    let counted: Value = quilt_sdk::invoke("plain", &json!({ "text": greeting }))?;
    Ok(json!({ "greeting": greeting, "length": counted["length"] }))
}

quilt_sdk::handler!(loud);
