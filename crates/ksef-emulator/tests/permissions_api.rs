//! The permission-management API (digest §7.3–§7.7) over real HTTP against an in-process
//! emulator: person grants and their asynchronous operation, their effect on the grantee's next
//! login, the persons query (fields, filters, paging), revocation, the required permissions
//! (403 `missing-permissions`), body validation (400/21405), attachment consent and roles.

mod common;

use common::{assert_400, assert_missing_permissions, items, reference, wait_operation};

use std::time::Duration;

use ksef_core::{ContextIdentifier, Nip, Pesel};
use ksef_crypto::KeyAlgorithm;
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_testkit::{Answer, RawClient, Session};
use reqwest::StatusCode;
use serde_json::{Value, json};

const GRANTS: &str = "/permissions/persons/grants";
const QUERY: &str = "/permissions/query/persons/grants";

fn grant_body(pesel: &Pesel, permissions: &[&str]) -> Value {
    json!({
        "subjectIdentifier": {"type": "Pesel", "value": pesel.as_str()},
        "permissions": permissions,
        "description": "Księgowa — odczyt uprawnień",
        "subjectDetails": {
            "subjectDetailsType": "PersonByIdentifier",
            "personById": {"firstName": "Adam", "lastName": "Abacki"}
        }
    })
}

/// POST a grant, expect 202, return the operation reference number.
async fn grant(c: &RawClient, access: &str, body: Value) -> String {
    let a = c.post(GRANTS, Some(access), body).await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{:?}", a.body);
    reference(&a)
}

async fn person_login(c: &RawClient, pesel: &Pesel, ctx: &Nip) -> Result<Session, Value> {
    common::pesel_login(c, pesel, &ContextIdentifier::Nip(ctx.clone())).await
}

async fn query(c: &RawClient, access: &str, params: &str, body: Value) -> Answer {
    c.post(&format!("{QUERY}{params}"), Some(access), body)
        .await
}

