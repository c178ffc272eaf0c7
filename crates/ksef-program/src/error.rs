//! [`ProgramError`]: what can go wrong in a program operation, as values callers branch on.
//!
//! `Display` is the English message the command line prints. Front ends that speak another
//! language (the web app: Polish) match on the variants and render their own sentence; nobody
//! parses the English text. No variant carries a secret (token, password, key, JWT): the stored
//! session's JSON, for instance, is reported by the position of its defect only.

use std::fmt;
use std::path::PathBuf;

use ksef_client::KsefError;
use ksef_core::offline::DeadlineError;
use ksef_core::{IdentifierError, Permission, TokenPermission};
use ksef_crypto::CryptoError;
use ksef_store::{InvoiceStatus, StoreError};
use ksef_wire::ValidationError;
use ksef_xades::auth_request::AuthRequestError;
use time::OffsetDateTime;

use crate::invoices::FileCheck;
use crate::offline::CorrectionRefusal;

/// A failure of a program operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProgramError {
    /// KSeF (or the way to it) failed: the client's error with KSeF's status, code, Polish
    /// description and details.
    #[error("KSeF: {0}")]
    Ksef(#[from] KsefError),

    /// A KSeF call of `operation` failed (certificates: the 25xxx codes are explained).
    #[error("{}", KsefFailedDisplay { operation: *operation, subject: subject.as_deref(), source })]
    KsefFailed {
        operation: Operation,
        /// What the operation was about (e.g. a certificate serial number).
        subject: Option<String>,
        #[source]
        source: Box<KsefError>,
    },

    /// KSeF finished an asynchronous operation (grant, revocation) with a refusal.
    #[error(
        "{operation} was refused by KSeF: {status_code} {description} (operation {reference_number})"
    )]
    OperationRefused {
        operation: Operation,
        status_code: i32,
        /// KSeF's description (Polish).
        description: String,
        reference_number: String,
    },

    /// The local store (database, key file, users, saved tokens) failed.
    #[error("local store: {0}")]
    Store(#[from] StoreError),

    /// A cryptographic operation (credentials, keys, certificates) failed.
    #[error("{0}")]
    Crypto(#[from] CryptoError),

    /// No KSeF session is stored for this API.
    #[error(
        "no KSeF session for {base_url}: log in first (`ksef auth login --nip … --cert …`, \
         `ksef auth prepare`/`submit`, or `ksef auth login --user NAME`)"
    )]
    NotLoggedIn { base_url: String },

    /// The stored KSeF session can no longer be refreshed (it was forgotten).
    #[error("the KSeF session has expired; log in again")]
    SessionExpired,

    /// The stored session cannot be read (only where: its text holds tokens).
    #[error(
        "the stored session is unreadable ({kind} error at line {line}, column {column}); log in again"
    )]
    SessionUnreadable {
        /// `syntax`, `data`, `EOF` or `I/O` (serde_json's category).
        kind: &'static str,
        line: usize,
        column: usize,
    },

    /// Program state could not be serialised for saving.
    #[error("cannot serialise {what}: {detail}")]
    Serialize {
        /// `the session`, `the prepared request`.
        what: &'static str,
        detail: String,
    },

    /// The seed's rule: a session opened with a KSeF token may not do this.
    #[error("{0}")]
    RefusedInTokenSession(TokenSessionRefusal),

    /// The session is known not to hold any of the permissions `operation` needs.
    #[error(
        "{operation} needs the {} permission in this context, which the current session does not \
         hold (held: {})",
        join(needed.iter().map(|p| p.as_str()), " or "),
        if held.is_empty() { "none".to_string() } else { held.join(", ") }
    )]
    PermissionMissing {
        operation: Operation,
        /// Any one of these would do.
        needed: Vec<Permission>,
        /// The permissions the session holds (API names).
        held: Vec<String>,
    },

    /// A token would carry permissions the session does not hold.
    #[error(
        "you do not hold {} in this context; a token can carry only permissions you have \
         (Nie można nadać tokenowi uprawnień których nie posiadasz)",
        join(missing.iter().map(|p| p.as_str()), ", ")
    )]
    TokenPermissionsNotHeld { missing: Vec<TokenPermission> },

    /// An input value is unusable; `field` names it.
    #[error("{field}: {problem}")]
    InvalidInput { field: Field, problem: InputProblem },

    /// A file or directory could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: IoAction,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A file could not be written durably (temporary file, fsync, rename).
    #[error("cannot write {}: {source}", path.display())]
    NotWritten {
        path: PathBuf,
        #[source]
        source: Box<KsefError>,
    },

    /// `source` happened while working on the file `path`.
    #[error("{}: {source}", path.display())]
    InFile {
        path: PathBuf,
        #[source]
        source: Box<ProgramError>,
    },

    /// The signed AuthTokenRequest carries no XML signature.
    #[error("the file carries no XML signature; sign it first")]
    NoXmlSignature,

    /// The file is not an AuthTokenRequest (as the program prepares them).
    #[error("not a valid AuthTokenRequest: {0}")]
    NotAuthTokenRequest(#[source] AuthRequestError),

    /// The challenge of the prepared request expired before the signed file came back.
    #[error(
        "the challenge expired at {} (KSeF gives {} minutes to sign); prepare a new request",
        crate::show_time(*deadline),
        crate::auth::CHALLENGE_LIFETIME.as_secs() / 60
    )]
    ChallengeExpired { deadline: OffsetDateTime },

    /// `ksef auth submit --dir` without a prepared request.
    #[error("no prepared request: run `ksef auth prepare --nip … --dir …` first")]
    NoPreparedRequest,

    /// No signed copy of the prepared file was found in `dir`.
    #[error(
        "no signed copy of {} in {} yet (looked for \"{stem}.xml\", \"{stem} (1).xml\", … with a signature); \
         sign the file in the signing service and save it there",
        prepared.display(),
        dir.display(),
        stem = prepared.file_stem().map(|s| s.to_string_lossy()).unwrap_or_default()
    )]
    SignedFileNotFound { prepared: PathBuf, dir: PathBuf },

    /// A rule about program users refused the operation (see [`crate::users`]).
    #[error(transparent)]
    User(#[from] crate::users::UserError),

    /// A certificate enrollment ended without a certificate.
    #[error(
        "KSeF did not issue the certificate: enrollment {reference_number} ended with status \
         {status_code} {description}{}",
        if details.is_empty() { String::new() } else { format!(" ({})", details.join("; ")) }
    )]
    CertificateNotIssued {
        reference_number: String,
        status_code: i32,
        description: String,
        details: Vec<String>,
    },

    /// KSeF reported an issued enrollment without the certificate's serial number.
    #[error("KSeF issued enrollment {reference_number} without a certificate serial number")]
    NoCertificateSerial { reference_number: String },

    /// The new certificate was issued but its file could not be written: its key is lost.
    #[error(
        "certificate {serial} was issued but {} could not be written ({source}); its key is \
         lost: revoke it with `ksef cert revoke {serial}` and enroll again",
        path.display()
    )]
    CertificateNotSaved {
        serial: String,
        path: PathBuf,
        #[source]
        source: Box<KsefError>,
    },

    /// An output file exists already (an existing key is never overwritten).
    #[error(
        "{} already exists; choose another --out (an existing key is never overwritten)",
        path.display()
    )]
    OutputExists { path: PathBuf },

    /// The directory of an output file does not exist.
    #[error("cannot write {}: directory {} does not exist", path.display(), dir.display())]
    OutputDirMissing { path: PathBuf, dir: PathBuf },

    /// A directory given as invoice input has no `*.xml` files.
    #[error("{} has no *.xml files", dir.display())]
    NoXmlFiles { dir: PathBuf },

    /// Invoice files failed the local checks; nothing was sent.
    #[error("{}", LocalCheckDisplay { failed, total: *total })]
    LocalCheckFailed {
        /// The checks of the files that failed.
        failed: Vec<FileCheck>,
        /// How many files were checked.
        total: usize,
    },

    /// The local checks could not run (a worker failed).
    #[error("validation failed: {detail}")]
    CheckAborted { detail: String },

    /// Invoices of this form cannot go in a batch session.
    #[error(
        "{form} invoices cannot be sent in a batch session (KSeF takes FA (2), FA (3) and FA_RR (1) \
         in batches); send them without --batch"
    )]
    NotInBatch {
        /// The form's short name, e.g. `PEF (3)`.
        form: &'static str,
    },

    /// Not logged in, and the invoice register of this API is not one firm's (none, or
    /// several): which one to show is unknown.
    #[error(
        "no KSeF session for {base_url} and {}: name the firm (--nip/--internal-id) or log in to it",
        if firms.is_empty() { "no invoice register yet".to_string() }
        else { format!("the invoice registers of {} are kept", firms.join(", ")) }
    )]
    NoRegister {
        base_url: String,
        /// The contexts with a register on this API.
        firms: Vec<String>,
    },

    /// The firm named (`--nip`/`--internal-id`) has no invoice register on this API and is
    /// not one of the program's firms.
    #[error(
        "{firm} has no invoice register for {base_url} and is not one of the program's firms ({})",
        if known.is_empty() { "none yet".to_string() } else { known.join(", ") }
    )]
    UnknownFirm {
        /// The context asked for (`Nip:5265877635`).
        firm: String,
        base_url: String,
        /// The firms and registers known on this API.
        known: Vec<String>,
    },

    /// The stored KSeF session acts for another firm than the one named: sending or syncing
    /// would file the invoices under the wrong firm.
    #[error(
        "the KSeF session is {session}'s, not {wanted}'s: log in to {wanted} first \
         (`ksef auth login --user NAME --nip …` or with its certificate)"
    )]
    SessionForOtherFirm {
        /// The session's context (`Nip:…`).
        session: String,
        /// The firm named.
        wanted: String,
    },

    /// A verification link (KOD I/KOD II) cannot be made for an invoice: its seller NIP, the
    /// context or the API address cannot go in a link.
    #[error("cannot make the verification link of {invoice}: {source}")]
    NoVerificationLink {
        /// The invoice number (or file).
        invoice: String,
        #[source]
        source: ksef_core::qr::LinkError,
    },

    /// An invoice's metadata could not be read from its file (for the register).
    #[error("cannot read the invoice {invoice} for the register: {source}")]
    InvoiceUnreadable {
        /// The KSeF number or the file.
        invoice: String,
        #[source]
        source: ksef_invoice::InvoiceError,
    },

    /// An invoice to issue offline names another seller than the firm issuing it.
    #[error(
        "{}: the seller's NIP is {seller_nip}, not the NIP of {firm}, the firm issuing it;          nothing was recorded",
        file.display()
    )]
    SellerNotFirm {
        file: PathBuf,
        /// `Podmiot1` NIP of the invoice.
        seller_nip: String,
        /// The firm (`Nip:…`).
        firm: String,
    },

    /// No sending deadline for an invoice issued offline: the announced unavailability or
    /// failure ended before the invoice's issue date (so it was not issued in that mode).
    #[error("{}: {source}; nothing was recorded", file.display())]
    OfflineDeadline {
        file: PathBuf,
        #[source]
        source: DeadlineError,
    },

    /// The file to issue offline is in the register already as an invoice that was not
    /// issued offline (e.g. sent online): the same file cannot be both.
    #[error(
        "{}: this very file is in the invoice register already (id {id}, {}{}), not as an          invoice issued offline; nothing was recorded",
        file.display(),
        status.as_str(),
        ksef_number.as_deref().map(|n| format!(", KSeF number {n}")).unwrap_or_default()
    )]
    AlreadyInRegister {
        file: PathBuf,
        /// The register row holding it.
        id: i64,
        status: InvoiceStatus,
        ksef_number: Option<String>,
    },

    /// A file changed while it was being issued (between its check and its recording).
    #[error("{} changed while it was being recorded; nothing more was recorded, try again", file.display())]
    FileChanged { file: PathBuf },

    /// The invoice named is not in the firm's register.
    #[error(
        "invoice {invoice} is not in the firm's invoice register (give its id from          `ksef invoice list`, or its KSeF reference number)"
    )]
    InvoiceNotInRegister {
        /// As named: a register id, a KSeF number or a reference number.
        invoice: String,
    },

    /// An invoice chosen for offline sending is not one issued offline and waiting.
    #[error(
        "invoice {invoice_number} (id {id}) is not an offline invoice waiting to be sent: its          status is {}",
        status.as_str()
    )]
    NotPendingOffline {
        id: i64,
        invoice_number: String,
        status: InvoiceStatus,
    },

    /// The technical correction of an offline invoice is not allowed (digest §13.1): refused
    /// by the program before KSeF was asked (`ksef_code` `None`) or by KSeF (21166, 21167).
    #[error(
        "the technical correction of invoice {invoice} (id {id}) is not possible: {reason}{}",
        ksef_code.map(|c| format!(" — refused by KSeF with code {c}")).unwrap_or_default()
    )]
    TechnicalCorrectionRefused {
        /// The original's invoice number (`P_2`).
        invoice: String,
        /// The original's register row.
        id: i64,
        reason: CorrectionRefusal,
        /// KSeF's exception code when KSeF refused it.
        ksef_code: Option<u32>,
    },
}

