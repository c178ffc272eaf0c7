//! Emulator configuration: where state lives, how long things take, and which of the
//! environment's behaviours (TEST-like lenient or DEMO/PRD-like strict) to emulate.
//!
//! Every knob the digest marks UNSURE is a field here, set to the documented recommendation.

use std::path::PathBuf;
use std::time::Duration;

/// Invoices per verification/commit chunk.
pub const PROCESSING_CHUNK: usize = 500;
/// Default bound on the total plaintext bytes of one chunk (`processing_chunk_bytes`).
pub const PROCESSING_CHUNK_BYTES: usize = 64 << 20;

/// Which certificates may authenticate with a XAdES signature.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TrustPolicy {
    /// TEST behaviour: any certificate, self-signed included, is accepted (unless the client
    /// asks for `verifyCertificateChain=true`).
    #[default]
    AcceptSelfSigned,
    /// DEMO/PRD-like: only certificates issued by one of these CA certificates (DER) are accepted;
    /// others end with authentication status 460.
    TrustedCas(Vec<Vec<u8>>),
}

/// Whether the simulated Profil Zaufany signing service (`/symulator-podpisu`) runs.
///
/// Its CA issues a certificate for any PESEL a caller types in, so it must never be trusted
/// silently where only real CAs are meant to be: with a trust list
/// ([`TrustPolicy::TrustedCas`]) it is off unless switched on explicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SimulatedTrustedProfile {
    /// On under [`TrustPolicy::AcceptSelfSigned`] (TEST behaviour), off under
    /// [`TrustPolicy::TrustedCas`].
    #[default]
    Auto,
    /// On under every policy. With a trust list its CA is one more trusted CA and goes through
    /// the same checks as the listed ones.
    On,
    /// Off: the page is not served and the CA is not trusted.
    Off,
}

/// Full emulator configuration.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Directory holding `ksef-emulator.sqlite3`.
    pub data_dir: PathBuf,
    /// Externally visible base URL (used in the pre-signed links the emulator hands out). `None` =
    /// the address the server is bound to (loopback when bound to `0.0.0.0` or `[::]`); never the
    /// request's `Host` header.
    pub public_base_url: Option<String>,
    /// How long `GET /auth/{ref}` answers 100 before showing the final status.
    pub auth_processing_delay: Duration,
    /// How long a new KSeF token stays `Pending` before it becomes `Active`.
    pub token_activation_delay: Duration,
    /// How long a revoked KSeF token stays `Revoking` before it becomes `Revoked`.
    pub token_revocation_delay: Duration,
    /// Lifetime of a challenge (`POST /auth/challenge`). Digest §4.2: 10 minutes.
    pub challenge_lifetime: Duration,
    /// Lifetime of the authenticationToken (operation token). Observed: 45 minutes.
    pub authentication_token_lifetime: Duration,
    /// Lifetime of access tokens. Observed: 15 minutes.
    pub access_token_lifetime: Duration,
    /// Lifetime of refresh tokens. Observed: 7 days.
    pub refresh_token_lifetime: Duration,
    /// Certificates trusted for XAdES authentication.
    pub trust_policy: TrustPolicy,
    /// Require a genuine XAdES profile (SignedProperties + SigningCertificate), as DEMO/PRD do
    /// since 2026-03-16. `false` = TEST-like leniency (plain XML-DSig accepted). The request header
    /// `X-KSeF-Feature: enforce-xades-compliance` switches it on per request.
    pub strict_xades: bool,
    /// The seed's rule: a session opened with a KSeF token may not create tokens
    /// (403 `auth-method-not-allowed`). Digest §6.2 leaves it UNSURE; on by default.
    pub forbid_token_minting_from_token_sessions: bool,
    /// Maximum accepted request body (bytes) for JSON and XML endpoints.
    pub max_body_bytes: usize,
    /// How long a connection may take to send a request's line and headers. The same limit
    /// applies to an idle keep-alive connection waiting for its next request (hyper starts the
    /// timer when it starts waiting for a request head), so a connection that sends nothing,
    /// or only part of a request head, is closed after this long.
    pub header_read_timeout: Duration,
    /// Most connections served at once; at the limit the emulator stops accepting until one
    /// closes (the operating system queues the rest). At least 1.
    pub max_connections: usize,
    /// The simulated Profil Zaufany signing service (`/symulator-podpisu`, outside the API);
    /// see [`EmulatorConfig::simulated_trusted_profile_enabled`]. When it is on, the page is
    /// served and signatures whose certificate was issued by the emulator's "trusted profile"
    /// CA authenticate as `TrustedProfile`: under [`TrustPolicy::AcceptSelfSigned`] they are
    /// trusted also with `verifyCertificateChain=true`; under [`TrustPolicy::TrustedCas`] the
    /// CA is one more trusted CA, checked like the listed ones. [`SimulatedTrustedProfile::Auto`]
    /// by default (on without a trust list, off with one).
    pub simulated_trusted_profile: SimulatedTrustedProfile,
    /// Whether the simulated signing service offers (checked by default) to treat the signer as
    /// the owner of the NIP in the signed document's context — a sole trader, as TEST lets an
    /// integrator make their own PESEL the owner of a test NIP (`POST /testdata/person`, digest
    /// §5.1). When the signer ticks it, signing records that NIP–PESEL link, so a fresh
    /// emulator's PZ login in a NIP context succeeds with the owner's rights without any other
    /// preparation. Only in effect while the simulation is on
    /// ([`EmulatorConfig::simulated_trusted_profile_enabled`]); `true` by default.
    pub simulated_trusted_profile_sole_trader: bool,
    /// Lifetime of the person certificate the simulated signing service issues for each
    /// signature (short-lived; the challenge itself lives 10 minutes).
    pub simulated_trusted_profile_certificate_lifetime: Duration,
    /// Lifetime of online and batch sessions (`validUntil`); after it an open online session is
    /// closed automatically and an unclosed batch session is cancelled (440). Digest §8.1: 12 h.
    pub session_lifetime: Duration,
    /// Upload window per batch part: `numberOfParts × this`, from the opening (§9.3: 20 min).
    pub batch_part_window: Duration,
    /// Lifetime of pre-signed download links (UPO, export parts).
    pub download_link_lifetime: Duration,
    /// Invoices of a batch verified and committed together (one transaction per chunk).
    pub processing_chunk_size: usize,
    /// Largest total size (plaintext bytes; online: ciphertext) of the invoices verified and
    /// committed together, batch and online; an invoice larger than this forms a chunk alone.
    pub processing_chunk_bytes: usize,
    /// A pause after each committed batch chunk: slows processing down on purpose so tests and
    /// demos can watch (or interrupt) a batch mid-way. Zero by default.
    pub processing_chunk_pause: Duration,
    /// Largest export part before encryption (§12.3: parts ≤ 50 MB).
    pub export_part_size: u64,
    /// Compressed size after which an export stops adding invoices and is truncated
    /// (§12.3: 1 GB; `_metadata.json` does not count).
    pub export_max_package_size: u64,
    /// How long a finished export package can be downloaded (then status 210). The API does
    /// not document it; its example shows 7 days.
    pub export_package_lifetime: Duration,
    /// `NazwaPodmiotuPrzyjmujacego` written into UPOs (digest §10.4; TEST's name by default).
    pub upo_receiver_name: String,
    /// Maximum number of invoices in one session (context limit, digest §15.3: 10 000).
    /// Online: the next send answers 21155; batch: the session ends in 420.
    pub session_invoice_limit: u32,
    /// Enforce the API rate limits of digest §15.1 (production values) for every caller.
    /// Off by default: a local emulator runs in tight test loops. `POST /testdata/rate-limits`
    /// (or `…/production`) switches them on for the caller's context regardless.
    pub rate_limits: bool,
}

