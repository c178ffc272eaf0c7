//! `ksef-emulator` — a stateful local KSeF 2.0 emulator with real cryptography.
//!
//! It serves the API at `http://HOST:PORT/v2` with the paths of the official `open-api.json`,
//! keeps its state in one SQLite file, verifies XAdES signatures, decrypts RSA-OAEP-wrapped
//! KSeF tokens with its own keys and issues JWTs. This crate owns the emulator's behaviour:
//! authentication (§4), KSeF tokens (§6), test data (§17) and the error formats (§16) of the
//! digest. The wire types come from `ksef-wire`, identifiers and rules from `ksef-core`.
//!
//! Outside the API it also serves a clearly labelled simulation of the Profil Zaufany signing
//! service (`/symulator-podpisu`), so the PZ login works offline, and verifies the QR codes of
//! invoices like the Ministry's QR service (`/invoice/…` for KOD I, `/certificate/…` for KOD II,
//! on its own origin).
//!
//! Start one in-process with [`spawn`], or from the command line with `ksef emulator`.

// Infrastructure: imports no feature (checked by `tests/module_graph.rs`).
mod clock;
mod config;
mod datadir;
mod endpoint;
mod error;
mod extract;
mod html;
mod jwt;
mod keys;
mod ratelimit;
mod state;
mod storage;
mod store;

// Features: routes, domain logic and persistence of one area each; no cycles between them.
mod auth;
mod certificates;
mod limits;
mod login;
mod permissions;
mod retrieval;
mod sessions;
mod signing_service;
mod testdata;
mod tokens;
mod verification;

// Assembly: the router and the accept loop, the one place that knows every feature.
mod server;

pub use config::{EmulatorConfig, SimulatedTrustedProfile, TrustPolicy};
pub use datadir::LOCK_FILE_NAME as DATA_DIR_LOCK_FILE;
pub use error::StartError;
pub use server::{RunningEmulator, SpawnError, spawn};
pub use state::AppState;

/// Internals the integration tests look at (files on disk, the CA, restarts of background
/// work). Not a stable API.
#[doc(hidden)]
pub mod testing {
    pub use crate::certificates::{ca_certificate_der, check_csr};
    pub use crate::datadir::check_writable as check_data_dir_writable;
    pub use crate::limits::rate::{UNMATCHED, counter_name};
    pub use crate::retrieval::{export_part_path, resume as resume_exports};
    pub use crate::sessions::batch_part_path;
}
