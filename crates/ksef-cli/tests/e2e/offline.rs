//! `ksef offline …` end to end: the `ksef` binary against a real `ksef emulator` process —
//! invoices issued offline in each mode with their deadlines (Christmas holidays and weekends
//! counted), overdue ones flagged in `offline list` and `invoice list`, sending them with
//! `offlineMode` into the same register rows (KSeF's metadata says `Offline`), and the
//! technical correction of a rejected one: accepted and linked to its original; a second one
//! and one of an accepted invoice refused with the rule explained — by the program, or by KSeF
//! (21166) when another installation of the program did not know.

use std::path::{Path, PathBuf};

use ksef_core::Nip;
use ksef_testkit::EmulatorProcess;
use ksef_testkit::cli::Program;
use ksef_testkit::invoices;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ksef");

fn emulator() -> EmulatorProcess {
    EmulatorProcess::start(
        BIN,
        &["--auth-delay-ms", "20", "--token-activation-ms", "20"],
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// An FA(3) of seller `nip` issued on `issued` (`P_1`), `P_2` = `FA/GRQMB-{number}/05/2025`.
fn invoice(dir: &Path, nip: &Nip, number: &str, issued: &str) -> PathBuf {
    let bytes = invoices::with_element_text(&invoices::fa3(nip.as_str(), number), "P_1", issued);
    let p = dir.join(format!("{number}.xml"));
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Yesterday (UTC): a `P_1` KSeF takes today whatever its time zone.
fn yesterday() -> String {
    (time::OffsetDateTime::now_utc().date() - time::Duration::days(1)).to_string()
}

/// Today in Poland, as the deadlines are judged.
fn today_pl() -> String {
    ksef_core::warsaw::to_warsaw(time::OffsetDateTime::now_utc())
        .date()
        .to_string()
}

/// The text of a PDF, by poppler's `pdftotext` (an independent reader).
fn pdf_text(pdf: &Path) -> String {
    let out = std::process::Command::new("pdftotext")
        .arg("-layout")
        .arg(pdf)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn id(v: &Value) -> String {
    v["id"].as_i64().unwrap().to_string()
}

fn register(p: &Program) -> Vec<Value> {
    p.json(&["invoice", "list"]).as_array().unwrap().clone()
}

#[test]
fn offline_invoices_issued_listed_sent_and_corrected() {
    let emu = emulator();
    let p = Program::new(BIN, &emu.base_url);
    let files = tempfile::tempdir().unwrap();
    let dir = files.path();
    let nip = Nip::random();
    p.login_owner(&nip, dir);

    // --- Issue in each mode, on 23 Dec 2026: the deadlines as the calendar makes them.
    let christmas = [
        ("OFF-24", &["--mode", "offline24"][..], "2026-12-28"),
        (
            "OFF-UNAV",
            &["--mode", "unavailability", "--ends", "2026-12-31"][..],
            "2027-01-04",
        ),
        (
            "OFF-EMERG",
            &["--mode", "emergency", "--ends", "2027-01-04"][..],
            "2027-01-14",
        ),
    ];
    let mut christmas_ids = Vec::new();
    for (number, mode, due) in christmas {
        let f = invoice(dir, &nip, number, "2026-12-23");
        let mut args = vec!["offline", "issue", s(&f)];
        args.extend_from_slice(mode);
        let issued = p.json(&args);
        let i = &issued[0];
        assert_eq!(i["sendDeadline"], due, "{number}: {issued:#}");
        assert_eq!(i["offlineMode"], mode[1]);
        assert_eq!(i["status"], "issued");
        assert_eq!(i["issueDate"], "2026-12-23");
        assert_eq!(i["alreadyIssued"], false);
        assert_eq!(i["overdue"], today_pl().as_str() > due);
        christmas_ids.push(id(i));
    }
    // The text output: the mode, its end and the deadline; an old one flagged overdue.
    let late = invoice(dir, &nip, "OFF-LATE", "2026-12-01");
    let fresh = invoice(dir, &nip, "OFF-FRESH", &yesterday());
    let table = p.ok(&[
        "offline",
        "issue",
        s(&late),
        s(&fresh),
        "--mode",
        "offline24",
    ]);
    assert!(table.contains("ID") && table.contains("DUE"), "{table}");
    let late_line = table.lines().find(|l| l.contains("OFF-LATE")).unwrap();
    assert!(
        late_line.contains("2026-12-02") && late_line.contains("OVERDUE"),
        "{table}"
    );
    assert!(
        !table
            .lines()
            .find(|l| l.contains("OFF-FRESH"))
            .unwrap()
            .contains("OVERDUE"),
        "{table}"
    );
    // Issuing a file again is the same invoice.
    let again = p.json(&["offline", "issue", s(&late), "--mode", "offline24"]);
    assert_eq!(again[0]["alreadyIssued"], true);
    let late_id = id(&again[0]);

    // Bad input: a clear error, nothing recorded.
    let before = register(&p);
    for (args, needle) in [
        (
            vec!["offline", "issue", s(&late), "--mode", "emergency"],
            "--ends",
        ),
        (
            vec![
                "offline",
                "issue",
                s(&late),
                "--mode",
                "offline24",
                "--ends",
                "2026-12-31",
            ],
            "--ends",
        ),
        (
            vec!["offline", "issue", s(&late), "--mode", "total"],
            "--mode",
        ),
        (
            vec![
                "offline",
                "issue",
                s(&late),
                "--mode",
                "emergency",
                "--ends",
                "2026-11-30",
            ],
            "ended on 2026-11-30, before",
        ),
    ] {
        let err = p.fails(&args);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let stranger = invoice(dir, &Nip::random(), "OFF-STRANGER", &yesterday());
    let err = p.fails(&["offline", "issue", s(&stranger), "--mode", "offline24"]);
    assert!(
        err.contains("seller's NIP") && err.contains(nip.as_str()),
        "{err}"
    );
    assert_eq!(register(&p), before);

    // --- The lists: five waiting, overdue ones flagged, also in `invoice list`.
    let pending = p.json(&["offline", "list"]);
    assert_eq!(pending.as_array().unwrap().len(), 5, "{pending:#}");
    let overdue = p.json(&["offline", "list", "--overdue"]);
    let overdue_ids: Vec<String> = overdue.as_array().unwrap().iter().map(id).collect();
    assert!(overdue_ids.contains(&late_id), "{overdue:#}");
    assert!(
        overdue
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["overdue"] == true)
    );
    let text = p.ok(&["offline", "list"]);
    assert!(
        text.lines()
            .any(|l| l.contains("OFF-LATE") && l.contains("OVERDUE")),
        "{text}"
    );
    assert!(
        text.contains("5 of 5 offline invoice(s) not sent yet"),
        "{text}"
    );
    let all = p.ok(&["invoice", "list"]);
    assert!(
        all.lines().any(|l| l.contains("OFF-24")
            && l.contains("issued")
            && l.contains("offline24, due 2026-12-28")),
        "{all}"
    );

    // The PDF of a waiting invoice: KOD I labelled OFFLINE (no KSeF number yet).
    let late_pdf = dir.join("late.pdf");
    p.ok(&["offline", "pdf", &late_id, "-o", s(&late_pdf)]);
    let text = pdf_text(&late_pdf);
    assert!(text.contains("OFFLINE"), "{text}");

    // --- Send the two dated in the past: offlineMode, the same rows get KSeF numbers.
    let fresh_id = id(pending
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["invoiceNumber"].as_str().unwrap().contains("OFF-FRESH"))
        .unwrap());
    let sent = p.json(&["offline", "send", &late_id, &fresh_id]);
    assert_eq!(sent["accepted"], 2, "{sent:#}");
    assert_eq!(sent["failed"], 0);
    assert_eq!(sent["sessions"][0]["sessionKind"], "Online");
    let late_sent = sent["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| id(i) == late_id)
        .unwrap();
    assert_eq!(late_sent["late"], true, "sent after its deadline");
    let late_ksef = late_sent["outcome"]["ksefNumber"]
        .as_str()
        .unwrap()
        .to_string();
    let rows = register(&p);
    assert_eq!(rows.len(), 5, "no second row: {rows:#?}");
    let row = rows.iter().find(|r| id(r) == late_id).unwrap();
    assert_eq!(row["ksefNumber"], late_ksef.as_str());
    assert_eq!(row["status"], "accepted");
    assert_eq!(row["offline"], true);
    assert_eq!(row["sendDeadline"], "2026-12-02");
    assert_eq!(row["overdue"], false, "sent: no longer waiting");
    assert_eq!(p.json(&["offline", "list"]).as_array().unwrap().len(), 3);
    // Now the PDF carries the KSeF number under KOD I.
    p.ok(&["offline", "pdf", &late_ksef, "-o", s(&late_pdf)]);
    let text = pdf_text(&late_pdf);
    let squeezed: String = text.split_whitespace().collect();
    assert!(
        squeezed.contains(&late_ksef) && !text.contains("OFFLINE"),
        "{text}"
    );
    // KSeF records them as offline invoices.
    let meta = p.json(&[
        "invoice",
        "query",
        "--from",
        &yesterday(),
        "--date-type",
        "PermanentStorage",
    ]);
    let m = meta["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["ksefNumber"] == late_ksef.as_str())
        .unwrap_or_else(|| panic!("{meta:#}"));
    assert_eq!(m["invoicingMode"], "Offline", "{m:#}");
    // An invoice dated after today is held back, not sent.
    let future_day =
        (time::OffsetDateTime::now_utc().date() + time::Duration::days(30)).to_string();
    let future = invoice(dir, &nip, "OFF-FUTURE", &future_day);
    let future_id = id(&p.json(&["offline", "issue", s(&future), "--mode", "offline24"])[0]);
    let out = p.ok(&["offline", "send", &future_id]);
    assert!(
        out.contains("held back") && out.contains(&future_day),
        "{out}"
    );
    assert!(
        p.json(&["offline", "list"])
            .as_array()
            .unwrap()
            .iter()
            .any(|r| id(r) == future_id)
    );
    // Nothing left to send for those two.
    let err = p.fails(&["offline", "send", &late_id]);
    assert!(err.contains("not an offline invoice waiting"), "{err}");

    // --- Technical correction: an offline invoice KSeF rejects for a technical reason (the
    // program's XSD check skipped with the hidden switch: a file made elsewhere).
    let broken_bytes = invoices::with_element_text(
        &std::fs::read(invoice(dir, &nip, "OFF-BROKEN", "2026-12-01")).unwrap(),
        "DataWytworzeniaFa",
        "wczoraj",
    );
    let broken = dir.join("broken.xml");
    std::fs::write(&broken, &broken_bytes).unwrap();
    let err = p.fails(&["offline", "issue", s(&broken), "--mode", "offline24"]);
    assert!(err.contains("failed the local check"), "{err}");
    let issued = p.json(&[
        "offline",
        "issue",
        s(&broken),
        "--mode",
        "offline24",
        "--no-validate",
    ]);
    let broken_id = id(&issued[0]);
    let (out, err) = p.fails_with_output(&["offline", "send", &broken_id]);
    assert!(err.contains("1 of 1 invoice(s) were not accepted"), "{err}");
    assert!(out.contains("OFF-BROKEN"), "{out}");
    let rejected = register(&p)
        .into_iter()
        .find(|r| id(r) == broken_id)
        .unwrap();
    assert_eq!(rejected["status"], "rejected", "{rejected:#}");
    let reference = rejected["invoiceReference"].as_str().unwrap().to_string();

    // Corrected by its reference: the same invoice in a valid file.
    let fixed = invoice(dir, &nip, "OFF-BROKEN", "2026-12-01");
    let done = p.json(&["offline", "correct", &reference, "--file", s(&fixed)]);
    assert_eq!(done["outcome"]["statusCode"], 200, "{done:#}");
    assert_eq!(done["originalId"].to_string(), broken_id);
    let correction_ksef = done["outcome"]["ksefNumber"].as_str().unwrap().to_string();
    let correction = register(&p)
        .into_iter()
        .find(|r| r["ksefNumber"] == correction_ksef.as_str())
        .unwrap();
    assert_eq!(
        correction["corrects"].to_string(),
        broken_id,
        "{correction:#}"
    );
    assert_eq!(correction["offline"], true);
    assert!(
        p.ok(&["invoice", "list"])
            .lines()
            .any(|l| l.contains(&correction_ksef)
                && l.contains(&format!("technical correction of id {broken_id}"))),
    );
    let meta = p.json(&["invoice", "query", "--from", &yesterday()]);
    let m = meta["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["ksefNumber"] == correction_ksef.as_str())
        .unwrap();
    assert_eq!(m["hashOfCorrectedInvoice"], done["hashOfCorrectedInvoice"]);
    assert_eq!(m["invoicingMode"], "Offline");

    // A second correction: refused here, the rule explained (one accepted correction, 21166).
    let fixed_again = dir.join("fixed-again.xml");
    std::fs::write(
        &fixed_again,
        [std::fs::read(&fixed).unwrap().as_slice(), b"\n"].concat(),
    )
    .unwrap();
    let err = p.fails(&["offline", "correct", &broken_id, "--file", s(&fixed_again)]);
    assert!(
        err.contains("already has an accepted technical correction")
            && err.contains("only one")
            && err.contains("21166")
            && err.contains(&correction_ksef)
            && !err.contains("refused by KSeF"),
        "{err}"
    );
    // Correcting an accepted invoice: refused before KSeF is asked (21167).
    let err = p.fails(&["offline", "correct", &late_id, "--file", s(&fixed_again)]);
    assert!(
        err.contains("KSeF accepted it")
            && err.contains("21167")
            && !err.contains("refused by KSeF"),
        "{err}"
    );
    let err = p.fails(&["offline", "correct", "999999", "--file", s(&fixed_again)]);
    assert!(err.contains("not in the firm's invoice register"), "{err}");

    // --- Another installation of the program for the same firm knows nothing of the first
    // correction: KSeF itself refuses the second one (21166), and the message says so.
    let other = Program::new(BIN, &emu.base_url);
    let other_files = tempfile::tempdir().unwrap();
    other.login_owner(&nip, other_files.path());
    let issued = other.json(&[
        "offline",
        "issue",
        s(&broken),
        "--mode",
        "offline24",
        "--no-validate",
    ]);
    other.fails(&["offline", "send", &id(&issued[0])]);
    let err = other.fails(&[
        "offline",
        "correct",
        &id(&issued[0]),
        "--file",
        s(&fixed_again),
    ]);
    assert!(
        err.contains("already has an accepted technical correction")
            && err.contains("refused by KSeF with code 21166"),
        "{err}"
    );
}

/// `ksef offline issue --cert`: KOD II made with the firm's KSeF Offline certificate and kept
/// in the register (the list's `kod2Link`, verified by the emulator's own page); an
/// Authentication certificate is refused before anything is recorded.
#[test]
fn offline_issue_with_an_offline_certificate_keeps_kod_ii() {
    let emu = emulator();
    let p = Program::new(BIN, &emu.base_url);
    let files = tempfile::tempdir().unwrap();
    let dir = files.path();
    let nip = Nip::random();
    p.login_owner(&nip, dir);
    let pw = dir.join("pw.txt");
    std::fs::write(&pw, "Offline cert password 7\n").unwrap();
    let (offline_p12, auth_p12) = (dir.join("offline.p12"), dir.join("auth.p12"));
    for (kind, out) in [("Offline", &offline_p12), ("Authentication", &auth_p12)] {
        p.json(&[
            "cert",
            "enroll",
            "--name",
            &format!("Certyfikat {kind}"),
            "--type",
            kind,
            "--out",
            s(out),
            "--password-file",
            s(&pw),
        ]);
    }
    let f = invoice(dir, &nip, "OFF-K2", &yesterday());
    let err = p.fails(&[
        "offline",
        "issue",
        s(&f),
        "--mode",
        "offline24",
        "--cert",
        s(&auth_p12),
        "--password-file",
        s(&pw),
    ]);
    assert!(err.contains("Offline certificate"), "{err}");
    assert!(
        register(&p).is_empty(),
        "nothing recorded with a refused certificate"
    );

    let issued = p.json(&[
        "offline",
        "issue",
        s(&f),
        "--mode",
        "offline24",
        "--cert",
        s(&offline_p12),
        "--password-file",
        s(&pw),
    ]);
    let listed = register(&p);
    let row = listed
        .iter()
        .find(|r| r["id"] == issued[0]["id"])
        .expect("the issued invoice in the register");
    let kod2 = row["kod2Link"].as_str().expect("a KOD II link");
    let origin = emu.base_url.trim_end_matches('/').trim_end_matches("/v2");
    assert!(
        kod2.starts_with(&format!("{origin}/certificate/Nip/{}/", nip.as_str())),
        "{kod2}"
    );
    let verdict: Value = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async {
            ksef_testkit::http_client_builder()
                .build()
                .unwrap()
                .get(kod2)
                .header("accept", "application/json")
                .send()
                .await?
                .json()
                .await
        })
        .expect("the emulator's verdict");
    assert_eq!(verdict["valid"], true, "{verdict}");
}
