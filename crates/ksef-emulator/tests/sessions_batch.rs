//! Batch sessions over real HTTP (digest §9, §10): ZIP and tar.gz packages split into encrypted
//! parts uploaded to pre-signed URLs; per-invoice verification inside a package; the package
//! errors (405, 415, 420, 430, 435, 440) and the close errors (21157, 21205, 21208); the
//! restart of the emulator in the middle of processing; and (ignored) 10 000-invoice throughput.

mod sessions_support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ksef_testkit::invoices;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sessions_support::*;

#[tokio::test]
async fn zip_package_with_three_bad_invoices() {
    let env = start(|_| {}).await;
    let mut files = invoices(&env, "ZIP", 197);
    files.insert(
        10,
        (
            "bad-schema.xml".into(),
            invoices::broken_schema(env.nip.as_str(), "BAD-1"),
        ),
    );
    files.insert(
        50,
        (
            "bad-xml.xml".into(),
            invoices::broken_not_well_formed(env.nip.as_str(), "BAD-2"),
        ),
    );
    // The same invoice number as file 0 → duplicate within the package.
    files.push(("dup.xml".into(), invoices::fa3(env.nip.as_str(), "ZIP-0")));
    assert_eq!(files.len(), 200);
    let session = send_batch(&env, &zip(&files), 3, None).await;
    let st = wait_session(&env, &session).await;
    assert_eq!(st["status"]["code"], 200, "{st}");
    assert_eq!(
        st["status"]["description"],
        "Sesja wsadowa przetworzona pomyślnie"
    );
    assert_eq!(st["invoiceCount"], 200);
    assert_eq!(st["successfulInvoiceCount"], 197);
    assert_eq!(st["failedInvoiceCount"], 3);

    let all = all_invoices(&env, &session, false).await;
    assert_eq!(all.len(), 200);
    let ordinals: Vec<i64> = all
        .iter()
        .map(|i| i["ordinalNumber"].as_i64().unwrap())
        .collect();
    assert_eq!(ordinals, (1..=200).collect::<Vec<_>>());
    for (i, item) in all.iter().enumerate() {
        assert_eq!(item["invoiceFileName"], files[i].0.as_str(), "{item}");
        assert_eq!(
            item["invoiceHash"],
            ksef_crypto::envelope::sha256_base64(&files[i].1)
        );
    }
    let ksef: HashSet<&str> = all
        .iter()
        .filter_map(|i| i["ksefNumber"].as_str())
        .collect();
    assert_eq!(ksef.len(), 197, "KSeF numbers are unique");
    let failed = all_invoices(&env, &session, true).await;
    let by_name = |n: &str| {
        failed
            .iter()
            .find(|i| i["invoiceFileName"] == n)
            .unwrap_or_else(|| panic!("{n} not failed"))
    };
    assert_eq!(failed.len(), 3);
    assert_eq!(by_name("bad-schema.xml")["status"]["code"], 430);
    assert_eq!(by_name("bad-xml.xml")["status"]["code"], 430);
    let dup = by_name("dup.xml");
    assert_eq!(dup["status"]["code"], 440, "{dup}");
    assert_eq!(
        dup["status"]["extensions"]["originalSessionReferenceNumber"],
        session.as_str()
    );
    assert_eq!(
        dup["status"]["extensions"]["originalKsefNumber"],
        all[0]["ksefNumber"]
    );
    // Batch invoices carry the session's opening time as invoicingDate.
    let ok = &all[0];
    assert_eq!(ok["invoicingMode"], "Online");
    let upo = &st["upo"]["pages"][0];
    let (status, _, bytes) = fetch(upo["downloadUrl"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    ksef_invoice::upo::validate(&bytes).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    assert_eq!(text.matches("<Dokument>").count(), 197);
    // The session UPO is rendered from what the commits collected; each of its entries equals
    // the one rendered from the stored invoice (the invoice's own UPO).
    let http = ksef_testkit::http_client();
    for item in all
        .iter()
        .filter(|i| i["ksefNumber"].is_string())
        .step_by(40)
    {
        let url = format!(
            "{}/sessions/{session}/invoices/ksef/{}/upo",
            env.client.base_url(),
            item["ksefNumber"].as_str().unwrap()
        );
        let own = http.get(url).bearer_auth(&env.access).send().await.unwrap();
        assert_eq!(own.status(), StatusCode::OK);
        let own = own.text().await.unwrap();
        let entry = |t: &str| -> String {
            let from = t.find("<Dokument>").expect("an entry");
            let to = t[from..].find("</Dokument>").expect("its end") + from;
            t[from..to].to_string()
        };
        assert!(text.contains(&entry(&own)), "{}", entry(&own));
    }
    // The part files are gone once the session is final.
    let dir = env.dir.path().join("blobs").join("batch").join(&session);
    assert!(!dir.exists(), "{dir:?} still exists");
}

#[tokio::test]
async fn tar_gz_package_is_accepted() {
    let env = start(|_| {}).await;
    let files = invoices(&env, "TGZ", 25);
    let session = send_batch(&env, &tar_gz(&files), 2, Some("TarGz")).await;
    let st = wait_session(&env, &session).await;
    assert_eq!(st["status"]["code"], 200, "{st}");
    assert_eq!(st["successfulInvoiceCount"], 25);
    let all = all_invoices(&env, &session, false).await;
    assert_eq!(all[24]["invoiceFileName"], "TGZ-00024.xml");
}

#[tokio::test]
async fn gzip_bomb_is_refused_with_430() {
    let env = start(|_| {}).await;
    // 120 MB of zeros packs to ~120 KB; the emulator lets a tar.gz inflate to at most
    // max(200 × its size, 64 MB), so this one fails as a broken archive instead of being read.
    let bomb = tar_gz(&[("zeros.xml".to_string(), vec![0u8; 120 << 20])]);
    assert!(bomb.len() < 1 << 20, "{}", bomb.len());
    let session = send_batch(&env, &bomb, 1, Some("TarGz")).await;
    let st = wait_session(&env, &session).await;
    assert_eq!(st["status"]["code"], 430, "{st}");
}

/// A ZIP whose entries `names[i]` are stored under `dup` when `names[i]` starts with `"DUP-"`:
/// the zip writer refuses duplicate names, so the names are patched in place (same length, both
/// in the local headers and in the central directory).
fn zip_with_duplicate_names(files: &[(String, Vec<u8>)], dup: &str) -> Vec<u8> {
    let mut bytes = zip(files);
    for (name, _) in files.iter().filter(|(n, _)| n.starts_with("DUP-")) {
        assert_eq!(name.len(), dup.len());
        let mut hits = 0;
        let mut i = 0;
        while i + name.len() <= bytes.len() {
            if &bytes[i..i + name.len()] == name.as_bytes() {
                bytes[i..i + name.len()].copy_from_slice(dup.as_bytes());
                hits += 1;
            }
            i += 1;
        }
        assert_eq!(hits, 2, "{name}: local header + central directory");
    }
    bytes
}

#[tokio::test]
async fn duplicate_file_names_refuse_the_package() {
    // Two archive entries named alike: the client's name → status mapping would be ambiguous and
    // a ZIP reader that indexes by name silently drops one of them. The whole package is refused
    // with 430 naming the file, so no entry goes unaccounted for.
    let env = start(|_| {}).await;
    let nip = env.nip.as_str();
    let files = vec![
        ("DUP-1.xml".to_string(), invoices::fa3(nip, "DUPZ-1")),
        ("other.xml".to_string(), invoices::fa3(nip, "DUPZ-2")),
        ("DUP-2.xml".to_string(), invoices::fa3(nip, "DUPZ-3")),
    ];
    let archive = zip_with_duplicate_names(&files, "TWIN1.xml");
    let session = send_batch(&env, &archive, 1, None).await;
    let st = wait_session(&env, &session).await;
    assert_eq!(st["status"]["code"], 430, "{st}");
    let details = st["status"]["details"].to_string();
    assert!(details.contains("TWIN1.xml"), "{st}");
    assert_eq!(st["invoiceCount"], 0, "{st}");
    assert!(all_invoices(&env, &session, false).await.is_empty());

    // tar.gz: the same rule.
    let files = vec![
        ("TWIN2.xml".to_string(), invoices::fa3(nip, "DUPT-1")),
        ("TWIN2.xml".to_string(), invoices::fa3(nip, "DUPT-2")),
    ];
    let session = send_batch(&env, &tar_gz(&files), 1, Some("TarGz")).await;
    let st = wait_session(&env, &session).await;
    assert_eq!(st["status"]["code"], 430, "{st}");
    assert!(
        st["status"]["details"].to_string().contains("TWIN2.xml"),
        "{st}"
    );
    assert!(all_invoices(&env, &session, false).await.is_empty());
}

#[tokio::test]
async fn offline_batch_marks_invoices_offline() {
    let env = start(|_| {}).await;
    let files = invoices(&env, "OFF", 3);
    let k = session_key(&env.client).await;
    let p = package(&zip(&files), 1, &k, None);
    let a = env
        .client
        .post(
            "/sessions/batch",
            Some(&env.access),
            json!({"formCode": form(FA3), "batchFile": p.batch_file, "encryption": k.encryption, "offlineMode": true}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
    assert_eq!(upload(&a.body, 0, &p.parts[0]).await, StatusCode::CREATED);
    let s = a.body["referenceNumber"].as_str().unwrap().to_string();
    assert_eq!(close_batch(&env, &s).await.status, StatusCode::NO_CONTENT);
    wait_session(&env, &s).await;
    let all = all_invoices(&env, &s, false).await;
    assert!(
        all.iter()
            .all(|i| i["invoicingMode"] == "Offline" && i["status"]["code"] == 200)
    );
}

/// Opens a session for `archive` with key `k`, uploads parts as given, closes → final status.
async fn run_package(env: &Env, p: &Package, k: &SessionKey) -> (String, Value) {
    let a = open_batch_raw(env, FA3, &p.batch_file, &k.encryption).await;
    assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
    for (i, part) in p.parts.iter().enumerate() {
        assert_eq!(upload(&a.body, i, part).await, StatusCode::CREATED);
    }
    let s = a.body["referenceNumber"].as_str().unwrap().to_string();
    let c = close_batch(env, &s).await;
    assert_eq!(c.status, StatusCode::NO_CONTENT, "{:?}", c.body);
    let st = wait_session(env, &s).await;
    (s, st)
}

#[tokio::test]
async fn package_level_failures() {
    let env = start(|c| c.session_invoice_limit = 5).await;
    let files = invoices(&env, "PKG", 3);
    let archive = zip(&files);

    // 415: the AES key does not unwrap.
    let k = session_key(&env.client).await;
    let mut bad_key = k.encryption.clone();
    bad_key["encryptedSymmetricKey"] = json!(STANDARD.encode([3u8; 256]));
    let p = package(&archive, 1, &k, None);
    let a = open_batch_raw(&env, FA3, &p.batch_file, &bad_key).await;
    assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
    assert_eq!(upload(&a.body, 0, &p.parts[0]).await, StatusCode::CREATED);
    let s = a.body["referenceNumber"].as_str().unwrap();
    assert_eq!(close_batch(&env, s).await.status, StatusCode::NO_CONTENT);
    let st = wait_session(&env, s).await;
    assert_eq!(st["status"]["code"], 415, "{st}");
    assert_eq!(
        st["status"]["description"],
        "Błąd odszyfrowania dostarczonego klucza"
    );

    // 435: the parts were encrypted with another key (declared sizes/hashes match the parts).
    let k = session_key(&env.client).await;
    let other = session_key(&env.client).await;
    let p = package(&archive, 2, &other, None);
    let (_, st) = run_package(&env, &p, &k).await;
    assert_eq!(st["status"]["code"], 435, "{st}");

    // 405: declared fileHash of the archive is wrong.
    let k = session_key(&env.client).await;
    let mut p = package(&archive, 1, &k, None);
    p.batch_file["fileHash"] = json!(ksef_crypto::envelope::sha256_base64(b"x"));
    let (_, st) = run_package(&env, &p, &k).await;
    assert_eq!(st["status"]["code"], 405, "{st}");

    // 430: not an archive.
    let k = session_key(&env.client).await;
    let p = package(b"this is not a zip file", 1, &k, None);
    let (_, st) = run_package(&env, &p, &k).await;
    assert_eq!(st["status"]["code"], 430, "{st}");
    assert_eq!(
        st["status"]["description"],
        "Błąd dekompresji pierwotnego archiwum"
    );

    // 420: more invoices than the session limit (5 here).
    let k = session_key(&env.client).await;
    let p = package(&zip(&invoices(&env, "MANY", 6)), 1, &k, None);
    let (_, st) = run_package(&env, &p, &k).await;
    assert_eq!(st["status"]["code"], 420, "{st}");

    // 440: an archive without files.
    let k = session_key(&env.client).await;
    let p = package(&zip(&[]), 1, &k, None);
    let (_, st) = run_package(&env, &p, &k).await;
    assert_eq!(st["status"]["code"], 440, "{st}");
    assert_eq!(st["status"]["details"][0], "Nie przesłano faktur");

    // 445: only invalid invoices.
    let k = session_key(&env.client).await;
    let p = package(
        &zip(&[(
            "a.xml".into(),
            invoices::broken_schema(env.nip.as_str(), "B-1"),
        )]),
        1,
        &k,
        None,
    );
    let (s, st) = run_package(&env, &p, &k).await;
    assert_eq!(st["status"]["code"], 445, "{st}");
    assert_eq!(all_invoices(&env, &s, true).await.len(), 1);
}

#[tokio::test]
async fn open_and_close_errors() {
    let env = start(|c| c.batch_part_window = Duration::from_millis(600)).await;
    let files = invoices(&env, "ERR", 2);
    let archive = zip(&files);
    let k = session_key(&env.client).await;

    // 21161: more than 50 parts; 21157: a part over 100 MB; 21405: PEF in batch.
    let mut p = package(&archive, 1, &k, None);
    let part = p.batch_file["fileParts"][0].clone();
    p.batch_file["fileParts"] = json!(
        (1..=51)
            .map(|i| {
                let mut x = part.clone();
                x["ordinalNumber"] = json!(i);
                x
            })
            .collect::<Vec<_>>()
    );
    let a = open_batch_raw(&env, FA3, &p.batch_file, &k.encryption).await;
    assert_eq!(a.exception_code(), Some(21161), "{:?}", a.body);
    let mut p = package(&archive, 1, &k, None);
    p.batch_file["fileParts"][0]["fileSize"] = json!(100_000_100u64);
    let a = open_batch_raw(&env, FA3, &p.batch_file, &k.encryption).await;
    assert_eq!(a.exception_code(), Some(21157), "{:?}", a.body);
    let p = package(&archive, 1, &k, None);
    let a = open_batch_raw(
        &env,
        ("PEF (3)", "2-1", "PEF"),
        &p.batch_file,
        &k.encryption,
    )
    .await;
    assert_eq!(a.exception_code(), Some(21405), "{:?}", a.body);

    // 21205: a declared part was not uploaded; then 21157: an uploaded part has another size.
    let p = package(&archive, 2, &k, None);
    let a = open_batch_raw(&env, FA3, &p.batch_file, &k.encryption).await;
    assert_eq!(a.status, StatusCode::CREATED);
    let reqs = a.body["partUploadRequests"].as_array().unwrap();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0]["method"], "PUT");
    assert_eq!(reqs[0]["headers"]["x-ms-blob-type"], "BlockBlob");
    let s = a.body["referenceNumber"].as_str().unwrap().to_string();
    assert_eq!(upload(&a.body, 0, &p.parts[0]).await, StatusCode::CREATED);
    let c = close_batch(&env, &s).await;
    assert_eq!(c.exception_code(), Some(21205), "{:?}", c.body);
    assert!(c.body.to_string().contains("'2'"), "{:?}", c.body);
    assert_eq!(
        upload(&a.body, 1, &p.parts[1][..16]).await,
        StatusCode::CREATED
    );
    let c = close_batch(&env, &s).await;
    assert_eq!(c.exception_code(), Some(21157), "{:?}", c.body);
    assert!(c.body.to_string().contains("'2'"), "{:?}", c.body);
    // 21208: the upload window (2 parts × 600 ms) has passed → cancelled.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let c = close_batch(&env, &s).await;
    assert_eq!(c.exception_code(), Some(21208), "{:?}", c.body);
    let st = env.client.get(&format!("/sessions/{s}"), &env.access).await;
    assert_eq!(st.body["status"]["code"], 440);
    assert_eq!(st.body["status"]["details"][0], "Przekroczono czas wysyłki");
    // The link refuses uploads after the window too.
    assert_eq!(upload(&a.body, 1, &p.parts[1]).await, StatusCode::FORBIDDEN);
    // Unknown session: 21173.
    let c = close_batch(&env, "20250626-SB-213D593000-4DE10D80A5-E9").await;
    assert_eq!(c.exception_code(), Some(21173));
}

#[tokio::test]
async fn unclosed_batch_session_is_cancelled_after_valid_until() {
    let env = start(|c| c.session_lifetime = Duration::from_millis(300)).await;
    let k = session_key(&env.client).await;
    let p = package(&zip(&invoices(&env, "LATE", 1)), 1, &k, None);
    let a = open_batch_raw(&env, FA3, &p.batch_file, &k.encryption).await;
    let s = a.body["referenceNumber"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let st = env.client.get(&format!("/sessions/{s}"), &env.access).await;
    assert_eq!(st.body["status"]["code"], 440, "{:?}", st.body);
    assert_eq!(st.body["status"]["details"][0], "Przekroczono czas wysyłki");
    let c = close_batch(&env, &s).await;
    assert_eq!(c.exception_code(), Some(21208), "{:?}", c.body);
}

#[tokio::test]
async fn restart_in_the_middle_of_processing_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let config = move |c: &mut ksef_emulator::EmulatorConfig| {
        c.data_dir = path.clone();
    };
    let env = start(config.clone()).await;
    const N: usize = 3000;
    let files = invoices(&env, "RST", N);
    let session = send_batch(&env, &zip(&files), 2, None).await;
    // Wait until at least one chunk is committed, then stop the emulator.
    let deadline = Instant::now() + Duration::from_secs(60);
    let committed = loop {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM session_invoices WHERE session_ref = ?")
                .bind(&session)
                .fetch_one(env.pool())
                .await
                .unwrap();
        if n > 0 || Instant::now() > deadline {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let Env {
        emu,
        client,
        nip,
        access,
        ..
    } = env;
    emu.shutdown().await;
    assert!(committed > 0);

    // Same data directory: the processor resumes the session in 150.
    let (emu, client2, _other_dir) = start_emulator(config).await;
    let env = Env {
        emu,
        client: client2,
        dir: tempfile::tempdir().unwrap(),
        nip,
        access,
    };
    let _ = client;
    let before: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM session_invoices WHERE session_ref = ?")
            .bind(&session)
            .fetch_one(env.pool())
            .await
            .unwrap();
    eprintln!("committed before the stop: {committed}; at restart: {before} of {N}");
    let st = wait_session(&env, &session).await;
    assert_eq!(st["status"]["code"], 200, "{st}");
    assert_eq!(st["successfulInvoiceCount"], N as i64, "{st}");
    assert_eq!(
        st["failedInvoiceCount"], 0,
        "no invoice was processed twice: {st}"
    );
    let all = all_invoices(&env, &session, false).await;
    let ordinals: Vec<i64> = all
        .iter()
        .map(|i| i["ordinalNumber"].as_i64().unwrap())
        .collect();
    assert_eq!(ordinals, (1..=N as i64).collect::<Vec<_>>());
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM invoices WHERE session_ref = ?")
        .bind(&session)
        .fetch_one(env.pool())
        .await
        .unwrap();
    assert_eq!(stored, N as i64);
    drop(dir);
}

/// 10 000 FA(3) invoices (~3.3 KB each) in one ZIP: time from close to the final status.
/// `cargo test -p ksef-emulator --release --test sessions_batch -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn throughput_10k_invoices() {
    // The emulator logs the stages of the package ("batch session processed").
    let _ = tracing_subscriber::fmt()
        .with_env_filter("ksef_emulator::sessions=info")
        .with_writer(std::io::stderr)
        .try_init();
    let env = start(|_| {}).await;
    let files = invoices(&env, "PERF", 10_000);
    let archive = zip(&files);
    let k = session_key(&env.client).await;
    let p = package(&archive, 1, &k, None);
    let a = open_batch_raw(&env, FA3, &p.batch_file, &k.encryption).await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(upload(&a.body, 0, &p.parts[0]).await, StatusCode::CREATED);
    let s = a.body["referenceNumber"].as_str().unwrap().to_string();
    let cpu0 = process_cpu();
    let started = Instant::now();
    assert_eq!(close_batch(&env, &s).await.status, StatusCode::NO_CONTENT);
    let st = wait_session_for(&env, &s, Duration::from_secs(300)).await;
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(st["successfulInvoiceCount"], 10_000, "{st}");
    tokio::time::sleep(Duration::from_millis(300)).await; // let the stage log line out
    let cpu = process_cpu().zip(cpu0).map(|(b, a)| b - a);
    eprintln!(
        "10 000 invoices ({} KB archive): {secs:.2} s from close to 200 = {:.0} invoices/s \
         (process CPU {:.2} s on {} cores)",
        archive.len() / 1024,
        10_000.0 / secs,
        cpu.unwrap_or(f64::NAN),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
}

/// CPU seconds (user + system) of this process so far (Linux `/proc/self/stat`).
fn process_cpu() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

#[tokio::test]
async fn attachments_need_consent_and_a_batch_session() {
    let env = start(|_| {}).await;
    let with_attachment = |n: &str| invoices::fa3_with_attachment(env.nip.as_str(), n);
    // Without the consent: 415.
    let s = send_batch(
        &env,
        &zip(&[("a.xml".into(), with_attachment("ATT-1"))]),
        1,
        None,
    )
    .await;
    wait_session(&env, &s).await;
    let item = &all_invoices(&env, &s, false).await[0];
    assert_eq!(item["status"]["code"], 415, "{item}");
    // With the consent (test data): accepted in a batch session…
    let a = env
        .client
        .post(
            "/testdata/attachment",
            None,
            json!({"nip": env.nip.as_str()}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let s = send_batch(
        &env,
        &zip(&[("a.xml".into(), with_attachment("ATT-2"))]),
        1,
        None,
    )
    .await;
    let st = wait_session(&env, &s).await;
    assert_eq!(st["status"]["code"], 200, "{st}");
    let row: i64 = sqlx::query_scalar("SELECT has_attachment FROM invoices WHERE session_ref = ?")
        .bind(&s)
        .fetch_one(env.pool())
        .await
        .unwrap();
    assert_eq!(row, 1);
    // …but not online (no technical correction): 415.
    let (s, k) = open_online(&env, FA3).await;
    let inv = send(&env, &s, &k, &with_attachment("ATT-3")).await;
    let item = wait_invoice(&env, &s, &inv).await;
    assert_eq!(item["status"]["code"], 415, "{item}");
}
