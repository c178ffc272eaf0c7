//! The program's user rules (`ksef_program::users`) on a real store in a temporary directory.

use ksef_program::ProgramError;
use ksef_program::users::{self, AdminAction, UserError};
use ksef_store::{Store, StoreError, TokenAfterReset};

const TOKEN_A: &str = "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5265877635|919f704466624ce29cd5ac7b65ded5e7cccc112eee314f2aaa76e02cd16df7b9";
const TOKEN_B: &str = "20251011-EC-2DCE3E3000-12ECB5B36E-46|nip-5265877635|0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const ADMIN_PW: &str = "hasło administratora";
const USER_PW: &str = "hasło księgowej";

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
    users::save_token(&store, &admin, "Księgowa", TOKEN_A)
        .await
        .unwrap();
    // The administrator cannot read it back (own_token reads only the caller's own).
    assert_eq!(
        user_error(users::own_token(&store, &admin).await),
        UserError::NoToken {
            user: "Anna".into()
        }
    );
    assert_eq!(
        users::own_token(&store, &k).await.unwrap().as_str(),
        TOKEN_A
    );
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
    assert!(!users::token_usable(&info));
    assert_eq!(
        user_error(users::own_token(&store, &k).await),
        UserError::TokenUnusable {
            user: "Księgowa".into(),
            status: "Revoked".into()
        }
    );
    // A new token replaces it and is usable again.
    users::save_token(&store, &k, "Księgowa", TOKEN_B)
        .await
        .unwrap();
    assert!(users::token_usable(&store.user("Księgowa").await.unwrap()));
    assert_eq!(
        users::own_token(&store, &k).await.unwrap().as_str(),
        TOKEN_B
    );
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
    assert_eq!(
        users::own_token(&store, &k).await.unwrap().as_str(),
        TOKEN_A
    );
    // An administrator's reset cannot keep a token sealed to the old password.
    let after = users::set_password(&store, &admin, "Księgowa", None, "hasło od admina")
        .await
        .unwrap();
    assert_eq!(after, TokenAfterReset::Removed);
    let k = users::log_in(&store, "Księgowa", "hasło od admina")
        .await
        .unwrap();
    assert_eq!(
        user_error(users::own_token(&store, &k).await),
        UserError::NoToken {
            user: "Księgowa".into()
        }
    );
}
