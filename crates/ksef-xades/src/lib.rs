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
//! XML-DSig processing is the crate's own, in two private modules: `c14n` (Canonical XML
//! 1.0/1.1 and Exclusive C14N over a `roxmltree` document) and `dsig` (reference
//! processing, digests, signature values, template signing) on RustCrypto's `rsa`,
//! `p256`/`p384`/`p521` and `sha1`/`sha2`/`sha3`. XAdES semantics (SignedProperties,
//! SigningCertificate) and the KSeF rules are in [`signature`]. No native dependencies.

pub mod auth_request;
mod c14n;
pub mod diagnose;
mod dsig;
pub mod signature;

pub use auth_request::{
    AuthNamespace, AuthRequestError, AuthTokenRequest, AuthorizationPolicy, SubjectIdentifierType,
};
pub use signature::{
    C14nMethod, SignError, SignOptions, VerifiedSignature, VerifyError, VerifyOptions, XadesSigner,
    sign_enveloped, verify_enveloped,
};
