//! The verification codes of a visualisation as both renderers draw them (digest §13.2, the
//! Ministry's `kody-qr.md`): KOD I on every invoice shown outside KSeF, labelled with the KSeF
//! number or `OFFLINE`; KOD II on offline invoices only, labelled `CERTYFIKAT`. Titles and
//! captions follow the Ministry's visualisation generator (`ksef-pdf-generator`, `Stopka.ts`).
//!
//! Only `https://` and `http://` links are drawn (the local emulator's verification pages are
//! plain http); anything else given in [`RenderOptions`] is left out.

use ksef_core::qr::{LABEL_CERTIFICATE, LABEL_OFFLINE};

use crate::html::RenderOptions;

/// Which of the two codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeKind {
    /// KOD I: verifies the invoice.
    KodI,
    /// KOD II: verifies the issuer's KSeF `Offline` certificate.
    KodII,
}

impl CodeKind {
    /// The heading over the code.
    pub(crate) fn title(self) -> &'static str {
        match self {
            CodeKind::KodI => "Sprawdź, czy Twoja faktura znajduje się w KSeF!",
            CodeKind::KodII => "Zweryfikuj dostawcę faktury",
        }
    }

    /// What the code proves, beside it (KOD II only: a reader of an offline invoice is rarely
    /// told what the second code is for).
    pub(crate) fn explanation(self) -> Option<&'static str> {
        match self {
            CodeKind::KodI => None,
            CodeKind::KodII => Some(
                "Faktura wystawiona w trybie offline. Kod CERTYFIKAT potwierdza tożsamość \
                 wystawcy i jego uprawnienie do wystawienia faktury w imieniu sprzedawcy: \
                 link jest podpisany certyfikatem KSeF typu Offline.",
            ),
        }
    }

    /// The sentence before the link in HTML (a clickable link).
    pub(crate) fn html_caption(self) -> &'static str {
        match self {
            CodeKind::KodI => {
                "Nie możesz zeskanować kodu z obrazka? Kliknij w link weryfikacyjny i przejdź \
                 do weryfikacji faktury!"
            }
            CodeKind::KodII => {
                "Nie możesz zeskanować kodu z obrazka? Kliknij w link weryfikacyjny i przejdź \
                 do weryfikacji wystawcy faktury!"
            }
        }
    }

    /// The sentence before the link in the PDF (printed text).
    pub(crate) fn pdf_caption(self) -> &'static str {
        match self {
            CodeKind::KodI => {
                "Nie możesz zeskanować kodu z obrazka? Skorzystaj z linku weryfikacyjnego:"
            }
            CodeKind::KodII => {
                "Nie możesz zeskanować kodu z obrazka? Skorzystaj z linku weryfikacyjnego \
                 wystawcy faktury:"
            }
        }
    }

    /// The accessible name of the code's image.
    pub(crate) fn image_name(self) -> &'static str {
        match self {
            CodeKind::KodI => "Kod QR weryfikacji faktury (KOD I)",
            CodeKind::KodII => "Kod QR weryfikacji wystawcy faktury (KOD II)",
        }
    }

    /// The HTML class suffix: `ksef-qr-kod-i` on the code's block, `ksef-kod-i` on its link.
    pub(crate) fn class(self) -> &'static str {
        match self {
            CodeKind::KodI => "kod-i",
            CodeKind::KodII => "kod-ii",
        }
    }
}

/// One code to draw: its link and the label under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Code<'a> {
    pub(crate) kind: CodeKind,
    pub(crate) url: &'a str,
    pub(crate) label: &'a str,
}

/// The codes `opts` asks for, KOD I first; each one only with an http(s) link.
pub(crate) fn codes(opts: &RenderOptions) -> Vec<Code<'_>> {
    let mut out = Vec::with_capacity(2);
    if let Some(url) = drawable(opts.kod_i_url.as_deref()) {
        out.push(Code {
            kind: CodeKind::KodI,
            url,
            label: opts.ksef_number.as_deref().unwrap_or(LABEL_OFFLINE),
        });
    }
    if let Some(url) = drawable(opts.kod_ii_url.as_deref()) {
        out.push(Code {
            kind: CodeKind::KodII,
            url,
            label: LABEL_CERTIFICATE,
        });
    }
    out
}

fn drawable(url: Option<&str>) -> Option<&str> {
    url.filter(|u| u.starts_with("https://") || u.starts_with("http://"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_the_link_filter() {
        let opts = RenderOptions {
            kod_i_url: Some("https://qr-test.ksef.mf.gov.pl/invoice/a".into()),
            kod_ii_url: Some("http://127.0.0.1:1/certificate/b".into()),
            ..RenderOptions::default()
        };
        let got = codes(&opts);
        assert_eq!(
            got.iter().map(|c| (c.kind, c.label)).collect::<Vec<_>>(),
            [(CodeKind::KodI, "OFFLINE"), (CodeKind::KodII, "CERTYFIKAT")]
        );
        let known = RenderOptions {
            ksef_number: Some("5265877635-20260203-0100A0B1C2D3-4E".into()),
            ..opts.clone()
        };
        assert_eq!(
            codes(&known)[0].label,
            "5265877635-20260203-0100A0B1C2D3-4E"
        );
        assert_eq!(codes(&known)[1].label, "CERTYFIKAT");
        let hostile = RenderOptions {
            kod_ii_url: Some("javascript:alert(1)".into()),
            ..opts
        };
        assert_eq!(codes(&hostile).len(), 1);
        assert!(codes(&RenderOptions::default()).is_empty());
    }
}
