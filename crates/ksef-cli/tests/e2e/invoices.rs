//! `ksef invoice|upo|session|sync` end to end: the `ksef` binary against a real `ksef emulator`
//! process on a random port, with a temporary data dir — online sending of FA(2) and FA(3),
//! UPOs that validate against the official XSD, local refusal of invalid files (nothing sent),
//! a 1 000-invoice batch (ZIP, split into parts) with three invoices KSeF rejects, a tar.gz
//! batch, metadata query, download, and the incremental sync (ZIP and tar.gz exports) run
//! again, after new invoices, and after a simulated interruption.

use std::collections::HashSet;
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

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// All invoice outcomes of a `send --json` answer.
fn outcomes(v: &Value) -> Vec<Value> {
    v["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["invoices"].as_array().unwrap().clone())
        .collect()
}

fn session_count(p: &Program) -> usize {
    p.json(&["session", "list"]).as_array().unwrap().len()
}

fn today_minus(days: i64) -> String {
    let d = time::OffsetDateTime::now_utc().date() - time::Duration::days(days);
    d.to_string()
}

#[test]
fn online_batch_upo_query_download_and_sync() {
    let emu = emulator();
    let p = Program::new(BIN, &emu.base_url);
    let files = tempfile::tempdir().unwrap();
    let nip = Nip::random();
    p.login_owner(&nip, files.path());

    // --- Online: FA(3) and FA(2) in one command → one online session per form code.
    let online = files.path().join("online");
    std::fs::create_dir(&online).unwrap();
    let fa3_bytes = invoices::fa3(nip.as_str(), "ON-FA3-1");
    let fa2_bytes = invoices::fa2(nip.as_str(), "ON-FA2-1");
    let fa3 = write(&online, "fa3.xml", &fa3_bytes);
    let fa2 = write(&online, "fa2.xml", &fa2_bytes);
    let sent = p.json(&["invoice", "send", s(&fa3), s(&fa2)]);
    assert_eq!(sent["accepted"], 2, "{sent:#}");
    assert_eq!(sent["failed"], 0);
    let sessions = sent["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "one session per form code: {sent:#}");
    for sess in sessions {
        assert_eq!(sess["sessionKind"], "Online");
        assert_eq!(sess["sessionStatusCode"], 200, "{sess:#}");
        assert!(sess["sessionReference"].as_str().unwrap().contains("-SO-"));
    }
    let all = outcomes(&sent);
    let fa3_out = all.iter().find(|o| o["name"] == "fa3.xml").unwrap();
    let fa2_out = all.iter().find(|o| o["name"] == "fa2.xml").unwrap();
    for o in [fa3_out, fa2_out] {
        assert_eq!(o["statusCode"], 200, "{o:#}");
        assert!(o["ksefNumber"].as_str().unwrap().starts_with(nip.as_str()));
        assert!(o["referenceNumber"].is_string());
    }
    let fa3_ksef = fa3_out["ksefNumber"].as_str().unwrap().to_string();
    let fa3_session = sessions
        .iter()
        .find(|s| s["invoices"][0]["name"] == "fa3.xml")
        .unwrap()["sessionReference"]
        .as_str()
        .unwrap()
        .to_string();
    // The text output is a table with the KSeF numbers.
    let again = files.path().join("again");
    std::fs::create_dir(&again).unwrap();
    let fa3_b = write(
        &again,
        "fa3-b.xml",
        &invoices::fa3(nip.as_str(), "ON-FA3-2"),
    );
    let table = p.ok(&["invoice", "send", s(&fa3_b)]);
    assert!(
        table.contains("FILE") && table.contains("KSEF NUMBER"),
        "{table}"
    );
    assert!(
        table.contains("fa3-b.xml") && table.contains(nip.as_str()),
        "{table}"
    );
    assert!(table.contains("1 accepted, 0 not accepted"), "{table}");

    // --- UPO of one invoice (by KSeF number and by reference) and of the session.
    let upo_file = files.path().join("upo-invoice.xml");
    p.ok(&[
        "upo",
        "get",
        "--session",
        &fa3_session,
        "--ksef-number",
        &fa3_ksef,
        "-o",
        s(&upo_file),
    ]);
    let upo = std::fs::read(&upo_file).unwrap();
    ksef_invoice::upo::validate(&upo).expect("the invoice UPO validates against upo-v4-3.xsd");
    let upo_text = String::from_utf8_lossy(&upo);
    assert!(upo_text.contains(&fa3_ksef), "{upo_text}");
    let by_ref = p.ok(&[
        "upo",
        "get",
        "--session",
        &fa3_session,
        "--invoice",
        fa3_out["referenceNumber"].as_str().unwrap(),
    ]);
    assert!(by_ref.contains(&fa3_ksef));
    let session_upo = files.path().join("upo-session.xml");
    p.ok(&[
        "upo",
        "get",
        "--session",
        &fa3_session,
        "-o",
        s(&session_upo),
    ]);
    let streamed = std::fs::read(&session_upo).unwrap();
    ksef_invoice::upo::validate(&streamed).expect("the session UPO validates");
    // The file (streamed to disk) holds exactly what the buffered download prints.
    let printed = p.ok(&["upo", "get", "--session", &fa3_session]);
    assert_eq!(printed.as_bytes(), [&streamed[..], b"\n"].concat());

    // --- session list / show.
    let list = p.json(&["session", "list", "--type", "online"]);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|s| s["referenceNumber"] == fa3_session.as_str())
    );
    let shown = p.json(&["session", "show", &fa3_session]);
    assert_eq!(shown["session"]["status"]["code"], 200);
    assert_eq!(shown["invoices"][0]["ksefNumber"], fa3_ksef.as_str());
    assert!(p.ok(&["session", "show", &fa3_session]).contains(&fa3_ksef));

    // --- Batch: 1 000 invoices, 3 that pass the XSD but KSeF rejects.
    let batch = files.path().join("batch");
    std::fs::create_dir(&batch).unwrap();
    let tomorrow = (time::OffsetDateTime::now_utc().date() + time::Duration::days(2)).to_string();
    let other_seller = Nip::random();
    let mut originals: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..1000 {
        let name = format!("inv-{i:04}.xml");
        let bytes = match i {
            // Another seller's NIP in Podmiot1 → 410.
            100 => invoices::fa3(other_seller.as_str(), &format!("B-{i}")),
            // Issued in the future → 450.
            500 => invoices::with_element_text(
                &invoices::fa3(nip.as_str(), &format!("B-{i}")),
                "P_1",
                &tomorrow,
            ),
            // The number of an invoice already accepted online → 440 duplicate.
            999 => invoices::fa3(nip.as_str(), "ON-FA3-1"),
            _ => invoices::fa3(nip.as_str(), &format!("B-{i}")),
        };
        write(&batch, &name, &bytes);
        originals.push((name, bytes));
    }
    // Everything passes the local check.
    let checks = p.json(&["invoice", "validate", s(&batch)]);
    assert_eq!(checks.as_array().unwrap().len(), 1000);
    assert!(checks.as_array().unwrap().iter().all(|c| c["ok"] == true));
    // Small parts so that the package is split and uploaded in parallel (1 000 similar files
    // make a tar.gz of some tens of kB: one gzip stream sees their likeness).
    let out = p.run(&[
        "invoice",
        "send",
        s(&batch),
        "--batch",
        "--part-size",
        "10000",
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "3 rejected invoices → non-zero exit");
    assert!(stderr.contains("3 of 1000"), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["accepted"], 997, "{stderr}");
    assert_eq!(report["failed"], 3);
    assert_eq!(report["sessions"][0]["sessionKind"], "Batch");
    assert_eq!(report["sessions"][0]["sessionStatusCode"], 200);
    let parts = report["sessions"][0]["batchParts"].as_u64().unwrap();
    assert!(parts >= 2, "the package was split: {parts} part(s)");
    let batch_out = outcomes(&report);
    assert_eq!(batch_out.len(), 1000);
    let status_of = |name: &str| {
        batch_out
            .iter()
            .find(|o| o["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing"))
            .clone()
    };
    let seller = status_of("inv-0100.xml");
    assert_eq!(seller["statusCode"], 410, "{seller:#}");
    assert!(
        seller["details"][0]
            .as_str()
            .unwrap()
            .contains(other_seller.as_str())
    );
    let future = status_of("inv-0500.xml");
    assert_eq!(future["statusCode"], 450, "{future:#}");
    assert!(!future["details"].as_array().unwrap().is_empty());
    let dup = status_of("inv-0999.xml");
    assert_eq!(dup["statusCode"], 440, "{dup:#}");
    assert_eq!(dup["extensions"]["originalKsefNumber"], fa3_ksef.as_str());
    let batch_numbers: HashSet<&str> = batch_out
        .iter()
        .filter_map(|o| o["ksefNumber"].as_str())
        .collect();
    assert_eq!(batch_numbers.len(), 997, "unique KSeF numbers");

    // --- A small ZIP batch (the default is tar.gz).
    let tgz = files.path().join("tgz");
    std::fs::create_dir(&tgz).unwrap();
    for i in 0..5 {
        write(
            &tgz,
            &format!("t{i}.xml"),
            &invoices::fa3(nip.as_str(), &format!("T-{i}")),
        );
    }
    let t = p.json(&[
        "invoice",
        "send",
        s(&tgz),
        "--batch",
        "--compression",
        "zip",
    ]);
    assert_eq!(t["accepted"], 5, "{t:#}");

    // --- Metadata query: every accepted invoice (3 online + 997), with the online FA(3).
    let q = p.json(&[
        "invoice",
        "query",
        "--from",
        &today_minus(1),
        "--subject-type",
        "Subject1",
        "--page-size",
        "250",
        "--limit",
        "5000",
    ]);
    let rows = q["invoices"].as_array().unwrap();
    assert_eq!(rows.len(), 1005, "3 online + 997 batch + 5 tar.gz");
    assert!(rows.iter().any(|r| r["ksefNumber"] == fa3_ksef.as_str()));
    let text = p.ok(&[
        "invoice",
        "query",
        "--from",
        &today_minus(1),
        "--limit",
        "5",
    ]);
    assert!(
        text.contains("KSEF NUMBER") && text.contains("more invoices match"),
        "{text}"
    );

    // --- Download: the bytes sent, to a file and to stdout.
    let dl = files.path().join("dl.xml");
    p.ok(&["invoice", "download", &fa3_ksef, "-o", s(&dl)]);
    assert_eq!(std::fs::read(&dl).unwrap(), fa3_bytes);
    let some_batch = batch_out
        .iter()
        .find(|o| o["name"] == "inv-0042.xml")
        .unwrap();
    let raw = p
        .run(&[
            "invoice",
            "download",
            some_batch["ksefNumber"].as_str().unwrap(),
        ])
        .stdout;
    assert_eq!(raw, originals[42].1);

    // --- Sync twice: everything once, then nothing new.
    let dir = files.path().join("sync");
    let first = p.json(&["sync", "--dir", s(&dir)]);
    assert_eq!(first["downloaded"], 1005, "{first:#}");
    for subject in first["subjects"].as_array().unwrap() {
        assert_eq!(
            subject["exports"], 1,
            "a first sync is one export window: {first:#}"
        );
    }
    let subj1 = dir.join("Subject1");
    assert_eq!(std::fs::read_dir(&subj1).unwrap().count(), 1005);
    assert_eq!(
        std::fs::read(subj1.join(format!("{fa3_ksef}.xml"))).unwrap(),
        fa3_bytes
    );
    assert!(dir.join("Subject2").is_dir());
    let checkpoint: Value =
        serde_json::from_slice(&std::fs::read(dir.join(".ksef-sync.json")).unwrap()).unwrap();
    assert!(checkpoint["subjects"]["Subject1"]["checkpoint"].is_string());
    assert!(checkpoint["subjects"]["Subject2"]["checkpoint"].is_string());
    let second = p.json(&["sync", "--dir", s(&dir)]);
    assert_eq!(second["downloaded"], 0, "{second:#}");
    assert_eq!(second["registered"], 0, "{second:#}");
    // The register: every sale once (recorded on sending, found again by the sync), with its
    // KSeF number; filters work.
    let mut sales = Vec::new();
    for page in ["1", "2"] {
        let rows = p.json(&[
            "invoice",
            "list",
            "--sales",
            "--page-size",
            "1000",
            "--page",
            page,
        ]);
        sales.extend(rows.as_array().unwrap().iter().cloned());
    }
    let accepted: Vec<&Value> = sales.iter().filter(|r| r["status"] == "accepted").collect();
    assert_eq!(accepted.len(), 1005);
    assert_eq!(sales.len(), 1008, "and the three the batch's KSeF rejected");
    let row = sales
        .iter()
        .find(|r| r["ksefNumber"] == fa3_ksef.as_str())
        .unwrap();
    assert_eq!(row["direction"], "sale");
    assert_eq!(row["seller"]["nip"], nip.as_str());
    assert!(
        row["gross"].is_string() && row["acquisitionDate"].is_string(),
        "{row:#}"
    );
    assert!(
        row["invoiceNumber"].as_str().unwrap().contains("ON-FA3-1"),
        "{row:#}"
    );
    assert!(
        sales
            .iter()
            .any(|r| r["status"] == "rejected" && r["statusCode"].is_number())
    );
    assert_eq!(
        p.json(&["invoice", "list", "--purchases"]),
        serde_json::json!([])
    );
    let by_nip = p.json(&[
        "invoice",
        "list",
        "--party",
        nip.as_str(),
        "--page-size",
        "5",
    ]);
    assert_eq!(by_nip.as_array().unwrap().len(), 5);
    let none = p.json(&["invoice", "list", "--party", "1111111111"]);
    assert_eq!(none, serde_json::json!([]));
    let later = p.json(&["invoice", "list", "--from", "2999-01-01"]);
    assert_eq!(later, serde_json::json!([]));
    let text = p.ok(&["invoice", "list", "--sales", "--page-size", "3"]);
    assert!(
        text.contains("KSEF NUMBER") && text.contains("gross"),
        "{text}"
    );
    assert_eq!(std::fs::read_dir(&subj1).unwrap().count(), 1005);
    // A new invoice after the sync is picked up by the next one, and only it.
    let late = write(&again, "late.xml", &invoices::fa3(nip.as_str(), "LATE-1"));
    let late_sent = p.json(&["invoice", "send", s(&late)]);
    let late_ksef = outcomes(&late_sent)[0]["ksefNumber"]
        .as_str()
        .unwrap()
        .to_string();
    let third = p.json(&["sync", "--dir", s(&dir), "--subject-type", "Subject1"]);
    assert_eq!(third["downloaded"], 1, "{third:#}");
    assert!(subj1.join(format!("{late_ksef}.xml")).is_file());
    // Interrupted before the checkpoint (simulated: checkpoint gone, one invoice missing):
    // the next run starts over, restores the missing file and re-downloads nothing else.
    std::fs::remove_file(dir.join(".ksef-sync.json")).unwrap();
    std::fs::remove_file(subj1.join(format!("{fa3_ksef}.xml"))).unwrap();
    let resumed = p.json(&["sync", "--dir", s(&dir), "--subject-type", "Subject1"]);
    assert_eq!(resumed["downloaded"], 1, "{resumed:#}");
    assert_eq!(
        resumed["subjects"][0]["alreadyPresent"], 1005,
        "{resumed:#}"
    );
    assert_eq!(
        std::fs::read(subj1.join(format!("{fa3_ksef}.xml"))).unwrap(),
        fa3_bytes
    );
    // The same through tar.gz export packages, into another directory.
    let tdir = files.path().join("sync-tgz");
    let tsync = p.json(&[
        "sync",
        "--dir",
        s(&tdir),
        "--subject-type",
        "Subject1",
        "--compression",
        "targz",
    ]);
    assert_eq!(tsync["downloaded"], 1006, "{tsync:#}");
    assert_eq!(
        std::fs::read(tdir.join("Subject1").join(format!("{late_ksef}.xml"))).unwrap(),
        std::fs::read(&late).unwrap()
    );
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.starts_with(".ksef-tmp") && !n.starts_with(".ksef-export")),
        "temporary files left: {names:?}"
    );
}

