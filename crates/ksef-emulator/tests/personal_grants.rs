//! `POST /permissions/query/personal/grants` (digest §7.6) over real HTTP against an
//! in-process emulator: the owner sees no grants (ownership is a role), a person sees exactly
//! their own grants, the NIP–PESEL link joins grants to both identifiers, paging by page index
//! with `hasMore`, the filters, and the error answers.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use ksef_core::{ContextIdentifier, Nip, Pesel};
use ksef_crypto::KeyAlgorithm;
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_emulator::{EmulatorConfig, RunningEmulator};
use ksef_testkit::{Answer, RawClient, Session};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const PATH: &str = "/permissions/query/personal/grants";

/// The properties `PersonalPermission` requires in `open-api.json`.
const REQUIRED: [&str; 6] = [
    "id",
    "permissionScope",
    "description",
    "permissionState",
    "startDate",
    "canDelegate",
];

async fn emulator() -> (tempfile::TempDir, RunningEmulator, RawClient) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EmulatorConfig::new(dir.path());
    config.auth_processing_delay = Duration::from_millis(20);
    let emu = ksef_emulator::spawn(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let c = RawClient::new(&emu.base_url());
    (dir, emu, c)
}

/// `/testdata/permissions` for one identifier (`kind` = "Nip" or "Pesel").
async fn grant(c: &RawClient, ctx: &Nip, kind: &str, value: &str, perms: &[&str]) {
    let perms: Vec<Value> = perms
        .iter()
        .map(|p| json!({"permissionType": p, "description": format!("Nadane w teście: {p}")}))
        .collect();
    let a = c
        .post(
            "/testdata/permissions",
            None,
            json!({"contextIdentifier": {"type": "Nip", "value": ctx.as_str()},
                   "authorizedIdentifier": {"type": kind, "value": value},
                   "permissions": perms}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
}

async fn login(c: &RawClient, subject: TestSubject, ctx: &Nip) -> Session {
    let cert = make_test_certificate(&subject, KeyAlgorithm::EcP256).unwrap();
    c.login_with_certificate(&cert, &ContextIdentifier::Nip(ctx.clone()))
        .await
        .expect("login")
}

async fn query(c: &RawClient, s: &Session, params: &str, body: Value) -> Answer {
    c.post(&format!("{PATH}{params}"), Some(&s.access_token), body)
        .await
}

/// The permission items of a 200 answer, each checked for the required properties.
fn items(a: &Answer) -> Vec<Value> {
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert!(a.body["hasMore"].is_boolean(), "{:?}", a.body);
    let list = a.body["permissions"].as_array().expect("permissions array");
    for p in list {
        for f in REQUIRED {
            assert!(p.get(f).is_some_and(|v| !v.is_null()), "missing {f} in {p}");
        }
    }
    list.clone()
}

fn scopes(list: &[Value]) -> BTreeSet<String> {
    list.iter()
        .map(|p| p["permissionScope"].as_str().unwrap().to_string())
        .collect()
}

fn start(p: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(p["startDate"].as_str().unwrap(), &Rfc3339).unwrap()
}

#[tokio::test]
async fn owner_sees_nothing_person_sees_exactly_own_grants() {
    let (_dir, _emu, c) = emulator().await;
    let nip = Nip::random();
    let (reader, clerk) = (Pesel::random(), Pesel::random());
    grant(
        &c,
        &nip,
        "Pesel",
        reader.as_str(),
        &["CredentialsRead", "InvoiceRead"],
    )
    .await;
    grant(&c, &nip, "Pesel", clerk.as_str(), &["InvoiceWrite"]).await;

    // No bearer → 401 Problem Details.
    let a = c.post(PATH, None, json!({})).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{:?}", a.body);
    assert_eq!(a.body["status"], 401);

    // The owner holds everything by role, but has no grant: empty list.
    let owner = login(&c, TestSubject::seal(nip.clone(), "Firma Testowa"), &nip).await;
    let a = query(&c, &owner, "", json!({})).await;
    assert!(items(&a).is_empty(), "{:?}", a.body);
    assert_eq!(a.body["hasMore"], false);

    // The reader sees her two grants — and not the clerk's.
    let s = login(
        &c,
        TestSubject::person_pesel(reader.clone(), "Ewa", "Testowa"),
        &nip,
    )
    .await;
    let a = query(&c, &s, "", json!({})).await;
    let list = items(&a);
    assert_eq!(
        scopes(&list),
        BTreeSet::from(["CredentialsRead".to_string(), "InvoiceRead".to_string()])
    );
    assert_eq!(list.len(), 2);
    assert_eq!(a.body["hasMore"], false);
    for p in &list {
        assert_eq!(p["id"].as_str().unwrap().len(), 36, "{p}");
        assert_eq!(
            p["contextIdentifier"],
            json!({"type": "Nip", "value": nip.as_str()})
        );
        assert_eq!(
            p["authorizedIdentifier"],
            json!({"type": "Pesel", "value": reader.as_str()})
        );
        assert_eq!(p["permissionState"], "Active");
        assert_eq!(p["canDelegate"], false);
        let scope = p["permissionScope"].as_str().unwrap();
        assert_eq!(p["description"], format!("Nadane w teście: {scope}"));
        let age = OffsetDateTime::now_utc() - start(p);
        assert!(
            age >= time::Duration::ZERO && age < time::Duration::minutes(5),
            "{p}"
        );
    }
    assert_ne!(list[0]["id"], list[1]["id"]);

    // An empty body (the OpenAPI request body is optional) = no filters.
    let a = c
        .call(Method::POST, PATH, Some(&s.access_token), None)
        .await;
    assert_eq!(items(&a).len(), 2);

    // Revoked grants disappear at once.
    let a = c
        .post(
            "/testdata/permissions/revoke",
            None,
            json!({"contextIdentifier": {"type": "Nip", "value": nip.as_str()},
                   "authorizedIdentifier": {"type": "Pesel", "value": reader.as_str()}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert!(items(&query(&c, &s, "", json!({})).await).is_empty());
}

#[tokio::test]
async fn linked_person_paging_and_filters() {
    let (_dir, _emu, c) = emulator().await;
    let company = Nip::random();
    let (person_nip, pesel) = (Nip::random(), Pesel::random());
    let a = c
        .post(
            "/testdata/person",
            None,
            json!({"nip": person_nip.as_str(), "pesel": pesel.as_str(), "isBailiff": false,
                   "description": "Osoba testowa"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);

    // 7 grants to the PESEL, then (later) 5 to the linked NIP: 12 in all.
    let to_pesel = [
        "InvoiceRead",
        "InvoiceWrite",
        "Introspection",
        "CredentialsRead",
        "CredentialsManage",
        "SubunitManage",
        "EnforcementOperations",
    ];
    let to_nip = [
        "InvoiceRead",
        "InvoiceWrite",
        "Introspection",
        "CredentialsRead",
        "SubunitManage",
    ];
    grant(&c, &company, "Pesel", pesel.as_str(), &to_pesel).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    grant(&c, &company, "Nip", person_nip.as_str(), &to_nip).await;
    // Someone else's grant in the same context never shows.
    grant(
        &c,
        &company,
        "Pesel",
        Pesel::random().as_str(),
        &["InvoiceRead"],
    )
    .await;

    // Logged in with the PESEL: grants to either identifier, page by page.
    let s = login(
        &c,
        TestSubject::person_pesel(pesel.clone(), "Jan", "Testowy"),
        &company,
    )
    .await;
    let first = query(&c, &s, "?pageSize=10", json!({})).await;
    let page0 = items(&first);
    assert_eq!(page0.len(), 10);
    assert_eq!(first.body["hasMore"], true);
    let second = query(&c, &s, "?pageOffset=1&pageSize=10", json!({})).await;
    let page1 = items(&second);
    assert_eq!(page1.len(), 2);
    assert_eq!(second.body["hasMore"], false);
    let past_end = query(&c, &s, "?pageOffset=2", json!({})).await;
    assert!(items(&past_end).is_empty());
    assert_eq!(past_end.body["hasMore"], false);

    let all: Vec<Value> = page0.into_iter().chain(page1).collect();
    let ids: BTreeSet<&str> = all.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 12, "pages overlap");
    // startDate descending, then id ascending — the NIP grants (later) come first.
    for w in all.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        assert!(
            start(a) > start(b) || (start(a) == start(b) && a["id"].as_str() < b["id"].as_str()),
            "order: {a} before {b}"
        );
    }
    assert!(
        all[..5]
            .iter()
            .all(|p| p["authorizedIdentifier"]["type"] == "Nip")
    );
    assert!(
        all[5..]
            .iter()
            .all(|p| p["authorizedIdentifier"]["type"] == "Pesel")
    );
    // One page of 100 holds everything.
    let a = query(&c, &s, "?pageSize=100", json!({})).await;
    assert_eq!(items(&a).len(), 12);
    assert_eq!(a.body["hasMore"], false);

    // Logged in with the linked NIP: the same twelve.
    let by_nip = login(
        &c,
        TestSubject::person_nip(person_nip.clone(), "Jan", "Testowy"),
        &company,
    )
    .await;
    let a = query(&c, &by_nip, "?pageSize=100", json!({})).await;
    let nip_ids: BTreeSet<String> = items(&a)
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        nip_ids,
        ids.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>()
    );

    // permissionTypes: one grant per identifier holding it.
    let a = query(
        &c,
        &s,
        "",
        json!({"permissionTypes": ["InvoiceRead", "CredentialsManage"]}),
    )
    .await;
    let list = items(&a);
    assert_eq!(list.len(), 3, "{list:?}");
    assert_eq!(
        scopes(&list),
        BTreeSet::from(["InvoiceRead".to_string(), "CredentialsManage".to_string()])
    );
    let a = query(&c, &s, "", json!({"permissionTypes": ["VatUeManage"]})).await;
    assert!(items(&a).is_empty());

    // The OpenAPI example body shape, with the current context: everything matches.
    let ctx = json!({"type": "Nip", "value": company.as_str()});
    let a = query(
        &c,
        &s,
        "?pageSize=100",
        json!({"contextIdentifier": ctx, "permissionState": "Active"}),
    )
    .await;
    assert_eq!(items(&a).len(), 12);
    // Another context, inactive state, an indirect target: nothing of ours matches.
    for body in [
        json!({"contextIdentifier": {"type": "Nip", "value": Nip::random().as_str()}}),
        json!({"permissionState": "Inactive"}),
        json!({"targetIdentifier": {"type": "AllPartners"}}),
    ] {
        let a = query(&c, &s, "", body.clone()).await;
        assert!(items(&a).is_empty(), "{body}: {:?}", a.body);
    }
}

#[tokio::test]
async fn malformed_requests_are_21405() {
    let (_dir, _emu, c) = emulator().await;
    let nip = Nip::random();
    let owner = login(&c, TestSubject::seal(nip.clone(), "Firma Testowa"), &nip).await;

    for params in [
        "?pageSize=5",
        "?pageSize=101",
        "?pageSize=ten",
        "?pageOffset=-1",
        "?pageOffset=x",
        "?pageOffset=3000000000",
    ] {
        let a = query(&c, &owner, params, json!({})).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{params}: {:?}", a.body);
        assert_eq!(a.exception_code(), Some(21405), "{params}");
    }
    for body in [
        json!({"permissionTypes": ["InvoiceRead", "Owner"]}),
        json!({"permissionTypes": "InvoiceRead"}),
        json!({"permissionState": "Revoked"}),
        json!({"contextIdentifier": {"type": "Nip", "value": "123"}}),
        json!({"contextIdentifier": {"type": "Pesel", "value": "15062788702"}}),
        json!({"targetIdentifier": {"type": "Nip"}}),
        json!([]),
    ] {
        let a = query(&c, &owner, "", body.clone()).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}: {:?}", a.body);
        assert_eq!(a.exception_code(), Some(21405), "{body}");
    }
    // Not JSON at all (RawClient only sends JSON values, so plain reqwest here).
    let resp = ksef_testkit::http_client()
        .post(format!("{}{PATH}", c.base_url()))
        .bearer_auth(&owner.access_token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["exception"]["exceptionDetailList"][0]["exceptionCode"],
        21405
    );

    // A bad token is 401 even with a malformed body.
    let a = c
        .post(PATH, Some("not-a-jwt"), json!({"permissionTypes": 5}))
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{:?}", a.body);
    // A correct query with valid paging still works for this session.
    let a = query(&c, &owner, "?pageOffset=0&pageSize=100", json!({})).await;
    assert!(items(&a).is_empty());
}
