//! QR codes (ISO/IEC 18004: byte mode, error correction level M, a quiet zone of 4 modules) as
//! SVG and PNG images, each code with the label the rules put under it (`ksef_core::qr`:
//! the KSeF number or `OFFLINE` under KOD I, `CERTYFIKAT` under KOD II).
//!
//! * [`LabelledCode`] — one code and its label; [`svg`] and [`png`] draw one or more of them
//!   side by side (KOD I and KOD II of an offline invoice in one image), the same geometry in
//!   both: `module` pixels a module, the label centred under the code's quiet zone.
//! * SVG: the dark modules as one path per code, the label a `<text>` element (DejaVu Sans
//!   Condensed, as in the PDFs, with fallbacks).
//! * PNG: 8-bit greyscale, the label set in the embedded DejaVu Sans Condensed of `ksef-pdf`
//!   (glyph outlines read by `skrifa`, filled by `ab_glyph_rasterizer` with anti-aliasing).
//! * [`svg_element`] — the bare code as an inline `<svg>` for HTML pages (their caption is HTML).

mod png;
mod text;

use ksef_core::xml::escape;
use qrcode::{Color, EcLevel, QrCode};

/// Modules of quiet zone on every side of a code (ISO/IEC 18004 asks for 4).
pub const QUIET_ZONE: usize = 4;
/// The default size of a module in pixels (a KOD I code is then about 400 px wide).
pub const DEFAULT_MODULE_PX: u32 = 8;
/// The longest label drawn (a KSeF number has 35 or 36 characters).
pub const MAX_LABEL_CHARS: usize = 64;

/// Why a code cannot be drawn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QrError {
    /// The data does not fit in a QR code of error correction level M (about 2.3 kB).
    #[error("{len} bytes do not fit in a QR code (error correction level M)")]
    DataTooLong { len: usize },
    /// The label is longer than [`MAX_LABEL_CHARS`] or has control characters.
    #[error("a QR code label has at most {MAX_LABEL_CHARS} printable characters")]
    BadLabel,
    /// The module size is not 1–64 pixels.
    #[error("a module is 1–64 pixels, not {0}")]
    ModuleSize(u32),
    /// Nothing to draw.
    #[error("no QR code to draw")]
    NoCodes,
    /// The PNG could not be written (its compressor failed).
    #[error("cannot write the PNG image: {0}")]
    Png(String),
}

/// A QR code and the label under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledCode {
    /// Modules per side, quiet zone excluded.
    width: usize,
    /// Row-major, `width × width`, `true` = dark.
    dark: Vec<bool>,
    label: String,
}

impl LabelledCode {
    /// The code of `data` (byte mode, level M) with `label` under it.
    pub fn new(data: &str, label: &str) -> Result<LabelledCode, QrError> {
        if label.chars().count() > MAX_LABEL_CHARS || label.chars().any(char::is_control) {
            return Err(QrError::BadLabel);
        }
        let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M)
            .map_err(|_| QrError::DataTooLong { len: data.len() })?;
        Ok(LabelledCode {
            width: code.width(),
            dark: code
                .to_colors()
                .into_iter()
                .map(|c| c == Color::Dark)
                .collect(),
            label: label.to_owned(),
        })
    }

    /// Modules per side (quiet zone excluded).
    pub fn width(&self) -> usize {
        self.width
    }

    /// The label.
    pub fn label(&self) -> &str {
        &self.label
    }

    fn is_dark(&self, x: usize, y: usize) -> bool {
        self.dark.get(y * self.width + x).copied().unwrap_or(false)
    }

    /// Runs of dark modules per row: `(row, first column, length)`.
    fn dark_runs(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        (0..self.width).flat_map(move |y| {
            let mut runs = Vec::new();
            let mut x = 0;
            while x < self.width {
                if self.is_dark(x, y) {
                    let start = x;
                    while x < self.width && self.is_dark(x, y) {
                        x += 1;
                    }
                    runs.push((y, start, x - start));
                } else {
                    x += 1;
                }
            }
            runs
        })
    }
}

/// Where one code and its label go in an image of several, in pixels.
struct Panel {
    left: f32,
    width: f32,
    /// Offset of the code (its quiet zone included) inside the panel.
    code_left: f32,
    code_size: f32,
}

