//! Integration tests of `ksef-client` against a real emulator, in one test binary.

mod common;
mod errors;
mod lifecycle;
