//! Issue 16's figures in one run: `cargo bench -p ksef-cli --bench speed`.
//!
//! One release `ksef emulator` (its own process, a fresh data directory) serves every job:
//! 1. **`ksef invoice send DIR --batch --json`** of N ~3.3 KB FA(3) invoices (the official
//!    template, unique numbers) — the `ksef` binary as a user runs it: the local XSD check of
//!    every file, packaging, encryption, upload, waiting for every status, the register. Wall
//!    time, the client's CPU time (user + system, from `wait4`), its peak RSS; and the emulator's
//!    own figure for the session, close → every invoice final (its log line "batch session
//!    processed final_status_ms=…"). Run for 1 000 and for N (default 10 000), so the client's
//!    memory can be compared across batch sizes (the default tar.gz), and for N once more as
//!    ZIP.
//! 2. **The third-party Python client** (`tests/third_party/batch_send.py`, the pinned
//!    `ksef-client` of the acceptance test) on the same job — its own NIP, N fresh files —
//!    against the same emulator: its process's wall and CPU time, and the job alone as it times
//!    itself (after its login). It has no local check. The library refuses pre-signed links on
//!    loopback, so the emulator is bound to 0.0.0.0 and hands out links on this machine's first
//!    non-loopback IPv4 address; without one (or without the venv) the line says why.
//!
//! 3. **The emulator under online load** ([`common::online_load`]): 10 and 50 subjects each
//!    sending invoices back-to-back in their own online session for 5 s — accepted invoices
//!    per second, send latency p50/p95/p99/max, time until all are final; then 50 sessions
//!    again, the emulator killed with `kill -9` half-way and restarted on its data: how many
//!    invoices that got a 202 are lost (each emulator of this part is its own process).
//!
//! Sizes: `SPEED_BATCH_SIZES=1000,10000`; `SPEED_ONLINE_SESSIONS=10,50`, `SPEED_ONLINE_SECS=5`. The venv: `KSEF_THIRD_PARTY_VENV` (default
//! `/var/cache/ksef-ci/third-party-venv`, which `scripts/test.sh` makes).

mod common;

