//! Sending within real rate limits (issue 16): a real `ksef emulator` process enforcing a
//! context's limits set through `POST /testdata/rate-limits` (invoiceSend 2/s, 6/min).
//!
//! * The online flow with a [`Pacer`] keeps to the windows: 8 invoices are all accepted without
//!   a single 429 (the client retries none, so one would fail the send), the 7th waits for the
//!   minute, the whole send takes what the limits imply, and the progress's estimate matched.
//!   The same flow without the pacer runs into a 429 at once (the limits are real).
//! * `ksef invoice send` of 40 invoices switches to one batch session and says so in one stderr
//!   line; `--online` keeps it online (the decision line), `--online --batch` is refused.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ksef_client::invoicing_flows::{self, Progress, SendOptions};
use ksef_client::ksef_wire::{
    EffectiveApiRateLimitValues as V, EffectiveApiRateLimits, FormCode, Secret,
};
use ksef_client::{KsefClient, LimitsSource, Pacer, RetryPolicy, Session, SubjectIdentifierType};
use ksef_core::{ContextIdentifier, Nip};
use ksef_crypto::KeyAlgorithm;
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_testkit::cli::Program;
use ksef_testkit::{EmulatorProcess, RawClient};
use serde_json::Value;

const KSEF: &str = env!("CARGO_BIN_EXE_ksef");

/// Tight but realistic limits: invoiceSend 2/s, 6/min; the other groups the flow uses low too.
fn tight_limits() -> EffectiveApiRateLimits {
    let mut l = EffectiveApiRateLimits::PRODUCTION;
    l.invoice_send = V::new(2, 6, 100);
    l.online_session = V::new(2, 10, 60);
    l.batch_session = V::new(2, 10, 60);
    l.session_misc = V::new(2, 30, 300);
    l.session_invoice_list = V::new(2, 10, 100);
    l
}

/// Logs in to `nip`'s context with a fresh seal certificate (the emulator makes its holder
/// the owner).
async fn login(client: &KsefClient, nip: &Nip) -> Session {
    let seal = make_test_certificate(
        &TestSubject::seal(nip.clone(), "Limity Sp. z o.o."),
        KeyAlgorithm::EcP256,
    )
    .unwrap();
    client
        .login_with_credential(
            &seal,
            &ContextIdentifier::Nip(nip.clone()),
            SubjectIdentifierType::CertificateSubject,
        )
        .await
        .expect("certificate login")
}

/// `POST /testdata/rate-limits` in the context of `access_token`.
async fn set_limits(base_url: &str, access_token: &Secret<String>, limits: EffectiveApiRateLimits) {
    let set = RawClient::new(base_url)
        .post(
            "/testdata/rate-limits",
            Some(access_token.expose_secret()),
            serde_json::json!({ "rateLimits": limits }),
        )
        .await;
    assert!(set.status.is_success(), "{set:?}");
}

fn invoices(dir: &Path, nip: &Nip, prefix: &str, n: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let path = dir.join(format!("{prefix}-{i:02}.xml"));
            let xml = ksef_testkit::invoices::fa3(nip.as_str(), &format!("{prefix}/{i}"));
            std::fs::write(&path, xml).unwrap();
            path
        })
        .collect()
}

fn fa3() -> FormCode {
    FormCode {
        system_code: "FA (3)".into(),
        schema_version: "1-0E".into(),
        value: "FA".into(),
    }
}

/// When each `Sending` report came, with its estimate of the time left.
type Sent = Arc<Mutex<Vec<(u64, Instant, Option<Duration>)>>>;

