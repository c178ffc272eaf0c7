//! Request extractors that turn every malformed input into the documented KSeF error instead of
//! axum's plain-text rejections: JSON bodies, bearer tokens, client IPs, continuation tokens.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;

use ksef_core::{ContextIdentifier, ContextIdentifierType};

use crate::error::ApiError;
use ksef_wire::ExceptionCode;

/// The TCP peer address of the request (what KSeF calls `clientIp`).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // The accept loop (server) records every connection's peer. Without it the caller is
        // unknown: fail closed rather than assume loopback, which IP policies would allow.
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .ok_or_else(|| ApiError::Internal("the request carries no peer address".into()))?;
        Ok(ClientIp(ip))
    }
}

/// One path parameter (a reference number); undecodable → 400/21405 instead of axum's text.
pub struct ApiPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ApiPath {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<String>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(e) => Err(ApiError::validation(format!(
                "Nieprawidłowy parametr ścieżki: {e}"
            ))),
        }
    }
}

/// The raw `Authorization: Bearer …` token; missing or malformed → 401.
pub struct Bearer(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            ApiError::Unauthorized("Brak nagłówka Authorization z tokenem Bearer.".into())
        })?;
        let value = value.to_str().map_err(|_| {
            ApiError::Unauthorized("Nagłówek Authorization zawiera niedozwolone znaki.".into())
        })?;
        let mut parts = value.splitn(2, ' ');
        let scheme = parts.next().unwrap_or_default();
        let token = parts.next().unwrap_or_default().trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(ApiError::Unauthorized(
                "Oczekiwano nagłówka Authorization: Bearer <token>.".into(),
            ));
        }
        Ok(Bearer(token.to_string()))
    }
}

/// A JSON body: wrong content type → 415, too large or malformed → 400/21405 naming the problem.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        if !(mime == "application/json"
            || (mime.starts_with("application/") && mime.ends_with("+json")))
        {
            return Err(ApiError::UnsupportedMediaType(format!(
                "Oczekiwano Content-Type: application/json, otrzymano {:?}.",
                if mime.is_empty() {
                    "(brak)"
                } else {
                    mime.as_str()
                }
            )));
        }
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses JSON, reporting the serde error (with line/column and field) as 21405.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::validation(
            "Treść żądania jest pusta; oczekiwano obiektu JSON.",
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::validation(format!("Nieprawidłowy JSON: {e}")))
}

/// Reads the whole body, mapping the body-limit rejection to [`ApiError::PayloadTooLarge`].
pub async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(0)
        } else {
            ApiError::validation(format!("Nie można odczytać treści żądania: {e}"))
        }
    })
}

/// Decodes `a=1&a=2` query strings keeping repeated keys (digest §2.1: arrays by repetition).
pub fn form_pairs(raw: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect()
}

/// A context identifier of a request body (`{field}.type`, `{field}.value`); 400/21405 naming
/// the field when either is invalid.
pub fn parse_context(kind: &str, value: &str, field: &str) -> Result<ContextIdentifier, ApiError> {
    let kind: ContextIdentifierType = kind
        .parse()
        .map_err(|e| ApiError::validation(format!("{field}.type: {e}")))?;
    ContextIdentifier::parse(kind, value)
        .map_err(|e| ApiError::validation(format!("{field}.value: {e}")))
}

/// A JSON object body the OpenAPI marks optional: an empty body means `T::default()` (no
/// filters); anything else goes through [`ApiJson`] (415 for a wrong content type, 400/21405
/// when malformed). Non-objects are rejected explicitly: serde's derived `Deserialize` would
/// accept `[]` as a struct whose fields all default.
pub async fn optional_json<T: DeserializeOwned + Default, S: Send + Sync>(
    state: &S,
    req: Request,
) -> Result<T, ApiError> {
    let headers = req.headers().clone();
    let bytes = body_bytes(req, state).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let mut rebuilt = Request::new(axum::body::Body::from(bytes));
    *rebuilt.headers_mut() = headers;
    let ApiJson(v) = ApiJson::<serde_json::Value>::from_request(rebuilt, state).await?;
    if !v.is_object() {
        return Err(ApiError::validation(
            "Nieprawidłowy JSON: oczekiwano obiektu JSON.",
        ));
    }
    serde_json::from_value(v).map_err(|e| ApiError::validation(format!("Nieprawidłowy JSON: {e}")))
}

