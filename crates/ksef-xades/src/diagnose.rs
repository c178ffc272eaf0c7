//! Explanations for a signed `AuthTokenRequest` that KSeF rejects (for `ksef auth check`):
//! which of the common causes of error 9105 "Nieprawidłowy podpis" applies (NOTES.md
//! top 5), plus schema problems (21401) and environment hints.
//!
//! [`diagnose`] verifies the document the way the emulator does (strict and lenient
//! XAdES), then looks for the usual culprits. For a whole-document digest mismatch it
//! tries cheap repairs (removing whitespace between elements, trailing spaces): when a
//! repair makes the digest match, the finding says exactly what was changed.

use std::fmt;

use der::Decode as _;

use crate::auth_request::AuthTokenRequest;
use crate::dsig::parse_xml;
use crate::signature::{
    NS_DSIG, VerifyError, VerifyOptions, attr, child_el, is_el, top_level_signatures,
    verify_enveloped,
};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// KSeF (in the stated mode/environment) rejects the document.
    Error,
    /// Accepted by some environments or servers, rejected by others.
    Warning,
}

/// The known causes (NOTES.md "Top causes of 9105", plus the other usual suspects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    /// 1. The file was re-formatted, re-indented or re-encoded after signing.
    ModifiedAfterSigning,
    /// 2. ECDSA signature DER-encoded instead of raw R||S.
    EcdsaDerEncoded,
    /// 3. RSA-PSS (older servers expected PKCS#1 v1.5) or SHA-1 (refused on DEMO/PRD).
    AlgorithmRisk,
    /// 4. Detached signature, or the signature does not cover the whole document.
    NotEnveloped,
    /// 5. SignedProperties not referenced from SignedInfo, missing SigningCertificate
    ///    or wrong CertDigest (strict XAdES).
    XadesProperties,
    /// The document violates `schemat_auth_v2-*.xsd` (21401) or is unreadable.
    Schema,
    /// Self-signed certificate: accepted on TEST only (21115 on DEMO/PRD).
    SelfSignedCertificate,
    /// Any other reason (no signature, several signatures, bad value...).
    Other,
}

/// One diagnostic finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Which cause this is.
    pub cause: Cause,
    /// Error or warning.
    pub severity: Severity,
    /// The KSeF exception code this produces, when known.
    pub ksef_code: Option<u32>,
    /// Human explanation (English), with a hint how to fix it.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match self.ksef_code {
            Some(c) => write!(f, "{sev} [{c}]: {}", self.message),
            None => write!(f, "{sev}: {}", self.message),
        }
    }
}

fn finding(
    cause: Cause,
    severity: Severity,
    code: Option<u32>,
    message: impl Into<String>,
) -> Finding {
    Finding {
        cause,
        severity,
        ksef_code: code,
        message: message.into(),
    }
}

/// Analyse a signed document. An empty result means no problem was found.
pub fn diagnose(xml: &[u8]) -> Vec<Finding> {
    let mut out = Vec::new();

    // A DTD ends the analysis: KSeF refuses the document before reading anything else, and
    // nothing below should parse it.
    if let Some(found) = ksef_core::xml::find_doctype(xml) {
        out.push(finding(
            Cause::Schema,
            Severity::Error,
            Some(9101),
            format!("{found} — remove the DOCTYPE; KSeF refuses any document with a DTD"),
        ));
        return out;
    }

    if let Err(e) = AuthTokenRequest::parse(xml) {
        out.push(finding(
            Cause::Schema,
            Severity::Error,
            Some(e.ksef_code()),
            format!("the AuthTokenRequest is not valid: {e}"),
        ));
    }

    let lenient = verify_enveloped(
        xml,
        &VerifyOptions {
            strict_xades: false,
        },
    );
    match &lenient {
        Ok(_) => {
            if let Err(e) = verify_enveloped(xml, &VerifyOptions { strict_xades: true }) {
                out.push(finding(
                    Cause::XadesProperties,
                    Severity::Error,
                    Some(e.ksef_code()),
                    format!(
                        "{e} — KSeF requires a genuine XAdES signature (TEST since 2.1.0, DEMO/PRD \
                         since 2026-03-16); a plain XML-DSig signature is refused"
                    ),
                ));
            }
        }
        Err(e) => out.push(explain(xml, e)),
    }

    algorithm_warnings(xml, &mut out);
    if let Ok(v) = &lenient
        && is_self_signed(&v.signer_certificate_der)
    {
        out.push(finding(
            Cause::SelfSignedCertificate,
            Severity::Warning,
            Some(21115),
            "the signing certificate is self-signed: KSeF accepts it only on TEST; DEMO and \
             PRD answer 21115 \"Nieprawidłowy certyfikat\"",
        ));
    }
    out
}

