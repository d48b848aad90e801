//! `bomb`: a fork bomb with a fuse. `{"max": n}` forks up to n children (each sleeps 30 s, then
//! exits) and answers how many it made and why it stopped (`null`: it reached n); `{"exit": true}`
//! exits the instance with code 3.

use quilt_sdk::Error;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct Request {
    #[serde(default)]
    max: u32,
    #[serde(default)]
    exit: bool,
}

fn bomb(req: Request) -> Result<Value, Error> {
    if req.exit {
        std::process::exit(3);
    }
    let mut forked = 0;
    let mut error = None;
    while forked < req.max {
        // SAFETY: the child only calls async-signal-safe functions (sleep, _exit).
        match unsafe { libc::fork() } {
            0 => unsafe {
                libc::sleep(30);
                libc::_exit(0)
            },
            pid if pid < 0 => {
                error = Some(std::io::Error::last_os_error().to_string());
                break;
            }
            _ => forked += 1,
        }
    }
    Ok(json!({ "forked": forked, "error": error }))
}

quilt_sdk::handler!(bomb);
