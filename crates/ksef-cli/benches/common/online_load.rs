//! A load generator for the emulator's online sessions (issue 16): many subjects, one online
//! session each, every session sending ~3 KB FA(3) invoices back-to-back.
//!
//! [`run`] starts the release emulator (`ksef emulator` as a child process on a random loopback
//! port), logs `sessions` subjects in (random NIPs, test seal certificates), opens one online
//! session per subject and prepares every request body before the clock starts (invoice XML,
//! AES-256-CBC, hashes, Base64, JSON), so the generator itself only moves bytes while it
//! measures (it shares the machine with the emulator). Then every session sends its bodies one
//! after the other for `duration`; the figures are the accepted invoices per second (202s), the
//! latency of a send, the time from the end of the sending until every accepted invoice has a
//! final status, and the emulator's peak RSS.
//!
//! [`run_kill9`] runs the same load, kills the emulator with SIGKILL in the middle of it,
//! restarts it on the same data directory and checks that every invoice that got a 202 is known
//! (its status reads 200 OK) and ends final: with a KSeF number, or rejected.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ksef_core::{ContextIdentifier, Nip};
use ksef_crypto::KeyAlgorithm;
use ksef_crypto::envelope::{aes256_cbc_encrypt, random_aes_key, random_iv, sha256_base64};
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_testkit::{EmulatorProcess, RawClient};
use serde_json::{Value, json};

/// Highest send rate a body pool is prepared for (invoices per second, all sessions together);
/// a session that used up its bodies before the end stops and is counted in
/// [`LoadFigures::exhausted_sessions`].
const PREPARED_RATE: f64 = 6000.0;

/// What one load run measured.
#[derive(Debug, Clone)]
pub struct LoadFigures {
    pub sessions: usize,
    pub duration: Duration,
    /// Sends answered 202.
    pub accepted: usize,
    /// Sends answered otherwise (status → count), transport errors under 0.
    pub refused: HashMap<u16, usize>,
    pub per_second: f64,
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// From the end of the sending until every accepted invoice had a final status.
    pub to_final: Duration,
    /// Final statuses: accepted with a KSeF number, rejected.
    pub final_accepted: u64,
    pub final_rejected: u64,
    /// Sessions that ran out of prepared bodies before the end (the rate exceeded
    /// [`PREPARED_RATE`]).
    pub exhausted_sessions: usize,
    /// Peak resident set size of the emulator process (kB).
    pub emulator_peak_rss_kb: u64,
}

impl std::fmt::Display for LoadFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        write!(
            f,
            "{:>8} | {:>8} | {:>9.0} | {:>7.1} | {:>7.1} | {:>7.1} | {:>7.1} | {:>8.2} s | {:>7} MB",
            self.sessions,
            self.accepted,
            self.per_second,
            ms(self.p50),
            ms(self.p95),
            ms(self.p99),
            ms(self.max),
            self.to_final.as_secs_f64(),
            self.emulator_peak_rss_kb / 1024,
        )?;
        if !self.refused.is_empty() {
            write!(f, " | refused {:?}", self.refused)?;
        }
        if self.final_rejected > 0 {
            write!(f, " | {} rejected", self.final_rejected)?;
        }
        if self.exhausted_sessions > 0 {
            write!(
                f,
                " | {} sessions ran out of prepared invoices",
                self.exhausted_sessions
            )?;
        }
        Ok(())
    }
}

impl LoadFigures {
    /// The header line matching [`LoadFigures`]'s `Display`.
    pub fn header() -> String {
        format!(
            "{:>8} | {:>8} | {:>9} | {:>7} | {:>7} | {:>7} | {:>7} | {:>10} | {:>10}",
            "sessions",
            "202s",
            "202/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "to final",
            "emu RSS"
        )
    }
}

/// What the kill -9 run found.
#[derive(Debug, Clone)]
pub struct KillFigures {
    /// Sends answered 202 before the kill.
    pub accepted: usize,
    /// Of those, unknown after the restart (their status did not read 200 OK).
    pub lost: usize,
    /// Of those, final after the restart with a KSeF number / rejected.
    pub final_accepted: usize,
    pub final_rejected: usize,
    /// Known but still not final when the wait ended.
    pub not_final: usize,
}

/// One logged-in subject with its open online session and its prepared request bodies.
struct Sender {
    nip: Nip,
    seal: ksef_crypto::Credential,
    access_token: String,
    session_ref: String,
    bodies: Vec<Vec<u8>>,
}

