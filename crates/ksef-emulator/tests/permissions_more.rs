//! The rest of the permission-management API (digest §7.3, §7.6, §18) over real HTTP against an
//! in-process emulator: subunit administrators and their effect on login in the unit's context,
//! subordinate entities, indirect grants (selective and general) and their effect in the client's
//! context, EU-entity administrators and representatives (NipVatUe contexts), and the public
//! Peppol provider list. Each endpoint: happy path, 403 `missing-permissions`, 400/21405 body
//! validation, paging for the queries.

mod common;

use common::{
    assert_400, assert_missing_permissions, items, pesel_login, reference, wait_operation,
};

use ksef_core::{ContextIdentifier, InternalId, Nip, NipVatUe, Pesel};
use ksef_crypto::KeyAlgorithm;
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_testkit::{Answer, RawClient, Session};
use ksef_xades::auth_request::SubjectIdentifierType;
use reqwest::StatusCode;
use serde_json::{Value, json};

const SUBUNITS: &str = "/permissions/subunits/grants";
const SUBUNITS_QUERY: &str = "/permissions/query/subunits/grants";
const SUBORDINATE: &str = "/permissions/query/subordinate-entities/roles";
const INDIRECT: &str = "/permissions/indirect/grants";
const EU_ADMIN: &str = "/permissions/eu-entities/administration/grants";
const EU_GRANTS: &str = "/permissions/eu-entities/grants";
const EU_QUERY: &str = "/permissions/query/eu-entities/grants";

fn person_by_id() -> Value {
    json!({"subjectDetailsType": "PersonByIdentifier",
           "personById": {"firstName": "Adam", "lastName": "Abacki"}})
}

/// POST a grant, expect 202, wait for the operation and return its final status.
async fn granted(c: &RawClient, access: &str, path: &str, body: Value) -> Value {
    let a = c.post(path, Some(access), body).await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{path}: {:?}", a.body);
    wait_operation(c, access, &reference(&a)).await
}

/// Grants `permissions` in the caller's context to `pesel` through the persons API.
async fn grant_person(c: &RawClient, access: &str, pesel: &Pesel, permissions: &[&str]) {
    let status = granted(
        c,
        access,
        "/permissions/persons/grants",
        json!({"subjectIdentifier": {"type": "Pesel", "value": pesel.as_str()},
               "permissions": permissions, "description": "Uprawnienia testowe",
               "subjectDetails": person_by_id()}),
    )
    .await;
    assert_eq!(status["code"], 200, "{status:?}");
}

async fn personal(c: &RawClient, access: &str, body: Value) -> Vec<Value> {
    items(
        &c.post("/permissions/query/personal/grants", Some(access), body)
            .await,
    )
}

fn subunit_body(pesel: &Pesel, unit: &InternalId) -> Value {
    json!({
        "subjectIdentifier": {"type": "Pesel", "value": pesel.as_str()},
        "contextIdentifier": {"type": "InternalId", "value": unit.as_str()},
        "description": "Administrator jednostki",
        "subunitName": "Jednostka 014",
        "subjectDetails": person_by_id()
    })
}

