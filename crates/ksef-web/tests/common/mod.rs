//! Support shared by the web app's test binaries.

// Every test binary compiles all of it and uses a different part.
#[allow(dead_code)]
pub mod chrome;

pub use chrome::*;
