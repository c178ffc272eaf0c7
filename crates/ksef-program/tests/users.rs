//! The program's user rules (`ksef_program::users`) on a real store in a temporary directory.

use ksef_program::ProgramError;
use ksef_program::users::{self, AdminAction, UserError};
use ksef_store::{Store, StoreError, TokenAfterReset};

const TOKEN_A: &str = "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5265877635|919f704466624ce29cd5ac7b65ded5e7cccc112eee314f2aaa76e02cd16df7b9";
const TOKEN_B: &str = "20251011-EC-2DCE3E3000-12ECB5B36E-46|nip-5265877635|0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const ADMIN_PW: &str = "hasło administratora";
const USER_PW: &str = "hasło księgowej";

/// The firm of both tokens (`nip-5265877635`).
const FIRM: &str = "Nip:5265877635";

/// The caller's only token, checking it is [`FIRM`]'s.
async fn own(store: &Store, me: &users::ProgramUser) -> String {
    let (firm, token) = users::own_token(store, me, None).await.unwrap();
    assert_eq!(firm, FIRM);
    let (named, again) = users::own_token(store, me, Some(FIRM)).await.unwrap();
    assert_eq!((named.as_str(), again.as_str()), (FIRM, token.as_str()));
    token.as_str().to_owned()
}

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).await.unwrap();
    (dir, store)
}

