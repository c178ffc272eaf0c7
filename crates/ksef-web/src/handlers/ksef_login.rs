//! Logging in to KSeF for the token screens (certificate, Profil Zaufany) and with the
//! logged-in user's own token (for invoices), and closing the KSeF session.

use std::time::Instant;

use axum::Extension;
use axum::Form;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ksef_core::warsaw;
use ksef_program::{StoredSession, auth};

use super::{human_size, lock_or_return, see_other, session_of};
use crate::forms::{Fields, Upload, safe_return_to};
use crate::pages::*;
use crate::state::{
    Notice, PendingPz, Screen, SessionHandle, Shared, SharedState, WebSession, csrf_forbidden,
};

pub async fn close_session(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Form(f): Form<Fields>,
) -> Response {
    let mut ws = lock_or_return!(sh, h, csrf = f.get("csrf"));
    ws.pending_pz = None;
    ws.generated.clear();
    ws.ksef_screen = None;
    if session_of(&mut ws).await.is_none() {
        let _ = ws.app.clear_session().await;
        ws.flash = Some("Brak otwartej sesji KSeF.".into());
    } else {
        match auth::logout(&mut ws.app).await {
            Ok(reference) => ws.flash = Some(format!("Sesja KSeF {reference} została zakończona.")),
            Err(e) => {
                let _ = ws.app.clear_session().await;
                let n = Notice::from(&e);
                ws.error = Some(Notice {
                    text: format!(
                        "Sesja KSeF została zamknięta w programie, ale KSeF zgłosił błąd: {}",
                        n.text
                    ),
                    details: n.details,
                })
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

pub(crate) async fn login_page(
    sh: &Shared,
    ws: &mut WebSession,
    return_to: &str,
    status: StatusCode,
) -> Response {
    let (heading, section, intro) = login_texts(return_to);
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
        },
    )
}

async fn login_error(
    sh: &Shared,
    ws: &mut WebSession,
    return_to: &str,
    status: StatusCode,
    message: impl Into<Notice>,
) -> Response {
    ws.error = Some(message.into());
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
            "Wybierz plik certyfikatu (PKCS#12 .p12/.pfx lub PEM).",
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
            enter_firm(sh, ws, &s).await;
            ws.ksef_screen = Some(Screen::Tokens);
            ws.ksef_last_use = Instant::now();
            ws.flash = Some(format!(
                "Zalogowano do KSeF {how} (kontekst {}).",
                context_label(&s.session.context)
            ));
            see_other(return_to)
        }
        Err(e) => {
            let m = Notice::from(&e);
            login_error(sh, ws, return_to, StatusCode::UNPROCESSABLE_ENTITY, m).await
        }
    }
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
            let m = Notice::from(&e);
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
            deadline: warsaw::format_datetime(deadline),
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
            ws.error = Some(format!("Nie można odczytać przesłanego pliku: {e}").into());
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
        ws.error = Some(
            format!(
                "Plik „{field}” jest za duży: dopuszczalny rozmiar to {}.",
                human_size(sh.max_upload_bytes)
            )
            .into(),
        );
        return pz_page(&sh, &mut ws, StatusCode::PAYLOAD_TOO_LARGE).await;
    }
    let Some(signed) = up.bytes("signed") else {
        ws.error = Some("Wskaż podpisany plik.".into());
        return pz_page(&sh, &mut ws, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let pending = ws.pending_pz.as_ref().map(|p| p.prepared.pending.clone());
    match auth::submit_signed(&mut ws.app, signed, pending.as_ref()).await {
        Ok(s) => {
            let return_to = ws
                .pending_pz
                .take()
                .map(|p| p.return_to)
                .unwrap_or_else(|| "/generuj".into());
            enter_firm(&sh, &mut ws, &s).await;
            ws.ksef_screen = Some(Screen::Tokens);
            ws.ksef_last_use = Instant::now();
            ws.flash = Some(format!(
                "Zalogowano do KSeF podpisanym plikiem (kontekst {}).",
                context_label(&s.session.context)
            ));
            see_other(&return_to)
        }
        Err(e) => {
            ws.error = Some(Notice::from(&e));
            pz_page(&sh, &mut ws, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

/// The start page's "Zaloguj tokenem": a KSeF session with the logged-in user's own token
/// (for sending and receiving invoices; it cannot generate or browse tokens).
pub async fn login_token(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Form(f): Form<Fields>,
) -> Response {
    let mut ws = lock_or_return!(sh, h, csrf = f.get("csrf"));
    ws.pending_pz = None;
    ws.generated.clear();
    let ws = &mut *ws;
    let firm = ws.firm.clone();
    match auth::login_with_user(&mut ws.app, &ws.user, firm.as_deref()).await {
        Ok(s) => {
            ws.firm = Some(ksef_store::firm_key(&s.session.context));
            ws.ksef_screen = Some(Screen::Invoices);
            ws.ksef_last_use = Instant::now();
            ws.flash = Some(format!(
                "Zalogowano do KSeF tokenem użytkownika „{}” (kontekst {}).",
                ws.user.name(),
                context_label(&s.session.context)
            ));
        }
        Err(e) => ws.error = Some(Notice::from(&e)),
    }
    see_other("/")
}

/// A KSeF login in a context makes it the current firm (added to the firms if new).
async fn enter_firm(sh: &Shared, ws: &mut WebSession, s: &StoredSession) {
    let firm = ksef_store::firm_key(&s.session.context);
    if let Ok(None) = sh.store.firm(&firm).await {
        let name = s.session.context.value().to_string();
        if let Err(e) = sh.store.put_firm(&firm, &name).await {
            tracing::warn!("cannot record the firm {firm}: {e}");
        }
    }
    ws.firm = Some(firm);
}
