//! Every official sample invoice vendored in the repository (FA(2), each FA(3) variant,
//! FA_RR(1)) is read and rendered; the key facts must appear in the HTML. PEF samples must be
//! refused as unsupported. KOD I is checked against `openssl dgst` as an independent oracle;
//! the two codes of an offline invoice (KOD I, KOD II) are read back by `zbarimg` from the page
//! as headless Chromium draws it.

use std::process::Command;

use ksef_core::qr::LinkBase;
use ksef_crypto::KeyAlgorithm;
use ksef_visual::{Form, InvoiceView, RenderOptions, ViewError, html};

mod common;
use common::*;

#[test]
fn no_placeholder_left() {
    for path in sample_files() {
        if is_pef(&path) {
            continue;
        }
        let text = String::from_utf8(load(&path)).expect("utf-8");
        let left: Vec<&str> = text
            .split('#')
            .skip(1)
            .step_by(2)
            .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .collect();
        assert!(left.is_empty(), "{}: placeholders {left:?}", path.display());
    }
}

/// HTML escaping as askama does it (numeric character references).
fn escape(s: &str) -> String {
    s.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

#[test]
fn every_official_sample_renders_its_facts() {
    let files = sample_files();
    assert!(files.len() >= 12, "samples found: {files:?}");
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for path in &files {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        let xml = load(path);
        if is_pef(path) {
            assert!(
                matches!(InvoiceView::parse(&xml), Err(ViewError::UnsupportedForm(_))),
                "{name}: PEF must be refused as unsupported"
            );
            *seen.entry("PEF".into()).or_default() += 1;
            continue;
        }
        let view = InvoiceView::parse(&xml).unwrap_or_else(|e| panic!("{name}: {e}"));
        *seen.entry(view.form.to_string()).or_default() += 1;
        assert!(view.warnings.is_empty(), "{name}: {:?}", view.warnings);
        assert_eq!(view.seller_nip(), SELLER_NIP, "{name}");
        assert!(!view.lines.is_empty(), "{name}: no lines");
        assert!(view.total.is_some(), "{name}: no total");
        if view.form != Form::FaRr1 {
            assert!(!view.vat_summary.is_empty(), "{name}: no VAT summary");
        }

        let opts = RenderOptions {
            ksef_number: Some("5265877635-20260203-0100A0B1C2D3-4E".into()),
            kod_i_url: Some(view.kod_i(&LinkBase::test(), &xml).expect("KOD I").url()),
            qr_svg: None,
            kod_ii_url: None,
        };
        let out = html::render(&view, &opts);
        let facts = view.facts();
        assert!(facts.seller_name.is_some(), "{name}");
        assert!(facts.buyer_id.is_some(), "{name}");
        assert!(facts.buyer_name.is_some(), "{name}");
        assert!(facts.total.is_some(), "{name}");
        for fact in facts.all() {
            assert!(
                out.contains(&escape(&fact)),
                "{name}: {fact:?} missing from the HTML"
            );
        }
        // Dates DD.MM.RRRR, never the ISO form of P_1.
        assert!(out.contains(&facts.issue_date), "{name}");
        let d = view.issue_date;
        let iso = format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
        assert!(!out.contains(&iso), "{name}: ISO date {iso} shown");
        // Labels and sections of the official layout.
        for label in [
            "Sprzedawca",
            "Nabywca",
            "Szczegóły",
            "Pozycje",
            "NIP",
            "Stopka",
        ] {
            assert!(out.contains(label), "{name}: {label}");
        }
        if view.form != Form::FaRr1 {
            assert!(out.contains("Podsumowanie stawek podatku"), "{name}");
        }
        // KOD I with the KSeF number under it.
        assert!(out.contains("<svg "), "{name}: QR");
        assert!(
            out.contains("<figcaption class=\"ksef-qr-label\">5265877635-20260203-0100A0B1C2D3-4E</figcaption>"),
            "{name}"
        );
        // The same strings are in the layout's plain text (what the PDF will show).
        let text = view.layout(None).text().join("\n");
        for fact in facts.all() {
            assert!(
                text.contains(&fact),
                "{name}: {fact:?} missing from the layout text"
            );
        }
        // A standalone page too.
        let page = html::render_page(&view, &opts);
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains(&escape(&view.number)));
    }
    for form in ["FA (2)", "FA (3)", "FA_RR (1)", "PEF"] {
        assert!(seen.contains_key(form), "no {form} sample among {seen:?}");
    }
}

fn sample(name: &str) -> Vec<u8> {
    load(
        &repo_root()
            .join("spec/ksef-client-csharp/KSeF.Client.Tests.Core/Templates")
            .join(name),
    )
}

