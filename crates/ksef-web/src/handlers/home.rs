//! The start page: what to do first, the KSeF session with the user's own token (for
//! invoices) and, in the local and TEST environments, a test certificate for a NIP.

use axum::Extension;
use axum::Form;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use ksef_client::Environment;
use ksef_program::users;

use super::{lock_or_return, see_other, session_of};
use crate::forms::Fields;
use crate::pages::*;
use crate::state::{Notice, SessionHandle, SharedState};

/// "Zmień firmę": one click in the header; a KSeF session of another firm ends.
pub async fn switch_firm(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Form(f): Form<Fields>,
) -> Response {
    let mut ws = lock_or_return!(sh, h, csrf = f.get("csrf"));
    let firm = f.text("firm");
    match sh.store.firm(&firm).await {
        Ok(Some(found)) => {
            if ws.firm.as_deref() != Some(firm.as_str()) {
                if ws.end_ksef_session().await {
                    ws.flash = Some(format!(
                        "Sesja KSeF poprzedniej firmy została zakończona. Bieżąca firma: {} ({}).",
                        found.name,
                        firm_label(&firm)
                    ));
                } else {
                    ws.flash = Some(format!(
                        "Bieżąca firma: {} ({}).",
                        found.name,
                        firm_label(&firm)
                    ));
                }
                ws.firm = Some(firm);
            }
        }
        Ok(None) => ws.error = Some("Nie ma takiej firmy w programie.".into()),
        Err(e) => ws.error = Some(Notice::from(&ksef_program::ProgramError::from(e))),
    }
    see_other(&crate::forms::safe_return_to(&f.text("return_to")))
}

pub async fn index(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    let me = sh.store.user(ws.user.name()).await.ok();
    let has_session = session_of(&mut ws).await.is_some();
    let env = sh.environment().await;
    let firm = sh.current_firm(&mut ws).await;
    let held = me
        .as_ref()
        .zip(firm.as_deref())
        .and_then(|(u, f)| u.token_for(f));
    let token_usable = held.is_some_and(users::usable);
    let token_status = held.map(|t| {
        t.status
            .as_deref()
            .map(token_status_label)
            .unwrap_or("jeszcze nie sprawdzony — zobacz Tokeny KSeF")
            .to_string()
    });
    let test_certificates = matches!(env, Environment::Local | Environment::Test);
    let l = layout(&sh, &mut ws, "Start", "home", "/").await;
    render(&HomePage {
        l,
        firm: firm.as_deref().map(firm_label),
        has_token: held.is_some(),
        token_usable,
        token_status,
        has_session,
        test_certificates,
        nip: String::new(),
    })
}

/// "Utwórz certyfikat testowy": a self-signed certificate for a NIP (local and TEST only),
/// downloaded as PKCS#12 protected by the given password.
pub async fn test_certificate(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Form(f): Form<Fields>,
) -> Response {
    let mut ws = lock_or_return!(sh, h, csrf = f.get("csrf"));
    if !matches!(
        sh.environment().await,
        Environment::Local | Environment::Test
    ) {
        ws.error = Some(
            "Certyfikaty testowe działają tylko w lokalnym emulatorze i w środowisku TEST.".into(),
        );
        return see_other("/");
    }
    let nip_text = f.text("nip");
    let Ok(nip) = nip_text.parse::<ksef_core::Nip>() else {
        ws.error = Some(
            format!("Nieprawidłowy NIP „{nip_text}”: podaj 10 cyfr z poprawną cyfrą kontrolną.")
                .into(),
        );
        return see_other("/");
    };
    let password = ksef_crypto::Zeroizing::new(f.get("password").unwrap_or("").to_string());
    if password.chars().count() < 4 {
        ws.error = Some("Podaj hasło do pliku certyfikatu (co najmniej 4 znaki).".into());
        return see_other("/");
    }
    match ksef_program::certificates::test_certificate_for_nip(&nip, &password) {
        Ok(cert) => (
            [
                (header::CONTENT_TYPE, "application/x-pkcs12".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"certyfikat-testowy-{nip}.p12\""),
                ),
            ],
            cert.pkcs12.to_vec(),
        )
            .into_response(),
        Err(e) => {
            ws.error = Some(Notice::from(&e));
            see_other("/")
        }
    }
}
