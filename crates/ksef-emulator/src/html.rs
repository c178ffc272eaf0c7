//! The emulator's few HTML pages outside the API (the simulated signing service, the QR code
//! verification pages): text escaping and the response headers every page carries.
//!
//! Hand-rolled rather than a template engine: the pages are small, built with `format!`, and
//! every value from outside goes through [`escape`].

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
pub use ksef_core::xml::escape;

/// A page: `text/html; charset=utf-8`, not cached, not sniffed.
pub fn page(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("zażółć"), "zażółć");
    }
}
