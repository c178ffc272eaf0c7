//! The simulated Profil Zaufany signing service (`/symulator-podpisu`, outside the API) over
//! real HTTP against an in-process emulator: the page, the full PZ round trip (unsigned
//! request → signing service → `/auth/xades-signature` → TrustedProfile session), chain trust,
//! and every refusal as a Polish HTML page (400/413, never 500).

use std::net::SocketAddr;
use std::time::Duration;

use ksef_core::{ContextIdentifier, Nip, Pesel};
use ksef_crypto::ca::{Validity, issue_certificate, make_ca};
use ksef_crypto::identity::{inspect_certificate, verify_issued_by};
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_crypto::{Credential, KeyAlgorithm};
use ksef_emulator::{EmulatorConfig, RunningEmulator, SimulatedTrustedProfile, TrustPolicy};
use ksef_testkit::{Answer, RawClient, sign_request};
use ksef_xades::auth_request::{AuthNamespace, AuthTokenRequest, SubjectIdentifierType};
use ksef_xades::signature::{VerifyOptions, verify_enveloped};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const FILE_NAME: &str = "AuthTokenRequest_04-05-2026_10_11_12.xml";

struct Emu {
    emu: RunningEmulator,
    c: RawClient,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Emu {
    fn service_url(&self) -> String {
        format!("http://{}/symulator-podpisu", self.emu.addr)
    }
}

async fn start(tweak: impl FnOnce(&mut EmulatorConfig)) -> Emu {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EmulatorConfig::new(dir.path());
    config.auth_processing_delay = Duration::from_millis(20);
    tweak(&mut config);
    let emu = ksef_emulator::spawn(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let c = RawClient::new(&emu.base_url());
    Emu {
        emu,
        c,
        http: ksef_testkit::http_client(),
        _dir: dir,
    }
}

/// A person (PESEL) owning a fresh NIP through `/testdata/person`.
async fn person(c: &RawClient) -> (Nip, Pesel) {
    let nip = Nip::random();
    let pesel = Pesel::random();
    let a = c
        .post(
            "/testdata/person",
            None,
            json!({"nip": nip.as_str(), "pesel": pesel.as_str(), "isBailiff": false,
                   "description": "Osoba testowa PZ"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    (nip, pesel)
}

/// An unsigned `AuthTokenRequest` for a fresh challenge, as the web app offers it for download.
async fn unsigned_request(c: &RawClient, nip: &Nip) -> String {
    let (challenge, _) = c.challenge().await;
    AuthTokenRequest::new(
        challenge,
        ContextIdentifier::Nip(nip.clone()),
        SubjectIdentifierType::CertificateSubject,
    )
    .to_xml(AuthNamespace::V2_0)
}

/// What the service answered.
struct Reply {
    status: StatusCode,
    content_type: String,
    disposition: Option<String>,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// A Polish HTML error page with the given status, re-offering the form.
    fn assert_error_page(&self, status: StatusCode, needle: &str) {
        let t = self.text();
        assert_eq!(self.status, status, "{t}");
        assert!(
            self.content_type.starts_with("text/html"),
            "{}",
            self.content_type
        );
        assert!(self.disposition.is_none());
        assert!(t.contains("id=\"error\""), "{t}");
        assert!(t.contains(needle), "expected {needle:?} in {t}");
        assert!(t.contains("SYMULACJA"), "{t}");
        assert!(t.contains("id=\"sign-form\""), "{t}");
    }
}

async fn reply(resp: reqwest::Response) -> Reply {
    let h = resp.headers().clone();
    let get = |n: &str| h.get(n).map(|v| v.to_str().unwrap().to_string());
    Reply {
        status: resp.status(),
        content_type: get("content-type").unwrap_or_default(),
        disposition: get("content-disposition"),
        body: resp.bytes().await.unwrap().to_vec(),
    }
}

/// POSTs the form the way a browser does (multipart, the document as a file part).
async fn submit(
    e: &Emu,
    document: Option<(&str, Vec<u8>)>,
    pesel: &str,
    given_name: &str,
    surname: &str,
) -> Reply {
    let mut form = Form::new()
        .text("pesel", pesel.to_string())
        .text("given_name", given_name.to_string())
        .text("surname", surname.to_string());
    if let Some((name, bytes)) = document {
        form = form.part(
            "document",
            Part::bytes(bytes)
                .file_name(name.to_string())
                .mime_str("text/xml")
                .unwrap(),
        );
    }
    let resp = e
        .http
        .post(e.service_url())
        .multipart(form)
        .send()
        .await
        .unwrap();
    reply(resp).await
}

async fn post_xades_with(c: &RawClient, signed: &[u8], verify_chain: bool) -> Answer {
    c.send_raw(
        Method::POST,
        &format!("/auth/xades-signature?verifyCertificateChain={verify_chain}"),
        "application/xml",
        signed.to_vec(),
    )
    .await
}

/// Posts and waits for the final status body.
async fn auth_outcome(c: &RawClient, signed: &[u8], verify_chain: bool) -> (Answer, Value) {
    let init = post_xades_with(c, signed, verify_chain).await;
    assert_eq!(init.status, StatusCode::ACCEPTED, "{:?}", init.body);
    let reference = init.body["referenceNumber"].as_str().unwrap().to_string();
    let token = init.body["authenticationToken"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let status = c.wait_auth(&reference, &token).await;
    (init, status)
}

fn assert_trusted_profile(status: &Value) {
    assert_eq!(status["status"]["code"], 200, "{status}");
    assert_eq!(status["authenticationMethod"], "TrustedProfile", "{status}");
    assert_eq!(
        status["authenticationMethodInfo"],
        json!({"category": "XadesSignature", "code": "xades.trusted-profile",
               "displayName": "Profil zaufany"}),
        "{status}"
    );
}

#[tokio::test]
async fn page_is_a_labelled_simulation_outside_the_api() {
    let e = start(|_| {}).await;
    let r = reply(e.http.get(e.service_url()).send().await.unwrap()).await;
    let t = r.text();
    assert_eq!(r.status, StatusCode::OK, "{t}");
    assert!(
        r.content_type.starts_with("text/html"),
        "{}",
        r.content_type
    );
    assert!(
        t.contains(
            "<title>Symulowany serwis podpisu zaufanego — SYMULACJA, nie jest częścią API KSeF</title>"
        ),
        "{t}"
    );
    for needle in [
        "<form id=\"sign-form\" method=\"post\" action=\"/symulator-podpisu\" enctype=\"multipart/form-data\">",
        "type=\"file\" id=\"document\" name=\"document\"",
        "name=\"pesel\"",
        "name=\"given_name\"",
        "name=\"surname\"",
        "<button type=\"submit\" id=\"sign\">",
    ] {
        assert!(t.contains(needle), "missing {needle:?} in {t}");
    }
    assert!(!t.contains("id=\"error\""), "{t}");

    // Pre-fill from the query string, escaped.
    let r = reply(
        e.http
            .get(format!(
                "{}?pesel=44051401359&given_name=Jan&surname=%22%3E%3Cscript%3E",
                e.service_url()
            ))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let t = r.text();
    assert_eq!(r.status, StatusCode::OK);
    assert!(t.contains("value=\"44051401359\""), "{t}");
    assert!(t.contains("value=\"Jan\""), "{t}");
    assert!(t.contains("value=\"&quot;&gt;&lt;script&gt;\""), "{t}");
    assert!(!t.contains("\"><script>"), "{t}");

    // Not part of the API: nothing under /v2.
    let a =
        e.c.call(Method::GET, "/symulator-podpisu", None, None)
            .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);

    // The CA certificate is published as PEM.
    let r = reply(
        e.http
            .get(format!("{}/ca.pem", e.service_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let pem = r.text();
    assert_eq!(
        pem,
        e.emu.state.trusted_profile_ca().certificate_pem().unwrap()
    );
    let certs = ksef_crypto::certificates_from_pem_or_der(pem.as_bytes()).unwrap();
    let info = inspect_certificate(&certs[0]).unwrap();
    assert_eq!(
        info.subject_dn,
        "C=PL, O=KSeF Emulator, CN=Symulowany Profil Zaufany (emulator KSeF)"
    );
    assert!(ksef_crypto::ca::is_ca_certificate(&certs[0]).unwrap());
}

#[tokio::test]
async fn profil_zaufany_round_trip_authenticates_as_trusted_profile() {
    let e = start(|_| {}).await;
    let (nip, pesel) = person(&e.c).await;

    for verify_chain in [false, true] {
        let unsigned = unsigned_request(&e.c, &nip).await;
        let r = submit(
            &e,
            Some((FILE_NAME, unsigned.clone().into_bytes())),
            pesel.as_str(),
            "Zażółć",
            "Gęślą-Jaźń",
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.content_type, "application/xml; charset=utf-8");
        assert_eq!(
            r.disposition.as_deref(),
            Some("attachment; filename=\"AuthTokenRequest_04-05-2026_10_11_12 (1).xml\"")
        );

        // The document is unchanged apart from the appended signature.
        let signed = r.text();
        let sig_at = signed.find("<ds:Signature").expect("a ds:Signature");
        assert_eq!(
            &signed[..sig_at],
            unsigned
                .trim_end()
                .strip_suffix("</AuthTokenRequest>")
                .unwrap()
        );
        let verified = verify_enveloped(&r.body, &VerifyOptions { strict_xades: true }).unwrap();
        let cert = inspect_certificate(&verified.signer_certificate_der).unwrap();
        assert_eq!(cert.pesel.as_ref(), Some(&pesel));
        assert_eq!(cert.given_name.as_deref(), Some("Zażółć"));
        assert_eq!(cert.surname.as_deref(), Some("Gęślą-Jaźń"));
        assert_eq!(cert.common_name.as_deref(), Some("Zażółć Gęślą-Jaźń"));
        assert_eq!(cert.country.as_deref(), Some("PL"));
        assert_eq!(
            cert.subject_serial_number.as_deref(),
            Some(format!("PNOPL-{}", pesel.as_str()).as_str())
        );
        assert!(!cert.is_self_signed);
        assert!(cert.not_after - cert.not_before <= time::Duration::minutes(61 + 1));
        verify_issued_by(
            &verified.signer_certificate_der,
            &e.emu.state.trusted_profile_ca().certificate_der,
        )
        .unwrap();

        // The returned bytes go to KSeF unchanged.
        let (init, status) = auth_outcome(&e.c, &r.body, verify_chain).await;
        assert_trusted_profile(&status);
        let session = e.c.finish_login(&init).await.expect("redeem");
        let sessions = e.c.get("/auth/sessions", &session.access_token).await;
        assert_eq!(sessions.status, StatusCode::OK, "{:?}", sessions.body);
        let mine = sessions.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["referenceNumber"] == session.reference_number.as_str())
            .cloned()
            .expect("own session listed");
        assert_eq!(mine["authenticationMethod"], "TrustedProfile");
        assert_eq!(
            mine["authenticationMethodInfo"]["code"],
            "xades.trusted-profile"
        );
    }
}

#[tokio::test]
async fn non_ascii_file_name_uses_rfc_6266_filename_star() {
    let e = start(|_| {}).await;
    let (nip, pesel) = person(&e.c).await;
    let unsigned = unsigned_request(&e.c, &nip).await;
    let r = submit(
        &e,
        Some(("żądanie logowania.xml", unsigned.into_bytes())),
        pesel.as_str(),
        "Jan",
        "Kowalski",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.disposition.as_deref(),
        Some(
            "attachment; filename=\"__danie logowania (1).xml\"; \
             filename*=UTF-8''%C5%BC%C4%85danie%20logowania%20%281%29.xml"
        )
    );
}

#[tokio::test]
async fn pesel_with_grants_only_and_pesel_without_rights() {
    let e = start(|_| {}).await;
    // A PESEL without any link or grant: the subject is the PESEL → 415.
    let nip = Nip::random();
    let stranger = Pesel::random();
    let unsigned = unsigned_request(&e.c, &nip).await;
    let r = submit(
        &e,
        Some((FILE_NAME, unsigned.into_bytes())),
        stranger.as_str(),
        "Anna",
        "Nowak",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let (_, status) = auth_outcome(&e.c, &r.body, false).await;
    assert_eq!(status["status"]["code"], 415, "{status}");
    assert_eq!(status["authenticationMethod"], "TrustedProfile", "{status}");

    // After a grant to that PESEL in the NIP context it works.
    let g = e
        .c
        .post(
            "/testdata/permissions",
            None,
            json!({"contextIdentifier": {"type": "Nip", "value": nip.as_str()},
                   "authorizedIdentifier": {"type": "Pesel", "value": stranger.as_str()},
                   "permissions": [{"permissionType": "InvoiceRead", "description": "Odczyt faktur"}]}),
        )
        .await;
    assert_eq!(g.status, StatusCode::OK, "{:?}", g.body);
    let unsigned = unsigned_request(&e.c, &nip).await;
    let r = submit(
        &e,
        Some((FILE_NAME, unsigned.into_bytes())),
        stranger.as_str(),
        "Anna",
        "Nowak",
    )
    .await;
    let (_, status) = auth_outcome(&e.c, &r.body, true).await;
    assert_trusted_profile(&status);
}

#[tokio::test]
async fn chain_trust_accepts_the_simulated_ca_only() {
    let e = start(|_| {}).await;
    let (nip, pesel) = person(&e.c).await;
    let ctx = ContextIdentifier::Nip(nip.clone());

    // A self-signed certificate of the same person: fine on TEST defaults…
    let own = make_test_certificate(
        &TestSubject::person_pesel(pesel.clone(), "Jan", "Kowalski"),
        KeyAlgorithm::EcP256,
    )
    .unwrap();
    let signed =
        e.c.signed_request(&own, &ctx, SubjectIdentifierType::CertificateSubject)
            .await;
    let (_, status) = auth_outcome(&e.c, signed.as_bytes(), false).await;
    assert_eq!(status["status"]["code"], 200, "{status}");
    assert_eq!(status["authenticationMethod"], "QualifiedSignature");
    // …but not with verifyCertificateChain=true → 460.
    let signed =
        e.c.signed_request(&own, &ctx, SubjectIdentifierType::CertificateSubject)
            .await;
    let (_, status) = auth_outcome(&e.c, signed.as_bytes(), true).await;
    assert_eq!(status["status"]["code"], 460, "{status}");

    // A certificate from some other CA is not "trusted profile" and not chain-trusted.
    let foreign_ca = make_ca("Obce CA", KeyAlgorithm::EcP256).unwrap();
    let foreign = issue_certificate(
        &foreign_ca,
        &TestSubject::person_pesel(pesel.clone(), "Jan", "Kowalski"),
        KeyAlgorithm::EcP256,
        Validity::from_now(time::Duration::hours(1)).unwrap(),
    )
    .unwrap();
    let signed =
        e.c.signed_request(&foreign, &ctx, SubjectIdentifierType::CertificateSubject)
            .await;
    let (_, status) = auth_outcome(&e.c, signed.as_bytes(), true).await;
    assert_eq!(status["status"]["code"], 460, "{status}");
    assert_eq!(status["authenticationMethod"], "QualifiedSignature");

    // The emulator's own CA certificate cannot sign in as a trusted profile.
    let ca: Credential = e.emu.state.trusted_profile_ca().clone();
    let signed =
        e.c.signed_request(&ca, &ctx, SubjectIdentifierType::CertificateFingerprint)
            .await;
    let (_, status) = auth_outcome(&e.c, signed.as_bytes(), true).await;
    assert_eq!(status["status"]["code"], 460, "{status}");
    assert_ne!(status["authenticationMethod"], "TrustedProfile");
}

/// Issue 11 item 8: with a trust list the simulation is off unless switched on explicitly: its
/// page is not served and certificates of its CA are not trusted.
#[tokio::test]
async fn trust_list_switches_the_simulation_off_by_default() {
    let company_ca = make_ca("Firmowe CA", KeyAlgorithm::EcP256).unwrap();
    let ca_der = company_ca.certificate_der.clone();
    let e = start(move |c| c.trust_policy = TrustPolicy::TrustedCas(vec![ca_der])).await;
    let (nip, pesel) = person(&e.c).await;
    let ctx = ContextIdentifier::Nip(nip.clone());

    for path in ["", "/ca.pem"] {
        let r = reply(
            e.http
                .get(format!("{}{path}", e.service_url()))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text());
    }
    let unsigned = unsigned_request(&e.c, &nip).await;
    let r = submit(
        &e,
        Some((FILE_NAME, unsigned.into_bytes())),
        pesel.as_str(),
        "Jan",
        "Kowalski",
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());

    // A certificate issued by the simulation's CA (as its form would issue one for any PESEL)
    // is not trusted, with or without verifyCertificateChain.
    let simulated = issue_certificate(
        e.emu.state.trusted_profile_ca(),
        &TestSubject::person_pesel(pesel, "Jan", "Kowalski"),
        KeyAlgorithm::EcP256,
        Validity::from_now(time::Duration::hours(1)).unwrap(),
    )
    .unwrap();
    for verify_chain in [false, true] {
        let signed =
            e.c.signed_request(&simulated, &ctx, SubjectIdentifierType::CertificateSubject)
                .await;
        let (_, status) = auth_outcome(&e.c, signed.as_bytes(), verify_chain).await;
        assert_eq!(status["status"]["code"], 460, "{status}");
        assert_ne!(status["authenticationMethod"], "TrustedProfile", "{status}");
    }
}

#[tokio::test]
async fn trusted_cas_policy_adds_the_simulated_ca_when_switched_on() {
    let company_ca = make_ca("Firmowe CA", KeyAlgorithm::EcP256).unwrap();
    let ca_der = company_ca.certificate_der.clone();
    let e = start(move |c| {
        c.trust_policy = TrustPolicy::TrustedCas(vec![ca_der]);
        c.simulated_trusted_profile = SimulatedTrustedProfile::On;
    })
    .await;
    let (nip, pesel) = person(&e.c).await;
    let ctx = ContextIdentifier::Nip(nip.clone());

    // The PZ simulation is trusted in addition to the configured CA (its CA is one more
    // trusted CA, so chain verification passes too).
    for verify_chain in [false, true] {
        let unsigned = unsigned_request(&e.c, &nip).await;
        let r = submit(
            &e,
            Some((FILE_NAME, unsigned.into_bytes())),
            pesel.as_str(),
            "Jan",
            "Kowalski",
        )
        .await;
        let (_, status) = auth_outcome(&e.c, &r.body, verify_chain).await;
        assert_trusted_profile(&status);
    }
    // The configured CA still works, as a qualified signature.
    let employee = issue_certificate(
        &company_ca,
        &TestSubject::person_pesel(pesel.clone(), "Jan", "Kowalski"),
        KeyAlgorithm::EcP256,
        Validity::from_now(time::Duration::hours(1)).unwrap(),
    )
    .unwrap();
    let signed =
        e.c.signed_request(&employee, &ctx, SubjectIdentifierType::CertificateSubject)
            .await;
    let (_, status) = auth_outcome(&e.c, signed.as_bytes(), false).await;
    assert_eq!(status["status"]["code"], 200, "{status}");
    assert_eq!(status["authenticationMethod"], "QualifiedSignature");

    // Self-signed is refused under this policy.
    let own = make_test_certificate(
        &TestSubject::person_pesel(pesel.clone(), "Jan", "Kowalski"),
        KeyAlgorithm::EcP256,
    )
    .unwrap();
    let signed = sign_request(
        &e.c.challenge().await.0,
        &own,
        &ctx,
        SubjectIdentifierType::CertificateSubject,
    );
    let (_, status) = auth_outcome(&e.c, signed.as_bytes(), false).await;
    assert_eq!(status["status"]["code"], 460, "{status}");

    // The same validity rules as for any CA: an expired certificate of the simulated CA is
    // refused (the emulator's clock moves past its end).
    let expired = issue_certificate(
        e.emu.state.trusted_profile_ca(),
        &TestSubject::person_pesel(pesel, "Jan", "Kowalski"),
        KeyAlgorithm::EcP256,
        Validity::from_now(time::Duration::hours(1)).unwrap(),
    )
    .unwrap();
    e.emu.state.step_clock(time::Duration::hours(2));
    let signed =
        e.c.signed_request(&expired, &ctx, SubjectIdentifierType::CertificateSubject)
            .await;
    let (_, status) = auth_outcome(&e.c, signed.as_bytes(), false).await;
    assert_eq!(status["status"]["code"], 460, "{status}");
}

#[tokio::test]
async fn disabled_simulation_is_neither_served_nor_trusted() {
    // Sign with the simulation on, then restart on the same data directory with it off.
    let dir = tempfile::tempdir().unwrap();
    let mut config = EmulatorConfig::new(dir.path());
    config.auth_processing_delay = Duration::from_millis(20);
    let emu = ksef_emulator::spawn(config.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let ca_before = emu.state.trusted_profile_ca().certificate_der.clone();
    let e = Emu {
        c: RawClient::new(&emu.base_url()),
        emu,
        http: ksef_testkit::http_client(),
        _dir: tempfile::tempdir().unwrap(), // `dir` above holds the data
    };
    let (nip, pesel) = person(&e.c).await;
    let unsigned = unsigned_request(&e.c, &nip).await;
    let r = submit(
        &e,
        Some((FILE_NAME, unsigned.into_bytes())),
        pesel.as_str(),
        "Jan",
        "Kowalski",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let signed = r.body;
    e.emu.shutdown().await;

    config.simulated_trusted_profile = SimulatedTrustedProfile::Off;
    let emu = ksef_emulator::spawn(config.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    // The CA persisted across the restart.
    assert_eq!(emu.state.trusted_profile_ca().certificate_der, ca_before);
    let c = RawClient::new(&emu.base_url());
    let page = ksef_testkit::http_client()
        .get(format!("http://{}/symulator-podpisu", emu.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    // The challenge in `signed` was issued before the restart and is still unused.
    let (_, status) = auth_outcome(&c, &signed, true).await;
    assert_eq!(status["status"]["code"], 460, "{status}");
    assert_eq!(status["authenticationMethod"], "QualifiedSignature");
    emu.shutdown().await;
}

#[tokio::test]
async fn expired_simulated_certificate_is_refused() {
    let e = start(|c| {
        c.simulated_trusted_profile_certificate_lifetime = Duration::from_secs(1);
    })
    .await;
    let (nip, pesel) = person(&e.c).await;
    let unsigned = unsigned_request(&e.c, &nip).await;
    let r = submit(
        &e,
        Some((FILE_NAME, unsigned.into_bytes())),
        pesel.as_str(),
        "Jan",
        "Kowalski",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (_, status) = auth_outcome(&e.c, &r.body, false).await;
    assert_eq!(status["status"]["code"], 460, "{status}");
    assert_eq!(status["status"]["details"][0], "Nieważny certyfikat");
}

#[tokio::test]
async fn bad_input_gives_polish_html_errors_never_500() {
    let e = start(|_| {}).await;
    let (nip, pesel) = person(&e.c).await;
    let unsigned = unsigned_request(&e.c, &nip).await.into_bytes();
    let doc = |b: &[u8]| Some((FILE_NAME, b.to_vec()));
    let p = pesel.as_str();

    // PESEL: checksum, length, letters, empty.
    let mut bad_checksum = pesel.as_str().to_string();
    let last = bad_checksum.pop().unwrap();
    bad_checksum.push(if last == '0' { '1' } else { '0' });
    let r = submit(&e, doc(&unsigned), &bad_checksum, "Jan", "Kowalski").await;
    r.assert_error_page(StatusCode::BAD_REQUEST, "cyfra kontrolna");
    // The form keeps what the user typed.
    assert!(r.text().contains("value=\"Kowalski\""), "{}", r.text());
    let r = submit(&e, doc(&unsigned), "1234", "Jan", "Kowalski").await;
    r.assert_error_page(StatusCode::BAD_REQUEST, "PESEL musi mieć 11 cyfr");
    let r = submit(&e, doc(&unsigned), "4405140135a", "Jan", "Kowalski").await;
    r.assert_error_page(StatusCode::BAD_REQUEST, "wyłącznie cyfry");
    let r = submit(&e, doc(&unsigned), "", "Jan", "Kowalski").await;
    r.assert_error_page(StatusCode::BAD_REQUEST, "Podaj numer PESEL");

    // Names: 1–64 characters.
    let r = submit(&e, doc(&unsigned), p, "  ", "Kowalski").await;
    r.assert_error_page(StatusCode::BAD_REQUEST, "Pole „Imię” jest wymagane");
    let r = submit(&e, doc(&unsigned), p, "Jan", &"ż".repeat(65)).await;
    r.assert_error_page(
        StatusCode::BAD_REQUEST,
        "Pole „Nazwisko” może mieć najwyżej 64",
    );
    let r = submit(&e, doc(&unsigned), p, &"ż".repeat(64), "Kowalski").await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "64 characters are fine: {}",
        r.text()
    );

    // Several problems are reported together.
    let r = submit(&e, None, "", "", "").await;
    r.assert_error_page(StatusCode::BAD_REQUEST, "Wybierz plik");
    let t = r.text();
    assert!(
        t.contains("Podaj numer PESEL") && t.contains("Pole „Nazwisko”"),
        "{t}"
    );

    // Documents: empty, not XML, XML but not an AuthTokenRequest, not UTF-8, already signed.
    let r = submit(&e, doc(b"  \n"), p, "Jan", "Kowalski").await;
    r.assert_error_page(StatusCode::BAD_REQUEST, "pusty");
    let r = submit(&e, doc(b"%PDF-1.7 binary \x00\x01"), p, "Jan", "Kowalski").await;
    r.assert_error_page(StatusCode::BAD_REQUEST, "nie jest prawidłowym żądaniem");
    let r = submit(&e, doc(b"<a><b></a>"), p, "Jan", "Kowalski").await;
    r.assert_error_page(StatusCode::BAD_REQUEST, "Nieczytelna treść");
    let r = submit(
        &e,
        doc(
            b"<?xml version=\"1.0\"?><Faktura xmlns=\"http://crd.gov.pl/wzor/2025/06/25/13775/\"/>",
        ),
        p,
        "Jan",
        "Kowalski",
    )
    .await;
    r.assert_error_page(StatusCode::BAD_REQUEST, "nie jest prawidłowym żądaniem");
    let r = submit(&e, doc(&[0xff, 0xfe, 0x3c, 0x00]), p, "Jan", "Kowalski").await;
    r.assert_error_page(StatusCode::BAD_REQUEST, "kodowanie");

    let own = make_test_certificate(
        &TestSubject::person_pesel(pesel.clone(), "Jan", "Kowalski"),
        KeyAlgorithm::EcP256,
    )
    .unwrap();
    let already = sign_request(
        &e.c.challenge().await.0,
        &own,
        &ContextIdentifier::Nip(nip.clone()),
        SubjectIdentifierType::CertificateSubject,
    );
    let r = submit(&e, doc(already.as_bytes()), p, "Jan", "Kowalski").await;
    r.assert_error_page(StatusCode::BAD_REQUEST, "już podpisany");
    // Our own output cannot be signed a second time either.
    let ok = submit(&e, doc(&unsigned), p, "Jan", "Kowalski").await;
    assert_eq!(ok.status, StatusCode::OK);
    let r = submit(&e, doc(&ok.body), p, "Jan", "Kowalski").await;
    r.assert_error_page(StatusCode::BAD_REQUEST, "już podpisany");

    // Not multipart at all.
    let resp = e
        .http
        .post(e.service_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("pesel=44051401359&given_name=Jan&surname=Kowalski")
        .send()
        .await
        .unwrap();
    reply(resp)
        .await
        .assert_error_page(StatusCode::BAD_REQUEST, "multipart/form-data");
    // Broken multipart framing.
    let resp = e
        .http
        .post(e.service_url())
        .header("content-type", "multipart/form-data; boundary=XYZ")
        .body("--XYZ\r\nContent-Disposition: form-data; name=\"pesel\"\r\n\r\n4405")
        .send()
        .await
        .unwrap();
    reply(resp)
        .await
        .assert_error_page(StatusCode::BAD_REQUEST, "Nieprawidłowe dane formularza");
}

#[tokio::test]
async fn oversized_documents_are_refused_without_500() {
    let e = start(|_| {}).await;
    let (nip, pesel) = person(&e.c).await;
    let unsigned = unsigned_request(&e.c, &nip).await;

    // Just over the 1 MiB document cap (still within the form's body limit): 413 page.
    let mut padded = unsigned.clone().into_bytes();
    padded.extend(std::iter::repeat_n(b' ', 1024 * 1024 + 1 - padded.len()));
    let r = submit(
        &e,
        Some((FILE_NAME, padded)),
        pesel.as_str(),
        "Jan",
        "Kowalski",
    )
    .await;
    r.assert_error_page(StatusCode::PAYLOAD_TOO_LARGE, "za duży");

    // Exactly 1 MiB is accepted (trailing whitespace after the root is allowed XML).
    let mut exact = unsigned.into_bytes();
    exact.extend(std::iter::repeat_n(b'\n', 1024 * 1024 - exact.len()));
    let r = submit(
        &e,
        Some((FILE_NAME, exact)),
        pesel.as_str(),
        "Jan",
        "Kowalski",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    // Far beyond the body limit: the server answers 413 (or the upload is cut off), never 500.
    let form = Form::new().text("pesel", pesel.as_str().to_string()).part(
        "document",
        Part::bytes(vec![b'<'; 4 * 1024 * 1024]).file_name(FILE_NAME),
    );
    match e.http.post(e.service_url()).multipart(form).send().await {
        Ok(resp) => {
            let r = reply(resp).await;
            assert!(
                r.status == StatusCode::PAYLOAD_TOO_LARGE || r.status == StatusCode::BAD_REQUEST,
                "{} {}",
                r.status,
                r.text()
            );
            assert!(
                r.content_type.starts_with("text/html"),
                "{}",
                r.content_type
            );
        }
        // The server may close the connection once it has answered; that is not a 500.
        Err(err) => assert!(!err.is_status(), "{err}"),
    }
    // The emulator is still serving.
    let r = reply(e.http.get(e.service_url()).send().await.unwrap()).await;
    assert_eq!(r.status, StatusCode::OK);
}

/// The `value` of the `<input>` with `id` in a page.
fn input_value(page: &str, id: &str) -> String {
    let at = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no input {id} in {page}"));
    let tag_end = at + page[at..].find('>').expect("end of the input tag");
    let tag = &page[at..tag_end];
    let v = tag
        .find("value=\"")
        .unwrap_or_else(|| panic!("no value in {tag}"));
    let rest = &tag[v + 7..];
    rest[..rest.find('"').expect("closing quote")].to_string()
}

/// The `owner` checkbox tag of a page, if the page offers it.
fn owner_checkbox(page: &str) -> Option<String> {
    let at = page.find("id=\"owner\"")?;
    let start = page[..at].rfind('<')?;
    let end = at + page[at..].find('>')?;
    Some(page[start..=end].to_string())
}

/// Submits the form with the `owner` field as a browser does for a checked box (`Some`) or an
/// unchecked one (`None`: the field is not sent).
async fn submit_with_owner(
    e: &Emu,
    unsigned: &str,
    pesel: &str,
    given_name: &str,
    surname: &str,
    owner: Option<&str>,
) -> Reply {
    let mut form = Form::new()
        .text("pesel", pesel.to_string())
        .text("given_name", given_name.to_string())
        .text("surname", surname.to_string())
        .part(
            "document",
            Part::bytes(unsigned.as_bytes().to_vec())
                .file_name(FILE_NAME)
                .mime_str("text/xml")
                .unwrap(),
        );
    if let Some(v) = owner {
        form = form.text("owner", v.to_string());
    }
    reply(
        e.http
            .post(e.service_url())
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// Logs in with `signed` and returns the access token of the redeemed session (status 200).
async fn owner_session(e: &Emu, signed: &[u8]) -> String {
    let (init, status) = auth_outcome(&e.c, signed, false).await;
    assert_trusted_profile(&status);
    e.c.finish_login(&init).await.expect("redeem").access_token
}

#[tokio::test]
async fn fresh_install_suggests_a_valid_person_and_the_owner_option_makes_the_login_work() {
    let e = start(|_| {}).await;
    // The page suggests a valid test PESEL with a real birth date, names, and the owner
    // option, checked.
    let page = reply(e.http.get(e.service_url()).send().await.unwrap()).await;
    let t = page.text();
    assert_eq!(page.status, StatusCode::OK, "{t}");
    let pesel: Pesel = input_value(&t, "pesel")
        .parse()
        .unwrap_or_else(|err| panic!("suggested PESEL invalid: {err}\n{t}"));
    let born = pesel.birth_date().expect("a real birth date");
    assert!((1940..=2006).contains(&born.year()), "{born}");
    let given = input_value(&t, "given_name");
    let surname = input_value(&t, "surname");
    assert!(!given.is_empty() && !surname.is_empty(), "{t}");
    let checkbox = owner_checkbox(&t).expect("the owner option is offered");
    assert!(checkbox.contains("name=\"owner\""), "{checkbox}");
    assert!(checkbox.contains(" checked"), "{checkbox}");
    assert!(
        t.contains(
            "Traktuj osobę jako właściciela firmy o NIP z podpisywanego dokumentu \
             (jednoosobowa działalność — jak w środowisku TEST)"
        ),
        "{t}"
    );
    // Two visits suggest different people.
    let again = reply(e.http.get(e.service_url()).send().await.unwrap()).await;
    assert_ne!(input_value(&again.text(), "pesel"), pesel.as_str());
    // A pre-filled PESEL and `owner=0` are kept.
    let q = reply(
        e.http
            .get(format!("{}?pesel=44051401359&owner=0", e.service_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let qt = q.text();
    assert_eq!(input_value(&qt, "pesel"), "44051401359");
    assert!(!owner_checkbox(&qt).unwrap().contains(" checked"), "{qt}");
    // Men's names for a man's PESEL (tenth digit odd).
    assert!(
        ["Jan", "Piotr", "Tomasz", "Krzysztof", "Marek"]
            .contains(&input_value(&qt, "given_name").as_str()),
        "{qt}"
    );

    // A fresh NIP nobody prepared: signing with the suggestion and the option logs in as owner.
    let nip = Nip::random();
    let unsigned = unsigned_request(&e.c, &nip).await;
    let r = submit_with_owner(&e, &unsigned, pesel.as_str(), &given, &surname, Some("1")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let access = owner_session(&e, &r.body).await;
    // The owner's rights: creating a KSeF token needs CredentialsManage.
    let (_, token) =
        e.c.generate_active_token(
            &access,
            &["InvoiceRead", "CredentialsManage"],
            "Token właściciela",
        )
        .await;
    assert!(!token.is_empty());
    // The link is the one `/testdata/person` makes: `/testdata/person/remove` undoes it…
    let removed =
        e.c.post(
            "/testdata/person/remove",
            None,
            json!({"nip": nip.as_str()}),
        )
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{:?}", removed.body);
    // …and without the option the same person is refused as before (415, no rights).
    let unsigned = unsigned_request(&e.c, &nip).await;
    let r = submit_with_owner(&e, &unsigned, pesel.as_str(), &given, &surname, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let (_, status) = auth_outcome(&e.c, &r.body, false).await;
    assert_eq!(status["status"]["code"], 415, "{status}");
    assert_eq!(status["authenticationMethod"], "TrustedProfile", "{status}");
}

#[tokio::test]
async fn owner_option_respects_existing_links_and_other_contexts() {
    let e = start(|_| {}).await;
    let nip = Nip::random();
    let pesel = Pesel::random();
    // Signing twice as owner of the same NIP: the second finds the link and is fine.
    for _ in 0..2 {
        let unsigned = unsigned_request(&e.c, &nip).await;
        let r = submit_with_owner(&e, &unsigned, pesel.as_str(), "Anna", "Nowak", Some("1")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        owner_session(&e, &r.body).await;
    }
    // Another PESEL cannot take the NIP over: a clear page naming the owner's PESEL.
    let other = loop {
        let p = Pesel::random();
        if p != pesel {
            break p;
        }
    };
    let unsigned = unsigned_request(&e.c, &nip).await;
    let r = submit_with_owner(&e, &unsigned, other.as_str(), "Ewa", "Testowa", Some("1")).await;
    r.assert_error_page(
        StatusCode::BAD_REQUEST,
        &format!(
            "ma już w emulatorze właściciela o numerze PESEL {}",
            pesel.as_str()
        ),
    );

    // A document without a NIP context (an InternalId): the option does nothing.
    let internal = ksef_core::InternalId::new(&nip, 1234).unwrap();
    let (challenge, _) = e.c.challenge().await;
    let unsigned = AuthTokenRequest::new(
        challenge,
        ContextIdentifier::InternalId(internal),
        SubjectIdentifierType::CertificateSubject,
    )
    .to_xml(AuthNamespace::V2_0);
    let stranger = Pesel::random();
    let r = submit_with_owner(&e, &unsigned, stranger.as_str(), "Jan", "Nowak", Some("1")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let links = e.emu.state.pool();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM persons WHERE pesel = ?")
        .bind(stranger.as_str())
        .fetch_one(links)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn owner_option_can_be_switched_off_in_the_configuration() {
    let e = start(|c| c.simulated_trusted_profile_sole_trader = false).await;
    let page = reply(e.http.get(e.service_url()).send().await.unwrap()).await;
    let t = page.text();
    assert!(owner_checkbox(&t).is_none(), "{t}");
    // Still a valid suggestion.
    input_value(&t, "pesel").parse::<Pesel>().unwrap();
    // A forged `owner` field changes nothing: no link, the login is refused (415).
    let nip = Nip::random();
    let pesel = Pesel::random();
    let unsigned = unsigned_request(&e.c, &nip).await;
    let r = submit_with_owner(&e, &unsigned, pesel.as_str(), "Jan", "Kowalski", Some("1")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let (_, status) = auth_outcome(&e.c, &r.body, false).await;
    assert_eq!(status["status"]["code"], 415, "{status}");
}
