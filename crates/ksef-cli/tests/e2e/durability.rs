//! Durability (issue 6): `kill -9` of the emulator process while it processes a batch of 1 000
//! invoices, then a restart on the same data directory. Every invoice reported accepted before the
//! kill keeps its KSeF number and bytes; the interrupted work resumes and ends with all 1 000
//! accepted.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use ksef_client::invoicing_flows::{self, Progress, SendOptions};
use ksef_client::ksef_wire::{FormCode, SessionType, SessionsQuery};
use ksef_client::{KsefClient, Session, SubjectIdentifierType};
use ksef_core::{ContextIdentifier, Nip};
use ksef_crypto::KeyAlgorithm;
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_testkit::EmulatorProcess;

const KSEF: &str = env!("CARGO_BIN_EXE_ksef");
const INVOICES: usize = 1000;

async fn login(client: &KsefClient, nip: &Nip, seal: &ksef_crypto::Credential) -> Session {
    client
        .login_with_credential(
            seal,
            &ContextIdentifier::Nip(nip.clone()),
            SubjectIdentifierType::CertificateSubject,
        )
        .await
        .expect("certificate login")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_batch_processing_loses_no_accepted_invoice() {
    let data = tempfile::tempdir().unwrap();
    let invoices_dir = tempfile::tempdir().unwrap();
    let nip = Nip::random();
    let mut files: Vec<PathBuf> = Vec::new();
    let mut sent: HashMap<String, Vec<u8>> = HashMap::new();
    for i in 0..INVOICES {
        let name = format!("fa3-{i:04}.xml");
        let xml = ksef_testkit::invoices::fa3(nip.as_str(), &format!("KILL/{i}"));
        std::fs::write(invoices_dir.path().join(&name), &xml).unwrap();
        files.push(invoices_dir.path().join(&name));
        sent.insert(ksef_crypto::envelope::sha256_base64(&xml), xml);
    }
    let seal = make_test_certificate(
        &TestSubject::seal(nip.clone(), "Trwała Sp. z o.o."),
        KeyAlgorithm::EcP256,
    )
    .unwrap();

    // Processing is slowed down (a pause after each committed chunk) so the kill lands mid-way.
    let mut emulator = EmulatorProcess::start_in(
        KSEF,
        data.path(),
        &[
            "--processing-chunk-size",
            "50",
            "--processing-chunk-pause-ms",
            "100",
        ],
    );
    let client = KsefClient::new(&emulator.base_url).unwrap();
    let mut session = login(&client, &nip, &seal).await;

    // Send the batch in a task; the progress callback says when processing has started.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    // Progress is reported from the send task; only "processing has started" matters here.
    let options = SendOptions {
        progress: Arc::new(move |p| {
            if let Progress::Processing { done, .. } = p {
                let _ = tx.send(done);
            }
        }),
        ..SendOptions::default()
    };
    let form = FormCode {
        system_code: "FA (3)".into(),
        schema_version: "1-0E".into(),
        value: "FA".into(),
    };
    let send = {
        let client = client.clone();
        let mut session = session.clone();
        let files = files.clone();
        tokio::spawn(async move {
            invoicing_flows::send_batch(&client, &mut session, &form, &files, &options).await
        })
    };
    // The first processing report comes right after the close; give the emulator a moment to
    // commit a few chunks (20 chunks × ≥ 100 ms in all).
    rx.recv().await.expect("the send flow reports processing");
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let token = session.access_token.expose_secret().to_string();
    let listed = client
        .list_sessions(&token, &SessionsQuery::new(SessionType::Batch), None)
        .await
        .unwrap();
    assert_eq!(listed.sessions.len(), 1, "{listed:?}");
    let session_ref = listed.sessions[0].reference_number.clone();
    let before = invoicing_flows::all_session_invoices(&client, &mut session, &session_ref)
        .await
        .unwrap();
    // invoice number → (KSeF number, invoice hash) of every invoice accepted so far.
    let accepted_before: HashMap<String, (String, String)> = before
        .iter()
        .filter_map(|s| {
            Some((
                s.invoice_number.clone()?,
                (s.ksef_number.clone()?, s.invoice_hash.clone()),
            ))
        })
        .collect();

    emulator.kill(); // SIGKILL
    send.abort();
    assert!(
        accepted_before.len() < INVOICES,
        "processing finished before the kill ({} accepted); the test did not interrupt anything",
        accepted_before.len()
    );

    // Restart on the same data directory (new port).
    let emulator = EmulatorProcess::start_in(KSEF, data.path(), &[]);
    let client = KsefClient::new(&emulator.base_url).unwrap();
    let mut session = login(&client, &nip, &seal).await;
    let status = invoicing_flows::wait_for_session(
        &client,
        &mut session,
        &session_ref,
        INVOICES as u64,
        std::time::Duration::from_secs(120),
        &invoicing_flows::no_progress(),
    )
    .await
    .expect("the interrupted batch resumes and finishes");
    let after = invoicing_flows::all_session_invoices(&client, &mut session, &session_ref)
        .await
        .unwrap();
    assert_eq!(
        status.status.code,
        200,
        "{:?}\nemulator log:\n{}",
        status.status,
        emulator.log()
    );
    assert_eq!(after.len(), INVOICES);
    assert!(
        after.iter().all(|s| s.status.code == 200),
        "not all accepted after resume: {:?}",
        after
            .iter()
            .filter(|s| s.status.code != 200)
            .take(3)
            .collect::<Vec<_>>()
    );
    // Nothing accepted before the kill changed its KSeF number, and its bytes are downloadable.
    let after_numbers: HashMap<String, String> = after
        .iter()
        .filter_map(|s| Some((s.invoice_number.clone()?, s.ksef_number.clone()?)))
        .collect();
    for (number, (ksef, _)) in &accepted_before {
        assert_eq!(after_numbers.get(number), Some(ksef), "{number}");
    }
    let token = session.access_token.expose_secret().to_string();
    for (number, (ksef, hash)) in accepted_before.iter().take(20) {
        let got = client.get_invoice(&token, ksef).await.unwrap();
        let original = sent
            .get(hash)
            .unwrap_or_else(|| panic!("{number}: the session reports a hash nobody sent"));
        assert_eq!(&got.bytes, original, "{number} bytes differ after restart");
    }
    eprintln!(
        "kill -9 after {} of {INVOICES} invoices were accepted; all {INVOICES} accepted after restart",
        accepted_before.len()
    );
}

/// The online-session load generator of the benches (`benches/common/online_load.rs`).
#[path = "../../benches/common/mod.rs"]
mod load_common;

/// `kill -9` under concurrent online load (issue 16): 20 sessions send back-to-back, the
/// emulator is killed after ~2 s and restarted on the same data directory; every invoice that
/// got a 202 is still known and ends final (a KSeF number or a rejection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_online_load_loses_no_accepted_invoice() {
    let k = load_common::online_load::run_kill9(
        KSEF,
        20,
        std::time::Duration::from_secs(2),
        std::time::Duration::from_secs(60),
    )
    .await;
    eprintln!(
        "lost after kill -9: {} of {} ({} final with a KSeF number, {} rejected, {} not final)",
        k.lost, k.accepted, k.final_accepted, k.final_rejected, k.not_final
    );
    assert!(k.accepted > 0, "no invoice was accepted before the kill");
    assert_eq!(
        k.lost, 0,
        "invoices that got a 202 are unknown after kill -9"
    );
    assert_eq!(k.not_final, 0, "invoices still not final after the restart");
    assert_eq!(
        k.final_accepted + k.final_rejected,
        k.accepted,
        "every accepted invoice ends final"
    );
}