/// What one session's sending loop saw.
#[derive(Default)]
struct Sent {
    /// Invoice references answered 202.
    accepted: Vec<String>,
    latencies: Vec<Duration>,
    refused: HashMap<u16, usize>,
    exhausted: bool,
}

/// Runs the load against a fresh release emulator and returns the figures.
pub async fn run(ksef_bin: &str, sessions: usize, duration: Duration) -> LoadFigures {
    let data = tempfile::tempdir().expect("temp dir");
    let emulator = start(ksef_bin, data.path()).await;
    let senders = prepare(&emulator.base_url, sessions, duration).await;
    let (sent, elapsed) = send_all(&emulator.base_url, &senders, duration, None).await;
    let ended = Instant::now();
    let http = ksef_testkit::http_client();
    let accepted: usize = sent.iter().map(|s| s.accepted.len()).sum();
    let (final_accepted, final_rejected) = wait_final(
        &http,
        &emulator.base_url,
        &senders,
        &sent,
        Duration::from_secs(300),
    )
    .await;
    let to_final = ended.elapsed();
    let mut latencies: Vec<Duration> = sent.iter().flat_map(|s| s.latencies.clone()).collect();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or_default()
    };
    let mut refused = HashMap::new();
    for s in &sent {
        for (k, v) in &s.refused {
            *refused.entry(*k).or_insert(0) += v;
        }
    }
    LoadFigures {
        sessions,
        duration,
        accepted,
        refused,
        per_second: accepted as f64 / elapsed.as_secs_f64(),
        p50: pct(0.50),
        p95: pct(0.95),
        p99: pct(0.99),
        max: latencies.last().copied().unwrap_or_default(),
        to_final,
        final_accepted,
        final_rejected,
        exhausted_sessions: sent.iter().filter(|s| s.exhausted).count(),
        emulator_peak_rss_kb: super::vm_hwm_kb(&emulator.pid().to_string()),
    }
}

/// Runs the load, kills the emulator with SIGKILL after `kill_after`, restarts it on the same
/// data directory and checks every invoice that got a 202 (waiting at most `final_within` for
/// them to be final).
pub async fn run_kill9(
    ksef_bin: &str,
    sessions: usize,
    kill_after: Duration,
    final_within: Duration,
) -> KillFigures {
    let data = tempfile::tempdir().expect("temp dir");
    let mut emulator = start(ksef_bin, data.path()).await;
    // Bodies for twice the time before the kill: the sessions must still be sending then.
    let senders = prepare(&emulator.base_url, sessions, kill_after * 2).await;
    let base_url = emulator.base_url.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let killer = tokio::spawn(async move {
        tokio::time::sleep(kill_after).await;
        let _ = tx.send(());
        emulator.kill(); // SIGKILL
        emulator
    });
    let (sent, _) = send_all(&base_url, &senders, kill_after * 4, Some(rx)).await;
    drop(killer.await.expect("the killer task"));
    let accepted: Vec<(usize, &String)> = sent
        .iter()
        .enumerate()
        .flat_map(|(i, s)| s.accepted.iter().map(move |r| (i, r)))
        .collect();

    // Restart on the same data directory (a new port); every subject logs in again.
    let emulator = start(ksef_bin, data.path()).await;
    let raw = RawClient::new(&emulator.base_url);
    let tokens = login_all(&raw, &senders).await;
    let relogged: Vec<Sender> = senders
        .iter()
        .zip(tokens)
        .map(|(s, token)| Sender {
            nip: s.nip.clone(),
            seal: s.seal.clone(),
            access_token: token,
            session_ref: s.session_ref.clone(),
            bodies: Vec::new(),
        })
        .collect();
    let http = ksef_testkit::http_client();
    wait_final(&http, &emulator.base_url, &relogged, &sent, final_within).await;
    let mut figures = KillFigures {
        accepted: accepted.len(),
        lost: 0,
        final_accepted: 0,
        final_rejected: 0,
        not_final: 0,
    };
    for (i, invoice) in accepted {
        let s = &relogged[i];
        let (status, body) = get_json(
            &http,
            &emulator.base_url,
            &format!("/sessions/{}/invoices/{invoice}", s.session_ref),
            &s.access_token,
        )
        .await;
        if status != 200 {
            figures.lost += 1;
            continue;
        }
        match body["status"]["code"].as_i64() {
            Some(200) if body["ksefNumber"].as_str().is_some_and(|k| !k.is_empty()) => {
                figures.final_accepted += 1
            }
            Some(c) if c >= 300 => figures.final_rejected += 1,
            _ => figures.not_final += 1,
        }
    }
    figures
}

