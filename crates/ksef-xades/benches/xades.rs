//! Throughput of XAdES signing and verification of an `AuthTokenRequest`
//! (`cargo bench -p ksef-xades`). Plain `main`, no harness: prints operations per second
//! and the mean time per operation, plus a breakdown of where verification time goes.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ksef_core::ContextIdentifier;
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_crypto::{Credential, KeyAlgorithm};
use ksef_xades::signature::{SignOptions, VerifyOptions, XadesSigner};
use ksef_xades::{
    AuthNamespace, AuthTokenRequest, SubjectIdentifierType, sign_enveloped, verify_enveloped,
};

/// Run `f` repeatedly for about `budget`; return (iterations, mean duration).
fn measure(budget: Duration, mut f: impl FnMut()) -> (u64, Duration) {
    // Warm-up.
    for _ in 0..3 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        f();
        n += 1;
    }
    let elapsed = start.elapsed();
    (n, elapsed / n.max(1) as u32)
}

fn report(label: &str, (n, mean): (u64, Duration)) {
    let per_sec = 1.0 / mean.as_secs_f64();
    println!(
        "{label:<44} {per_sec:>10.0} /s   {:>9.1} µs/op   ({n} runs)",
        mean.as_secs_f64() * 1e6
    );
}

fn main() {
    let budget = Duration::from_millis(
        std::env::var("XADES_BENCH_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1500),
    );
    let nip = "5265877635".parse().expect("valid NIP");
    let subject = TestSubject::person_nip(nip, "Jan", "Kowalski");
    let mut request = AuthTokenRequest::new(
        "20250604-CR-461EA5B000-537A6BA15D-D7",
        ContextIdentifier::Nip("5265877635".parse().expect("valid NIP")),
        SubjectIdentifierType::CertificateSubject,
    );
    request.authorization_policy = None;
    let xml = request.to_xml(AuthNamespace::V2_0);
    let strict = VerifyOptions { strict_xades: true };

    println!(
        "ksef-xades benchmark: AuthTokenRequest ({} bytes unsigned), budget {budget:?} per row",
        xml.len()
    );
    for (name, alg) in [
        ("EC P-256", KeyAlgorithm::EcP256),
        ("RSA-2048", KeyAlgorithm::Rsa2048),
    ] {
        let cred: Credential = make_test_certificate(&subject, alg).expect("test certificate");
        let opts = SignOptions::default();
        let signed = sign_enveloped(&xml, &cred, &opts).expect("sign");
        report(
            &format!("{name}: sign_enveloped"),
            measure(budget, || {
                black_box(sign_enveloped(black_box(&xml), &cred, &opts).expect("sign"));
            }),
        );
        let signer = XadesSigner::new(&cred).expect("signer");
        report(
            &format!("{name}: XadesSigner::sign (key imported once)"),
            measure(budget, || {
                black_box(signer.sign(black_box(&xml), &opts).expect("sign"));
            }),
        );
        report(
            &format!("{name}: verify_enveloped (strict)"),
            measure(budget, || {
                black_box(verify_enveloped(black_box(signed.as_bytes()), &strict).expect("verify"));
            }),
        );
        // Breakdown of the sign path.
        report(
            &format!("{name}:   XadesSigner::new (key, certificate fields)"),
            measure(budget / 3, || {
                black_box(XadesSigner::new(&cred).expect("signer"));
            }),
        );
        // Breakdown of the verify path.
        report(
            &format!("{name}:   roxmltree parse of signed doc"),
            measure(budget / 3, || {
                black_box(roxmltree::Document::parse(black_box(&signed)).expect("parse"));
            }),
        );
        report(
            &format!("{name}:   verify_enveloped (lenient)"),
            measure(budget / 3, || {
                black_box(
                    verify_enveloped(black_box(signed.as_bytes()), &VerifyOptions::default())
                        .expect("verify"),
                );
            }),
        );
        report(
            &format!("{name}:   raw signature (ksef-crypto sign_raw)"),
            measure(budget / 3, || {
                black_box(cred.sign(b"abc").expect("sign"));
            }),
        );
        report(
            &format!("{name}:   AuthTokenRequest::parse"),
            measure(budget / 3, || {
                black_box(AuthTokenRequest::parse(signed.as_bytes()).expect("parse"));
            }),
        );
    }
}