/// The shared geometry of [`svg`] and [`png`].
struct Geometry {
    module: f32,
    font_px: f32,
    /// Top of the label line's box and its baseline.
    label_top: f32,
    baseline: f32,
    width: f32,
    height: f32,
    panels: Vec<Panel>,
}

fn geometry(codes: &[LabelledCode], module_px: u32) -> Result<Geometry, QrError> {
    if codes.is_empty() {
        return Err(QrError::NoCodes);
    }
    if !(1..=64).contains(&module_px) {
        return Err(QrError::ModuleSize(module_px));
    }
    let module = module_px as f32;
    let font_px = (module * 3.0).max(10.0);
    let (ascent, descent) = text::vertical_metrics(font_px);
    let mut panels = Vec::with_capacity(codes.len());
    let mut left = 0.0;
    let mut tallest_code: f32 = 0.0;
    for c in codes {
        let code_size = (c.width + 2 * QUIET_ZONE) as f32 * module;
        let label_width = text::advance(&c.label, font_px) + 2.0 * module * QUIET_ZONE as f32;
        let width = code_size.max(label_width).ceil();
        panels.push(Panel {
            left,
            width,
            code_left: ((width - code_size) / 2.0).floor(),
            code_size,
        });
        left += width;
        tallest_code = tallest_code.max(code_size);
    }
    // The label starts under the whole quiet zone, which stays clear as ISO/IEC 18004 asks.
    let label_top = tallest_code;
    let baseline = (label_top + ascent).round();
    let height = (baseline + descent + QUIET_ZONE as f32 * module / 2.0).ceil();
    Ok(Geometry {
        module,
        font_px,
        label_top,
        baseline,
        width: left,
        height,
        panels,
    })
}

/// The codes side by side as a standalone SVG document (white background, black modules, the
/// labels as `<text>`), `module_px` pixels a module.
pub fn svg(codes: &[LabelledCode], module_px: u32) -> Result<String, QrError> {
    use std::fmt::Write as _;
    let g = geometry(codes, module_px)?;
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" \
         version=\"1.1\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\n\
         <rect width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>\n",
        w = g.width,
        h = g.height
    );
    for (code, panel) in codes.iter().zip(&g.panels) {
        let x0 = panel.left + panel.code_left + QUIET_ZONE as f32 * g.module;
        let y0 = g.label_top - panel.code_size + QUIET_ZONE as f32 * g.module;
        let _ = write!(
            out,
            "<path fill=\"#000000\" shape-rendering=\"crispEdges\" d=\""
        );
        for (y, x, len) in code.dark_runs() {
            let _ = write!(
                out,
                "M{} {}h{}v{}h-{}z",
                x0 + x as f32 * g.module,
                y0 + y as f32 * g.module,
                len as f32 * g.module,
                g.module,
                len as f32 * g.module
            );
        }
        let _ = writeln!(out, "\"/>");
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" font-family=\"'DejaVu Sans Condensed', 'DejaVu Sans', \
             'Arial Narrow', Arial, sans-serif\" font-size=\"{}\" text-anchor=\"middle\" \
             fill=\"#000000\">{}</text>",
            panel.left + panel.width / 2.0,
            g.baseline,
            g.font_px,
            escape(&code.label)
        );
    }
    out.push_str("</svg>\n");
    Ok(out)
}

/// The codes side by side as a PNG image (8-bit greyscale), `module_px` pixels a module.
pub fn png(codes: &[LabelledCode], module_px: u32) -> Result<Vec<u8>, QrError> {
    let g = geometry(codes, module_px)?;
    let (w, h) = (g.width as usize, g.height as usize);
    let mut pixels = vec![255u8; w * h];
    let m = module_px as usize;
    for (code, panel) in codes.iter().zip(&g.panels) {
        let x0 = (panel.left + panel.code_left) as usize + QUIET_ZONE * m;
        let y0 = (g.label_top - panel.code_size) as usize + QUIET_ZONE * m;
        for (y, x, len) in code.dark_runs() {
            for py in y0 + y * m..y0 + (y + 1) * m {
                let row = py * w;
                pixels[row + x0 + x * m..row + x0 + (x + len) * m].fill(0);
            }
        }
        let label = text::rasterize(&code.label, g.font_px);
        let left = (panel.left + (panel.width - label.width as f32) / 2.0).round() as usize;
        let top = (g.baseline - label.baseline as f32) as usize;
        for ty in 0..label.height {
            for tx in 0..label.width {
                let (px, py) = (left + tx, top + ty);
                if px < w && py < h {
                    let ink = (label.coverage[ty * label.width + tx].clamp(0.0, 1.0) * 255.0)
                        .round() as u8;
                    let p = &mut pixels[py * w + px];
                    *p = (*p).min(255 - ink);
                }
            }
        }
    }
    png::grey8(w as u32, h as u32, &pixels)
}

