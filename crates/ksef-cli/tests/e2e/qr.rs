//! `ksef invoice qr` end to end, every result checked by an independent oracle:
//!
//! * KOD I of every official invoice template vendored in `spec/` equals the link built from
//!   `openssl dgst -sha256 -binary | basenc --base64url` of the exact file and the seller's NIP
//!   and issue date read with `xmllint --xpath`; the PNG decodes (`zbarimg`) to that link.
//! * KOD II made with RSA and EC KSeF `Offline` certificates enrolled from a real emulator: the
//!   signed text is the documented one, and `openssl dgst -verify` accepts the signature
//!   (RSASSA-PSS SHA-256 with a 32-byte salt; ECDSA P-256 SHA-256 after turning P1363 `R||S`
//!   into DER) and refuses it over other text; the PNG and the SVG (rendered by headless
//!   Chromium) decode to both links. An `Authentication` certificate is refused with a clear
//!   message, a non-zero exit and no image written.
//!
//! The oracles (openssl, basenc, xmllint, zbarimg, chromium) are required: a missing one fails
//! the test.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ksef_core::Nip;
use ksef_testkit::EmulatorProcess;
use ksef_testkit::cli::Program;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ksef");
const SELLER_NIP: &str = "5265877635";
const BUYER_NIP: &str = "7010002137";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs an oracle that must succeed; its stdout. A missing tool fails the test.
fn tool(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("{cmd:?}: {e} (install openssl, coreutils, libxml2-utils, zbar-tools, chromium)")
    });
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn sh(script: &str, args: &[&Path]) -> String {
    tool(
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .args(args),
    )
}

/// Base64URL of SHA-256 of the file, without padding: openssl and coreutils.
fn oracle_hash(file: &Path) -> String {
    sh(
        "openssl dgst -sha256 -binary \"$1\" | basenc --base64url | tr -d '=\\n'",
        &[file],
    )
}

fn xpath(file: &Path, expr: &str) -> String {
    tool(Command::new("xmllint").arg("--xpath").arg(expr).arg(file))
        .trim()
        .to_string()
}

/// The seller's NIP and the issue date as `DD-MM-YYYY`, read with xmllint: `Podmiot1` and
/// `P_1` (FA_RR: `P_4B`), or the UBL supplier's tax id and `cbc:IssueDate`.
fn oracle_nip_and_date(file: &Path) -> (String, String) {
    let (nip, date) = match xpath(file, "local-name(/*)").as_str() {
        "Faktura" => (
            xpath(
                file,
                "string(/*/*[local-name()='Podmiot1']/*[local-name()='DaneIdentyfikacyjne']/*[local-name()='NIP'])",
            ),
            xpath(
                file,
                "string(/*/*[local-name()='Fa']/*[local-name()='P_1'] | /*/*[local-name()='FakturaRR']/*[local-name()='P_4B'])",
            ),
        ),
        "Invoice" | "CreditNote" => (
            xpath(
                file,
                "string(/*/*[local-name()='AccountingSupplierParty']/*[local-name()='Party']/*[local-name()='PartyTaxScheme']/*[local-name()='CompanyID'])",
            ),
            xpath(file, "string(/*/*[local-name()='IssueDate'])"),
        ),
        other => panic!("{}: root {other:?}", file.display()),
    };
    let nip = nip.strip_prefix("PL").unwrap_or(&nip).to_string();
    assert_eq!(date.len(), 10, "{}: date {date:?}", file.display());
    let dmy = format!("{}-{}-{}", &date[8..10], &date[5..7], &date[0..4]);
    (nip, dmy)
}

fn zbar(png: &Path) -> BTreeSet<String> {
    tool(Command::new("zbarimg").args(["--raw", "-q"]).arg(png))
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The SVG as headless Chromium draws it, decoded by zbarimg.
fn zbar_svg(svg: &Path, dir: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(svg).expect("svg");
    let attr = |name: &str| -> u32 {
        let start = text.find(&format!(" {name}=\"")).expect(name) + name.len() + 3;
        text[start..]
            .split('"')
            .next()
            .expect(name)
            .parse()
            .expect(name)
    };
    let shot = dir.join("svg-shot.png");
    let _ = std::fs::remove_file(&shot);
    tool(
        Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
            ])
            .arg(format!("--screenshot={}", shot.display()))
            .arg(format!(
                "--window-size={},{}",
                attr("width"),
                attr("height")
            ))
            .arg(format!("file://{}", svg.display())),
    );
    zbar(&shot)
}

