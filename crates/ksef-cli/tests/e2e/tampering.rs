//! Tampered sends against the `ksef emulator` binary (issue 6): an online invoice whose declared
//! size or hash does not match its bytes is refused at once with 21402 / 21403 (plaintext and
//! ciphertext values alike), and nothing is queued; the honest request then succeeds.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ksef_client::invoicing_flows::SymmetricKey;
use ksef_client::ksef_wire::{
    ExceptionCode, FormCode, OpenOnlineSessionRequest, SendInvoiceRequest,
};
use ksef_client::{KsefClient, SubjectIdentifierType};
use ksef_core::{ContextIdentifier, Nip};
use ksef_crypto::KeyAlgorithm;
use ksef_crypto::envelope::sha256_base64;
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_testkit::EmulatorProcess;

#[tokio::test]
async fn tampered_size_or_hash_is_refused_with_21402_or_21403() {
    let emulator = EmulatorProcess::start(env!("CARGO_BIN_EXE_ksef"), &[]);
    let client = KsefClient::new(&emulator.base_url).unwrap();
    let nip = Nip::random();
    let seal = make_test_certificate(
        &TestSubject::seal(nip.clone(), "Uczciwa Sp. z o.o."),
        KeyAlgorithm::EcP256,
    )
    .unwrap();
    let session = client
        .login_with_credential(
            &seal,
            &ContextIdentifier::Nip(nip.clone()),
            SubjectIdentifierType::CertificateSubject,
        )
        .await
        .unwrap();
    let token = session.access_token.expose_secret().to_string();
    let key = SymmetricKey::generate(&client).await.unwrap();
    let opened = client
        .open_online_session(
            &token,
            &OpenOnlineSessionRequest {
                form_code: FormCode {
                    system_code: "FA (3)".into(),
                    schema_version: "1-0E".into(),
                    value: "FA".into(),
                },
                encryption: key.info().clone(),
            },
        )
        .await
        .unwrap();
    let session_ref = opened.reference_number;

    let xml = ksef_testkit::invoices::fa3(nip.as_str(), "TAMPER/1");
    let encrypted = key.encrypt(&xml);
    let honest = SendInvoiceRequest {
        invoice_hash: sha256_base64(&xml),
        invoice_size: xml.len() as u64,
        encrypted_invoice_hash: sha256_base64(&encrypted),
        encrypted_invoice_size: encrypted.len() as u64,
        encrypted_invoice_content: BASE64.encode(&encrypted),
        offline_mode: false,
        hash_of_corrected_invoice: None,
    };
    let other_hash = sha256_base64(b"something else");
    let cases: Vec<(&str, SendInvoiceRequest, ExceptionCode)> = vec![
        (
            "invoiceSize",
            SendInvoiceRequest {
                invoice_size: honest.invoice_size + 1,
                ..honest.clone()
            },
            ExceptionCode::InvalidFileSize,
        ),
        (
            "encryptedInvoiceSize",
            SendInvoiceRequest {
                encrypted_invoice_size: honest.encrypted_invoice_size - 16,
                ..honest.clone()
            },
            ExceptionCode::InvalidFileSize,
        ),
        (
            "invoiceHash",
            SendInvoiceRequest {
                invoice_hash: other_hash.clone(),
                ..honest.clone()
            },
            ExceptionCode::InvalidFileHash,
        ),
        (
            "encryptedInvoiceHash",
            SendInvoiceRequest {
                encrypted_invoice_hash: other_hash.clone(),
                ..honest.clone()
            },
            ExceptionCode::InvalidFileHash,
        ),
    ];
    for (what, request, code) in cases {
        let err = client
            .send_invoice(&token, &session_ref, &request)
            .await
            .expect_err(what);
        assert!(
            err.is_exception(code),
            "{what}: expected {code:?}, got {err}"
        );
    }
    // Nothing was queued by the refused requests; the honest one is accepted.
    let listed = client
        .session_invoices(&token, &session_ref, None, None)
        .await
        .unwrap();
    assert!(listed.invoices.is_empty(), "{:?}", listed.invoices);
    client
        .send_invoice(&token, &session_ref, &honest)
        .await
        .expect("the untampered request is accepted");
}
