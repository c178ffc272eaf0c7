//! Exports (digest §12.3): `POST /invoices/exports` → status → download the pre-signed parts →
//! decrypt → unzip, with the package limits, the HWM rule, key errors, the concurrency limit and
//! a restart in the middle, over real HTTP against an in-process emulator.

mod retrieval_support;

use std::collections::BTreeMap;
use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ksef_core::Nip;
use ksef_testkit::RawClient;
use reqwest::StatusCode;
use retrieval_support::{Env, Inv, invoice, seed, sha256_b64, start, ts, wait_export};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

const KEY: [u8; 32] = [7u8; 32];
const IV: [u8; 16] = [9u8; 16];

/// The `encryption` block for [`KEY`]/[`IV`], wrapped with the emulator's SymmetricKeyEncryption key.
async fn encryption(client: &RawClient) -> Value {
    client.encryption(&KEY, &IV).await
}

fn filters(from: OffsetDateTime) -> Value {
    json!({"subjectType": "Subject1",
           "dateRange": {"dateType": "PermanentStorage", "from": ts(from),
                         "restrictToPermanentStorageHwmDate": true}})
}

async fn start_export(env: &Env, body: Value) -> String {
    let a = env
        .client
        .post("/invoices/exports", Some(&env.access), body)
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
    let r = a.body["referenceNumber"].as_str().unwrap().to_string();
    assert_eq!(&r[8..12], "-EH-", "{r}");
    r
}

/// Downloads and checks every part (no bearer token), decrypts, concatenates.
async fn download_package(status: &Value) -> Vec<u8> {
    let http = ksef_testkit::http_client();
    let mut out = Vec::new();
    let parts = status["package"]["parts"].as_array().unwrap();
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(p["ordinalNumber"], json!(i + 1));
        assert_eq!(p["method"], "GET");
        let r = http.get(p["url"].as_str().unwrap()).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let header = r.headers()["x-ms-meta-hash"].to_str().unwrap().to_string();
        let enc = r.bytes().await.unwrap().to_vec();
        assert_eq!(header, p["encryptedPartHash"].as_str().unwrap());
        assert_eq!(sha256_b64(&enc), p["encryptedPartHash"].as_str().unwrap());
        assert_eq!(enc.len() as u64, p["encryptedPartSize"].as_u64().unwrap());
        let plain = ksef_crypto::envelope::aes256_cbc_decrypt(&KEY, &IV, &enc).unwrap();
        assert_eq!(sha256_b64(&plain), p["partHash"].as_str().unwrap());
        assert_eq!(plain.len() as u64, p["partSize"].as_u64().unwrap());
        out.extend(plain);
    }
    assert_eq!(
        out.len() as u64,
        status["package"]["size"].as_u64().unwrap()
    );
    out
}

fn unzip(bytes: Vec<u8>) -> BTreeMap<String, Vec<u8>> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = BTreeMap::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let mut b = Vec::new();
        f.read_to_end(&mut b).unwrap();
        out.insert(f.name().to_string(), b);
    }
    out
}

fn untar_gz(bytes: Vec<u8>) -> BTreeMap<String, Vec<u8>> {
    let mut t = tar::Archive::new(flate2::read::GzDecoder::new(std::io::Cursor::new(bytes)));
    let mut out = BTreeMap::new();
    for e in t.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().to_string();
        let mut b = Vec::new();
        e.read_to_end(&mut b).unwrap();
        out.insert(name, b);
    }
    out
}

/// `n` invoices of the env's NIP, stored a minute apart starting two hours ago.
fn sales(env: &Env, n: usize) -> Vec<Inv> {
    let start_at = OffsetDateTime::now_utc() - Duration::hours(2);
    let buyer = Nip::random();
    (0..n)
        .map(|i| invoice(&env.nip, &buyer, i, start_at + Duration::minutes(i as i64)))
        .collect()
}

fn parse_ts(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(
        v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}")),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
}

