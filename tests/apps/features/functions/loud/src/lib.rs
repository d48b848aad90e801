//! `loud`: `{"name": n}` -> `{"greeting": g, "length": l, "salute": s}`, where `g` is the shared
//! crate's greeting with its feature `loud`, `l` is what `plain` counts in it and `s` the shared
//! procedural macro's salute with its feature `loud`.

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
    Ok(json!({
        "greeting": greeting,
        "length": counted["length"],
        "salute": features_macro::salute!(),
    }))
}

quilt_sdk::handler!(loud);
