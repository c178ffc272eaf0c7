//! The pages and form actions (routes in `lib.rs`). Every POST checks the session's CSRF token;
//! state-changing work is delegated to `ksef-program`.

use axum::Extension;
use axum::Form;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use ksef_client::Environment;
use ksef_core::{KsefToken, TokenPermission};
use ksef_program::{StoredSession, auth, show_time, tokens};
use tokio::sync::MutexGuard;

use crate::errors::{polish, polish_store};
use crate::forms::{Fields, Upload, path_segment, safe_return_to};
use crate::pages::*;
use crate::state::{
    ENVIRONMENT_SETTING, GeneratedToken, PendingPz, SessionHandle, Shared, SharedState, WebSession,
    csrf_forbidden, internal_error,
};

type Ws<'a> = MutexGuard<'a, WebSession>;

/// The seed: a token session cannot generate tokens.
const REFUSE_GENERATE: &str = "Sesja z tokenem nie może generować kolejnych tokenów („podtokenów”). \
     W celu wygenerowania tokenu należy nawiązać sesję KSeF z logowaniem certyfikatem lub Profilem Zaufanym.";
/// The seed: a token session cannot browse tokens.
const REFUSE_BROWSE: &str = "Sesja z tokenem nie pozwala na przeglądanie tokenów ani generowanie tokenów. \
     Do opcji Tokeny KSeF można wejść rozpoczynając sesję z logowaniem certyfikatem lub Profilem Zaufanym.";
/// The seed: Tokeny KSeF needs CredentialsRead or CredentialsManage.
const REFUSE_NO_CREDENTIALS: &str = "Brak uprawnień do odczytu lub zarządzania uprawnieniami KSeF \
     (CredentialsRead lub CredentialsManage) — nie można otworzyć okna Tokeny KSeF.";
const SESSION_GONE: &str = "Brak aktywnej sesji KSeF (lub wygasła) — zaloguj się ponownie.";

async fn lock<'a>(sh: &Shared, h: &'a SessionHandle) -> Result<Ws<'a>, Response> {
    let mut ws = h.0.lock().await;
    if let Err(e) = sh.align(&mut ws).await {
        return Err(internal_error(&polish(&e)));
    }
    Ok(ws)
}

macro_rules! lock_or_return {
    ($sh:expr, $h:expr) => {
        match lock(&$sh, &$h).await {
            Ok(ws) => ws,
            Err(r) => return r,
        }
    };
    // POST handlers of url-encoded forms: also refuse a missing or wrong CSRF token (403).
    ($sh:expr, $h:expr, csrf = $token:expr) => {{
        let ws = lock_or_return!($sh, $h);
        if !ws.csrf_ok($token) {
            return csrf_forbidden();
        }
        ws
    }};
}

fn see_other(path: &str) -> Response {
    Redirect::to(path).into_response()
}

async fn session_of(ws: &mut WebSession) -> Option<StoredSession> {
    ws.app.current_session().await.ok().flatten()
}

async fn user_names(sh: &Shared) -> Vec<String> {
    sh.store
        .list_users()
        .await
        .map(|u| u.into_iter().map(|u| u.name).collect())
        .unwrap_or_default()
}

fn human_size(bytes: usize) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else {
        format!("{} KiB", bytes.div_ceil(1024))
    }
}

// ------------------------------------------------------------------ layout-level actions

pub async fn index() -> Response {
    see_other("/generuj")
}

pub async fn static_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("../static/app.js"),
    )
        .into_response()
}

pub async fn static_css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("../static/app.css"),
    )
        .into_response()
}

pub async fn not_found(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    ws.error = Some("Nie ma takiej strony.".into());
    let l = layout(&sh, &mut ws, "Nie znaleziono", "", "/generuj").await;
    render_status(
        StatusCode::NOT_FOUND,
        &MessagePage {
            l,
            heading: "Nie znaleziono strony".into(),
            back: "/generuj".into(),
        },
    )
}

