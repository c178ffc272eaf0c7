//! `ksef-invoice` — KSeF invoice documents as data.
//!
//! Owns:
//! * [`FormCode`]: the five `formCode` triples of the API (digest §8.1) and detection from an
//!   invoice header;
//! * the official XSDs, vendored verbatim under `schemas/` (see `scripts/vendor-schemas.sh`),
//!   embedded in the binary and materialised once per process to a private directory with the
//!   remote base-types import mapped to the local copy ([`schema`]);
//! * XSD validation through libxml2 (`libxml` crate): documents parsed with `recover = false`
//!   and no network access, schemas compiled once per thread. A failure of the verifier itself
//!   (materialising or compiling the XSDs) is [`InvoiceError::Internal`], never a verdict, and
//!   is not cached: the next call tries again;
//! * the byte-level rules of digest §11 (UTF-8 without BOM, no other declared encoding, no
//!   processing instructions, no W3C-discouraged characters) ([`bytes`]);
//! * [`InvoiceFacts`] extraction with roxmltree ([`facts`]);
//! * UPO v4-3 rendering and validation ([`upo`]).
//!
//! Used by the emulator (verification of received invoices) and the client (local
//! `invoice validate`).

pub mod bytes;
pub mod facts;
pub mod form;
pub mod schema;
pub mod upo;

pub use facts::{AuthorizedSubject, InvoiceFacts, Party, ThirdSubject};
pub use form::FormCode;

/// Why an invoice was rejected — or, for [`InvoiceError::Internal`], why it could not be
/// judged at all. Every variant carries human-readable detail (Polish/English).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvoiceError {
    /// BOM, non-UTF-8 declaration or bytes, processing instruction, discouraged character.
    #[error("niepoprawne kodowanie / encoding rule violated: {0}")]
    Encoding(String),
    /// Not well-formed XML (libxml2 / roxmltree diagnostics, with line numbers).
    #[error("dokument XML nie jest poprawnie sformułowany / XML is not well-formed: {0}")]
    NotWellFormed(String),
    /// XSD validation errors, one "line N: message" per libxml2 error.
    #[error("dokument niezgodny ze schematem / XSD validation failed: {}", .0.join("; "))]
    Schema(Vec<String>),
    /// Facts missing or unreadable.
    #[error("błąd semantyki dokumentu / invoice content error: {0}")]
    Semantic(String),
    /// The verifier itself failed (the XSDs could not be materialised or compiled): NOT a
    /// verdict on the document, which may well be valid. Check [`InvoiceError::is_internal`]
    /// before recording a rejection; a later call may succeed (failures are not cached).
    #[error("błąd wewnętrzny weryfikatora / internal verifier error: {0}")]
    Internal(String),
}

impl InvoiceError {
    /// KSeF invoice status code: 430 (file verification failed) or 450 (semantic error).
    /// [`InvoiceError::Internal`] answers 500: it is no invoice status (see
    /// [`InvoiceError::is_internal`]).
    pub fn status_code(&self) -> u16 {
        match self {
            InvoiceError::Encoding(_)
            | InvoiceError::NotWellFormed(_)
            | InvoiceError::Schema(_) => 430,
            InvoiceError::Semantic(_) => 450,
            InvoiceError::Internal(_) => 500,
        }
    }

    /// `true` when the verifier failed rather than the document ([`InvoiceError::Internal`]):
    /// the invoice must not be given a verdict (retry later instead).
    pub fn is_internal(&self) -> bool {
        matches!(self, InvoiceError::Internal(_))
    }

    /// Detail lines for `status.details` of the API.
    pub fn details(&self) -> Vec<String> {
        match self {
            InvoiceError::Encoding(d)
            | InvoiceError::NotWellFormed(d)
            | InvoiceError::Semantic(d)
            | InvoiceError::Internal(d) => d.lines().map(str::to_string).collect(),
            InvoiceError::Schema(lines) => lines.clone(),
        }
    }
}

/// Full verification of one invoice for a session's form code: byte rules, well-formedness,
/// XSD, facts. The document is parsed once (libxml2); the facts are read from the validated
/// tree.
pub fn verify(form: FormCode, xml: &[u8]) -> Result<InvoiceFacts, InvoiceError> {
    let doc = check_and_validate(form, xml)?;
    facts::extract_libxml(form, &doc)
}

/// What the local check before sending found in a file: the form code it was checked against,
/// and the facts read from the same parse (`Err`: unreadable, the file is still valid).
pub type SendCheck = (FormCode, Result<InvoiceFacts, InvoiceError>);

/// [`verify`] for a sender, who needs the two verdicts apart and may not know the form code:
/// the file is parsed ONCE (libxml2) — for its form code when `form` is `None` (`Ok(None)`: it
/// declares no form code of a supported form), for the XSD check (the outer `Err`: not to be
/// sent), and for the facts a register of sent invoices records.
pub fn validate_for_sending(
    form: Option<FormCode>,
    xml: &[u8],
) -> Result<Option<SendCheck>, InvoiceError> {
    let text = bytes::check(xml)?;
    let doc = schema::parse(text)?;
    let Some(form) = form.or_else(|| facts::detect_libxml(&doc)) else {
        return Ok(None);
    };
    validate_parsed(form, &doc)?;
    Ok(Some((form, facts::extract_libxml(form, &doc))))
}

/// XSD only (after byte rules + well-formedness). Same error type.
pub fn validate_schema(form: FormCode, xml: &[u8]) -> Result<(), InvoiceError> {
    check_and_validate(form, xml).map(|_| ())
}

/// Facts only (after byte rules + well-formedness; no XSD validation).
pub fn extract_facts(form: FormCode, xml: &[u8]) -> Result<InvoiceFacts, InvoiceError> {
    let text = bytes::check(xml)?;
    facts::extract(form, text)
}

fn check_and_validate(form: FormCode, xml: &[u8]) -> Result<libxml::tree::Document, InvoiceError> {
    let text = bytes::check(xml)?;
    let doc = schema::parse(text)?;
    validate_parsed(form, &doc)?;
    Ok(doc)
}

/// The XSD check of a parsed document; a document of another form than `form` says so first.
fn validate_parsed(form: FormCode, doc: &libxml::tree::Document) -> Result<(), InvoiceError> {
    match schema::validate_doc(schema::SchemaKind::Form(form), doc) {
        Ok(()) => Ok(()),
        Err(InvoiceError::Schema(mut lines)) => {
            if let Some(actual) = facts::detect_libxml(doc).filter(|a| *a != form) {
                lines.insert(
                    0,
                    format!(
                        "dokument ma formularz {} a sesja {} / the document is {} but the session's form code is {}",
                        actual.system_code(),
                        form.system_code(),
                        actual.system_code(),
                        form.system_code()
                    ),
                );
            }
            Err(InvoiceError::Schema(lines))
        }
        Err(other) => Err(other),
    }
}
