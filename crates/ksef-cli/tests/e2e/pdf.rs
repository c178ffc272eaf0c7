//! `ksef invoice pdf` and `ksef upo pdf` end to end: the real binary renders the official FA(3)
//! sample (KOD I decoded by zbarimg from a pdftoppm rendering equals the link computed with
//! openssl; pdftotext finds the facts), refuses files that are not invoices with a clear
//! English message and a non-zero exit, and leaves no output file behind when it fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_ksef");
const KSEF_NUMBER: &str = "5265877635-20260203-0100A0B1C2D3-4E";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ksef(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("KSEF_BASE_URL")
        .env_remove("KSEF_ENV")
        // A data dir that must stay untouched: rendering needs no store.
        .env("KSEF_DATA_DIR", dir.join("data"))
        .output()
        .expect("ksef runs")
}

fn tool(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (install poppler-utils, zbar-tools, openssl)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn invoice_pdf_renders_kod_i_and_refuses_non_invoices() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let sample = std::fs::read_to_string(repo_root().join(
        "spec/ksef-client-csharp/KSeF.Client.Tests.Core/Templates/invoice-template-fa-3.xml",
    ))
    .expect("sample");
    let xml = sample
        .replace("#nip#", "5265877635")
        .replace("#invoice_number#", "FV/2026/02/0042");
    std::fs::write(dir.join("fv.xml"), &xml).expect("write");

    let out = ksef(
        dir,
        &[
            "invoice",
            "pdf",
            "fv.xml",
            "--ksef-number",
            KSEF_NUMBER,
            "--env-host",
            "demo",
            "-o",
            "fv.pdf",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.join("data").exists(), "rendering touched the data dir");
    let pdf = dir.join("fv.pdf");
    assert!(std::fs::read(&pdf).expect("pdf").starts_with(b"%PDF-"));

    let text = tool(Command::new("pdftotext").arg("-layout").arg(&pdf).arg("-"));
    let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
    // A long invoice number may wrap in the header.
    let squeezed: String = text.split_whitespace().collect();
    assert!(
        squeezed.contains("FA/GRQMB-FV/2026/02/0042/05/2025"),
        "{text}"
    );
    for s in [
        "5265877635",
        "Elektrownia S.A.",
        "F.H.U. Jan Kowalski",
        "01.09.2025",
        "53,63 zł",
        KSEF_NUMBER,
    ] {
        assert!(words.contains(s), "{s:?} missing:\n{text}");
    }

    let hash = tool(
        Command::new("sh")
            .arg("-c")
            .arg("openssl dgst -sha256 -binary \"$1\" | openssl base64 -A | tr '+/' '-_' | tr -d '='")
            .arg("sh")
            .arg(dir.join("fv.xml")),
    );
    let expected = format!(
        "https://qr-demo.ksef.mf.gov.pl/invoice/5265877635/01-09-2025/{}",
        hash.trim()
    );
    tool(
        Command::new("pdftoppm")
            .args(["-r", "200", "-png"])
            .arg(&pdf)
            .arg(dir.join("page")),
    );
    let mut codes = Vec::new();
    for e in std::fs::read_dir(dir).expect("dir") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "png") {
            let out = Command::new("zbarimg")
                .args(["--raw", "-q"])
                .arg(&p)
                .output()
                .expect("zbarimg (install zbar-tools)");
            codes.extend(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_string),
            );
        }
    }
    assert_eq!(codes, vec![expected]);

    // --env picks the host when --env-host is absent.
    let out = ksef(
        dir,
        &[
            "--env", "prod", "invoice", "pdf", "fv.xml", "-o", "prod.pdf",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Not an invoice: clear English error, non-zero exit, no output file.
    std::fs::write(dir.join("notes.txt"), "hello").expect("write");
    std::fs::write(
        dir.join("other.xml"),
        "<?xml version=\"1.0\"?><Order xmlns=\"urn:x\"><Id>1</Id></Order>",
    )
    .expect("write");
    for (file, msg) in [
        ("notes.txt", "not well-formed XML"),
        ("other.xml", "not a KSeF invoice: {urn:x}Order"),
        ("missing.xml", "cannot read missing.xml"),
    ] {
        let out = ksef(dir, &["invoice", "pdf", file, "-o", "bad.pdf"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{file}: exit 0");
        assert!(err.starts_with("error: "), "{file}: {err}");
        assert!(err.contains(msg), "{file}: {err}");
        assert!(!dir.join("bad.pdf").exists(), "{file}: partial output");
    }
    // An existing output file is left as it was when rendering fails.
    std::fs::write(dir.join("keep.pdf"), b"old").expect("write");
    let out = ksef(dir, &["invoice", "pdf", "other.xml", "-o", "keep.pdf"]);
    assert!(!out.status.success());
    assert_eq!(std::fs::read(dir.join("keep.pdf")).expect("read"), b"old");
    // No temporary files left around.
    let names: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".png"))
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "fv.pdf",
            "fv.xml",
            "keep.pdf",
            "notes.txt",
            "other.xml",
            "prod.pdf"
        ],
        "{names:?}"
    );
    let out = ksef(
        dir,
        &[
            "invoice",
            "pdf",
            "fv.xml",
            "--env-host",
            "mars",
            "-o",
            "x.pdf",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--env-host"));
}

#[test]
fn upo_pdf_renders_the_official_sample() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let upo = repo_root().join(
        "spec/ksef-docs/faktury/upo/przyklady/v4-3/kontekst-nip/upo-sesja-kontekst-id-nip.xml",
    );
    let out = ksef(
        dir,
        &["upo", "pdf", upo.to_str().expect("path"), "-o", "upo.pdf"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = tool(
        Command::new("pdftotext")
            .arg("-layout")
            .arg(dir.join("upo.pdf"))
            .arg("-"),
    );
    for s in [
        "Urzędowe Poświadczenie Odbioru",
        "36950822-93-9D5A28BFDA-47C899773E-5C",
        "5265877635",
        "FA (3)",
        "Online",
    ] {
        assert!(text.contains(s), "{s:?} missing:\n{text}");
    }
    // An invoice is no UPO.
    std::fs::write(
        dir.join("inv.xml"),
        "<?xml version=\"1.0\"?><Faktura xmlns=\"http://crd.gov.pl/wzor/2025/06/25/13775/\"/>",
    )
    .expect("write");
    let out = ksef(dir, &["upo", "pdf", "inv.xml", "-o", "bad.pdf"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a KSeF UPO"));
    assert!(!dir.join("bad.pdf").exists());
}