impl ProgramError {
    /// The error itself, or for [`ProgramError::InFile`] the error inside (recursively).
    pub fn root(&self) -> &ProgramError {
        match self {
            ProgramError::InFile { source, .. } => source.root(),
            other => other,
        }
    }

    /// `InvalidInput` for `field`.
    pub fn invalid(field: Field, problem: InputProblem) -> Self {
        ProgramError::InvalidInput { field, problem }
    }

    /// `Io` for `path`.
    pub fn io(action: IoAction, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ProgramError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// `InFile` wrapping `self`.
    pub fn in_file(self, path: impl Into<PathBuf>) -> Self {
        ProgramError::InFile {
            path: path.into(),
            source: Box::new(self),
        }
    }
}

fn join<'a>(items: impl Iterator<Item = &'a str>, sep: &str) -> String {
    items.collect::<Vec<_>>().join(sep)
}

struct KsefFailedDisplay<'a> {
    operation: Operation,
    subject: Option<&'a str>,
    source: &'a KsefError,
}

impl fmt::Display for KsefFailedDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.operation)?;
        if let Some(s) = self.subject {
            write!(f, " {s}")?;
        }
        match self
            .source
            .code()
            .and_then(crate::certificates::code_meaning)
        {
            Some(meaning) => write!(f, ": refused by KSeF ({meaning}) — {}", self.source),
            None => write!(f, ": KSeF: {}", self.source),
        }
    }
}

