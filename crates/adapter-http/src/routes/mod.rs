//! One module per resource of the API.

pub mod admin;
pub mod concerts;
pub mod page;
pub mod payments;
pub mod performances;
pub mod reservations;
pub mod seat_map;
pub mod system;
pub mod token;
pub mod token_stream;
pub mod wallet;