#[tokio::test]
async fn grant_takes_effect_and_revocation_removes_it() {
    let env = common::start_with_owner(|_| {}).await;
    let (c, owner, nip) = (&env.client, env.access.as_str(), &env.nip);
    let pesel = Pesel::random();

    // Without any grant the person cannot work in the context (auth status 415).
    let denied = person_login(c, &pesel, nip).await.unwrap_err();
    assert_eq!(denied["status"]["code"], 415, "{denied:?}");

    let op = grant(
        c,
        owner,
        grant_body(&pesel, &["CredentialsRead", "InvoiceRead"]),
    )
    .await;
    let status = wait_operation(c, owner, &op).await;
    assert_eq!(status["code"], 200, "{status:?}");

    // The person now logs in and holds exactly the granted permissions.
    let person = person_login(c, &pesel, nip).await.expect("person login");
    let p = person.access_token.as_str();
    let tokens = c.get("/tokens", p).await;
    assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.body);
    // A token needs permissions the caller holds (26001): InvoiceWrite was not granted.
    let t = c
        .post(
            "/tokens",
            Some(p),
            json!({"permissions": ["InvoiceWrite"], "description": "Token testowy"}),
        )
        .await;
    assert_eq!(t.status, StatusCode::BAD_REQUEST, "{:?}", t.body);
    assert_eq!(t.exception_code(), Some(26001), "{:?}", t.body);
    // CredentialsRead is not CredentialsManage: granting and revoking are forbidden.
    let other = Pesel::random();
    let g = c
        .post(GRANTS, Some(p), grant_body(&other, &["InvoiceRead"]))
        .await;
    assert_missing_permissions(&g, &["CredentialsManage"]);
    let personal = c
        .post("/permissions/query/personal/grants", Some(p), json!({}))
        .await;
    let mut own: Vec<String> = items(&personal)
        .iter()
        .map(|i| i["permissionScope"].as_str().unwrap().to_string())
        .collect();
    own.sort();
    assert_eq!(own, ["CredentialsRead", "InvoiceRead"]);

    // The owner sees both grants with the documented fields.
    let list = items(
        &query(
            c,
            owner,
            "",
            json!({"queryType": "PermissionsInCurrentContext"}),
        )
        .await,
    );
    assert_eq!(list.len(), 2, "{list:?}");
    let read = list
        .iter()
        .find(|i| i["permissionScope"] == "CredentialsRead")
        .expect("CredentialsRead grant")
        .clone();
    assert_eq!(read["id"].as_str().unwrap().len(), 36);
    assert_eq!(
        read["authorizedIdentifier"],
        json!({"type": "Pesel", "value": pesel.as_str()})
    );
    assert_eq!(
        read["authorIdentifier"],
        json!({"type": "Nip", "value": nip.as_str()})
    );
    assert_eq!(
        read["contextIdentifier"],
        json!({"type": "Nip", "value": nip.as_str()})
    );
    assert_eq!(read["description"], "Księgowa — odczyt uprawnień");
    assert_eq!(read["permissionState"], "Active");
    assert_eq!(read["canDelegate"], false);
    assert!(read["startDate"].is_string(), "{read:?}");
    assert_eq!(
        read["subjectPersonDetails"],
        json!({"subjectDetailsType": "PersonByIdentifier", "firstName": "Adam", "lastName": "Abacki"})
    );
    // The person (CredentialsRead) may query too; they granted nothing themselves.
    assert_eq!(
        items(
            &query(
                c,
                p,
                "",
                json!({"queryType": "PermissionsInCurrentContext"})
            )
            .await
        )
        .len(),
        2
    );
    assert!(
        items(
            &query(
                c,
                p,
                "",
                json!({"queryType": "PermissionsGrantedInCurrentContext"})
            )
            .await
        )
        .is_empty()
    );
    // Filters.
    let by_owner = json!({"queryType": "PermissionsGrantedInCurrentContext",
        "authorIdentifier": {"type": "Nip", "value": nip.as_str()},
        "authorizedIdentifier": {"type": "Pesel", "value": pesel.as_str()},
        "permissionTypes": ["CredentialsRead"], "permissionState": "Active"});
    let one = items(&query(c, owner, "", by_owner).await);
    assert_eq!(one.len(), 1, "{one:?}");
    assert_eq!(one[0]["id"], read["id"]);
    for filter in [
        json!({"queryType": "PermissionsInCurrentContext", "authorIdentifier": {"type": "System"}}),
        json!({"queryType": "PermissionsInCurrentContext", "permissionState": "Inactive"}),
        json!({"queryType": "PermissionsInCurrentContext", "permissionTypes": ["InvoiceWrite"]}),
        json!({"queryType": "PermissionsInCurrentContext",
               "authorizedIdentifier": {"type": "Pesel", "value": other.as_str()}}),
    ] {
        assert!(
            items(&query(c, owner, "", filter.clone()).await).is_empty(),
            "{filter}"
        );
    }

    // Revocation needs CredentialsManage too.
    let path = format!(
        "/permissions/common/grants/{}",
        read["id"].as_str().unwrap()
    );
    assert_missing_permissions(
        &c.delete(&path, p).await,
        &["CredentialsManage", "VatUeManage", "SubunitManage"],
    );
    let r = c.delete(&path, owner).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let status = wait_operation(c, owner, &reference(&r)).await;
    assert_eq!(status["code"], 200, "{status:?}");
    // Revoking it again: accepted, the operation fails (the grant no longer exists).
    let again = c.delete(&path, owner).await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{:?}", again.body);
    let status = wait_operation(c, owner, &reference(&again)).await;
    assert_eq!(status["code"], 400, "{status:?}");

    // The person's next login lacks CredentialsRead.
    let person = person_login(c, &pesel, nip)
        .await
        .expect("login with InvoiceRead");
    let p = person.access_token.as_str();
    assert_missing_permissions(
        &query(
            c,
            p,
            "",
            json!({"queryType": "PermissionsInCurrentContext"}),
        )
        .await,
        &["CredentialsManage", "CredentialsRead", "SubunitManage"],
    );
    let list = items(
        &query(
            c,
            owner,
            "",
            json!({"queryType": "PermissionsInCurrentContext"}),
        )
        .await,
    );
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["permissionScope"], "InvoiceRead");
}