async fn start(ksef_bin: &str, data: &Path) -> EmulatorProcess {
    let (bin, dir) = (ksef_bin.to_string(), data.to_path_buf());
    tokio::task::spawn_blocking(move || EmulatorProcess::start_in(&bin, &dir, &[]))
        .await
        .expect("start the emulator")
}

/// Logs `n` subjects in (concurrently), opens an online session for each and prepares enough
/// bodies for `duration` at [`PREPARED_RATE`].
async fn prepare(base_url: &str, n: usize, duration: Duration) -> Vec<Sender> {
    let per_session = ((PREPARED_RATE * duration.as_secs_f64()) / n as f64).ceil() as usize + 10;
    let raw = RawClient::new(base_url);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let raw = raw.clone();
        set.spawn(async move {
            let nip = Nip::random();
            let seal = make_test_certificate(
                &TestSubject::seal(nip.clone(), "Obciążenie Sp. z o.o."),
                KeyAlgorithm::EcP256,
            )
            .expect("certificate");
            let login = raw
                .login_with_certificate(&seal, &ContextIdentifier::Nip(nip.clone()))
                .await
                .expect("login");
            let key = random_aes_key();
            let iv = random_iv();
            let encryption = raw.encryption(&key, &iv).await;
            let open = raw
                .post(
                    "/sessions/online",
                    Some(&login.access_token),
                    json!({
                        "formCode": {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"},
                        "encryption": encryption,
                    }),
                )
                .await;
            assert_eq!(open.status, 201, "open online session: {:?}", open.body);
            let session_ref = open.body["referenceNumber"]
                .as_str()
                .expect("referenceNumber")
                .to_string();
            let nip_s = nip.as_str().to_string();
            let bodies = tokio::task::spawn_blocking(move || {
                (0..per_session)
                    .map(|k| {
                        let xml = ksef_testkit::invoices::fa3(&nip_s, &format!("LOAD/{i}/{k}"));
                        body(&key, &iv, &xml)
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .expect("prepare bodies");
            (
                i,
                Sender {
                    nip,
                    seal,
                    access_token: login.access_token,
                    session_ref,
                    bodies,
                },
            )
        });
    }
    let mut out: Vec<(usize, Sender)> = set.join_all().await.into_iter().collect();
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, s)| s).collect()
}

/// The JSON body of `POST /sessions/online/{ref}/invoices` for one invoice.
fn body(key: &[u8; 32], iv: &[u8; 16], xml: &[u8]) -> Vec<u8> {
    let enc = aes256_cbc_encrypt(key, iv, xml);
    serde_json::to_vec(&json!({
        "invoiceHash": sha256_base64(xml),
        "invoiceSize": xml.len(),
        "encryptedInvoiceHash": sha256_base64(&enc),
        "encryptedInvoiceSize": enc.len(),
        "encryptedInvoiceContent": STANDARD.encode(&enc),
        "offlineMode": false,
    }))
    .expect("JSON body")
}

async fn login_all(raw: &RawClient, senders: &[Sender]) -> Vec<String> {
    let mut set = tokio::task::JoinSet::new();
    for (i, s) in senders.iter().enumerate() {
        let (raw, nip, seal) = (raw.clone(), s.nip.clone(), s.seal.clone());
        set.spawn(async move {
            let login = raw
                .login_with_certificate(&seal, &ContextIdentifier::Nip(nip))
                .await
                .expect("login after restart");
            (i, login.access_token)
        });
    }
    let mut out = set.join_all().await;
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, t)| t).collect()
}

