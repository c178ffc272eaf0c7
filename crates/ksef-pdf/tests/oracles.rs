//! The PDFs read back by independent tools: poppler-utils (`pdftotext`, `pdfinfo`, `pdffonts`,
//! `pdftoppm`) and zbar-tools (`zbarimg`). `scripts/test.sh` installs them; a missing tool
//! fails the test (it is never skipped).

use std::path::{Path, PathBuf};
use std::process::Command;

use ksef_pdf::{Align, Block, Document, Table};

const POLISH: &str = "ąćęłńóśźż ĄĆĘŁŃÓŚŹŻ";

/// Runs an oracle tool and returns its standard output; panics loudly if the tool is missing
/// or fails.
fn run(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!(
            "cannot run `{tool}` ({e}): install poppler-utils and zbar-tools \
             (scripts/test.sh does: apt-get install poppler-utils zbar-tools)"
        )
    });
    assert!(
        out.status.success(),
        "`{tool} {}` failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("tool output is UTF-8")
}

fn write(dir: &Path, name: &str, pdf: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pdf).unwrap();
    path
}

fn text(pdf: &Path) -> String {
    run("pdftotext", &["-enc", "UTF-8", pdf.to_str().unwrap(), "-"])
}

fn page_text(pdf: &Path, page: usize) -> String {
    let p = page.to_string();
    run(
        "pdftotext",
        &[
            "-enc",
            "UTF-8",
            "-f",
            &p,
            "-l",
            &p,
            pdf.to_str().unwrap(),
            "-",
        ],
    )
}

fn pages(pdf: &Path) -> usize {
    let info = run("pdfinfo", &[pdf.to_str().unwrap()]);
    info.lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .expect("pdfinfo prints Pages:")
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn polish_letters_come_back_from_every_kind_of_block() {
    let dir = tempfile::tempdir().unwrap();
    let mut table = Table::new(
        &["Nazwa", "Kwota"],
        &[0.7, 0.3],
        &[Align::Left, Align::Right],
    )
    .unwrap();
    table
        .push_row([format!("tabela {POLISH}"), "1,00".to_owned()])
        .unwrap();
    let mut doc = Document::new(format!("Tytuł {POLISH}"));
    doc.footer(format!("stopka {POLISH}"))
        .heading(format!("nagłówek {POLISH}"), 1)
        .paragraph(format!("akapit {POLISH}"))
        .small(format!("drobny {POLISH}"))
        .key_values(&[(format!("etykieta {POLISH}"), format!("wartość {POLISH}"))])
        .columns(
            vec![Block::paragraph(format!("lewa {POLISH}"))],
            vec![Block::paragraph(format!("prawa {POLISH}"))],
        )
        .table(table)
        .totals(&[(format!("suma {POLISH}"), "1,00 zł")]);
    let pdf = write(dir.path(), "polish.pdf", &doc.render().unwrap());

    let text = text(&pdf);
    for what in [
        "nagłówek",
        "akapit",
        "drobny",
        "etykieta",
        "wartość",
        "lewa",
        "prawa",
        "tabela",
        "suma",
        "stopka",
    ] {
        let expected = format!("{what} {POLISH}");
        assert!(text.contains(&expected), "{expected:?} not in:\n{text}");
    }
    assert!(text.contains("1,00 zł"), "{text}");
    assert!(text.contains("strona 1 z 1"), "{text}");

    let info = run("pdfinfo", &[pdf.to_str().unwrap()]);
    assert!(info.contains(&format!("Tytuł {POLISH}")), "{info}");
    assert!(info.contains("A4"), "{info}");

    // Both faces embedded as subsets with a ToUnicode map: "emb sub uni" = "yes yes yes".
    let fonts = run("pdffonts", &[pdf.to_str().unwrap()]);
    let faces: Vec<&str> = fonts.lines().filter(|l| l.contains("DejaVu")).collect();
    assert_eq!(faces.len(), 2, "{fonts}");
    for face in faces {
        assert!(face.contains("yes yes yes"), "{fonts}");
    }
    // Subsetting keeps the file small (each embedded TTF is ~0.7 MB).
    let size = std::fs::metadata(&pdf).unwrap().len();
    assert!(size < 60_000, "{size} bytes");
}

#[test]
fn a_long_table_breaks_across_pages_and_repeats_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let mut table = Table::new(
        &["Lp.", "Nagłówek kolumny nazwy", "Wartość zł"],
        &[1.0, 6.0, 2.0],
        &[Align::Right, Align::Left, Align::Right],
    )
    .unwrap();
    for i in 1..=200 {
        table
            .push_row([
                format!("{i}"),
                format!("pozycja-{i:04} żółta gęś"),
                format!("{i},00"),
            ])
            .unwrap();
    }
    let mut doc = Document::new("Długa tabela");
    doc.heading("Długa tabela", 1)
        .paragraph("Tabela poniżej ma 200 wierszy.")
        .table(table)
        .paragraph("Koniec dokumentu.");
    let pdf = write(dir.path(), "table.pdf", &doc.render().unwrap());

    let n = pages(&pdf);
    assert!(n > 1, "{n} pages");
    let mut rows_seen = Vec::new();
    for page in 1..=n {
        let text = page_text(&pdf, page);
        for header in ["Lp.", "Nagłówek kolumny nazwy", "Wartość zł"] {
            assert!(text.contains(header), "page {page}: no {header:?}:\n{text}");
        }
        assert_eq!(
            text.matches("Nagłówek kolumny nazwy").count(),
            1,
            "page {page}"
        );
        assert!(
            text.contains(&format!("strona {page} z {n}")),
            "page {page}:\n{text}"
        );
        rows_seen.extend(
            text.match_indices("pozycja-")
                .map(|(i, _)| text[i + 8..i + 12].parse::<u32>().unwrap()),
        );
    }
    // Every row exactly once, in order.
    assert_eq!(rows_seen, (1..=200).collect::<Vec<_>>());
    assert!(page_text(&pdf, n).contains("Koniec dokumentu."));
}