struct LocalCheckDisplay<'a> {
    failed: &'a [FileCheck],
    total: usize,
}

impl fmt::Display for LocalCheckDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} invoice file(s) failed the local check; nothing was sent:",
            self.failed.len(),
            self.total
        )?;
        for c in self.failed {
            write!(f, "\n  {}: {}", c.file.display(), c.errors.join("\n    "))?;
        }
        Ok(())
    }
}

/// What a session opened with a KSeF token may not do (the seed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenSessionRefusal {
    /// "Sesja z tokenem nie może generować kolejnych podtokenów".
    GenerateTokens,
    /// Listing or showing tokens.
    BrowseTokens,
    /// Revoking tokens.
    RevokeTokens,
}

impl fmt::Display for TokenSessionRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, polish) = match self {
            TokenSessionRefusal::GenerateTokens => {
                ("generating a KSeF token", "generować kolejnych tokenów")
            }
            TokenSessionRefusal::BrowseTokens => {
                ("browsing KSeF tokens", "przeglądać ani usuwać tokenów")
            }
            TokenSessionRefusal::RevokeTokens => {
                ("revoking KSeF tokens", "przeglądać ani usuwać tokenów")
            }
        };
        write!(
            f,
            "{what} is not possible in a session opened with a KSeF token (Sesja z tokenem nie może \
             {polish}). Log in with a certificate or Profil Zaufany: `ksef auth login --nip … --cert …` \
             or `ksef auth prepare`."
        )
    }
}

