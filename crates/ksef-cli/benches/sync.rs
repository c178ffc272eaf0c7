//! Purchase sync benchmark (issue 14): `cargo bench -p ksef-cli --bench sync`.
//!
//! Per size N: starts the release `ksef emulator` as a child process on a random loopback port
//! (its own temp data dir, the production rate limits enforced with `--rate-limits`); a seller
//! (a test seal certificate, owner of a random NIP) issues N small FA(3) invoices (the official
//! ~3.3 KB template, buyer = a second random NIP, unique invoice numbers) in batch sessions of
//! at most 10 000 (one for N ≤ 10 000) through the library flow the CLI uses. Then the buyer,
//! with a fresh program data dir, logs in with the `ksef` binary and runs `ksef sync --json` —
//! the real program path into the invoice register (exports with the HWM, download, decrypt,
//! unpack, register transactions) — timed end to end with the `ksef` process's peak RSS (VmHWM,
//! sampled; it only grows, so the last sample before exit is the peak). The register is then
//! opened and checked: exactly the N KSeF numbers the seller got, as purchases. A second
//! `ksef sync` (nothing new) is timed the same way and must register nothing.
//!
//! The floor of the peak RSS (~33 MB, the re-run's figure) is the process itself and unlocking
//! the store (Argon2id with 19 MiB). Rate limits: the sync makes one export per subject type
//! and package of ≤ 10 000 invoices (PRD: 20 exports per hour per context) plus a few status
//! polls, and never downloads invoices one by one (`GET /invoices/ksef/{n}`: 64 per hour).
//!
//! Sizes: `SYNC_BENCH_SIZES=2500,5000,10000` (default; above 10 000 the export is truncated
//! and the sync takes several packages). Goal: 10 000 invoices in ≤ 15 s, peak RSS flat in N;
//! the bench fails when a sync of N ≥ 10 000 is slower than N / 10 000 × `SYNC_BENCH_GOAL_SECS`
//! (default 15) or the peak RSS of the largest size exceeds the smallest's by more than
//! `SYNC_BENCH_RSS_SLACK_MB` (default 16).

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ksef_client::invoicing_flows::{self, SendOptions};
use ksef_client::ksef_wire::FormCode;
use ksef_client::{KsefClient, SubjectIdentifierType};
use ksef_core::{ContextIdentifier, Nip};
use ksef_crypto::KeyAlgorithm;
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_store::{Direction, InvoiceFilter, Store};
use ksef_testkit::EmulatorProcess;

/// Most invoices in one batch session (KSeF's limit).
const SESSION_MAX: usize = 10_000;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One measured `ksef sync`.
struct SyncRun {
    time: Duration,
    peak_kb: u64,
    registered: u64,
}

/// One size's figures.
struct Figures {
    n: usize,
    issue: Duration,
    first: SyncRun,
    again: SyncRun,
}

