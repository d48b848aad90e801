//! `salute`: anything -> `{"salute": s}`, the shared procedural macro's salute without its feature
//! `loud`. It shares no other crate with `loud` whose features differ, so only the macro's features
//! keep it from being built together with `loud`.

use quilt_sdk::Error;
use serde_json::{json, Value};

fn salute(_req: Value) -> Result<Value, Error> {
    Ok(json!({ "salute": features_macro::salute!() }))
}

quilt_sdk::handler!(salute);
