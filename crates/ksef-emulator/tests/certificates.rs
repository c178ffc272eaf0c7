//! KSeF certificates over real HTTP against an in-process emulator (digest §14): enrollment
//! data → CSR → enrollment → status → retrieve → XAdES login with the issued certificate →
//! query → revoke → refused login; CSR errors; limits; strict trust.

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{person_cert, start};
use ksef_core::{ContextIdentifier, Nip};
use ksef_crypto::testcert::{TestSubject, oid};
use ksef_crypto::{Credential, KeyAlgorithm, PrivateKey};
use ksef_emulator::TrustPolicy;
use ksef_testkit::{RawClient, sign_request};
use ksef_xades::auth_request::SubjectIdentifierType;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// DN attributes of `GET /certificates/enrollments/data`, in the order the official client
/// builders use.
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

/// A PKCS#10 CSR (DER) with these subject attributes, signed by `key`.
fn csr(key: &PrivateKey, attributes: &[(String, String)]) -> Vec<u8> {
    ksef_crypto::csr::csr_for_key(key, attributes).unwrap()
}

fn ec_key() -> PrivateKey {
    PrivateKey::generate(KeyAlgorithm::EcP256).unwrap()
}

fn private_key(key: &PrivateKey) -> PrivateKey {
    key.clone()
}

/// A CSR (DER) made by the `openssl` CLI with a new key of `newkey` (`openssl req -newkey`
/// arguments) and these subject attributes (in `-subj` order, UTF8String as OpenSSL writes
/// them, countryName PrintableString).
fn openssl_csr(newkey: &[&str], attributes: &[(String, String)]) -> Vec<u8> {
    let name = |o: &str| match o {
        oid::GIVEN_NAME => "GN",
        oid::SURNAME => "SN",
        oid::SERIAL_NUMBER => "serialNumber",
        oid::COMMON_NAME => "CN",
        oid::COUNTRY_NAME => "C",
        oid::ORGANIZATION_NAME => "O",
        oid::ORGANIZATION_IDENTIFIER => "organizationIdentifier",
        "2.5.4.45" => "x500UniqueIdentifier",
        other => panic!("no OpenSSL name for {other}"),
    };
    let subj: String = attributes
        .iter()
        .map(|(o, v)| format!("/{}={}", name(o), v.replace('/', "\\/")))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["req", "-new", "-nodes", "-utf8", "-keyout", "k.pem"];
    args.extend(newkey);
    args.extend(["-subj", &subj, "-outform", "DER", "-out", "r.der"]);
    openssl(dir.path(), &args);
    std::fs::read(dir.path().join("r.der")).unwrap()
}

