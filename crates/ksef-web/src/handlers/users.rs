//! Użytkownicy: administrators add users (with a password), set passwords, make
//! administrators, remove users and paste a KSeF token for anyone (sealed to that user, so
//! they cannot read it back); a user sees and edits only their own entry. Every rule is
//! `ksef_program::users`'s; this module only shows and forwards.

use axum::Extension;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use ksef_core::warsaw;
use ksef_program::{ProgramError, tokens, users};
use ksef_store::{TokenAfterReset, UserInfo, UserToken};

use super::{Ws, lock_or_return, see_other};
use crate::forms::{Fields, path_segment};
use crate::pages::*;
use crate::state::{Notice, SessionHandle, Shared, SharedState};

fn row(u: UserInfo) -> UserRow {
    UserRow {
        path: path_segment(&u.name),
        tokens: u.tokens.iter().map(token_cell).collect(),
        is_admin: u.is_admin,
        has_password: u.has_password,
        locked_until: u.locked_until.map(warsaw::format_datetime),
        name: u.name,
    }
}

/// One token of a user: the firm, the masked token, KSeF's last known status in Polish.
fn token_cell(t: &UserToken) -> TokenCell {
    let status = match &t.status {
        Some(s) => {
            let when = t
                .status_at
                .map(|t| format!(" (sprawdzono {})", warsaw::format_datetime(t)))
                .unwrap_or_default();
            format!("{}{when}", token_status_label(s))
        }
        None => "nieznany — sprawdź w Tokeny KSeF".into(),
    };
    TokenCell {
        firm: t.firm.clone(),
        firm_label: firm_label(&t.firm),
        masked: t.masked.clone(),
        status_code: t.status.clone().unwrap_or_default(),
        status,
        usable: users::usable(t),
    }
}

fn store_error(e: ksef_store::StoreError) -> Notice {
    Notice::from(&ProgramError::from(e))
}

pub async fn users_page(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    let all = match sh.store.list_users().await {
        Ok(u) => u,
        Err(e) => {
            ws.error = Some(store_error(e));
            Vec::new()
        }
    };
    let admin = ws.user.is_admin();
    let me = ws.user.name().to_string();
    let rows = all
        .into_iter()
        .filter(|u| admin || users::same_name(&u.name, &me))
        .map(row)
        .collect();
    let l = layout(&sh, &mut ws, "Użytkownicy", "users", "/uzytkownicy").await;
    render(&UsersPage {
        l,
        users: rows,
        min_chars: ksef_store::MIN_PASSWORD_CHARS,
    })
}

pub async fn user_add(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Form(f): Form<Fields>,
) -> Response {
    let mut ws = lock_or_return!(sh, h, csrf = f.get("csrf"));
    let name = f.text("name");
    let password = ksef_crypto::Zeroizing::new(f.get("password").unwrap_or("").to_string());
    let again = ksef_crypto::Zeroizing::new(f.get("password2").unwrap_or("").to_string());
    if name.is_empty() {
        ws.error = Some("Podaj nazwę użytkownika.".into());
    } else if *password != *again {
        ws.error = Some("Hasła nie są takie same — wpisz je ponownie.".into());
    } else {
        let admin = f.get("admin").is_some();
        match users::add_user(&sh.store, &ws.user, &name, &password, admin).await {
            Ok(()) => ws.flash = Some(format!("Dodano użytkownika „{name}”.")),
            Err(e) => ws.error = Some(Notice::from(&e)),
        }
    }
    see_other("/uzytkownicy")
}

/// Only administrators see other users' pages.
fn may_see(ws: &Ws<'_>, name: &str) -> bool {
    ws.user.is_admin() || users::same_name(ws.user.name(), name)
}

async fn user_edit_page(
    sh: &Shared,
    ws: &mut Ws<'_>,
    name: &str,
    check: Option<tokens::TokenCheck>,
    status: StatusCode,
) -> Response {
    if !may_see(ws, name) {
        ws.error
            .get_or_insert_with(|| "Możesz oglądać i zmieniać tylko swoje konto.".into());
        return see_other("/uzytkownicy");
    }
    let u = match sh.store.user(name).await {
        Ok(u) => u,
        Err(e) => {
            ws.error = Some(store_error(e));
            return see_other("/uzytkownicy");
        }
    };
    let own = users::same_name(&u.name, ws.user.name());
    let admin = ws.user.is_admin();
    let r = row(u.clone());
    let path = path_segment(&u.name);
    let l = layout(
        sh,
        ws,
        "Edytuj użytkownika",
        "users",
        &format!("/uzytkownicy/{path}"),
    )
    .await;
    render_status(
        status,
        &UserEditPage {
            l,
            placeholder: "(wklej token KSeF, Ctrl+V — zostanie zapisany dla firmy z tokenu)".into(),
            can_check: own,
            own,
            admin,
            user: r,
            name: u.name,
            path,
            check,
            min_chars: ksef_store::MIN_PASSWORD_CHARS,
        },
    )
}

pub async fn user_page(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Path(name): Path<String>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    user_edit_page(&sh, &mut ws, &name, None, StatusCode::OK).await
}