#[tokio::test]
async fn invalid_requests_are_rejected() {
    let env = common::start_with_owner(|_| {}).await;
    let (c, owner) = (&env.client, env.access.as_str());
    let pesel = Pesel::random();
    let good = grant_body(&pesel, &["InvoiceRead"]);
    let with = |path: &str, v: Value| {
        let mut b = good.clone();
        let mut target = &mut b;
        let parts: Vec<&str> = path.split('.').collect();
        for p in &parts[..parts.len() - 1] {
            target = &mut target[*p];
        }
        let last = parts[parts.len() - 1];
        if v.is_null() {
            target.as_object_mut().unwrap().remove(last);
        } else {
            target[last] = v;
        }
        b
    };
    let cases = [
        ("short description", with("description", json!("abcd"))),
        (
            "long description",
            with("description", json!("x".repeat(257))),
        ),
        ("no description", with("description", Value::Null)),
        ("no subjectDetails", with("subjectDetails", Value::Null)),
        (
            "no subjectIdentifier",
            with("subjectIdentifier", Value::Null),
        ),
        ("no permissions", with("permissions", Value::Null)),
        ("empty permissions", with("permissions", json!([]))),
        (
            "duplicate permission",
            with("permissions", json!(["InvoiceRead", "InvoiceRead"])),
        ),
        (
            "unknown permission",
            with("permissions", json!(["VatUeManage"])),
        ),
        (
            "bad PESEL checksum",
            with("subjectIdentifier.value", json!("15062788703")),
        ),
        (
            "bad NIP checksum",
            with(
                "subjectIdentifier",
                json!({"type": "Nip", "value": "5265877636"}),
            ),
        ),
        (
            "unknown identifier type",
            with(
                "subjectIdentifier",
                json!({"type": "Email", "value": "a@b.pl"}),
            ),
        ),
        (
            "personById missing",
            with("subjectDetails.personById", Value::Null),
        ),
        (
            "first name too short",
            with("subjectDetails.personById.firstName", json!("A")),
        ),
        (
            "fingerprint details for a PESEL",
            with(
                "subjectDetails.subjectDetailsType",
                json!("PersonByFingerprintWithoutIdentifier"),
            ),
        ),
    ];
    for (what, body) in cases {
        assert_400(&c.post(GRANTS, Some(owner), body).await, what);
    }
    // Not JSON at all.
    let raw = ksef_testkit::http_client()
        .post(format!("{}{GRANTS}", c.base_url()))
        .bearer_auth(owner)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    // No bearer: 401 before anything else.
    let a = c.post(GRANTS, None, good.clone()).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{:?}", a.body);

    // A fingerprint subject with the matching details is fine.
    let fp = "A".repeat(64);
    let op = grant(
        c,
        owner,
        json!({
            "subjectIdentifier": {"type": "Fingerprint", "value": fp},
            "permissions": ["InvoiceWrite"],
            "description": "Osoba bez identyfikatora",
            "subjectDetails": {
                "subjectDetailsType": "PersonByFingerprintWithoutIdentifier",
                "personByFpNoId": {"firstName": "John", "lastName": "Smith",
                    "birthDate": "1980-01-02",
                    "idDocument": {"type": "Passport", "number": "X1234567", "country": "GB"}}
            }
        }),
    )
    .await;
    assert_eq!(wait_operation(c, owner, &op).await["code"], 200);

    // EnforcementOperations outside an enforcement context: accepted, the operation ends 430.
    let op = grant(c, owner, grant_body(&pesel, &["EnforcementOperations"])).await;
    assert_eq!(wait_operation(c, owner, &op).await["code"], 430);

    // Persons query: queryType required, known values only, bounded page size.
    assert_400(&query(c, owner, "", json!({})).await, "no queryType");
    assert_400(
        &query(c, owner, "", json!({"queryType": "Everything"})).await,
        "unknown queryType",
    );
    assert_400(
        &query(
            c,
            owner,
            "",
            json!({"queryType": "PermissionsInCurrentContext",
                   "authorIdentifier": {"type": "Nip"}}),
        )
        .await,
        "author without value",
    );
    let q = json!({"queryType": "PermissionsInCurrentContext"});
    for params in [
        "?pageSize=9",
        "?pageSize=101",
        "?pageOffset=-1",
        "?pageSize=x",
    ] {
        assert_400(&query(c, owner, params, q.clone()).await, params);
    }
    for params in ["?pageSize=10", "?pageSize=100&pageOffset=0"] {
        items(&query(c, owner, params, q.clone()).await);
    }

    // Operation status: malformed or foreign reference numbers.
    let a = c
        .get("/permissions/operations/not-a-reference", owner)
        .await;
    assert_400(&a, "malformed reference");
    let other_nip = Nip::random();
    // Its owner, as a natural person with a certificate carrying the NIP.
    let other_owner = c
        .login_with_certificate(
            &common::person_cert(&other_nip),
            &ContextIdentifier::Nip(other_nip.clone()),
        )
        .await
        .expect("other owner login")
        .access_token;
    let a = c
        .get(&format!("/permissions/operations/{op}"), &other_owner)
        .await;
    assert_400(&a, "operation of another context");
    // Revocation: a permission id must be 36 characters.
    assert_400(
        &c.delete("/permissions/common/grants/123", owner).await,
        "short permission id",
    );
}