#[test]
fn bad_input_is_refused_and_nothing_is_sent() {
    let emu = emulator();
    let p = Program::new(BIN, &emu.base_url);
    let files = tempfile::tempdir().unwrap();
    let nip = Nip::random();
    let good = write(
        files.path(),
        "good.xml",
        &invoices::fa3(nip.as_str(), "G-1"),
    );
    let bad = write(
        files.path(),
        "bad.xml",
        &invoices::broken_schema(nip.as_str(), "B-1"),
    );
    let garbage = write(files.path(), "garbage.xml", b"<<< to nie jest XML");

    // Local validation needs no login; per-file lines, non-zero exit.
    let (out, err) = p.fails_with_output(&["invoice", "validate", s(&good), s(&bad), s(&garbage)]);
    assert!(out.contains("OK     ") && out.contains("good.xml"), "{out}");
    assert!(out.contains("ERROR  ") && out.contains("bad.xml"), "{out}");
    assert!(out.contains("garbage.xml"), "{out}");
    assert!(err.contains("2 of 3"), "{err}");
    p.ok(&["invoice", "validate", s(&good)]);

    // Not logged in.
    let (_, err) = p.fails_with_output(&["invoice", "send", s(&good)]);
    assert!(err.contains("log in"), "{err}");
    let (_, err) = p.fails_with_output(&["sync", "--dir", s(&files.path().join("sync"))]);
    assert!(err.contains("log in"), "{err}");

    p.login_owner(&nip, files.path());
    let before = session_count(&p);
    // An invalid file among valid ones: nothing is sent, the file and the reason are named.
    let (_, err) = p.fails_with_output(&["invoice", "send", s(&good), s(&bad)]);
    assert!(err.contains("nothing was sent"), "{err}");
    assert!(err.contains("bad.xml") && err.contains("P_1"), "{err}");
    assert!(!err.contains("good.xml"), "{err}");
    let (_, err) = p.fails_with_output(&["invoice", "send", "--batch", s(&good), s(&garbage)]);
    assert!(err.contains("garbage.xml"), "{err}");
    // Missing file, empty directory, unknown form code, PEF in a batch.
    let (_, err) = p.fails_with_output(&["invoice", "send", s(&files.path().join("brak.xml"))]);
    assert!(
        err.contains("brak.xml") && err.contains("cannot read"),
        "{err}"
    );
    let empty = files.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (_, err) = p.fails_with_output(&["invoice", "send", s(&empty)]);
    assert!(err.contains("no *.xml"), "{err}");
    let (_, err) = p.fails_with_output(&["invoice", "send", "--form", "FA9", s(&good)]);
    assert!(err.contains("--form"), "{err}");
    let pef = write(
        files.path(),
        "pef.xml",
        &invoices::pef3(nip.as_str(), "P-1"),
    );
    let (_, err) = p.fails_with_output(&["invoice", "send", "--batch", s(&pef)]);
    assert!(err.contains("batch"), "{err}");
    assert_eq!(session_count(&p), before, "a refused send opened a session");

    // Bad query input is named before KSeF is asked.
    let (_, err) = p.fails_with_output(&["invoice", "query", "--from", "31.12.2025"]);
    assert!(err.contains("--from"), "{err}");
    let (_, err) = p.fails_with_output(&[
        "invoice",
        "query",
        "--from",
        "2025-01-01",
        "--subject-type",
        "Subject7",
    ]);
    assert!(err.contains("--subject-type"), "{err}");
    let (_, err) = p.fails_with_output(&["invoice", "query", "--from", "2020-01-01"]);
    assert!(err.contains("3 months"), "{err}");
    // Unknown invoice / session: KSeF's answer, named.
    let (_, err) =
        p.fails_with_output(&["invoice", "download", "5265877635-20250826-0100001AF629-AF"]);
    assert!(
        err.contains("21164") || err.contains("nie istnieje"),
        "{err}"
    );
    let (_, err) = p.fails_with_output(&[
        "upo",
        "get",
        "--session",
        "20250625-SO-2C3E6C8000-B675CF5D68-07",
    ]);
    assert!(err.contains("KSeF"), "{err}");

    // No secret in what the program printed or the emulator logged.
    let log = emu.log();
    assert!(!log.contains("eyJ"), "a JWT in the emulator log");
}