#[test]
fn fa3_sample_in_detail() {
    let xml = sample("invoice-template-fa-3.xml");
    let view = InvoiceView::parse(&xml).expect("parses");
    assert_eq!(view.form, Form::Fa3);
    assert_eq!(view.kind.code(), "VAT");
    let out = html::render(&view, &RenderOptions::default());
    for s in [
        "Faktura podstawowa",
        "Elektrownia S.A.",
        "F.H.U. Jan Kowalski",
        "01.09.2025",
        "od 01.01.2026 do 28.02.2026",
        "Razem za energię czynną",
        "23% lub 22%",
        "43,60",
        "10,03",
        "53,63 zł",
        "Kwota należności ogółem",
        "Przelew",
        "73111111111111111111111111",
        "Termin płatności",
        "15.03.2026",
        "0000099999",
        "Kapiał zakładowy 5 000 000",
        "Informacja o akcyzie",
        "Wytworzona w",
        "SamploFaktur",
        "01.09.2025 02:00:00",
    ] {
        assert!(out.contains(s), "{s:?} missing");
    }
    // No KOD I link given: no QR section.
    assert!(!out.contains("<svg"));
    // Annotations: none set in this sample (all "2"/"N"), so no section.
    assert!(!out.contains("Adnotacje"));
}

#[test]
fn fa_rr_sample_in_detail() {
    let xml = sample("invoice-template-fa-rr-1.xml");
    let view = InvoiceView::parse(&xml).expect("parses");
    assert_eq!(view.form, Form::FaRr1);
    assert_eq!(view.kind.code(), "VAT_RR");
    let out = html::render(&view, &RenderOptions::default());
    for s in [
        "Faktura VAT RR",
        "Sprzedawca (rolnik ryczałtowy)",
        "Nabywca (wystawca faktury)",
        BUYER_NIP,
        "23.02.2026",
        "20.02.2026",
        "ziemniaki jadalne odmiana irga (partia A)",
        "klasa I",
        "300",
        "7%",
        "52,50",
        "1 337,50",
        "2 000,00 zł",
        "140,00 zł",
        "2 140,00 zł",
        "Słownie",
        "dwa tysiące sto czterdzieści złotych 00/100",
        "Rachunek bankowy rolnika",
        "83102055550000987654321012",
        "Rachunek bankowy nabywcy",
    ] {
        assert!(out.contains(s), "{s:?} missing");
    }
}

#[test]
fn attachment_and_third_parties() {
    let view =
        InvoiceView::parse(&sample("invoice-template-fa-3-with-attachment.xml")).expect("parses");
    assert!(!view.attachments.is_empty());
    let out = html::render(&view, &RenderOptions::default());
    assert!(out.contains("Załącznik do faktury"));
    let t = &view.attachments[0];
    assert!(!t.tables.is_empty() || !t.meta.is_empty());

    let view = InvoiceView::parse(&sample("invoice-template-fa-3-with-multiple-Subject3.xml"))
        .expect("parses");
    assert!(view.third_parties.len() >= 2, "{:?}", view.third_parties);
    let out = html::render(&view, &RenderOptions::default());
    assert!(out.contains("Podmiot trzeci 1"));
    assert!(out.contains("Podmiot trzeci 2"));
    assert!(out.contains("Rola"));
    for t in &view.third_parties {
        if let Some(n) = &t.party.name {
            assert!(out.contains(&escape(n)), "{n}");
        }
    }
}

#[test]
fn kod_i_matches_openssl() {
    let xml = sample("invoice-template-fa-3.xml");
    let view = InvoiceView::parse(&xml).expect("parses");
    let hash = openssl_hash(&xml);
    assert_eq!(hash.len(), 43);
    for (base, host) in [
        (LinkBase::test(), "qr-test.ksef.mf.gov.pl"),
        (LinkBase::demo(), "qr-demo.ksef.mf.gov.pl"),
        (LinkBase::prod(), "qr.ksef.mf.gov.pl"),
    ] {
        assert_eq!(
            view.kod_i(&base, &xml).expect("KOD I").url(),
            format!("https://{host}/invoice/{SELLER_NIP}/01-09-2025/{hash}")
        );
    }
    // The link and the OFFLINE label end up in the HTML.
    let url = view.kod_i(&LinkBase::test(), &xml).expect("KOD I").url();
    let out = html::render(
        &view,
        &RenderOptions {
            kod_i_url: Some(url.clone()),
            ..RenderOptions::default()
        },
    );
    assert!(out.contains(&format!("href=\"{}\"", escape(&url))));
    assert!(out.contains(">OFFLINE</figcaption>"));
    // A non-https "link" is never shown.
    let out = html::render(
        &view,
        &RenderOptions {
            kod_i_url: Some("javascript:alert(1)".into()),
            ..RenderOptions::default()
        },
    );
    assert!(!out.contains("javascript:"));
}

