//! HTML rendering of a [`Layout`]: a self-contained fragment (its own scoped `<style>`, every
//! class prefixed `ksef-`) that a web page embeds, or a standalone page. askama templates,
//! auto-escaped: every value from the document is text, never markup.

use askama::Template;

use crate::codes::{self, CodeKind};
use crate::layout::{Block, Layout, Table};
use crate::model::InvoiceView;

/// What the document itself does not say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderOptions {
    /// The KSeF number, when the invoice is in KSeF: shown in the header and under KOD I
    /// (`OFFLINE` there otherwise).
    pub ksef_number: Option<String>,
    /// The KOD I link (see [`InvoiceView::kod_i`]), for every invoice shown outside KSeF. Only
    /// `https://` and `http://` links are shown (the local emulator's verification pages are
    /// plain http).
    pub kod_i_url: Option<String>,
    /// Trusted SVG markup of KOD I's QR code (inserted as is, e.g. a cached
    /// [`crate::qr::svg_element`]); `None` = generated from `kod_i_url`.
    pub qr_svg: Option<String>,
    /// The KOD II link of an offline invoice (`ksef_core::qr::CertificateVerificationLink`,
    /// signed by `ksef_crypto::verification_link::sign_certificate_link`), labelled
    /// `CERTYFIKAT` and drawn beside KOD I; `None` for an invoice issued online. The same
    /// http(s) rule as `kod_i_url`.
    pub kod_ii_url: Option<String>,
}

/// A code as drawn: its kind (title, captions, class), the code, the label under it, the link.
struct Qr<'a> {
    kind: CodeKind,
    svg: String,
    label: &'a str,
    url: &'a str,
}

#[derive(Template)]
#[template(path = "invoice.html")]
struct Fragment<'a> {
    layout: &'a Layout,
    form_class: &'a str,
    codes: Vec<Qr<'a>>,
}

#[derive(Template)]
#[template(path = "page.html")]
struct Page<'a> {
    title: String,
    body: &'a str,
}

impl Table {
    /// Column titles with their alignment (for templates).
    pub fn heads(&self) -> Vec<(&str, bool)> {
        self.columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), self.numeric.get(i).copied().unwrap_or(false)))
            .collect()
    }

    /// Rows of (cell, numeric) pairs (for templates).
    pub fn cells(&self) -> Vec<Vec<(&str, bool)>> {
        self.rows
            .iter()
            .map(|r| {
                r.iter()
                    .enumerate()
                    .map(|(i, c)| (c.as_str(), self.numeric.get(i).copied().unwrap_or(false)))
                    .collect()
            })
            .collect()
    }
}

/// The codes with their SVG images; a code whose link does not fit in a QR code is left out.
fn codes(opts: &RenderOptions) -> Vec<Qr<'_>> {
    codes::codes(opts)
        .into_iter()
        .filter_map(|c| {
            let svg = match (&opts.qr_svg, c.kind) {
                (Some(s), CodeKind::KodI) => s.clone(),
                _ => crate::qr::svg_element(c.url, c.kind.image_name())?,
            };
            Some(Qr {
                kind: c.kind,
                svg,
                label: c.label,
                url: c.url,
            })
        })
        .collect()
}

/// The invoice as an HTML fragment (`<div class="ksef-invoice">…</div>`, styles included).
pub fn render(view: &InvoiceView, opts: &RenderOptions) -> String {
    let layout = view.layout(opts.ksef_number.as_deref());
    render_layout(&layout, view, opts)
}

fn render_layout(layout: &Layout, view: &InvoiceView, opts: &RenderOptions) -> String {
    let t = Fragment {
        layout,
        form_class: match view.form {
            crate::Form::Fa2 => "ksef-fa2",
            crate::Form::Fa3 => "ksef-fa3",
            crate::Form::FaRr1 => "ksef-farr1",
        },
        codes: codes(opts),
    };
    // Rendering owned strings into a String cannot fail (no I/O, no fallible filters).
    t.render().unwrap_or_default()
}

/// The invoice as a standalone HTML page (`<!DOCTYPE html>…`).
pub fn render_page(view: &InvoiceView, opts: &RenderOptions) -> String {
    let body = render(view, opts);
    let layout_title = crate::layout::kind_title(view);
    Page {
        title: format!("{layout_title} {}", view.number),
        body: &body,
    }
    .render()
    .unwrap_or_default()
}