fn user_error(r: Result<impl std::fmt::Debug, ProgramError>) -> UserError {
    match r {
        Err(ProgramError::User(e)) => e,
        other => panic!("expected a user rule refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn first_administrator_is_created_once() {
    let (_dir, store) = store().await;
    assert!(users::setup_needed(&store).await.unwrap());
    assert_eq!(
        user_error(users::log_in(&store, "Anna", ADMIN_PW).await),
        UserError::SetupNeeded
    );
    let anna = users::create_first_admin(&store, "Anna", ADMIN_PW)
        .await
        .unwrap();
    assert!(anna.is_admin());
    assert!(!users::setup_needed(&store).await.unwrap());
    assert_eq!(
        user_error(users::create_first_admin(&store, "Mallory", ADMIN_PW).await),
        UserError::SetupDone
    );
    assert_eq!(store.list_users().await.unwrap().len(), 1);
    let again = users::log_in(&store, "ANNA", ADMIN_PW).await.unwrap();
    assert_eq!(again.name(), "Anna");
}

#[tokio::test]
async fn only_administrators_manage_users() {
    let (_dir, store) = store().await;
    let admin = users::create_first_admin(&store, "Anna", ADMIN_PW)
        .await
        .unwrap();
    users::add_user(&store, &admin, "Księgowa", USER_PW, false)
        .await
        .unwrap();
    let k = users::log_in(&store, "księgowa", USER_PW).await.unwrap();
    assert!(!k.is_admin());
    assert_eq!(
        user_error(users::add_user(&store, &k, "Jan", USER_PW, false).await),
        UserError::NotAdmin {
            action: AdminAction::AddUser
        }
    );
    assert_eq!(
        user_error(users::remove_user(&store, &k, "Anna").await),
        UserError::NotAdmin {
            action: AdminAction::RemoveUser
        }
    );
    assert_eq!(
        user_error(users::set_admin(&store, &k, "Księgowa", true).await),
        UserError::NotAdmin {
            action: AdminAction::SetAdmin
        }
    );
    assert_eq!(
        user_error(users::set_password(&store, &k, "Anna", None, "nowe hasło 123").await),
        UserError::NotAdmin {
            action: AdminAction::SetPassword
        }
    );
    assert_eq!(
        user_error(users::remove_user(&store, &admin, "anna").await),
        UserError::RemoveSelf
    );
    // Nothing above changed the users.
    let names: Vec<_> = store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| (u.name, u.is_admin))
        .collect();
    assert_eq!(
        names,
        vec![("Anna".to_string(), true), ("Księgowa".to_string(), false)]
    );
    users::remove_user(&store, &admin, "Księgowa")
        .await
        .unwrap();
    assert_eq!(store.list_users().await.unwrap().len(), 1);
}

#[tokio::test]
async fn tokens_are_saved_by_owner_or_administrator_and_used_only_by_the_owner() {
    let (_dir, store) = store().await;
    let admin = users::create_first_admin(&store, "Anna", ADMIN_PW)
        .await
        .unwrap();
    users::add_user(&store, &admin, "Księgowa", USER_PW, false)
        .await
        .unwrap();
    users::add_user(&store, &admin, "Jan", USER_PW, false)
        .await
        .unwrap();
    let k = users::log_in(&store, "Księgowa", USER_PW).await.unwrap();
    // A user saves on themselves only; an administrator on anyone.
    assert_eq!(
        user_error(users::save_token(&store, &k, "Jan", TOKEN_B).await),
        UserError::OnlyOwnToken {
            user: "Księgowa".into()
        }
    );
    assert_eq!(
        users::save_token(&store, &admin, "Księgowa", TOKEN_A)
            .await
            .unwrap(),
        FIRM
    );
    // The administrator cannot read it back (own_token reads only the caller's own).
    assert_eq!(
        user_error(users::own_token(&store, &admin, None).await),
        UserError::NoToken {
            user: "Anna".into()
        }
    );
    assert_eq!(own(&store, &k).await, TOKEN_A);
    let holders = users::holders(&store.list_users().await.unwrap());
    assert_eq!(
        holders.get("20251010-EC-1DCE3E3000-12ECB5B36E-45"),
        Some(&vec!["Księgowa".to_string()])
    );
    // A revoked token is no longer offered.
    users::record_token_status(&store, "20251010-EC-1DCE3E3000-12ECB5B36E-45", "Revoked")
        .await
        .unwrap();
    let info = store.user("Księgowa").await.unwrap();
    assert!(!users::token_usable(&info, FIRM));
    assert_eq!(
        user_error(users::own_token(&store, &k, None).await),
        UserError::TokenUnusable {
            user: "Księgowa".into(),
            status: "Revoked".into()
        }
    );
    // A new token replaces it and is usable again.
    users::save_token(&store, &k, "Księgowa", TOKEN_B)
        .await
        .unwrap();
    assert!(users::token_usable(
        &store.user("Księgowa").await.unwrap(),
        FIRM
    ));
    assert_eq!(own(&store, &k).await, TOKEN_B);
}

#[tokio::test]
async fn passwords_own_change_keeps_the_token_admin_reset_removes_it() {
    let (_dir, store) = store().await;
    let admin = users::create_first_admin(&store, "Anna", ADMIN_PW)
        .await
        .unwrap();
    users::add_user(&store, &admin, "Księgowa", USER_PW, false)
        .await
        .unwrap();
    let k = users::log_in(&store, "Księgowa", USER_PW).await.unwrap();
    users::save_token(&store, &k, "Księgowa", TOKEN_A)
        .await
        .unwrap();
    // Own change needs the current password.
    let wrong =
        users::set_password(&store, &k, "Księgowa", Some("zupełnie złe"), "nowe hasło 1").await;
    assert!(
        matches!(
            wrong,
            Err(ProgramError::Store(StoreError::WrongPassword { .. }))
        ),
        "{wrong:?}"
    );
    let kept = users::set_password(&store, &k, "Księgowa", Some(USER_PW), "nowe hasło 1")
        .await
        .unwrap();
    assert_eq!(kept, TokenAfterReset::Kept);
    let k = users::log_in(&store, "Księgowa", "nowe hasło 1")
        .await
        .unwrap();
    assert_eq!(own(&store, &k).await, TOKEN_A);
    // An administrator's reset cannot keep a token sealed to the old password.
    let after = users::set_password(&store, &admin, "Księgowa", None, "hasło od admina")
        .await
        .unwrap();
    assert_eq!(after, TokenAfterReset::Removed);
    let k = users::log_in(&store, "Księgowa", "hasło od admina")
        .await
        .unwrap();
    assert_eq!(
        user_error(users::own_token(&store, &k, None).await),
        UserError::NoToken {
            user: "Księgowa".into()
        }
    );
}

#[tokio::test]
async fn own_token_with_two_firms_needs_the_firm() {
    const FIRM_B: &str = "InternalId:5265877635-12346";
    const TOKEN_C: &str = "20251010-EC-1DCE3E3000-12ECB5B36E-45|internalId-5265877635-12346|0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let (_dir, store) = store().await;
    let admin = users::create_first_admin(&store, "Anna", ADMIN_PW)
        .await
        .unwrap();
    users::add_user(&store, &admin, "Księgowa", USER_PW, false)
        .await
        .unwrap();
    let k = users::log_in(&store, "Księgowa", USER_PW).await.unwrap();
    // No token at all: NoToken, with or without a firm named (NoTokenForFirm then).
    assert_eq!(
        user_error(users::own_token(&store, &k, None).await),
        UserError::NoToken {
            user: "Księgowa".into()
        }
    );
    assert_eq!(
        user_error(users::own_token(&store, &k, Some(FIRM)).await),
        UserError::NoTokenForFirm {
            user: "Księgowa".into(),
            firm: FIRM.into()
        }
    );
    assert_eq!(
        users::save_token(&store, &k, "Księgowa", TOKEN_A)
            .await
            .unwrap(),
        FIRM
    );
    assert_eq!(
        users::save_token(&store, &admin, "Księgowa", TOKEN_C)
            .await
            .unwrap(),
        FIRM_B
    );
    // Two tokens and no firm named: refused, naming both firms.
    let err = user_error(users::own_token(&store, &k, None).await);
    assert_eq!(
        err,
        UserError::FirmNeeded {
            user: "Księgowa".into(),
            firms: vec![FIRM_B.into(), FIRM.into()]
        }
    );
    let msg = err.to_string();
    assert!(
        msg.contains("--nip") && msg.contains(FIRM) && msg.contains(FIRM_B),
        "{msg}"
    );
    let info = store.user("Księgowa").await.unwrap();
    assert!(matches!(
        users::choose_firm(&info, None),
        Err(ProgramError::User(UserError::FirmNeeded { .. }))
    ));
    // A firm named: that firm's token.
    let (firm, token) = users::own_token(&store, &k, Some(FIRM)).await.unwrap();
    assert_eq!((firm.as_str(), token.as_str()), (FIRM, TOKEN_A));
    let (firm, token) = users::own_token(&store, &k, Some(FIRM_B)).await.unwrap();
    assert_eq!((firm.as_str(), token.as_str()), (FIRM_B, TOKEN_C));
    // A firm the user holds no token for.
    assert_eq!(
        user_error(users::own_token(&store, &k, Some("Nip:1111111111")).await),
        UserError::NoTokenForFirm {
            user: "Księgowa".into(),
            firm: "Nip:1111111111".into()
        }
    );
    assert!(users::token_usable(&info, FIRM) && users::token_usable(&info, FIRM_B));
    assert!(!users::token_usable(&info, "Nip:1111111111"));
    // Both tokens share a reference here, so a revocation reaches both: neither usable.
    users::record_token_status(&store, "20251010-EC-1DCE3E3000-12ECB5B36E-45", "Revoked")
        .await
        .unwrap();
    let info = store.user("Księgowa").await.unwrap();
    assert!(!users::token_usable(&info, FIRM) && !users::token_usable(&info, FIRM_B));
    assert!(matches!(
        user_error(users::own_token(&store, &k, Some(FIRM_B)).await),
        UserError::TokenUnusable { .. }
    ));
    // A new token for one firm: that one usable again, the other still not.
    users::save_token(&store, &k, "Księgowa", TOKEN_B)
        .await
        .unwrap();
    let info = store.user("Księgowa").await.unwrap();
    assert!(users::token_usable(&info, FIRM) && !users::token_usable(&info, FIRM_B));
    let (_, token) = users::own_token(&store, &k, Some(FIRM)).await.unwrap();
    assert_eq!(token.as_str(), TOKEN_B);
    // The holders map lists the user once per token held.
    let holders = users::holders(&store.list_users().await.unwrap());
    assert_eq!(
        holders.get("20251011-EC-2DCE3E3000-12ECB5B36E-46"),
        Some(&vec!["Księgowa".to_string()])
    );
    // Another user sees none of them.
    assert_eq!(
        user_error(users::own_token(&store, &admin, Some(FIRM)).await),
        UserError::NoTokenForFirm {
            user: "Anna".into(),
            firm: FIRM.into()
        }
    );
}
