//! The pages and form actions (routes in `lib.rs`), one module per screen. Every POST checks
//! the session's CSRF token (the login and setup forms: the pre-login token); the work itself
//! is delegated to `ksef-program`.

mod home;
mod invoice;
mod ksef_login;
mod offline;
mod program;
mod purchases;
mod sales;
mod sessions;
mod settings;
mod tokens;
mod users;

pub use home::*;
pub use invoice::*;
pub use ksef_login::*;
pub use offline::*;
pub use program::*;
pub use purchases::*;
pub use sales::*;
pub use sessions::*;
pub use settings::*;
pub use tokens::*;
pub use users::*;

use axum::Extension;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use ksef_program::StoredSession;
use tokio::sync::MutexGuard;

use crate::pages::{MessagePage, layout, render_status};
use crate::state::{Notice, SessionHandle, Shared, SharedState, WebSession, internal_error};

pub(crate) type Ws<'a> = MutexGuard<'a, WebSession>;

pub(crate) async fn lock<'a>(sh: &Shared, h: &'a SessionHandle) -> Result<Ws<'a>, Response> {
    let mut ws = h.0.lock().await;
    if let Err(e) = sh.align(&mut ws).await {
        return Err(internal_error(&Notice::from(&e).text));
    }
    Ok(ws)
}

macro_rules! lock_or_return {
    ($sh:expr, $h:expr) => {
        match crate::handlers::lock(&$sh, &$h).await {
            Ok(ws) => ws,
            Err(r) => return r,
        }
    };
    // POST handlers of url-encoded forms: also refuse a missing or wrong CSRF token (403).
    ($sh:expr, $h:expr, csrf = $token:expr) => {{
        let ws = lock_or_return!($sh, $h);
        if !ws.csrf_ok($token) {
            return crate::state::csrf_forbidden();
        }
        ws
    }};
}
pub(crate) use lock_or_return;

pub(crate) fn see_other(path: &str) -> Response {
    Redirect::to(path).into_response()
}

pub(crate) async fn session_of(ws: &mut WebSession) -> Option<StoredSession> {
    ws.app.current_session().await.ok().flatten()
}

pub(crate) fn human_size(bytes: usize) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else {
        format!("{} KiB", bytes.div_ceil(1024))
    }
}

pub async fn static_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("../../static/app.js"),
    )
        .into_response()
}

pub async fn static_css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("../../static/app.css"),
    )
        .into_response()
}

/// Any other `/static/…` path: 404 (no session involved).
pub async fn static_missing() -> Response {
    crate::state::static_not_found()
}

pub async fn not_found(
    State(sh): State<SharedState>,
    h: Option<Extension<SessionHandle>>,
) -> Response {
    let Some(Extension(h)) = h else {
        return crate::state::static_not_found();
    };
    let mut ws = lock_or_return!(sh, h);
    ws.error = Some("Nie ma takiej strony.".into());
    let l = layout(&sh, &mut ws, "Nie znaleziono", "", "/").await;
    render_status(
        StatusCode::NOT_FOUND,
        &MessagePage {
            l,
            heading: "Nie znaleziono strony".into(),
            back: "/".into(),
        },
    )
}
