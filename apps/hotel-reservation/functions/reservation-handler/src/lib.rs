//! `reservation-handler` (§4.2): checks the user's password with check-user and, when it
//! matches, reserves with make-reservation; answers `[hotel_id]` on success, `[]` otherwise.

use quilt_sdk::{invoke, Error};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Request {
    customer_name: String,
    username: String,
    password: String,
    hotel_id: String,
    in_date: String,
    out_date: String,
    room_number: i32,
}

#[derive(Serialize)]
struct User<'a> {
    username: &'a str,
    password: &'a str,
}

#[derive(Serialize)]
struct Reservation<'a> {
    customer_name: &'a str,
    hotel_id: &'a str,
    in_date: &'a str,
    out_date: &'a str,
    room_number: i32,
}

fn reservation_handler(req: Request) -> Result<Vec<String>, Error> {
    let ok: bool = invoke(
        "check-user",
        &User {
            username: &req.username,
            password: &req.password,
        },
    )?;
    if !ok {
        return Ok(Vec::new());
    }
    invoke(
        "make-reservation",
        &Reservation {
            customer_name: &req.customer_name,
            hotel_id: &req.hotel_id,
            in_date: &req.in_date,
            out_date: &req.out_date,
            room_number: req.room_number,
        },
    )
}

quilt_sdk::handler!(reservation_handler);