/// The bare code of `data` as an inline `<svg>` element for an HTML page (no XML declaration,
/// no label: the page writes its caption; a `viewBox`, so CSS may resize it). `None` when the
/// data does not fit in a QR code.
pub fn svg_element(data: &str, aria_label: &str) -> Option<String> {
    use std::fmt::Write as _;
    let code = LabelledCode::new(data, "").ok()?;
    let side = code.width + 2 * QUIET_ZONE;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"{}\" \
         class=\"ksef-qr-svg\" width=\"200\" height=\"200\" viewBox=\"0 0 {side} {side}\" \
         shape-rendering=\"crispEdges\"><rect width=\"{side}\" height=\"{side}\" \
         fill=\"#ffffff\"/><path fill=\"#000000\" d=\"",
        escape(aria_label)
    );
    for (y, x, len) in code.dark_runs() {
        let _ = write!(
            out,
            "M{} {}h{len}v1h-{len}z",
            x + QUIET_ZONE,
            y + QUIET_ZONE
        );
    }
    out.push_str("\"/></svg>");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_has_the_labels_as_text() {
        let a = LabelledCode::new("https://qr-test.ksef.mf.gov.pl/invoice/x", "OFFLINE").unwrap();
        let b = LabelledCode::new("https://qr-test.ksef.mf.gov.pl/certificate/y", "CERTYFIKAT")
            .unwrap();
        let out = svg(&[a, b], 4).unwrap();
        assert!(out.starts_with("<?xml "));
        assert!(out.contains(">OFFLINE</text>"));
        assert!(out.contains(">CERTYFIKAT</text>"));
        assert_eq!(out.matches("<path ").count(), 2);
        let odd = LabelledCode::new("x", "<&>").unwrap();
        assert!(svg(&[odd], 4).unwrap().contains(">&lt;&amp;&gt;</text>"));
    }

    #[test]
    fn bad_input_is_refused() {
        assert_eq!(
            LabelledCode::new(&"x".repeat(5000), "OFFLINE"),
            Err(QrError::DataTooLong { len: 5000 })
        );
        assert_eq!(
            LabelledCode::new("x", &"L".repeat(65)),
            Err(QrError::BadLabel)
        );
        assert_eq!(LabelledCode::new("x", "a\nb"), Err(QrError::BadLabel));
        let c = LabelledCode::new("x", "OFFLINE").unwrap();
        assert_eq!(
            png(std::slice::from_ref(&c), 0),
            Err(QrError::ModuleSize(0))
        );
        assert_eq!(png(&[], 8), Err(QrError::NoCodes));
    }

    #[test]
    fn png_has_the_geometry_and_ink_under_the_code() {
        let c = LabelledCode::new("https://qr.ksef.mf.gov.pl/invoice/1", "OFFLINE").unwrap();
        let bytes = png(std::slice::from_ref(&c), 4).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
        let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        let side = ((c.width() + 2 * QUIET_ZONE) * 4) as u32;
        assert_eq!(w, side);
        assert!(h > side, "no room for the label: {h} ≤ {side}");
    }

    #[test]
    fn html_element() {
        let s = svg_element("https://qr.ksef.mf.gov.pl/invoice/1/01-01-2026/x", "KOD I").unwrap();
        assert!(s.starts_with("<svg "));
        assert!(s.ends_with("</svg>"));
        assert!(s.contains("aria-label=\"KOD I\""));
        assert!(svg_element(&"x".repeat(5000), "KOD I").is_none());
    }
}
