//! Support shared by the web app's test binaries (`tests/http*.rs`, `tests/browser*.rs`).
//!
//! - [`html`]: reading the server-rendered pages (CSRF field, element text, table rows);
//! - [`web`]: the app over plain HTTP (reqwest): [`web::Harness`], clients, program and KSeF logins;
//! - [`chrome`]: the WebDriver harness of a real headless Chromium;
//! - [`ui`]: the app's screens driven in a Chromium tab (first-run setup, certificate login, tokens);
//! - [`firms`]: other firms, with certificates, issuing invoices on the emulator.
//!
//! Every test binary compiles all of it and uses a different part, hence the `dead_code` allowances.

#[allow(dead_code)]
pub mod chrome;
#[allow(dead_code)]
pub mod firms;
#[allow(dead_code)]
pub mod html;
#[allow(dead_code)]
pub mod ui;
#[allow(dead_code)]
pub mod web;