pub async fn set_current_user(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Form(f): Form<Fields>,
) -> Response {
    let mut ws = lock_or_return!(sh, h, csrf = f.get("csrf"));
    let name = f.text("name");
    let names = user_names(&sh).await;
    if names.contains(&name) {
        ws.flash = Some(format!("Bieżący użytkownik programu: {name}."));
        ws.current_user = Some(name);
    } else {
        ws.error = Some("Nie ma takiego użytkownika programu.".into());
    }
    see_other(&safe_return_to(&f.text("return_to")))
}

pub async fn close_session(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Form(f): Form<Fields>,
) -> Response {
    let mut ws = lock_or_return!(sh, h, csrf = f.get("csrf"));
    ws.generated = None;
    if session_of(&mut ws).await.is_none() {
        let _ = ws.app.clear_session().await;
        ws.flash = Some("Brak otwartej sesji KSeF.".into());
    } else {
        match auth::logout(&mut ws.app).await {
            Ok(reference) => ws.flash = Some(format!("Sesja KSeF {reference} została zakończona.")),
            Err(e) => {
                ws.error = Some(format!(
                    "Sesja KSeF została zamknięta w programie, ale KSeF zgłosił błąd: {}",
                    polish(&e)
                ))
            }
        }
    }
    see_other(&safe_return_to(&f.text("return_to")))
}

// ------------------------------------------------------------------ login

fn login_texts(return_to: &str) -> (&'static str, &'static str, &'static str) {
    if return_to == "/tokeny" {
        (
            "Tokeny KSeF — logowanie",
            "tokens",
            "Do opcji można wejść rozpoczynając sesję z logowaniem certyfikatem lub Profilem Zaufanym. \
             Przy logowaniu sprawdzane jest, czy masz w KSeF uprawnienia odczytu lub zarządzania uprawnieniami.",
        )
    } else {
        (
            "Generuj token KSeF — logowanie",
            "generate",
            "W celu wygenerowania tokenu należy nawiązać sesję KSeF z logowaniem certyfikatem lub Profilem Zaufanym. \
             Token można wygenerować w zakresie tylko takich uprawnień, jakie posiadasz.",
        )
    }
}

async fn login_page(
    sh: &Shared,
    ws: &mut WebSession,
    return_to: &str,
    status: StatusCode,
) -> Response {
    let (heading, section, intro) = login_texts(return_to);
    let users = sh.store.list_users().await.unwrap_or_default();
    let token_users = users
        .iter()
        .filter(|u| u.has_token)
        .map(|u| u.name.clone())
        .collect();
    let l = layout(sh, ws, heading, section, return_to).await;
    render_status(
        status,
        &LoginPage {
            l,
            heading: heading.into(),
            intro: intro.into(),
            return_to: return_to.into(),
            nip: ws.last_nip.clone(),
            max_upload: human_size(sh.max_upload_bytes),
            token_users,
        },
    )
}

async fn login_error(
    sh: &Shared,
    ws: &mut WebSession,
    return_to: &str,
    status: StatusCode,
    message: String,
) -> Response {
    ws.error = Some(message);
    login_page(sh, ws, return_to, status).await
}

fn parse_context(nip: &str) -> Result<ksef_core::ContextIdentifier, String> {
    auth::context_from_args(Some(nip), None).map_err(|_| {
        format!("Nieprawidłowy NIP „{nip}”: podaj 10 cyfr z poprawną cyfrą kontrolną.")
    })
}

