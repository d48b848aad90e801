//! `echo`: returns its JSON input unchanged.

use quilt_sdk::Error;
use serde_json::Value;

fn echo(req: Value) -> Result<Value, Error> {
    Ok(req)
}

quilt_sdk::handler!(echo);
