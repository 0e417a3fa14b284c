//! A mock of the Avala API built from the checked-in document and examples,
//! for this crate's tests and for users' own tests (feature `mock`).

pub mod contract;
pub mod examples;
pub mod schema;
