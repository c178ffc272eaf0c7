//! The official XSDs (vendored verbatim under `schemas/`, embedded with `include_bytes!`),
//! their materialisation to a private directory, and XSD validation through libxml2.
//!
//! The FA(2)/FA(3)/FA_RR(1) schemas import their base types from
//! `http://crd.gov.pl/xml/schematy/dziedzinowe/mf/2022/01/05/eD/DefinicjeTypy/…`; libxml2 must
//! not fetch it, so the *materialised copy* (never the vendored file) has that URL rewritten to
//! the local `bazowe/` copy. The directory name carries a hash of the content, it is created
//! atomically (staging directory + rename) and an existing one is re-checked byte for byte
//! before use.
//!
//! libxml2 schema and validation contexts are `!Send`: each thread compiles the schemas it uses
//! once (`thread_local!`, ~10 ms for FA, ~150 ms for PEF) and keeps them.
//!
//! Only successes are kept: a failed materialisation or compilation is reported as
//! [`InvoiceError::Internal`] (a failure of the verifier, not of the document) and tried again
//! on the next call.

use std::borrow::Cow;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use libxml::error::{StructuredError, XmlErrorLevel};
use libxml::parser::{Parser, ParserOptions, XmlParseFailure};
use libxml::schemas::{SchemaParserContext, SchemaValidationContext};
use libxml::tree::Document;
use sha2::{Digest, Sha256};

use crate::{FormCode, InvoiceError};

macro_rules! vendored {
    ($($path:literal),* $(,)?) => {
        /// Every vendored schema file: path relative to `schemas/` and its exact bytes.
        pub const SCHEMA_FILES: &[(&str, &[u8])] = &[
            $(($path, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/", $path)))),*
        ];
    };
}

vendored!(
    "FA/bazowe/ElementarneTypyDanych_v10-0E.xsd",
    "FA/bazowe/KodyKrajow_v10-0E.xsd",
    "FA/bazowe/StrukturyDanych_v10-0E.xsd",
    "FA/schemat_FA(2)_v1-0E.xsd",
    "FA/schemat_FA(3)_v1-0E.xsd",
    "PEF/Schemat_PEF(3)_v2-1.xsd",
    "PEF/Schemat_PEF_KOR(3)_v2-1.xsd",
    "PEF/bazowe/20241206_PEFPL-CommonAggregateComponents-2.1-v1.4.34.xsd",
    "PEF/bazowe/20241206_PEFPL-CommonBasicComponents-2.1-v1.4.34.xsd",
    "PEF/bazowe/CCTS_CCT_SchemaModule-2.1.xsd",
    "PEF/bazowe/UBL-CommonAggregateComponents-2.1.xsd",
    "PEF/bazowe/UBL-CommonBasicComponents-2.1.xsd",
    "PEF/bazowe/UBL-CommonExtensionComponents-2.1.xsd",
    "PEF/bazowe/UBL-CommonSignatureComponents-2.1.xsd",
    "PEF/bazowe/UBL-ExtensionContentDataType-2.1.xsd",
    "PEF/bazowe/UBL-QualifiedDataTypes-2.1.xsd",
    "PEF/bazowe/UBL-SignatureAggregateComponents-2.1.xsd",
    "PEF/bazowe/UBL-SignatureBasicComponents-2.1.xsd",
    "PEF/bazowe/UBL-UnqualifiedDataTypes-2.1.xsd",
    "PEF/bazowe/UBL-XAdESv132-2.1.xsd",
    "PEF/bazowe/UBL-XAdESv141-2.1.xsd",
    "PEF/bazowe/UBL-xmldsig-core-schema-2.1.xsd",
    "PEF/bazowe/commontypes.xsd",
    "PEF/bazowe/isotypes.xsd",
    "RR/schemat_FA_RR(1)_v1-1E.xsd",
    "upo-v4-3.xsd",
);

/// The remote base-types location imported by the FA/FA_RR schemas.
pub const BASE_TYPES_URL: &str =
    "http://crd.gov.pl/xml/schematy/dziedzinowe/mf/2022/01/05/eD/DefinicjeTypy/";

/// Bumped whenever the materialisation rules change (part of the directory hash).
const MATERIALISE_VERSION: &[u8] = b"ksef-invoice materialise v1";

/// Which compiled schema to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaKind {
    Form(FormCode),
    Upo,
}

impl SchemaKind {
    /// Path of the main schema file relative to the schema directory.
    pub fn main_file(self) -> &'static str {
        match self {
            SchemaKind::Form(FormCode::Fa2) => "FA/schemat_FA(2)_v1-0E.xsd",
            SchemaKind::Form(FormCode::Fa3) => "FA/schemat_FA(3)_v1-0E.xsd",
            SchemaKind::Form(FormCode::FaRr1) => "RR/schemat_FA_RR(1)_v1-1E.xsd",
            SchemaKind::Form(FormCode::Pef3) => "PEF/Schemat_PEF(3)_v2-1.xsd",
            SchemaKind::Form(FormCode::PefKor3) => "PEF/Schemat_PEF_KOR(3)_v2-1.xsd",
            SchemaKind::Upo => "upo-v4-3.xsd",
        }
    }

    fn index(self) -> usize {
        match self {
            SchemaKind::Form(FormCode::Fa2) => 0,
            SchemaKind::Form(FormCode::Fa3) => 1,
            SchemaKind::Form(FormCode::Pef3) => 2,
            SchemaKind::Form(FormCode::PefKor3) => 3,
            SchemaKind::Form(FormCode::FaRr1) => 4,
            SchemaKind::Upo => 5,
        }
    }
}