#[tokio::test]
async fn export_in_several_parts_decrypts_to_the_invoices_and_metadata() {
    // Small parts so the package is split.
    let env = start(|c| c.export_part_size = 4096).await;
    let invs = sales(&env, 6);
    let other = invoice(
        &Nip::random(),
        &Nip::random(),
        99,
        OffsetDateTime::now_utc(),
    );
    let mut all = invs.clone();
    all.push(other);
    seed(env.pool(), &all).await;

    let body = json!({"encryption": encryption(&env.client).await,
                      "filters": filters(OffsetDateTime::now_utc() - Duration::days(1))});
    let reference = start_export(&env, body).await;
    let status = wait_export(&env.client, &env.access, &reference).await;
    assert_eq!(status["status"]["code"], 200, "{status}");
    assert_eq!(
        status["status"]["description"],
        "Eksport faktur zakończony sukcesem"
    );
    let pkg = &status["package"];
    assert_eq!(pkg["invoiceCount"], 6);
    assert_eq!(pkg["isTruncated"], false);
    assert!(pkg.get("lastPermanentStorageDate").is_none());
    let hwm = parse_ts(&pkg["permanentStorageHwmDate"]);
    assert!(hwm <= OffsetDateTime::now_utc() && hwm > invs[5].permanent);
    let completed = parse_ts(&status["completedDate"]);
    assert!(parse_ts(&status["packageExpirationDate"]) > completed + Duration::days(6));
    let parts = pkg["parts"].as_array().unwrap();
    assert!(parts.len() > 1, "expected several parts: {pkg}");
    for p in parts {
        assert!(p["partSize"].as_u64().unwrap() <= 4096);
        assert!(parse_ts(&p["expirationDate"]) > OffsetDateTime::now_utc());
        let name = p["partName"].as_str().unwrap();
        assert!(
            name.starts_with(&reference) && name.ends_with(".zip.aes"),
            "{name}"
        );
    }

    let files = unzip(download_package(&status).await);
    let mut expected: Vec<String> = invs
        .iter()
        .map(|i| format!("{}.xml", i.ksef_number))
        .collect();
    expected.push("_metadata.json".into());
    expected.sort();
    assert_eq!(files.keys().cloned().collect::<Vec<_>>(), expected);
    for i in &invs {
        assert_eq!(
            files[&format!("{}.xml", i.ksef_number)],
            i.content,
            "bytes of {}",
            i.ksef_number
        );
    }
    let meta: Value = serde_json::from_slice(&files["_metadata.json"]).unwrap();
    let listed: Vec<&str> = meta["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["ksefNumber"].as_str().unwrap())
        .collect();
    // Ascending by permanent storage date.
    assert_eq!(
        listed,
        invs.iter()
            .map(|i| i.ksef_number.as_str())
            .collect::<Vec<_>>()
    );
    // The same metadata as the query endpoint.
    let q = env
        .client
        .post(
            "/invoices/query/metadata?pageSize=50",
            Some(&env.access),
            filters(OffsetDateTime::now_utc() - Duration::days(1)),
        )
        .await;
    assert_eq!(meta["invoices"], q.body["invoices"]);

    // A forged link is refused.
    let url = parts[0]["url"].as_str().unwrap().replace("sig=", "sig=00");
    let r = ksef_testkit::http_client().get(url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn truncation_by_size_and_only_metadata_and_tar_gz() {
    // A 1-byte size limit: the first invoice always fits, then the package is full.
    let env = start(|c| c.export_max_package_size = 1).await;
    let invs = sales(&env, 4);
    seed(env.pool(), &invs).await;
    let enc = encryption(&env.client).await;
    let from = OffsetDateTime::now_utc() - Duration::days(1);

    let r = start_export(&env, json!({"encryption": enc, "filters": filters(from)})).await;
    let status = wait_export(&env.client, &env.access, &r).await;
    let pkg = &status["package"];
    assert_eq!(pkg["invoiceCount"], 1, "{status}");
    assert_eq!(pkg["isTruncated"], true);
    let last = parse_ts(&pkg["lastPermanentStorageDate"]);
    assert!((last - invs[0].permanent).abs() < Duration::milliseconds(1));
    assert!(pkg.get("lastInvoicingDate").is_none() && pkg.get("lastIssueDate").is_none());
    let files = unzip(download_package(&status).await);
    assert_eq!(files.len(), 2);
    assert_eq!(
        files[&format!("{}.xml", invs[0].ksef_number)],
        invs[0].content
    );
    let meta: Value = serde_json::from_slice(&files["_metadata.json"]).unwrap();
    assert_eq!(meta["invoices"].as_array().unwrap().len(), 1);

    // Issue date type: truncated → lastIssueDate, no HWM.
    let issue_filters = json!({"subjectType": "Subject1",
        "dateRange": {"dateType": "Issue", "from": ts(from - Duration::days(2))}});
    let r = start_export(&env, json!({"encryption": enc, "filters": issue_filters})).await;
    let status = wait_export(&env.client, &env.access, &r).await;
    assert_eq!(status["package"]["isTruncated"], true, "{status}");
    assert!(status["package"]["lastIssueDate"].is_string());
    assert!(status["package"].get("permanentStorageHwmDate").is_none());

    // onlyMetadata: no invoices, all metadata (the size limit does not count the metadata).
    let r = start_export(
        &env,
        json!({"encryption": enc, "filters": filters(from), "onlyMetadata": true}),
    )
    .await;
    let status = wait_export(&env.client, &env.access, &r).await;
    assert_eq!(status["package"]["isTruncated"], false, "{status}");
    assert_eq!(status["package"]["invoiceCount"], 4);
    let files = unzip(download_package(&status).await);
    assert_eq!(files.keys().collect::<Vec<_>>(), vec!["_metadata.json"]);
    let meta: Value = serde_json::from_slice(&files["_metadata.json"]).unwrap();
    assert_eq!(meta["invoices"].as_array().unwrap().len(), 4);

    // TarGz.
    let r = start_export(
        &env,
        json!({"encryption": enc, "filters": filters(from), "compressionType": "TarGz", "onlyMetadata": true}),
    )
    .await;
    let status = wait_export(&env.client, &env.access, &r).await;
    let name = status["package"]["parts"][0]["partName"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(name.ends_with(".tar.gz.aes"), "{name}");
    let files = untar_gz(download_package(&status).await);
    let meta: Value = serde_json::from_slice(&files["_metadata.json"]).unwrap();
    assert_eq!(meta["invoices"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn export_errors() {
    let env = start(|_| {}).await;
    seed(env.pool(), &sales(&env, 1)).await;
    let enc = encryption(&env.client).await;
    let from = OffsetDateTime::now_utc() - Duration::days(1);

    // A key the emulator cannot unwrap: accepted, then status 415.
    let mut bad = enc.clone();
    bad["encryptedSymmetricKey"] = json!(STANDARD.encode([1u8; 256]));
    let r = start_export(&env, json!({"encryption": bad, "filters": filters(from)})).await;
    let status = wait_export(&env.client, &env.access, &r).await;
    assert_eq!(status["status"]["code"], 415, "{status}");
    assert!(status.get("package").is_none());

    // `from` beyond the HWM with the restriction: status 420.
    let r = start_export(
        &env,
        json!({"encryption": enc, "filters": filters(OffsetDateTime::now_utc() + Duration::hours(1))}),
    )
    .await;
    let status = wait_export(&env.client, &env.access, &r).await;
    assert_eq!(status["status"]["code"], 420, "{status}");

    // Unknown public key id: 21470.
    let mut other_key = enc.clone();
    other_key["publicKeyId"] = json!(STANDARD.encode([0u8; 32]));
    let a = env
        .client
        .post(
            "/invoices/exports",
            Some(&env.access),
            json!({"encryption": other_key, "filters": filters(from)}),
        )
        .await;
    assert_eq!(a.exception_code(), Some(21470), "{:?}", a.body);

    // Bad IV, bad filters: 21405.
    let mut bad_iv = enc.clone();
    bad_iv["initializationVector"] = json!(STANDARD.encode([1u8; 8]));
    for body in [
        json!({"encryption": bad_iv, "filters": filters(from)}),
        json!({"encryption": enc, "filters": {"subjectType": "Subject1"}}),
        json!({"encryption": enc, "filters": filters(from), "compressionType": "Rar"}),
        json!({"encryption": enc, "filters": filters(from - Duration::days(100))}),
    ] {
        let a = env
            .client
            .post("/invoices/exports", Some(&env.access), body.clone())
            .await;
        assert_eq!(a.exception_code(), Some(21405), "{body}: {:?}", a.body);
    }

    // Unknown reference, and another context's export: 21175.
    let a = env
        .client
        .get(
            "/invoices/exports/20250101-EH-0000000000-0000000000-00",
            &env.access,
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.exception_code(), Some(21175));
    let stranger = retrieval_support::owner_login(&env.client, &Nip::random()).await;
    let a = env
        .client
        .get(&format!("/invoices/exports/{r}"), &stranger)
        .await;
    assert_eq!(a.exception_code(), Some(21175));

    // Ten exports in progress in the context: the eleventh is refused with 21182.
    for i in 0..10 {
        sqlx::query(
            "INSERT INTO exports(reference_number, context_type, context_value, subject_type, request, \
             iv, status_code, status_description, created_ms) VALUES (?, 'Nip', ?, 'Subject1', '{}', X'00', 100, 'w toku', 0)",
        )
        .bind(format!("20250101-EH-00000000{i:02}-0000000000-00"))
        .bind(env.nip.as_str())
        .execute(env.pool())
        .await
        .unwrap();
    }
    let a = env
        .client
        .post(
            "/invoices/exports",
            Some(&env.access),
            json!({"encryption": enc, "filters": filters(from)}),
        )
        .await;
    assert_eq!(a.exception_code(), Some(21182), "{:?}", a.body);
    // Another context is not affected.
    let a = env
        .client
        .post(
            "/invoices/exports",
            Some(&stranger),
            json!({"encryption": enc, "filters": filters(from)}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);
}

#[tokio::test]
async fn an_interrupted_export_is_rebuilt_after_a_restart() {
    let env = start(|c| c.export_part_size = 5000).await;
    let invs = sales(&env, 3);
    seed(env.pool(), &invs).await;
    let body = json!({"encryption": encryption(&env.client).await,
                      "filters": filters(OffsetDateTime::now_utc() - Duration::days(1))});
    let reference = start_export(&env, body).await;
    let done = wait_export(&env.client, &env.access, &reference).await;
    assert_eq!(done["status"]["code"], 200);

    // Make it look interrupted: back to 100 with its key, package gone, a stale file left.
    sqlx::query(
        "UPDATE exports SET status_code = 100, status_description = 'Eksport faktur w toku', \
         completed_ms = NULL, package = NULL, symmetric_key = ? WHERE reference_number = ?",
    )
    .bind(KEY.to_vec())
    .bind(&reference)
    .execute(env.pool())
    .await
    .unwrap();
    let Env {
        emu, dir, access, ..
    } = env;
    let stale = ksef_emulator::testing::export_part_path(&emu.state, &reference, 1);
    std::fs::write(&stale, b"half-written").unwrap();
    emu.shutdown().await;

    // Restart on the same data directory.
    let mut config = ksef_emulator::EmulatorConfig::new(dir.path());
    config.export_part_size = 5000;
    let emu = ksef_emulator::spawn(config, std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let client = RawClient::new(&emu.base_url());
    ksef_emulator::testing::resume_exports(&emu.state)
        .await
        .unwrap();
    let status = wait_export(&client, &access, &reference).await;
    assert_eq!(status["status"]["code"], 200, "{status}");
    assert_eq!(status["package"]["invoiceCount"], 3);
    let files = unzip(download_package(&status).await);
    for i in &invs {
        assert_eq!(files[&format!("{}.xml", i.ksef_number)], i.content);
    }
    // The AES key is not kept once the package is built.
    let key: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT symmetric_key FROM exports WHERE reference_number = ?")
            .bind(&reference)
            .fetch_one(emu.state.pool())
            .await
            .unwrap();
    assert!(key.is_none());
}

#[tokio::test]
async fn expired_packages_and_statuses() {
    // Packages that expire as soon as they are built.
    let env = start(|c| c.export_package_lifetime = std::time::Duration::ZERO).await;
    seed(env.pool(), &sales(&env, 2)).await;
    let body = json!({"encryption": encryption(&env.client).await,
                      "filters": filters(OffsetDateTime::now_utc() - Duration::days(1))});
    let reference = start_export(&env, body).await;
    let status = wait_export(&env.client, &env.access, &reference).await;
    // Either seen as expired at once, or built and expired on the next read.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let a = env
        .client
        .get(&format!("/invoices/exports/{reference}"), &env.access)
        .await;
    assert_eq!(
        a.body["status"]["code"], 210,
        "{:?} (first: {status})",
        a.body
    );
    assert!(a.body.get("package").is_none());
    assert!(a.body["packageExpirationDate"].is_string());
    // Its files are gone.
    let part = ksef_emulator::testing::export_part_path(&env.emu.state, &reference, 1);
    assert!(!part.exists(), "{} still exists", part.display());

    // After 7 days the status itself is gone: 410 Problem Details.
    sqlx::query(
        "UPDATE exports SET created_ms = created_ms - 8 * 86400000 WHERE reference_number = ?",
    )
    .bind(&reference)
    .execute(env.pool())
    .await
    .unwrap();
    let a = env
        .client
        .get(&format!("/invoices/exports/{reference}"), &env.access)
        .await;
    assert_eq!(a.status, StatusCode::GONE, "{:?}", a.body);
    assert_eq!(a.body["status"], 410);
}