#[tokio::test]
async fn subunit_administrator_is_granted_listed_and_logs_in() {
    let env = common::start_with_owner(|_| {}).await;
    let (c, owner, nip) = (&env.client, env.access.as_str(), &env.nip);
    let admin = Pesel::random();
    let unit = InternalId::new(nip, 1234).unwrap();
    let unit_ctx = ContextIdentifier::InternalId(unit.clone());
    assert_eq!(
        pesel_login(c, &admin, &unit_ctx).await.unwrap_err()["status"]["code"],
        415
    );

    // Validation (400/21405) before anything is stored.
    let good = subunit_body(&admin, &unit);
    let mut bad = good.clone();
    bad.as_object_mut().unwrap().remove("subunitName");
    assert_400(
        &c.post(SUBUNITS, Some(owner), bad).await,
        "subunitName required for InternalId",
    );
    let mut bad = good.clone();
    let wrong_check = format!(
        "{}{}",
        &unit.as_str()[..15],
        (unit.as_str().as_bytes()[15] - b'0' + 1) % 10
    );
    bad["contextIdentifier"]["value"] = json!(wrong_check);
    assert_400(
        &c.post(SUBUNITS, Some(owner), bad).await,
        "InternalId check digit",
    );
    let mut bad = good.clone();
    bad["contextIdentifier"]["type"] = json!("NipVatUe");
    assert_400(&c.post(SUBUNITS, Some(owner), bad).await, "context type");
    let mut bad = good.clone();
    bad["description"] = json!("abc");
    assert_400(&c.post(SUBUNITS, Some(owner), bad).await, "description");
    let mut bad = good.clone();
    bad["subjectDetails"]["personById"] = Value::Null;
    assert_400(&c.post(SUBUNITS, Some(owner), bad).await, "subjectDetails");

    // A unit of another entity: accepted, the operation ends with 410, nothing granted.
    let foreign = InternalId::new(Nip::random(), 1).unwrap();
    let status = granted(c, owner, SUBUNITS, subunit_body(&admin, &foreign)).await;
    assert_eq!(status["code"], 410, "{status:?}");

    let status = granted(c, owner, SUBUNITS, good).await;
    assert_eq!(status["code"], 200, "{status:?}");

    // The administrator now logs in to the unit's context holding CredentialsManage.
    let session = pesel_login(c, &admin, &unit_ctx)
        .await
        .expect("admin login");
    let own = personal(c, &session.access_token, json!({})).await;
    assert_eq!(own.len(), 1, "{own:?}");
    assert_eq!(own[0]["permissionScope"], "CredentialsManage");
    assert_eq!(
        own[0]["contextIdentifier"],
        json!({"type": "InternalId", "value": unit.as_str()})
    );
    // … and manages the unit's persons (CredentialsManage is enough there).
    let clerk = Pesel::random();
    grant_person(c, &session.access_token, &clerk, &["InvoiceRead"]).await;
    pesel_login(c, &clerk, &unit_ctx)
        .await
        .expect("clerk login in the unit");

    // The parent lists the grant with every field.
    let list = items(&c.post(SUBUNITS_QUERY, Some(owner), json!({})).await);
    assert_eq!(list.len(), 1, "{list:?}");
    let g = &list[0];
    assert_eq!(
        g["authorizedIdentifier"],
        json!({"type": "Pesel", "value": admin.as_str()})
    );
    assert_eq!(
        g["subunitIdentifier"],
        json!({"type": "InternalId", "value": unit.as_str()})
    );
    assert_eq!(g["authorIdentifier"]["type"], "Nip");
    assert_eq!(g["permissionScope"], "CredentialsManage");
    assert_eq!(g["subunitName"], "Jednostka 014");
    assert_eq!(g["subjectPersonDetails"]["firstName"], "Adam");
    assert_eq!(g["id"].as_str().map(str::len), Some(36));
    assert!(g["startDate"].is_string());

    // Filter.
    let other = InternalId::new(nip, 4321).unwrap();
    let none = items(
        &c.post(
            SUBUNITS_QUERY,
            Some(owner),
            json!({"subunitIdentifier": {"type": "InternalId", "value": other.as_str()}}),
        )
        .await,
    );
    assert!(none.is_empty(), "{none:?}");
    assert_400(
        &c.post(
            SUBUNITS_QUERY,
            Some(owner),
            json!({"subunitIdentifier": {"type": "Pesel", "value": admin.as_str()}}),
        )
        .await,
        "subunitIdentifier type",
    );

    // The parent revokes the administrator with the common endpoint.
    let revoke = c
        .delete(
            &format!("/permissions/common/grants/{}", g["id"].as_str().unwrap()),
            owner,
        )
        .await;
    assert_eq!(revoke.status, StatusCode::ACCEPTED, "{:?}", revoke.body);
    assert_eq!(
        wait_operation(c, owner, &reference(&revoke)).await["code"],
        200
    );
    assert!(items(&c.post(SUBUNITS_QUERY, Some(owner), json!({})).await).is_empty());
    assert_eq!(
        pesel_login(c, &admin, &unit_ctx).await.unwrap_err()["status"]["code"],
        415
    );

    // Refusals: the clerk (InvoiceRead only) may neither grant nor list.
    let clerk_in_parent = {
        grant_person(c, owner, &clerk, &["InvoiceRead"]).await;
        pesel_login(c, &clerk, &ContextIdentifier::Nip(nip.clone()))
            .await
            .expect("clerk login in the parent")
    };
    let p = clerk_in_parent.access_token.as_str();
    assert_missing_permissions(
        &c.post(SUBUNITS, Some(p), subunit_body(&admin, &unit)).await,
        &["SubunitManage"],
    );
    assert_missing_permissions(
        &c.post(SUBUNITS_QUERY, Some(p), json!({})).await,
        &["CredentialsManage", "CredentialsRead", "SubunitManage"],
    );
    assert_missing_permissions(
        &c.post(SUBORDINATE, Some(p), json!({})).await,
        &["CredentialsManage", "CredentialsRead", "SubunitManage"],
    );
}

