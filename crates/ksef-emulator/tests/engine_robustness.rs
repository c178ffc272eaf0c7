//! Robustness of the processing engine over real HTTP and a real SQLite file: a session whose
//! queued invoices cannot be processed (unknown or unreadable session row, a commit that fails)
//! does not stall the online processing of the other sessions, and it is retried in later
//! passes; batch and online chunks bounded by `processing_chunk_bytes` still process every
//! invoice, in order.
//!
//! Faults are injected into the emulator's own database (rows it cannot read, a trigger that
//! makes one session's updates fail), never into the emulator's code.

mod sessions_support;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use ksef_core::{ReferenceKind, ReferenceNumber};
use serde_json::Value;
use sessions_support::*;

/// A trigger that makes every status update of `session`'s invoices fail (and with it the
/// transaction committing them).
async fn block_updates(env: &Env, session: &str) -> String {
    let name = format!("block_{}", session.replace('-', "_"));
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TRIGGER {name} BEFORE UPDATE ON session_invoices WHEN OLD.session_ref = '{session}' \
         BEGIN SELECT RAISE(ABORT, 'injected commit failure'); END"
    )))
    .execute(env.pool())
    .await
    .unwrap();
    name
}

async fn unblock(env: &Env, trigger: &str) {
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP TRIGGER {trigger}")))
        .execute(env.pool())
        .await
        .unwrap();
}

/// Status code of a stored session invoice.
async fn stored_status(env: &Env, invoice: &str) -> i64 {
    sqlx::query_scalar("SELECT status_code FROM session_invoices WHERE reference_number = ?")
        .bind(invoice)
        .fetch_one(env.pool())
        .await
        .unwrap()
}

/// Queues a raw online invoice row (what `POST …/invoices` stores) for `session`, older than
/// anything sent over HTTP, so it comes first in every pass → its reference number. Its hash is
/// the real SHA-256 of its one byte (`x'00'`), so the status answer stays schema-valid.
async fn queue_raw(env: &Env, session: &str) -> String {
    let reference = ReferenceNumber::generate(
        ReferenceKind::SessionInvoice,
        time::OffsetDateTime::now_utc(),
    )
    .to_string();
    sqlx::query(
        "INSERT INTO session_invoices(reference_number, session_ref, ordinal, invoice_hash, invoice_size, \
         encrypted_content, status_code, status_description, invoicing_ms) \
         VALUES (?, ?, 1, 'bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=', 1, x'00', 100, 'Przyjęto fakturę do dalszego przetwarzania', 0)",
    )
    .bind(&reference)
    .bind(session)
    .execute(env.pool())
    .await
    .unwrap();
    reference
}

#[tokio::test]
async fn unreadable_sessions_do_not_stall_the_others() {
    let env = start(|_| {}).await;
    // 1. An invoice of a session that does not exist.
    let orphan = queue_raw(&env, "NO-SUCH-SESSION").await;
    // 2. An invoice of a session whose row cannot be read (unknown form code).
    let (broken, _) = open_online(&env, FA3).await;
    sqlx::query("UPDATE sessions SET form_system_code = 'BROKEN' WHERE reference_number = ?")
        .bind(&broken)
        .execute(env.pool())
        .await
        .unwrap();
    let broken_invoice = queue_raw(&env, &broken).await;

    // A healthy session is processed and finalised all the same.
    let (session, k) = open_online(&env, FA3).await;
    let inv = send(
        &env,
        &session,
        &k,
        &ksef_testkit::invoices::fa3(env.nip.as_str(), "ROB-1"),
    )
    .await;
    let item = wait_invoice(&env, &session, &inv).await;
    assert_eq!(item["status"]["code"], 200, "{item}");
    close_online(&env, &session).await;
    let st = wait_session(&env, &session).await;
    assert_eq!(st["status"]["code"], 200, "{st}");
    assert_eq!(st["successfulInvoiceCount"], 1);

    // The unprocessable invoices got no verdict: still queued.
    assert_eq!(stored_status(&env, &orphan).await, 100);
    assert_eq!(stored_status(&env, &broken_invoice).await, 100);

    // Repaired, the session is picked up again by a later pass (its garbage ciphertext → 435).
    sqlx::query("UPDATE sessions SET form_system_code = 'FA (3)' WHERE reference_number = ?")
        .bind(&broken)
        .execute(env.pool())
        .await
        .unwrap();
    let item = wait_invoice(&env, &broken, &broken_invoice).await;
    assert_eq!(item["status"]["code"], 435, "{item}");
}