fn main() {
    let sizes: Vec<usize> = std::env::var("SYNC_BENCH_SIZES")
        .unwrap_or_else(|_| "2500,5000,10000".into())
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("SYNC_BENCH_SIZES: numbers"))
        .collect();
    let goal = Duration::from_secs(env_number("SYNC_BENCH_GOAL_SECS", 15));
    let slack_mb = env_number("SYNC_BENCH_RSS_SLACK_MB", 16);
    println!(
        "`ksef sync` of a buyer's purchases from the release emulator (--rate-limits), fresh \
         program store"
    );
    println!(
        "{:>8} | {:>8} | {:>9} | {:>11} | {:>12} | {:>9} | {:>12} | {:>10}",
        "invoices",
        "issued in",
        "sync",
        "invoices/s",
        "ksef peak RSS",
        "re-run",
        "re-run RSS",
        "re-run new"
    );
    let mut all = Vec::new();
    for n in sizes {
        let f = run(n);
        println!(
            "{:>8} | {:>7.2} s | {:>7.2} s | {:>11.0} | {:>10} MB | {:>7.2} s | {:>9} MB | {:>10}",
            f.n,
            f.issue.as_secs_f64(),
            f.first.time.as_secs_f64(),
            f.n as f64 / f.first.time.as_secs_f64(),
            f.first.peak_kb / 1024,
            f.again.time.as_secs_f64(),
            f.again.peak_kb / 1024,
            f.again.registered,
        );
        all.push(f);
    }
    let mut problems = Vec::new();
    for f in all.iter().filter(|f| f.n >= 10_000) {
        // The goal is a rate: 10 000 invoices per `goal`.
        let allowed = goal.mul_f64(f.n as f64 / 10_000.0);
        if f.first.time > allowed {
            problems.push(format!(
                "{} invoices took {:.2} s (goal {:.0} s)",
                f.n,
                f.first.time.as_secs_f64(),
                allowed.as_secs_f64()
            ));
        }
    }
    if let (Some(small), Some(large)) = (
        all.iter().min_by_key(|f| f.n),
        all.iter().max_by_key(|f| f.n),
    ) && large.first.peak_kb > small.first.peak_kb + slack_mb * 1024
    {
        problems.push(format!(
            "peak RSS grows with N: {} MB for {} invoices, {} MB for {}",
            small.first.peak_kb / 1024,
            small.n,
            large.first.peak_kb / 1024,
            large.n
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("; "));
}

/// A `ksef` command on the buyer's data dir against the emulator.
fn ksef(emulator: &EmulatorProcess, data: &Path, args: &[&str]) -> Command {
    common::ksef(&emulator.base_url, data, args)
}

fn run(n: usize) -> Figures {
    let emulator = EmulatorProcess::start(env!("CARGO_BIN_EXE_ksef"), &["--rate-limits"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let seller = Nip::random();
    let buyer = loop {
        let b = Nip::random();
        if b != seller {
            break b;
        }
    };
    let issue_start = Instant::now();
    let issued = issue(&emulator, dir.path(), &seller, &buyer, n);
    let issue = issue_start.elapsed();
    assert_eq!(issued.len(), n, "every benchmark invoice must be accepted");

    // The buyer's program: a fresh data dir, logged in with its own seal certificate.
    let data = dir.path().join("buyer-data");
    common::log_in(&emulator.base_url, &data, dir.path(), buyer.as_str());

    let first = sync(&emulator, &data);
    assert_eq!(first.registered, n as u64, "the first sync registers all");
    check_register(&emulator.base_url, &buyer, &data, &issued);
    let again = sync(&emulator, &data);
    assert_eq!(again.registered, 0, "a second sync registers nothing");
    check_register(&emulator.base_url, &buyer, &data, &issued);
    Figures {
        n,
        issue,
        first,
        again,
    }
}

/// The seller issues `n` FA(3) invoices to `buyer` in batch sessions of at most 10 000; their
/// KSeF numbers.
fn issue(
    emulator: &EmulatorProcess,
    dir: &Path,
    seller: &Nip,
    buyer: &Nip,
    n: usize,
) -> HashSet<String> {
    let invoices = dir.join("issued");
    std::fs::create_dir_all(&invoices).expect("invoice dir");
    let mut files: Vec<PathBuf> = Vec::with_capacity(n);
    for i in 0..n {
        let path = invoices.join(format!("fa3-{i:05}.xml"));
        let xml = String::from_utf8(ksef_testkit::invoices::fa3(
            seller.as_str(),
            &format!("SYNC-BENCH/{i}"),
        ))
        .expect("UTF-8 template")
        .replace(
            "<NIP>1111111111</NIP>",
            &format!("<NIP>{}</NIP>", buyer.as_str()),
        );
        std::fs::write(&path, xml).expect("write invoice");
        files.push(path);
    }
    let seal = make_test_certificate(
        &TestSubject::seal(seller.clone(), "Sprzedawca Sp. z o.o."),
        KeyAlgorithm::EcP256,
    )
    .expect("certificate");
    let context = ContextIdentifier::Nip(seller.clone());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let client = KsefClient::new(&emulator.base_url).expect("client");
        let mut session = client
            .login_with_credential(&seal, &context, SubjectIdentifierType::CertificateSubject)
            .await
            .expect("seller login");
        let form = FormCode {
            system_code: "FA (3)".into(),
            schema_version: "1-0E".into(),
            value: "FA".into(),
        };
        let mut numbers = HashSet::with_capacity(n);
        // KSeF takes at most 10 000 invoices per session.
        for chunk in files.chunks(SESSION_MAX) {
            let summary = invoicing_flows::send_batch_to(
                &client,
                &mut session,
                &form,
                chunk,
                &SendOptions::default(),
                &mut |o| {
                    if let Some(k) = &o.ksef_number {
                        numbers.insert(k.clone());
                    }
                },
            )
            .await
            .expect("batch send");
            assert_eq!(
                summary.accepted,
                chunk.len(),
                "every benchmark invoice must be accepted"
            );
        }
        numbers
    })
}

/// Runs `ksef sync --json`, sampling the process's peak RSS.
fn sync(emulator: &EmulatorProcess, data: &Path) -> SyncRun {
    let out = tempfile::NamedTempFile::new().expect("report file");
    let err = tempfile::NamedTempFile::new().expect("error file");
    let start = Instant::now();
    let mut child = ksef(emulator, data, &["sync", "--json"])
        .stdout(out.reopen().expect("report file"))
        .stderr(err.reopen().expect("error file"))
        .stdin(Stdio::null())
        .spawn()
        .expect("run ksef sync");
    let (status, peak) = common::wait_sampling_peak(&mut child, Duration::from_millis(5));
    let time = start.elapsed();
    assert!(
        status.success(),
        "ksef sync: {}",
        std::fs::read_to_string(err.path()).unwrap_or_default()
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path()).expect("report")).expect("JSON report");
    SyncRun {
        time,
        peak_kb: peak,
        registered: report["registered"].as_u64().expect("registered count"),
    }
}

/// The buyer's register holds exactly the issued invoices, as purchases.
fn check_register(api: &str, buyer: &Nip, data: &Path, issued: &HashSet<String>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = Store::open(data, Some(ksef_crypto::Zeroizing::new("bench".into())))
            .await
            .expect("the buyer's store");
        let firms = store.registers(api).await.expect("registers");
        let [(firm, context)] = firms.as_slice() else {
            panic!("one register expected, got {firms:?}");
        };
        assert_eq!(*context, format!("Nip:{}", buyer.as_str()));
        let filter = InvoiceFilter {
            direction: Some(Direction::Purchase),
            ..InvoiceFilter::new(*firm)
        };
        let mut seen = HashSet::with_capacity(issued.len());
        let mut page = 1;
        loop {
            let p = store
                .list_invoices(&filter, page, 1000)
                .await
                .expect("list purchases");
            assert_eq!(p.total, issued.len() as u64, "purchases in the register");
            if p.invoices.is_empty() {
                break;
            }
            for i in &p.invoices {
                let k = i.record.ksef_number.clone().expect("a KSeF number");
                assert!(issued.contains(&k), "{k} was not issued");
                assert!(seen.insert(k), "listed twice");
            }
            page += 1;
        }
        assert_eq!(seen.len(), issued.len(), "every issued invoice registered");
        store.close().await;
    });
}