fn explain(xml: &[u8], e: &VerifyError) -> Finding {
    let code = Some(e.ksef_code());
    match e {
        VerifyError::DigestMismatch { uri } => {
            let what = if uri.is_empty() {
                "the document was modified after signing (digest of Reference URI=\"\" does not match)"
                    .to_string()
            } else {
                format!("the element referenced by URI=\"{uri}\" was modified after signing")
            };
            let hint = locate_modification(xml).unwrap_or_else(|| {
                " (the change is inside the signed content; compare the file with the signer's \
                 output)"
                    .into()
            });
            finding(
                Cause::ModifiedAfterSigning,
                Severity::Error,
                code,
                format!(
                    "{what}{hint}. Send the signed bytes exactly as the signer produced them: do \
                     not pretty-print, re-indent, re-encode or edit the file"
                ),
            )
        }
        VerifyError::SignatureValueInvalid { .. } => match locate_modification(xml) {
            Some(hint) => finding(
                Cause::ModifiedAfterSigning,
                Severity::Error,
                code,
                format!("the signature block was modified after signing{hint}"),
            ),
            None => finding(Cause::Other, Severity::Error, code, e.to_string()),
        },
        VerifyError::EcdsaDerEncoded { .. } => {
            finding(Cause::EcdsaDerEncoded, Severity::Error, code, e.to_string())
        }
        VerifyError::Detached { .. } | VerifyError::NotWholeDocument { .. } => {
            finding(Cause::NotEnveloped, Severity::Error, code, e.to_string())
        }
        VerifyError::MissingSignedProperties { .. }
        | VerifyError::MissingSigningCertificate
        | VerifyError::CertDigestMismatch { .. } => {
            finding(Cause::XadesProperties, Severity::Error, code, e.to_string())
        }
        VerifyError::UnsupportedAlgorithm { .. } => {
            finding(Cause::AlgorithmRisk, Severity::Error, code, e.to_string())
        }
        VerifyError::NotWellFormed(_)
        | VerifyError::Encoding(_)
        | VerifyError::InvalidDocument(_) => {
            finding(Cause::Schema, Severity::Error, code, e.to_string())
        }
        other => finding(Cause::Other, Severity::Error, code, other.to_string()),
    }
}

/// Try cheap repairs of a digest/signature mismatch; say which one worked.
fn locate_modification(xml: &[u8]) -> Option<String> {
    let Ok(text) = std::str::from_utf8(xml.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(xml)) else {
        return None;
    };
    let lenient = VerifyOptions {
        strict_xades: false,
    };
    let ok = |candidate: &str| verify_enveloped(candidate.as_bytes(), &lenient).is_ok();

    let stripped = strip_inter_element_whitespace(text);
    if stripped != text && ok(&stripped) {
        return Some(
            ": whitespace between elements (line breaks/indentation) was added — the file was \
             pretty-printed after signing"
                .into(),
        );
    }
    if let Some(sig_only) = strip_inside_signature(text)
        && sig_only != text
        && ok(&sig_only)
    {
        return Some(
            ": whitespace (line breaks/indentation) was added inside ds:Signature — the \
             signature block was pretty-printed after signing"
                .into(),
        );
    }
    let trimmed: String = text
        .split('\n')
        .map(|l| l.trim_end_matches([' ', '\t']))
        .collect::<Vec<_>>()
        .join("\n");
    if trimmed != text && ok(&trimmed) {
        return Some(": trailing spaces were added at the ends of lines".into());
    }
    if text.contains('\t') {
        let spaces = text.replace('\t', "  ");
        if ok(&spaces) || ok(&strip_inter_element_whitespace(&spaces)) {
            return Some(": indentation was changed (tabs)".into());
        }
    }
    None
}

/// [`strip_inter_element_whitespace`] applied to the `ds:Signature` element only.
fn strip_inside_signature(text: &str) -> Option<String> {
    let doc = parse_xml(text).ok()?;
    let sig = *top_level_signatures(&doc).first()?;
    let range = sig.range();
    let inner = strip_inter_element_whitespace(text.get(range.clone())?);
    Some(format!(
        "{}{inner}{}",
        &text[..range.start],
        &text[range.end..]
    ))
}

/// Remove whitespace-only text between a `>` and the next `<` (pretty-printing).
fn strip_inter_element_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(gt) = rest.find('>') {
        out.push_str(&rest[..=gt]);
        rest = &rest[gt + 1..];
        let ws_len = rest
            .find(|c: char| !matches!(c, ' ' | '\t' | '\r' | '\n'))
            .unwrap_or(rest.len());
        if rest[ws_len..].starts_with('<') || ws_len == rest.len() {
            rest = &rest[ws_len..];
        }
    }
    out.push_str(rest);
    out
}

fn algorithm_warnings(xml: &[u8], out: &mut Vec<Finding>) {
    let Ok(text) = std::str::from_utf8(xml.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(xml)) else {
        return;
    };
    let Ok(doc) = parse_xml(text) else {
        return;
    };
    let sigs = top_level_signatures(&doc);
    let Some(&sig) = sigs.first() else {
        return;
    };
    let Some(si) = child_el(sig, NS_DSIG, "SignedInfo") else {
        return;
    };
    let method = child_el(si, NS_DSIG, "SignatureMethod")
        .and_then(|n| attr(n, "Algorithm"))
        .unwrap_or("");
    if method.ends_with("-rsa-MGF1") {
        out.push(finding(
            Cause::AlgorithmRisk,
            Severity::Warning,
            Some(9105),
            format!(
                "RSA-PSS signature ({method}): accepted by current KSeF, but older servers expected \
                 RSASSA-PKCS1-v1_5 (rsa-sha256); use PKCS#1 v1.5 for the widest acceptance"
            ),
        ));
    }
    let sha1_method = method.ends_with("#rsa-sha1") || method.ends_with("#ecdsa-sha1");
    let sha1_digest = si.descendants().any(|n| {
        is_el(n, NS_DSIG, "DigestMethod")
            && attr(n, "Algorithm") == Some("http://www.w3.org/2000/09/xmldsig#sha1")
    });
    if sha1_method || sha1_digest {
        out.push(finding(
            Cause::AlgorithmRisk,
            Severity::Warning,
            Some(9105),
            "SHA-1 is used in the signature: refused on DEMO/PRD; use SHA-256",
        ));
    }
}

fn is_self_signed(cert_der: &[u8]) -> bool {
    x509_cert::Certificate::from_der(cert_der).is_ok_and(|c| {
        let tbs = c.tbs_certificate();
        tbs.issuer() == tbs.subject()
    })
}
