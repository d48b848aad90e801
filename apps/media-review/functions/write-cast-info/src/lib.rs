//! `write-cast-info` (§3.3, population): `HSET cast_info:<id>` `cast_info_id`, `name`, `gender`
//! (`true`/`false`), `intro`.

use media_lib::CastInfoEntry;
use quilt_apps_common::store;
use quilt_sdk::Error;

fn write_cast_info(req: CastInfoEntry) -> Result<(), Error> {
    store::redis(|c| {
        redis::cmd("HSET")
            .arg(format!("cast_info:{}", req.cast_info_id))
            .arg("cast_info_id")
            .arg(req.cast_info_id)
            .arg("name")
            .arg(&req.name)
            .arg("gender")
            .arg(req.gender.to_string())
            .arg("intro")
            .arg(&req.intro)
            .query::<()>(c)
    })
}

quilt_sdk::handler!(write_cast_info);
