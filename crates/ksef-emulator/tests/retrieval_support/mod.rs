//! Shared setup of the `retrieval_*` tests: an emulator with a logged-in owner, and invoices
//! written straight into the `invoices`/`invoice_parties` tables (the rows an accepted invoice
//! gets from session processing), with FA(3) bytes from `ksef_testkit::invoices`.

#![allow(dead_code)]

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ksef_core::{ContextIdentifier, KsefNumber, Nip, Pesel};
use ksef_crypto::KeyAlgorithm;
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_testkit::RawClient;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::{Date, OffsetDateTime};

#[path = "../common/mod.rs"]
mod common;

#[allow(unused_imports)]
pub use common::{Env, owner_login, start_with_owner as start};

/// Access token of a person who holds only `permissions` in the context of `nip`.
pub async fn person_login(client: &RawClient, nip: &Nip, permissions: &[&str]) -> String {
    let pesel = Pesel::random();
    let perms: Vec<Value> = permissions
        .iter()
        .map(|p| json!({"permissionType": p, "description": "Nadane w teście"}))
        .collect();
    let a = client
        .post(
            "/testdata/permissions",
            None,
            json!({"contextIdentifier":{"type":"Nip","value":nip.as_str()},
                   "authorizedIdentifier":{"type":"Pesel","value":pesel.as_str()},
                   "permissions": perms}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let cert = make_test_certificate(
        &TestSubject::person_pesel(pesel, "Ewa", "Testowa"),
        KeyAlgorithm::EcP256,
    )
    .unwrap();
    client
        .login_with_certificate(&cert, &ContextIdentifier::Nip(nip.clone()))
        .await
        .expect("person login")
        .access_token
}

/// One accepted invoice as stored by session processing.
#[derive(Debug, Clone)]
pub struct Inv {
    pub ksef_number: String,
    pub seller_nip: String,
    pub seller_name: Option<String>,
    pub buyer_type: String,
    pub buyer_value: Option<String>,
    pub buyer_name: Option<String>,
    pub invoice_number: String,
    pub issue_date: Date,
    pub invoicing: OffsetDateTime,
    pub acquisition: OffsetDateTime,
    pub permanent: OffsetDateTime,
    pub net: f64,
    pub gross: f64,
    pub vat: f64,
    pub currency: String,
    pub invoice_type: String,
    pub rodzaj: String,
    pub form: (String, String, String),
    pub invoicing_mode: String,
    pub self_invoicing: bool,
    pub has_attachment: bool,
    /// (type, value, name, role)
    pub third: Vec<(String, String, Option<String>, i32)>,
    /// (nip, name, role)
    pub authorized: Option<(String, Option<String>, i32)>,
    pub content: Vec<u8>,
}

/// An FA(3) invoice of `seller` to `buyer` with number `n`, permanently stored at `stored`
/// (invoicing 2 s and acquisition 1 s earlier), issued the day before.
pub fn invoice(seller: &Nip, buyer: &Nip, n: usize, stored: OffsetDateTime) -> Inv {
    let number = format!("R{n:06}");
    let content = ksef_testkit::invoices::fa3(seller.as_str(), &number);
    let issue_date = (stored - time::Duration::days(1)).date();
    Inv {
        ksef_number: KsefNumber::generate(seller, stored.date()).to_string(),
        seller_nip: seller.as_str().to_string(),
        seller_name: Some("Elektrownia S.A.".into()),
        buyer_type: "Nip".into(),
        buyer_value: Some(buyer.as_str().to_string()),
        buyer_name: Some("F.H.U. Jan Kowalski".into()),
        invoice_number: format!("FA/GRQMB-{number}/05/2025"),
        issue_date,
        invoicing: stored - time::Duration::seconds(2),
        acquisition: stored - time::Duration::seconds(1),
        permanent: stored,
        net: 100.0,
        gross: 123.0,
        vat: 23.0,
        currency: "PLN".into(),
        invoice_type: "Vat".into(),
        rodzaj: "VAT".into(),
        form: ("FA (3)".into(), "1-0E".into(), "FA".into()),
        invoicing_mode: "Online".into(),
        self_invoicing: false,
        has_attachment: false,
        third: Vec::new(),
        authorized: None,
        content,
    }
}

fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Base64 SHA-256.
pub fn sha256_b64(bytes: &[u8]) -> String {
    STANDARD.encode(Sha256::digest(bytes))
}

/// Inserts invoices and their parties in one transaction.
pub async fn seed(pool: &sqlx::SqlitePool, invoices: &[Inv]) {
    let mut tx = pool.begin().await.unwrap();
    for i in invoices {
        let third: Vec<Value> = i
            .third
            .iter()
            .map(|(t, v, name, role)| {
                let mut o = json!({"identifier": {"type": t, "value": v}, "role": role});
                if let Some(n) = name {
                    o["name"] = json!(n);
                }
                o
            })
            .collect();
        let authorized = i
            .authorized
            .as_ref()
            .map(|(nip, name, role)| json!({"nip": nip, "name": name, "role": role}).to_string());
        sqlx::query(
            "INSERT INTO invoices(ksef_number, session_ref, invoice_ref, context_type, context_value, content, \
             invoice_hash, invoice_size, form_system_code, form_schema_version, form_value, invoice_number, \
             invoice_type, rodzaj_faktury, issue_date, invoicing_ms, acquisition_ms, permanent_storage_ms, \
             seller_nip, seller_name, buyer_id_type, buyer_id_value, buyer_name, net_amount, gross_amount, \
             vat_amount, currency, invoicing_mode, is_self_invoicing, has_attachment, \
             hash_of_corrected_invoice, third_subjects, authorized_subject) \
             VALUES (?, ?, ?, 'Nip', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
        )
        .bind(&i.ksef_number)
        .bind("20250101-SO-0000000000-0000000000-00")
        .bind(format!("EE-{}", i.ksef_number))
        .bind(&i.seller_nip)
        .bind(&i.content)
        .bind(sha256_b64(&i.content))
        .bind(i.content.len() as i64)
        .bind(&i.form.0)
        .bind(&i.form.1)
        .bind(&i.form.2)
        .bind(&i.invoice_number)
        .bind(&i.invoice_type)
        .bind(&i.rodzaj)
        .bind(i.issue_date.to_string())
        .bind(ms(i.invoicing))
        .bind(ms(i.acquisition))
        .bind(ms(i.permanent))
        .bind(&i.seller_nip)
        .bind(&i.seller_name)
        .bind(&i.buyer_type)
        .bind(&i.buyer_value)
        .bind(&i.buyer_name)
        .bind(i.net)
        .bind(i.gross)
        .bind(i.vat)
        .bind(&i.currency)
        .bind(&i.invoicing_mode)
        .bind(i64::from(i.self_invoicing))
        .bind(i64::from(i.has_attachment))
        .bind(Value::Array(third).to_string())
        .bind(authorized)
        .execute(&mut *tx)
        .await
        .unwrap();
        let mut parties = vec![("Subject1", i.seller_nip.clone())];
        if i.buyer_type == "Nip"
            && let Some(b) = &i.buyer_value
        {
            parties.push(("Subject2", b.clone()));
        }
        for (_, v, _, _) in &i.third {
            parties.push(("Subject3", v.clone()));
        }
        if let Some((nip, _, _)) = &i.authorized {
            parties.push(("SubjectAuthorized", nip.clone()));
        }
        for (t, id) in parties {
            sqlx::query(
                "INSERT OR IGNORE INTO invoice_parties(ksef_number, subject_type, identifier) VALUES (?, ?, ?)",
            )
            .bind(&i.ksef_number)
            .bind(t)
            .bind(id)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
    }
    tx.commit().await.unwrap();
}

/// KSeF-style timestamp for request bodies.
pub fn ts(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// `POST /invoices/query/metadata{query}` with `body`.
pub async fn query(env: &Env, query: &str, body: Value) -> ksef_testkit::Answer {
    env.client
        .post(
            &format!("/invoices/query/metadata{query}"),
            Some(&env.access),
            body,
        )
        .await
}

/// KSeF numbers of a metadata answer, in order.
pub fn numbers(answer: &Value) -> Vec<String> {
    answer["invoices"]
        .as_array()
        .unwrap_or_else(|| panic!("no invoices in {answer}"))
        .iter()
        .map(|i| i["ksefNumber"].as_str().unwrap().to_string())
        .collect()
}

/// Polls `GET /invoices/exports/{ref}` until the status is not 100.
pub async fn wait_export(client: &RawClient, access: &str, reference: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let a = client
            .get(&format!("/invoices/exports/{reference}"), access)
            .await;
        assert_eq!(a.status, StatusCode::OK, "export status: {:?}", a.body);
        if a.body["status"]["code"].as_i64() != Some(100) {
            return a.body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "export still in progress after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
