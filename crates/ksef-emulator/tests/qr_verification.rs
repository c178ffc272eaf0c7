//! The QR code verification pages (digest §13.2, `kody-qr.md`) over real HTTP against an
//! in-process emulator: KOD I of an accepted invoice, of an altered file and of a technically
//! corrected offline invoice; KOD II signed with enrolled KSeF `Offline` certificates (RSA and
//! EC), with altered signatures and hashes, a revoked, an expired, a not yet valid and an
//! `Authentication` certificate, a subject without permission, a context that may not issue for
//! the seller and ones that may (self-invoicing, a JST unit); hostile addresses (400, a Polish
//! page, nothing echoed). Every JSON verdict is checked against the HTML page of the same link
//! as libxml2 (`xmllint --html`) reads it.

mod sessions_support;

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ksef_core::qr::{
    CertificateLinkData, CertificateSerialNumber, CertificateVerificationLink, InvoiceHash,
    InvoiceVerificationLink, LinkBase, LinkSignature,
};
use ksef_core::{ContextIdentifier, Nip, Pesel};
use ksef_crypto::envelope::sha256_base64;
use ksef_crypto::testcert::oid;
use ksef_crypto::verification_link::{sign_certificate_link, sign_link_text};
use ksef_crypto::{Credential, KeyAlgorithm, PrivateKey};
use ksef_testkit::{RawClient, invoices};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sessions_support::*;
use sha2::{Digest, Sha256};
use time::macros::date;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `P_1` of the FA(3) template.
const ISSUE_DATE: time::Date = date!(2025 - 09 - 01);

/// The links' origin for this emulator, as a client computes it from the API base URL.
fn base(env: &Env) -> LinkBase {
    LinkBase::for_api_base_url(&env.emu.base_url()).unwrap()
}

/// An answer of a verification page.
struct Page {
    status: StatusCode,
    content_type: String,
    body: String,
}

async fn get_page(url: &str, accept: Option<&str>) -> Page {
    let mut req = ksef_testkit::http_client().get(url);
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
    Page {
        status,
        content_type,
        body: r.text().await.unwrap(),
    }
}

/// The HTML page of `url`: a Polish UTF-8 page that libxml2 (`xmllint --html`, an independent
/// parser) reads without a complaint.
async fn html(url: &str) -> Page {
    let p = get_page(url, None).await;
    assert_eq!(p.content_type, "text/html; charset=utf-8", "{url}");
    assert!(p.body.starts_with("<!DOCTYPE html>"), "{}", p.body);
    assert!(p.body.contains("<html lang=\"pl\">"), "{}", p.body);
    assert!(p.body.contains("<meta charset=\"utf-8\">"), "{}", p.body);
    assert!(p.body.contains("Emulator KSeF"), "{}", p.body);
    let (ok, stderr) = xmllint(&p.body, &["--noout"]);
    assert!(
        ok && stderr.is_empty(),
        "xmllint --html: {stderr}\n{}",
        p.body
    );
    p
}

