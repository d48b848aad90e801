//! `write-plot` (§3.3, population): `SET plot:<plot_id> <plot>`.

use quilt_apps_common::store;
use quilt_sdk::Error;
use serde::Deserialize;

#[derive(Deserialize)]
struct Request {
    plot_id: i64,
    plot: String,
}

fn write_plot(req: Request) -> Result<(), Error> {
    store::redis(|c| {
        redis::cmd("SET")
            .arg(format!("plot:{}", req.plot_id))
            .arg(&req.plot)
            .query::<()>(c)
    })
}

quilt_sdk::handler!(write_plot);
