//! End-to-end batch benchmark (issue 6): `cargo bench -p ksef-cli --bench batch`.
//!
//! Starts the release `ksef emulator` as a child process on a random loopback port, logs in with
//! a test seal certificate (owner of a random NIP), writes N copies of the official ~3.3 KB FA(3)
//! template (unique invoice numbers) to a temp dir and sends them as ONE batch session with the
//! library flow the CLI uses (`ksef_client::invoicing_flows::send_batch`). Prints, per size:
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
//! size. Sizes: `BATCH_BENCH_SIZES=1000,10000` (default).

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

/// Peak resident set size (kB) of a process, from `/proc/<pid>/status`.
fn vm_hwm_kb(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    if let Ok(n) = std::env::var("BATCH_BENCH_CHILD") {
        let n: usize = n.parse().expect("BATCH_BENCH_CHILD is a number");
        run_one(n);
        return;
    }
    let sizes = std::env::var("BATCH_BENCH_SIZES").unwrap_or_else(|_| "1000,10000".into());
    println!(
        "{:>7} | {:>10} | {:>8} | {:>10} | {:>10} | {:>7} | {:>8} | {:>12} | {:>12}",
        "invoices",
        "build+enc",
        "upload",
        "processing",
        "emu inv/s",
        "UPO",
        "total",
        "client RSS",
        "emulator RSS"
    );
    let exe = std::env::current_exe().expect("own path");
    for n in sizes.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let status = std::process::Command::new(&exe)
            .env("BATCH_BENCH_CHILD", n)
            .status()
            .expect("run bench child");
        assert!(status.success(), "bench for {n} invoices failed");
    }
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
        let report = invoicing_flows::send_batch(&client, &mut session, &form, &files, &options)
            .await
            .expect("batch send");
        let done = Instant::now();
        assert_eq!(
            report.accepted(),
            n,
            "every benchmark invoice must be accepted"
        );
        let upo_start = Instant::now();
        let upos = invoicing_flows::session_upos(&client, &mut session, &report.session_reference)
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
            vm_hwm_kb("self") / 1024,
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
            "{:>8}   client peak RSS after packing+encryption {} MB, after upload {} MB, at the end \
             (all {n} statuses and the report in memory) {} MB",
            "",
            rss_packed / 1024,
            rss_uploaded / 1024,
            vm_hwm_kb("self") / 1024,
        );
    });
}
