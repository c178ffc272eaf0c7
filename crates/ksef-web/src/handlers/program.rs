//! The program login, the first-start setup and logout.

use axum::Extension;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ksef_program::users;

use super::see_other;
use crate::forms::Fields;
use crate::pages::{ProgramLoginPage, SetupPage, render_status};
use crate::state::{
    LOGIN_PATH, Notice, PreLogin, SESSION_COOKIE, SETUP_PATH, SessionHandle, SharedState,
    clear_session_cookie, cookie_value, csrf_forbidden, session_cookie,
};

fn login_page(
    sh: &SharedState,
    pre: &PreLogin,
    name: String,
    flash: Option<String>,
    error: Option<Notice>,
    status: StatusCode,
) -> Response {
    render_status(
        status,
        &ProgramLoginPage {
            title: "Logowanie".into(),
            csrf: sh.pre_csrf(&pre.0),
            name,
            flash,
            error,
        },
    )
}

fn setup_page(
    sh: &SharedState,
    pre: &PreLogin,
    name: String,
    error: Option<Notice>,
    status: StatusCode,
) -> Response {
    render_status(
        status,
        &SetupPage {
            title: "Pierwsze uruchomienie".into(),
            csrf: sh.pre_csrf(&pre.0),
            name,
            min_chars: ksef_store::MIN_PASSWORD_CHARS,
            flash: None,
            error,
        },
    )
}

/// Starts the program session and goes to the start page.
async fn logged_in(sh: &SharedState, user: users::ProgramUser) -> Response {
    let name = user.name().to_string();
    match sh.start_session(user).await {
        Ok(sid) => {
            let mut r = see_other("/");
            if let Some(c) = session_cookie(&sid) {
                r.headers_mut().append(header::SET_COOKIE, c);
            }
            tracing::info!(user = %name, "program user logged in");
            r
        }
        Err(e) => crate::state::internal_error(&Notice::from(&e).text),
    }
}

pub async fn program_login_page(
    State(sh): State<SharedState>,
    Extension(pre): Extension<PreLogin>,
    headers: HeaderMap,
    Query(q): Query<Fields>,
) -> Response {
    if matches!(sh.store.needs_first_admin().await, Ok(true)) {
        return see_other(SETUP_PATH);
    }
    if cookie_value(&headers, SESSION_COOKIE).is_some_and(|sid| sh.has_session(sid)) {
        return see_other("/");
    }
    let flash = match q.get("wygasla") {
        Some(_) => {
            Some("Sesja programu wygasła lub została zakończona — zaloguj się ponownie.".into())
        }
        None => q
            .get("wylogowano")
            .map(|_| "Wylogowano z programu.".to_string()),
    };
    login_page(&sh, &pre, String::new(), flash, None, StatusCode::OK)
}

pub async fn program_login(
    State(sh): State<SharedState>,
    Extension(pre): Extension<PreLogin>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    if !sh.pre_csrf_ok(&headers, f.get("csrf")) {
        return csrf_forbidden();
    }
    let name = f.text("name");
    let password = ksef_crypto::Zeroizing::new(f.get("password").unwrap_or("").to_string());
    if name.is_empty() || password.is_empty() {
        let e = Notice::from("Podaj nazwę użytkownika i hasło.");
        return login_page(
            &sh,
            &pre,
            name,
            None,
            Some(e),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    match users::log_in(&sh.store, &name, &password).await {
        Ok(user) => logged_in(&sh, user).await,
        Err(e) => {
            tracing::info!(user = %name, "program login refused");
            let status = StatusCode::UNAUTHORIZED;
            login_page(&sh, &pre, name, None, Some(Notice::from(&e)), status)
        }
    }
}

pub async fn setup_form(
    State(sh): State<SharedState>,
    Extension(pre): Extension<PreLogin>,
) -> Response {
    match sh.store.needs_first_admin().await {
        Ok(true) => setup_page(&sh, &pre, String::new(), None, StatusCode::OK),
        _ => see_other(LOGIN_PATH),
    }
}

pub async fn setup_submit(
    State(sh): State<SharedState>,
    Extension(pre): Extension<PreLogin>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    if !sh.pre_csrf_ok(&headers, f.get("csrf")) {
        return csrf_forbidden();
    }
    let name = f.text("name");
    let password = ksef_crypto::Zeroizing::new(f.get("password").unwrap_or("").to_string());
    let again = ksef_crypto::Zeroizing::new(f.get("password2").unwrap_or("").to_string());
    if *password != *again {
        let e = Notice::from("Hasła nie są takie same — wpisz je ponownie.");
        return setup_page(&sh, &pre, name, Some(e), StatusCode::UNPROCESSABLE_ENTITY);
    }
    match users::create_first_admin(&sh.store, &name, &password).await {
        Ok(user) => logged_in(&sh, user).await,
        Err(e) => {
            let done = matches!(
                &e,
                ksef_program::ProgramError::User(users::UserError::SetupDone)
            );
            if done {
                return see_other(LOGIN_PATH);
            }
            setup_page(
                &sh,
                &pre,
                name,
                Some(Notice::from(&e)),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
    }
}

pub async fn logout(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Response {
    {
        let mut ws = h.0.lock().await;
        if !ws.csrf_ok(f.get("csrf")) {
            return csrf_forbidden();
        }
        ws.end_ksef_session().await;
    }
    if let Some(sid) = cookie_value(&headers, SESSION_COOKIE) {
        sh.end_session(sid);
    }
    let mut r = see_other(&format!("{LOGIN_PATH}?wylogowano=1"));
    r.headers_mut()
        .append(header::SET_COOKIE, clear_session_cookie());
    r.into_response()
}
