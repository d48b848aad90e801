//! `social-graph-follow`: `user_id` follows `followee_id` (docs/BENCHMARKS.md §2.2).
//!
//! Real: appends `{followee_id, timestamp}` to the `followees` field of `social-graph:<uid>` and
//! `{follower_id, timestamp}` to the `followers` field of `social-graph:<fid>` unless already
//! listed, each as an optimistic transaction (WATCH/MULTI, so concurrent follows of one user lose
//! nothing), and caches each list in memcached (`<uid>:followees`, `<fid>:followers`), re-checking
//! Redis after the SET so that concurrent follows never leave an older list cached. An unregistered
//! user fails with `UserID = <id> is not registered.`. Fake database: a 6 ms sleep. Answers `""`.

use quilt_apps_common::{err, fake_sleep, fakedb, now_s, store};
use quilt_sdk::Error;
use social_network_shared::{to_json, FollowRequest, Followee, Follower};

/// Appends an entry to the JSON list in `field` of `social-graph:<owner>` unless `listed` says it
/// is there; returns the list as stored, or None if the user is not registered.
fn append(
    owner: i64,
    field: &str,
    listed: impl Fn(&str) -> Result<Option<String>, Error>,
) -> Result<Option<String>, Error> {
    let key = format!("social-graph:{owner}");
    let mut failure = None;
    let stored: Option<String> = store::redis(|c| {
        redis::transaction(c, &[&key], |c, pipe| {
            let current: Option<String> = redis::cmd("HGET").arg(&key).arg(field).query(c)?;
            let Some(current) = current else {
                return Ok(Some(None));
            };
            match listed(&current) {
                Err(e) => {
                    failure = Some(e);
                    Ok(Some(None))
                }
                Ok(None) => Ok(Some(Some(current))),
                Ok(Some(updated)) => {
                    pipe.cmd("HSET").arg(&key).arg(field).arg(&updated).ignore();
                    pipe.query::<Option<()>>(c)
                        .map(|done| done.map(|()| Some(updated)))
                }
            }
        })
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(stored)
}

/// Caches `list` (the value of `field` of `social-graph:<owner>`) under `mc_key`; sets it again
/// while Redis holds a newer list, so the last SET of concurrent followers is the newest list.
fn cache(mc_key: &str, owner: i64, field: &str, mut list: String) -> Result<(), Error> {
    loop {
        store::mc_set(mc_key, &list)?;
        let now: Option<String> = store::redis(|c| {
            redis::cmd("HGET")
                .arg(format!("social-graph:{owner}"))
                .arg(field)
                .query(c)
        })?;
        match now {
            Some(now) if now != list => list = now,
            _ => return Ok(()),
        }
    }
}

fn social_graph_follow(req: FollowRequest) -> Result<String, Error> {
    if fakedb() {
        fake_sleep(6);
        return Ok(String::new());
    }
    let (uid, fid, t) = (req.user_id, req.followee_id, now_s());
    let followees = append(uid, "followees", |text| {
        let mut list: Vec<Followee> = serde_json::from_str(text).map_err(err)?;
        if list.iter().any(|f| f.followee_id == fid) {
            return Ok(None);
        }
        list.push(Followee {
            followee_id: fid,
            timestamp: t,
        });
        Ok(Some(to_json(&list)))
    })?
    .ok_or_else(|| Error::msg(format!("UserID = {uid} is not registered.")))?;
    cache(&format!("{uid}:followees"), uid, "followees", followees)?;
    let followers = append(fid, "followers", |text| {
        let mut list: Vec<Follower> = serde_json::from_str(text).map_err(err)?;
        if list.iter().any(|f| f.follower_id == uid) {
            return Ok(None);
        }
        list.push(Follower {
            follower_id: uid,
            timestamp: t,
        });
        Ok(Some(to_json(&list)))
    })?
    .ok_or_else(|| Error::msg(format!("UserID = {fid} is not registered.")))?;
    cache(&format!("{fid}:followers"), fid, "followers", followers)?;
    Ok(String::new())
}

quilt_sdk::handler!(social_graph_follow);