/// Runs `xmllint --html ARGS -` on `page` → (success, stdout or stderr).
fn xmllint(page: &str, args: &[&str]) -> (bool, String) {
    use std::io::Write;
    let mut child = std::process::Command::new("xmllint")
        .arg("--html")
        .args(args)
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the `xmllint` CLI is required for these tests (Debian package libxml2-utils)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = if args.contains(&"--noout") {
        String::from_utf8_lossy(&out.stderr).into_owned()
    } else {
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    (out.status.success(), text)
}

/// The value of an XPath string expression over `page`, as libxml2 reads it.
fn xpath(page: &str, expr: &str) -> String {
    let (ok, out) = xmllint(page, &["--xpath", expr]);
    assert!(ok, "xmllint --xpath {expr}");
    out.trim_end_matches('\n').to_string()
}

/// Keys every JSON answer has, and the optional ones it may have.
const JSON_REQUIRED: &[&str] = &["valid", "code", "reason"];
const JSON_OPTIONAL: &[&str] = &[
    "kind",
    "linkError",
    "ksefNumber",
    "acquisitionDate",
    "sellerNip",
    "issueDate",
    "invoiceHash",
    "contextIdentifier",
    "certificateSerialNumber",
    "certificateValidTo",
    "issuingBasis",
];

/// The JSON verdict of `url` (`Accept: application/json`): a stable shape, a Polish reason,
/// 200 (400 for an invalid link); checked against the link's HTML page.
async fn verdict(url: &str) -> Value {
    let p = get_page(url, Some("application/json")).await;
    assert_eq!(p.content_type, "application/json", "{url}");
    let v: Value = serde_json::from_str(&p.body).unwrap();
    let obj = v.as_object().expect("a JSON object");
    for k in JSON_REQUIRED {
        assert!(obj.contains_key(*k), "{k} missing: {v}");
    }
    for k in obj.keys() {
        assert!(
            JSON_REQUIRED.contains(&k.as_str()) || JSON_OPTIONAL.contains(&k.as_str()),
            "unexpected key {k}: {v}"
        );
    }
    assert!(v["valid"].is_boolean(), "{v}");
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.chars().any(|c| "ąćęłńóśźżĄĆĘŁŃÓŚŹŻ".contains(c)),
        "not Polish: {reason}"
    );
    let expected = if v["code"] == "InvalidLink" {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    assert_eq!(p.status, expected, "{v}");

    // The HTML page of the same link says the same: status, `data-valid`, `data-code` and
    // the reason, as libxml2 reads them.
    let page = html(url).await;
    assert_eq!(page.status, expected, "{url}");
    assert_eq!(
        xpath(&page.body, "string(//div[@id='verdict']/@data-valid)"),
        v["valid"].to_string()
    );
    assert_eq!(
        xpath(&page.body, "string(//div[@id='verdict']/@data-code)"),
        v["code"].as_str().unwrap()
    );
    assert_eq!(
        xpath(&page.body, "string(//p[@id='reason'])"),
        v["reason"].as_str().unwrap()
    );
    if let Some(n) = v["ksefNumber"].as_str() {
        assert_eq!(xpath(&page.body, "string(//dd[@id='ksef-number'])"), n);
    }
    v
}

/// `(valid, code)` of the verdict.
async fn outcome(url: &str) -> (bool, String) {
    let v = verdict(url).await;
    (
        v["valid"].as_bool().unwrap(),
        v["code"].as_str().unwrap().to_string(),
    )
}

// ---------------------------------------------------------------- invoices

/// Sends `xml` in a new online session (optionally offline / as a technical correction of the
/// file hashed to `corrects`) and returns its final status body.
async fn send_one(env: &Env, xml: &[u8], offline: bool, corrects: Option<&[u8]>) -> Value {
    let (session, k) = open_online(env, FA3).await;
    let mut body = send_body(&k, xml);
    if offline {
        body["offlineMode"] = json!(true);
    }
    if let Some(original) = corrects {
        body["hashOfCorrectedInvoice"] = json!(sha256_base64(original));
    }
    let a = env
        .client
        .post(
            &format!("/sessions/online/{session}/invoices"),
            Some(&env.access),
            body,
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "send: {:?}", a.body);
    let invoice = a.body["referenceNumber"].as_str().unwrap().to_string();
    let status = wait_invoice(env, &session, &invoice).await;
    close_online(env, &session).await;
    status
}

#[tokio::test]
async fn kod_i_valid_altered_mismatched_and_technically_corrected() {
    let env = start(|_| {}).await;
    let doc = invoices::fa3(env.nip.as_str(), "QR-1");
    let sent = send_one(&env, &doc, false, None).await;
    assert_eq!(sent["status"]["code"], 200, "{sent}");
    let ksef = sent["ksefNumber"].as_str().unwrap().to_string();

    // The code of the accepted invoice: valid, with its KSeF number.
    let link = InvoiceVerificationLink::for_file(base(&env), env.nip.clone(), ISSUE_DATE, &doc)
        .unwrap()
        .url();
    assert!(
        link.starts_with(&format!("http://{}/invoice/", env.emu.addr)),
        "{link}"
    );
    let v = verdict(&link).await;
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["code"], "InvoiceInKsef");
    assert_eq!(v["kind"], "invoice");
    assert_eq!(v["ksefNumber"], ksef.as_str());
    assert_eq!(v["sellerNip"], env.nip.as_str());
    assert_eq!(v["issueDate"], "2025-09-01");
    assert_eq!(
        v["invoiceHash"],
        URL_SAFE_NO_PAD.encode(Sha256::digest(&doc))
    );
    assert_eq!(v["acquisitionDate"], sent["acquisitionDate"]);
    let page = html(&link).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("data-valid=\"true\""), "{}", page.body);
    assert!(page.body.contains("data-code=\"InvoiceInKsef\""));
    assert!(page.body.contains("Faktura jest w KSeF"), "{}", page.body);
    assert!(
        page.body
            .contains(&format!("<dd id=\"ksef-number\">{ksef}</dd>")),
        "{}",
        page.body
    );
    assert!(page.body.contains("01.09.2025"), "{}", page.body);
    // Lenient like the real service: a trailing slash, doubled slashes, a query string.
    assert_eq!(
        verdict(&format!("{link}/")).await["ksefNumber"],
        ksef.as_str()
    );
    assert_eq!(
        verdict(&format!("{link}?utm=x")).await["ksefNumber"],
        ksef.as_str()
    );
    let doubled = link.replace("/invoice/", "/invoice//");
    assert_eq!(verdict(&doubled).await["ksefNumber"], ksef.as_str());
    // What the page may not show: the invoice's content (buyer, amounts, number).
    let text = String::from_utf8(doc.clone()).unwrap();
    for secret in [
        "FA/GRQMB-QR-1/05/2025",
        "1111111111",
        "F.H.U. Jan Kowalski",
        "53.63",
        "Elektrownia",
    ] {
        assert!(text.contains(secret));
        assert!(!page.body.contains(secret), "{secret} shown");
    }

    // An altered file: its hash is not in KSeF.
    let mut altered = doc.clone();
    altered.push(b'\n');
    let other =
        InvoiceVerificationLink::for_file(base(&env), env.nip.clone(), ISSUE_DATE, &altered)
            .unwrap()
            .url();
    let v = verdict(&other).await;
    assert_eq!(
        (v["valid"].as_bool(), v["code"].as_str()),
        (Some(false), Some("InvoiceNotFound"))
    );
    assert!(v.get("ksefNumber").is_none(), "{v}");
    let page = html(&other).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("data-valid=\"false\""));
    assert!(
        page.body
            .contains("W KSeF nie ma faktury o podanym skrócie"),
        "{}",
        page.body
    );

    // The right hash with another date or seller: the link does not describe the invoice.
    let hash = InvoiceHash::of_file(&doc);
    let wrong_date =
        InvoiceVerificationLink::new(base(&env), env.nip.clone(), date!(2025 - 09 - 02), hash)
            .unwrap()
            .url();
    let v = verdict(&wrong_date).await;
    assert_eq!(v["code"], "InvoiceDataMismatch");
    assert!(
        v["reason"].as_str().unwrap().contains("data wystawienia"),
        "{v}"
    );
    let wrong_nip = InvoiceVerificationLink::new(base(&env), Nip::random(), ISSUE_DATE, hash)
        .unwrap()
        .url();
    let v = verdict(&wrong_nip).await;
    assert_eq!(v["code"], "InvoiceDataMismatch");
    assert!(
        v["reason"].as_str().unwrap().contains("NIP sprzedawcy"),
        "{v}"
    );
    assert!(v.get("ksefNumber").is_none(), "{v}");

    // An offline invoice rejected for a technical reason (a BOM), then its technical
    // correction: the same business content as a new file with hashOfCorrectedInvoice.
    let original = invoices::broken_bom(env.nip.as_str(), "QR-2");
    let rejected = send_one(&env, &original, true, None).await;
    assert_eq!(rejected["status"]["code"], 430, "{rejected}");
    let original_link =
        InvoiceVerificationLink::for_file(base(&env), env.nip.clone(), ISSUE_DATE, &original)
            .unwrap()
            .url();
    assert_eq!(
        outcome(&original_link).await,
        (false, "InvoiceNotFound".into())
    );

    let corrected = invoices::fa3(env.nip.as_str(), "QR-2");
    let correction = send_one(&env, &corrected, true, Some(&original)).await;
    assert_eq!(correction["status"]["code"], 200, "{correction}");
    assert_eq!(correction["invoicingMode"], "Offline", "{correction}");
    let corrected_ksef = correction["ksefNumber"].as_str().unwrap();

    // KOD I printed on the original now leads to the correction.
    let v = verdict(&original_link).await;
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["code"], "TechnicallyCorrected");
    assert_eq!(v["ksefNumber"], corrected_ksef);
    assert_eq!(
        v["invoiceHash"],
        URL_SAFE_NO_PAD.encode(Sha256::digest(&original))
    );
    let page = html(&original_link).await;
    assert!(page.body.contains("korektą techniczną"), "{}", page.body);
    assert!(page.body.contains(corrected_ksef), "{}", page.body);
    // And the correction's own code is a plain valid one.
    let own =
        InvoiceVerificationLink::for_file(base(&env), env.nip.clone(), ISSUE_DATE, &corrected)
            .unwrap()
            .url();
    let v = verdict(&own).await;
    assert_eq!(
        (v["code"].as_str(), v["ksefNumber"].as_str()),
        (Some("InvoiceInKsef"), Some(corrected_ksef))
    );
}

