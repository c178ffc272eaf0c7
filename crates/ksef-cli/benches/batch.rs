//! End-to-end batch benchmark (issue 6): `cargo bench -p ksef-cli --bench batch`.
//!
//! Starts the release `ksef emulator` as a child process on a random loopback port, logs in with
//! a test seal certificate (owner of a random NIP), writes N copies of the official ~3.3 KB FA(3)
//! template (unique invoice numbers) to a temp dir and sends them as ONE batch session with the
//! library flow the CLI uses (`ksef_client::invoicing_flows::send_batch_to`). Prints, per size:
//! - build + encrypt: from the start until the first part upload begins (streamed ZIP, split,
//!   AES-256-CBC);
//! - upload: until the session is closed (parts PUT in parallel);
//! - processing: from close until every invoice has a final status (the emulator decrypts,
//!   unzips, validates against the XSD, assigns KSeF numbers and stores durably) and the
//!   emulator's throughput for it;
//! - UPO: fetching the session UPO;
//! - peak RSS (VmHWM) of the client (this process) and of the emulator.
//!
//! Each size runs in its own child process of this binary, so the client's peak RSS is that
//! size's alone: equal figures for 1 000 and 10 000 invoices show memory independent of the batch
//! size. Sizes: `BATCH_BENCH_SIZES=1000,5000,10000` (default; KSeF takes at most 10 000 invoices
//! per session).

mod common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ksef_client::invoicing_flows::{self, Progress, SendOptions};
use ksef_client::ksef_wire::FormCode;
use ksef_client::{KsefClient, SubjectIdentifierType};
use ksef_core::{ContextIdentifier, Nip};
use ksef_crypto::KeyAlgorithm;
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_testkit::EmulatorProcess;

use common::vm_hwm_kb;

fn main() {
    if let Ok(n) = std::env::var("BATCH_BENCH_CHILD") {
        let n: usize = n.parse().expect("BATCH_BENCH_CHILD is a number");
        run_one(n);
        return;
    }
    if let Ok(n) = std::env::var("BATCH_BENCH_CLI_CHILD") {
        let n: usize = n.parse().expect("BATCH_BENCH_CLI_CHILD is a number");
        run_cli(n);
        return;
    }
    let sizes = std::env::var("BATCH_BENCH_SIZES").unwrap_or_else(|_| "1000,5000,10000".into());
    println!(
        "{:>7} | {:>10} | {:>8} | {:>10} | {:>10} | {:>7} | {:>8} | {:>12} | {:>12}",
        "invoices",
        "build+enc",
        "upload",
        "processing",
        "emu inv/s",
        "UPO",
        "total",
        "client RSS*",
        "emulator RSS"
    );
    println!(
        "* client RSS: peak until every status was final and handed over (the session UPO, one \
         XML document for the whole session, is fetched after; see the detail line)"
    );
    let exe = std::env::current_exe().expect("own path");
    for n in sizes.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let status = std::process::Command::new(&exe)
            .env("BATCH_BENCH_CHILD", n)
            .status()
            .expect("run bench child");
        assert!(status.success(), "bench for {n} invoices failed");
    }
    let cli_sizes =
        std::env::var("BATCH_BENCH_CLI_SIZES").unwrap_or_else(|_| "1000,10000,25000".into());
    println!();
    println!(
        "the `ksef` binary as the client: ksef invoice send DIR --batch --json (local XSD check, \
         sessions of at most 10 000, rows streamed to stdout)"
    );
    println!(
        "{:>8} | {:>8} | {:>8} | {:>12} | ksef sync --dir (all of them back)",
        "invoices", "sessions", "total", "ksef peak RSS"
    );
    for n in cli_sizes
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let status = std::process::Command::new(&exe)
            .env("BATCH_BENCH_CLI_CHILD", n)
            .status()
            .expect("run bench child");
        assert!(status.success(), "CLI bench for {n} invoices failed");
    }
}

