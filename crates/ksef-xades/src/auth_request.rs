//! The `AuthTokenRequest` document (digest §4.3): building the unsigned XML and
//! parsing + schema-checking a received (usually signed) one.
//!
//! # Why a hand-written validator instead of an XSD engine
//!
//! The rules of `schemat_auth_v2-0.xsd` / `schemat_auth_v2-1.xsd` are mirrored here
//! structurally (element order, required/optional elements, the one-of choice,
//! maximum occurrences, `xsd:token` whitespace collapsing, enumerations and the
//! patterns, copied verbatim from the 2.1 schema and compiled with the `regex` crate,
//! anchored as XSD patterns are and with `\d` meaning ASCII digits). We do not run a
//! generic XSD validator because:
//!
//! * libxml2 cannot compile the 2.0 schema and we want no native dependency here;
//! * the pure-Rust XSD validators we tried miss facets on bigger schemas
//!   (CRATES.md §2: 14/17), and a generic validator knows nothing about the
//!   trailing `ds:Signature` that KSeF strips before validating;
//! * two official patterns use `^`/`$`, which XSD treats as literal characters but
//!   the .NET validator behind KSeF treats as anchors (so `PeppolId` values like
//!   `PPL123456` are accepted by KSeF); a strict XSD engine would reject them;
//! * KSeF's error 21401 carries the validator message, so we want messages that
//!   name the element path and line.
//!
//! A 2.0 document is validated against the 2.1 rules (only the IPv4 regexes differ,
//! and the 2.0 ones are not valid XSD regexes: they use `\b`).

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::sync::LazyLock;

use ksef_core::{ContextIdentifier, ContextIdentifierType};
use regex::Regex;

/// Namespace of `schemat_auth_v2-0.xsd`.
pub const NS_AUTH_2_0: &str = "http://ksef.mf.gov.pl/auth/token/2.0";
/// Namespace of `schemat_auth_v2-1.xsd`.
pub const NS_AUTH_2_1: &str = "http://ksef.mf.gov.pl/auth/token/2.1";
const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
const NS_XADES: &str = "http://uri.etsi.org/01903/v1.3.2#";
const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Maximum number of each of `Ip4Address`, `Ip4Range`, `Ip4Mask` (XSD `maxOccurs`).
pub const MAX_IP_ENTRIES: usize = 10;

/// Which `AuthTokenRequest` schema version a document uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthNamespace {
    /// `http://ksef.mf.gov.pl/auth/token/2.0` (the official examples, all KSeF versions).
    V2_0,
    /// `http://ksef.mf.gov.pl/auth/token/2.1` (since KSeF API 2.5.0).
    V2_1,
}

impl AuthNamespace {
    /// The namespace URI.
    pub fn uri(self) -> &'static str {
        match self {
            AuthNamespace::V2_0 => NS_AUTH_2_0,
            AuthNamespace::V2_1 => NS_AUTH_2_1,
        }
    }

    /// Recognise a namespace URI.
    pub fn from_uri(uri: &str) -> Option<Self> {
        match uri {
            NS_AUTH_2_0 => Some(AuthNamespace::V2_0),
            NS_AUTH_2_1 => Some(AuthNamespace::V2_1),
            _ => None,
        }
    }
}

impl fmt::Display for AuthNamespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.uri())
    }
}

/// How KSeF identifies the authenticating subject from the signing certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubjectIdentifierType {
    /// `certificateSubject`: NIP/PESEL read from the certificate subject.
    CertificateSubject,
    /// `certificateFingerprint`: SHA-256 fingerprint of the certificate.
    CertificateFingerprint,
}

impl SubjectIdentifierType {
    /// The XML value.
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectIdentifierType::CertificateSubject => "certificateSubject",
            SubjectIdentifierType::CertificateFingerprint => "certificateFingerprint",
        }
    }
}

impl fmt::Display for SubjectIdentifierType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SubjectIdentifierType {
    type Err = AuthRequestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "certificateSubject" => Ok(SubjectIdentifierType::CertificateSubject),
            "certificateFingerprint" => Ok(SubjectIdentifierType::CertificateFingerprint),
            other => Err(AuthRequestError::schema(
                "/AuthTokenRequest/SubjectIdentifierType",
                None,
                format!(
                    "value '{other}' is not one of the enumeration values \
                     'certificateSubject', 'certificateFingerprint'"
                ),
            )),
        }
    }
}