/// The largest offset (or, for keyset lists, ordinal) a continuation token may carry: far beyond
/// any list the emulator can hold, yet small enough that `offset + pageSize` can neither
/// overflow `usize` nor SQLite's `i64`. Anything larger was not issued by us → 400/21418.
pub const MAX_CONTINUATION_OFFSET: u64 = u32::MAX as u64;

/// Opaque header continuation tokens (`x-continuation-token`, digest §2.2): an encoded offset.
pub fn encode_continuation(offset: u32) -> String {
    URL_SAFE_NO_PAD.encode(format!("ksef-emu:{offset}"))
}

/// The token of the page after `offset + consumed`, or `None` when that position cannot be
/// expressed (never reached by a real list: see [`MAX_CONTINUATION_OFFSET`]).
pub fn next_continuation(offset: usize, consumed: usize) -> Option<String> {
    let next = offset.checked_add(consumed)?;
    u32::try_from(next).ok().map(encode_continuation)
}

/// The 400/21418 answer to a continuation token we did not issue.
pub fn invalid_continuation() -> ApiError {
    ApiError::bad(ExceptionCode::InvalidContinuationToken, "")
}

/// Decodes `x-continuation-token`; anything we did not issue → 400/21418: not our base64 or
/// prefix, not a plain decimal number, or beyond [`MAX_CONTINUATION_OFFSET`].
pub fn decode_continuation(headers: &axum::http::HeaderMap) -> Result<usize, ApiError> {
    let Some(v) = headers.get("x-continuation-token") else {
        return Ok(0);
    };
    let s = v.to_str().map_err(|_| invalid_continuation())?.trim();
    if s.is_empty() {
        return Ok(0);
    }
    let raw = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| invalid_continuation())?;
    let text = String::from_utf8(raw).map_err(|_| invalid_continuation())?;
    let digits = text
        .strip_prefix("ksef-emu:")
        .filter(|n| !n.is_empty() && n.len() <= 20 && n.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(invalid_continuation)?;
    digits
        .parse::<u64>()
        .ok()
        .filter(|n| *n <= MAX_CONTINUATION_OFFSET)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(invalid_continuation)
}

/// Validates `pageSize` against the documented bounds.
pub fn page_size(
    value: Option<&str>,
    min: usize,
    max: usize,
    default: usize,
) -> Result<usize, ApiError> {
    match value {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::validation(format!(
                "pageSize: wymagana liczba z zakresu {min}–{max}, podano {v:?}."
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_round_trip_and_garbage() {
        let mut h = axum::http::HeaderMap::new();
        assert_eq!(decode_continuation(&h).unwrap(), 0);
        h.insert(
            "x-continuation-token",
            encode_continuation(30).parse().unwrap(),
        );
        assert_eq!(decode_continuation(&h).unwrap(), 30);
        h.insert("x-continuation-token", "not-ours".parse().unwrap());
        assert_eq!(decode_continuation(&h).unwrap_err().codes(), vec![21418]);
        let forged = |n: &str| URL_SAFE_NO_PAD.encode(format!("ksef-emu:{n}"));
        for n in [
            "4294967296",
            "9223372036854775808",
            "18446744073709551615",
            "-1",
            "+1",
            "",
        ] {
            h.insert("x-continuation-token", forged(n).parse().unwrap());
            assert_eq!(
                decode_continuation(&h).unwrap_err().codes(),
                vec![21418],
                "{n}"
            );
        }
        h.insert(
            "x-continuation-token",
            forged("4294967295").parse().unwrap(),
        );
        assert_eq!(decode_continuation(&h).unwrap(), 4_294_967_295);
    }

    #[test]
    fn next_continuation_never_wraps() {
        assert_eq!(next_continuation(10, 10), Some(encode_continuation(20)));
        assert_eq!(next_continuation(u32::MAX as usize, 1), None);
        assert_eq!(next_continuation(usize::MAX, 10), None);
    }

    #[test]
    fn query_pairs_keep_repeats_and_decode() {
        let p = form_pairs("status=Active&status=Pending&description=Wystawianie%20faktur&x=%zz");
        assert_eq!(p[0], ("status".into(), "Active".into()));
        assert_eq!(p[1], ("status".into(), "Pending".into()));
        assert_eq!(p[2].1, "Wystawianie faktur");
        assert_eq!(p[3].1, "%zz");
    }

    #[test]
    fn page_size_bounds() {
        assert_eq!(page_size(None, 10, 100, 10).unwrap(), 10);
        assert_eq!(page_size(Some("50"), 10, 100, 10).unwrap(), 50);
        assert!(page_size(Some("5"), 10, 100, 10).is_err());
        assert!(page_size(Some("x"), 10, 100, 10).is_err());
    }
}
