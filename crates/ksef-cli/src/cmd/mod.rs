//! One module per command group.

pub mod auth;
pub mod cert;
pub mod demo;
pub mod emulator;
pub mod token;
pub mod user;
