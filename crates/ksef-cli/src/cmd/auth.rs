//! `ksef auth …` output: login results, status, logout.

use crate::app::{App, CliResult, StoredSession, print_json, show_time};
pub use ksef_program::auth::*;

/// Prints a login result.
pub fn print_login(app: &App, s: &StoredSession) -> CliResult<()> {
    if app.json() {
        return print_json(&serde_json::json!({
            "referenceNumber": s.session.reference_number,
            "context": {"type": s.session.context.kind().as_str(), "value": s.session.context.value()},
            "authenticationMethod": s.session.authentication_method,
            "subject": s.subject,
            "viaUser": s.via_user,
            "accessValidUntil": show_time(s.session.access_valid_until),
            "refreshValidUntil": show_time(s.session.refresh_valid_until),
        }));
    }
    println!(
        "logged in to {} in context {} {} ({}), session {}; valid until {}",
        app.settings.base_url,
        s.session.context.kind(),
        s.session.context.value(),
        s.session.authentication_method.as_deref().unwrap_or("?"),
        s.session.reference_number,
        show_time(s.session.refresh_valid_until)
    );
    Ok(())
}

/// `ksef auth status`.
pub async fn status(app: &mut App) -> CliResult<()> {
    let s = app.session().await?;
    let sessions = app
        .client
        .auth_sessions(s.session.access_token.expose_secret(), None)
        .await?;
    let current = sessions.items.iter().find(|i| i.is_current);
    if app.json() {
        return print_json(&serde_json::json!({
            "baseUrl": app.settings.base_url,
            "referenceNumber": s.session.reference_number,
            "context": {"type": s.session.context.kind().as_str(), "value": s.session.context.value()},
            "authenticationMethod": s.session.authentication_method,
            "tokenSession": s.session.is_token_session(),
            "subject": s.subject,
            "viaUser": s.via_user,
            "active": current.is_some(),
            "accessValidUntil": show_time(s.session.access_valid_until),
            "refreshValidUntil": show_time(s.session.refresh_valid_until),
        }));
    }
    println!("KSeF:          {}", app.settings.base_url);
    println!(
        "context:       {} {}",
        s.session.context.kind(),
        s.session.context.value()
    );
    println!(
        "method:        {}",
        s.session.authentication_method.as_deref().unwrap_or("?")
    );
    if let Some(u) = &s.via_user {
        println!("program user:  {u} (KSeF token session)");
    }
    if let Some(sub) = &s.subject {
        println!("subject:       {sub}");
    }
    println!(
        "session:       {} ({})",
        s.session.reference_number,
        if current.is_some() {
            "active"
        } else {
            "not listed"
        }
    );
    println!(
        "refresh until: {}",
        show_time(s.session.refresh_valid_until)
    );
    Ok(())
}

/// `ksef auth logout`: ends the KSeF session and forgets it locally.
pub async fn logout(app: &mut App) -> CliResult<()> {
    let reference = ksef_program::auth::logout(app).await?;
    if app.json() {
        print_json(&serde_json::json!({"ended": reference}))
    } else {
        println!("KSeF session {reference} ended");
        Ok(())
    }
}
