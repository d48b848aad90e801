//! `decorate`: frames a text as a greeting.

use quilt_sdk::Error;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Text {
    text: String,
}

fn decorate(req: Text) -> Result<Text, Error> {
    Ok(Text {
        text: format!("Hello, {}!", req.text),
    })
}

quilt_sdk::handler!(decorate);
