//! Regressions found by a review of the permission and certificate endpoints:
//! - a person grant and an entity grant of one permission to one NIP are two grants (the
//!   second used to vanish while its operation reported 200);
//! - a SubunitManage holder may revoke subunit administrators only, not the grants the owner
//!   made (e.g. CredentialsManage of another person);
//! - a far-future `validFrom` in a certificate enrollment is a 400, not a panic.

mod common;

use common::*;
use ksef_core::{ContextIdentifier, Nip, Pesel};
use reqwest::StatusCode;
use serde_json::json;

fn person_grant(subject: (&str, &str), permissions: &[&str]) -> serde_json::Value {
    json!({
        "subjectIdentifier": {"type": subject.0, "value": subject.1},
        "permissions": permissions,
        "description": "Uprawnienie z testu przeglądu",
        "subjectDetails": {"subjectDetailsType": "PersonByIdentifier",
                           "personById": {"firstName": "Anna", "lastName": "Nowak"}}
    })
}

#[tokio::test]
async fn person_and_entity_grants_to_one_nip_coexist() {
    let env = start_with_owner(|_| {}).await;
    let office = Nip::random();
    let a = env
        .client
        .post(
            "/permissions/persons/grants",
            Some(&env.access),
            person_grant(("Nip", office.as_str()), &["InvoiceWrite"]),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{:?}", a.body);
    assert_eq!(
        wait_operation(&env.client, &env.access, &reference(&a)).await["code"],
        200
    );
    let a = env
        .client
        .post(
            "/permissions/entities/grants",
            Some(&env.access),
            json!({
                "subjectIdentifier": {"type": "Nip", "value": office.as_str()},
                "permissions": [{"type": "InvoiceWrite", "canDelegate": true}],
                "description": "Biuro rachunkowe — wystawianie",
                "subjectDetails": {"fullName": "Biuro Rachunkowe Sp. z o.o."}
            }),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{:?}", a.body);
    assert_eq!(
        wait_operation(&env.client, &env.access, &reference(&a)).await["code"],
        200
    );

    // The office sees the entity grant, delegable.
    let office_access = owner_login(&env.client, &office).await;
    let a = env
        .client
        .post(
            "/permissions/query/entities/grants?pageOffset=0&pageSize=10",
            Some(&office_access),
            json!({}),
        )
        .await;
    let received = items(&a);
    let write: Vec<_> = received
        .iter()
        .filter(|p| p["permissionScope"] == "InvoiceWrite")
        .collect();
    assert_eq!(write.len(), 1, "{received:?}");
    assert_eq!(write[0]["canDelegate"], true, "{received:?}");
}

#[tokio::test]
async fn subunit_manager_cannot_revoke_the_owners_grants() {
    let env = start_with_owner(|_| {}).await;
    let ctx = ContextIdentifier::Nip(env.nip.clone());
    let (manager, admin) = (Pesel::random(), Pesel::random());
    for (who, perm) in [(&manager, "SubunitManage"), (&admin, "CredentialsManage")] {
        let a = env
            .client
            .post(
                "/permissions/persons/grants",
                Some(&env.access),
                person_grant(("Pesel", who.as_str()), &[perm]),
            )
            .await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{:?}", a.body);
        assert_eq!(
            wait_operation(&env.client, &env.access, &reference(&a)).await["code"],
            200
        );
    }
    let m = pesel_login(&env.client, &manager, &ctx)
        .await
        .expect("manager login");
    let a = env
        .client
        .post(
            "/permissions/query/persons/grants?pageOffset=0&pageSize=100",
            Some(&m.access_token),
            json!({"queryType": "PermissionsInCurrentContext"}),
        )
        .await;
    let listed = items(&a);
    let admin_grant = listed
        .iter()
        .find(|p| p["authorizedIdentifier"]["value"] == admin.as_str())
        .unwrap_or_else(|| panic!("{listed:?}"));
    let id = admin_grant["id"].as_str().unwrap();
    let a = env
        .client
        .delete(&format!("/permissions/common/grants/{id}"), &m.access_token)
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{:?}", a.body);
    let status = wait_operation(&env.client, &m.access_token, &reference(&a)).await;
    assert_eq!(status["code"], 400, "{status}");
    // Still there for the owner.
    let a = env
        .client
        .post(
            "/permissions/query/persons/grants?pageOffset=0&pageSize=100",
            Some(&env.access),
            json!({"queryType": "PermissionsInCurrentContext"}),
        )
        .await;
    assert!(items(&a).iter().any(|p| p["id"] == id));
}

#[tokio::test]
async fn far_future_valid_from_is_refused_not_a_panic() {
    let env = start_with_owner(|_| {}).await;
    let a = env
        .client
        .post(
            "/certificates/enrollments",
            Some(&env.access),
            json!({"certificateName": "Certyfikat testowy", "certificateType": "Authentication",
                   "csr": "AAAA", "validFrom": "9999-06-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{:?}", a.body);
    // The server is still there.
    let a = env.client.get("/limits/context", &env.access).await;
    assert_eq!(a.status, StatusCode::OK);
}
