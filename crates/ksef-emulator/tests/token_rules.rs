//! KSeF-token visibility and revocation rules (digest §6.3, §6.4 and the seed) for the owner, a
//! person with only CredentialsRead, a person with CredentialsManage, a person without credential
//! permissions, and a token session — over real HTTP against an in-process emulator.

use std::net::SocketAddr;
use std::time::Duration;

use ksef_core::{ContextIdentifier, Nip, Pesel};
use ksef_crypto::KeyAlgorithm;
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_emulator::EmulatorConfig;
use ksef_testkit::RawClient;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn refs(list: &Value) -> Vec<String> {
    list["tokens"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t["referenceNumber"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

async fn grant(c: &RawClient, ctx: &Nip, pesel: &Pesel, perms: &[&str]) {
    let perms: Vec<Value> = perms
        .iter()
        .map(|p| json!({"permissionType": p, "description": "Nadane w teście"}))
        .collect();
    let a = c
        .post(
            "/testdata/permissions",
            None,
            json!({"contextIdentifier":{"type":"Nip","value":ctx.as_str()},
                   "authorizedIdentifier":{"type":"Pesel","value":pesel.as_str()},
                   "permissions": perms}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
}

#[tokio::test]
async fn visibility_and_revocation_by_role() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EmulatorConfig::new(dir.path());
    config.auth_processing_delay = Duration::from_millis(20);
    config.token_activation_delay = Duration::from_millis(50);
    let emu = ksef_emulator::spawn(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let c = RawClient::new(&emu.base_url());

    let nip = Nip::random();
    let ctx = ContextIdentifier::Nip(nip.clone());
    let owner_cert = make_test_certificate(
        &TestSubject::seal(nip.clone(), "Firma Testowa Sp. z o.o."),
        KeyAlgorithm::EcP256,
    )
    .unwrap();
    let owner = c
        .login_with_certificate(&owner_cert, &ctx)
        .await
        .expect("owner login");

    // Three people with grants in the context.
    let (reader, manager, clerk) = (Pesel::random(), Pesel::random(), Pesel::random());
    grant(&c, &nip, &reader, &["CredentialsRead", "InvoiceRead"]).await;
    grant(&c, &nip, &manager, &["CredentialsManage"]).await;
    grant(&c, &nip, &clerk, &["InvoiceWrite"]).await;
    let login = |p: Pesel| {
        let c = c.clone();
        let ctx = ctx.clone();
        async move {
            let cert = make_test_certificate(
                &TestSubject::person_pesel(p, "Ewa", "Testowa"),
                KeyAlgorithm::EcP256,
            )
            .unwrap();
            c.login_with_certificate(&cert, &ctx)
                .await
                .expect("person login")
        }
    };
    let reader_s = login(reader).await;
    let manager_s = login(manager).await;
    let clerk_s = login(clerk).await;

    // Owner mints two tokens; the clerk mints one for herself.
    let (t_owner, token_owner) = c
        .generate_active_token(
            &owner.access_token,
            &["InvoiceRead", "InvoiceWrite"],
            "Wystawianie faktur",
        )
        .await;
    let (t_owner2, _) = c
        .generate_active_token(&owner.access_token, &["InvoiceRead"], "Odczyt faktur")
        .await;
    let (t_clerk, token_clerk) = c
        .generate_active_token(&clerk_s.access_token, &["InvoiceWrite"], "Token księgowej")
        .await;

    // Subset rule: the reader cannot mint InvoiceWrite (26001); a manager alone cannot either.
    let a = c
        .post(
            "/tokens",
            Some(&reader_s.access_token),
            json!({"permissions":["InvoiceWrite"],"description":"Próba"}),
        )
        .await;
    assert_eq!(a.exception_code(), Some(26001), "{:?}", a.body);
    let a = c
        .post(
            "/tokens",
            Some(&manager_s.access_token),
            json!({"permissions":["InvoiceWrite"],"description":"Próba"}),
        )
        .await;
    assert_eq!(a.exception_code(), Some(26001), "{:?}", a.body);

    // Owner and CredentialsRead / CredentialsManage holders see every token of the context.
    for s in [&owner, &reader_s, &manager_s] {
        let l = c.get("/tokens?pageSize=100", &s.access_token).await;
        assert_eq!(l.status, StatusCode::OK, "{:?}", l.body);
        let r = refs(&l.body);
        for t in [&t_owner, &t_owner2, &t_clerk] {
            assert!(r.contains(t), "missing {t} in {r:?}");
        }
    }
    // The clerk (no credential permissions) sees only her own tokens.
    let l = c.get("/tokens", &clerk_s.access_token).await;
    assert_eq!(refs(&l.body), vec![t_clerk.clone()]);
    let a = c
        .get(&format!("/tokens/{t_owner}"), &clerk_s.access_token)
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);

    // Filters.
    let l = c
        .get(
            "/tokens?status=Active&description=odczyt",
            &owner.access_token,
        )
        .await;
    assert_eq!(refs(&l.body), vec![t_owner2.clone()]);
    let l = c.get("/tokens?status=Revoked", &owner.access_token).await;
    assert!(refs(&l.body).is_empty());

    // A token session: sees only its own token, cannot mint (the seed), cannot revoke others.
    let tsess = c
        .login_with_token(&token_clerk, &ctx)
        .await
        .expect("token login");
    let l = c.get("/tokens", &tsess.access_token).await;
    assert_eq!(refs(&l.body), vec![t_clerk.clone()]);
    let a = c
        .post(
            "/tokens",
            Some(&tsess.access_token),
            json!({"permissions":["InvoiceWrite"],"description":"Podtoken"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{:?}", a.body);
    assert_eq!(a.reason_code(), Some("auth-method-not-allowed"));
    assert_eq!(a.body["security"]["authenticationMethodCategory"], "Token");
    let a = c
        .delete(&format!("/tokens/{t_owner2}"), &tsess.access_token)
        .await;
    assert_eq!(
        a.status,
        StatusCode::BAD_REQUEST,
        "not even visible: {:?}",
        a.body
    );

    // CredentialsRead only: may look, may not revoke someone else's token.
    let a = c
        .delete(&format!("/tokens/{t_owner}"), &reader_s.access_token)
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{:?}", a.body);
    assert_eq!(a.reason_code(), Some("insufficient-resource-access"));

    // CredentialsManage: may revoke any token of the context.
    let a = c
        .delete(&format!("/tokens/{t_owner}"), &manager_s.access_token)
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{:?}", a.body);
    let s = c
        .get(&format!("/tokens/{t_owner}"), &owner.access_token)
        .await;
    assert_eq!(s.body["status"], "Revoked");
    // Revoking again is idempotent.
    assert_eq!(
        c.delete(&format!("/tokens/{t_owner}"), &manager_s.access_token)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    // A revoked token no longer authenticates: 450 "Token unieważniony".
    let err = c
        .login_with_token(&token_owner, &ctx)
        .await
        .expect_err("revoked token must fail");
    assert_eq!(err["status"]["code"], 450);
    assert_eq!(err["status"]["details"][0], "Token unieważniony");

    // The clerk's token session may revoke its own token; its refresh then fails with 21301.
    let a = c
        .delete(&format!("/tokens/{t_clerk}"), &tsess.access_token)
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{:?}", a.body);
    let r = c.refresh(&tsess.refresh_token).await;
    assert_eq!(r.exception_code(), Some(21301), "{:?}", r.body);

    // A token for another context is refused (450 "Nieprawidłowy token").
    let (_, token2) = c
        .generate_active_token(&owner.access_token, &["InvoiceRead"], "Inny kontekst")
        .await;
    let err = c
        .login_with_token(&token2, &ContextIdentifier::Nip(Nip::random()))
        .await
        .expect_err("wrong context");
    assert_eq!(err["status"]["code"], 450);

    // Paging: 12 tokens, page size 10 → continuation token → the rest.
    for i in 0..9 {
        let a = c
            .post(
                "/tokens",
                Some(&owner.access_token),
                json!({"permissions":["InvoiceRead"],"description":format!("Token nr {i}")}),
            )
            .await;
        assert_eq!(a.status, StatusCode::ACCEPTED);
    }
    let first = c.get("/tokens?pageSize=10", &owner.access_token).await;
    assert_eq!(refs(&first.body).len(), 10);
    let cont = first.body["continuationToken"]
        .as_str()
        .expect("continuation")
        .to_string();
    let resp = ksef_testkit::http_client()
        .get(format!("{}/tokens?pageSize=10", c.base_url()))
        .bearer_auth(&owner.access_token)
        .header("x-continuation-token", cont)
        .send()
        .await
        .unwrap();
    let second: Value = resp.json().await.unwrap();
    let all: Vec<String> = refs(&first.body).into_iter().chain(refs(&second)).collect();
    let mut dedup = all.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(all.len(), dedup.len(), "pages overlap");
    assert_eq!(all.len(), 13, "4 + 9 tokens in the context");
    assert!(second["continuationToken"].is_null() || second.get("continuationToken").is_none());
}