/// Every session sends its bodies back-to-back until `duration` passed, its bodies ran out,
/// `stop` fired or the emulator stopped answering. Returns what each saw and how long the
/// sending took.
async fn send_all(
    base_url: &str,
    senders: &[Sender],
    duration: Duration,
    stop: Option<tokio::sync::oneshot::Receiver<()>>,
) -> (Vec<Sent>, Duration) {
    let http = reqwest_client(senders.len());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    if let Some(stop) = stop {
        let stop_tx = stop_tx.clone();
        tokio::spawn(async move {
            let _ = stop.await;
            let _ = stop_tx.send(true);
        });
    }
    let start = Instant::now();
    let deadline = start + duration;
    let mut set = tokio::task::JoinSet::new();
    for (i, s) in senders.iter().enumerate() {
        let http = http.clone();
        let url = format!(
            "{}/sessions/online/{}/invoices",
            base_url.trim_end_matches('/'),
            s.session_ref
        );
        let auth = Arc::new(format!("Bearer {}", s.access_token));
        let bodies = s.bodies.clone();
        let mut stop_rx = stop_rx.clone();
        set.spawn(async move {
            let mut sent = Sent::default();
            let mut bodies = bodies.into_iter();
            loop {
                if Instant::now() >= deadline || *stop_rx.borrow() {
                    break;
                }
                let Some(body) = bodies.next() else {
                    sent.exhausted = true;
                    break;
                };
                let t = Instant::now();
                let request = http
                    .post(&url)
                    .header("authorization", auth.as_str())
                    .header("content-type", "application/json")
                    .body(body)
                    .send();
                let answer = tokio::select! {
                    a = request => a,
                    _ = stop_rx.changed() => break,
                };
                let response = match answer {
                    Ok(r) => r,
                    Err(_) => {
                        *sent.refused.entry(0).or_insert(0) += 1;
                        break; // the emulator is gone
                    }
                };
                let status = response.status().as_u16();
                let bytes = match response.bytes().await {
                    Ok(b) => b,
                    Err(_) => {
                        *sent.refused.entry(0).or_insert(0) += 1;
                        break;
                    }
                };
                let latency = t.elapsed();
                if status == 202 {
                    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    let reference = v["referenceNumber"].as_str().unwrap_or_default();
                    assert!(!reference.is_empty(), "202 without a referenceNumber: {v}");
                    sent.accepted.push(reference.to_string());
                    sent.latencies.push(latency);
                } else {
                    *sent.refused.entry(status).or_insert(0) += 1;
                }
            }
            (i, sent)
        });
    }
    let mut out = set.join_all().await;
    let elapsed = start.elapsed();
    out.sort_by_key(|(i, _)| *i);
    (out.into_iter().map(|(_, s)| s).collect(), elapsed)
}

fn reqwest_client(connections: usize) -> reqwest::Client {
    ksef_testkit::http_client_builder()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("HTTP client")
}

async fn get_json(http: &reqwest::Client, base_url: &str, path: &str, token: &str) -> (u16, Value) {
    match http
        .get(format!("{}{path}", base_url.trim_end_matches('/')))
        .bearer_auth(token)
        .send()
        .await
    {
        Ok(r) => {
            let status = r.status().as_u16();
            let body = r.json::<Value>().await.unwrap_or(Value::Null);
            (status, body)
        }
        Err(_) => (0, Value::Null),
    }
}

/// Polls every session's status until each counts all its invoices (at least the ones that got
/// a 202) as final, or `within` passed. Returns the final counts (accepted, rejected).
async fn wait_final(
    http: &reqwest::Client,
    base_url: &str,
    senders: &[Sender],
    sent: &[Sent],
    within: Duration,
) -> (u64, u64) {
    let deadline = Instant::now() + within;
    loop {
        let mut done = true;
        let (mut ok, mut bad) = (0, 0);
        for (s, seen) in senders.iter().zip(sent) {
            let (status, body) = get_json(
                http,
                base_url,
                &format!("/sessions/{}", s.session_ref),
                &s.access_token,
            )
            .await;
            let count = |k: &str| body[k].as_u64().unwrap_or(0);
            let (total, good, failed) = (
                count("invoiceCount"),
                count("successfulInvoiceCount"),
                count("failedInvoiceCount"),
            );
            ok += good;
            bad += failed;
            if status != 200 || total < seen.accepted.len() as u64 || good + failed < total {
                done = false;
            }
        }
        if done || Instant::now() >= deadline {
            return (ok, bad);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs [`run`] for each count of `sessions` and prints a table row each, then (with `kill`)
/// [`run_kill9`] with the last count, killed half-way through `duration`, and prints how many
/// invoices that got a 202 were lost — what both `--bench online_load` and `--bench speed`
/// print.
pub fn print_figures(ksef_bin: &str, sessions: &[usize], duration: Duration, kill: bool) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!("{}", LoadFigures::header());
    for &n in sessions {
        println!("{}", rt.block_on(run(ksef_bin, n, duration)));
    }
    let Some(&last) = sessions.last().filter(|_| kill) else {
        return;
    };
    let k = rt.block_on(run_kill9(
        ksef_bin,
        last,
        duration / 2,
        Duration::from_secs(120),
    ));
    println!(
        "   kill -9 after {:.1} s with {last} sessions, restarted on the same data: lost {} of {} \
         invoices that got a 202 ({} final with a KSeF number, {} rejected, {} not final)",
        (duration / 2).as_secs_f64(),
        k.lost,
        k.accepted,
        k.final_accepted,
        k.final_rejected,
        k.not_final
    );
}