/// More files than one session takes are sent in several sessions (`--session-size` stands in
/// for KSeF's 10 000), the table and the JSON document are written as the outcomes arrive, and
/// every file appears exactly once.
#[test]
fn many_files_are_split_into_sessions() {
    let emu = emulator();
    let p = Program::new(BIN, &emu.base_url);
    let files = tempfile::tempdir().unwrap();
    let nip = Nip::random();
    p.login_owner(&nip, files.path());
    let online = files.path().join("online");
    std::fs::create_dir(&online).unwrap();
    for i in 0..7 {
        write(
            &online,
            &format!("o{i}.xml"),
            &invoices::fa3(nip.as_str(), &format!("SPLIT-O-{i}")),
        );
    }
    let before = session_count(&p);
    let table = p.ok(&["invoice", "send", s(&online), "--session-size", "3"]);
    assert!(table.contains("7 invoices in 3 sessions"), "{table}");
    assert_eq!(table.matches("FILE ").count(), 1, "one header: {table}");
    let session_lines: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("session "))
        .collect();
    assert_eq!(session_lines.len(), 3, "{table}");
    assert!(
        session_lines[0].ends_with("3 accepted, 0 not accepted"),
        "{table}"
    );
    assert!(
        session_lines[2].ends_with("1 accepted, 0 not accepted"),
        "{table}"
    );
    for i in 0..7 {
        let name = format!("o{i}.xml");
        let rows: Vec<&str> = table.lines().filter(|l| l.contains(&name)).collect();
        assert_eq!(rows.len(), 1, "{name}: {table}");
        assert!(rows[0].contains("200 "), "{}", rows[0]);
    }
    assert_eq!(session_count(&p), before + 3);

    let batch = files.path().join("batch");
    std::fs::create_dir(&batch).unwrap();
    for i in 0..5 {
        write(
            &batch,
            &format!("b{i}.xml"),
            &invoices::fa3(nip.as_str(), &format!("SPLIT-B-{i}")),
        );
    }
    // The first invoice again: a duplicate in the second session, so one fails.
    write(&batch, "b5.xml", &invoices::fa3(nip.as_str(), "SPLIT-B-0"));
    let out = p.run(&[
        "invoice",
        "send",
        s(&batch),
        "--batch",
        "--session-size",
        "3",
        "--json",
    ]);
    assert!(!out.status.success(), "a duplicate → non-zero exit");
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(report["accepted"], 5);
    assert_eq!(report["failed"], 1);
    let sessions = report["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    for s in sessions {
        assert_eq!(s["sessionKind"], "Batch");
        assert_eq!(s["invoices"].as_array().unwrap().len(), 3);
    }
    assert_eq!(sessions[1]["failed"], 1);
    let all = outcomes(&report);
    let names: HashSet<&str> = all.iter().filter_map(|o| o["name"].as_str()).collect();
    assert_eq!(names.len(), 6, "every file exactly once: {names:?}");
    let dup = all.iter().find(|o| o["name"] == "b5.xml").unwrap();
    assert_eq!(dup["statusCode"], 440, "{dup:#}");

    // Bad --session-size values are named.
    let (_, err) = p.fails_with_output(&["invoice", "send", s(&online), "--session-size", "0"]);
    assert!(err.contains("--session-size"), "{err}");
}