/// The bytes of a vendored file as written to the materialised directory: identical, except
/// that the remote base-types import of the FA/FA_RR schemas points at the local `bazowe/`.
pub fn materialised_bytes(path: &str, bytes: &'static [u8]) -> Cow<'static, [u8]> {
    let local = if path.starts_with("FA/") && !path.starts_with("FA/bazowe/") {
        "bazowe/"
    } else if path.starts_with("RR/") {
        "../FA/bazowe/" // FA_RR(1) imports the same base types as FA; they are vendored once
    } else {
        return Cow::Borrowed(bytes);
    };
    let from = format!("schemaLocation=\"{BASE_TYPES_URL}");
    let to = format!("schemaLocation=\"{local}");
    match std::str::from_utf8(bytes) {
        Ok(text) if text.contains(&from) => Cow::Owned(text.replace(&from, &to).into_bytes()),
        _ => Cow::Borrowed(bytes),
    }
}

fn content_hash() -> String {
    let mut h = Sha256::new();
    h.update(MATERIALISE_VERSION);
    for (path, bytes) in SCHEMA_FILES {
        h.update((path.len() as u64).to_be_bytes());
        h.update(path.as_bytes());
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    }
    hex::encode(&h.finalize()[..8])
}

/// The directory holding the materialised schemas (created on first successful use, once per
/// process; a failure is returned and tried again on the next call).
pub fn schema_dir() -> Result<&'static Path, String> {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    static INIT: Mutex<()> = Mutex::new(());
    cache_success(&DIR, &INIT, materialise).map(PathBuf::as_path)
}

/// The value in `cell`, made by `make` if there is none yet. Only a success is stored: after a
/// failure the next call runs `make` again. `init` serialises the attempts.
fn cache_success<'a, T>(
    cell: &'a OnceLock<T>,
    init: &Mutex<()>,
    make: impl FnOnce() -> Result<T, String>,
) -> Result<&'a T, String> {
    if let Some(v) = cell.get() {
        return Ok(v);
    }
    // A poisoned lock only means another attempt panicked; the cell is still consistent.
    let _guard = init.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(v) = cell.get() {
        return Ok(v);
    }
    let v = make()?;
    Ok(cell.get_or_init(|| v))
}