#[test]
fn qr_codes_decode_to_their_exact_data() {
    let dir = tempfile::tempdir().unwrap();
    let url = "https://qr-test.ksef.mf.gov.pl/invoice/5265877635/26-10-2025/\
               UtQp9Gpc51y-u3xApZjIjgkpZ01js-J8KflSPW8WzIE";
    let short = "5265877635-20251026-0100A0A0A0A0-A0";
    let mut doc = Document::new("QR");
    doc.qr(url, "KSeF: 5265877635-20251026-0100A0A0A0A0-A0")
        .unwrap()
        .columns(
            vec![Block::paragraph("Kod obok tekstu")],
            vec![Block::qr_sized(short, "mały kod", 60.0).unwrap()],
        );
    let pdf = write(dir.path(), "qr.pdf", &doc.render().unwrap());
    assert!(text(&pdf).contains("KSeF: 5265877635-20251026-0100A0A0A0A0-A0"));

    let png_root = dir.path().join("page");
    run(
        "pdftoppm",
        &[
            "-r",
            "200",
            "-png",
            "-singlefile",
            pdf.to_str().unwrap(),
            png_root.to_str().unwrap(),
        ],
    );
    let png = dir.path().join("page.png");
    let decoded = run("zbarimg", &["-q", "--raw", png.to_str().unwrap()]);
    let mut found: Vec<&str> = decoded.lines().collect();
    found.sort_unstable();
    let mut expected = vec![url, short];
    expected.sort_unstable();
    assert_eq!(found, expected);
}

#[test]
fn an_empty_document_is_one_page_with_its_footer() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = write(
        dir.path(),
        "empty.pdf",
        &Document::new("").render().unwrap(),
    );
    assert_eq!(pages(&pdf), 1);
    assert!(text(&pdf).contains("strona 1 z 1"));
}