#[tokio::test]
async fn subunit_queries_page_and_subordinate_entities() {
    let env = common::start_with_owner(|_| {}).await;
    let (c, owner, nip) = (&env.client, env.access.as_str(), &env.nip);
    let admin = Pesel::random();
    for i in 0..11u16 {
        let unit = InternalId::new(nip, 100 + i).unwrap();
        let status = granted(c, owner, SUBUNITS, subunit_body(&admin, &unit)).await;
        assert_eq!(status["code"], 200, "{status:?}");
    }
    let first = c
        .post(
            &format!("{SUBUNITS_QUERY}?pageSize=10"),
            Some(owner),
            json!({}),
        )
        .await;
    let page0 = items(&first);
    assert_eq!(page0.len(), 10);
    assert_eq!(first.body["hasMore"], true);
    let second = c
        .post(
            &format!("{SUBUNITS_QUERY}?pageOffset=1&pageSize=10"),
            Some(owner),
            json!({}),
        )
        .await;
    let page1 = items(&second);
    assert_eq!(page1.len(), 1);
    assert_eq!(second.body["hasMore"], false);
    let mut ids: Vec<&str> = page0
        .iter()
        .chain(&page1)
        .map(|g| g["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 11, "pages overlap");
    // Sorted by startDate descending.
    let dates: Vec<&str> = page0
        .iter()
        .map(|g| g["startDate"].as_str().unwrap())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "{dates:?}");
    assert_400(
        &c.post(
            &format!("{SUBUNITS_QUERY}?pageSize=5"),
            Some(owner),
            json!({}),
        )
        .await,
        "pageSize below 10",
    );

    // Subordinate entities of a JST (test data) and a subunit grant for one of them.
    let jst = Nip::random();
    let members: Vec<Nip> = (0..11).map(|_| Nip::random()).collect();
    let a = c
        .post(
            "/testdata/subject",
            None,
            json!({"subjectNip": jst.as_str(), "subjectType": "JST",
                   "description": "Gmina testowa",
                   "subunits": members.iter().map(|m| json!({"subjectNip": m.as_str(),
                        "description": "Szkoła podstawowa"})).collect::<Vec<_>>()}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let jst_owner = common::owner_login(c, &jst).await;
    let roles = c.post(SUBORDINATE, Some(&jst_owner), json!({})).await;
    assert_eq!(roles.status, StatusCode::OK, "{:?}", roles.body);
    assert_eq!(roles.body["roles"].as_array().unwrap().len(), 10);
    assert_eq!(roles.body["hasMore"], true);
    let r0 = &roles.body["roles"][0];
    assert_eq!(r0["role"], "LocalGovernmentSubUnit");
    assert_eq!(r0["subordinateEntityIdentifier"]["type"], "Nip");
    assert_eq!(r0["description"], "Szkoła podstawowa");
    let one = c
        .post(
            SUBORDINATE,
            Some(&jst_owner),
            json!({"subordinateEntityIdentifier": {"type": "Nip", "value": members[3].as_str()}}),
        )
        .await;
    assert_eq!(
        one.body["roles"].as_array().unwrap().len(),
        1,
        "{:?}",
        one.body
    );
    assert_eq!(
        one.body["roles"][0]["subordinateEntityIdentifier"]["value"],
        members[3].as_str()
    );
    assert_400(
        &c.post(
            SUBORDINATE,
            Some(&jst_owner),
            json!({"subordinateEntityIdentifier": {"type": "Nip", "value": "5265877636"}}),
        )
        .await,
        "subordinate NIP checksum",
    );
    // The plain owner has no subordinate entities (empty list, correct shape).
    let empty = c.post(SUBORDINATE, Some(owner), json!({})).await;
    assert_eq!(empty.status, StatusCode::OK, "{:?}", empty.body);
    assert_eq!(empty.body, json!({"roles": [], "hasMore": false}));

    // Subunit grant by NIP: only for a subordinate entity of the context.
    let by_nip = |target: &Nip| {
        json!({"subjectIdentifier": {"type": "Pesel", "value": admin.as_str()},
               "contextIdentifier": {"type": "Nip", "value": target.as_str()},
               "description": "Administrator szkoły", "subjectDetails": person_by_id()})
    };
    let status = granted(c, &jst_owner, SUBUNITS, by_nip(&members[0])).await;
    assert_eq!(status["code"], 200, "{status:?}");
    let status = granted(c, &jst_owner, SUBUNITS, by_nip(&Nip::random())).await;
    assert_eq!(status["code"], 410, "{status:?}");
    pesel_login(c, &admin, &ContextIdentifier::Nip(members[0].clone()))
        .await
        .expect("admin of the member logs in");
    let listed = items(&c.post(SUBUNITS_QUERY, Some(&jst_owner), json!({})).await);
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0]["subunitIdentifier"],
        json!({"type": "Nip", "value": members[0].as_str()})
    );
}

fn seal(nip: &Nip) -> ksef_crypto::Credential {
    make_test_certificate(
        &TestSubject::seal(nip.clone(), "Biuro Rachunkowe Sp. z o.o."),
        KeyAlgorithm::EcP256,
    )
    .unwrap()
}

fn indirect_body(pesel: &Pesel, target: Value, permissions: &[&str]) -> Value {
    json!({
        "subjectIdentifier": {"type": "Pesel", "value": pesel.as_str()},
        "targetIdentifier": target,
        "permissions": permissions,
        "description": "praca dla klienta przez biuro",
        "subjectDetails": person_by_id()
    })
}

#[tokio::test]
async fn indirect_grants_take_effect_in_the_clients_context() {
    let env = common::start_with_owner(|_| {}).await;
    let (c, client_owner, client) = (&env.client, env.access.as_str(), &env.nip);
    let office = Nip::random();
    let client_ctx = ContextIdentifier::Nip(client.clone());
    // The client lets the office read (delegable) and write (not delegable) its invoices.
    let status = granted(
        c,
        client_owner,
        "/permissions/entities/grants",
        json!({"subjectIdentifier": {"type": "Nip", "value": office.as_str()},
               "permissions": [{"type": "InvoiceRead", "canDelegate": true},
                               {"type": "InvoiceWrite", "canDelegate": false}],
               "description": "Biuro rachunkowe", "subjectDetails": {"fullName": "Biuro Rachunkowe"}}),
    )
    .await;
    assert_eq!(status["code"], 200);
    let office_owner = c
        .login_with_certificate(&seal(&office), &ContextIdentifier::Nip(office.clone()))
        .await
        .expect("office owner")
        .access_token;
    let o = office_owner.as_str();
    let worker = Pesel::random();
    let selective = json!({"type": "Nip", "value": client.as_str()});

    // Validation.
    let good = indirect_body(&worker, selective.clone(), &["InvoiceRead"]);
    let mut bad = good.clone();
    bad["targetIdentifier"] = json!({"type": "Nip"});
    assert_400(
        &c.post(INDIRECT, Some(o), bad).await,
        "target without value",
    );
    let mut bad = good.clone();
    bad["targetIdentifier"] = json!({"type": "AllPartners", "value": client.as_str()});
    assert_400(
        &c.post(INDIRECT, Some(o), bad).await,
        "AllPartners with value",
    );
    let mut bad = good.clone();
    bad["permissions"] = json!(["CredentialsManage"]);
    assert_400(&c.post(INDIRECT, Some(o), bad).await, "permission type");
    let mut bad = good.clone();
    bad["permissions"] = json!([]);
    assert_400(&c.post(INDIRECT, Some(o), bad).await, "no permissions");
    let mut bad = good.clone();
    bad["subjectDetails"]["subjectDetailsType"] = json!("PersonByFingerprintWithIdentifier");
    assert_400(
        &c.post(INDIRECT, Some(o), bad).await,
        "details vs identifier",
    );

    // InvoiceWrite was not given with canDelegate: 420, nothing stored.
    let status = granted(
        c,
        o,
        INDIRECT,
        indirect_body(&worker, selective.clone(), &["InvoiceWrite"]),
    )
    .await;
    assert_eq!(status["code"], 420, "{status:?}");
    assert_eq!(
        pesel_login(c, &worker, &client_ctx).await.unwrap_err()["status"]["code"],
        415
    );

    let status = granted(c, o, INDIRECT, good).await;
    assert_eq!(status["code"], 200, "{status:?}");
    // The worker now works in the client's context with InvoiceRead only.
    let in_client = pesel_login(c, &worker, &client_ctx)
        .await
        .expect("worker in client");
    let own = personal(c, &in_client.access_token, json!({})).await;
    assert_eq!(own.len(), 1, "{own:?}");
    assert_eq!(own[0]["permissionScope"], "InvoiceRead");
    assert_eq!(own[0]["targetIdentifier"], selective);
    assert_eq!(
        own[0]["contextIdentifier"],
        json!({"type": "Nip", "value": office.as_str()})
    );
    assert!(
        personal(
            c,
            &in_client.access_token,
            json!({"targetIdentifier": {"type": "AllPartners"}})
        )
        .await
        .is_empty()
    );
    // The worker cannot use the office's own context (no direct grant there).
    assert_eq!(
        pesel_login(c, &worker, &ContextIdentifier::Nip(office.clone()))
            .await
            .unwrap_err()["status"]["code"],
        415
    );

    // General grant (AllPartners) for a second person: effective for every client that gave
    // the office a delegable permission.
    let general = Pesel::random();
    let status = granted(
        c,
        o,
        INDIRECT,
        indirect_body(
            &general,
            json!({"type": "AllPartners"}),
            &["InvoiceRead", "InvoiceWrite"],
        ),
    )
    .await;
    assert_eq!(status["code"], 200, "{status:?}");
    let g_session = pesel_login(c, &general, &client_ctx)
        .await
        .expect("general in client");
    let own = personal(c, &g_session.access_token, json!({})).await;
    let scopes: Vec<&str> = own
        .iter()
        .map(|g| g["permissionScope"].as_str().unwrap())
        .collect();
    assert_eq!(
        scopes,
        ["InvoiceRead"],
        "only the delegable one is in force: {own:?}"
    );
    assert_eq!(own[0]["targetIdentifier"], json!({"type": "AllPartners"}));

    // The office's persons query lists the indirect grants with their target; filter by target.
    let q = |body: Value| c.post("/permissions/query/persons/grants", Some(o), body);
    let all = items(&q(json!({"queryType": "PermissionsInCurrentContext"})).await);
    assert_eq!(all.len(), 3, "{all:?}");
    let selective_only = items(
        &q(json!({"queryType": "PermissionsInCurrentContext", "targetIdentifier": selective}))
            .await,
    );
    assert_eq!(selective_only.len(), 1, "{selective_only:?}");
    let item = &selective_only[0];
    assert_eq!(
        item["authorizedIdentifier"],
        json!({"type": "Pesel", "value": worker.as_str()})
    );
    assert_eq!(item["subjectPersonDetails"]["lastName"], "Abacki");
    assert_eq!(item["authorIdentifier"]["type"], "Nip");

    // Revoking the indirect grant (common endpoint, from the office) ends it.
    let revoke = c
        .delete(
            &format!(
                "/permissions/common/grants/{}",
                item["id"].as_str().unwrap()
            ),
            o,
        )
        .await;
    assert_eq!(revoke.status, StatusCode::ACCEPTED, "{:?}", revoke.body);
    assert_eq!(wait_operation(c, o, &reference(&revoke)).await["code"], 200);
    assert_eq!(
        pesel_login(c, &worker, &client_ctx).await.unwrap_err()["status"]["code"],
        415
    );

    // Refusal: a person with InvoiceRead in the office may not grant indirectly.
    let clerk = Pesel::random();
    grant_person(c, o, &clerk, &["InvoiceRead"]).await;
    let clerk_session: Session = pesel_login(c, &clerk, &ContextIdentifier::Nip(office.clone()))
        .await
        .expect("clerk");
    assert_missing_permissions(
        &c.post(
            INDIRECT,
            Some(&clerk_session.access_token),
            indirect_body(&worker, json!({"type": "AllPartners"}), &["InvoiceRead"]),
        )
        .await,
        &["CredentialsManage"],
    );
}

fn fingerprint_cert(nip: &Nip) -> ksef_crypto::Credential {
    make_test_certificate(
        &TestSubject::person_nip(nip.clone(), "Hans", "Muller"),
        KeyAlgorithm::EcP256,
    )
    .unwrap()
}

async fn fingerprint_login(
    c: &RawClient,
    cred: &ksef_crypto::Credential,
    ctx: &ContextIdentifier,
) -> Result<Session, Value> {
    let signed = c
        .signed_request(cred, ctx, SubjectIdentifierType::CertificateFingerprint)
        .await;
    let init = c.post_xades(signed.as_bytes()).await;
    c.finish_login(&init).await
}

fn eu_admin_body(fingerprint: &str, context: &str) -> Value {
    json!({
        "subjectIdentifier": {"type": "Fingerprint", "value": fingerprint},
        "contextIdentifier": {"type": "NipVatUe", "value": context},
        "description": "Administrator podmiotu unijnego",
        "euEntityName": "Firma G.m.b.H.",
        "subjectDetails": {"subjectDetailsType": "PersonByFingerprintWithIdentifier",
            "personByFpWithId": {"firstName": "Hans", "lastName": "Muller",
                "identifier": {"type": "Pesel", "value": "15062788702"}}},
        "euEntityDetails": {"fullName": "Firma G.m.b.H.", "address": "Berlin, Unter den Linden 1"}
    })
}

#[tokio::test]
async fn eu_entity_administrator_and_representatives() {
    let env = common::start_with_owner(|_| {}).await;
    let (c, owner, nip) = (&env.client, env.access.as_str(), &env.nip);
    let admin_cert = fingerprint_cert(&Nip::random());
    let admin_fp = admin_cert.fingerprint();
    let eu = NipVatUe::new(nip, "DE123456789").unwrap();
    let eu_ctx = ContextIdentifier::NipVatUe(eu.clone());
    assert_eq!(
        fingerprint_login(c, &admin_cert, &eu_ctx)
            .await
            .unwrap_err()["status"]["code"],
        415
    );

    // Validation.
    let good = eu_admin_body(&admin_fp, eu.as_str());
    let mut bad = good.clone();
    bad["subjectIdentifier"] = json!({"type": "Pesel", "value": "15062788702"});
    assert_400(
        &c.post(EU_ADMIN, Some(owner), bad).await,
        "subject must be a fingerprint",
    );
    let mut bad = good.clone();
    bad["subjectIdentifier"]["value"] = json!(&admin_fp[..60]);
    assert_400(
        &c.post(EU_ADMIN, Some(owner), bad).await,
        "fingerprint length",
    );
    let mut bad = good.clone();
    bad["contextIdentifier"]["value"] = json!(format!("{nip}-DE12"));
    assert_400(&c.post(EU_ADMIN, Some(owner), bad).await, "VAT UE pattern");
    let mut bad = good.clone();
    bad["contextIdentifier"]["type"] = json!("Nip");
    assert_400(&c.post(EU_ADMIN, Some(owner), bad).await, "context type");
    let mut bad = good.clone();
    bad["euEntityName"] = json!("Abc");
    assert_400(&c.post(EU_ADMIN, Some(owner), bad).await, "euEntityName");
    let mut bad = good.clone();
    bad.as_object_mut().unwrap().remove("euEntityDetails");
    assert_400(
        &c.post(EU_ADMIN, Some(owner), bad).await,
        "euEntityDetails required",
    );
    let mut bad = good.clone();
    bad["subjectDetails"] = person_by_id();
    assert_400(
        &c.post(EU_ADMIN, Some(owner), bad).await,
        "PersonByIdentifier not allowed",
    );

    // Another entity's NIP in the composite context: 410.
    let foreign = NipVatUe::new(Nip::random(), "DE123456789").unwrap();
    let status = granted(
        c,
        owner,
        EU_ADMIN,
        eu_admin_body(&admin_fp, foreign.as_str()),
    )
    .await;
    assert_eq!(status["code"], 410, "{status:?}");

    let status = granted(c, owner, EU_ADMIN, good).await;
    assert_eq!(status["code"], 200, "{status:?}");

    // The administrator logs in to the NipVatUe context by fingerprint.
    let admin = fingerprint_login(c, &admin_cert, &eu_ctx)
        .await
        .expect("EU admin login")
        .access_token;
    let own = personal(c, &admin, json!({})).await;
    let mut scopes: Vec<&str> = own
        .iter()
        .map(|g| g["permissionScope"].as_str().unwrap())
        .collect();
    scopes.sort_unstable();
    assert_eq!(
        scopes,
        [
            "Introspection",
            "InvoiceRead",
            "InvoiceWrite",
            "VatUeManage"
        ]
    );

    // Representatives: only with VatUeManage (the owner in the NIP context has none).
    let rep_cert = fingerprint_cert(&Nip::random());
    let rep_fp = rep_cert.fingerprint();
    let rep_body = json!({
        "subjectIdentifier": {"type": "Fingerprint", "value": rep_fp},
        "permissions": ["InvoiceRead", "InvoiceWrite"],
        "description": "Reprezentant podmiotu unijnego",
        "subjectDetails": {"subjectDetailsType": "EntityByFingerprint",
            "entityByFp": {"fullName": "Vertreter GmbH", "address": "Wien 1"}}
    });
    assert_missing_permissions(
        &c.post(EU_GRANTS, Some(owner), rep_body.clone()).await,
        &["VatUeManage"],
    );
    let mut bad = rep_body.clone();
    bad["permissions"] = json!(["VatUeManage"]);
    assert_400(
        &c.post(EU_GRANTS, Some(&admin), bad).await,
        "representative permission",
    );
    let mut bad = rep_body.clone();
    bad["subjectDetails"]["entityByFp"] = Value::Null;
    assert_400(
        &c.post(EU_GRANTS, Some(&admin), bad).await,
        "entityByFp required",
    );
    let status = granted(c, &admin, EU_GRANTS, rep_body).await;
    assert_eq!(status["code"], 200, "{status:?}");
    fingerprint_login(c, &rep_cert, &eu_ctx)
        .await
        .expect("representative login");

    // Queries: from the owner's NIP context and from the EU context.
    let all = items(&c.post(EU_QUERY, Some(owner), json!({})).await);
    assert_eq!(all.len(), 6, "{all:?}");
    let manage = items(
        &c.post(
            EU_QUERY,
            Some(owner),
            json!({"permissionTypes": ["VatUeManage"]}),
        )
        .await,
    );
    assert_eq!(manage.len(), 1, "{manage:?}");
    let m = &manage[0];
    assert_eq!(m["vatUeIdentifier"], "DE123456789");
    assert_eq!(m["euEntityName"], "Firma G.m.b.H.");
    assert_eq!(m["authorizedFingerprintIdentifier"], admin_fp.as_str());
    assert_eq!(m["authorIdentifier"]["type"], "Nip");
    assert_eq!(
        m["subjectPersonDetails"]["subjectDetailsType"],
        "PersonByFingerprintWithIdentifier"
    );
    assert_eq!(
        m["euEntityDetails"]["address"],
        "Berlin, Unter den Linden 1"
    );
    let reps = items(
        &c.post(
            EU_QUERY,
            Some(&admin),
            json!({"authorizedFingerprintIdentifier": rep_fp}),
        )
        .await,
    );
    assert_eq!(reps.len(), 2, "{reps:?}");
    assert_eq!(
        reps[0]["subjectEntityDetails"]["subjectDetailsType"],
        "EntityByFingerprint"
    );
    assert_eq!(reps[0]["authorIdentifier"]["type"], "Fingerprint");
    let none = items(
        &c.post(
            EU_QUERY,
            Some(owner),
            json!({"vatUeIdentifier": "ATU12345678"}),
        )
        .await,
    );
    assert!(none.is_empty());
    assert_400(
        &c.post(EU_QUERY, Some(owner), json!({"vatUeIdentifier": "XX123"}))
            .await,
        "vatUeIdentifier pattern",
    );
    assert_400(
        &c.post(
            EU_QUERY,
            Some(owner),
            json!({"permissionTypes": ["CredentialsManage"]}),
        )
        .await,
        "query permission type",
    );

    // Paging: two more EU entities → 14 grants.
    for vat in ["ATU12345678", "FR12123456789"] {
        let ctx = NipVatUe::new(nip, vat).unwrap();
        let status = granted(c, owner, EU_ADMIN, eu_admin_body(&admin_fp, ctx.as_str())).await;
        assert_eq!(status["code"], 200, "{status:?}");
    }
    let p0 = c
        .post(&format!("{EU_QUERY}?pageSize=10"), Some(owner), json!({}))
        .await;
    assert_eq!(items(&p0).len(), 10);
    assert_eq!(p0.body["hasMore"], true);
    let p1 = c
        .post(
            &format!("{EU_QUERY}?pageSize=10&pageOffset=1"),
            Some(owner),
            json!({}),
        )
        .await;
    assert_eq!(items(&p1).len(), 4);
    assert_eq!(p1.body["hasMore"], false);

    // Refusals: a person with InvoiceRead only.
    let clerk = Pesel::random();
    grant_person(c, owner, &clerk, &["InvoiceRead"]).await;
    let p = pesel_login(c, &clerk, &ContextIdentifier::Nip(nip.clone()))
        .await
        .expect("clerk")
        .access_token;
    assert_missing_permissions(
        &c.post(EU_ADMIN, Some(&p), eu_admin_body(&admin_fp, eu.as_str()))
            .await,
        &["CredentialsManage"],
    );
    assert_missing_permissions(
        &c.post(EU_QUERY, Some(&p), json!({})).await,
        &["CredentialsManage", "CredentialsRead", "VatUeManage"],
    );
}

async fn peppol(c: &RawClient, params: &str) -> Answer {
    // Public endpoint: no bearer.
    c.call(
        reqwest::Method::GET,
        &format!("/peppol/query{params}"),
        None,
        None,
    )
    .await
}

#[tokio::test]
async fn peppol_providers_are_public_and_paged() {
    let env = common::start_with_owner(|_| {}).await;
    let (c, owner) = (&env.client, env.access.as_str());
    let empty = peppol(c, "").await;
    assert_eq!(empty.status, StatusCode::OK, "{:?}", empty.body);
    assert_eq!(empty.body, json!({"peppolProviders": [], "hasMore": false}));

    // Providers become known through PefInvoicing authorizations.
    for i in 0..11 {
        let id = format!("PPL{:06}", 100 + i);
        let status = granted(
            c,
            owner,
            "/permissions/authorizations/grants",
            json!({"subjectIdentifier": {"type": "PeppolId", "value": id},
                   "permission": "PefInvoicing", "description": "Dostawca PEF",
                   "subjectDetails": {"fullName": format!("Dostawca {i:02}")}}),
        )
        .await;
        assert_eq!(status["code"], 200, "{status:?}");
    }
    let p0 = peppol(c, "?pageSize=10").await;
    assert_eq!(p0.status, StatusCode::OK, "{:?}", p0.body);
    let list = p0.body["peppolProviders"].as_array().unwrap();
    assert_eq!(list.len(), 10);
    assert_eq!(p0.body["hasMore"], true);
    // dateCreated descending: the last registered comes first.
    assert_eq!(list[0]["id"], "PPL000110");
    assert_eq!(list[0]["name"], "Dostawca 10");
    assert!(list[0]["dateCreated"].is_string());
    let p1 = peppol(c, "?pageSize=10&pageOffset=1").await;
    assert_eq!(p1.body["peppolProviders"].as_array().unwrap().len(), 1);
    assert_eq!(p1.body["hasMore"], false);
    let bad = peppol(c, "?pageSize=101").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{:?}", bad.body);
}
