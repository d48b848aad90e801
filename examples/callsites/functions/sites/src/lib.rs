//! `sites`: invokes `leaf` from a helper, a closure, a thread, a loop, twice in a row, and through
//! a name known only at run time; returns every value and the processes that computed them.

use quilt_sdk::{invoke, Error};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct In {
    n: i64,
    /// The callee of the last call, chosen by the request.
    target: String,
}

#[derive(Serialize)]
struct Arg {
    n: i64,
}

#[derive(Deserialize)]
struct LeafOut {
    v: i64,
    pid: u32,
}

#[derive(Serialize)]
struct Out {
    values: Vec<i64>,
    pids: Vec<u32>,
    own_pid: u32,
}

#[inline(never)]
fn helper(n: i64) -> Result<LeafOut, Error> {
    invoke("leaf", &Arg { n })
}

fn sites(req: In) -> Result<Out, Error> {
    let mut got: Vec<LeafOut> = Vec::new();
    got.push(helper(req.n)?);
    let closure = |n: i64| -> Result<LeafOut, Error> { invoke("leaf", &Arg { n }) };
    got.push(closure(req.n + 1)?);
    let n = req.n;
    let thread = std::thread::spawn(move || invoke::<_, LeafOut>("leaf", &Arg { n: n + 2 }));
    got.push(thread.join().map_err(|_| Error::msg("thread panicked"))??);
    for i in 0..3 {
        got.push(invoke("leaf", &Arg { n: req.n + 3 + i })?);
    }
    got.push(invoke("leaf", &Arg { n: req.n + 6 })?);
    got.push(invoke("leaf", &Arg { n: req.n + 7 })?);
    got.push(invoke(&req.target, &Arg { n: req.n + 8 })?);
    Ok(Out {
        values: got.iter().map(|g| g.v).collect(),
        pids: got.iter().map(|g| g.pid).collect(),
        own_pid: std::process::id(),
    })
}

quilt_sdk::handler!(sites);