fn materialise() -> Result<PathBuf, String> {
    let base = std::env::temp_dir();
    let name = format!("ksef-invoice-xsd-{}", content_hash());
    let target = base.join(&name);
    if target.is_dir() && directory_is_ours(&target) {
        return Ok(target);
    }
    let stage = unique_dir(&base, &format!("{name}.stage"))?;
    let write = || -> std::io::Result<()> {
        for (path, bytes) in SCHEMA_FILES {
            let dest = stage.join(path);
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&dest, materialised_bytes(path, bytes))?;
        }
        Ok(())
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_dir_all(&stage);
        return Err(format!(
            "cannot write the XSD copies to {}: {e}",
            stage.display()
        ));
    }
    match std::fs::rename(&stage, &target) {
        Ok(()) => Ok(target),
        Err(_) if target.is_dir() && directory_is_ours(&target) => {
            // Another thread/process won the race with identical content.
            let _ = std::fs::remove_dir_all(&stage);
            Ok(target)
        }
        Err(_) => {
            // The shared name is taken by something we cannot trust (other owner, other
            // content): keep our private, uniquely named staging directory instead.
            Ok(stage)
        }
    }
}

/// A new directory only this process created (create_dir fails if the name exists).
fn unique_dir(base: &Path, prefix: &str) -> Result<PathBuf, String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    for attempt in 0..100u32 {
        let dir = base.join(format!(
            "{prefix}-{}-{nanos:x}-{attempt}",
            std::process::id()
        ));
        match create_private_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
        }
    }
    Err(format!(
        "cannot create a unique directory under {}",
        base.display()
    ))
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir(dir)
}

/// An existing materialised directory is used only if it belongs to us, nobody else can write
/// to it, and every file has exactly the expected content.
fn directory_is_ours(dir: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let Ok(meta) = std::fs::symlink_metadata(dir) else {
            return false;
        };
        if !meta.is_dir() || meta.mode() & 0o022 != 0 || Some(meta.uid()) != own_uid(dir) {
            return false;
        }
    }
    SCHEMA_FILES.iter().all(|(path, bytes)| {
        std::fs::read(dir.join(path)).is_ok_and(|found| found == *materialised_bytes(path, bytes))
    })
}

/// Our user id, learnt from a directory we create ourselves next to `near`.
#[cfg(unix)]
fn own_uid(near: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let base = near.parent()?;
    let probe = unique_dir(base, "ksef-invoice-uid-probe").ok()?;
    let uid = std::fs::metadata(&probe).ok().map(|m| m.uid());
    let _ = std::fs::remove_dir(&probe);
    uid
}

thread_local! {
    static COMPILED: RefCell<[Option<SchemaValidationContext>; 6]> = const { RefCell::new([None, None, None, None, None, None]) };
}

/// Compiles a schema on this thread now (normally done lazily on first validation).
pub fn warm_up(kind: SchemaKind) -> Result<(), String> {
    with_schema(kind, |_| ())
}

fn compile(kind: SchemaKind) -> Result<SchemaValidationContext, String> {
    compile_in(schema_dir()?, kind)
}

fn compile_in(dir: &Path, kind: SchemaKind) -> Result<SchemaValidationContext, String> {
    let path = dir.join(kind.main_file());
    let path_str = path
        .to_str()
        .ok_or_else(|| format!("schema path is not UTF-8: {}", path.display()))?;
    if !path.is_file() {
        return Err(format!("schema file missing: {path_str}"));
    }
    let mut parser = SchemaParserContext::from_file(path_str);
    SchemaValidationContext::from_parser(&mut parser).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(format_error).collect();
        format!("cannot compile {path_str}: {}", lines.join("; "))
    })
}

fn with_schema<R>(
    kind: SchemaKind,
    f: impl FnOnce(&mut SchemaValidationContext) -> R,
) -> Result<R, String> {
    with_schema_compiled_by(kind, compile, f)
}

/// [`with_schema`] with the compiler as a parameter (tests inject failures). A failed compile
/// leaves the slot empty, so the next call compiles again.
fn with_schema_compiled_by<R>(
    kind: SchemaKind,
    compile: impl FnOnce(SchemaKind) -> Result<SchemaValidationContext, String>,
    f: impl FnOnce(&mut SchemaValidationContext) -> R,
) -> Result<R, String> {
    COMPILED.with(|cell| {
        let mut slots = cell.borrow_mut();
        let slot = &mut slots[kind.index()];
        if slot.is_none() {
            *slot = Some(compile(kind)?);
        }
        match slot.as_mut() {
            Some(ctx) => Ok(f(ctx)),
            None => Err("schema context unavailable".to_string()),
        }
    })
}