/// Errors of [`AuthTokenRequest::parse`] and [`AuthorizationPolicy::validate`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthRequestError {
    /// The bytes are not UTF-8 (or declare another encoding). KSeF 21217.
    #[error("invalid character encoding: {0}")]
    Encoding(String),
    /// Not well-formed XML. KSeF 21001.
    #[error("unreadable content (XML is not well-formed): {0}")]
    NotWellFormed(String),
    /// The document has a DTD (`<!DOCTYPE`), see [`ksef_core::xml`]. KSeF 9101.
    #[error("invalid document: {0}")]
    Doctype(String),
    /// Well-formed XML that violates `schemat_auth_v2-*.xsd`. KSeF 21401.
    #[error("{path}{}: {message}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    Schema {
        /// Element path, e.g. `/AuthTokenRequest/ContextIdentifier/Nip`.
        path: String,
        /// 1-based line of the offending node, when known.
        line: Option<u32>,
        /// What is wrong.
        message: String,
    },
    /// The identifier satisfies the XSD pattern but is not a valid identifier
    /// (e.g. wrong NIP checksum) according to `ksef-core`. KSeF 21405 (input
    /// validation; the real service's exact code for this case is not documented).
    #[error("{path}: {message}")]
    InvalidIdentifier {
        /// Element path of the identifier.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl AuthRequestError {
    fn schema(path: impl Into<String>, line: Option<u32>, message: impl Into<String>) -> Self {
        AuthRequestError::Schema {
            path: path.into(),
            line,
            message: message.into(),
        }
    }

    /// The KSeF exception code this error corresponds to.
    pub fn ksef_code(&self) -> u32 {
        match self {
            AuthRequestError::Encoding(_) => 21217,
            AuthRequestError::NotWellFormed(_) => 21001,
            AuthRequestError::Doctype(_) => 9101,
            AuthRequestError::Schema { .. } => 21401,
            AuthRequestError::InvalidIdentifier { .. } => 21405,
        }
    }

    /// The KSeF Polish `exceptionDescription` for [`Self::ksef_code`].
    pub fn description_pl(&self) -> &'static str {
        match self {
            AuthRequestError::Encoding(_) => "Nieprawidłowe kodowanie znaków.",
            AuthRequestError::NotWellFormed(_) => "Nieczytelna treść.",
            AuthRequestError::Doctype(_) => "Nieprawidłowy dokument.",
            AuthRequestError::Schema { .. } => "Dokument nie jest zgodny ze schemą (xsd).",
            AuthRequestError::InvalidIdentifier { .. } => "Błąd walidacji danych wejściowych.",
        }
    }
}

// ---------------------------------------------------------------------------
// Patterns (verbatim from schemat_auth_v2-1.xsd; `^`/`$` removed, see module docs)
// ---------------------------------------------------------------------------

const OCTET: &str = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])";

struct Patterns {
    challenge: Regex,
    nip: Regex,
    internal_id: Regex,
    nip_vat_ue: Regex,
    peppol_id: Regex,
    ip4_address: Regex,
    ip4_range: Regex,
    ip4_mask: Regex,
}

struct PatternSources {
    challenge: &'static str,
    nip: &'static str,
    internal_id: &'static str,
    nip_vat_ue: &'static str,
    peppol_id: &'static str,
}

const SOURCES: PatternSources = PatternSources {
    challenge: r"\d{8}-CR-[A-F0-9]{10}-[A-F0-9]{10}-[A-F0-9]{2}",
    nip: r"[1-9]((\d[1-9])|([1-9]\d))\d{7}",
    internal_id: r"[1-9]((\d[1-9])|([1-9]\d))\d{7}-\d{5}",
    nip_vat_ue: r"([1-9]((\d[1-9])|([1-9]\d))\d{7}-((AT)(U\d{8})|(BE)([01]{1}\d{9})|(BG)(\d{9,10})|(CY)(\d{8}[A-Z])|(CZ)(\d{8,10})|(DE)(\d{9})|(DK)(\d{8})|(EE)(\d{9})|(EL)(\d{9})|(ES)([A-Z]\d{8}|\d{8}[A-Z]|[A-Z]\d{7}[A-Z])|(FI)(\d{8})|(FR)[A-Z0-9]{2}\d{9}|(HR)(\d{11})|(HU)(\d{8})|(IE)(\d{7}[A-Z]{2}|\d[A-Z0-9+*]\d{5}[A-Z])|(IT)(\d{11})|(LT)(\d{9}|\d{12})|(LU)(\d{8})|(LV)(\d{11})|(MT)(\d{8})|(NL)([A-Z0-9+*]{12})|(PT)(\d{9})|(RO)(\d{2,10})|(SE)(\d{12})|(SI)(\d{8})|(SK)(\d{10})|(XI)((\d{9}|(\d{12}))|(GD|HA)(\d{3}))))",
    peppol_id: r"P[A-Z]{2}[0-9]{6}",
};

fn ip4_address_pattern() -> String {
    format!(r"({OCTET}\.){{3}}{OCTET}")
}

/// Compile one of the constant patterns above with XSD semantics (the pattern matches the
/// whole value) and ASCII classes (`\d` = `[0-9]`, as the XSD engine used before had
/// it). They are not input data: a failure is a bug in this file (covered by the unit
/// tests), hence `expect`.
fn compile(pattern: &str) -> Regex {
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .unicode(false)
        .build()
        .expect("constant XSD pattern must compile")
}