/// Every official invoice template vendored in the repository.
fn templates() -> Vec<PathBuf> {
    let dirs = [
        "spec/ksef-client-csharp/KSeF.Client.Tests.Core/Templates",
        "spec/ksef-client-csharp/KSeF.DemoWebApp",
        "spec/ksef-client-java/demo-web-app/src/integrationTest/resources/xml/invoices/sample",
    ];
    let mut out = Vec::new();
    for d in dirs {
        let dir = repo_root().join(d);
        for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let p = e.expect("entry").path();
            if p.extension().is_some_and(|x| x == "xml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A template with its placeholders filled in.
fn fill(path: &Path, seller: &str) -> String {
    let text = std::fs::read_to_string(path).expect("template is UTF-8");
    let filled = [
        ("#nip#", seller),
        ("#supplier_nip#", seller),
        ("#nip_podmiot1#", seller),
        ("#selfInvocingNip#", seller),
        ("#nip_podmiot2#", BUYER_NIP),
        ("#nipOdbiorca#", BUYER_NIP),
        ("#buyer_nip#", BUYER_NIP),
        ("#nip1_podmiot3#", "9512345675"),
        ("#nip2_podmiot3#", "1132345673"),
        ("#idwew1_podmiot3#", "9512345675-00001"),
        ("#idwew2_podmiot3#", "1132345673-00002"),
        ("#invoice_number#", "FV/2026/02/0042"),
        ("#issue_date#", "2026-02-03"),
        ("#invoicing_date#", "2026-02-03"),
        ("#due_date#", "2026-02-17"),
        ("#ksef_number#", "5265877635-20250916-0200A0D6723E-C2"),
        ("#buyer_reference#", "REF-1"),
        ("#iban#", "PL61109010140000071219812874"),
    ]
    .iter()
    .fold(text, |t, (k, v)| t.replace(k, v));
    // `#compliant#` and `#extended#` are literal parts of the Peppol customisation ids.
    let left: Vec<&str> = filled
        .split('#')
        .skip(1)
        .step_by(2)
        .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !["compliant", "extended"].contains(w))
        .collect();
    assert!(left.is_empty(), "{}: placeholders {left:?}", path.display());
    filled
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

#[test]
fn kod_i_of_every_official_template_equals_the_oracle_and_its_png_decodes() {
    // No emulator: the links are made locally, for the TEST environment's QR host.
    let k = Program::new(BIN, "https://api-test.ksef.mf.gov.pl/v2");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let files = templates();
    assert!(files.len() >= 13, "templates: {files:?}");
    let mut roots = BTreeSet::new();
    for path in &files {
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        let file = dir.join(name);
        std::fs::write(&file, fill(path, SELLER_NIP)).expect("write");
        let png = dir.join(format!("{name}.png"));
        let out = k.json(&["invoice", "qr", s(&file), "--png", s(&png)]);

        let (nip, date) = oracle_nip_and_date(&file);
        let expected = format!(
            "https://qr-test.ksef.mf.gov.pl/invoice/{nip}/{date}/{}",
            oracle_hash(&file)
        );
        assert_eq!(out["kod1"], expected.as_str(), "{name}: {out}");
        assert_eq!(out["kod1Label"], "OFFLINE", "{name}");
        assert!(out.get("kod2").is_none(), "{name}: {out}");
        assert_eq!(zbar(&png), BTreeSet::from([expected]), "{name}");
        roots.insert(xpath(&file, "local-name(/*)"));
    }
    assert_eq!(
        roots,
        BTreeSet::from(["CreditNote".into(), "Faktura".into(), "Invoice".into()])
    );

    // The label under KOD I is the KSeF number when given; DEMO and PRD have their own hosts.
    let file = dir.join("invoice-template-fa-3.xml");
    let number = ksef_core::KsefNumber::generate(
        SELLER_NIP.parse::<Nip>().expect("nip"),
        time::macros::date!(2026 - 02 - 03),
    );
    for (env, host) in [
        ("demo", "qr-demo.ksef.mf.gov.pl"),
        ("prod", "qr.ksef.mf.gov.pl"),
    ] {
        let out = tool(
            k.cmd(&[
                "--env",
                env,
                "--json",
                "invoice",
                "qr",
                s(&file),
                "--ksef-number",
                number.as_str(),
            ])
            .env_remove("KSEF_BASE_URL"),
        );
        let out: Value = serde_json::from_str(&out).expect("json");
        assert!(
            out["kod1"]
                .as_str()
                .is_some_and(|u| u.starts_with(&format!("https://{host}/invoice/{SELLER_NIP}/"))),
            "{env}: {out}"
        );
        assert_eq!(out["kod1Label"], number.as_str());
    }

    // Not an invoice, a bad KSeF number: clear errors, non-zero exit.
    std::fs::write(dir.join("notes.xml"), "<notes/>").expect("write");
    let e = k.fails(&["invoice", "qr", s(&dir.join("notes.xml"))]);
    assert!(e.contains("is not a KSeF invoice"), "{e}");
    let e = k.fails(&[
        "invoice",
        "qr",
        s(&file),
        "--ksef-number",
        "5265877635-20260203-0100A0B1C2D3-4E",
    ]);
    assert!(e.contains("--ksef-number") && e.contains("checksum"), "{e}");
    let e = k.fails(&[
        "invoice",
        "qr",
        s(&file),
        "--cert",
        s(&file),
        "--context",
        "Pesel:1",
    ]);
    assert!(e.contains("--context"), "{e}");
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

/// A KSeF certificate of `kind` for the logged-in subject; its serial number.
fn enroll(k: &Program, name: &str, kind: &str, ec: bool, out: &Path, pw: &Path) -> String {
    let mut args = vec![
        "cert",
        "enroll",
        "--name",
        name,
        "--type",
        kind,
        "--out",
        s(out),
        "--password-file",
        s(pw),
    ];
    if ec {
        args.push("--ec");
    }
    let done = k.json(&args);
    assert_eq!(done["certificateType"], kind, "{done}");
    done["serialNumber"].as_str().expect("serial").to_string()
}

#[test]
fn kod_ii_of_offline_certificates_verifies_with_openssl_and_authentication_is_refused() {
    let emu = EmulatorProcess::start(BIN, &["--auth-delay-ms", "20"]);
    let k = Program::new(BIN, &emu.base_url);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let nip = Nip::random();
    k.login_owner(&nip, dir);
    // ASCII: openssl reads it from the file as the PKCS#12 password.
    let pw = write(dir, "offline-pw.txt", "Offline cert password 7\n");
    let rsa = dir.join("offline-rsa.p12");
    let ec = dir.join("offline-ec.p12");
    let auth = dir.join("auth-ec.p12");
    let rsa_serial = enroll(&k, "Offline RSA", "Offline", false, &rsa, &pw);
    let ec_serial = enroll(&k, "Offline EC", "Offline", true, &ec, &pw);
    enroll(&k, "Logowanie EC", "Authentication", true, &auth, &pw);

    let invoice = dir.join("fv.xml");
    std::fs::write(
        &invoice,
        fill(
            &repo_root().join("spec/ksef-client-csharp/KSeF.Client.Tests.Core/Templates/invoice-template-fa-3.xml"),
            nip.as_str(),
        ),
    )
    .expect("write");
    // The emulator's own origin: its verification pages.
    let origin = emu.base_url.trim_end_matches("/v2");
    let authority = origin.strip_prefix("http://").expect("http origin");
    let hash = oracle_hash(&invoice);
    let (oracle_nip, date) = oracle_nip_and_date(&invoice);
    assert_eq!(oracle_nip, nip.as_str());
    let kod1 = format!("{origin}/invoice/{nip}/{date}/{hash}");

    for (cert, serial, is_rsa) in [(&rsa, &rsa_serial, true), (&ec, &ec_serial, false)] {
        let kind = if is_rsa { "RSA" } else { "EC" };
        let png = dir.join(format!("{kind}.png"));
        let svg = dir.join(format!("{kind}.svg"));
        let out = k.json(&[
            "invoice",
            "qr",
            s(&invoice),
            "--cert",
            s(cert),
            "--password-file",
            s(&pw),
            "--png",
            s(&png),
            "--svg",
            s(&svg),
        ]);
        assert_eq!(out["kod1"], kod1.as_str(), "{kind}: {out}");
        assert_eq!(out["kod1Label"], "OFFLINE");
        assert_eq!(out["kod2Label"], "CERTYFIKAT");
        let kod2 = out["kod2"].as_str().expect("kod2").to_string();

        // The signed text is the link without the scheme, up to the hash.
        let (signed, signature) = kod2
            .strip_prefix("http://")
            .and_then(|rest| rest.rsplit_once('/'))
            .expect("a KOD II link");
        assert_eq!(
            signed,
            format!("{authority}/certificate/Nip/{nip}/{nip}/{serial}/{hash}"),
            "{kind}"
        );
        let data = write(dir, "signed.txt", signed);
        let tampered = write(
            dir,
            "tampered.txt",
            &signed.replacen(nip.as_str(), BUYER_NIP, 1),
        );
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .expect("Base64URL signature");
        let public = dir.join(format!("{kind}-pub.pem"));
        std::fs::write(
            &public,
            sh(
                "openssl pkcs12 -in \"$1\" -passin file:\"$2\" -nokeys -clcerts | openssl x509 -pubkey -noout",
                &[cert, &pw],
            ),
        )
        .expect("write");
        let verify = |data: &Path, sig: &Path, extra: &[&str]| {
            Command::new("openssl")
                .args(["dgst", "-sha256"])
                .args(extra)
                .arg("-verify")
                .arg(&public)
                .arg("-signature")
                .arg(sig)
                .arg(data)
                .output()
                .expect("openssl runs (install openssl)")
        };
        if is_rsa {
            assert_eq!(signature.len(), 256, "RSA-2048 signature");
            let sig = dir.join("rsa.sig");
            std::fs::write(&sig, &signature).expect("write");
            let pss = |salt: &'static str| ["-sigopt", "rsa_padding_mode:pss", "-sigopt", salt];
            let ok = verify(&data, &sig, &pss("rsa_pss_saltlen:32"));
            assert!(
                ok.status.success() && String::from_utf8_lossy(&ok.stdout).contains("Verified OK"),
                "{}{}",
                String::from_utf8_lossy(&ok.stdout),
                String::from_utf8_lossy(&ok.stderr)
            );
            assert!(
                !verify(&tampered, &sig, &pss("rsa_pss_saltlen:32"))
                    .status
                    .success()
            );
            // The salt is exactly 32 bytes.
            assert!(
                !verify(&data, &sig, &pss("rsa_pss_saltlen:20"))
                    .status
                    .success()
            );
        } else {
            assert_eq!(signature.len(), 64, "ECDSA P-256 as IEEE P1363 R||S");
            let der = ksef_crypto::p256::ecdsa::Signature::from_slice(&signature)
                .expect("R||S")
                .to_der();
            let sig = dir.join("ec.sig");
            std::fs::write(&sig, der.as_bytes()).expect("write");
            let ok = verify(&data, &sig, &[]);
            assert!(
                ok.status.success() && String::from_utf8_lossy(&ok.stdout).contains("Verified OK"),
                "{}{}",
                String::from_utf8_lossy(&ok.stdout),
                String::from_utf8_lossy(&ok.stderr)
            );
            assert!(!verify(&tampered, &sig, &[]).status.success());
        }

        let both = BTreeSet::from([kod1.clone(), kod2.clone()]);
        assert_eq!(zbar(&png), both, "{kind} PNG");
        assert_eq!(zbar_svg(&svg, dir), both, "{kind} SVG");
        let svg_text = std::fs::read_to_string(&svg).expect("svg");
        assert!(svg_text.contains(">OFFLINE</text>") && svg_text.contains(">CERTYFIKAT</text>"));
    }

    // Another context: its type and value are in the link (and signed).
    let internal = ksef_core::InternalId::new(&nip, 1).expect("InternalId");
    let out = k.json(&[
        "invoice",
        "qr",
        s(&invoice),
        "--cert",
        s(&ec),
        "--password-file",
        s(&pw),
        "--context",
        &format!("InternalId:{internal}"),
    ]);
    assert!(
        out["kod2"].as_str().is_some_and(|u| u.starts_with(&format!(
            "{origin}/certificate/InternalId/{internal}/{nip}/{ec_serial}/{hash}/"
        ))),
        "{out}"
    );

    // An Authentication certificate may not sign KOD II.
    let refused = dir.join("refused.png");
    let (stdout, e) = k.fails_with_output(&[
        "invoice",
        "qr",
        s(&invoice),
        "--cert",
        s(&auth),
        "--password-file",
        s(&pw),
        "--png",
        s(&refused),
    ]);
    assert!(
        e.contains("Authentication certificate") && e.contains("type Offline"),
        "{e}"
    );
    assert!(e.contains("auth-ec.p12"), "{e}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(!refused.exists(), "an image was written");
}