/// A program operation that calls KSeF (named in errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    SendInvoices,
    QueryInvoices,
    DownloadInvoices,
    SyncInvoices,
    DownloadUpo,
    ReadLimits,
    ListSessions,
    ShowSession,
    GrantPermissions,
    RevokePermission,
    ListPermissions,
    ReadEnrollmentData,
    EnrollCertificate,
    RetrieveCertificate,
    ListCertificates,
    RevokeCertificate,
    ReadCertificateLimits,
    RevokeTokens,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::SendInvoices => "sending invoices",
            Operation::QueryInvoices => "querying invoices",
            Operation::DownloadInvoices => "downloading invoices",
            Operation::SyncInvoices => "synchronising invoices",
            Operation::DownloadUpo => "downloading a UPO",
            Operation::ReadLimits => "reading the limits",
            Operation::ListSessions => "listing sessions",
            Operation::ShowSession => "showing a session",
            Operation::GrantPermissions => "the grant",
            Operation::RevokePermission => "the revocation",
            Operation::ListPermissions => "listing permissions",
            Operation::ReadEnrollmentData => "reading the certificate enrollment data",
            Operation::EnrollCertificate => "the certificate enrollment",
            Operation::RetrieveCertificate => "retrieving certificate",
            Operation::ListCertificates => "listing KSeF certificates",
            Operation::RevokeCertificate => "revoking certificate",
            Operation::ReadCertificateLimits => "reading the certificate limits",
            Operation::RevokeTokens => "revoking tokens",
        })
    }
}

