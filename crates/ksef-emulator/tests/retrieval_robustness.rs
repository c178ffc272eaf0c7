//! Robustness of retrieval and blob storage over restarts and clock steps, over real HTTP
//! against in-process emulators on real data directories:
//! - the permanent-storage HWM (digest §12.4) stays below every invoice stored later, also
//!   when the wall clock steps back, within a run and across a restart;
//! - export builds stop with the server and are rebuilt by the next start;
//! - the start-up sweep removes abandoned upload temp files and the parts of batch sessions
//!   cancelled before processing, and keeps the parts of open sessions.

// Both support modules include `tests/common`; their helpers are used together here.
#![allow(clippy::duplicate_mod)]

mod retrieval_support;
mod sessions_support;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ksef_emulator::RunningEmulator;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sessions_support::{
    Env, FA3, SessionKey, close_batch, fetch, invoices, open_batch_raw, open_online, package, send,
    send_batch, session_key, start, start_emulator, upload, wait_invoice, wait_session, zip,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn parse(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(
        v.as_str().unwrap_or_else(|| panic!("not a date: {v}")),
        &Rfc3339,
    )
    .unwrap()
}

fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// `POST /invoices/query/metadata` of the env's sales by permanent-storage date from `from`,
/// restricted to the HWM → the answer body.
async fn sales_since(env: &Env, from: OffsetDateTime) -> Value {
    let a = env
        .client
        .post(
            "/invoices/query/metadata?pageSize=100",
            Some(&env.access),
            json!({"subjectType": "Subject1",
                   "dateRange": {"dateType": "PermanentStorage", "from": retrieval_support::ts(from),
                                 "restrictToPermanentStorageHwmDate": true}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "query: {:?}", a.body);
    a.body
}

/// Restarts on `data_dir` (the emulator is already stopped) with the same owner and token.
async fn restart(data_dir: &Path, nip: ksef_core::Nip, access: String) -> Env {
    let path = data_dir.to_path_buf();
    let (emu, client, dir) = start_emulator(move |c| c.data_dir = path).await;
    Env {
        emu,
        client,
        dir,
        nip,
        access,
    }
}

/// Stops `env`'s emulator; returns its data directory (kept alive) and the owner.
async fn stop(env: Env) -> (tempfile::TempDir, ksef_core::Nip, String) {
    let Env {
        emu,
        dir,
        nip,
        access,
        ..
    } = env;
    emu.shutdown().await;
    (dir, nip, access)
}

// ---------------------------------------------------------------- HWM (item: monotonic clock)

#[tokio::test]
async fn an_invoice_stored_after_the_clock_steps_back_is_above_the_previous_hwm() {
    let env = start(|_| {}).await;
    let (session, k) = open_online(&env, FA3).await;
    let first = send(
        &env,
        &session,
        &k,
        &ksef_testkit::invoices::fa3(env.nip.as_str(), "HWM-1"),
    )
    .await;
    let st = wait_invoice(&env, &session, &first).await;
    assert_eq!(st["status"]["code"], 200, "{st}");
    let first_number = st["ksefNumber"].as_str().unwrap().to_string();

    let since = OffsetDateTime::now_utc() - time::Duration::days(1);
    let a = sales_since(&env, since).await;
    let hwm1 = parse(&a["permanentStorageHwmDate"]);
    assert!(
        retrieval_support::numbers(&a).contains(&first_number),
        "{a}"
    );

    // The host clock is corrected 30 s back (NTP step).
    env.emu.state.step_clock(-time::Duration::seconds(30));
    let second = send(
        &env,
        &session,
        &k,
        &ksef_testkit::invoices::fa3(env.nip.as_str(), "HWM-2"),
    )
    .await;
    let st = wait_invoice(&env, &session, &second).await;
    assert_eq!(st["status"]["code"], 200, "{st}");
    let second_number = st["ksefNumber"].as_str().unwrap().to_string();
    let stored = parse(&st["permanentStorageDate"]);
    assert!(
        stored > hwm1,
        "stored at {stored} after the step back, not after the HWM {hwm1} already reported"
    );

    // An incremental client continues from the HWM it got and still finds the invoice.
    let a = sales_since(&env, hwm1).await;
    let hwm2 = parse(&a["permanentStorageHwmDate"]);
    assert!(hwm2 >= hwm1, "HWM went back: {hwm2} < {hwm1}");
    // `from` is inclusive: an invoice stored exactly at the HWM (the query came within the
    // same millisecond) is listed again, which an incremental client de-duplicates.
    let first_stored = first_storage_time(&env, &first_number).await;
    let mut expected = vec![second_number];
    if first_stored == hwm1 {
        expected.insert(0, first_number);
    }
    let mut got = retrieval_support::numbers(&a);
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "{a}");
}

/// The permanent-storage time of an invoice, from an unrestricted query.
async fn first_storage_time(env: &Env, ksef_number: &str) -> OffsetDateTime {
    let since = OffsetDateTime::now_utc() - time::Duration::days(1);
    let all = sales_since(env, since).await;
    let item = all["invoices"]
        .as_array()
        .and_then(|v| v.iter().find(|i| i["ksefNumber"] == ksef_number))
        .cloned()
        .unwrap_or_default();
    parse(&item["permanentStorageDate"])
}

#[tokio::test]
async fn the_hwm_bounds_permanent_storage_times_across_a_restart_with_the_clock_behind() {
    let env = start(|_| {}).await;
    let since = OffsetDateTime::now_utc() - time::Duration::days(1);
    let hwm1 = parse(&sales_since(&env, since).await["permanentStorageHwmDate"]);
    {
        // In the same run, with the clock stepped back: the next time is above the HWM.
        env.emu.state.step_clock(-time::Duration::seconds(60));
        let _writer = env.emu.state.storage_writer().lock().await;
        let acquisition = ms(env.emu.state.now()) - 1;
        let t = env.emu.state.next_permanent_storage_ms(acquisition);
        assert!(t > ms(hwm1), "{t} ≤ HWM {}", ms(hwm1));
        assert!(t > acquisition);
    }
    let (dir, nip, access) = stop(env).await;

    // The next process starts with its clock a minute behind the HWM reported before.
    let env = restart(dir.path(), nip, access).await;
    env.emu.state.step_clock(-time::Duration::seconds(60));
    let hwm2 = parse(&sales_since(&env, since).await["permanentStorageHwmDate"]);
    assert!(
        hwm2 >= hwm1,
        "HWM went back over the restart: {hwm2} < {hwm1}"
    );
    let _writer = env.emu.state.storage_writer().lock().await;
    let acquisition = ms(env.emu.state.now()) - 1;
    let t = env.emu.state.next_permanent_storage_ms(acquisition);
    assert!(
        t > ms(hwm1) && t > ms(hwm2),
        "{t} not above {hwm1} / {hwm2}"
    );
    drop(dir);
}

// ---------------------------------------------------------------- exports stop with the server

fn unzip(bytes: Vec<u8>) -> BTreeMap<String, Vec<u8>> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = BTreeMap::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let mut v = Vec::new();
        f.read_to_end(&mut v).unwrap();
        out.insert(f.name().to_string(), v);
    }
    out
}