/// Parses `text` with libxml2 (no recovery, no network) — a diagnostic of level error or
/// fatal means the document is not well-formed (namespace errors included).
pub fn parse(text: &str) -> Result<Document, InvoiceError> {
    let options = ParserOptions {
        recover: false,
        no_net: true,
        no_error: true,
        no_warning: true,
        // Small text nodes stored inline (fewer allocations, ~5 % faster); the tree is read-only.
        // `no_blanks` would save another ~9 % but its heuristic also drops whitespace before a
        // comment/CDATA inside a leaf element, which can change a verdict: not used.
        compact: true,
        ..ParserOptions::default()
    };
    match Parser::default().parse_string_with_diagnostics(text, options) {
        Ok((doc, diagnostics)) => {
            let errors: Vec<String> = diagnostics
                .iter()
                .filter(|e| matches!(e.level, XmlErrorLevel::Error | XmlErrorLevel::Fatal))
                .map(format_error)
                .collect();
            if errors.is_empty() {
                Ok(doc)
            } else {
                Err(InvoiceError::NotWellFormed(errors.join("\n")))
            }
        }
        Err(XmlParseFailure::ParseFailed(diagnostics)) => {
            let mut errors: Vec<String> = diagnostics
                .iter()
                .filter(|e| !matches!(e.level, XmlErrorLevel::Warning | XmlErrorLevel::None))
                .map(format_error)
                .collect();
            if errors.is_empty() {
                errors.push("the XML parser returned no document".to_string());
            }
            Err(InvoiceError::NotWellFormed(errors.join("\n")))
        }
        Err(other) => Err(InvoiceError::NotWellFormed(other.to_string())),
    }
}

/// Most error lines kept in one [`InvoiceError::Schema`].
pub const MAX_SCHEMA_LINES: usize = 50;

/// Validates a parsed document; `Err(Schema)` holds one "line N: message" per libxml2 error.
/// A schema that cannot be materialised or compiled is `Err(Internal)` — no verdict on `doc`.
pub fn validate_doc(kind: SchemaKind, doc: &Document) -> Result<(), InvoiceError> {
    validate_doc_compiled_by(kind, doc, compile)
}

fn validate_doc_compiled_by(
    kind: SchemaKind,
    doc: &Document,
    compile: impl FnOnce(SchemaKind) -> Result<SchemaValidationContext, String>,
) -> Result<(), InvoiceError> {
    let outcome = with_schema_compiled_by(kind, compile, |ctx| {
        let _ = ctx.drain_errors();
        let result = ctx.validate_document(doc);
        let _ = ctx.drain_errors();
        result
    })
    .map_err(|e| {
        InvoiceError::Internal(format!(
            "the XSD {} could not be loaded: {e}",
            kind.main_file()
        ))
    })?;
    match outcome {
        Ok(()) => Ok(()),
        Err(errors) => {
            let filtered: Vec<&StructuredError> = errors
                .iter()
                .filter(|e| !matches!(e.level, XmlErrorLevel::Warning | XmlErrorLevel::None))
                .filter(|e| !(kind == SchemaKind::Upo && is_upo_receiver_name_mismatch(e)))
                .collect();
            if filtered.is_empty() {
                return Ok(());
            }
            let mut lines: Vec<String> = filtered
                .iter()
                .take(MAX_SCHEMA_LINES)
                .map(|e| format_error_in(e, kind))
                .collect();
            if filtered.len() > MAX_SCHEMA_LINES {
                lines.push(format!(
                    "… and {} more errors",
                    filtered.len() - MAX_SCHEMA_LINES
                ));
            }
            Err(InvoiceError::Schema(lines))
        }
    }
}