/// What was being done to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IoAction {
    Read,
    Write,
    CreateDirectory,
    ReadPasswordFile,
}

impl fmt::Display for IoAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IoAction::Read => "read",
            IoAction::Write => "write",
            IoAction::CreateDirectory => "create",
            IoAction::ReadPasswordFile => "read password file",
        })
    }
}

/// An input of a program operation (a command-line option, a form field). `Display` is the
/// command-line name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Field {
    BaseUrl,
    Environment,
    Nip,
    InternalId,
    /// The login context (NIP or internal id).
    Context,
    Certificate,
    Key,
    Pkcs12Password,
    /// The prepared AuthTokenRequest file.
    PreparedFile,
    /// The signed AuthTokenRequest (a file or a directory to look in).
    SignedFile,
    /// A token's description.
    Description,
    /// The permissions of a new token.
    TokenPermissions,
    TokenStatus,
    /// A person to grant permissions to (PESEL, NIP or fingerprint).
    Person,
    /// Person permissions to grant.
    PersonPermissions,
    /// The id of a granted permission.
    PermissionId,
    /// The grant as a whole (KSeF's request rules).
    Grant,
    CertificateName,
    CertificateType,
    KeyAlgorithm,
    CertificateSerial,
    InvoiceFiles,
    Form,
    SessionType,
    SessionStatus,
    SessionReference,
    SubjectType,
    DateType,
    From,
    To,
    Since,
    /// `from`..`to` together.
    DateRange,
    PageSize,
    KsefNumber,
    /// A test certificate's subject (NIP or PESEL, names).
    TestSubject,
    Pesel,
    /// The smallest gross amount listed.
    MinAmount,
    /// The largest gross amount listed.
    MaxAmount,
    /// A page of a list.
    Page,
    /// The offline mode (`--mode`).
    OfflineMode,
    /// The end of an announced unavailability or failure (`--ends`).
    OfflineEnds,
    /// The invoice acted on (a register id, KSeF number or reference number).
    Invoice,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::BaseUrl => "--base-url",
            Field::Environment => "--env",
            Field::Nip => "--nip",
            Field::InternalId => "--internal-id",
            Field::Context => "the context",
            Field::Certificate => "the certificate",
            Field::Key => "the key",
            Field::Pkcs12Password => "the PKCS#12 password",
            Field::PreparedFile => "the prepared file",
            Field::SignedFile => "the signed file",
            Field::Description => "--description",
            Field::TokenPermissions => "--permissions",
            Field::TokenStatus => "--status",
            Field::Person => "the person",
            Field::PersonPermissions => "--permission",
            Field::PermissionId => "the permission id",
            Field::Grant => "the grant",
            Field::CertificateName => "certificate name",
            Field::CertificateType => "certificate type",
            Field::KeyAlgorithm => "key algorithm",
            Field::CertificateSerial => "certificate serial number",
            Field::InvoiceFiles => "invoice files",
            Field::Form => "--form",
            Field::SessionType => "--type",
            Field::SessionStatus => "--status",
            Field::SessionReference => "--session",
            Field::SubjectType => "--subject-type",
            Field::DateType => "--date-type",
            Field::From => "--from",
            Field::To => "--to",
            Field::Since => "--since",
            Field::DateRange => "--from/--to",
            Field::PageSize => "--page-size",
            Field::KsefNumber => "the KSeF number",
            Field::TestSubject => "the test certificate's subject",
            Field::Pesel => "--pesel",
            Field::MinAmount => "--min-amount",
            Field::MaxAmount => "--max-amount",
            Field::Page => "--page",
            Field::OfflineMode => "--mode",
            Field::OfflineEnds => "--ends",
            Field::Invoice => "the invoice",
        })
    }
}

