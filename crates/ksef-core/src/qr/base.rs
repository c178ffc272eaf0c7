//! [`LinkBase`]: the origin the verification links are built on.

use std::fmt;

use super::{LinkError, shown};

/// The Ministry's QR verification host of the TEST environment.
pub const HOST_TEST: &str = "qr-test.ksef.mf.gov.pl";
/// The QR verification host of the DEMO (pre-production) environment.
pub const HOST_DEMO: &str = "qr-demo.ksef.mf.gov.pl";
/// The QR verification host of production.
pub const HOST_PRD: &str = "qr.ksef.mf.gov.pl";

/// The API hosts of the official environments (current and the older 2.0 forms, digest §1),
/// each with its QR host.
const OFFICIAL_API_HOSTS: &[(&str, &str)] = &[
    ("api-test.ksef.mf.gov.pl", HOST_TEST),
    ("ksef-test.mf.gov.pl", HOST_TEST),
    ("api-demo.ksef.mf.gov.pl", HOST_DEMO),
    ("ksef-demo.mf.gov.pl", HOST_DEMO),
    ("api.ksef.mf.gov.pl", HOST_PRD),
    ("ksef.mf.gov.pl", HOST_PRD),
];

/// The scheme of a [`LinkBase`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `https` (every official host).
    Https,
    /// `http` (a local emulator).
    Http,
}

impl Scheme {
    /// `https` or `http`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
        }
    }
}

/// Where verification links point: a scheme and an authority (`host[:port]`), no path.
///
/// The official environments have QR hosts of their own ([`LinkBase::test`], [`LinkBase::demo`],
/// [`LinkBase::prod`]); for any other API — the local emulator — the links use that server's
/// origin ([`LinkBase::for_api_base_url`]), so they open its verification pages.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LinkBase {
    scheme: Scheme,
    /// Lowercase `host[:port]`, checked by [`check_authority`].
    authority: String,
}

impl LinkBase {
    /// `https://qr-test.ksef.mf.gov.pl`.
    pub fn test() -> LinkBase {
        LinkBase::official(HOST_TEST)
    }

    /// `https://qr-demo.ksef.mf.gov.pl`.
    pub fn demo() -> LinkBase {
        LinkBase::official(HOST_DEMO)
    }

    /// `https://qr.ksef.mf.gov.pl`.
    pub fn prod() -> LinkBase {
        LinkBase::official(HOST_PRD)
    }

    fn official(host: &str) -> LinkBase {
        LinkBase {
            scheme: Scheme::Https,
            authority: host.to_owned(),
        }
    }

    /// The links of the API at `api_base_url` (e.g. `https://api-test.ksef.mf.gov.pl/v2`,
    /// `http://127.0.0.1:8080/v2`): the QR host of an official environment (by the URL's host,
    /// https only), else the URL's own origin. The host is compared and kept in lowercase; a
    /// URL with user information, or whose authority is not a plain `host[:port]`, is refused.
    pub fn for_api_base_url(api_base_url: &str) -> Result<LinkBase, LinkError> {
        let url = api_base_url.trim();
        let bad = |reason| LinkError::BadUrl {
            value: shown(url),
            reason,
        };
        let (scheme, rest) =
            split_scheme(url).ok_or_else(|| bad("not an http:// or https:// URL"))?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = rest[..end].to_ascii_lowercase();
        check_authority(&authority).map_err(bad)?;
        if scheme == Scheme::Https
            && let Some((_, qr)) = OFFICIAL_API_HOSTS
                .iter()
                .find(|(api, _)| strip_default_port(&authority, scheme) == *api)
        {
            return Ok(LinkBase::official(qr));
        }
        Ok(LinkBase { scheme, authority })
    }

    /// Reads an origin, strictly: `http://` or `https://`, then a lowercase `host[:port]`, and
    /// nothing else (no path, not even `/`).
    pub fn from_origin(origin: &str) -> Result<LinkBase, LinkError> {
        let bad = |reason| LinkError::BadUrl {
            value: shown(origin),
            reason,
        };
        let (scheme, authority) =
            split_scheme(origin).ok_or_else(|| bad("not an http:// or https:// origin"))?;
        check_authority(authority).map_err(bad)?;
        Ok(LinkBase {
            scheme,
            authority: authority.to_owned(),
        })
    }

    /// `https` for the official hosts.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// `host[:port]`, lowercase.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// `scheme://authority`.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme.as_str(), self.authority)
    }

    /// Whether this is one of the Ministry's three QR hosts.
    pub fn is_official(&self) -> bool {
        self.scheme == Scheme::Https && [HOST_TEST, HOST_DEMO, HOST_PRD].contains(&&*self.authority)
    }
}

impl fmt::Display for LinkBase {
    /// The origin, `scheme://authority`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.authority)
    }
}

/// `("https", rest)` / `("http", rest)` for a lowercase scheme prefix.
pub(super) fn split_scheme(url: &str) -> Option<(Scheme, &str)> {
    if let Some(rest) = url.strip_prefix("https://") {
        Some((Scheme::Https, rest))
    } else {
        url.strip_prefix("http://").map(|rest| (Scheme::Http, rest))
    }
}

fn strip_default_port(authority: &str, scheme: Scheme) -> &str {
    match scheme {
        Scheme::Https => authority.strip_suffix(":443").unwrap_or(authority),
        Scheme::Http => authority.strip_suffix(":80").unwrap_or(authority),
    }
}

/// A plain `host[:port]`: a lowercase DNS name or IPv4 address (letters, digits, `-`, `.`, no
/// empty label), or an IPv6 literal in brackets, and an optional port 1–65535.
///
/// Written here rather than with a URL crate: the core has no dependencies for parsing, and an
/// origin is the one part of a URL the links need; everything else is refused.
pub(super) fn check_authority(authority: &str) -> Result<(), &'static str> {
    if authority.is_empty() {
        return Err("no host");
    }
    if authority.len() > 255 {
        return Err("the host is too long");
    }
    if authority.contains('@') {
        return Err("user information (`user@`) is not allowed in a link's host");
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or("an unclosed IPv6 literal")?;
        if inside.is_empty()
            || !inside
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b) || b == b':' || b == b'.')
        {
            return Err("a malformed IPv6 literal");
        }
        match after {
            "" => (inside, None),
            _ => (
                inside,
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or("text after an IPv6 literal")?,
                ),
            ),
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if !authority.starts_with('[') {
        let labels_ok = host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
        if !labels_ok {
            return Err("the host is not a lowercase name of letters, digits, '-' and '.'");
        }
    }
    if let Some(port) = port {
        let ok = (1..=5).contains(&port.len())
            && port.bytes().all(|b| b.is_ascii_digit())
            && !port.starts_with('0')
            && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p));
        if !ok {
            return Err("the port is not a number 1–65535");
        }
    }
    Ok(())
}