static PATTERNS: LazyLock<Patterns> = LazyLock::new(|| {
    let ip = ip4_address_pattern();
    Patterns {
        challenge: compile(SOURCES.challenge),
        nip: compile(SOURCES.nip),
        internal_id: compile(SOURCES.internal_id),
        nip_vat_ue: compile(SOURCES.nip_vat_ue),
        peppol_id: compile(SOURCES.peppol_id),
        ip4_address: compile(&ip),
        ip4_range: compile(&format!("{ip}-{ip}")),
        ip4_mask: compile(&format!("{ip}/(0|[1-9]|[12][0-9]|3[0-2])")),
    }
});

/// XSD `whiteSpace="collapse"` (used by `xsd:token`).
fn collapse(s: &str) -> String {
    s.split([' ', '\t', '\n', '\r'])
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------
// AuthorizationPolicy
// ---------------------------------------------------------------------------

/// `AuthorizationPolicy/AllowedIps`: IPv4 addresses, ranges and masks from which the
/// resulting access token may be used.
///
/// Semantics chosen for [`AuthorizationPolicy::allows`]: a policy with **no entries
/// at all allows every address** (the schema permits an empty `AllowedIps`, and an
/// allow-list that locks the token out completely would make the authentication
/// pointless; KSeF documents the policy only as a restriction to the listed IPs).
/// An absent policy (`Option::None` on the request) also allows every address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizationPolicy {
    /// `Ip4Address` entries, e.g. `192.168.0.1`.
    pub ip4_addresses: Vec<String>,
    /// `Ip4Range` entries, e.g. `10.0.0.1-10.0.0.254` (inclusive).
    pub ip4_ranges: Vec<String>,
    /// `Ip4Mask` entries, e.g. `172.16.0.0/16`.
    pub ip4_masks: Vec<String>,
}

const POLICY_PATH: &str = "/AuthTokenRequest/AuthorizationPolicy/AllowedIps";

impl AuthorizationPolicy {
    /// True when the policy has no entries (and therefore allows everything).
    pub fn is_empty(&self) -> bool {
        self.ip4_addresses.is_empty() && self.ip4_ranges.is_empty() && self.ip4_masks.is_empty()
    }