/// What is wrong with an input value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputProblem {
    /// Nothing given; `hint` says what to give.
    #[error("give {hint}")]
    Missing { hint: &'static str },
    /// Too short or too long (characters).
    #[error("must have {min}–{max} characters (has {actual})")]
    Length {
        min: usize,
        max: usize,
        actual: usize,
    },
    /// Not a valid identifier (NIP, PESEL, internal id, …): length, digits or checksum.
    #[error("{0}")]
    Identifier(IdentifierError),
    /// Neither a PESEL, a NIP nor a certificate fingerprint.
    #[error(
        "{value:?}: expected a PESEL (11 digits), a NIP (10 digits) or a certificate fingerprint \
         (64 hex digits)"
    )]
    NotAPerson { value: String },
    /// Not a permission name.
    #[error("unknown permission {value:?}; expected one of {expected}")]
    UnknownPermission { value: String, expected: String },
    /// Not one of the accepted values.
    #[error("{value:?}: expected {expected}")]
    UnexpectedValue { value: String, expected: String },
    /// Not in the expected form.
    #[error("{value:?}: expected {expected}")]
    BadFormat {
        value: String,
        expected: &'static str,
    },
    /// Not PEM text.
    #[error("not a PEM file")]
    NotPem,
    /// KSeF's request rules refuse it.
    #[error("{0}")]
    Rules(ValidationError),
    /// A number outside what KSeF takes.
    #[error("KSeF takes {min} to {max} (got {actual})")]
    OutOfRange { min: i64, max: i64, actual: i64 },
    /// `--to` before `--from`.
    #[error("is before --from")]
    BeforeFrom,
    /// A date range longer than KSeF accepts.
    #[error("the date range is longer than {months} months, which KSeF does not accept; narrow it")]
    RangeTooLong { months: u8 },
    /// Granting to a bare certificate fingerprint (needs identity document details).
    #[error(
        "granting to a certificate fingerprint needs the person's identity document details; \
         grant to their PESEL or NIP instead"
    )]
    FingerprintGrant,
    /// A value given where it has no meaning; `why` says why.
    #[error("does not apply: {why}")]
    NotApplicable { why: &'static str },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One value of every variant (the web app's tests build their own).
    fn every_variant() -> Vec<ProgramError> {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let api = || KsefError::Api {
            status: 400,
            code: Some(25009),
            description: "Certyfikat odwołany".into(),
            details: vec![],
            reason_code: None,
        };
        vec![
            ProgramError::Ksef(api()),
            ProgramError::KsefFailed {
                operation: Operation::RevokeCertificate,
                subject: Some("0123456789ABCDEF".into()),
                source: Box::new(api()),
            },
            ProgramError::OperationRefused {
                operation: Operation::GrantPermissions,
                status_code: 400,
                description: "Odmowa".into(),
                reference_number: "R".into(),
            },
            ProgramError::Store(StoreError::WrongKey),
            ProgramError::Crypto(CryptoError::WrongPkcs12Password),
            ProgramError::NotLoggedIn {
                base_url: "http://127.0.0.1:1/v2".into(),
            },
            ProgramError::SessionExpired,
            ProgramError::SessionUnreadable {
                kind: "syntax",
                line: 1,
                column: 2,
            },
            ProgramError::Serialize {
                what: "the session",
                detail: "x".into(),
            },
            ProgramError::RefusedInTokenSession(TokenSessionRefusal::GenerateTokens),
            ProgramError::PermissionMissing {
                operation: Operation::SendInvoices,
                needed: vec![Permission::InvoiceWrite],
                held: vec![],
            },
            ProgramError::TokenPermissionsNotHeld {
                missing: vec![TokenPermission::InvoiceWrite],
            },
            ProgramError::invalid(
                Field::Description,
                InputProblem::Length {
                    min: 5,
                    max: 256,
                    actual: 3,
                },
            ),
            ProgramError::io(IoAction::Read, "/x/y.xml", io()),
            ProgramError::NotWritten {
                path: "/x/upo.xml".into(),
                source: Box::new(KsefError::Transport("disk full".into())),
            },
            ProgramError::NoXmlSignature.in_file("/x/y.xml"),
            ProgramError::NoXmlSignature,
            ProgramError::NotAuthTokenRequest(AuthRequestError::Doctype("x".into())),
            ProgramError::ChallengeExpired {
                deadline: OffsetDateTime::UNIX_EPOCH,
            },
            ProgramError::NoPreparedRequest,
            ProgramError::SignedFileNotFound {
                prepared: "A.xml".into(),
                dir: "/d".into(),
            },
            ProgramError::User(crate::users::UserError::NoToken { user: "jan".into() }),
            ProgramError::CertificateNotIssued {
                reference_number: "R".into(),
                status_code: 400,
                description: "Odmowa".into(),
                details: vec!["d".into()],
            },
            ProgramError::NoCertificateSerial {
                reference_number: "R".into(),
            },
            ProgramError::CertificateNotSaved {
                serial: "S".into(),
                path: "/a.p12".into(),
                source: Box::new(KsefError::Transport("disk full".into())),
            },
            ProgramError::OutputExists {
                path: "/a.p12".into(),
            },
            ProgramError::OutputDirMissing {
                path: "/a/b.p12".into(),
                dir: "/a".into(),
            },
            ProgramError::NoXmlFiles { dir: "/d".into() },
            ProgramError::LocalCheckFailed {
                failed: vec![],
                total: 1,
            },
            ProgramError::CheckAborted {
                detail: "panic".into(),
            },
            ProgramError::NotInBatch { form: "PEF (3)" },
            ProgramError::NoRegister {
                base_url: "http://127.0.0.1:1/v2".into(),
                firms: vec!["Nip:5265877635".into()],
            },
            ProgramError::InvoiceUnreadable {
                invoice: "5265877635-20250826-0100001AF629-AF".into(),
                source: ksef_invoice::InvoiceError::Semantic("no P_2".into()),
            },
            ProgramError::UnknownFirm {
                firm: "Nip:1111111111".into(),
                base_url: "http://127.0.0.1:1/v2".into(),
                known: vec!["Nip:5265877635".into()],
            },
            ProgramError::SessionForOtherFirm {
                session: "Nip:5265877635".into(),
                wanted: "Nip:1111111111".into(),
            },
            ProgramError::NoVerificationLink {
                invoice: "FV/1".into(),
                source: ksef_core::qr::LinkError::ContextType { found: "X".into() },
            },
            ProgramError::SellerNotFirm {
                file: "/x/fv.xml".into(),
                seller_nip: "1111111111".into(),
                firm: "Nip:5265877635".into(),
            },
            ProgramError::OfflineDeadline {
                file: "/x/fv.xml".into(),
                source: DeadlineError::OutOfRange,
            },
            ProgramError::AlreadyInRegister {
                file: "/x/fv.xml".into(),
                id: 7,
                status: InvoiceStatus::Accepted,
                ksef_number: Some("5265877635-20250826-0100001AF629-AF".into()),
            },
            ProgramError::FileChanged {
                file: "/x/fv.xml".into(),
            },
            ProgramError::InvoiceNotInRegister {
                invoice: "42".into(),
            },
            ProgramError::NotPendingOffline {
                id: 7,
                invoice_number: "FV/1".into(),
                status: InvoiceStatus::Sent,
            },
            ProgramError::TechnicalCorrectionRefused {
                invoice: "FV/1".into(),
                id: 7,
                reason: CorrectionRefusal::AlreadyCorrected { correction: None },
                ksef_code: Some(21166),
            },
            ProgramError::invalid(
                Field::OfflineEnds,
                InputProblem::NotApplicable { why: "offline24" },
            ),
        ]
    }

    #[test]
    fn every_error_has_an_english_message() {
        for e in every_variant() {
            let shown = e.to_string();
            assert!(!shown.trim().is_empty(), "{e:?}");
            // English sentences (KSeF's own Polish descriptions and the seed's quoted rule may
            // appear inside them, the web app's Polish wording may not).
            for polish in [
                "Nie ma ",
                "Brak ",
                "Błąd",
                "zaloguj",
                "Nieprawidłow",
                "Użytkownik",
            ] {
                assert!(!shown.contains(polish), "{shown}");
            }
        }
    }

    #[test]
    fn messages_keep_the_known_wording() {
        let e = ProgramError::RefusedInTokenSession(TokenSessionRefusal::BrowseTokens);
        assert!(e.to_string().contains("KSeF token"));
        let e = ProgramError::PermissionMissing {
            operation: Operation::RevokeTokens,
            needed: vec![Permission::CredentialsManage],
            held: vec!["InvoiceRead".into()],
        };
        assert_eq!(
            e.to_string(),
            "revoking tokens needs the CredentialsManage permission in this context, which the \
             current session does not hold (held: InvoiceRead)"
        );
        let e = ProgramError::KsefFailed {
            operation: Operation::RevokeCertificate,
            subject: Some("0123456789ABCDEF".into()),
            source: Box::new(KsefError::Api {
                status: 400,
                code: Some(25001),
                description: "x".into(),
                details: vec![],
                reason_code: None,
            }),
        };
        let shown = e.to_string();
        assert!(
            shown.starts_with("revoking certificate 0123456789ABCDEF: refused by KSeF (")
                && shown.contains("25001")
                && shown.contains("KSeF token"),
            "{shown}"
        );
        let e = ProgramError::NoXmlSignature.in_file("/x/y.xml");
        assert!(matches!(e.root(), ProgramError::NoXmlSignature));
    }
}
