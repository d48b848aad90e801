//! `read-cast-info` (§3.2): the cast information of the given ids, in order. Real: memcached
//! `cast_info:<id>` (JSON), only the misses from Redis hash `cast_info:<id>`, then cached (the
//! reference read every id from Redis as well and answered hits twice, §7.13). Fake database:
//! random entries and 2 ms per id.

use media_lib::CastInfoEntry;
use quilt_apps_common::{alnum, err, fake_sleep, fakedb, store};
use quilt_sdk::Error;
use serde::Deserialize;

#[derive(Deserialize)]
struct Request {
    cast_ids: Vec<i64>,
}

fn read_cast_info(req: Request) -> Result<Vec<CastInfoEntry>, Error> {
    if fakedb() {
        return Ok(req
            .cast_ids
            .iter()
            .map(|&id| {
                let entry = CastInfoEntry {
                    cast_info_id: id,
                    name: alnum(10),
                    gender: true,
                    intro: alnum(20),
                };
                fake_sleep(2);
                entry
            })
            .collect());
    }
    let keys: Vec<String> = req
        .cast_ids
        .iter()
        .map(|id| format!("cast_info:{id}"))
        .collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let cached = store::mc_gets(&refs)?;
    let mut out = Vec::with_capacity(keys.len());
    for (id, key) in req.cast_ids.iter().zip(&keys) {
        if let Some(c) = cached.get(key).and_then(|v| serde_json::from_str(v).ok()) {
            out.push(c);
            continue;
        }
        let row: Vec<Option<String>> = store::redis(|c| {
            redis::cmd("HMGET")
                .arg(key)
                .arg(&["cast_info_id", "name", "gender", "intro"])
                .query(c)
        })?;
        let entry = parse(row)
            .ok_or_else(|| Error::msg(format!("error in loading cast info, with id: {id}")))?;
        store::mc_set(key, &serde_json::to_string(&entry).map_err(err)?)?;
        out.push(entry);
    }
    Ok(out)
}

fn parse(row: Vec<Option<String>>) -> Option<CastInfoEntry> {
    let mut it = row.into_iter();
    let mut next = || it.next().flatten();
    Some(CastInfoEntry {
        cast_info_id: next()?.parse().ok()?,
        name: next()?,
        gender: matches!(next()?.as_str(), "1" | "true"),
        intro: next()?,
    })
}

quilt_sdk::handler!(read_cast_info);
