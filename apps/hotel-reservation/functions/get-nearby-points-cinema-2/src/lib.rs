//! `get-nearby-points-cinema-2` (§4.3): generates `num` random points and returns the 5 nearest
//! to (36.0, 119.0). Identical to the other leaves except its number.

use hotel_lib::{cinema_leaf, CinemaRequest, LeafReply};

fn get_nearby_points_cinema(req: CinemaRequest) -> Result<LeafReply, quilt_sdk::Error> {
    Ok(cinema_leaf(2, &req))
}

quilt_sdk::handler!(get_nearby_points_cinema);