pub async fn login_certificate(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    mp: Result<Multipart, MultipartRejection>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    let mp = match mp {
        Ok(mp) => mp,
        Err(_) => return csrf_forbidden(),
    };
    let up = match Upload::read(mp, sh.max_upload_bytes).await {
        Ok(up) => up,
        Err(e) => {
            return login_error(
                &sh,
                &mut ws,
                "/generuj",
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "Nie można odczytać przesłanego formularza (limit pliku {}): {e}",
                    human_size(sh.max_upload_bytes)
                ),
            )
            .await;
        }
    };
    if !ws.csrf_ok(up.bytes("csrf").and_then(|b| std::str::from_utf8(b).ok())) {
        return csrf_forbidden();
    }
    let return_to = safe_return_to(&up.text("return_to"));
    if let Some(field) = &up.too_large {
        return login_error(
            &sh,
            &mut ws,
            &return_to,
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "Plik „{field}” jest za duży: dopuszczalny rozmiar to {}. Wybierz właściwy plik certyfikatu.",
                human_size(sh.max_upload_bytes)
            ),
        )
        .await;
    }
    let nip = up.text("nip");
    ws.last_nip = nip.clone();
    let context = match parse_context(&nip) {
        Ok(c) => c,
        Err(m) => {
            return login_error(
                &sh,
                &mut ws,
                &return_to,
                StatusCode::UNPROCESSABLE_ENTITY,
                m,
            )
            .await;
        }
    };
    let Some(cert) = up.bytes("certificate") else {
        return login_error(
            &sh,
            &mut ws,
            &return_to,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Wybierz plik certyfikatu (PKCS#12 .p12/.pfx lub PEM).".into(),
        )
        .await;
    };
    let password = up.secret("password");
    let cred = match auth::credential_from_bytes(cert, up.bytes("key"), &password) {
        Ok(c) => c,
        Err(e) => {
            return login_error(
                &sh,
                &mut ws,
                &return_to,
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "Nie można odczytać certyfikatu — sprawdź hasło i format pliku (PKCS#12 lub PEM z kluczem). Szczegóły: {e}"
                ),
            )
            .await;
        }
    };
    drop(password);
    ws.generated = None;
    let result = auth::login_with_certificate(&mut ws.app, context, &cred, false).await;
    login_outcome(&sh, &mut ws, &return_to, result, "certyfikatem").await
}

/// Flash + redirect after a successful login, the login page with the error otherwise.
async fn login_outcome(
    sh: &Shared,
    ws: &mut WebSession,
    return_to: &str,
    result: ksef_program::ProgramResult<StoredSession>,
    how: &str,
) -> Response {
    match result {
        Ok(s) => {
            ws.flash = Some(format!(
                "Zalogowano do KSeF {how} (kontekst {} {}).",
                s.session.context.kind(),
                s.session.context.value()
            ));
            see_other(return_to)
        }
        Err(e) => {
            let m = polish(&e);
            login_error(sh, ws, return_to, StatusCode::UNPROCESSABLE_ENTITY, m).await
        }
    }
}

pub async fn login_token(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Form(f): Form<Fields>,
) -> Response {
    let mut ws = lock_or_return!(sh, h, csrf = f.get("csrf"));
    let return_to = safe_return_to(&f.text("return_to"));
    let user = f.text("user");
    ws.generated = None;
    let result = auth::login_with_user(&mut ws.app, &user).await;
    let how = format!("tokenem użytkownika „{user}”");
    login_outcome(&sh, &mut ws, &return_to, result, &how).await
}

pub async fn pz_prepare(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Form(f): Form<Fields>,
) -> Response {
    let mut ws = lock_or_return!(sh, h, csrf = f.get("csrf"));
    let return_to = safe_return_to(&f.text("return_to"));
    let nip = f.text("nip");
    ws.last_nip = nip.clone();
    let context = match parse_context(&nip) {
        Ok(c) => c,
        Err(m) => {
            return login_error(
                &sh,
                &mut ws,
                &return_to,
                StatusCode::UNPROCESSABLE_ENTITY,
                m,
            )
            .await;
        }
    };
    match auth::prepare_request(&mut ws.app, context).await {
        Ok(prepared) => {
            ws.pending_pz = Some(PendingPz {
                prepared,
                return_to,
            });
            see_other("/logowanie/pz")
        }
        Err(e) => {
            let m = polish(&e);
            login_error(
                &sh,
                &mut ws,
                &return_to,
                StatusCode::UNPROCESSABLE_ENTITY,
                m,
            )
            .await
        }
    }
}

