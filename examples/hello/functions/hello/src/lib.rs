//! `hello`: greets `name` by asking `upper` (C) to shout it and `decorate` (Rust) to frame it.

use quilt_sdk::{invoke, Error};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Request {
    name: String,
}

#[derive(Serialize, Deserialize)]
struct Text {
    text: String,
}

#[derive(Serialize)]
struct Reply {
    message: String,
}

fn hello(req: Request) -> Result<Reply, Error> {
    let upper: Text = invoke("upper", &Text { text: req.name })?;
    let decorated: Text = invoke("decorate", &upper)?;
    Ok(Reply {
        message: decorated.text,
    })
}

quilt_sdk::handler!(hello);
