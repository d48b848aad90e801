//! `read-plot` (§3.2): a plot's text. Real: memcached `plot:<id>`, else Redis `plot:<id>`, then
//! cached. Fake database: 50 random characters and 2 ms.

use quilt_apps_common::{alnum, fake_sleep, fakedb, store};
use quilt_sdk::Error;
use serde::Deserialize;

#[derive(Deserialize)]
struct Request {
    plot_id: i64,
}

fn read_plot(req: Request) -> Result<String, Error> {
    if fakedb() {
        let plot = alnum(50);
        fake_sleep(2);
        return Ok(plot);
    }
    let key = format!("plot:{}", req.plot_id);
    if let Some(plot) = store::mc_get(&key)? {
        return Ok(plot);
    }
    let plot: Option<String> = store::redis(|c| redis::cmd("GET").arg(&key).query(c))?;
    let plot =
        plot.ok_or_else(|| Error::msg(format!("Plot {} is not found in redis.", req.plot_id)))?;
    store::mc_set(&key, &plot)?;
    Ok(plot)
}

quilt_sdk::handler!(read_plot);