    /// Check every entry against the XSD patterns and the maximum of
    /// [`MAX_IP_ENTRIES`] per kind. Values are checked after `xsd:token` whitespace
    /// collapsing, as a schema validator would.
    pub fn validate(&self) -> Result<(), AuthRequestError> {
        let p = &*PATTERNS;
        let kinds: [(&str, &Vec<String>, &Regex, &str); 3] = [
            ("Ip4Address", &self.ip4_addresses, &p.ip4_address, "a.b.c.d"),
            (
                "Ip4Range",
                &self.ip4_ranges,
                &p.ip4_range,
                "a.b.c.d-e.f.g.h",
            ),
            (
                "Ip4Mask",
                &self.ip4_masks,
                &p.ip4_mask,
                "a.b.c.d/n (n = 0..32)",
            ),
        ];
        for (name, values, regex, shape) in kinds {
            if values.len() > MAX_IP_ENTRIES {
                return Err(AuthRequestError::schema(
                    format!("{POLICY_PATH}/{name}"),
                    None,
                    format!(
                        "{} occurrences of {name}, at most {MAX_IP_ENTRIES} are allowed",
                        values.len()
                    ),
                ));
            }
            for (i, v) in values.iter().enumerate() {
                let c = collapse(v);
                if !regex.is_match(&c) {
                    return Err(AuthRequestError::schema(
                        format!("{POLICY_PATH}/{name}[{}]", i + 1),
                        None,
                        format!(
                            "value '{v}' is not a valid {name} ({shape}, decimal octets 0-255 without leading zeros)"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether `ip` is allowed by this policy. See the type docs for the empty case.
    /// Entries that do not parse never match (use [`Self::validate`] to reject them).
    /// A range whose start is above its end matches nothing.
    pub fn allows(&self, ip: Ipv4Addr) -> bool {
        if self.is_empty() {
            return true;
        }
        let ip = u32::from(ip);
        let addr_ok = self
            .ip4_addresses
            .iter()
            .filter_map(|a| collapse(a).parse::<Ipv4Addr>().ok())
            .any(|a| u32::from(a) == ip);
        if addr_ok {
            return true;
        }
        let range_ok = self.ip4_ranges.iter().any(|r| {
            let r = collapse(r);
            let Some((lo, hi)) = r.split_once('-') else {
                return false;
            };
            match (lo.parse::<Ipv4Addr>(), hi.parse::<Ipv4Addr>()) {
                (Ok(lo), Ok(hi)) => (u32::from(lo)..=u32::from(hi)).contains(&ip),
                _ => false,
            }
        });
        if range_ok {
            return true;
        }
        self.ip4_masks.iter().any(|m| {
            let m = collapse(m);
            let Some((net, bits)) = m.split_once('/') else {
                return false;
            };
            match (net.parse::<Ipv4Addr>(), bits.parse::<u32>()) {
                (Ok(net), Ok(bits)) if bits <= 32 => {
                    let mask = if bits == 0 {
                        0
                    } else {
                        u32::MAX << (32 - bits)
                    };
                    (u32::from(net) & mask) == (ip & mask)
                }
                _ => false,
            }
        })
    }
}

// ---------------------------------------------------------------------------
// AuthTokenRequest
// ---------------------------------------------------------------------------

/// The content of an `AuthTokenRequest` document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthTokenRequest {
    /// The challenge from `POST /auth/challenge` (36 characters).
    pub challenge: String,
    /// The context to authenticate in.
    pub context: ContextIdentifier,
    /// How the subject is identified from the certificate.
    pub subject_identifier_type: SubjectIdentifierType,
    /// Optional IP restriction of the resulting tokens.
    pub authorization_policy: Option<AuthorizationPolicy>,
}

/// Escape text content for XML (`&`, `<`, `>`, CR) — also for the signature's own elements.
pub(crate) fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // A literal CR would be normalised to LF by any parser and break a
            // signature over the text; write it as a character reference.
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

fn context_parts(context: &ContextIdentifier) -> (&'static str, &str) {
    (context.kind().as_str(), context.value())
}

impl AuthTokenRequest {
    /// A request without an authorization policy.
    pub fn new(
        challenge: impl Into<String>,
        context: ContextIdentifier,
        subject_identifier_type: SubjectIdentifierType,
    ) -> Self {
        AuthTokenRequest {
            challenge: challenge.into(),
            context,
            subject_identifier_type,
            authorization_policy: None,
        }
    }

    /// The unsigned document, shaped like the official examples: UTF-8 XML
    /// declaration, default namespace, two-space indentation, LF line ends. No
    /// attribute values other than the namespace, so none with whitespace control
    /// characters (CRATES.md §1 gotcha 3). The output is stable: sign it as is.
    pub fn to_xml(&self, ns: AuthNamespace) -> String {
        let (ctx_name, ctx_value) = context_parts(&self.context);
        let mut x = String::with_capacity(512);
        x.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
        x.push_str(&format!("<AuthTokenRequest xmlns=\"{}\">\n", ns.uri()));
        x.push_str(&format!(
            "  <Challenge>{}</Challenge>\n",
            escape_text(&self.challenge)
        ));
        x.push_str("  <ContextIdentifier>\n");
        x.push_str(&format!(
            "    <{ctx_name}>{}</{ctx_name}>\n",
            escape_text(ctx_value)
        ));
        x.push_str("  </ContextIdentifier>\n");
        x.push_str(&format!(
            "  <SubjectIdentifierType>{}</SubjectIdentifierType>\n",
            self.subject_identifier_type.as_str()
        ));
        if let Some(policy) = &self.authorization_policy {
            x.push_str("  <AuthorizationPolicy>\n");
            if policy.is_empty() {
                x.push_str("    <AllowedIps/>\n");
            } else {
                x.push_str("    <AllowedIps>\n");
                for (name, values) in [
                    ("Ip4Address", &policy.ip4_addresses),
                    ("Ip4Range", &policy.ip4_ranges),
                    ("Ip4Mask", &policy.ip4_masks),
                ] {
                    for v in values {
                        x.push_str(&format!("      <{name}>{}</{name}>\n", escape_text(v)));
                    }
                }
                x.push_str("    </AllowedIps>\n");
            }
            x.push_str("  </AuthorizationPolicy>\n");
        }
        x.push_str("</AuthTokenRequest>\n");
        x
    }

    /// Check the request against the schema rules before sending it (challenge
    /// shape, identifier pattern, policy entries).
    pub fn validate(&self) -> Result<(), AuthRequestError> {
        let c = collapse(&self.challenge);
        check_challenge(&c, "/AuthTokenRequest/Challenge", None)?;
        let (name, value) = context_parts(&self.context);
        check_context_value(name, value, None)?;
        if let Some(p) = &self.authorization_policy {
            p.validate()?;
        }
        Ok(())
    }

    /// Parse a received document (normally signed) and check it against the rules of
    /// `schemat_auth_v2-0.xsd` / `schemat_auth_v2-1.xsd`. The `ds:Signature`
    /// children of the root are ignored (KSeF strips the signature before schema
    /// validation). An enveloping signature (root `ds:Signature` with the request
    /// inside `ds:Object`) is accepted too: the request is read from the Object.
    ///
    /// Returns the request and the namespace it used.
    pub fn parse(xml: &[u8]) -> Result<(AuthTokenRequest, AuthNamespace), AuthRequestError> {
        if let Some(found) = ksef_core::xml::find_doctype(xml) {
            return Err(AuthRequestError::Doctype(found.to_string()));
        }
        let text = decode_utf8(xml)?;
        let max = crate::dsig::MAX_NAMESPACE_DECLARATIONS;
        if crate::dsig::namespace_declarations(text, max) > max {
            return Err(AuthRequestError::NotWellFormed(format!(
                "more than {max} namespace declarations"
            )));
        }
        let opts = roxmltree::ParsingOptions {
            // Second line of defence: roxmltree's own DTD prohibition.
            allow_dtd: false,
            nodes_limit: 100_000,
            ..Default::default()
        };
        let doc = roxmltree::Document::parse_with_options(text, opts)
            .map_err(|e| AuthRequestError::NotWellFormed(e.to_string()))?;
        let v = Validator { doc: &doc };
        v.validate()
    }
}

/// Strip a UTF-8 BOM, require UTF-8, reject a declared non-UTF-8 encoding unless
/// the content is pure ASCII (then every ASCII-compatible encoding reads the same).
pub(crate) fn decode_utf8(xml: &[u8]) -> Result<&str, AuthRequestError> {
    if xml.starts_with(&[0xFE, 0xFF]) || xml.starts_with(&[0xFF, 0xFE]) {
        return Err(AuthRequestError::Encoding(
            "the document is UTF-16 (byte order mark FE FF / FF FE); KSeF expects UTF-8".into(),
        ));
    }
    let bytes = xml.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(xml);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        AuthRequestError::Encoding(format!(
            "the document is not valid UTF-8: invalid byte sequence at byte offset {}",
            e.valid_up_to() + (xml.len() - bytes.len())
        ))
    })?;
    if let Some(enc) = declared_encoding(text) {
        let e = enc.to_ascii_lowercase();
        let utf8 = e == "utf-8" || e == "utf8";
        if !utf8 {
            let ascii_compatible = e == "us-ascii"
                || e == "ascii"
                || e.starts_with("iso-8859-")
                || e.starts_with("windows-125")
                || e.starts_with("cp125");
            if !(ascii_compatible && text.is_ascii()) {
                return Err(AuthRequestError::Encoding(format!(
                    "the XML declaration says encoding=\"{enc}\"; KSeF expects UTF-8"
                )));
            }
        }
    }
    Ok(text)
}

/// The `encoding` pseudo-attribute of the XML declaration, if any.
fn declared_encoding(text: &str) -> Option<&str> {
    let decl = text.strip_prefix("<?xml")?;
    let end = decl.find("?>")?;
    let decl = &decl[..end];
    let pos = decl.find("encoding")?;
    let rest = decl[pos + "encoding".len()..].trim_start();
    let rest = rest.strip_prefix('=')?.trim_start();
    let quote = rest.chars().next()?;
    if quote != '"' && quote != '\'' {
        return None;
    }
    let rest = &rest[1..];
    let close = rest.find(quote)?;
    Some(&rest[..close])
}

fn check_challenge(value: &str, path: &str, line: Option<u32>) -> Result<(), AuthRequestError> {
    let len = value.chars().count();
    if len != 36 {
        return Err(AuthRequestError::schema(
            path,
            line,
            format!("value '{value}' has length {len}; the length must be 36"),
        ));
    }
    if !PATTERNS.challenge.is_match(value) {
        return Err(AuthRequestError::schema(
            path,
            line,
            format!(
                "value '{value}' does not match the pattern '{}'",
                SOURCES.challenge
            ),
        ));
    }
    Ok(())
}

fn check_context_value(name: &str, value: &str, line: Option<u32>) -> Result<(), AuthRequestError> {
    let p = &*PATTERNS;
    let (regex, source) = match name {
        "Nip" => (&p.nip, SOURCES.nip),
        "InternalId" => (&p.internal_id, SOURCES.internal_id),
        "NipVatUe" => (&p.nip_vat_ue, SOURCES.nip_vat_ue),
        _ => (&p.peppol_id, SOURCES.peppol_id),
    };
    if !regex.is_match(value) {
        let shown = if source.len() > 80 {
            format!("the {name} pattern of the schema (NIP-VATUE, e.g. 5265877635-DE123456789)")
        } else {
            format!("the pattern '{source}'")
        };
        return Err(AuthRequestError::schema(
            format!("/AuthTokenRequest/ContextIdentifier/{name}"),
            line,
            format!("value '{value}' does not match {shown}"),
        ));
    }
    Ok(())
}

struct Validator<'a, 'input> {
    doc: &'a roxmltree::Document<'input>,
}

type Node<'a, 'input> = roxmltree::Node<'a, 'input>;

impl<'a, 'input> Validator<'a, 'input> {
    fn line(&self, node: Node<'a, 'input>) -> Option<u32> {
        Some(self.doc.text_pos_at(node.range().start).row)
    }

    fn err(&self, path: &str, node: Node<'a, 'input>, msg: impl Into<String>) -> AuthRequestError {
        AuthRequestError::schema(path, self.line(node), msg)
    }

    fn validate(&self) -> Result<(AuthTokenRequest, AuthNamespace), AuthRequestError> {
        let root = self.doc.root_element();
        let req = if root.tag_name().namespace() == Some(NS_DSIG)
            && root.tag_name().name() == "Signature"
        {
            // Enveloping signature: the request is the signed payload, chosen exactly as
            // the verifier chooses it (first non-XAdES element child of the first
            // ds:Object that has one), so both always look at the same element.
            root.children()
                .filter(|n| {
                    n.is_element()
                        && n.tag_name().namespace() == Some(NS_DSIG)
                        && n.tag_name().name() == "Object"
                })
                .find_map(|o| {
                    o.children()
                        .find(|n| n.is_element() && n.tag_name().namespace() != Some(NS_XADES))
                })
                .ok_or_else(|| {
                    self.err(
                        "/Signature",
                        root,
                        "enveloping signature without a signed document inside ds:Object",
                    )
                })?
        } else {
            root
        };
        let ns = match (req.tag_name().name(), req.tag_name().namespace()) {
            ("AuthTokenRequest", Some(uri)) => AuthNamespace::from_uri(uri).ok_or_else(|| {
                self.err(
                    "/AuthTokenRequest",
                    req,
                    format!(
                        "unsupported namespace '{uri}'; expected '{NS_AUTH_2_0}' or '{NS_AUTH_2_1}'"
                    ),
                )
            })?,
            (name, uri) => {
                return Err(self.err(
                    &format!("/{name}"),
                    req,
                    format!(
                        "root element is {{{}}}{name}; expected {{{NS_AUTH_2_0}}}AuthTokenRequest \
                         or {{{NS_AUTH_2_1}}}AuthTokenRequest",
                        uri.unwrap_or("")
                    ),
                ));
            }
        };
        let nsu = ns.uri();
        let base = "/AuthTokenRequest";
        self.check_attributes(req, base)?;

        // Children of the root, minus the signature(s) KSeF strips.
        let children: Vec<Node> = self
            .element_children(req, base)?
            .into_iter()
            .filter(|n| {
                !(n.tag_name().namespace() == Some(NS_DSIG) && n.tag_name().name() == "Signature")
            })
            .collect();
        let mut it = Seq::new(self, base, req, nsu, children);

        // Challenge
        let ch = it.required("Challenge")?;
        let ch_path = format!("{base}/Challenge");
        let challenge = collapse(&self.simple_text(ch, &ch_path)?);
        check_challenge(&challenge, &ch_path, self.line(ch))?;

        // ContextIdentifier (choice)
        let ci = it.required("ContextIdentifier")?;
        let ci_path = format!("{base}/ContextIdentifier");
        self.check_attributes(ci, &ci_path)?;
        let ci_children = self.element_children(ci, &ci_path)?;
        let choices = ["Nip", "InternalId", "NipVatUe", "PeppolId"];
        let Some(first) = ci_children.first() else {
            return Err(self.err(
                &ci_path,
                ci,
                "missing child element; expected one of Nip, InternalId, NipVatUe, PeppolId",
            ));
        };
        if first.tag_name().namespace() != Some(nsu) || !choices.contains(&first.tag_name().name())
        {
            return Err(self.err(
                &ci_path,
                *first,
                format!(
                    "element {} is not expected; expected one of Nip, InternalId, NipVatUe, PeppolId",
                    display_name(*first, nsu)
                ),
            ));
        }
        if let Some(extra) = ci_children.get(1) {
            return Err(self.err(
                &ci_path,
                *extra,
                format!(
                    "element {} is not expected; ContextIdentifier holds exactly one identifier",
                    display_name(*extra, nsu)
                ),
            ));
        }
        let ctx_name = first.tag_name().name();
        let ctx_path = format!("{ci_path}/{ctx_name}");
        // xsd:string: whitespace is preserved, so no trimming before the pattern.
        let ctx_value = self.simple_text(*first, &ctx_path)?;
        check_context_value(ctx_name, &ctx_value, self.line(*first))?;
        let context = build_context(ctx_name, &ctx_value).map_err(|message| {
            AuthRequestError::InvalidIdentifier {
                path: ctx_path.clone(),
                message,
            }
        })?;

        // SubjectIdentifierType
        let st = it.required("SubjectIdentifierType")?;
        let st_path = format!("{base}/SubjectIdentifierType");
        let st_value = collapse(&self.simple_text(st, &st_path)?);
        let subject_identifier_type = match st_value.parse::<SubjectIdentifierType>() {
            Ok(v) => v,
            Err(AuthRequestError::Schema { message, .. }) => {
                return Err(self.err(&st_path, st, message));
            }
            Err(e) => return Err(e),
        };

        // AuthorizationPolicy?
        let authorization_policy = match it.optional("AuthorizationPolicy") {
            None => None,
            Some(ap) => Some(self.policy(ap, nsu)?),
        };
        it.finish()?;

        Ok((
            AuthTokenRequest {
                challenge,
                context,
                subject_identifier_type,
                authorization_policy,
            },
            ns,
        ))
    }

    fn policy(
        &self,
        ap: Node<'a, 'input>,
        nsu: &str,
    ) -> Result<AuthorizationPolicy, AuthRequestError> {
        let ap_path = "/AuthTokenRequest/AuthorizationPolicy";
        self.check_attributes(ap, ap_path)?;
        let children = self.element_children(ap, ap_path)?;
        let mut it = Seq::new(self, ap_path, ap, nsu, children);
        let ips = it.required("AllowedIps")?;
        it.finish()?;
        self.check_attributes(ips, POLICY_PATH)?;
        let children = self.element_children(ips, POLICY_PATH)?;
        let mut it = Seq::new(self, POLICY_PATH, ips, nsu, children);
        let mut policy = AuthorizationPolicy::default();
        let p = &*PATTERNS;
        for (name, regex, target) in [
            ("Ip4Address", &p.ip4_address, &mut policy.ip4_addresses),
            ("Ip4Range", &p.ip4_range, &mut policy.ip4_ranges),
            ("Ip4Mask", &p.ip4_mask, &mut policy.ip4_masks),
        ] {
            while let Some(n) = it.optional(name) {
                let path = format!("{POLICY_PATH}/{name}[{}]", target.len() + 1);
                if target.len() == MAX_IP_ENTRIES {
                    return Err(self.err(
                        &path,
                        n,
                        format!("too many {name} elements; at most {MAX_IP_ENTRIES} are allowed"),
                    ));
                }
                let v = collapse(&self.simple_text(n, &path)?);
                if !regex.is_match(&v) {
                    return Err(self.err(
                        &path,
                        n,
                        format!(
                            "value '{v}' is not a valid {name} (pattern of schemat_auth_v2-1.xsd)"
                        ),
                    ));
                }
                target.push(v);
            }
        }
        it.finish()?;
        Ok(policy)
    }

    /// Attributes allowed by the XSD: none, except the `xsi:` ones every schema
    /// validator accepts. Namespace declarations are not attributes in roxmltree.
    fn check_attributes(&self, node: Node<'a, 'input>, path: &str) -> Result<(), AuthRequestError> {
        for a in node.attributes() {
            if a.namespace() == Some(NS_XSI)
                && matches!(
                    a.name(),
                    "schemaLocation" | "noNamespaceSchemaLocation" | "type" | "nil"
                )
            {
                continue;
            }
            return Err(self.err(
                path,
                node,
                format!("attribute '{}' is not allowed", a.name()),
            ));
        }
        Ok(())
    }

    /// Element children of an element-only complex type; non-whitespace text is an
    /// error (comments and processing instructions are ignored).
    fn element_children(
        &self,
        node: Node<'a, 'input>,
        path: &str,
    ) -> Result<Vec<Node<'a, 'input>>, AuthRequestError> {
        let mut out = Vec::new();
        for c in node.children() {
            if c.is_element() {
                out.push(c);
            } else if c.is_text() {
                let t = c.text().unwrap_or("");
                if !t.chars().all(|ch| matches!(ch, ' ' | '\t' | '\n' | '\r')) {
                    return Err(self.err(
                        path,
                        c,
                        format!(
                            "text '{}' is not allowed here (element-only content)",
                            t.trim()
                        ),
                    ));
                }
            }
        }
        Ok(out)
    }

    /// Text of a simple-typed element: no attributes, no element children.
    fn simple_text(&self, node: Node<'a, 'input>, path: &str) -> Result<String, AuthRequestError> {
        self.check_attributes(node, path)?;
        let mut s = String::new();
        for c in node.children() {
            if c.is_element() {
                return Err(self.err(
                    path,
                    c,
                    format!(
                        "element {} is not allowed inside a simple-typed element",
                        c.tag_name().name()
                    ),
                ));
            }
            if c.is_text() {
                s.push_str(c.text().unwrap_or(""));
            }
        }
        Ok(s)
    }
}

fn display_name(n: Node, nsu: &str) -> String {
    match n.tag_name().namespace() {
        Some(u) if u == nsu => n.tag_name().name().to_string(),
        Some(u) => format!("{{{u}}}{}", n.tag_name().name()),
        None => format!("{{}}{} (no namespace)", n.tag_name().name()),
    }
}

/// Cursor over the children of an `xsd:sequence`.
struct Seq<'v, 'a, 'input> {
    v: &'v Validator<'a, 'input>,
    path: &'v str,
    parent: Node<'a, 'input>,
    nsu: &'v str,
    children: Vec<Node<'a, 'input>>,
    pos: usize,
}

impl<'v, 'a, 'input> Seq<'v, 'a, 'input> {
    fn new(
        v: &'v Validator<'a, 'input>,
        path: &'v str,
        parent: Node<'a, 'input>,
        nsu: &'v str,
        children: Vec<Node<'a, 'input>>,
    ) -> Self {
        Seq {
            v,
            path,
            parent,
            nsu,
            children,
            pos: 0,
        }
    }

    fn is(&self, n: Node, name: &str) -> bool {
        n.tag_name().name() == name && n.tag_name().namespace() == Some(self.nsu)
    }

    fn required(&mut self, name: &str) -> Result<Node<'a, 'input>, AuthRequestError> {
        match self.children.get(self.pos).copied() {
            Some(n) if self.is(n, name) => {
                self.pos += 1;
                Ok(n)
            }
            Some(n) => Err(self.v.err(
                self.path,
                n,
                format!(
                    "element {} is not expected; expected {name}",
                    display_name(n, self.nsu)
                ),
            )),
            None => Err(self.v.err(
                self.path,
                self.parent,
                format!("missing child element {name}"),
            )),
        }
    }

    fn optional(&mut self, name: &str) -> Option<Node<'a, 'input>> {
        match self.children.get(self.pos).copied() {
            Some(n) if self.is(n, name) => {
                self.pos += 1;
                Some(n)
            }
            _ => None,
        }
    }

    fn finish(self) -> Result<(), AuthRequestError> {
        match self.children.get(self.pos).copied() {
            None => Ok(()),
            Some(n) => Err(self.v.err(
                self.path,
                n,
                format!(
                    "element {} is not expected here (wrong order, duplicated or unknown element)",
                    display_name(n, self.nsu)
                ),
            )),
        }
    }
}

fn build_context(name: &str, value: &str) -> Result<ContextIdentifier, String> {
    let kind = name
        .parse::<ContextIdentifierType>()
        .map_err(|e| e.to_string())?;
    ContextIdentifier::parse(kind, value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_flood_of_namespace_declarations_is_refused_before_parsing() {
        let mut x = String::from("<?xml version=\"1.0\"?>");
        for i in 0..1_100 {
            x.push_str(&format!("<p{i}:e xmlns:p{i}=\"urn:{i}\">"));
        }
        match AuthTokenRequest::parse(x.as_bytes()) {
            Err(AuthRequestError::NotWellFormed(why)) => {
                assert!(why.contains("namespace declarations"), "{why}")
            }
            other => panic!("expected NotWellFormed, got {other:?}"),
        }
    }

    use super::*;

    #[test]
    fn patterns_compile_and_anchor() {
        let p = &*PATTERNS;
        assert!(p.challenge.is_match("20250604-CR-461EA5B000-537A6BA15D-D7"));
        assert!(
            !p.challenge
                .is_match("x20250604-CR-461EA5B000-537A6BA15D-D7")
        );
        assert!(p.nip.is_match("5265877635") && !p.nip.is_match("52658776350"));
        assert!(p.internal_id.is_match("5265877635-12345"));
        assert!(p.nip_vat_ue.is_match("5265877635-ATU12345678"));
        assert!(p.nip_vat_ue.is_match("5265877635-XIGD123"));
        assert!(!p.nip_vat_ue.is_match("5265877635-ATU12345678$"));
        assert!(p.peppol_id.is_match("PPL123456") && !p.peppol_id.is_match("^PPL123456$"));
        assert!(p.ip4_address.is_match("0.0.0.0") && p.ip4_address.is_match("255.255.255.255"));
        assert!(!p.ip4_address.is_match("1.2.3.04"));
        assert!(p.ip4_range.is_match("10.0.0.1-10.0.0.254"));
        assert!(p.ip4_mask.is_match("172.16.0.0/16") && !p.ip4_mask.is_match("172.16.0.0/016"));
    }

    #[test]
    fn whitespace_collapse() {
        assert_eq!(collapse("  a \t\n b  "), "a b");
        assert_eq!(collapse(""), "");
    }

    #[test]
    fn declared_encodings() {
        assert_eq!(
            declared_encoding("<?xml version='1.0' encoding='ISO-8859-2'?><a/>"),
            Some("ISO-8859-2")
        );
        assert_eq!(
            declared_encoding("<?xml version=\"1.0\" encoding = \"utf-8\" ?><a/>"),
            Some("utf-8")
        );
        assert_eq!(declared_encoding("<?xml version=\"1.0\"?><a/>"), None);
        assert_eq!(declared_encoding("<a/>"), None);
        // Pure-ASCII content declared as ISO-8859-2 reads the same: accepted.
        assert!(decode_utf8(b"<?xml version='1.0' encoding='ISO-8859-2'?><a/>").is_ok());
        assert!(decode_utf8(b"<?xml version='1.0' encoding='UTF-16'?><a/>").is_err());
    }
}
