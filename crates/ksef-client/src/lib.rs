//! `ksef-client` — a typed async client of the KSeF API 2.0.
//!
//! This crate owns the client side of the HTTP conversation with KSeF (the local emulator or
//! TEST/DEMO/PRD): one method per endpoint on [`KsefClient`] returning the shared `ksef-wire`
//! types, the login flows (signed file, certificate + key, KSeF token), waiting for the
//! asynchronous operations, the storable [`Session`] with automatic refresh, HTTP 429 handling
//! ([`RetryPolicy`]), opt-in pacing to the context's API rate limits ([`Pacer`]: calls wait
//! for room in KSeF's sliding windows instead of provoking 429s) and the mapping of both KSeF
//! error body formats onto one [`KsefError`].
//!
//! Covered endpoints (digest §3–§4, §6): `GET /security/public-key-certificates`,
//! `POST /auth/challenge`, `POST /auth/xades-signature`, `POST /auth/ksef-token`,
//! `GET /auth/{ref}`, `POST /auth/token/redeem`, `POST /auth/token/refresh`,
//! `GET /auth/sessions`, `DELETE /auth/sessions/current`, `POST /tokens`, `GET /tokens`,
//! `GET /tokens/{ref}`, `DELETE /tokens/{ref}`; sessions, invoices, UPO, retrieval and exports
//! (digest §8–§12, module `invoicing`): `POST /sessions/online[/{ref}/invoices|/{ref}/close]`,
//! `POST /sessions/batch[/{ref}/close]`, the pre-signed part upload and downloads,
//! `GET /sessions[/{ref}[/invoices[/failed|/{invRef}]]]`, the three UPO GETs,
//! `GET /invoices/ksef/{n}`, `POST /invoices/query/metadata`, `POST /invoices/exports`,
//! `GET /invoices/exports/{ref}`; limits (§15): `GET /limits/context`, `GET /limits/subject`,
//! `GET /rate-limits`; permissions (§7, module `permissions`): person grants, revocation,
//! operation status, the persons and personal queries; KSeF certificates (§14, module
//! `certificates`): limits, enrollment data, enrollment and its status, retrieve, query,
//! revoke. XML answers are [`Downloaded`]; large ones can be streamed to a writer.
//!
//! On top of the endpoint calls: [`batch`] builds batch packages (invoices streamed into a ZIP
//! or tar.gz temp file, split binarily into ≤ 100 MB parts, each AES-encrypted by streaming,
//! uploaded in parallel) and [`invoicing_flows`] runs the multi-step invoice flows (send online,
//! send batch, wait for final statuses, UPOs, the incremental export-based sync into a
//! directory), with memory use independent of the number and size of the invoices.
//!
//! # Secrets
//! Tokens travel only in `Authorization` headers and are held in [`ksef_wire::Secret`], whose
//! `Debug` is redacted. Logging (`tracing`, debug level) records method, path and status only;
//! decode errors never quote string values of a response.
//!
//! # TLS
//! HTTPS uses rustls with the **ring** provider and **rustls-platform-verifier** (the operating
//! system's trust store), through reqwest's `rustls-no-provider` feature. Why ring and not
//! reqwest's default aws-lc-rs: ring is the smaller build (aws-lc-sys compiles a large C
//! library, minutes on a small machine) and the workspace's only other crypto is RustCrypto, so
//! one C crypto library is enough. The price of `rustls-no-provider` is that a
//! `reqwest::Client` built before a process-wide rustls provider is installed panics (Cargo
//! unifies reqwest's features across the workspace, so this holds for every crate and test):
//! build clients with [`http_client_builder`], which installs ring first; clippy's
//! `disallowed-methods` (clippy.toml) refuses the plain `reqwest::Client` constructors in this
//! workspace. Why the platform verifier and not webpki-roots: MF's hosts use a public CA, and
//! the OS store also honours roots that companies add for TLS-inspecting proxies and gets CA
//! updates with the OS; it needs the `ca-certificates` package on minimal Linux images. A custom
//! `reqwest::Client` can be passed with [`KsefClient::with_http`].

pub mod batch;
mod certificates;
mod client;
mod environment;
mod error;
mod flows;
mod invoicing;
pub mod invoicing_flows;
mod pacer;
mod permissions;
mod retry;
mod session;
mod tls;

pub use client::{KsefClient, TokenQuery};
pub use environment::Environment;
pub use error::KsefError;
pub use flows::{DEFAULT_AUTH_DEADLINE, REFRESH_MARGIN};
pub use invoicing::Downloaded;
pub use pacer::{LimitsSource, Pacer, SAFETY_MARGIN};
pub use retry::{RetryPolicy, parse_retry_after};
pub use session::Session;
pub use tls::http_client_builder;

/// Re-exported for convenience: the wire types this client returns.
pub use ksef_wire;
/// Re-exported so callers can name the signing subject type without depending on `ksef-xades`.
pub use ksef_xades::auth_request::SubjectIdentifierType;