#[tokio::test]
async fn persons_query_pages_sorted() {
    let env = common::start_with_owner(|_| {}).await;
    let (c, owner) = (&env.client, env.access.as_str());
    let all = [
        "CredentialsManage",
        "CredentialsRead",
        "InvoiceWrite",
        "InvoiceRead",
        "Introspection",
        "SubunitManage",
    ];
    // 12 grants: six for each of two persons, in two operations (two start dates).
    for _ in 0..2 {
        let op = grant(c, owner, grant_body(&Pesel::random(), &all)).await;
        assert_eq!(wait_operation(c, owner, &op).await["code"], 200);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let q = json!({"queryType": "PermissionsInCurrentContext"});
    let first = query(c, owner, "?pageSize=10", q.clone()).await;
    let page0 = items(&first);
    assert_eq!(page0.len(), 10);
    assert_eq!(first.body["hasMore"], true);
    let second = query(c, owner, "?pageSize=10&pageOffset=1", q.clone()).await;
    let page1 = items(&second);
    assert_eq!(page1.len(), 2);
    assert_eq!(second.body["hasMore"], false);
    let third = query(c, owner, "?pageSize=10&pageOffset=2", q.clone()).await;
    assert!(items(&third).is_empty());
    assert_eq!(third.body["hasMore"], false);

    let whole: Vec<Value> = page0.into_iter().chain(page1).collect();
    let keys: Vec<(String, String)> = whole
        .iter()
        .map(|i| {
            (
                i["startDate"].as_str().unwrap().to_string(),
                i["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    // startDate descending (same format and offset, so text order is time order), id ascending.
    sorted.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    assert_eq!(keys, sorted);
    let mut ids: Vec<&String> = keys.iter().map(|k| &k.1).collect();
    ids.dedup();
    assert_eq!(ids.len(), 12, "ids repeat across pages");
    // A page of 100 holds everything.
    let big = query(c, owner, "?pageSize=100", q).await;
    assert_eq!(items(&big).len(), 12);
    assert_eq!(big.body["hasMore"], false);
}

#[tokio::test]
async fn attachment_status_and_roles() {
    let env = common::start_with_owner(|_| {}).await;
    let (c, owner, nip) = (&env.client, env.access.as_str(), &env.nip);
    let a = c.get("/permissions/attachments/status", owner).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body["isAttachmentAllowed"], false);
    assert!(a.body["revokedDate"].is_null(), "{:?}", a.body);
    let on = c
        .post("/testdata/attachment", None, json!({"nip": nip.as_str()}))
        .await;
    assert_eq!(on.status, StatusCode::OK, "{:?}", on.body);
    let a = c.get("/permissions/attachments/status", owner).await;
    assert_eq!(a.body["isAttachmentAllowed"], true, "{:?}", a.body);
    let off = c
        .post(
            "/testdata/attachment/revoke",
            None,
            json!({"nip": nip.as_str(), "expectedEndDate": "2030-01-31"}),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{:?}", off.body);
    let a = c.get("/permissions/attachments/status", owner).await;
    assert_eq!(a.body["isAttachmentAllowed"], false, "{:?}", a.body);
    assert!(
        a.body["revokedDate"]
            .as_str()
            .is_some_and(|d| d.starts_with("2030-01-31T00:00:00")),
        "{:?}",
        a.body
    );

    let r = c.get("/permissions/query/entities/roles", owner).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body, json!({"roles": [], "hasMore": false}));
    assert_400(
        &c.get("/permissions/query/entities/roles?pageSize=5", owner)
            .await,
        "roles page size",
    );

    // An enforcement authority has its role listed.
    let authority = Nip::random();
    let s = c
        .post(
            "/testdata/subject",
            None,
            json!({"subjectNip": authority.as_str(), "subjectType": "EnforcementAuthority",
                   "description": "Organ egzekucyjny testowy"}),
        )
        .await;
    assert_eq!(s.status, StatusCode::OK, "{:?}", s.body);
    let access = common::owner_login(c, &authority).await;
    let r = c.get("/permissions/query/entities/roles", &access).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        r.body["roles"][0]["role"], "EnforcementAuthority",
        "{:?}",
        r.body
    );
    assert_eq!(
        r.body["roles"][0]["description"],
        "Organ egzekucyjny testowy"
    );
    assert!(r.body["roles"][0]["startDate"].is_string());
    // There, EnforcementOperations can be granted.
    let op = grant(
        c,
        &access,
        grant_body(&Pesel::random(), &["EnforcementOperations"]),
    )
    .await;
    assert_eq!(wait_operation(c, &access, &op).await["code"], 200);

    // A person holding only InvoiceRead may read neither.
    let pesel = Pesel::random();
    let op = grant(c, owner, grant_body(&pesel, &["InvoiceRead"])).await;
    assert_eq!(wait_operation(c, owner, &op).await["code"], 200);
    let person = person_login(c, &pesel, nip).await.expect("person login");
    let p = person.access_token.as_str();
    for path in [
        "/permissions/attachments/status",
        "/permissions/query/entities/roles",
    ] {
        assert_missing_permissions(
            &c.get(path, p).await,
            &["CredentialsManage", "CredentialsRead"],
        );
    }
}

#[tokio::test]
async fn entity_grants_take_effect_and_are_listed() {
    let env = common::start_with_owner(|_| {}).await;
    let (c, owner, nip) = (&env.client, env.access.as_str(), &env.nip);
    let office = Nip::random();
    let office_seal = make_test_certificate(
        &TestSubject::seal(office.clone(), "Biuro Rachunkowe Sp. z o.o."),
        KeyAlgorithm::EcP256,
    )
    .unwrap();
    let in_ctx = ContextIdentifier::Nip(nip.clone());
    let denied = c
        .login_with_certificate(&office_seal, &in_ctx)
        .await
        .unwrap_err();
    assert_eq!(denied["status"]["code"], 415, "{denied:?}");

    let body = json!({
        "subjectIdentifier": {"type": "Nip", "value": office.as_str()},
        "permissions": [{"type": "InvoiceRead", "canDelegate": true}, {"type": "InvoiceWrite"}],
        "description": "Biuro rachunkowe — faktury",
        "subjectDetails": {"fullName": "Biuro Rachunkowe Sp. z o.o."}
    });
    // Validation first.
    let mut bad = body.clone();
    bad["subjectIdentifier"]["value"] = json!("5265877636");
    assert_400(
        &c.post("/permissions/entities/grants", Some(owner), bad)
            .await,
        "entity NIP checksum",
    );
    let mut bad = body.clone();
    bad["subjectIdentifier"]["type"] = json!("Pesel");
    assert_400(
        &c.post("/permissions/entities/grants", Some(owner), bad)
            .await,
        "entity identifier type",
    );
    let mut bad = body.clone();
    bad["subjectDetails"]["fullName"] = json!("Abc");
    assert_400(
        &c.post("/permissions/entities/grants", Some(owner), bad)
            .await,
        "entity full name",
    );
    let mut bad = body.clone();
    bad["permissions"] = json!([{"type": "SelfInvoicing"}]);
    assert_400(
        &c.post("/permissions/entities/grants", Some(owner), bad)
            .await,
        "entity permission type",
    );

    let a = c
        .post("/permissions/entities/grants", Some(owner), body)
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{:?}", a.body);
    assert_eq!(wait_operation(c, owner, &reference(&a)).await["code"], 200);

    // The office now works in the client's context.
    let office_in_client = c
        .login_with_certificate(&office_seal, &in_ctx)
        .await
        .expect("office login in client's context");
    let personal = c
        .post(
            "/permissions/query/personal/grants",
            Some(&office_in_client.access_token),
            json!({}),
        )
        .await;
    assert_eq!(items(&personal).len(), 2);

    // The client's persons query lists them with the entity's data.
    let list = items(
        &query(
            c,
            owner,
            "",
            json!({"queryType": "PermissionsInCurrentContext",
                   "authorizedIdentifier": {"type": "Nip", "value": office.as_str()}}),
        )
        .await,
    );
    assert_eq!(list.len(), 2, "{list:?}");
    let read = list
        .iter()
        .find(|i| i["permissionScope"] == "InvoiceRead")
        .expect("InvoiceRead")
        .clone();
    assert_eq!(read["canDelegate"], true);
    assert_eq!(
        read["subjectEntityDetails"],
        json!({"subjectDetailsType": "EntityByIdentifier", "fullName": "Biuro Rachunkowe Sp. z o.o."})
    );

    // In its own context the office sees what it received.
    let office_own = common::owner_login(c, &office).await;
    let received = c
        .post(
            "/permissions/query/entities/grants",
            Some(&office_own),
            json!({}),
        )
        .await;
    let got = items(&received);
    assert_eq!(got.len(), 2, "{got:?}");
    for i in &got {
        assert_eq!(
            i["contextIdentifier"],
            json!({"type": "Nip", "value": nip.as_str()})
        );
        assert_eq!(i["description"], "Biuro rachunkowe — faktury");
        assert_eq!(i["id"].as_str().unwrap().len(), 36);
        assert!(i["startDate"].is_string());
    }
    let filtered = c
        .post(
            "/permissions/query/entities/grants",
            Some(&office_own),
            json!({"contextIdentifier": {"type": "Nip", "value": Nip::random().as_str()}}),
        )
        .await;
    assert!(items(&filtered).is_empty());
    // An empty body is allowed (no filter).
    let no_body = ksef_testkit::http_client()
        .post(format!(
            "{}/permissions/query/entities/grants",
            c.base_url()
        ))
        .bearer_auth(&office_own)
        .send()
        .await
        .unwrap();
    assert_eq!(no_body.status(), StatusCode::OK);
    // The client received nothing.
    let none = c
        .post("/permissions/query/entities/grants", Some(owner), json!({}))
        .await;
    assert!(items(&none).is_empty());

    // Revoking both removes the office's access to the client's context.
    for i in &list {
        let r = c
            .delete(
                &format!("/permissions/common/grants/{}", i["id"].as_str().unwrap()),
                owner,
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
        assert_eq!(wait_operation(c, owner, &reference(&r)).await["code"], 200);
    }
    let denied = c
        .login_with_certificate(&office_seal, &in_ctx)
        .await
        .unwrap_err();
    assert_eq!(denied["status"]["code"], 415, "{denied:?}");
}

#[tokio::test]
async fn authorizations_are_granted_listed_and_revoked() {
    let env = common::start_with_owner(|_| {}).await;
    let (c, owner, nip) = (&env.client, env.access.as_str(), &env.nip);
    let buyer = Nip::random();
    const PATH: &str = "/permissions/authorizations/grants";
    const QUERY_AUTH: &str = "/permissions/query/authorizations/grants";
    let body = |kind: &str, value: &str, permission: &str| {
        json!({
            "subjectIdentifier": {"type": kind, "value": value},
            "permission": permission,
            "description": "Samofakturowanie przez nabywcę",
            "subjectDetails": {"fullName": "Nabywca Sp. z o.o."}
        })
    };
    for (what, b) in [
        ("bad NIP", body("Nip", "5265877636", "SelfInvoicing")),
        ("bad type", body("Pesel", "15062788702", "SelfInvoicing")),
        ("bad permission", body("Nip", buyer.as_str(), "InvoiceRead")),
        ("bad PeppolId", body("PeppolId", "X12", "PefInvoicing")),
    ] {
        assert_400(&c.post(PATH, Some(owner), b).await, what);
    }
    let a = c
        .post(
            PATH,
            Some(owner),
            body("Nip", buyer.as_str(), "SelfInvoicing"),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{:?}", a.body);
    assert_eq!(wait_operation(c, owner, &reference(&a)).await["code"], 200);
    let a = c
        .post(
            PATH,
            Some(owner),
            body("PeppolId", "PPL123456", "PefInvoicing"),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{:?}", a.body);
    assert_eq!(wait_operation(c, owner, &reference(&a)).await["code"], 200);

    assert_400(
        &c.post(QUERY_AUTH, Some(owner), json!({})).await,
        "no queryType",
    );
    let granted = c
        .post(QUERY_AUTH, Some(owner), json!({"queryType": "Granted"}))
        .await;
    assert_eq!(granted.status, StatusCode::OK, "{:?}", granted.body);
    assert_eq!(granted.body["hasMore"], false);
    let list = granted.body["authorizationGrants"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(list.len(), 2, "{list:?}");
    let self_inv = list
        .iter()
        .find(|g| g["authorizationScope"] == "SelfInvoicing")
        .expect("SelfInvoicing")
        .clone();
    assert_eq!(
        self_inv["authorizedEntityIdentifier"],
        json!({"type": "Nip", "value": buyer.as_str()})
    );
    assert_eq!(
        self_inv["authorizingEntityIdentifier"],
        json!({"type": "Nip", "value": nip.as_str()})
    );
    assert_eq!(
        self_inv["authorIdentifier"],
        json!({"type": "Nip", "value": nip.as_str()})
    );
    assert_eq!(self_inv["id"].as_str().unwrap().len(), 36);
    assert_eq!(
        self_inv["subjectEntityDetails"]["fullName"],
        "Nabywca Sp. z o.o."
    );
    let only_pef = c
        .post(
            QUERY_AUTH,
            Some(owner),
            json!({"queryType": "Granted", "permissionTypes": ["PefInvoicing"]}),
        )
        .await;
    assert_eq!(
        only_pef.body["authorizationGrants"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // The buyer sees it as received, not as granted.
    let buyer_access = common::owner_login(c, &buyer).await;
    let received = c
        .post(
            QUERY_AUTH,
            Some(&buyer_access),
            json!({"queryType": "Received"}),
        )
        .await;
    let got = received.body["authorizationGrants"].as_array().unwrap();
    assert_eq!(got.len(), 1, "{:?}", received.body);
    assert_eq!(got[0]["id"], self_inv["id"]);
    let none = c
        .post(
            QUERY_AUTH,
            Some(&buyer_access),
            json!({"queryType": "Granted"}),
        )
        .await;
    assert!(
        none.body["authorizationGrants"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // The buyer cannot revoke the seller's authorization: its operation fails.
    let path = format!("{PATH}/{}", self_inv["id"].as_str().unwrap());
    let r = c.delete(&path, &buyer_access).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    assert_eq!(
        wait_operation(c, &buyer_access, &reference(&r)).await["code"],
        400
    );

    let r = c.delete(&path, owner).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    assert_eq!(wait_operation(c, owner, &reference(&r)).await["code"], 200);
    let received = c
        .post(
            QUERY_AUTH,
            Some(&buyer_access),
            json!({"queryType": "Received"}),
        )
        .await;
    assert!(
        received.body["authorizationGrants"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn persons_query_pages_through_three_pages_in_order() {
    let env = common::start_with_owner(|_| {}).await;
    let (c, owner) = (&env.client, env.access.as_str());
    let five = [
        "CredentialsRead",
        "InvoiceWrite",
        "InvoiceRead",
        "Introspection",
        "SubunitManage",
    ];
    // 25 grants: five permissions for each of five persons, five start dates.
    for _ in 0..5 {
        let op = grant(c, owner, grant_body(&Pesel::random(), &five)).await;
        assert_eq!(wait_operation(c, owner, &op).await["code"], 200);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let q = json!({"queryType": "PermissionsInCurrentContext"});
    let mut whole = Vec::new();
    for (page, (len, more)) in [(10, true), (10, true), (5, false)].into_iter().enumerate() {
        let a = query(
            c,
            owner,
            &format!("?pageSize=10&pageOffset={page}"),
            q.clone(),
        )
        .await;
        let list = items(&a);
        assert_eq!(list.len(), len, "page {page}: {:?}", a.body);
        assert_eq!(a.body["hasMore"], more, "page {page}");
        whole.extend(list);
    }
    let past_end = query(c, owner, "?pageSize=10&pageOffset=3", q.clone()).await;
    assert!(items(&past_end).is_empty());
    assert_eq!(past_end.body["hasMore"], false);
    let ids: std::collections::HashSet<&str> =
        whole.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 25, "no grant twice");
    // Start date descending, then id ascending, across the page boundaries.
    let keys: Vec<(String, String)> = whole
        .iter()
        .map(|i| {
            (
                i["startDate"].as_str().unwrap().to_string(),
                i["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    // startDate descending (same format and offset, so text order is time order), id ascending.
    sorted.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    assert_eq!(keys, sorted);
    // The same 25 on one page of 100.
    let all = query(c, owner, "?pageSize=100", q).await;
    let one_page: Vec<Value> = items(&all);
    assert_eq!(one_page, whole);
}