/// upo-v4-3.xsd fixes `NazwaPodmiotuPrzyjmujacego` to "Ministerstwo Finansów" while TEST and
/// DEMO put a suffix on it ("… - środowisko testowe (TE)"); exactly those two names are tolerated.
fn is_upo_receiver_name_mismatch(e: &StructuredError) -> bool {
    e.message.as_deref().is_some_and(|m| {
        m.contains("NazwaPodmiotuPrzyjmujacego")
            && m.contains("fixed value constraint")
            && [crate::upo::RECEIVER_TEST, crate::upo::RECEIVER_DEMO]
                .iter()
                .any(|name| m.contains(&format!("The actual value '{name}'")))
    })
}

/// "line N: message" (libxml2's text, trimmed).
pub fn format_error(e: &StructuredError) -> String {
    let message = e
        .message
        .as_deref()
        .unwrap_or("unknown libxml2 error")
        .trim();
    match e.line {
        Some(line) => format!("line {line}: {message}"),
        None => message.to_string(),
    }
}

/// Like [`format_error`], with the expected namespaces of `kind` shortened away
/// (`'{http://crd.gov.pl/wzor/2025/06/25/13775/}P_1'` → `'P_1'`); a foreign namespace stays.
fn format_error_in(e: &StructuredError, kind: SchemaKind) -> String {
    let mut out = format_error(e);
    let own: &[&str] = match kind {
        SchemaKind::Form(f) => &[f.namespace(), BASE_TYPES_URL],
        SchemaKind::Upo => &[crate::upo::NAMESPACE],
    };
    for ns in own {
        out = out.replace(&format!("{{{ns}}}"), "");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NIP: &str = "5265877635";

    fn doc(xml: &[u8]) -> Document {
        parse(std::str::from_utf8(xml).unwrap()).unwrap()
    }

    fn broken(_: SchemaKind) -> Result<SchemaValidationContext, String> {
        Err("injected compile failure".to_string())
    }

    #[test]
    fn compile_failure_is_internal_and_not_cached() {
        // Each test runs on its own thread, so this thread's compiled schemas start empty.
        let kind = SchemaKind::Form(FormCode::Fa3);
        let valid = doc(&ksef_testkit::invoices::fa3(NIP, "INT-1"));
        let invalid = doc(&ksef_testkit::invoices::broken_schema(NIP, "INT-2"));
        for d in [&valid, &invalid] {
            let e = validate_doc_compiled_by(kind, d, broken).unwrap_err();
            assert!(e.is_internal(), "{e:?}");
            assert!(e.to_string().contains("injected compile failure"), "{e}");
        }
        // The failure was not kept: the next call compiles the real schema and judges.
        assert_eq!(validate_doc(kind, &valid), Ok(()));
        let e = validate_doc(kind, &invalid).unwrap_err();
        assert!(matches!(e, InvoiceError::Schema(_)), "{e:?}");
        assert_eq!(e.status_code(), 430);
        // Once compiled, the context is reused (the injected compiler is not called again).
        assert_eq!(validate_doc_compiled_by(kind, &valid, broken), Ok(()));
    }

    #[test]
    fn missing_schema_file_fails_to_compile() {
        let empty = tempfile::tempdir().unwrap();
        let e = compile_in(empty.path(), SchemaKind::Form(FormCode::Fa2)).err();
        assert!(
            e.as_deref()
                .is_some_and(|e| e.contains("schema file missing")),
            "{e:?}"
        );
    }

    #[test]
    fn only_a_success_is_cached() {
        let cell = OnceLock::new();
        let init = Mutex::new(());
        let mut calls = 0;
        let mut attempt = |ok: bool| {
            cache_success(&cell, &init, || {
                calls += 1;
                if ok {
                    Ok(calls)
                } else {
                    Err(format!("failure {calls}"))
                }
            })
            .copied()
        };
        assert_eq!(attempt(false), Err("failure 1".to_string()));
        assert_eq!(attempt(false), Err("failure 2".to_string()));
        assert_eq!(attempt(true), Ok(3));
        // Cached now: `make` is not run again, failing or not.
        assert_eq!(attempt(false), Ok(3));
        assert_eq!(calls, 3);
    }
}