/// `ksef limits` shows the session, subject and rate limits the emulator reports (the documented
/// defaults), as a table and as JSON.
#[test]
fn limits_are_shown() {
    let emu = emulator();
    let p = Program::new(BIN, &emu.base_url);
    let files = tempfile::tempdir().unwrap();
    let (_, err) = p.fails_with_output(&["limits"]);
    assert!(err.contains("log in"), "{err}");
    let nip = Nip::random();
    p.login_owner(&nip, files.path());
    let v = p.json(&["limits"]);
    assert_eq!(
        v["context"]["onlineSession"]["maxInvoiceSizeInMB"], 1,
        "{v:#}"
    );
    assert_eq!(v["context"]["batchSession"]["maxInvoices"], 10000, "{v:#}");
    assert_eq!(v["rateLimits"]["invoiceSend"]["perHour"], 180, "{v:#}");
    assert_eq!(v["rateLimits"]["sessionList"]["perSecond"], 5, "{v:#}");
    let table = p.ok(&["limits"]);
    assert!(
        table.contains("online") && table.contains("10000"),
        "{table}"
    );
    let send = table
        .lines()
        .find(|l| l.starts_with("invoiceSend"))
        .unwrap_or_else(|| panic!("{table}"));
    assert_eq!(
        send.split_whitespace().collect::<Vec<_>>(),
        ["invoiceSend", "10", "30", "180"]
    );
}
