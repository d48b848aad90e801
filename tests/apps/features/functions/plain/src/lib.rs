//! `plain`: `{"text": t}` -> `{"length": characters in t}`; does not use the shared crate.

use quilt_sdk::Error;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct Request {
    text: String,
}

fn plain(req: Request) -> Result<Value, Error> {
    Ok(json!({ "length": req.text.chars().count() }))
}

quilt_sdk::handler!(plain);
