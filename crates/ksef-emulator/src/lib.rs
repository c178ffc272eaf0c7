//! `ksef-emulator` — a stateful local KSeF 2.0 emulator with real cryptography.
//!
//! It serves the API at `http://HOST:PORT/v2` with the paths of the official `open-api.json`,
//! keeps its state in one SQLite file, verifies XAdES signatures, decrypts RSA-OAEP-wrapped
//! KSeF tokens with its own keys and issues JWTs. This crate owns the emulator's behaviour:
//! authentication (§4), KSeF tokens (§6), test data (§17) and the error formats (§16) of the
//! digest. The wire types come from `ksef-wire`, identifiers and rules from `ksef-core`.
//!
//! Outside the API it also serves a clearly labelled simulation of the Profil Zaufany signing
//! service ([`signing_service`], `/symulator-podpisu`), so the PZ login works offline.
//!
//! Start one in-process with [`server::spawn`], or from the command line with `ksef emulator`.

pub mod auth;
pub mod certificates;
pub mod config;
pub mod datadir;
pub mod error;
pub mod extract;
pub mod http;
pub mod jwt;
pub mod limits;
pub mod permissions;
pub mod permissions_api;
pub mod retrieval;
pub mod server;
pub mod sessions;
pub mod signing_service;
pub mod state;
pub mod storage;
pub mod store;
pub mod testdata;
pub mod tokens;

pub use config::{EmulatorConfig, SimulatedTrustedProfile, TrustPolicy};
pub use server::{RunningEmulator, spawn};