/// Downloads and decrypts every part of a finished export.
async fn package_bytes(status: &Value, k: &SessionKey) -> Vec<u8> {
    let mut out = Vec::new();
    for p in status["package"]["parts"].as_array().unwrap() {
        let (code, _, enc) = fetch(p["url"].as_str().unwrap()).await;
        assert_eq!(code, StatusCode::OK);
        out.extend(ksef_crypto::envelope::aes256_cbc_decrypt(&k.key, &k.iv, &enc).unwrap());
    }
    out
}

async fn export_status_code(emu: &RunningEmulator, reference: &str) -> i64 {
    sqlx::query_scalar("SELECT status_code FROM exports WHERE reference_number = ?")
        .bind(reference)
        .fetch_one(emu.state.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn an_export_build_stops_with_the_server_and_is_rebuilt_at_the_next_start() {
    let env = start(|_| {}).await;
    let stored = OffsetDateTime::now_utc() - time::Duration::hours(1);
    let buyer = ksef_core::Nip::random();
    let invs: Vec<_> = (0..3)
        .map(|n| {
            retrieval_support::invoice(
                &env.nip,
                &buyer,
                n,
                stored + time::Duration::seconds(n as i64),
            )
        })
        .collect();
    retrieval_support::seed(env.pool(), &invs).await;

    // A long commit holds the storage writer: the build waits for the HWM.
    let state = env.emu.state.clone();
    let writer = state.storage_writer().lock().await;
    let k = session_key(&env.client).await;
    let a = env
        .client
        .post(
            "/invoices/exports",
            Some(&env.access),
            json!({"encryption": k.encryption,
                   "filters": {"subjectType": "Subject1",
                               "dateRange": {"dateType": "PermanentStorage",
                                             "from": retrieval_support::ts(stored - time::Duration::days(1)),
                                             "restrictToPermanentStorageHwmDate": true}}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
    let reference = a.body["referenceNumber"].as_str().unwrap().to_string();
    assert_eq!(state.exports().running(), 1);

    // Shutting down does not wait for the commit, and leaves no build behind.
    let (dir, nip, access) = tokio::time::timeout(Duration::from_secs(20), stop(env))
        .await
        .expect("shutdown waited for a blocked export build");
    assert_eq!(state.exports().running(), 0, "a build outlived the server");
    drop(writer);
    // Not recorded as anything: still in progress, for the next start.
    let code: i64 =
        sqlx::query_scalar("SELECT status_code FROM exports WHERE reference_number = ?")
            .bind(&reference)
            .fetch_one(state.pool())
            .await
            .unwrap();
    assert_eq!(code, 100);

    let env = restart(dir.path(), nip, access).await;
    let status = retrieval_support::wait_export(&env.client, &env.access, &reference).await;
    assert_eq!(status["status"]["code"], 200, "{status}");
    assert_eq!(status["package"]["invoiceCount"], 3, "{status}");
    let files = unzip(package_bytes(&status, &k).await);
    for i in &invs {
        assert_eq!(files[&format!("{}.xml", i.ksef_number)], i.content);
    }
    assert_eq!(export_status_code(&env.emu, &reference).await, 200);
    drop(dir);
}

// ---------------------------------------------------------------- start-up blob sweep

/// An abandoned upload's temp file next to part `ordinal` (named like `upload_part` names them).
fn stray_upload(emu: &RunningEmulator, session: &str, ordinal: u32) -> PathBuf {
    let part = ksef_emulator::testing::batch_part_path(&emu.state, session, ordinal);
    let tmp = part.with_extension("0123456789abcdef.upload-tmp");
    std::fs::write(&tmp, b"half an upload").unwrap();
    tmp
}

#[tokio::test]
async fn the_start_sweeps_cancelled_parts_and_abandoned_uploads_and_keeps_open_sessions() {
    let env = start(|_| {}).await;
    let state = env.emu.state.clone();

    // A: all parts uploaded, then the upload window passes; the close cancels it (440).
    let ka = session_key(&env.client).await;
    let pa = package(&zip(&invoices(&env, "CXL", 2)), 2, &ka, None);
    let a = open_batch_raw(&env, FA3, &pa.batch_file, &ka.encryption).await;
    assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
    let cancelled = a.body["referenceNumber"].as_str().unwrap().to_string();
    for (i, p) in pa.parts.iter().enumerate() {
        assert_eq!(upload(&a.body, i, p).await, StatusCode::CREATED);
    }
    state.step_clock(time::Duration::hours(2));
    let c = close_batch(&env, &cancelled).await;
    assert_eq!(c.exception_code(), Some(21208), "{:?}", c.body);
    state.step_clock(-time::Duration::hours(2));
    let st = env
        .client
        .get(&format!("/sessions/{cancelled}"), &env.access)
        .await;
    assert_eq!(st.body["status"]["code"], 440, "{:?}", st.body);
    let cancelled_parts = [
        ksef_emulator::testing::batch_part_path(&state, &cancelled, 1),
        ksef_emulator::testing::batch_part_path(&state, &cancelled, 2),
    ];
    let cancelled_tmp = stray_upload(&env.emu, &cancelled, 2);

    // B: still open, one of two parts uploaded, and an abandoned upload of the other.
    let kb = session_key(&env.client).await;
    let open_files = invoices(&env, "OPEN", 2);
    let pb = package(&zip(&open_files), 2, &kb, None);
    let b = open_batch_raw(&env, FA3, &pb.batch_file, &kb.encryption).await;
    assert_eq!(b.status, StatusCode::CREATED, "{:?}", b.body);
    let open = b.body["referenceNumber"].as_str().unwrap().to_string();
    assert_eq!(upload(&b.body, 0, &pb.parts[0]).await, StatusCode::CREATED);
    let open_part = ksef_emulator::testing::batch_part_path(&state, &open, 1);
    let open_tmp = stray_upload(&env.emu, &open, 2);

    // C: processed; its invoices are stored.
    let done = send_batch(&env, &zip(&invoices(&env, "DONE", 2)), 1, None).await;
    let st = wait_session(&env, &done).await;
    assert_eq!(st["status"]["code"], 200, "{st}");

    for f in cancelled_parts
        .iter()
        .chain([&cancelled_tmp, &open_part, &open_tmp])
    {
        assert!(
            f.exists(),
            "{} should exist before the restart",
            f.display()
        );
    }
    let old_addr = env.emu.addr.to_string();
    let (dir, nip, access) = stop(env).await;

    let env = restart(dir.path(), nip, access).await;
    // The upload links of the open session, pointing at the restarted emulator.
    let b = serde_json::from_str::<Value>(
        &b.body
            .to_string()
            .replace(&old_addr, &env.emu.addr.to_string()),
    )
    .unwrap();
    // Answered only once serving started, i.e. after the sweep.
    let st = env
        .client
        .get(&format!("/sessions/{open}"), &env.access)
        .await;
    assert_eq!(st.body["status"]["code"], 100, "{:?}", st.body);

    let cancelled_dir = cancelled_parts[0].parent().unwrap();
    assert!(
        !cancelled_dir.exists(),
        "parts of the cancelled session left: {:?}",
        std::fs::read_dir(cancelled_dir).map(|d| d.count())
    );
    assert!(!open_tmp.exists(), "abandoned upload left");
    assert_eq!(std::fs::read(&open_part).unwrap(), pb.parts[0]);

    // The open session is intact: the last part, the close and the processing succeed.
    assert_eq!(upload(&b, 1, &pb.parts[1]).await, StatusCode::CREATED);
    let c = close_batch(&env, &open).await;
    assert_eq!(c.status, StatusCode::NO_CONTENT, "{:?}", c.body);
    let st = wait_session(&env, &open).await;
    assert_eq!(st["status"]["code"], 200, "{st}");
    assert_eq!(st["successfulInvoiceCount"], 2, "{st}");
    let stored: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM invoices WHERE session_ref IN (?, ?)")
            .bind(&done)
            .bind(&open)
            .fetch_one(env.pool())
            .await
            .unwrap();
    assert_eq!(stored, 4);
    drop(dir);
}
