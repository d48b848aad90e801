//! `read-reviews` (§3.2): the reviews of the given ids, in order. Real: memcached `review:<id>`
//! (JSON), else Redis hash `review:<id>`, then cached (the reference read bare-id keys nobody
//! wrote and never cached, §7.14). Fake database: random reviews and 3 ms once.

use media_lib::{fake_review, ReviewEntry, ReviewIds};
use quilt_apps_common::{err, fake_sleep, fakedb, store};
use quilt_sdk::Error;

const FIELDS: [&str; 7] = [
    "review_id",
    "user_id",
    "req_id",
    "text",
    "movie_id",
    "rating",
    "timestamp",
];

fn read_reviews(req: ReviewIds) -> Result<Vec<ReviewEntry>, Error> {
    if fakedb() {
        let reviews = req.review_ids.iter().map(|&id| fake_review(id)).collect();
        fake_sleep(3);
        return Ok(reviews);
    }
    let keys: Vec<String> = req
        .review_ids
        .iter()
        .map(|id| format!("review:{id}"))
        .collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let cached = store::mc_gets(&refs)?;
    let mut out = Vec::with_capacity(keys.len());
    for (id, key) in req.review_ids.iter().zip(&keys) {
        if let Some(r) = cached.get(key).and_then(|v| serde_json::from_str(v).ok()) {
            out.push(r);
            continue;
        }
        let row: Vec<Option<String>> =
            store::redis(|c| redis::cmd("HMGET").arg(key).arg(&FIELDS[..]).query(c))?;
        let review =
            parse(row).ok_or_else(|| Error::msg(format!("review: {id} doesn't exist in redis")))?;
        store::mc_set(key, &serde_json::to_string(&review).map_err(err)?)?;
        out.push(review);
    }
    Ok(out)
}

fn parse(row: Vec<Option<String>>) -> Option<ReviewEntry> {
    let mut it = row.into_iter();
    let mut next = || it.next().flatten();
    Some(ReviewEntry {
        review_id: next()?.parse().ok()?,
        user_id: next()?.parse().ok()?,
        req_id: next()?.parse().ok()?,
        text: next()?,
        movie_id: next()?,
        rating: next()?.parse().ok()?,
        timestamp: next()?.parse().ok()?,
    })
}

quilt_sdk::handler!(read_reviews);