// ---------------------------------------------------------------- KSeF certificates

/// The CSR attributes of `GET /certificates/enrollments/data`.
fn attributes_of(data: &Value) -> Vec<(String, String)> {
    [
        ("givenName", oid::GIVEN_NAME),
        ("surname", oid::SURNAME),
        ("serialNumber", oid::SERIAL_NUMBER),
        ("organizationName", oid::ORGANIZATION_NAME),
        ("organizationIdentifier", oid::ORGANIZATION_IDENTIFIER),
        ("uniqueIdentifier", "2.5.4.45"),
        ("commonName", oid::COMMON_NAME),
        ("countryName", oid::COUNTRY_NAME),
    ]
    .into_iter()
    .filter_map(|(field, o)| data[field].as_str().map(|v| (o.to_string(), v.to_string())))
    .collect()
}

/// Enrolls a KSeF certificate of `kind` (`Offline`, `Authentication`) for a fresh key of
/// `algorithm`, as the subject of `access`; returns it with its key.
async fn enroll(c: &RawClient, access: &str, kind: &str, algorithm: KeyAlgorithm) -> Credential {
    enroll_with(c, access, kind, algorithm, None).await
}

/// [`enroll`] with a `validFrom`.
async fn enroll_with(
    c: &RawClient,
    access: &str,
    kind: &str,
    algorithm: KeyAlgorithm,
    valid_from: Option<time::OffsetDateTime>,
) -> Credential {
    let data = c.get("/certificates/enrollments/data", access).await;
    assert_eq!(data.status, StatusCode::OK, "{:?}", data.body);
    let key = PrivateKey::generate(algorithm).unwrap();
    let csr = ksef_crypto::csr::csr_for_key(&key, &attributes_of(&data.body)).unwrap();
    let mut body = json!({"certificateName": format!("Kod QR {kind}"), "certificateType": kind,
                          "csr": STANDARD.encode(&csr)});
    if let Some(from) = valid_from {
        body["validFrom"] = json!(
            from.format(&time::format_description::well_known::Rfc3339)
                .unwrap()
        );
    }
    let a = c
        .post("/certificates/enrollments", Some(access), body)
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "enroll: {:?}", a.body);
    let reference = a.body["referenceNumber"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    let serial = loop {
        let s = c
            .get(&format!("/certificates/enrollments/{reference}"), access)
            .await;
        assert_eq!(s.status, StatusCode::OK, "{:?}", s.body);
        if s.body["status"]["code"] != 100 {
            assert_eq!(s.body["status"]["code"], 200, "{:?}", s.body);
            break s.body["certificateSerialNumber"]
                .as_str()
                .unwrap()
                .to_string();
        }
        assert!(Instant::now() < deadline, "enrollment still 100");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let r = c
        .post(
            "/certificates/retrieve",
            Some(access),
            json!({"certificateSerialNumbers": [serial]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let der = STANDARD
        .decode(r.body["certificates"][0]["certificate"].as_str().unwrap())
        .unwrap();
    Credential::new(key, der, vec![]).unwrap()
}

/// KOD II of a random invoice file, signed with `cred` (an `Offline` certificate).
fn kod_ii(
    env: &Env,
    cred: &Credential,
    context: &ContextIdentifier,
    seller: &Nip,
) -> CertificateVerificationLink {
    sign_certificate_link(
        cred,
        base(env),
        context.clone(),
        seller.clone(),
        InvoiceHash::of_file(&rand_bytes()),
    )
    .unwrap()
}

fn rand_bytes() -> Vec<u8> {
    (0..64).map(|_| rand::random::<u8>()).collect()
}

fn nip_ctx(nip: &Nip) -> ContextIdentifier {
    ContextIdentifier::Nip(nip.clone())
}

/// The link with another signature.
fn with_signature(link: &CertificateVerificationLink, signature: Vec<u8>) -> String {
    link.data()
        .clone()
        .with_signature(LinkSignature::new(signature).unwrap())
        .url()
}

#[tokio::test]
async fn kod_ii_valid_with_rsa_and_ec_offline_certificates_and_altered_links() {
    let env = start(|_| {}).await;
    let ctx = nip_ctx(&env.nip);
    for algorithm in [KeyAlgorithm::EcP256, KeyAlgorithm::Rsa2048] {
        let cred = enroll(&env.client, &env.access, "Offline", algorithm).await;
        let link = kod_ii(&env, &cred, &ctx, &env.nip);
        let url = link.url();
        assert!(
            url.starts_with(&format!("http://{}/certificate/Nip/", env.emu.addr)),
            "{url}"
        );
        let v = verdict(&url).await;
        assert_eq!(v["valid"], true, "{algorithm:?}: {v}");
        assert_eq!(v["code"], "CertificateConfirmed");
        assert_eq!(v["kind"], "certificate");
        assert_eq!(v["issuingBasis"], "OwnContext");
        assert_eq!(
            v["certificateSerialNumber"],
            link.data().certificate_serial().as_str()
        );
        assert_eq!(
            v["contextIdentifier"],
            json!({"type": "Nip", "value": env.nip.as_str()})
        );
        assert_eq!(v["sellerNip"], env.nip.as_str());
        assert!(v["certificateValidTo"].is_string(), "{v}");
        assert!(v.get("ksefNumber").is_none(), "{v}");
        let page = html(&url).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body.contains("data-code=\"CertificateConfirmed\""),
            "{}",
            page.body
        );
        assert!(page.body.contains("Wystawca potwierdzony"), "{}", page.body);
        assert!(
            page.body
                .contains("faktura wystawiona w kontekście sprzedawcy")
        );
        // Not shown: the owner's identifier beyond what the link carries (here it is the
        // seller's NIP anyway), nor the certificate itself.
        assert!(!page.body.contains("BEGIN CERTIFICATE"));

        // An altered signature: one bit flipped.
        let mut sig = link.signature().as_bytes().to_vec();
        let last = sig.len() - 1;
        sig[last] ^= 0x01;
        let v = verdict(&with_signature(&link, sig)).await;
        assert_eq!(
            (v["valid"].as_bool(), v["code"].as_str()),
            (Some(false), Some("SignatureInvalid")),
            "{v}"
        );
        assert!(v["reason"].as_str().unwrap().contains("Podpis"), "{v}");
        // A signature of the right length from another key.
        let stranger = PrivateKey::generate(algorithm).unwrap();
        let forged = sign_link_text(&stranger, &link.string_to_sign()).unwrap();
        assert_eq!(
            outcome(&with_signature(&link, forged)).await,
            (false, "SignatureInvalid".into())
        );

        // An altered hash: the signature no longer covers the link's data.
        let d = link.data();
        let other_hash = CertificateLinkData::new(
            d.base().clone(),
            d.context().clone(),
            d.seller_nip().clone(),
            d.certificate_serial().clone(),
            InvoiceHash::of_file(b"another invoice"),
        )
        .with_signature(link.signature().clone())
        .url();
        assert_eq!(
            outcome(&other_hash).await,
            (false, "SignatureInvalid".into())
        );

        // Signed for another verification service (the TEST host): not valid here.
        let elsewhere = sign_certificate_link(
            &cred,
            LinkBase::test(),
            ctx.clone(),
            env.nip.clone(),
            *d.invoice_hash(),
        )
        .unwrap();
        let moved = with_signature(&link, elsewhere.signature().as_bytes().to_vec());
        assert_eq!(outcome(&moved).await, (false, "SignatureInvalid".into()));

        if algorithm == KeyAlgorithm::EcP256 {
            // An ECDSA signature written in DER, which KSeF accepts too.
            let raw = link.signature().as_bytes();
            let der = ksef_crypto::p256::ecdsa::Signature::from_slice(raw)
                .unwrap()
                .to_der();
            let url = with_signature(&link, der.as_bytes().to_vec());
            assert_eq!(outcome(&url).await, (true, "CertificateConfirmed".into()));
        }
    }
}

#[tokio::test]
async fn kod_ii_refuses_revoked_authentication_and_unknown_certificates() {
    let env = start(|_| {}).await;
    let ctx = nip_ctx(&env.nip);

    // An Authentication certificate: its key can sign the text, but KOD II needs Offline.
    let auth = enroll(
        &env.client,
        &env.access,
        "Authentication",
        KeyAlgorithm::EcP256,
    )
    .await;
    let serial: CertificateSerialNumber =
        ksef_crypto::verification_link::certificate_serial(&auth.certificate_der).unwrap();
    let data = CertificateLinkData::new(
        base(&env),
        ctx.clone(),
        env.nip.clone(),
        serial.clone(),
        InvoiceHash::of_file(&rand_bytes()),
    );
    let signature = sign_link_text(&auth.key, &data.string_to_sign()).unwrap();
    let url = data
        .with_signature(LinkSignature::new(signature).unwrap())
        .url();
    let v = verdict(&url).await;
    assert_eq!(
        (v["valid"].as_bool(), v["code"].as_str()),
        (Some(false), Some("NotOfflineCertificate")),
        "{v}"
    );
    assert!(
        v["reason"].as_str().unwrap().contains("Authentication"),
        "{v}"
    );
    let page = html(&url).await;
    assert!(page.body.contains("typu Offline"), "{}", page.body);

    // An Offline certificate: valid, then revoked by its owner.
    let offline = enroll(&env.client, &env.access, "Offline", KeyAlgorithm::EcP256).await;
    let link = kod_ii(&env, &offline, &ctx, &env.nip).url();
    assert_eq!(outcome(&link).await, (true, "CertificateConfirmed".into()));
    let serial = ksef_crypto::verification_link::certificate_serial(&offline.certificate_der)
        .unwrap()
        .to_string();
    let r = env
        .client
        .post(
            &format!("/certificates/{serial}/revoke"),
            Some(&env.access),
            json!({"revocationReason": "KeyCompromise"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let v = verdict(&link).await;
    assert_eq!(
        (v["valid"].as_bool(), v["code"].as_str()),
        (Some(false), Some("CertificateRevoked")),
        "{v}"
    );
    assert!(
        v["reason"].as_str().unwrap().contains("unieważniony"),
        "{v}"
    );
    assert!(v.get("certificateValidTo").is_none(), "{v}");

    // Validity is checked against the emulator's clock: past its end, before its start.
    let fresh = enroll(&env.client, &env.access, "Offline", KeyAlgorithm::EcP256).await;
    let link = kod_ii(&env, &fresh, &ctx, &env.nip).url();
    assert_eq!(outcome(&link).await, (true, "CertificateConfirmed".into()));
    env.emu.state.step_clock(time::Duration::days(731));
    let v = verdict(&link).await;
    assert_eq!(v["code"], "CertificateExpired", "{v}");
    assert!(
        v["reason"].as_str().unwrap().contains("utracił ważność"),
        "{v}"
    );
    env.emu.state.step_clock(time::Duration::days(-731));
    assert_eq!(outcome(&link).await, (true, "CertificateConfirmed".into()));
    let tomorrow = time::OffsetDateTime::now_utc() + time::Duration::days(1);
    let later = enroll_with(
        &env.client,
        &env.access,
        "Offline",
        KeyAlgorithm::EcP256,
        Some(tomorrow),
    )
    .await;
    let v = verdict(&kod_ii(&env, &later, &ctx, &env.nip).url()).await;
    assert_eq!(v["code"], "CertificateNotYetValid", "{v}");
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains("nie jest jeszcze ważny"),
        "{v}"
    );

    // A serial number no certificate has.
    let unknown = CertificateLinkData::new(
        base(&env),
        ctx.clone(),
        env.nip.clone(),
        "0123456789ABCDEF".parse().unwrap(),
        InvoiceHash::of_file(b"x"),
    )
    .with_signature(LinkSignature::new(vec![7; 64]).unwrap())
    .url();
    assert_eq!(
        outcome(&unknown).await,
        (false, "CertificateNotFound".into())
    );
}

/// Grants `permissions` to `pesel` in the owner's context and waits for the operation.
async fn grant_person(env: &Env, pesel: &Pesel, permissions: &[&str]) {
    let a = env
        .client
        .post(
            "/permissions/persons/grants",
            Some(&env.access),
            json!({
                "subjectIdentifier": {"type": "Pesel", "value": pesel.as_str()},
                "permissions": permissions,
                "description": "Księgowa — faktury offline",
                "subjectDetails": {
                    "subjectDetailsType": "PersonByIdentifier",
                    "personById": {"firstName": "Adam", "lastName": "Abacki"}
                }
            }),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{:?}", a.body);
    let r = a.body["referenceNumber"].as_str().unwrap().to_string();
    assert_eq!(
        wait_operation(&env.client, &env.access, &r).await["code"],
        200
    );
}

#[tokio::test]
async fn kod_ii_checks_the_permission_and_the_context_for_the_seller() {
    let env = start(|_| {}).await;
    let a = env.nip.clone();
    let b = Nip::random();
    let cred = enroll(&env.client, &env.access, "Offline", KeyAlgorithm::EcP256).await;

    // A's certificate in B's context: A holds no permission there.
    let v = verdict(&kod_ii(&env, &cred, &nip_ctx(&b), &b).url()).await;
    assert_eq!(
        (v["valid"].as_bool(), v["code"].as_str()),
        (Some(false), Some("NoInvoicingPermission")),
        "{v}"
    );
    assert!(v["reason"].as_str().unwrap().contains(b.as_str()), "{v}");

    // In A's own context for seller B: A may not issue for B…
    let for_b = kod_ii(&env, &cred, &nip_ctx(&a), &b).url();
    let v = verdict(&for_b).await;
    assert_eq!(
        (v["valid"].as_bool(), v["code"].as_str()),
        (Some(false), Some("ContextMayNotIssueForSeller")),
        "{v}"
    );
    let page = html(&for_b).await;
    assert!(
        page.body
            .contains("nie może wystawiać faktur w imieniu sprzedawcy"),
        "{}",
        page.body
    );

    // …until B authorizes A to self-bill (B's owner grants SelfInvoicing to A).
    let b_owner = owner_login(&env.client, &b).await;
    let g = env
        .client
        .post(
            "/permissions/authorizations/grants",
            Some(&b_owner),
            json!({
                "subjectIdentifier": {"type": "Nip", "value": a.as_str()},
                "permission": "SelfInvoicing",
                "description": "Samofakturowanie przez nabywcę",
                "subjectDetails": {"fullName": "Nabywca Sp. z o.o."}
            }),
        )
        .await;
    assert_eq!(g.status, StatusCode::ACCEPTED, "{:?}", g.body);
    let r = g.body["referenceNumber"].as_str().unwrap().to_string();
    assert_eq!(wait_operation(&env.client, &b_owner, &r).await["code"], 200);
    let v = verdict(&for_b).await;
    assert_eq!(
        (v["valid"].as_bool(), v["code"].as_str()),
        (Some(true), Some("CertificateConfirmed")),
        "{v}"
    );
    assert_eq!(v["issuingBasis"], "SelfInvoicing");

    // A unit of a JST (local government) issues in its own context for the JST as seller.
    let jst = Nip::random();
    let a2 = env
        .client
        .post(
            "/testdata/subject",
            None,
            json!({"subjectNip": jst.as_str(), "subjectType": "JST",
                   "description": "Gmina testowa",
                   "subunits": [{"subjectNip": b.as_str(), "description": "Szkoła podstawowa"}]}),
        )
        .await;
    assert_eq!(a2.status, StatusCode::OK, "{:?}", a2.body);
    let b_cred = enroll(&env.client, &b_owner, "Offline", KeyAlgorithm::EcP256).await;
    let v = verdict(&kod_ii(&env, &b_cred, &nip_ctx(&b), &jst).url()).await;
    assert_eq!(v["code"], "CertificateConfirmed", "{v}");
    assert_eq!(v["issuingBasis"], "LocalGovernmentSubUnit");
    // …but not for another JST.
    let v = verdict(&kod_ii(&env, &b_cred, &nip_ctx(&b), &Nip::random()).url()).await;
    assert_eq!(v["code"], "ContextMayNotIssueForSeller", "{v}");

    // A person (PESEL) working for A: with InvoiceRead only, no invoicing right; with
    // InvoiceWrite, the code is confirmed (the Ministry's example 2).
    let pesel = Pesel::random();
    grant_person(&env, &pesel, &["InvoiceRead"]).await;
    let person = pesel_login(&env.client, &pesel, &nip_ctx(&a))
        .await
        .expect("person login");
    let person_cred = enroll(
        &env.client,
        &person.access_token,
        "Offline",
        KeyAlgorithm::EcP256,
    )
    .await;
    let link = kod_ii(&env, &person_cred, &nip_ctx(&a), &a).url();
    assert_eq!(
        outcome(&link).await,
        (false, "NoInvoicingPermission".into())
    );
    grant_person(&env, &pesel, &["InvoiceWrite"]).await;
    let v = verdict(&link).await;
    assert_eq!(
        (v["valid"].as_bool(), v["code"].as_str()),
        (Some(true), Some("CertificateConfirmed")),
        "{v}"
    );
    // The page names the certificate's holder, never the PESEL.
    let page = html(&link).await;
    assert!(page.body.contains("Adam Abacki"), "{}", page.body);
    assert!(!page.body.contains(pesel.as_str()), "PESEL shown");
    assert!(!v.to_string().contains(pesel.as_str()), "PESEL in JSON");
}

// ---------------------------------------------------------------- hostile addresses

/// A raw HTTP/1.1 GET of `path` (sent byte for byte, nothing normalised) → (status, body).
async fn raw_get(env: &Env, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(env.emu.addr).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        env.emu.addr
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn assert_invalid_page(what: &str, status: u16, body: &str, must_not_echo: &str) {
    assert_eq!(status, 400, "{what}: {body}");
    assert!(
        body.contains("text/html; charset=utf-8") || body.starts_with("<!DOCTYPE"),
        "{what}: {body}"
    );
    assert!(body.contains("<html lang=\"pl\">"), "{what}: {body}");
    assert!(body.contains("data-code=\"InvalidLink\""), "{what}: {body}");
    assert!(body.contains("Nieprawidłowy kod"), "{what}: {body}");
    if !must_not_echo.is_empty() {
        assert!(
            !body.contains(must_not_echo),
            "{what}: echoed {must_not_echo:?}"
        );
    }
}

#[tokio::test]
async fn hostile_addresses_get_a_polish_invalid_code_page() {
    let env = start(|_| {}).await;
    let origin = format!("http://{}", env.emu.addr);
    let nip = env.nip.as_str();
    let hash = InvoiceHash::of_file(b"x").to_base64url();
    let good_cert = format!("/certificate/Nip/{nip}/{nip}/0123456789ABCDEF/{hash}/AAAA");
    assert_eq!(
        outcome(&format!("{origin}{good_cert}")).await,
        (false, "CertificateNotFound".into())
    );

    let cases: Vec<(&str, String, &str)> = vec![
        ("no parts", "/invoice".into(), "SegmentCount"),
        (
            "trailing slash only",
            "/certificate/".into(),
            "SegmentCount",
        ),
        (
            "too few parts",
            format!("/invoice/{nip}/01-09-2025"),
            "SegmentCount",
        ),
        (
            "too many parts",
            format!("/invoice/{nip}/01-09-2025/{hash}/x"),
            "SegmentCount",
        ),
        (
            "overlong",
            format!("/invoice/{}", "A".repeat(5000)),
            "TooLong",
        ),
        (
            "bad NIP",
            format!("/invoice/1234567890/01-09-2025/{hash}"),
            "SellerNip",
        ),
        (
            "no such date",
            format!("/invoice/{nip}/31-02-2025/{hash}"),
            "IssueDate",
        ),
        (
            "ISO date",
            format!("/invoice/{nip}/2025-09-01/{hash}"),
            "IssueDate",
        ),
        (
            "short hash",
            format!("/invoice/{nip}/01-09-2025/{}", &hash[..42]),
            "InvoiceHash",
        ),
        (
            "hash with padding",
            format!("/invoice/{nip}/01-09-2025/{hash}="),
            "Malformed",
        ),
        (
            "standard Base64 hash",
            format!("/invoice/{nip}/01-09-2025/{}", "+".repeat(43)),
            "InvoiceHash",
        ),
        (
            "unknown context type",
            good_cert.replace("/Nip/", "/Pesel/"),
            "ContextType",
        ),
        (
            "lowercase serial",
            good_cert.replace("ABCDEF", "abcdef"),
            "CertificateSerial",
        ),
        (
            "bad signature Base64",
            good_cert.replace("/AAAA", "/A"),
            "Signature",
        ),
        (
            "signature with +",
            good_cert.replace("/AAAA", "/AA+A"),
            "Signature",
        ),
        (
            "percent-encoded",
            format!("/invoice/{nip}/01%2D09-2025/{hash}"),
            "Malformed",
        ),
        (
            "markup",
            format!("/invoice/{nip}/01-09-2025/%3Cscript%3Ealert(1)%3C%2Fscript%3E"),
            "Malformed",
        ),
    ];
    for (what, path, problem) in &cases {
        let url = format!("{origin}{path}");
        let v = verdict(&url).await;
        assert_eq!(v["valid"], false, "{what}: {v}");
        assert_eq!(v["code"], "InvalidLink", "{what}: {v}");
        assert_eq!(v["linkError"], *problem, "{what}: {v}");
        assert!(
            v.get("kind").is_none() && v.get("sellerNip").is_none(),
            "{what}: {v}"
        );
        let page = html(&url).await;
        assert_invalid_page(what, page.status.as_u16(), &page.body, "alert");
    }

    // Sent byte for byte (an HTTP client would normalise these): traversal, encoded dots and
    // NULs, a raw quote.
    for (what, path) in [
        ("traversal", "/invoice/../v2/auth/sessions".to_string()),
        (
            "deep traversal",
            format!("/invoice/{nip}/../../../../etc/passwd"),
        ),
        (
            "encoded traversal",
            "/invoice/%2e%2e/%2e%2e/etc/passwd".to_string(),
        ),
        (
            "encoded NUL",
            format!("/certificate/Nip/{nip}%00/{nip}/0123456789ABCDEF/{hash}/AAAA"),
        ),
        (
            "quote",
            format!("/invoice/{nip}/01-09-2025/\"onmouseover=alert(1)"),
        ),
    ] {
        let (status, text) = raw_get(&env, &path).await;
        assert_invalid_page(what, status, &text, "passwd");
        assert!(!text.contains("onmouseover"), "{what}: echoed");
    }

    // Other methods are not served (405), never a 5xx.
    let r = ksef_testkit::http_client()
        .post(format!("{origin}{good_cert}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}