async fn pz_page(sh: &Shared, ws: &mut WebSession, status: StatusCode) -> Response {
    let Some(p) = &ws.pending_pz else {
        return see_other("/generuj");
    };
    let file_name = p.prepared.file_name.clone();
    let deadline = p.prepared.pending.deadline();
    let return_to = p.return_to.clone();
    let env = sh.environment().await;
    let (signing_url, signing_label) = sh.signing_url(env);
    let left = (deadline - time::OffsetDateTime::now_utc())
        .whole_seconds()
        .max(0);
    let (_, section, _) = login_texts(&return_to);
    let l = layout(sh, ws, "Profil Zaufany", section, &return_to).await;
    let stem = file_name.trim_end_matches(".xml");
    render_status(
        status,
        &PzStep2Page {
            l,
            signed_hint: format!("{stem} (1).xml"),
            file_name,
            signing_url,
            signing_label: signing_label.into(),
            deadline_ms: i64::try_from(deadline.unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
            deadline: show_time(deadline),
            time_left: format!("{}:{:02}", left / 60, left % 60),
        },
    )
}

pub async fn pz_step2(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    pz_page(&sh, &mut ws, StatusCode::OK).await
}

pub async fn pz_download(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
) -> Response {
    let ws = lock_or_return!(sh, h);
    let Some(p) = &ws.pending_pz else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Brak przygotowanego pliku — wybierz ponownie Profil Zaufany.",
        )
            .into_response();
    };
    let disposition = format!("attachment; filename=\"{}\"", p.prepared.file_name);
    (
        [
            (
                header::CONTENT_TYPE,
                "application/xml; charset=utf-8".to_string(),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        p.prepared.xml.clone(),
    )
        .into_response()
}

pub async fn pz_submit(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    mp: Result<Multipart, MultipartRejection>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    let mp = match mp {
        Ok(mp) => mp,
        Err(_) => return csrf_forbidden(),
    };
    let up = match Upload::read(mp, sh.max_upload_bytes).await {
        Ok(up) => up,
        Err(e) => {
            ws.error = Some(format!("Nie można odczytać przesłanego pliku: {e}"));
            return pz_page(&sh, &mut ws, StatusCode::PAYLOAD_TOO_LARGE).await;
        }
    };
    if !ws.csrf_ok(up.bytes("csrf").and_then(|b| std::str::from_utf8(b).ok())) {
        return csrf_forbidden();
    }
    if ws.pending_pz.is_none() {
        ws.error = Some("Brak przygotowanego żądania — wybierz ponownie Profil Zaufany.".into());
        return see_other("/generuj");
    }
    if let Some(field) = &up.too_large {
        ws.error = Some(format!(
            "Plik „{field}” jest za duży: dopuszczalny rozmiar to {}.",
            human_size(sh.max_upload_bytes)
        ));
        return pz_page(&sh, &mut ws, StatusCode::PAYLOAD_TOO_LARGE).await;
    }
    let Some(signed) = up.bytes("signed") else {
        ws.error = Some("Wskaż podpisany plik.".into());
        return pz_page(&sh, &mut ws, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let pending = ws.pending_pz.as_ref().map(|p| p.prepared.pending.clone());
    ws.generated = None;
    match auth::submit_signed(&mut ws.app, signed, pending.as_ref()).await {
        Ok(s) => {
            let return_to = ws
                .pending_pz
                .take()
                .map(|p| p.return_to)
                .unwrap_or_else(|| "/generuj".into());
            ws.flash = Some(format!(
                "Zalogowano do KSeF podpisanym plikiem (kontekst {} {}).",
                s.session.context.kind(),
                s.session.context.value()
            ));
            see_other(&return_to)
        }
        Err(e) => {
            ws.error = Some(polish(&e));
            pz_page(&sh, &mut ws, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

// ------------------------------------------------------------------ Generuj token KSeF

fn permission_boxes(s: &StoredSession, checked: &[&str]) -> Vec<PermissionBox> {
    tokens::offered_permissions(s)
        .into_iter()
        .map(|o| PermissionBox {
            name: o.permission.as_str(),
            label: permission_label(o.permission.as_str()),
            held: o.held,
            checked: o.held && checked.contains(&o.permission.as_str()),
        })
        .collect()
}

async fn refusal_page(
    sh: &Shared,
    ws: &mut WebSession,
    heading: &str,
    section: &'static str,
    path: &str,
    message: &str,
    token_session: bool,
) -> Response {
    let l = layout(sh, ws, heading, section, path).await;
    render_status(
        StatusCode::FORBIDDEN,
        &RefusalPage {
            l,
            heading: heading.into(),
            message: message.into(),
            show_close_hint: token_session,
        },
    )
}

async fn grant_page(
    sh: &Shared,
    ws: &mut WebSession,
    s: &StoredSession,
    description: String,
    checked: &[&str],
    status: StatusCode,
) -> Response {
    let l = layout(sh, ws, "Nadaj uprawnienia KSeF", "generate", "/generuj").await;
    render_status(
        status,
        &GrantPage {
            l,
            description,
            context: format!("{} {}", s.session.context.kind(), s.session.context.value()),
            permissions: permission_boxes(s, checked),
        },
    )
}

pub async fn generate_page(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    ws.generated = None;
    match session_of(&mut ws).await {
        None => login_page(&sh, &mut ws, "/generuj", StatusCode::OK).await,
        Some(s) if s.session.is_token_session() => {
            refusal_page(
                &sh,
                &mut ws,
                "Generuj token KSeF",
                "generate",
                "/generuj",
                REFUSE_GENERATE,
                true,
            )
            .await
        }
        Some(s) => grant_page(&sh, &mut ws, &s, String::new(), &[], StatusCode::OK).await,
    }
}

pub async fn generate_submit(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Form(f): Form<Fields>,
) -> Response {
    let mut ws = lock_or_return!(sh, h, csrf = f.get("csrf"));
    ws.generated = None;
    let Some(s) = session_of(&mut ws).await else {
        ws.error = Some(SESSION_GONE.into());
        return see_other("/generuj");
    };
    if s.session.is_token_session() {
        return refusal_page(
            &sh,
            &mut ws,
            "Generuj token KSeF",
            "generate",
            "/generuj",
            REFUSE_GENERATE,
            true,
        )
        .await;
    }
    let description = f.text("description");
    let chosen = f.all("permission");
    let len = description.chars().count();
    let mut problem = None;
    if !(5..=256).contains(&len) {
        problem = Some(format!(
            "Nazwa (opis) tokenu musi mieć od 5 do 256 znaków (ma {len})."
        ));
    }
    let mut perms = Vec::new();
    for p in &chosen {
        match p.parse::<TokenPermission>() {
            Ok(p) => perms.push(p),
            Err(_) => problem = Some(format!("Nieznane uprawnienie „{p}”.")),
        }
    }
    if problem.is_none() && perms.is_empty() {
        problem = Some("Zaznacz co najmniej jedno uprawnienie.".into());
    }
    if problem.is_none() {
        let not_held: Vec<&str> = tokens::offered_permissions(&s)
            .into_iter()
            .filter(|o| !o.held && perms.contains(&o.permission))
            .map(|o| o.permission.as_str())
            .collect();
        if !not_held.is_empty() {
            problem = Some(format!(
                "Nie można nadać tokenowi uprawnień których nie posiadasz: {}.",
                not_held.join(", ")
            ));
        }
    }
    let for_user = Some(f.text("for_user")).filter(|u| !u.is_empty());
    let names = user_names(&sh).await;
    if problem.is_none()
        && let Some(u) = &for_user
        && !names.contains(u)
    {
        problem = Some(format!("Nie ma użytkownika programu „{u}”."));
    }
    if let Some(m) = problem {
        ws.error = Some(m);
        return grant_page(
            &sh,
            &mut ws,
            &s,
            description,
            &chosen,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    match tokens::generate(&mut ws.app, &perms, &description, None).await {
        Ok(g) => {
            let save_for = for_user
                .clone()
                .or_else(|| effective_user(&ws, &names))
                .unwrap_or_else(|| {
                    "(brak użytkowników — dodaj użytkownika w Konfiguracja › Użytkownicy)".into()
                });
            let l = layout(&sh, &mut ws, "Token KSeF", "generate", "/generuj").await;
            let page = TokenResultPage {
                l,
                reference: g.reference_number.clone(),
                token: g.token.as_str().to_string(),
                save_for,
            };
            ws.generated = Some(GeneratedToken {
                reference: g.reference_number,
                token: g.token,
                for_user,
            });
            let resp = render(&page);
            // The page held the token in clear; overwrite our copy.
            let mut page = page;
            zeroize_string(&mut page.token);
            resp
        }
        Err(e) => {
            ws.error = Some(polish(&e));
            grant_page(
                &sh,
                &mut ws,
                &s,
                description,
                &chosen,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

fn zeroize_string(s: &mut String) {
    drop(ksef_crypto::Zeroizing::new(std::mem::take(s)));
}

pub async fn generate_save(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Form(f): Form<Fields>,
) -> Response {
    let mut ws = lock_or_return!(sh, h, csrf = f.get("csrf"));
    let Some(g) = ws.generated.take() else {
        ws.error = Some(
            "Nie ma tokenu do zapisania: token jest pokazywany tylko raz. Wygeneruj nowy albo wklej zachowany token \
             w Konfiguracja › Użytkownicy › Edytuj, pole „Token KSeF”."
                .into(),
        );
        return see_other("/generuj");
    };
    let names = user_names(&sh).await;
    let Some(user) = g.for_user.clone().or_else(|| effective_user(&ws, &names)) else {
        ws.error = Some(
            "Brak użytkownika programu, na którym można zapisać token. Skopiuj token, dodaj użytkownika \
             (Konfiguracja › Użytkownicy) i wklej token w polu „Token KSeF”."
                .into(),
        );
        let l = layout(&sh, &mut ws, "Token KSeF", "generate", "/generuj").await;
        let mut page = TokenResultPage {
            l,
            reference: g.reference.clone(),
            token: g.token.as_str().to_string(),
            save_for: "(brak użytkowników)".into(),
        };
        ws.generated = Some(g);
        let resp = render_status(StatusCode::UNPROCESSABLE_ENTITY, &page);
        zeroize_string(&mut page.token);
        return resp;
    };
    match sh.store.set_user_token(&user, &g.token).await {
        Ok(()) => {
            ws.flash = Some(format!(
                "Token KSeF {} zapisany dla użytkownika „{user}”.",
                g.reference
            ));
            see_other("/uzytkownicy")
        }
        Err(e) => {
            ws.error = Some(polish_store(&e));
            see_other("/generuj")
        }
    }
}

// ------------------------------------------------------------------ Tokeny KSeF

const STATUS_FILTER: [(&str, &str); 6] = [
    ("", "Wszystkie"),
    ("Pending", "Pending (oczekuje)"),
    ("Active", "Active (aktywny)"),
    ("Revoking", "Revoking (unieważniany)"),
    ("Revoked", "Revoked (unieważniony)"),
    ("Failed", "Failed (błąd)"),
];

pub async fn tokens_page(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Query(q): Query<Fields>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    ws.generated = None;
    let Some(s) = session_of(&mut ws).await else {
        return login_page(&sh, &mut ws, "/tokeny", StatusCode::OK).await;
    };
    if s.session.is_token_session() {
        return refusal_page(
            &sh,
            &mut ws,
            "Tokeny KSeF",
            "tokens",
            "/tokeny",
            REFUSE_BROWSE,
            true,
        )
        .await;
    }
    if !tokens::can_browse(&s) {
        return refusal_page(
            &sh,
            &mut ws,
            "Tokeny KSeF",
            "tokens",
            "/tokeny",
            REFUSE_NO_CREDENTIALS,
            false,
        )
        .await;
    }
    let status = q.text("status");
    let status = STATUS_FILTER
        .iter()
        .find(|(v, _)| *v == status)
        .map(|(v, _)| v.to_string())
        .unwrap_or_default();
    let filter: Vec<String> = if status.is_empty() {
        vec![]
    } else {
        vec![status.clone()]
    };
    let can_revoke = tokens::can_revoke(&s);
    let rows = match tokens::list(&mut ws.app, &filter).await {
        Ok(list) => list
            .into_iter()
            .map(|t| TokenRow {
                revocable: matches!(t.status.as_str(), "Active" | "Pending"),
                reference: t.reference_number,
                description: t.description,
                author: format!(
                    "{} {}",
                    t.author_identifier.r#type.as_str(),
                    t.author_identifier.value
                ),
                permissions: t
                    .requested_permissions
                    .iter()
                    .map(|p| p.as_str().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                status: t.status.as_str().to_string(),
                created: show_time(t.date_created),
                last_use: t.last_use_date.map(show_time).unwrap_or_else(|| "—".into()),
            })
            .collect(),
        Err(e) => {
            ws.error = Some(polish(&e));
            Vec::new()
        }
    };
    let l = layout(&sh, &mut ws, "Tokeny KSeF", "tokens", "/tokeny").await;
    render(&TokensPage {
        l,
        statuses: STATUS_FILTER.to_vec(),
        status,
        tokens: rows,
        can_revoke,
    })
}

pub async fn token_revoke(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Path(reference): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    let mut ws = lock_or_return!(sh, h, csrf = f.get("csrf"));
    let Some(s) = session_of(&mut ws).await else {
        ws.error = Some(SESSION_GONE.into());
        return see_other("/tokeny");
    };
    if s.session.is_token_session() {
        ws.error = Some(REFUSE_BROWSE.into());
    } else if !tokens::can_revoke(&s) {
        ws.error = Some(
            "Usuwanie tokenów jest możliwe jedynie dla użytkowników, którzy mają w KSeF uprawnienie \
             zarządzania uprawnieniami (CredentialsManage)."
                .into(),
        );
    } else {
        match tokens::revoke(&mut ws.app, &reference).await {
            Ok(()) => ws.flash = Some(format!("Token {reference} został usunięty (unieważniony).")),
            Err(e) => ws.error = Some(polish(&e)),
        }
    }
    see_other("/tokeny")
}

// ------------------------------------------------------------------ Użytkownicy

pub async fn users_page(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    ws.generated = None;
    let users = match sh.store.list_users().await {
        Ok(u) => u,
        Err(e) => {
            ws.error = Some(polish_store(&e));
            Vec::new()
        }
    };
    let rows = users
        .into_iter()
        .map(|u| UserRow {
            path: path_segment(&u.name),
            masked: u.token_masked.unwrap_or_else(|| "—".into()),
            name: u.name,
        })
        .collect();
    let l = layout(&sh, &mut ws, "Użytkownicy", "users", "/uzytkownicy").await;
    render(&UsersPage { l, users: rows })
}

pub async fn user_add(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Form(f): Form<Fields>,
) -> Response {
    let mut ws = lock_or_return!(sh, h, csrf = f.get("csrf"));
    let name = f.text("name");
    if name.is_empty() {
        ws.error = Some("Podaj nazwę użytkownika.".into());
    } else {
        match sh.store.add_user(&name).await {
            Ok(()) => ws.flash = Some(format!("Dodano użytkownika „{name}”.")),
            Err(e) => ws.error = Some(polish_store(&e)),
        }
    }
    see_other("/uzytkownicy")
}

async fn user_edit_page(
    sh: &Shared,
    ws: &mut WebSession,
    name: &str,
    check: Option<tokens::TokenCheck>,
    status: StatusCode,
) -> Response {
    let users = sh.store.list_users().await.unwrap_or_default();
    let Some(u) = users.into_iter().find(|u| u.name == name) else {
        ws.error = Some(format!("Nie ma użytkownika „{name}”."));
        return see_other("/uzytkownicy");
    };
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
            placeholder: u
                .token_masked
                .clone()
                .unwrap_or_else(|| "(brak tokenu — wklej token KSeF, Ctrl+V)".into()),
            has_token: u.has_token,
            name: u.name,
            path,
            check,
        },
    )
}

pub async fn user_page(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Path(name): Path<String>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    ws.generated = None;
    user_edit_page(&sh, &mut ws, &name, None, StatusCode::OK).await
}

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
    if token.parse::<KsefToken>().is_err() {
        ws.error = Some(
            "To nie jest poprawny token KSeF (oczekiwano: numer referencyjny|kontekst|sekret). Token nie został zapisany."
                .into(),
        );
        return user_edit_page(&sh, &mut ws, &name, None, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    match sh.store.set_user_token(&name, &token).await {
        Ok(()) => {
            ws.flash = Some(format!("Token KSeF zapisany dla użytkownika „{name}”."));
            see_other("/uzytkownicy")
        }
        Err(e) => {
            ws.error = Some(polish_store(&e));
            user_edit_page(&sh, &mut ws, &name, None, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

pub async fn user_check(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Path(name): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    let mut ws = lock_or_return!(sh, h, csrf = f.get("csrf"));
    match tokens::check_user_token(&ws.app, &name).await {
        Ok(c) => {
            ws.flash = Some(format!(
                "Sesja tokenem użytkownika „{name}” otwarta i zamknięta; token daje uprawnienia: {}.",
                c.permissions.join(", ")
            ));
            user_edit_page(&sh, &mut ws, &name, Some(c), StatusCode::OK).await
        }
        Err(e) => {
            ws.error = Some(polish(&e));
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
    match sh.store.remove_user(&name).await {
        Ok(()) => {
            if ws.current_user.as_deref() == Some(name.as_str()) {
                ws.current_user = None;
            }
            ws.flash = Some(format!("Usunięto użytkownika „{name}”."));
        }
        Err(e) => ws.error = Some(polish_store(&e)),
    }
    see_other("/uzytkownicy")
}

// ------------------------------------------------------------------ Ustawienia

pub async fn settings_page(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    ws.generated = None;
    let env = sh.environment().await;
    let embedded = sh.emulator.is_some();
    let environments = Environment::ALL
        .iter()
        .map(|e| {
            (
                e.name(),
                format!("{} — {}", env_label(*e, embedded), sh.base_url_of(*e)),
            )
        })
        .collect();
    let base_url = sh.base_url_of(env);
    let l = layout(&sh, &mut ws, "Ustawienia", "settings", "/ustawienia").await;
    render(&SettingsPage {
        l,
        environments,
        current: env.name(),
        base_url,
    })
}

pub async fn settings_save(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Form(f): Form<Fields>,
) -> Response {
    let mut ws = lock_or_return!(sh, h, csrf = f.get("csrf"));
    let Ok(env) = f.text("environment").parse::<Environment>() else {
        ws.error = Some("Nieznane środowisko KSeF.".into());
        return see_other("/ustawienia");
    };
    if env != sh.environment().await && session_of(&mut ws).await.is_some() {
        // Switching environments ends this browser's KSeF session; best effort at KSeF.
        let _ = auth::logout(&mut ws.app).await;
    }
    match sh.store.set_setting(ENVIRONMENT_SETTING, env.name()).await {
        Ok(()) => {
            if let Err(e) = sh.align(&mut ws).await {
                ws.error = Some(polish(&e));
            } else {
                ws.flash = Some(format!(
                    "Zapisano: środowisko {} ({}).",
                    env_label(env, sh.emulator.is_some()),
                    sh.base_url_of(env)
                ));
            }
        }
        Err(e) => ws.error = Some(polish_store(&e)),
    }
    see_other("/ustawienia")
}
