//! `fanout`: invokes `work` `k` times at once (fork) with its `ms`, `mb` and `spin_ms`, then waits
//! for every reply (join).

use quilt_sdk::{invoke_async, Error};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Request {
    k: u32,
    #[serde(default)]
    ms: u64,
    #[serde(default)]
    mb: u64,
    #[serde(default)]
    spin_ms: u64,
}

#[derive(Serialize)]
struct Job {
    ms: u64,
    mb: u64,
    spin_ms: u64,
}

#[derive(Serialize, Deserialize)]
struct WorkReply {
    pid: u32,
    max_in_flight: usize,
}

#[derive(Serialize)]
struct Reply {
    caller_pid: u32,
    replies: Vec<WorkReply>,
}

fn fanout(req: Request) -> Result<Reply, Error> {
    let job = Job {
        ms: req.ms,
        mb: req.mb,
        spin_ms: req.spin_ms,
    };
    let pending: Vec<_> = (0..req.k).map(|_| invoke_async("work", &job)).collect();
    let replies = pending
        .into_iter()
        .map(|p| p.join())
        .collect::<Result<Vec<WorkReply>, Error>>()?;
    Ok(Reply {
        caller_pid: std::process::id(),
        replies,
    })
}

quilt_sdk::handler!(fanout);
