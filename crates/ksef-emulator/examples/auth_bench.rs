//! Benchmark: the full local authentication round trip over HTTP on loopback —
//! challenge → signed AuthTokenRequest (XAdES, EC P-256 and RSA-2048) → `POST /auth/xades-signature`
//! → `GET /auth/{ref}` until 200 → redeem. Prints p50/p99/mean over N runs (default 200).
//!
//! `cargo run --release -p ksef-emulator --example auth_bench [-- RUNS]`

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ksef_core::{ContextIdentifier, Nip};
use ksef_crypto::KeyAlgorithm;
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_emulator::EmulatorConfig;
use ksef_testkit::RawClient;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = EmulatorConfig::new(dir.path());
    config.auth_processing_delay = Duration::ZERO;
    let emu = ksef_emulator::spawn(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("emulator");
    let client = RawClient::new(&emu.base_url());
    for alg in [KeyAlgorithm::EcP256, KeyAlgorithm::Rsa2048] {
        let nip = Nip::random();
        let ctx = ContextIdentifier::Nip(nip.clone());
        let cred = make_test_certificate(&TestSubject::person_nip(nip, "Jan", "Bench"), alg)
            .expect("cert");
        // Warm-up.
        for _ in 0..5 {
            client
                .login_with_certificate(&cred, &ctx)
                .await
                .expect("login");
        }
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = Instant::now();
            client
                .login_with_certificate(&cred, &ctx)
                .await
                .expect("login");
            times.push(t.elapsed());
        }
        times.sort();
        let mean = times.iter().sum::<Duration>() / runs as u32;
        println!(
            "auth round trip ({alg:?}, {runs} runs): p50 {:.2} ms, p99 {:.2} ms, mean {:.2} ms",
            percentile(&times, 0.50).as_secs_f64() * 1e3,
            percentile(&times, 0.99).as_secs_f64() * 1e3,
            mean.as_secs_f64() * 1e3
        );
    }
    emu.shutdown().await;
}