/// Runs the `ksef` binary (logged in with a fresh certificate) on `n` invoices in one directory,
/// sampling its peak RSS (VmHWM only grows, so the last sample before exit is the peak).
fn run_cli(n: usize) {
    let emulator = EmulatorProcess::start(env!("CARGO_BIN_EXE_ksef"), &[]);
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let invoices = dir.path().join("invoices");
    std::fs::create_dir_all(&invoices).expect("invoice dir");
    let nip = Nip::random();
    for i in 0..n {
        let xml = ksef_testkit::invoices::fa3(nip.as_str(), &format!("CLI-BENCH/{i}"));
        std::fs::write(invoices.join(format!("fa3-{i:05}.xml")), xml).expect("write invoice");
    }
    common::log_in(&emulator.base_url, &data, dir.path(), nip.as_str());
    let ksef = |args: &[&str]| common::ksef(&emulator.base_url, &data, args);
    let report = dir.path().join("report.json");
    let start = Instant::now();
    let mut child = ksef(&[
        "invoice",
        "send",
        invoices.to_str().expect("utf-8"),
        "--batch",
        "--json",
    ])
    .stdout(std::fs::File::create(&report).expect("report file"))
    .stderr(std::process::Stdio::null())
    .spawn()
    .expect("run ksef invoice send");
    let (status, peak) = common::wait_sampling_peak(&mut child, Duration::from_millis(20));
    let total = start.elapsed();
    assert!(status.success(), "ksef invoice send failed");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("JSON report");
    assert_eq!(
        v["accepted"].as_u64(),
        Some(n as u64),
        "every invoice accepted"
    );
    let sessions = v["sessions"].as_array().map(Vec::len).unwrap_or(0);
    // Then the other direction: `ksef sync` downloads them all (export, decrypt, unpack, one
    // flush to disk per package).
    let target = dir.path().join("sync");
    let sync_start = Instant::now();
    let out = ksef(&["sync", "--dir", target.to_str().expect("utf-8")])
        .output()
        .expect("run ksef sync");
    let sync_time = sync_start.elapsed();
    assert!(
        out.status.success(),
        "ksef sync: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let synced = count_xml(&target);
    assert_eq!(synced, n, "ksef sync downloaded every invoice");
    println!(
        "{:>8} | {:>8} | {:>6.2} s | {:>9} MB | {:>6.2} s = {:>5.0} invoices/s",
        n,
        sessions,
        total.as_secs_f64(),
        peak / 1024,
        sync_time.as_secs_f64(),
        n as f64 / sync_time.as_secs_f64()
    );
}

fn run_one(n: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let emulator = EmulatorProcess::start(env!("CARGO_BIN_EXE_ksef"), &[]);
    let dir = tempfile::tempdir().expect("temp dir");
    let nip = Nip::random();
    let mut files: Vec<PathBuf> = Vec::with_capacity(n);
    for i in 0..n {
        let path = dir.path().join(format!("fa3-{i:05}.xml"));
        let xml = ksef_testkit::invoices::fa3(nip.as_str(), &format!("BENCH/{i}"));
        std::fs::write(&path, xml).expect("write invoice");
        files.push(path);
    }
    let seal = make_test_certificate(
        &TestSubject::seal(nip.clone(), "Benchmark Sp. z o.o."),
        KeyAlgorithm::EcP256,
    )
    .expect("certificate");
    let context = ContextIdentifier::Nip(nip.clone());

    rt.block_on(async {
        let client = KsefClient::new(&emulator.base_url).expect("client");
        let mut session = client
            .login_with_credential(&seal, &context, SubjectIdentifierType::CertificateSubject)
            .await
            .expect("login");
        // (first upload report, first processing report) with the client's peak RSS then.
        type Mark = Option<(Instant, u64)>;
        let marks: Arc<Mutex<(Mark, Mark)>> = Arc::new(Mutex::new((None, None)));
        let m = marks.clone();
        let options = SendOptions {
            progress: Arc::new(move |p| {
                let now = Instant::now();
                if let Ok(mut g) = m.lock() {
                    match p {
                        Progress::Uploading { .. } if g.0.is_none() => {
                            g.0 = Some((now, vm_hwm_kb("self")))
                        }
                        Progress::Processing { .. } if g.1.is_none() => {
                            g.1 = Some((now, vm_hwm_kb("self")))
                        }
                        _ => {}
                    }
                }
            }),
            ..SendOptions::default()
        };
        let form = FormCode {
            system_code: "FA (3)".into(),
            schema_version: "1-0E".into(),
            value: "FA".into(),
        };
        let start = Instant::now();
        // The outcomes are counted as they arrive, like the CLI prints them: nothing per
        // invoice is kept by the flow.
        let mut with_ksef_number = 0usize;
        let summary = invoicing_flows::send_batch_to(
            &client,
            &mut session,
            &form,
            &files,
            &options,
            &mut |o| with_ksef_number += usize::from(o.ksef_number.is_some()),
        )
        .await
        .expect("batch send");
        let done = Instant::now();
        let rss_sent = vm_hwm_kb("self");
        assert_eq!(
            summary.accepted, n,
            "every benchmark invoice must be accepted"
        );
        assert_eq!(with_ksef_number, n);
        let upo_start = Instant::now();
        let upos = invoicing_flows::session_upos(&client, &mut session, &summary.session_reference)
            .await
            .expect("session UPO");
        let upo = upo_start.elapsed();
        assert!(!upos.is_empty());
        let (up, proc_start) = *marks.lock().expect("marks");
        let (up, rss_packed) = up.unwrap_or((start, 0));
        let (proc_start, rss_uploaded) = proc_start.unwrap_or((up, 0));
        let build = up - start;
        let upload = proc_start - up;
        let processing = done - proc_start;
        let secs = |d: Duration| format!("{:.2} s", d.as_secs_f64());
        println!(
            "{:>8} | {:>10} | {:>8} | {:>10} | {:>10.0} | {:>7} | {:>8} | {:>9} MB | {:>9} MB",
            n,
            secs(build),
            secs(upload),
            secs(processing),
            n as f64 / processing.as_secs_f64(),
            secs(upo),
            secs(done - start + upo),
            rss_sent / 1024,
            vm_hwm_kb(&emulator.pid().to_string()) / 1024,
        );
        // The emulator's own figure: its log line "batch session processed … ms=…".
        let log = emulator.log();
        let line = log
            .lines()
            .rev()
            .find(|l| l.contains("batch session processed"))
            .unwrap_or_default();
        let field = |name: &str| -> Option<f64> {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .and_then(|v| v.parse().ok())
        };
        if let Some(ms) = field("ms=") {
            println!(
                "{:>8}   emulator: close → all {n} final in {:.2} s = {:.0} invoices/s \
                 (decrypt+unzip {:.0} ms, verify wait {:.0} ms, commits {:.0} ms)",
                "",
                ms / 1e3,
                n as f64 / (ms / 1e3),
                field("assemble_ms=").unwrap_or(0.0) + field("survey_ms=").unwrap_or(0.0),
                field("wait_verify_ms=").unwrap_or(0.0),
                field("commit_ms=").unwrap_or(0.0),
            );
        }
        println!(
            "{:>8}   client peak RSS after packing+encryption {} MB, after upload {} MB, when all \
             {n} statuses were streamed to the caller {} MB, after fetching the session UPO \
             (one XML document for the whole session) {} MB",
            "",
            rss_packed / 1024,
            rss_uploaded / 1024,
            rss_sent / 1024,
            vm_hwm_kb("self") / 1024,
        );
    });
}

/// `*.xml` files under `dir`, recursively.
fn count_xml(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .map(|p| {
                    if p.is_dir() {
                        count_xml(&p)
                    } else {
                        usize::from(p.extension().is_some_and(|x| x == "xml"))
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}
