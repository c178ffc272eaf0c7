//! `ksef-xades` — the XAdES side of KSeF authentication (digest §4.3–§4.6).
//!
//! This crate owns:
//! * [`auth_request`] — the `AuthTokenRequest` document: building the unsigned XML,
//!   parsing a received one and checking it against the rules of
//!   `schemat_auth_v2-0.xsd` / `schemat_auth_v2-1.xsd` (KSeF error 21401 details);
//! * [`signature`] — XAdES-BES enveloped signing ([`signature::sign_enveloped`]) in the
//!   shape the official client produces, and verification
//!   ([`signature::verify_enveloped`]) that accepts every variant seen in the wild
//!   and maps failures onto KSeF error codes (9101–9105, 21001, 21217);
//! * [`diagnose`] — explanations of why KSeF would answer 9105 for a signed file
//!   (for `ksef auth check`).
//!
//! XML-DSig processing (C14N, digests, signature values) is done by the pure-Rust
//! `bergshamra` library; XAdES semantics (SignedProperties, SigningCertificate) and the
//! KSeF rules are implemented here. No native dependencies.

pub mod auth_request;
pub mod diagnose;
pub mod signature;

pub use auth_request::{
    AuthNamespace, AuthRequestError, AuthTokenRequest, AuthorizationPolicy, SubjectIdentifierType,
};
pub use signature::{
    C14nMethod, SignError, SignOptions, VerifiedSignature, VerifyError, VerifyOptions, XadesSigner,
    sign_enveloped, verify_enveloped,
};
