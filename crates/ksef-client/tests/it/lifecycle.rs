//! The whole authentication + KSeF token lifecycle over real HTTP against the emulator:
//! certificate login → generate token → wait Active → list (with paging) → token login →
//! token session may not mint (403) → revoke → token login fails with 450.

use crate::common;

use std::collections::HashSet;
use std::time::Duration;

use ksef_client::{KsefClient, KsefError, SubjectIdentifierType, TokenQuery};
use ksef_core::{TokenPermission, TokenStatus};

#[tokio::test]
async fn certificate_login_token_lifecycle() {
    let emu = common::emulator().await;
    let co = common::company();
    let client = KsefClient::new(&emu.emulator.base_url()).unwrap();

    // Certificate (XAdES) login.
    let mut owner = client
        .login_with_credential(
            &co.seal,
            &co.context,
            SubjectIdentifierType::CertificateSubject,
        )
        .await
        .expect("certificate login");
    assert_eq!(owner.context, co.context);
    assert!(
        owner.reference_number.contains("-AU-"),
        "{}",
        owner.reference_number
    );
    assert!(
        !owner.is_token_session(),
        "{:?}",
        owner.authentication_method
    );
    assert!(owner.authentication_method.is_some());
    assert!(owner.access_valid_until < owner.refresh_valid_until);
    assert!(!format!("{owner:?}").contains(owner.access_token.expose_secret().as_str()));
    // A fresh session is not refreshed; an explicit refresh keeps it usable.
    assert!(!client.ensure_fresh(&mut owner).await.unwrap());
    let before = owner.access_valid_until;
    client.refresh_session(&mut owner).await.unwrap();
    assert!(owner.access_valid_until >= before);
    // A session about to expire is refreshed by ensure_fresh.
    owner.access_valid_until = time::OffsetDateTime::now_utc() + time::Duration::seconds(30);
    assert!(client.ensure_fresh(&mut owner).await.unwrap());
    assert!(
        owner.access_valid_until > time::OffsetDateTime::now_utc() + time::Duration::minutes(2)
    );
    let access = owner.access_token.expose_secret().clone();

    // The auth session is listed as current.
    let sessions = client.auth_sessions(&access, None).await.unwrap();
    assert!(
        sessions
            .items
            .iter()
            .any(|s| s.reference_number == owner.reference_number && s.is_current),
        "{sessions:?}"
    );

    // Generate a token and wait until it is Active.
    let generated = client
        .generate_token(
            &access,
            &[TokenPermission::InvoiceRead, TokenPermission::InvoiceWrite],
            "Token do testów klienta",
        )
        .await
        .unwrap();
    assert!(!format!("{generated:?}").contains(generated.token.expose_secret().as_str()));
    let active = client
        .wait_token_active(
            &access,
            &generated.reference_number,
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    assert_eq!(active.status.known(), Some(TokenStatus::Active));
    assert_eq!(active.reference_number, generated.reference_number);

    // Local validation: too short a description never reaches the server.
    let err = client
        .generate_token(&access, &[TokenPermission::InvoiceRead], "abc")
        .await
        .unwrap_err();
    assert!(matches!(err, KsefError::InvalidInput(_)), "{err:?}");

    // 11 more tokens → 12 in the context; pages of 10.
    let mut expected: HashSet<String> = HashSet::from([generated.reference_number.clone()]);
    for i in 0..11 {
        let t = client
            .generate_token(
                &access,
                &[TokenPermission::InvoiceRead],
                &format!("Token stronicowania {i}"),
            )
            .await
            .unwrap();
        expected.insert(t.reference_number);
    }
    let query = TokenQuery {
        page_size: Some(10),
        ..TokenQuery::default()
    };
    let first = client.list_tokens(&access, &query, None).await.unwrap();
    assert_eq!(first.tokens.len(), 10);
    let next = first.continuation_token.clone().expect("a second page");
    let second = client
        .list_tokens(&access, &query, Some(&next))
        .await
        .unwrap();
    assert_eq!(second.tokens.len(), 2);
    let all = client.list_all_tokens(&access, &query).await.unwrap();
    let seen: HashSet<String> = all.iter().map(|t| t.reference_number.clone()).collect();
    assert_eq!(all.len(), 12);
    assert_eq!(seen, expected);
    // Filters go to the server.
    let filtered = client
        .list_all_tokens(
            &access,
            &TokenQuery {
                description: Some("do testów".into()),
                statuses: vec![TokenStatus::Active],
                ..TokenQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(filtered.len(), 1, "{filtered:?}");
    assert_eq!(filtered[0].reference_number, generated.reference_number);

    // Token login.
    let token = generated.token.expose_secret().clone();
    let token_session = client
        .login_with_ksef_token(&token, &co.context)
        .await
        .expect("token login");
    assert!(
        token_session.is_token_session(),
        "{:?}",
        token_session.authentication_method
    );
    assert_eq!(token_session.context, co.context);

    // A token session may not mint tokens (emulator default, the seed's rule).
    let err = client
        .generate_token(
            token_session.access_token.expose_secret(),
            &[TokenPermission::InvoiceRead],
            "Token z sesji tokenowej",
        )
        .await
        .unwrap_err();
    match &err {
        KsefError::Api {
            status: 403,
            reason_code: Some(reason),
            ..
        } => assert_eq!(reason, "auth-method-not-allowed"),
        other => panic!("expected 403 auth-method-not-allowed, got {other:?}"),
    }
    assert!(err.to_string().contains("auth-method-not-allowed"), "{err}");

    // Revoke with the owner session, then the token cannot log in any more.
    client
        .revoke_token(&access, &generated.reference_number)
        .await
        .unwrap();
    let revoked = client
        .token_status(&access, &generated.reference_number)
        .await
        .unwrap();
    assert!(
        matches!(
            revoked.status.known(),
            Some(TokenStatus::Revoking | TokenStatus::Revoked)
        ),
        "{revoked:?}"
    );
    let err = client
        .wait_token_active(&access, &generated.reference_number, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, KsefError::TokenNotActive { .. }), "{err:?}");
    let err = client
        .login_with_ksef_token(&token, &co.context)
        .await
        .unwrap_err();
    match &err {
        KsefError::AuthenticationFailed { code, .. } => assert_eq!(*code, 450),
        other => panic!("expected AuthenticationFailed 450, got {other:?}"),
    }
    assert_eq!(err.code(), Some(450));

    // Logout revokes the owner session: its refresh token stops working.
    client
        .logout(owner.refresh_token.expose_secret())
        .await
        .unwrap();
    let err = client.refresh_session(&mut owner).await.unwrap_err();
    assert!(matches!(err, KsefError::Api { .. }), "{err:?}");
}

#[tokio::test]
async fn with_session_refreshes_on_401() {
    let emu = common::emulator().await;
    let co = common::company();
    let client = KsefClient::new(&emu.emulator.base_url()).unwrap();
    let mut session = client
        .login_with_credential(
            &co.seal,
            &co.context,
            SubjectIdentifierType::CertificateSubject,
        )
        .await
        .unwrap();
    // A stored access token the server no longer accepts: the call gets 401, the client
    // refreshes once and repeats it.
    session.access_token = "not-a-jwt".into();
    let calls = std::sync::atomic::AtomicU32::new(0);
    let page = client
        .with_session(&mut session, async |c, access| {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            c.list_tokens(access, &TokenQuery::default(), None).await
        })
        .await
        .unwrap();
    assert!(page.tokens.is_empty());
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_ne!(session.access_token.expose_secret(), "not-a-jwt");
}
