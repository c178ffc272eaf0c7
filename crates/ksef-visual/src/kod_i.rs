//! KOD I: the verification link of an invoice (digest §13.2) and its QR code as inline SVG.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use sha2::{Digest, Sha256};
use time::Date;

/// QR host of the TEST environment.
pub const HOST_TEST: &str = "qr-test.ksef.mf.gov.pl";
/// QR host of the DEMO (pre-production) environment.
pub const HOST_DEMO: &str = "qr-demo.ksef.mf.gov.pl";
/// QR host of the production environment.
pub const HOST_PRD: &str = "qr.ksef.mf.gov.pl";

/// The label under KOD I of an invoice not (yet) in KSeF.
pub const OFFLINE: &str = "OFFLINE";

/// `https://{host}/invoice/{seller_nip}/{DD-MM-YYYY}/{Base64URL(SHA-256(file)) without padding}`.
///
/// `file` must be the invoice file exactly as sent to KSeF: the hash is over its bytes.
pub fn kod_i(host: &str, seller_nip: &str, issue_date: Date, file: &[u8]) -> String {
    let hash = URL_SAFE_NO_PAD.encode(Sha256::digest(file));
    format!(
        "https://{host}/invoice/{seller_nip}/{:02}-{:02}-{:04}/{hash}",
        issue_date.day(),
        u8::from(issue_date.month()),
        issue_date.year()
    )
}

/// The QR code of `data` as a standalone `<svg>` element (error correction level M, quiet zone
/// included, black on white, at least 200 × 200 px; it has a `viewBox`, so CSS may resize it).
/// `None` only when the data does not fit in a QR code (over ~2 kB).
pub fn qr_svg(data: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M).ok()?;
    let svg = code
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    // The renderer starts with an XML declaration: drop it so the element can sit inside HTML.
    let start = svg.find("<svg")?;
    let svg = &svg[start..];
    let svg = svg.replacen(
        "<svg ",
        "<svg role=\"img\" aria-label=\"Kod QR weryfikacji faktury (KOD I)\" class=\"ksef-qr-svg\" ",
        1,
    );
    Some(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn link_layout() {
        let url = kod_i(HOST_TEST, "1111111111", date!(2026 - 02 - 01), b"abc");
        // SHA-256("abc") = ba7816bf…15ad, in Base64URL without padding:
        assert_eq!(
            url,
            "https://qr-test.ksef.mf.gov.pl/invoice/1111111111/01-02-2026/ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
        assert!(!url.ends_with('='));
    }

    #[test]
    fn svg_is_an_element() {
        let svg = qr_svg("https://qr.ksef.mf.gov.pl/invoice/1/01-01-2026/x").expect("fits");
        assert!(svg.starts_with("<svg "));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(!svg.contains("<?xml"));
        assert!(qr_svg(&"x".repeat(5000)).is_none());
    }
}