impl EmulatorConfig {
    /// Defaults for a data directory: TEST behaviour, realistic lifetimes, short asynchronous delays.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            public_base_url: None,
            auth_processing_delay: Duration::from_millis(300),
            token_activation_delay: Duration::from_millis(500),
            token_revocation_delay: Duration::from_millis(0),
            challenge_lifetime: Duration::from_secs(10 * 60),
            authentication_token_lifetime: Duration::from_secs(45 * 60),
            access_token_lifetime: Duration::from_secs(15 * 60),
            refresh_token_lifetime: Duration::from_secs(7 * 24 * 3600),
            trust_policy: TrustPolicy::AcceptSelfSigned,
            strict_xades: false,
            forbid_token_minting_from_token_sessions: true,
            max_body_bytes: 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 1024,
            simulated_trusted_profile: SimulatedTrustedProfile::Auto,
            simulated_trusted_profile_sole_trader: true,
            simulated_trusted_profile_certificate_lifetime: Duration::from_secs(60 * 60),
            session_lifetime: Duration::from_secs(12 * 3600),
            batch_part_window: Duration::from_secs(20 * 60),
            download_link_lifetime: Duration::from_secs(60 * 60),
            processing_chunk_size: PROCESSING_CHUNK,
            processing_chunk_bytes: PROCESSING_CHUNK_BYTES,
            processing_chunk_pause: Duration::ZERO,
            export_part_size: 50_000_000,
            export_max_package_size: 1_000_000_000,
            export_package_lifetime: Duration::from_secs(7 * 24 * 3600),
            upo_receiver_name: "Ministerstwo Finansów - środowisko testowe (TE)".to_string(),
            session_invoice_limit: 10_000,
            rate_limits: false,
        }
    }

    /// Whether the simulated Profil Zaufany signing service is on: the explicit switch, or
    /// ([`SimulatedTrustedProfile::Auto`]) on exactly when no trust list is configured.
    pub fn simulated_trusted_profile_enabled(&self) -> bool {
        match self.simulated_trusted_profile {
            SimulatedTrustedProfile::On => true,
            SimulatedTrustedProfile::Off => false,
            SimulatedTrustedProfile::Auto => {
                matches!(self.trust_policy, TrustPolicy::AcceptSelfSigned)
            }
        }
    }

    /// Path of the SQLite database file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("ksef-emulator.sqlite3")
    }
}
