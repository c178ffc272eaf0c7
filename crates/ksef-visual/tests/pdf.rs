//! Every official sample invoice the HTML tests use is rendered as PDF and read back with
//! independent tools: `pdftotext -layout` (poppler) must find the key facts, and the QR code
//! rendered by `pdftoppm -r 200` and decoded by `zbarimg` must be exactly the KOD I link, whose
//! hash `openssl dgst` computes. Issued offline, each also carries KOD II (a real signature of a
//! KSeF `Offline` test certificate): both codes must decode, each with its label in the text.
//! The tools are required: without them the tests fail.

use std::path::Path;
use std::process::Command;

use ksef_core::qr::{HOST_TEST, LinkBase, VerificationLink};
use ksef_crypto::KeyAlgorithm;
use ksef_crypto::verification_link::verify_certificate_link;
use ksef_visual::{InvoiceView, RenderOptions, pdf};

mod common;
use common::*;

const KSEF_NUMBER: &str = "5265877635-20260203-0100A0B1C2D3-4E";

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (install poppler-utils and zbar-tools)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The words of `pdftotext -layout` of a PDF.
fn pdf_text(dir: &Path, pdf: &[u8]) -> String {
    let file = dir.join("invoice.pdf");
    std::fs::write(&file, pdf).expect("write pdf");
    let text = run(Command::new("pdftotext").arg("-layout").arg(&file).arg("-"));
    String::from_utf8(text).expect("pdftotext prints UTF-8")
}

/// Every QR code of every page (200 dpi), as decoded by zbarimg.
fn pdf_qr_codes(dir: &Path, pdf: &[u8]) -> Vec<String> {
    let file = dir.join("qr.pdf");
    std::fs::write(&file, pdf).expect("write pdf");
    run(Command::new("pdftoppm")
        .args(["-r", "200", "-png"])
        .arg(&file)
        .arg(dir.join("page")));
    let mut pages: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    pages.sort();
    assert!(!pages.is_empty(), "pdftoppm wrote no page");
    let mut codes = Vec::new();
    for page in pages {
        let out = Command::new("zbarimg")
            .args(["--raw", "-q"])
            .arg(&page)
            .output()
            .unwrap_or_else(|e| panic!("zbarimg: {e} (install zbar-tools)"));
        // zbarimg exits 4 when a page has no code at all.
        assert!(
            out.status.success() || out.status.code() == Some(4),
            "zbarimg: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        codes.extend(
            String::from_utf8(out.stdout)
                .expect("utf-8")
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_string),
        );
    }
    codes
}