/// "Token KSeF" field: saves the pasted token on the user, sealed to them.
pub async fn user_save(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Path(name): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    let mut ws = lock_or_return!(sh, h, csrf = f.get("csrf"));
    let token = ksef_crypto::Zeroizing::new(f.text("token"));
    if token.is_empty() {
        ws.flash = Some("Nie zmieniono tokenu.".into());
        return see_other("/uzytkownicy");
    }
    match users::save_token(&sh.store, &ws.user, &name, &token).await {
        Ok(firm) => {
            ws.flash = Some(format!(
                "Token KSeF zapisany dla użytkownika „{name}” (firma {}).",
                firm_label(&firm)
            ));
            see_other("/uzytkownicy")
        }
        Err(e) => {
            ws.error = Some(Notice::from(&e));
            user_edit_page(&sh, &mut ws, &name, None, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

/// Sets a password: an administrator for anyone, a user for themselves (with the current one).
pub async fn user_password(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Path(name): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    let mut ws = lock_or_return!(sh, h, csrf = f.get("csrf"));
    let new = ksef_crypto::Zeroizing::new(f.get("password").unwrap_or("").to_string());
    let again = ksef_crypto::Zeroizing::new(f.get("password2").unwrap_or("").to_string());
    let current = f
        .get("current")
        .filter(|c| !c.is_empty())
        .map(|c| ksef_crypto::Zeroizing::new(c.to_string()));
    if *new != *again {
        ws.error = Some("Hasła nie są takie same — wpisz je ponownie.".into());
        return user_edit_page(&sh, &mut ws, &name, None, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let own = users::same_name(ws.user.name(), &name);
    let result = users::set_password(
        &sh.store,
        &ws.user,
        &name,
        current.as_deref().map(|c| c.as_str()),
        &new,
    )
    .await;
    match result {
        Ok(after) => {
            if own && current.is_none() {
                // An administrator's reset of their own password gave them a new key: this
                // session holds the old one, so log in again.
                sh.end_sessions_of(&name);
                return see_other(crate::state::LOGIN_PATH);
            }
            if !own {
                // The user's other sessions hold the old key: log them out.
                for s in sh.end_sessions_of(&name) {
                    if let Ok(mut other) = s.try_lock() {
                        other.end_ksef_session().await;
                    }
                }
            }
            let note = match after {
                TokenAfterReset::Removed => {
                    " Zapisany token KSeF był chroniony starym hasłem i został usunięty — zapisz go ponownie."
                }
                _ => "",
            };
            ws.flash = Some(format!("Ustawiono nowe hasło użytkownika „{name}”.{note}"));
            see_other(&format!("/uzytkownicy/{}", path_segment(&name)))
        }
        Err(e) => {
            ws.error = Some(Notice::from(&e));
            user_edit_page(&sh, &mut ws, &name, None, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

/// Administrator role on or off.
pub async fn user_admin(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Path(name): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    let mut ws = lock_or_return!(sh, h, csrf = f.get("csrf"));
    let admin = f.get("admin").is_some();
    match users::set_admin(&sh.store, &ws.user, &name, admin).await {
        Ok(()) => {
            if !users::same_name(ws.user.name(), &name) {
                // The user's open sessions show the old role: they log in again.
                sh.end_sessions_of(&name);
            }
            ws.flash = Some(if admin {
                format!("„{name}” jest administratorem programu.")
            } else {
                format!("„{name}” nie jest już administratorem programu.")
            })
        }
        Err(e) => ws.error = Some(Notice::from(&e)),
    }
    see_other(&format!("/uzytkownicy/{}", path_segment(&name)))
}

/// Sprawdź: opens a token session with the logged-in user's own token, reads its
/// permissions, closes it.
pub async fn user_check(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Path(name): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    let mut ws = lock_or_return!(sh, h, csrf = f.get("csrf"));
    if !users::same_name(ws.user.name(), &name) {
        ws.error = Some(
            "Token można sprawdzić tylko na swoim koncie (do jego użycia potrzebne jest hasło właściciela)."
                .into(),
        );
        return see_other("/uzytkownicy");
    }
    let firm = Some(f.text("firm")).filter(|f| !f.is_empty());
    let result = {
        let w = &mut *ws;
        tokens::check_user_token(&w.app, &w.user, firm.as_deref()).await
    };
    match result {
        Ok(c) => {
            ws.flash = Some(format!(
                "Sesja tokenem użytkownika „{name}” otwarta i zamknięta; token daje uprawnienia: {}.",
                c.permissions.join(", ")
            ));
            user_edit_page(&sh, &mut ws, &name, Some(c), StatusCode::OK).await
        }
        Err(e) => {
            ws.error = Some(Notice::from(&e));
            user_edit_page(&sh, &mut ws, &name, None, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

pub async fn user_remove(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Path(name): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    let mut ws = lock_or_return!(sh, h, csrf = f.get("csrf"));
    match users::remove_user(&sh.store, &ws.user, &name).await {
        Ok(()) => {
            sh.end_sessions_of(&name);
            ws.flash = Some(format!("Usunięto użytkownika „{name}”."));
        }
        Err(e) => ws.error = Some(Notice::from(&e)),
    }
    see_other("/uzytkownicy")
}