/// Runs `openssl <args>` in `dir`; panics with its stderr if it fails. Returns stdout.
fn openssl(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the `openssl` CLI is required for these tests (Debian package `openssl`)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An issued certificate read with `x509-cert`, answering what the assertions ask.
struct Issued(x509_cert::Certificate);

/// An extension's decoded value.
struct Ext<T> {
    value: T,
}

impl Issued {
    fn key_usage(&self) -> Result<Option<Ext<x509_cert::ext::pkix::KeyUsage>>, String> {
        self.0
            .tbs_certificate()
            .get_extension::<x509_cert::ext::pkix::KeyUsage>()
            .map(|found| found.map(|(_critical, value)| Ext { value }))
            .map_err(|e| e.to_string())
    }

    fn is_ca(&self) -> bool {
        self.0
            .tbs_certificate()
            .get_extension::<x509_cert::ext::pkix::BasicConstraints>()
            .ok()
            .flatten()
            .is_some_and(|(_, bc)| bc.ca)
    }
}

fn issued(der: &[u8]) -> Issued {
    use x509_cert::der::Decode;
    Issued(x509_cert::Certificate::from_der(der).unwrap())
}

async fn enrollment_data(c: &RawClient, access: &str) -> Value {
    let a = c.get("/certificates/enrollments/data", access).await;
    assert_eq!(a.status, StatusCode::OK, "enrollment data: {:?}", a.body);
    a.body
}

async fn post_enrollment(c: &RawClient, access: &str, name: &str, kind: &str, der: &[u8]) -> Value {
    let a = c
        .post(
            "/certificates/enrollments",
            Some(access),
            json!({"certificateName": name, "certificateType": kind, "csr": STANDARD.encode(der)}),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "enroll: {:?}", a.body);
    a.body
}

/// Polls the enrollment until its status is not 100; returns the final body.
async fn wait_enrollment(c: &RawClient, access: &str, reference: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let a = c
            .get(&format!("/certificates/enrollments/{reference}"), access)
            .await;
        assert_eq!(a.status, StatusCode::OK, "enrollment status: {:?}", a.body);
        if a.body["status"]["code"] != 100 {
            return a.body;
        }
        assert!(Instant::now() < deadline, "enrollment still 100 after 20 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Enrolls a fresh EC key with the caller's enrollment data; returns (serial, credential).
async fn enroll_ec(c: &RawClient, access: &str, name: &str, kind: &str) -> (String, Credential) {
    let data = enrollment_data(c, access).await;
    let key = ec_key();
    let body = post_enrollment(c, access, name, kind, &csr(&key, &attributes_of(&data))).await;
    let reference = body["referenceNumber"].as_str().unwrap().to_string();
    let status = wait_enrollment(c, access, &reference).await;
    assert_eq!(status["status"]["code"], 200, "{status}");
    let serial = status["certificateSerialNumber"]
        .as_str()
        .unwrap()
        .to_string();
    let der = retrieve(c, access, &serial).await;
    (
        serial,
        Credential::new(private_key(&key), der, vec![]).unwrap(),
    )
}

async fn retrieve(c: &RawClient, access: &str, serial: &str) -> Vec<u8> {
    let a = c
        .post(
            "/certificates/retrieve",
            Some(access),
            json!({"certificateSerialNumbers": [serial]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "retrieve: {:?}", a.body);
    let list = a.body["certificates"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{:?}", a.body);
    assert_eq!(list[0]["certificateSerialNumber"], serial);
    STANDARD
        .decode(list[0]["certificate"].as_str().unwrap())
        .unwrap()
}

async fn query(c: &RawClient, access: &str, filter: Value) -> Value {
    let a = c.post("/certificates/query", Some(access), filter).await;
    assert_eq!(a.status, StatusCode::OK, "query: {:?}", a.body);
    a.body
}

#[tokio::test]
async fn enroll_retrieve_authenticate_query_revoke() {
    let (emu, c, _dir) = start(|_| {}).await;
    let nip = Nip::random();
    let ctx = ContextIdentifier::Nip(nip.clone());
    let access = c
        .login_with_certificate(&person_cert(&nip), &ctx)
        .await
        .unwrap()
        .access_token;

    let limits = c.get("/certificates/limits", &access).await;
    assert_eq!(limits.status, StatusCode::OK);
    assert_eq!(
        limits.body,
        json!({"canRequest": true, "enrollment": {"remaining": 12, "limit": 12},
               "certificate": {"remaining": 6, "limit": 6}})
    );

    let data = enrollment_data(&c, &access).await;
    assert_eq!(data["givenName"], "Jan");
    assert_eq!(data["surname"], "Kowalski");
    assert_eq!(data["serialNumber"], format!("TINPL-{nip}"));
    assert_eq!(data["countryName"], "PL");
    assert!(data["commonName"].is_string());
    assert!(data.get("organizationIdentifier").is_none());

    let key = ec_key();
    let t0 = Instant::now();
    let body = post_enrollment(
        &c,
        &access,
        "Mój certyfikat_uwierzytelniający-1",
        "Authentication",
        &csr(&key, &attributes_of(&data)),
    )
    .await;
    let reference = body["referenceNumber"].as_str().unwrap().to_string();
    assert!(body["timestamp"].is_string());
    let first = c
        .get(&format!("/certificates/enrollments/{reference}"), &access)
        .await;
    if t0.elapsed() < Duration::from_millis(250) {
        assert_eq!(first.body["status"]["code"], 100, "{:?}", first.body);
        assert_eq!(
            first.body["status"]["description"],
            "Wniosek przyjęty do realizacji"
        );
        assert!(first.body.get("certificateSerialNumber").is_none());
    }
    let status = wait_enrollment(&c, &access, &reference).await;
    assert_eq!(status["status"]["code"], 200, "{status}");
    let serial = status["certificateSerialNumber"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(ksef_wire::is_certificate_serial_number(&serial), "{serial}");

    // The certificate chains to the emulator's CA and carries the subject.
    let der = retrieve(&c, &access, &serial).await;
    let ca = ksef_emulator::testing::ca_certificate_der(&emu.state)
        .await
        .unwrap();
    ksef_crypto::identity::verify_issued_by(&der, &ca).expect("issued by the emulator CA");
    let info = ksef_crypto::identity::inspect_certificate(&der).unwrap();
    assert_eq!(info.nip.as_ref(), Some(&nip));
    assert_eq!(info.given_name.as_deref(), Some("Jan"));
    assert_eq!(info.serial_number_hex, serial);
    assert_eq!(info.not_after - info.not_before, time::Duration::days(730));
    {
        let cert = issued(&der);
        let ku = cert.key_usage().unwrap().expect("keyUsage").value;
        assert!(ku.digital_signature() && !ku.non_repudiation());
        assert!(!cert.is_ca());
    }

    // XAdES login with the enrolled key and the issued certificate.
    let ksef_cert = Credential::new(private_key(&key), der, vec![]).unwrap();
    let signed = c
        .signed_request(&ksef_cert, &ctx, SubjectIdentifierType::CertificateSubject)
        .await;
    let init = c.post_xades(signed.as_bytes()).await;
    assert_eq!(init.status, StatusCode::ACCEPTED, "{:?}", init.body);
    let auth = c
        .wait_auth(
            init.body["referenceNumber"].as_str().unwrap(),
            init.body["authenticationToken"]["token"].as_str().unwrap(),
        )
        .await;
    assert_eq!(auth["status"]["code"], 200, "{auth}");
    assert_eq!(auth["authenticationMethod"], "InternalCertificate");
    let second = c.finish_login(&init).await.expect("login with KSeF cert");
    // The new session identifies the same subject: it can read the subject's limits.
    let again = c.get("/certificates/limits", &second.access_token).await;
    assert_eq!(
        again.body["certificate"]["remaining"], 5,
        "{:?}",
        again.body
    );

    // Query: listed, Active, last use recorded; filters.
    let q = query(&c, &access, json!({})).await;
    assert_eq!(q["hasMore"], false);
    let items = q["certificates"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{q}");
    assert_eq!(items[0]["certificateSerialNumber"], serial);
    assert_eq!(items[0]["status"], "Active");
    assert_eq!(items[0]["type"], "Authentication");
    assert_eq!(items[0]["name"], "Mój certyfikat_uwierzytelniający-1");
    assert_eq!(
        items[0]["subjectIdentifier"],
        json!({"type": "Nip", "value": nip.to_string()})
    );
    assert!(items[0]["lastUseDate"].is_string(), "{q}");
    assert_eq!(
        query(&c, &access, json!({"name": "uwierzytelniający"})).await["certificates"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    for filter in [
        json!({"type": "Offline"}),
        json!({"status": "Revoked"}),
        json!({"certificateSerialNumber": "0123456789ABCDEF"}),
        json!({"expiresAfter": "2099-01-01T00:00:00Z"}),
    ] {
        let q = query(&c, &access, filter.clone()).await;
        assert_eq!(q["certificates"], json!([]), "{filter}: {q}");
    }
    let bad = c
        .post("/certificates/query?pageSize=5", Some(&access), json!({}))
        .await;
    assert_eq!(bad.exception_code(), Some(21405), "{:?}", bad.body);

    // Another subject can neither see nor revoke it.
    let other_nip = Nip::random();
    let other = c
        .login_with_certificate(&person_cert(&other_nip), &ContextIdentifier::Nip(other_nip))
        .await
        .unwrap()
        .access_token;
    let r = c
        .post(
            &format!("/certificates/{serial}/revoke"),
            Some(&other),
            json!({}),
        )
        .await;
    assert_eq!(r.exception_code(), Some(25008), "{:?}", r.body);
    let r = c
        .get(&format!("/certificates/enrollments/{reference}"), &other)
        .await;
    assert_eq!(r.exception_code(), Some(25005), "{:?}", r.body);
    assert_eq!(
        query(&c, &other, json!({})).await["certificates"],
        json!([])
    );

    // Revoke (no body) → 204; again → 25009; listed as Revoked; login refused with 460.
    let r = c
        .call(
            Method::POST,
            &format!("/certificates/{serial}/revoke"),
            Some(&access),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let r = c
        .post(
            &format!("/certificates/{serial}/revoke"),
            Some(&access),
            json!({"revocationReason": "KeyCompromise"}),
        )
        .await;
    assert_eq!(r.exception_code(), Some(25009), "{:?}", r.body);
    let q = query(&c, &access, json!({"status": "Revoked"})).await;
    assert_eq!(q["certificates"][0]["certificateSerialNumber"], serial);
    let refused = c
        .login_with_certificate(&ksef_cert, &ctx)
        .await
        .expect_err("revoked certificate must not authenticate");
    assert_eq!(refused["status"]["code"], 460, "{refused}");
    assert_eq!(refused["status"]["details"], json!(["Certyfikat odwołany"]));
}

#[tokio::test]
async fn bad_csrs_and_token_sessions_have_documented_codes() {
    let (_emu, c, _dir) = start(|_| {}).await;
    let nip = Nip::random();
    let ctx = ContextIdentifier::Nip(nip.clone());
    let access = c
        .login_with_certificate(&person_cert(&nip), &ctx)
        .await
        .unwrap()
        .access_token;
    let data = enrollment_data(&c, &access).await;
    let attrs = attributes_of(&data);
    let enroll = |name: &'static str, csr: Vec<u8>| {
        let c = c.clone();
        let access = access.clone();
        async move {
            c.post(
                "/certificates/enrollments",
                Some(&access),
                json!({"certificateName": name, "certificateType": "Authentication",
                       "csr": STANDARD.encode(csr)}),
            )
            .await
        }
    };

    // Subject differs (another surname; a missing attribute; an extra attribute) → 25003.
    let mut wrong = attrs.clone();
    for a in wrong.iter_mut().filter(|a| a.0 == oid::SURNAME) {
        a.1 = "Nowak".into();
    }
    let r = enroll("Zly podmiot", csr(&ec_key(), &wrong)).await;
    assert_eq!(r.exception_code(), Some(25003), "{:?}", r.body);
    let r = enroll("Brak atrybutu", csr(&ec_key(), &attrs[1..])).await;
    assert_eq!(r.exception_code(), Some(25003), "{:?}", r.body);
    let mut extra = attrs.clone();
    extra.push((oid::ORGANIZATION_NAME.into(), "Firma".into()));
    let r = enroll("Dodatkowy atrybut", csr(&ec_key(), &extra)).await;
    assert_eq!(r.exception_code(), Some(25003), "{:?}", r.body);

    // Key type: EC P-384 → 25010.
    let p384 = openssl_csr(
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
        &attrs,
    );
    let r = enroll("Klucz P384", p384).await;
    assert_eq!(r.exception_code(), Some(25010), "{:?}", r.body);

    // Signature: last byte of the signature changed → 25004; not DER → 25004.
    let mut tampered = csr(&ec_key(), &attrs);
    let n = tampered.len();
    tampered[n - 1] ^= 0x01;
    let r = enroll("Zly podpis", tampered).await;
    assert_eq!(r.exception_code(), Some(25004), "{:?}", r.body);
    let r = enroll("Smieci w CSR", b"not a CSR".to_vec()).await;
    assert_eq!(r.exception_code(), Some(25004), "{:?}", r.body);

    // Signature algorithm outside the allowed set (ecdsa-with-SHA256 → 1.2.840.10045.4.3.5).
    let mut other_alg = csr(&ec_key(), &attrs);
    let oid_bytes = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
    let at = other_alg
        .windows(oid_bytes.len())
        .position(|w| w == oid_bytes)
        .expect("ecdsa-with-SHA256 OID in the CSR");
    other_alg[at + oid_bytes.len() - 1] = 0x05;
    let r = enroll("Inny algorytm", other_alg).await;
    assert_eq!(r.exception_code(), Some(25011), "{:?}", r.body);

    // RSA 2048 is accepted.
    let rsa = PrivateKey::generate(KeyAlgorithm::Rsa2048).unwrap();
    let r = enroll("Klucz RSA 2048", csr(&rsa, &attrs)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);

    // Input validation → 21405.
    let r = c
        .post(
            "/certificates/enrollments",
            Some(&access),
            json!({"certificateName": "abc", "certificateType": "Authentication",
                   "csr": STANDARD.encode(csr(&ec_key(), &attrs))}),
        )
        .await;
    assert_eq!(r.exception_code(), Some(21405), "{:?}", r.body);
    let r = c
        .post(
            "/certificates/enrollments",
            Some(&access),
            json!({"certificateName": "Dobra nazwa", "certificateType": "Signing",
                   "csr": STANDARD.encode(csr(&ec_key(), &attrs))}),
        )
        .await;
    assert_eq!(r.exception_code(), Some(21405), "{:?}", r.body);
    let r = c
        .get(
            "/certificates/enrollments/20251010-EH-1B6C9EB000-4B15D3AEB9-89",
            &access,
        )
        .await;
    assert_eq!(r.exception_code(), Some(25005), "{:?}", r.body);
    let r = c
        .post(
            "/certificates/0123456789ABCDEF/revoke",
            Some(&access),
            json!({}),
        )
        .await;
    assert_eq!(r.exception_code(), Some(25008), "{:?}", r.body);
    let r = c
        .post(
            "/certificates/retrieve",
            Some(&access),
            json!({"certificateSerialNumbers": []}),
        )
        .await;
    assert_eq!(r.exception_code(), Some(21405), "{:?}", r.body);

    // No token → 401.
    let r = c
        .call(Method::GET, "/certificates/limits", None, None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // KSeF-token sessions: enrollment data 25001, enrollment 25002, canRequest false.
    let (_, token) = c
        .generate_active_token(&access, &["InvoiceRead"], "Token do certyfikatow")
        .await;
    let by_token = c.login_with_token(&token, &ctx).await.unwrap().access_token;
    let r = c.get("/certificates/enrollments/data", &by_token).await;
    assert_eq!(r.exception_code(), Some(25001), "{:?}", r.body);
    let r = c
        .post(
            "/certificates/enrollments",
            Some(&by_token),
            json!({"certificateName": "Przez token", "certificateType": "Authentication",
                   "csr": STANDARD.encode(csr(&ec_key(), &attrs))}),
        )
        .await;
    assert_eq!(r.exception_code(), Some(25002), "{:?}", r.body);
    let r = c.get("/certificates/limits", &by_token).await;
    assert_eq!(r.body["canRequest"], false, "{:?}", r.body);
}

#[tokio::test]
async fn limits_follow_the_subject_overrides() {
    let (_emu, c, _dir) = start(|_| {}).await;
    let nip = Nip::random();
    let ctx = ContextIdentifier::Nip(nip.clone());
    let access = c
        .login_with_certificate(&person_cert(&nip), &ctx)
        .await
        .unwrap()
        .access_token;
    let set = c
        .post(
            "/testdata/limits/subject/certificate",
            Some(&access),
            json!({"subjectIdentifierType": "Nip", "enrollment": {"maxEnrollments": 3},
                   "certificate": {"maxCertificates": 1}}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{:?}", set.body);
    let l = c.get("/certificates/limits", &access).await;
    assert_eq!(
        l.body,
        json!({"canRequest": true, "enrollment": {"remaining": 3, "limit": 3},
               "certificate": {"remaining": 1, "limit": 1}})
    );

    // One active certificate allowed: the second enrollment → 25007 until the first is revoked.
    let (serial, _) = enroll_ec(&c, &access, "Pierwszy", "Offline").await;
    let l = c.get("/certificates/limits", &access).await;
    assert_eq!(l.body["canRequest"], false, "{:?}", l.body);
    assert_eq!(l.body["certificate"]["remaining"], 0);
    assert_eq!(l.body["enrollment"]["remaining"], 2);
    let data = enrollment_data(&c, &access).await;
    let r = c
        .post(
            "/certificates/enrollments",
            Some(&access),
            json!({"certificateName": "Drugi", "certificateType": "Offline",
                   "csr": STANDARD.encode(csr(&ec_key(), &attributes_of(&data)))}),
        )
        .await;
    assert_eq!(r.exception_code(), Some(25007), "{:?}", r.body);
    let r = c
        .post(
            &format!("/certificates/{serial}/revoke"),
            Some(&access),
            json!({"revocationReason": "Superseded"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let (_, offline) = enroll_ec(&c, &access, "Drugi", "Offline").await;
    {
        let cert = issued(&offline.certificate_der);
        let ku = cert.key_usage().unwrap().expect("keyUsage").value;
        assert!(ku.non_repudiation() && !ku.digital_signature());
    }
    // An Offline certificate does not authenticate.
    let refused = c
        .login_with_certificate(&offline, &ctx)
        .await
        .expect_err("Offline certificate must not authenticate");
    assert_eq!(refused["status"]["code"], 460, "{refused}");

    // Still one active certificate → 25007 (a refused enrollment does not count).
    let r = c
        .post(
            "/certificates/enrollments",
            Some(&access),
            json!({"certificateName": "Czwarty", "certificateType": "Offline",
                   "csr": STANDARD.encode(csr(&ec_key(), &attributes_of(&data)))}),
        )
        .await;
    assert_eq!(r.exception_code(), Some(25007), "{:?}", r.body);
    let serial2 = offline.info().unwrap().serial_number_hex;
    let r = c
        .post(
            &format!("/certificates/{serial2}/revoke"),
            Some(&access),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let (_, _third) = enroll_ec(&c, &access, "Trzeci", "Authentication").await;
    // Three enrollments allowed in all (checked before the certificate limit): the fourth → 25006.
    let r = c
        .post(
            "/certificates/enrollments",
            Some(&access),
            json!({"certificateName": "Czwarty", "certificateType": "Offline",
                   "csr": STANDARD.encode(csr(&ec_key(), &attributes_of(&data)))}),
        )
        .await;
    assert_eq!(r.exception_code(), Some(25006), "{:?}", r.body);

    // Paging: pageSize 10, three certificates on page 0, none on page 1.
    let q = query(&c, &access, json!({})).await;
    assert_eq!(q["certificates"].as_array().unwrap().len(), 3, "{q}");
    assert_eq!(q["hasMore"], false);
    assert_eq!(
        q["certificates"][0]["name"], "Trzeci",
        "newest request first: {q}"
    );
    let a = c
        .post(
            "/certificates/query?pageSize=10&pageOffset=1",
            Some(&access),
            json!({}),
        )
        .await;
    assert_eq!(a.body["certificates"], json!([]), "{:?}", a.body);
}

#[tokio::test]
async fn strict_trust_accepts_emulator_issued_certificates_and_the_ca_persists() {
    // Only certificates of this test CA are trusted, besides the emulator's own.
    let test_ca = ksef_crypto::ca::make_ca("Test CA", KeyAlgorithm::EcP256).unwrap();
    let nip = Nip::random();
    let person = ksef_crypto::ca::issue_certificate(
        &test_ca,
        &TestSubject::person_nip(nip.clone(), "Anna", "Nowak"),
        KeyAlgorithm::EcP256,
        ksef_crypto::ca::Validity::from_now(time::Duration::days(30)).unwrap(),
    )
    .unwrap();
    let trusted = vec![test_ca.certificate_der.clone()];
    let dir = tempfile::tempdir().unwrap();
    let config = |dir: &std::path::Path| {
        let mut config = ksef_emulator::EmulatorConfig::new(dir);
        config.auth_processing_delay = Duration::from_millis(50);
        config.trust_policy = TrustPolicy::TrustedCas(trusted.clone());
        config
    };
    let emu = ksef_emulator::spawn(
        config(dir.path()),
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .unwrap();
    let c = RawClient::new(&emu.base_url());
    let ctx = ContextIdentifier::Nip(nip.clone());

    // A self-signed certificate is refused in this mode.
    let refused = c
        .login_with_certificate(&person_cert(&nip), &ctx)
        .await
        .expect_err("self-signed must fail under TrustedCas");
    assert_eq!(refused["status"]["code"], 460);

    let access = c
        .login_with_certificate(&person, &ctx)
        .await
        .unwrap()
        .access_token;
    let (_, ksef_cert) = enroll_ec(&c, &access, "Certyfikat KSeF", "Authentication").await;
    // Accepted also with verifyCertificateChain=true.
    let (challenge, _) = c.challenge().await;
    let signed = sign_request(
        &challenge,
        &ksef_cert,
        &ctx,
        SubjectIdentifierType::CertificateSubject,
    );
    let init = c
        .send_raw(
            Method::POST,
            "/auth/xades-signature?verifyCertificateChain=true",
            "application/xml",
            signed.into_bytes(),
        )
        .await;
    c.finish_login(&init)
        .await
        .expect("KSeF certificate trusted in strict mode");

    // The CA survives a restart on the same data directory.
    let ca_before = ksef_emulator::testing::ca_certificate_der(&emu.state)
        .await
        .unwrap();
    emu.shutdown().await;
    let emu = ksef_emulator::spawn(
        config(dir.path()),
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await
    .unwrap();
    let ca_after = ksef_emulator::testing::ca_certificate_der(&emu.state)
        .await
        .unwrap();
    assert_eq!(ca_before, ca_after);
    let c = RawClient::new(&emu.base_url());
    c.login_with_certificate(&ksef_cert, &ctx)
        .await
        .expect("still trusted after restart");
}

/// Independent oracle both ways: CSRs made by OpenSSL (RSA-2048 and EC P-256, in the official
/// attribute order and reversed) are accepted, and what the emulator issues for them passes
/// `openssl verify` against the emulator's CA with the documented extensions.
#[tokio::test]
async fn openssl_made_csrs_are_accepted_and_openssl_accepts_what_is_issued() {
    let (emu, c, _dir) = start(|_| {}).await;
    let nip = Nip::random();
    let ctx = ContextIdentifier::Nip(nip.clone());
    let access = c
        .login_with_certificate(&person_cert(&nip), &ctx)
        .await
        .unwrap()
        .access_token;
    let data = enrollment_data(&c, &access).await;
    let attrs = attributes_of(&data);
    let mut reversed = attrs.clone();
    reversed.reverse();
    let ca = ksef_emulator::testing::ca_certificate_der(&emu.state)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.der"), &ca).unwrap();
    openssl(
        dir.path(),
        &["x509", "-inform", "DER", "-in", "ca.der", "-out", "ca.pem"],
    );

    /// (name, `openssl req -newkey` arguments, subject, certificate type)
    type Case<'a> = (&'a str, &'a [&'a str], &'a [(String, String)], &'a str);
    let cases: [Case; 2] = [
        ("RSA", &["-newkey", "rsa:2048"], &attrs, "Authentication"),
        (
            "EC",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            &reversed,
            "Offline",
        ),
    ];
    for (name, newkey, subject, kind) in cases {
        let der = openssl_csr(newkey, subject);
        let body = post_enrollment(&c, &access, &format!("OpenSSL {name}"), kind, &der).await;
        let reference = body["referenceNumber"].as_str().unwrap();
        let status = wait_enrollment(&c, &access, reference).await;
        assert_eq!(status["status"]["code"], 200, "{name}: {status}");
        let serial = status["certificateSerialNumber"].as_str().unwrap();
        let cert = retrieve(&c, &access, serial).await;
        std::fs::write(dir.path().join("leaf.der"), &cert).unwrap();
        openssl(
            dir.path(),
            &[
                "x509", "-inform", "DER", "-in", "leaf.der", "-out", "leaf.pem",
            ],
        );
        let ok = openssl(dir.path(), &["verify", "-CAfile", "ca.pem", "leaf.pem"]);
        assert!(ok.contains("leaf.pem: OK"), "{name}: {ok}");
        let t = openssl(dir.path(), &["x509", "-in", "leaf.pem", "-noout", "-text"]);
        assert!(t.contains("Signature Algorithm: ecdsa-with-SHA256"), "{t}");
        assert!(t.contains("X509v3 Key Usage: critical"), "{t}");
        let usage = if kind == "Authentication" {
            "Digital Signature"
        } else {
            "Non Repudiation"
        };
        assert!(t.contains(usage), "{t}");
        assert!(t.contains("CA:FALSE"), "{t}");
        assert!(t.contains("X509v3 Authority Key Identifier"), "{t}");
        assert!(t.contains("X509v3 Subject Key Identifier"), "{t}");
        // The subject is the CSR's, in the CSR's order; the key is the CSR's.
        let info = ksef_crypto::identity::inspect_certificate(&cert).unwrap();
        assert_eq!(&info.subject_attributes[..], subject, "{name}");
        assert_eq!(info.serial_number_hex, serial);
        let csr = ksef_crypto::csr::parse_csr(&der).unwrap();
        assert_eq!(
            ksef_crypto::certificate_spki_der(&cert).unwrap(),
            csr.spki_der
        );
    }
}

/// `check_csr` on hostile input: every truncation, trailing data, flipped bits, a forged
/// signature, non-text subject values, unsupported algorithms — each a documented code, never
/// a panic and never an accepted request.
#[test]
fn check_csr_gives_documented_codes_for_hostile_csrs() {
    use ksef_emulator::testing::check_csr;
    use x509_cert::der::{Decode, Encode};

    let attrs = vec![
        (oid::GIVEN_NAME.to_string(), "Jan".to_string()),
        (oid::SURNAME.to_string(), "Kowalski".to_string()),
        (
            oid::SERIAL_NUMBER.to_string(),
            "TINPL-5260250274".to_string(),
        ),
        (oid::COMMON_NAME.to_string(), "Jan Kowalski".to_string()),
        (oid::COUNTRY_NAME.to_string(), "PL".to_string()),
    ];
    let mut expected = attrs.clone();
    expected.sort();
    let codes = |der: &[u8]| -> Vec<u32> {
        match check_csr(der, &expected) {
            Ok(_) => Vec::new(),
            Err(e) => e.codes(),
        }
    };

    let key = ec_key();
    let good = csr(&key, &attrs);
    let checked = check_csr(&good, &expected).unwrap();
    assert_eq!(checked.attributes, attrs);
    assert!(key.matches_spki(&checked.spki_der).unwrap());

    for n in 0..good.len() {
        assert_eq!(codes(&good[..n]), [25004], "prefix of {n} bytes");
    }
    let mut longer = good.clone();
    longer.extend_from_slice(b"\0");
    assert_eq!(codes(&longer), [25004]);
    for i in 0..good.len() {
        for bit in [0x01u8, 0x10, 0x80] {
            let mut bad = good.clone();
            bad[i] ^= bit;
            let c = codes(&bad);
            assert!(
                matches!(c.as_slice(), [25003 | 25004 | 25010 | 25011]),
                "byte {i} ^ {bit:#x}: {c:?}"
            );
        }
    }

    // Another surname under the original signature; a signature of another request.
    let pos = good.windows(8).position(|w| w == b"Kowalski").unwrap();
    let mut renamed = good.clone();
    renamed[pos] = b'N';
    assert_eq!(codes(&renamed), [25004]);
    let other = csr(&key, &attrs);
    let mut forged = x509_cert::request::CertReq::from_der(&good).unwrap();
    forged.signature = x509_cert::request::CertReq::from_der(&other)
        .unwrap()
        .signature;
    let forged = forged.to_der().unwrap();
    if forged != good {
        // (ECDSA signatures differ per request; equal bytes would be the same request.)
        assert_eq!(codes(&forged), [25004]);
    }

    // A non-text subject value (OpenSSL's T61String) → 25004.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("req.cnf"),
        "[req]\ndistinguished_name=dn\nstring_mask=nombstr\n[dn]\n",
    )
    .unwrap();
    openssl(
        dir.path(),
        &[
            "req",
            "-new",
            "-nodes",
            "-config",
            "req.cnf",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-keyout",
            "k.pem",
            "-subj",
            "/CN=Zażółć/C=PL",
            "-outform",
            "DER",
            "-out",
            "t61.der",
        ],
    );
    assert_eq!(
        codes(&std::fs::read(dir.path().join("t61.der")).unwrap()),
        [25004]
    );

    // Keys: RSA-3072 and EC P-384 → 25010 (before anything else).
    assert_eq!(
        codes(&openssl_csr(&["-newkey", "rsa:3072"], &attrs)),
        [25010]
    );
    let p384 = openssl_csr(
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
        &attrs,
    );
    assert_eq!(codes(&p384), [25010]);

    // Algorithms: allowed but not verified (ecdsa-with-SHA512) → 25011; ECDSA claimed for an
    // RSA key → 25011; an RSA algorithm claimed for an EC key → 25004.
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
    let mut sha512: Vec<&str> = ec.to_vec();
    sha512.push("-sha512");
    assert_eq!(codes(&openssl_csr(&sha512, &attrs)), [25011]);
    let ec_csr = openssl_csr(&ec, &attrs);
    let rsa_csr = openssl_csr(&["-newkey", "rsa:2048"], &attrs);
    let with_algorithm_of = |der: &[u8], from: &[u8]| {
        let mut req = x509_cert::request::CertReq::from_der(der).unwrap();
        req.algorithm = x509_cert::request::CertReq::from_der(from)
            .unwrap()
            .algorithm;
        req.to_der().unwrap()
    };
    assert_eq!(codes(&with_algorithm_of(&rsa_csr, &ec_csr)), [25011]);
    assert_eq!(codes(&with_algorithm_of(&ec_csr, &rsa_csr)), [25004]);

    // What OpenSSL makes is accepted: RSA PKCS#1 v1.5 SHA-256 and SHA-1, RSA-PSS with
    // OpenSSL's default (maximal) salt, ECDSA P-256 SHA-256 and SHA-384.
    for extra in [&[][..], &["-sha1"], &["-sigopt", "rsa_padding_mode:pss"]] {
        let mut args = vec!["-newkey", "rsa:2048"];
        args.extend(extra);
        assert_eq!(codes(&openssl_csr(&args, &attrs)), [0u32; 0], "{extra:?}");
    }
    let mut sha384: Vec<&str> = ec.to_vec();
    sha384.push("-sha384");
    assert_eq!(codes(&ec_csr), [0u32; 0]);
    assert_eq!(codes(&openssl_csr(&sha384, &attrs)), [0u32; 0]);
}

#[tokio::test]
async fn query_pages_through_three_pages_in_sql_and_after_the_name_filter() {
    let (_emu, c, _dir) = start(|_| {}).await;
    let nip = Nip::random();
    let ctx = ContextIdentifier::Nip(nip.clone());
    let access = c
        .login_with_certificate(&person_cert(&nip), &ctx)
        .await
        .unwrap()
        .access_token;
    let set = c
        .post(
            "/testdata/limits/subject/certificate",
            Some(&access),
            json!({"subjectIdentifierType": "Nip", "enrollment": {"maxEnrollments": 30},
                   "certificate": {"maxCertificates": 30}}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{:?}", set.body);
    // 25 certificates: 13 named "Łódź n" (a non-ASCII name), 12 "Kraków n".
    let data = enrollment_data(&c, &access).await;
    let mut references = Vec::new();
    for n in 0..25 {
        let name = if n % 2 == 0 {
            format!("Łódź {n}")
        } else {
            format!("Kraków {n}")
        };
        let der = csr(&ec_key(), &attributes_of(&data));
        let body = post_enrollment(&c, &access, &name, "Authentication", &der).await;
        references.push(body["referenceNumber"].as_str().unwrap().to_string());
    }
    for r in &references {
        assert_eq!(wait_enrollment(&c, &access, r).await["status"]["code"], 200);
    }
    let page = |params: &'static str, filter: Value| {
        let c = &c;
        let access = &access;
        async move {
            let a = c
                .post(
                    &format!("/certificates/query{params}"),
                    Some(access),
                    filter,
                )
                .await;
            assert_eq!(a.status, StatusCode::OK, "{params}: {:?}", a.body);
            let list = a.body["certificates"].as_array().unwrap().clone();
            (list, a.body["hasMore"].as_bool().unwrap())
        }
    };
    // No filter: paged in SQL.
    let mut whole = Vec::new();
    for (params, len, more) in [
        ("?pageSize=10&pageOffset=0", 10, true),
        ("?pageSize=10&pageOffset=1", 10, true),
        ("?pageSize=10&pageOffset=2", 5, false),
        ("?pageSize=10&pageOffset=3", 0, false),
    ] {
        let (list, has_more) = page(params, json!({})).await;
        assert_eq!((list.len(), has_more), (len, more), "{params}");
        whole.extend(list);
    }
    let serials: std::collections::HashSet<&str> = whole
        .iter()
        .map(|i| i["certificateSerialNumber"].as_str().unwrap())
        .collect();
    assert_eq!(serials.len(), 25, "no certificate twice");
    // Newest request first (same format and offset: text order is time order).
    let dates: Vec<&str> = whole
        .iter()
        .map(|i| i["requestDate"].as_str().unwrap())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "{dates:?}");
    let (all, more) = page("?pageSize=50", json!({})).await;
    assert_eq!((all, more), (whole.clone(), false));
    // A status filter (SQL) keeps the pages: 25 active.
    let (list, more) = page("?pageSize=10&pageOffset=2", json!({"status": "Active"})).await;
    assert_eq!((list.len(), more), (5, false));
    let (list, _) = page("?pageSize=10", json!({"status": "Revoked"})).await;
    assert!(list.is_empty());
    // The name filter (Unicode case-insensitive, applied before paging): 13 of 25.
    let (p0, more0) = page("?pageSize=10&pageOffset=0", json!({"name": "łÓdŹ"})).await;
    let (p1, more1) = page("?pageSize=10&pageOffset=1", json!({"name": "łÓdŹ"})).await;
    assert_eq!((p0.len(), more0, p1.len(), more1), (10, true, 3, false));
    let named: Vec<Value> = p0.into_iter().chain(p1).collect();
    assert!(
        named
            .iter()
            .all(|i| i["name"].as_str().unwrap().starts_with("Łódź")),
        "{named:?}"
    );
    let expected: Vec<Value> = whole
        .into_iter()
        .filter(|i| i["name"].as_str().unwrap().starts_with("Łódź"))
        .collect();
    assert_eq!(named, expected);
}
