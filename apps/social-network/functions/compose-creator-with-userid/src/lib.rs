//! `compose-creator-with-userid`: the post's `Creator`, echoing the input
//! (docs/BENCHMARKS.md §2.2).

use quilt_sdk::Error;
use social_network_shared::Creator;

fn compose_creator_with_userid(req: Creator) -> Result<Creator, Error> {
    Ok(req)
}

quilt_sdk::handler!(compose_creator_with_userid);