use std::net::{IpAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::online_load;
use ksef_core::Nip;
use ksef_testkit::EmulatorProcess;

fn main() {
    let data = tempfile::tempdir().expect("temp dir");
    let public_ip = non_loopback_ipv4();
    let emulator = match public_ip {
        Some(ip) => {
            let port = free_port();
            let public = format!("http://{ip}:{port}");
            EmulatorProcess::start_on_port(
                env!("CARGO_BIN_EXE_ksef"),
                data.path(),
                port,
                &["--bind", "0.0.0.0", "--public-base-url", &public],
            )
        }
        None => EmulatorProcess::start_in(env!("CARGO_BIN_EXE_ksef"), data.path(), &[]),
    };
    // The API on loopback (the bound address answers there too), links on the public one.
    let api = format!(
        "http://127.0.0.1:{}/v2",
        emulator
            .base_url
            .trim_end_matches("/v2")
            .rsplit(':')
            .next()
            .unwrap_or("0")
    );
    match public_ip {
        Some(ip) => println!("emulator: {api} (pre-signed links on {ip})"),
        None => println!("emulator: {api}"),
    }
    let sizes = std::env::var("SPEED_BATCH_SIZES").unwrap_or_else(|_| "1000,10000".into());
    let sizes: Vec<usize> = sizes
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();

    println!();
    println!(
        "1. ksef invoice send DIR --batch (local XSD check, package, encrypt, upload, wait, register)"
    );
    println!(
        "{:>8} | {:>5} | {:>8} | {:>10} | {:>15} | {:>20}",
        "invoices", "pack", "wall", "client CPU", "client peak RSS", "emulator close→final"
    );
    let work = tempfile::tempdir().expect("temp dir");
    for &n in &sizes {
        cli_batch(&emulator, &api, work.path(), n, "targz");
    }
    // The largest again as ZIP (`--compression zip`): a deflate stream per file.
    if let Some(&n) = sizes.iter().max() {
        cli_batch(&emulator, &api, work.path(), n, "zip");
    }

    println!();
    println!(
        "2. the third-party Python client (ksef-client 0.20.0) on the same job, same emulator"
    );
    let n = sizes.iter().copied().max().unwrap_or(10_000);
    match (public_ip, python()) {
        (None, _) => println!(
            "   skipped: no non-loopback IPv4 address (the library refuses pre-signed links on loopback)"
        ),
        (_, None) => println!(
            "   skipped: no venv with the third-party client (KSEF_THIRD_PARTY_VENV; scripts/test.sh makes it)"
        ),
        (Some(_), Some(python)) => python_batch(&python, &api, work.path(), n),
    }
    drop(emulator);

    online();
}

/// Part 3: the online load figures and the `kill -9` count.
fn online() {
    let sessions = std::env::var("SPEED_ONLINE_SESSIONS").unwrap_or_else(|_| "10,50".into());
    let sessions: Vec<usize> = sessions
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let secs: f64 = std::env::var("SPEED_ONLINE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    println!();
    println!(
        "3. online sessions sending back-to-back for {secs} s (the generator's bodies encrypted beforehand)"
    );
    online_load::print_figures(
        env!("CARGO_BIN_EXE_ksef"),
        &sessions,
        Duration::from_secs_f64(secs),
        true,
    );
}

/// Runs `ksef invoice send DIR --batch --compression C --json` for `n` fresh invoices of a
/// fresh NIP.
fn cli_batch(emulator: &EmulatorProcess, api: &str, work: &Path, n: usize, compression: &str) {
    let nip = Nip::random();
    let dir = work.join(format!("cli-{n}-{compression}"));
    let invoices = write_invoices(&dir, &nip, n, "SPEED");
    let data = dir.join("data");
    common::log_in(api, &data, &dir, nip.as_str());
    let report = dir.join("report.json");
    let mut cmd = common::ksef(
        api,
        &data,
        &[
            "invoice",
            "send",
            invoices.to_str().expect("utf-8"),
            "--batch",
            "--compression",
            compression,
            "--json",
        ],
    );
    cmd.stdout(std::fs::File::create(&report).expect("report file"))
        .stderr(std::process::Stdio::null());
    let run = common::run_measured(cmd);
    assert!(run.success, "ksef invoice send failed");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("JSON report");
    assert_eq!(
        v["accepted"].as_u64(),
        Some(n as u64),
        "every invoice accepted"
    );
    let session = v["sessions"][0]["sessionReference"]
        .as_str()
        .or_else(|| v["sessions"][0]["referenceNumber"].as_str())
        .unwrap_or_default()
        .to_string();
    let processed = emulator_processing_ms(emulator, &session)
        .map(|ms| format!("{:.2} s", ms / 1e3))
        .unwrap_or_else(|| "?".into());
    println!(
        "{:>8} | {:>5} | {:>6.2} s | {:>8.2} s | {:>12} MB | {:>20}",
        n,
        compression,
        run.wall.as_secs_f64(),
        run.cpu.as_secs_f64(),
        run.max_rss_kb / 1024,
        processed
    );
}

/// The third-party client's batch of `n` fresh invoices of a fresh NIP.
fn python_batch(python: &Path, api: &str, work: &Path, n: usize) {
    let nip = Nip::random();
    let dir = work.join(format!("python-{n}"));
    let invoices = write_invoices(&dir, &nip, n, "PY");
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/third_party/batch_send.py");
    let mut cmd = Command::new(python);
    cmd.arg(&script)
        .args(["--base-url", api, "--nip", nip.as_str(), "--dir"])
        .arg(&invoices)
        .stdout(std::process::Stdio::piped());
    let out_path = dir.join("python.json");
    cmd.stdout(std::fs::File::create(&out_path).expect("output file"));
    let run = common::run_measured(cmd);
    let out = std::fs::read_to_string(&out_path).unwrap_or_default();
    let v: serde_json::Value = out
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_default();
    if !run.success {
        println!("   the Python client failed: {out}");
        return;
    }
    println!(
        "{:>8} invoices: process {:.2} s wall, {:.2} s CPU, {} MB peak RSS; the job alone (after \
         its login and imports): {:.2} s wall, {:.2} s CPU; accepted {}",
        n,
        run.wall.as_secs_f64(),
        run.cpu.as_secs_f64(),
        run.max_rss_kb / 1024,
        v["seconds"].as_f64().unwrap_or(f64::NAN),
        v["cpu_seconds"].as_f64().unwrap_or(f64::NAN),
        v["accepted"]
    );
}

/// Writes `n` FA(3) invoices of seller `nip` into `dir/invoices`.
fn write_invoices(dir: &Path, nip: &Nip, n: usize, prefix: &str) -> PathBuf {
    let invoices = dir.join("invoices");
    std::fs::create_dir_all(&invoices).expect("invoice dir");
    for i in 0..n {
        let xml = ksef_testkit::invoices::fa3(nip.as_str(), &format!("{prefix}/{i}"));
        std::fs::write(invoices.join(format!("fa3-{i:05}.xml")), xml).expect("write invoice");
    }
    invoices
}

/// The emulator's "batch session processed" figure (ms) for `session`: from the close until the
/// final status was committed.
fn emulator_processing_ms(emulator: &EmulatorProcess, session: &str) -> Option<f64> {
    // The log line is written right after the last commit; give it a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = emulator.log();
        let line = log
            .lines()
            .rev()
            .find(|l| l.contains("batch session processed") && l.contains(session));
        if let Some(line) = line {
            // Close → status 200 committed (visible to GET /sessions/{ref} from then on).
            let field = |name: &str| {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix(name))
                    .and_then(|v| v.parse().ok())
            };
            return field("final_status_ms=").or_else(|| field("ms="));
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The venv's Python with the third-party client, if there is one.
fn python() -> Option<PathBuf> {
    let venv = std::env::var_os("KSEF_THIRD_PARTY_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/ksef-ci/third-party-venv"));
    let python = venv.join("bin/python");
    python.exists().then_some(python)
}

/// This machine's first non-loopback IPv4 address (the source address of a route outwards;
/// connecting a UDP socket sends nothing).
fn non_loopback_ipv4() -> Option<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// A free TCP port (bound and released; the emulator takes it right after).
fn free_port() -> u16 {
    std::net::TcpListener::bind("0.0.0.0:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
