//! `call`: `{"to": "<function>", "body": <json>}` invokes `to` synchronously through the gateway
//! with `body` and returns its reply; a callee's error is passed on (it names the callee). The
//! first hop of two-function workflows in the fault tests.

use quilt_sdk::Error;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Request {
    to: String,
    body: Value,
}

fn call(req: Request) -> Result<Value, Error> {
    let input = serde_json::to_vec(&req.body).map_err(|e| Error::msg(e.to_string()))?;
    let reply = quilt_sdk::invoke_bytes(&req.to, &input)?;
    serde_json::from_slice(&reply).map_err(|e| Error::msg(format!("reply of '{}': {e}", req.to)))
}

quilt_sdk::handler!(call);
