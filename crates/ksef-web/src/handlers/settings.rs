//! Ustawienia: the KSeF environment (local emulator, TEST, DEMO, PRD).

use axum::Extension;
use axum::Form;
use axum::extract::State;
use axum::response::Response;
use ksef_client::Environment;

use super::{lock_or_return, see_other};
use crate::forms::Fields;
use crate::pages::*;
use crate::state::{ENVIRONMENT_SETTING, Notice, SessionHandle, SharedState};

pub async fn settings_page(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
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
    if env != sh.environment().await {
        // Switching environments ends this browser's KSeF session; best effort at KSeF.
        ws.end_ksef_session().await;
    }
    match sh.store.set_setting(ENVIRONMENT_SETTING, env.name()).await {
        Ok(()) => {
            if let Err(e) = sh.align(&mut ws).await {
                ws.error = Some(Notice::from(&e));
            } else {
                ws.flash = Some(format!(
                    "Zapisano: środowisko {} ({}).",
                    env_label(env, sh.emulator.is_some()),
                    sh.base_url_of(env)
                ));
            }
        }
        Err(e) => ws.error = Some(Notice::from(&ksef_program::ProgramError::from(e))),
    }
    see_other("/ustawienia")
}
