//! The benchmark's scenarios, one module per kind of load.

pub mod booking;
pub mod estimate;
pub mod instances;
pub mod polling;
pub mod race;
pub mod reads;
pub mod spike;