#[tokio::test]
async fn a_session_whose_commit_fails_does_not_stall_the_others() {
    let env = start(|_| {}).await;
    let (failing, fk) = open_online(&env, FA3).await;
    let (healthy, hk) = open_online(&env, FA3).await;
    let trigger = block_updates(&env, &failing).await;
    let nip = env.nip.as_str();
    // Queued first: every pass meets it before the healthy session's invoice (alone, or in the
    // same chunk, which then fails as a whole and is retried session by session).
    let stuck = send(
        &env,
        &failing,
        &fk,
        &ksef_testkit::invoices::fa3(nip, "ROB-A"),
    )
    .await;
    let ok = send(
        &env,
        &healthy,
        &hk,
        &ksef_testkit::invoices::fa3(nip, "ROB-B"),
    )
    .await;
    let item = wait_invoice(&env, &healthy, &ok).await;
    assert_eq!(item["status"]["code"], 200, "{item}");
    // More work for the healthy session while the failing one keeps failing.
    let ok2 = send(
        &env,
        &healthy,
        &hk,
        &ksef_testkit::invoices::fa3(nip, "ROB-C"),
    )
    .await;
    let item = wait_invoice(&env, &healthy, &ok2).await;
    assert_eq!(item["status"]["code"], 200, "{item}");
    assert_eq!(stored_status(&env, &stuck).await, 100);

    // Once the fault is gone, a later pass processes the failing session's invoice.
    unblock(&env, &trigger).await;
    let item = wait_invoice(&env, &failing, &stuck).await;
    assert_eq!(item["status"]["code"], 200, "{item}");
}

/// Ordinal → acquisition time of the accepted invoices of a session.
async fn acquisitions(env: &Env, session: &str) -> BTreeMap<i64, i64> {
    sqlx::query_as::<_, (i64, i64)>(
        "SELECT ordinal, acquisition_ms FROM session_invoices \
         WHERE session_ref = ? AND acquisition_ms IS NOT NULL",
    )
    .bind(session)
    .fetch_all(env.pool())
    .await
    .unwrap()
    .into_iter()
    .collect()
}

#[tokio::test]
async fn batch_chunks_are_bounded_by_bytes() {
    // Two invoices fit in a chunk, a third does not (the NIP has a fixed length, the numbers
    // differ by at most one character).
    let sizes: Vec<usize> = (0..20)
        .map(|i| ksef_testkit::invoices::fa3("1111111111", &format!("BYTES-{i}")).len())
        .collect();
    let (min, max) = (*sizes.iter().min().unwrap(), *sizes.iter().max().unwrap());
    let bound = max * 2 + max / 2;
    assert!(min * 3 > bound);
    let env = start(|c| {
        c.processing_chunk_bytes = bound;
        // Commits of consecutive chunks get different acquisition times.
        c.processing_chunk_pause = Duration::from_millis(20);
    })
    .await;
    let mut files = invoices(&env, "BYTES", 20);
    assert!(files.iter().all(|(_, b)| b.len() <= max));
    // A file larger than the bound, in the middle: a chunk of its own (rejected: not XML).
    files.insert(10, ("big.xml".into(), vec![b'x'; bound * 3]));
    let session = send_batch(&env, &zip(&files), 2, None).await;
    let st = wait_session(&env, &session).await;
    assert_eq!(st["status"]["code"], 200, "{st}");
    assert_eq!(st["invoiceCount"], 21);
    assert_eq!(st["successfulInvoiceCount"], 20);
    assert_eq!(st["failedInvoiceCount"], 1);

    let all = all_invoices(&env, &session, false).await;
    let ordinals: Vec<i64> = all
        .iter()
        .map(|i| i["ordinalNumber"].as_i64().unwrap())
        .collect();
    assert_eq!(ordinals, (1..=21).collect::<Vec<_>>());
    for (i, item) in all.iter().enumerate() {
        assert_eq!(item["invoiceFileName"], files[i].0.as_str(), "{item}");
        assert_eq!(
            item["invoiceHash"],
            ksef_crypto::envelope::sha256_base64(&files[i].1)
        );
    }
    let big = &all[10];
    assert_eq!(big["status"]["code"], 430, "{big}");
    let ksef: HashSet<&str> = all
        .iter()
        .filter_map(|i| i["ksefNumber"].as_str())
        .collect();
    assert_eq!(ksef.len(), 20);

    // The chunks as committed: pairs of consecutive invoices, the big file alone.
    let acquired = acquisitions(&env, &session).await;
    let mut chunks: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (ordinal, at) in acquired {
        chunks.entry(at).or_default().push(ordinal);
    }
    let chunks: Vec<Vec<i64>> = chunks.into_values().collect();
    let expected: Vec<Vec<i64>> = (1..=10)
        .step_by(2)
        .chain((12..=21).step_by(2))
        .map(|o| vec![o, o + 1])
        .collect();
    assert_eq!(chunks, expected);
}

#[tokio::test]
async fn online_chunks_bounded_by_bytes_process_every_invoice() {
    // Every queued invoice is larger than the bound: one chunk (and commit) each.
    let env = start(|c| c.processing_chunk_bytes = 1).await;
    let (session, k) = open_online(&env, FA3).await;
    // Hold the queue until all invoices are in it.
    let trigger = block_updates(&env, &session).await;
    let mut sent = Vec::new();
    for i in 0..6 {
        let xml = ksef_testkit::invoices::fa3(env.nip.as_str(), &format!("ONB-{i}"));
        sent.push(send(&env, &session, &k, &xml).await);
    }
    unblock(&env, &trigger).await;
    let mut numbers = HashSet::new();
    for inv in &sent {
        let item: Value = wait_invoice(&env, &session, inv).await;
        assert_eq!(item["status"]["code"], 200, "{item}");
        numbers.insert(item["ksefNumber"].as_str().unwrap().to_string());
    }
    assert_eq!(numbers.len(), 6);
}
