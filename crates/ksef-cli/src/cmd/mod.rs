//! One module per command group.

pub mod auth;
pub mod cert;
pub mod demo;
pub mod emulator;
pub mod firm;
pub mod invoice;
pub mod limits;
pub mod pdf;
pub mod permission;
pub mod progress;
pub mod qr;
pub mod session;
pub mod sync;
pub mod token;
pub mod upo;
pub mod user;