/// An offline invoice: KOD I labelled `OFFLINE` and, beside it, KOD II labelled `CERTYFIKAT`
/// with its heading and explanation; both links clickable. KOD II is a real link signed with a
/// KSeF `Offline` test certificate. A KOD II that is no http(s) link is never shown.
#[test]
fn offline_invoice_shows_kod_i_and_kod_ii() {
    let xml = sample("invoice-template-fa-3.xml");
    let view = InvoiceView::parse(&xml).expect("parses");
    let kod_i = view.kod_i(&LinkBase::test(), &xml).expect("KOD I").url();
    let kod_ii = kod_ii(&offline_certificate(KeyAlgorithm::EcP256), &xml).url();
    let hash = openssl_hash(&xml);
    assert!(
        kod_ii.starts_with(&format!(
            "https://qr-test.ksef.mf.gov.pl/certificate/Nip/{SELLER_NIP}/{SELLER_NIP}/{OFFLINE_CERT_SERIAL}/{hash}/"
        )),
        "{kod_ii}"
    );
    let opts = RenderOptions {
        kod_i_url: Some(kod_i.clone()),
        kod_ii_url: Some(kod_ii.clone()),
        ..RenderOptions::default()
    };
    let out = html::render(&view, &opts);
    // The QR section, before the footer section.
    let start = out
        .find("<section class=\"ksef-section ksef-qr\">")
        .expect("QR section");
    let end = start
        + out[start..]
            .find("</section>")
            .expect("end of the QR section");
    let qr = &out[start..end];
    assert!(out[end..].contains("<h2>Stopka</h2>"));
    assert_eq!(qr.matches("<svg ").count(), 2, "{qr}");
    let i = qr.find(">OFFLINE</figcaption>").expect("KOD I label");
    let ii = qr.find(">CERTYFIKAT</figcaption>").expect("KOD II label");
    assert!(i < ii, "KOD I first");
    assert!(qr.contains(&format!(
        "<a class=\"ksef-kod-i\" href=\"{}\"",
        escape(&kod_i)
    )));
    assert!(qr.contains(&format!(
        "<a class=\"ksef-kod-ii\" href=\"{}\"",
        escape(&kod_ii)
    )));
    assert!(qr.contains(&format!(">{}</a>", escape(&kod_ii))));
    for s in [
        "<h2>Sprawdź, czy Twoja faktura znajduje się w KSeF!</h2>",
        "<h2>Zweryfikuj dostawcę faktury</h2>",
        "Kod CERTYFIKAT potwierdza tożsamość wystawcy",
        "przejdź do weryfikacji wystawcy faktury!",
        "aria-label=\"Kod QR weryfikacji wystawcy faktury (KOD II)\"",
    ] {
        assert!(qr.contains(s), "{s:?} missing:\n{qr}");
    }
    // Only once, and nothing of KOD II on an invoice issued online.
    assert_eq!(out.matches(">CERTYFIKAT</figcaption>").count(), 1);
    let online = html::render(
        &view,
        &RenderOptions {
            kod_ii_url: None,
            ..opts.clone()
        },
    );
    assert!(!online.contains("CERTYFIKAT"));
    assert!(!online.contains("ksef-kod-ii"));
    assert_eq!(online.matches("<svg ").count(), 1);
    // A KOD II that is no http(s) link is left out.
    let hostile = html::render(
        &view,
        &RenderOptions {
            kod_ii_url: Some("javascript:alert(1)".into()),
            ..opts
        },
    );
    assert!(!hostile.contains("javascript:"));
    assert!(!hostile.contains("CERTYFIKAT"));
}

/// The standalone page of an offline invoice as headless Chromium draws it: zbarimg reads
/// exactly KOD I and KOD II from the screenshot (RSA: the longest KOD II link).
#[test]
fn offline_page_codes_scan_in_a_browser() {
    let xml = sample("invoice-template-fa-3.xml");
    let view = InvoiceView::parse(&xml).expect("parses");
    let kod_i = view.kod_i(&LinkBase::test(), &xml).expect("KOD I").url();
    let kod_ii = kod_ii(&offline_certificate(KeyAlgorithm::Rsa2048), &xml).url();
    let page = html::render_page(
        &view,
        &RenderOptions {
            kod_i_url: Some(kod_i.clone()),
            kod_ii_url: Some(kod_ii.clone()),
            ..RenderOptions::default()
        },
    );
    let dir = std::env::temp_dir().join(format!("ksef-visual-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("invoice.html");
    std::fs::write(&file, page).expect("write page");
    let shot = dir.join("shot.png");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            // Tall enough for the whole invoice: the codes are at its end.
            "--window-size=1200,5000",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", file.display()))
        .output()
        .unwrap_or_else(|e| panic!("chromium: {e} (install chromium)"));
    assert!(
        out.status.success() && shot.exists(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("zbarimg")
        .args(["--raw", "-q"])
        .arg(&shot)
        .output()
        .unwrap_or_else(|e| panic!("zbarimg: {e} (install zbar-tools)"));
    assert!(
        out.status.success(),
        "zbarimg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut codes: Vec<String> = String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    codes.sort();
    let mut expected = vec![kod_i, kod_ii];
    expected.sort();
    assert_eq!(codes, expected);
    let _ = std::fs::remove_dir_all(&dir);
}