/// Whether the words of `fact` occur in order among `tokens`: consecutive words at most
/// `GAP` tokens apart (a side-by-side column or a table row may interleave when a value wraps),
/// and a word may be split over several tokens (a long word broken at the column edge).
fn contains_words(tokens: &[&str], fact: &str) -> bool {
    const GAP: usize = 80;
    let words: Vec<&str> = fact.split_whitespace().collect();
    if words.is_empty() {
        return true;
    }
    fn go(tokens: &[&str], i: usize, words: &[&str], need: &str, depth: usize) -> bool {
        let t = tokens[i];
        let rest = if t == need {
            match words.split_first() {
                None => return true,
                Some((w, ws)) => return next(tokens, i, ws, w, depth),
            }
        } else if !t.is_empty() && need.starts_with(t) {
            &need[t.len()..]
        } else {
            return false;
        };
        next(tokens, i, words, rest, depth)
    }
    fn next(tokens: &[&str], i: usize, words: &[&str], need: &str, depth: usize) -> bool {
        if depth > 64 {
            return false;
        }
        (i + 1..tokens.len().min(i + 1 + GAP)).any(|j| go(tokens, j, words, need, depth + 1))
    }
    (0..tokens.len()).any(|i| go(tokens, i, &words[1..], words[0], 0))
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ksef-visual-pdf-{}-{}",
        std::process::id(),
        name.replace(['/', '.'], "_")
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn word_matching() {
    let text = "Nazwa: Elektrownia      NIP: 1\n  S.A.   Nabywca  1 234,56 zł  FA/GRQMB-FV/2026/\n 02/0042";
    let tokens: Vec<&str> = text.split_whitespace().collect();
    assert!(contains_words(&tokens, "Elektrownia S.A."));
    assert!(contains_words(&tokens, "1 234,56 zł"));
    assert!(contains_words(&tokens, "FA/GRQMB-FV/2026/02/0042"));
    assert!(!contains_words(&tokens, "S.A. Elektrownia"));
    assert!(!contains_words(&tokens, "1 234,57 zł"));
}

#[test]
fn every_official_sample_as_pdf() {
    let files = sample_files();
    assert!(files.len() >= 12, "samples found: {files:?}");
    let mut rendered = 0;
    // RSA: the longest KOD II link, the densest code.
    let cert = offline_certificate(KeyAlgorithm::Rsa2048);
    for path in &files {
        if is_pef(path) {
            continue;
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        let xml = load(path);
        let view = InvoiceView::parse(&xml).unwrap_or_else(|e| panic!("{name}: {e}"));
        let url = view.kod_i(&LinkBase::test(), &xml).expect("KOD I").url();
        // The link as the oracle computes it.
        let d = view.issue_date;
        let expected_url = format!(
            "https://{}/invoice/{}/{:02}-{:02}-{:04}/{}",
            HOST_TEST,
            SELLER_NIP,
            d.day(),
            u8::from(d.month()),
            d.year(),
            openssl_hash(&xml)
        );
        assert_eq!(url, expected_url, "{name}");
        let opts = RenderOptions {
            ksef_number: Some(KSEF_NUMBER.into()),
            kod_i_url: Some(url),
            qr_svg: None,
            kod_ii_url: None,
        };
        let bytes = pdf::render(&view, &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(bytes.starts_with(b"%PDF-"), "{name}");

        let dir = temp_dir(name);
        let text = pdf_text(&dir, &bytes);
        let tokens: Vec<&str> = text.split_whitespace().collect();
        let facts = view.facts();
        let mut must = vec![
            facts.seller_nip.clone(),
            facts.number.clone(),
            facts.issue_date.clone(),
            KSEF_NUMBER.to_string(),
        ];
        must.extend(facts.seller_name.clone());
        must.extend(facts.buyer_id.clone());
        must.extend(facts.buyer_name.clone());
        must.extend(facts.sale_dates.iter().cloned());
        must.extend(facts.line_names.iter().cloned());
        for v in &facts.vat_summary {
            must.extend(v.net.clone());
            must.extend(v.vat.clone());
            must.extend(v.gross.clone());
        }
        must.extend(facts.total.clone());
        must.extend(facts.total_in_words.clone());
        // Everything else the facts list (rates, third parties) too.
        must.extend(facts.all());
        for fact in &must {
            assert!(
                contains_words(&tokens, fact),
                "{name}: {fact:?} missing from pdftotext output:\n{text}"
            );
        }
        assert!(
            facts.seller_name.is_some() && facts.buyer_name.is_some(),
            "{name}"
        );
        assert!(facts.total.is_some(), "{name}");
        for label in ["Sprzedawca", "Nabywca", "Szczegóły", "Pozycje", "Stopka"] {
            assert!(text.contains(label), "{name}: {label}");
        }
        // The footer: "strona N z M" on every page.
        let pages = text.split('\u{c}').filter(|p| !p.trim().is_empty()).count();
        for n in 1..=pages {
            assert!(
                contains_words(&tokens, &format!("strona {n} z {pages}")),
                "{name}: footer of page {n}"
            );
        }

        let codes = pdf_qr_codes(&dir, &bytes);
        assert_eq!(codes, vec![expected_url.clone()], "{name}: QR codes");
        let _ = std::fs::remove_dir_all(&dir);

        // The same invoice issued offline: KOD I labelled OFFLINE, KOD II beside it. The two
        // codes are kept together, so they cost at most one more page.
        let kod_ii = kod_ii(&cert, &xml).url();
        let offline = pdf::render(
            &view,
            &RenderOptions {
                kod_i_url: Some(expected_url.clone()),
                kod_ii_url: Some(kod_ii.clone()),
                ..RenderOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("{name} offline: {e}"));
        let dir = temp_dir(&format!("{name}-offline"));
        let text = pdf_text(&dir, &offline);
        let tokens: Vec<&str> = text.split_whitespace().collect();
        for label in ["OFFLINE", "CERTYFIKAT"] {
            assert!(contains_words(&tokens, label), "{name}: {label}");
        }
        let offline_pages = text.split('\u{c}').filter(|p| !p.trim().is_empty()).count();
        eprintln!("{name}: {pages} page(s) online, {offline_pages} offline with KOD II");
        assert!(
            (pages..=pages + 1).contains(&offline_pages),
            "{name}: {pages} → {offline_pages} pages"
        );
        let mut codes = pdf_qr_codes(&dir, &offline);
        codes.sort();
        let mut both = vec![expected_url.clone(), kod_ii];
        both.sort();
        assert_eq!(codes, both, "{name}: offline QR codes");
        let _ = std::fs::remove_dir_all(&dir);
        rendered += 1;
    }
    assert!(rendered >= 10, "{rendered} invoices rendered");
}

#[test]
fn offline_label_and_no_qr_without_link() {
    let xml = load(&repo_root().join(
        "spec/ksef-client-csharp/KSeF.Client.Tests.Core/Templates/invoice-template-fa-3.xml",
    ));
    let view = InvoiceView::parse(&xml).expect("parses");
    let dir = temp_dir("offline");
    let url = view.kod_i(&LinkBase::test(), &xml).expect("KOD I").url();
    let bytes = pdf::render(
        &view,
        &RenderOptions {
            kod_i_url: Some(url.clone()),
            ..RenderOptions::default()
        },
    )
    .expect("renders");
    let text = pdf_text(&dir, &bytes);
    assert!(text.contains("OFFLINE"));
    assert_eq!(pdf_qr_codes(&dir, &bytes), vec![url]);
    let _ = std::fs::remove_dir_all(&dir);

    let dir = temp_dir("no-link");
    let bytes = pdf::render(&view, &RenderOptions::default()).expect("renders");
    assert!(pdf_qr_codes(&dir, &bytes).is_empty());
    let text = pdf_text(&dir, &bytes);
    assert!(!text.contains("OFFLINE"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn many_lines_break_across_pages() {
    // The FA(3) sample with its first line repeated 120 times: the table spans several pages and
    // every line is there exactly once.
    let xml = String::from_utf8(load(&repo_root().join(
        "spec/ksef-client-csharp/KSeF.Client.Tests.Core/Templates/invoice-template-fa-3.xml",
    )))
    .expect("utf-8");
    let start = xml.find("<FaWiersz>").expect("a line");
    let end = xml.find("</FaWiersz>").expect("a line") + "</FaWiersz>".len();
    let line = &xml[start..end];
    let others = xml.matches("<FaWiersz>").count() - 1;
    let mut lines = String::new();
    for i in 1..=120 {
        let l = regex_free_replace(line, "NrWierszaFa", &i.to_string());
        lines.push_str(&l.replace("<P_7>", &format!("<P_7>Pozycja numer {i:03} ")));
    }
    let xml = format!("{}{}{}", &xml[..start], lines, &xml[end..]);
    let view = InvoiceView::parse(xml.as_bytes()).expect("parses");
    assert_eq!(view.lines.len(), 120 + others);
    let bytes = pdf::render(&view, &RenderOptions::default()).expect("renders");
    let dir = temp_dir("many-lines");
    let text = pdf_text(&dir, &bytes);
    let pages = text.split('\u{c}').filter(|p| !p.trim().is_empty()).count();
    assert!(pages >= 3, "{pages} pages");
    for i in 1..=120 {
        let needle = format!("Pozycja numer {i:03}");
        assert_eq!(text.matches(&needle).count(), 1, "{needle}");
    }
    assert!(text.contains(&format!("strona {pages} z {pages}")));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `<tag>…</tag>` with its content replaced.
fn regex_free_replace(xml: &str, tag: &str, value: &str) -> String {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    match (xml.find(&open), xml.find(&close)) {
        (Some(a), Some(b)) => format!("{}{open}{value}{}", &xml[..a], &xml[b..]),
        _ => xml.to_string(),
    }
}

#[test]
fn every_official_upo_sample_as_pdf() {
    let root = repo_root().join("spec/ksef-docs/faktury/upo/przyklady/v4-3");
    let mut files = Vec::new();
    for d in std::fs::read_dir(&root).expect("UPO samples") {
        for f in std::fs::read_dir(d.expect("entry").path()).expect("dir") {
            let p = f.expect("entry").path();
            if p.extension().is_some_and(|x| x == "xml") {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    for path in files {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        let xml = std::fs::read(&path).expect("read");
        let bytes = ksef_visual::upo_pdf::render(&xml).unwrap_or_else(|e| panic!("{name}: {e}"));
        let dir = temp_dir(name);
        let text = pdf_text(&dir, &bytes);
        let tokens: Vec<&str> = text.split_whitespace().collect();
        let doc =
            roxmltree::Document::parse(std::str::from_utf8(&xml).expect("utf-8")).expect("xml");
        for tag in [
            "NumerReferencyjnySesji",
            "NumerKSeFDokumentu",
            "NumerFaktury",
            "NipSprzedawcy",
            "SkrotDokumentu",
            "TrybWysylki",
        ] {
            let values: Vec<&str> = doc
                .descendants()
                .filter(|n| n.tag_name().name() == tag)
                .filter_map(|n| n.text())
                .collect();
            assert!(!values.is_empty(), "{name}: no {tag}");
            for v in values {
                // Long values wrap inside their table cell: the pieces are found in order.
                assert!(
                    contains_words(&tokens, v),
                    "{name}: {tag} {v} missing:\n{text}"
                );
            }
        }
        assert!(text.contains("strona 1 z 1"), "{name}");
        let _ = std::fs::remove_dir_all(&dir);
    }
    // An invoice is no UPO.
    let inv = load(&repo_root().join(
        "spec/ksef-client-csharp/KSeF.Client.Tests.Core/Templates/invoice-template-fa-3.xml",
    ));
    let e = ksef_visual::upo_pdf::render(&inv).expect_err("not a UPO");
    assert!(e.to_string().starts_with("not a KSeF UPO"), "{e}");
}

/// An offline invoice: KOD I labelled `OFFLINE` and KOD II labelled `CERTYFIKAT`, side by
/// side. The KOD II link is real: signed with a KSeF `Offline` certificate (RSA and EC), its
/// hash computed by openssl. zbarimg must read exactly the two links from the page, and what
/// it reads of KOD II must carry a signature the certificate verifies.
#[test]
fn offline_invoice_carries_kod_i_and_kod_ii() {
    let xml = load(&repo_root().join(
        "spec/ksef-client-csharp/KSeF.Client.Tests.Core/Templates/invoice-template-fa-3.xml",
    ));
    let view = InvoiceView::parse(&xml).expect("parses");
    let hash = openssl_hash(&xml);
    let kod_i = view.kod_i(&LinkBase::test(), &xml).expect("KOD I").url();
    for algorithm in [KeyAlgorithm::Rsa2048, KeyAlgorithm::EcP256] {
        let cert = offline_certificate(algorithm);
        let link = kod_ii(&cert, &xml);
        let kod_ii = link.url();
        let prefix = format!(
            "https://{HOST_TEST}/certificate/Nip/{SELLER_NIP}/{SELLER_NIP}/{OFFLINE_CERT_SERIAL}/{hash}/"
        );
        assert!(kod_ii.starts_with(&prefix), "{kod_ii}");
        let bytes = pdf::render(
            &view,
            &RenderOptions {
                kod_i_url: Some(kod_i.clone()),
                kod_ii_url: Some(kod_ii.clone()),
                ..RenderOptions::default()
            },
        )
        .expect("renders");
        let dir = temp_dir(&format!("kod-ii-{algorithm:?}"));
        let text = pdf_text(&dir, &bytes);
        let tokens: Vec<&str> = text.split_whitespace().collect();
        for must in [
            "OFFLINE",
            "CERTYFIKAT",
            "Sprawdź, czy Twoja faktura znajduje się w KSeF!",
            "Zweryfikuj dostawcę faktury",
            "Kod CERTYFIKAT potwierdza tożsamość wystawcy",
            kod_i.as_str(),
            kod_ii.as_str(),
        ] {
            assert!(
                contains_words(&tokens, must),
                "{algorithm:?}: {must:?} missing:\n{text}"
            );
        }
        let mut codes = pdf_qr_codes(&dir, &bytes);
        codes.sort();
        let mut expected = vec![kod_i.clone(), kod_ii.clone()];
        expected.sort();
        assert_eq!(codes, expected, "{algorithm:?}: QR codes");
        // The printed KOD II verifies with the certificate.
        let printed = codes
            .iter()
            .find(|c| c.contains("/certificate/"))
            .expect("KOD II");
        match VerificationLink::parse(printed).expect("KOD II parses") {
            VerificationLink::Certificate(l) => {
                verify_certificate_link(&cert.certificate_der, &l).expect("signature verifies")
            }
            other => panic!("{other:?}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