fn recording(sent: &Sent) -> SendOptions {
    let sent = sent.clone();
    SendOptions {
        progress: Arc::new(move |p| {
            if let Progress::Sending { done, eta, .. } = p {
                sent.lock().unwrap().push((done, Instant::now(), eta));
            }
        }),
        ..SendOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_send_keeps_to_the_context_rate_limits_without_a_429() {
    let emulator = EmulatorProcess::start(KSEF, &[]);
    let nip = Nip::random();
    let files = tempfile::tempdir().unwrap();
    // No retries: a single 429 would fail the flow (or the invoice it hit).
    let client = KsefClient::new(&emulator.base_url)
        .unwrap()
        .with_retry_policy(RetryPolicy::none());
    let mut session = login(&client, &nip).await;
    set_limits(&emulator.base_url, &session.access_token, tight_limits()).await;

    // The pacer reads the limits the context has now.
    let token = session.access_token.expose_secret().to_string();
    let pacer = Pacer::for_context(&client, &token).await;
    assert_eq!(pacer.source(), LimitsSource::Context);
    assert_eq!(*pacer.limits(), tight_limits());
    let paced = client.clone().with_pacer(pacer.clone());

    let files8 = invoices(files.path(), &nip, "PACED", 8);
    let sent: Sent = Arc::default();
    let started = Instant::now();
    let report =
        invoicing_flows::send_online(&paced, &mut session, &fa3(), &files8, &recording(&sent))
            .await
            .expect("the paced online send");
    let took = started.elapsed();
    assert_eq!(
        report.accepted(),
        8,
        "{:#?}",
        report
            .invoices
            .iter()
            .filter(|o| !o.accepted())
            .collect::<Vec<_>>()
    );
    assert_eq!(pacer.throttled(), 0, "no 429 answered");

    let sent = sent.lock().unwrap().clone();
    let at = |done: u64| {
        *sent
            .iter()
            .find(|(d, ..)| *d == done)
            .unwrap_or_else(|| panic!("no report of {done} sent: {sent:?}"))
    };
    let (_, first, eta_after_first) = at(1);
    let (_, seventh, _) = at(7);
    let (_, last, _) = at(8);
    // The 7th may start only once the 1st has left the minute window (6/min).
    let gap = seventh - first;
    assert!(gap >= Duration::from_secs(60), "7th after {gap:?}");
    assert!(
        gap < Duration::from_secs(63),
        "7th after {gap:?}: waited too long"
    );
    // What the limits imply: the last send a minute after the first; then close and the
    // statuses (sessionMisc 2/s, 30/min: polls every 2 s at most).
    let implied = ksef_program::invoices::online_estimate(&tight_limits(), &[8]);
    assert!(took >= implied, "{took:?} < {implied:?}");
    assert!(
        took < implied + Duration::from_secs(10),
        "{took:?}, limits imply {implied:?}"
    );
    // The estimate after the first send was the time the rest took, within a few seconds.
    let eta = eta_after_first.expect("a paced send reports its estimate");
    let rest = last - first;
    let off = rest.as_secs_f64() - eta.as_secs_f64();
    assert!(
        off.abs() < 3.0,
        "estimated {eta:?} after the 1st, the rest took {rest:?}"
    );
    eprintln!(
        "paced: 8 invoices in {took:?} (limits imply {implied:?}), 7th {gap:?} after the 1st, \
         estimate after the 1st {eta:?} vs {rest:?}, waited {:?} in all",
        pacer.waited()
    );

    // Control: the same flow without the pacer runs into KSeF's limits at once (a send or a
    // status poll answered 429).
    let unpaced = invoices(files.path(), &nip, "UNPACED", 8);
    let result = invoicing_flows::send_online(
        &client,
        &mut session,
        &fa3(),
        &unpaced,
        &SendOptions::default(),
    )
    .await;
    let limited = match &result {
        Err(e) => e.http_status() == Some(429),
        Ok(r) => r
            .invoices
            .iter()
            .any(|o| o.status_description.contains("HTTP 429")),
    };
    assert!(limited, "unpaced calls were not limited: {result:#?}");
}

/// `ksef invoice send` at the tight limits: 40 invoices would take over 6 minutes online, so
/// they go in one batch session, with one line on stderr; `--online` keeps them online (the
/// decision only: the send is stopped once it has said so); the two flags exclude each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_too_slow_online_goes_in_a_batch_and_says_so() {
    let emulator = EmulatorProcess::start(
        KSEF,
        &["--auth-delay-ms", "20", "--token-activation-ms", "20"],
    );
    let p = Program::new(KSEF, &emulator.base_url);
    let files = tempfile::tempdir().unwrap();
    let nip = Nip::random();
    p.login_owner(&nip, files.path());
    let client = KsefClient::new(&emulator.base_url).unwrap();
    let api = login(&client, &nip).await;
    set_limits(&emulator.base_url, &api.access_token, tight_limits()).await;
    let dir = files.path().join("faktury");
    std::fs::create_dir(&dir).unwrap();
    invoices(&dir, &nip, "AUTO", 40);
    let dir = dir.to_str().unwrap();

    let (_, err) = p.fails_with_output(&["invoice", "send", dir, "--online", "--batch"]);
    assert!(err.contains("--online") && err.contains("--batch"), "{err}");

    let out = p.run(&["invoice", "send", dir, "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let line = "40 invoices online would take about 6 min 2 s at this context's limits \
                (invoiceSend 2/s, 6/min, 100/h); sending them in a batch session instead \
                (--online to force)";
    assert_eq!(stderr.lines().next(), Some(line), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["accepted"], 40, "{report:#}");
    let sessions = report["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{report:#}");
    assert_eq!(sessions[0]["sessionKind"], "Batch");
    // KSeF's own session list: one batch session, no online one.
    let listed = |kind: &str| {
        p.json(&["session", "list", "--type", kind])
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!((listed("batch"), listed("online")), (1, 0));

    // --online: the decision says online (and how long); stopped there.
    let mut child = p
        .cmd(&["invoice", "send", dir, "--online"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        first.trim_end(),
        "40 invoices online will take about 6 min 2 s at this context's limits \
         (invoiceSend 2/s, 6/min, 100/h)"
    );
}
