//! `ksef token …`: generate (with the seed's rules checked before KSeF is called), list, show,
//! revoke. Token management needs a session opened by certificate or Profil Zaufany.

use std::time::Duration;

use ksef_client::TokenQuery;
use ksef_core::{Permission, TokenPermission, TokenStatus};
use ksef_wire::QueryTokensResponseItem;

use crate::app::{App, CliError, CliResult, StoredSession, print_json, show_time};

/// The seed: "Sesja z tokenem nie może generować kolejnych podtokenów" / cannot browse tokens.
fn refuse_token_session(s: &StoredSession, what: &str) -> CliResult<()> {
    if s.session.is_token_session() {
        return Err(CliError(format!(
            "{what} is not possible in a session opened with a KSeF token (Sesja z tokenem nie może {}). \
             Log in with a certificate or Profil Zaufany: `ksef auth login --nip … --cert …` or `ksef auth prepare`.",
            if what.starts_with("generating") {
                "generować kolejnych tokenów"
            } else {
                "przeglądać ani usuwać tokenów"
            }
        )));
    }
    Ok(())
}

fn held(s: &StoredSession) -> Option<Vec<Permission>> {
    s.permissions
        .as_ref()
        .map(|v| v.iter().filter_map(|p| p.parse().ok()).collect())
}

/// Outcome of `token generate`.
pub struct Generated {
    pub reference_number: String,
    pub token: ksef_crypto::Zeroizing<String>,
}

/// `ksef token generate`: checks locally, mints, waits for Active, optionally saves on a user.
pub async fn generate(
    app: &mut App,
    permissions: &[TokenPermission],
    description: &str,
    save_to_user: Option<&str>,
) -> CliResult<Generated> {
    let len = description.chars().count();
    if !(5..=256).contains(&len) {
        return Err(CliError(format!(
            "--description must have 5–256 characters (has {len})"
        )));
    }
    if permissions.is_empty() {
        return Err(CliError(
            "--permissions: give at least one permission".into(),
        ));
    }
    if let Some(user) = save_to_user {
        let users = app.store().await?.list_users().await?;
        if !users.iter().any(|u| u.name.eq_ignore_ascii_case(user)) {
            return Err(CliError(format!(
                "program user {user:?} does not exist; add it with `ksef user add {user}`"
            )));
        }
    }
    let s = app.session().await?;
    refuse_token_session(&s, "generating a KSeF token")?;
    if let Some(have) = held(&s) {
        let missing: Vec<&str> = permissions
            .iter()
            .filter(|p| !have.contains(&Permission::from(**p)))
            .map(|p| p.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(CliError(format!(
                "you do not hold {} in this context; a token can carry only permissions you have \
                 (Nie można nadać tokenowi uprawnień których nie posiadasz)",
                missing.join(", ")
            )));
        }
    }
    let access = s.session.access_token.expose_secret().clone();
    let created = app
        .client
        .generate_token(&access, permissions, description)
        .await?;
    let reference = created.reference_number.clone();
    let token = ksef_crypto::Zeroizing::new(created.token.expose_secret().clone());
    if !app.json() {
        eprintln!("token {reference} created; waiting until KSeF activates it…");
    }
    app.client
        .wait_token_active(&access, &reference, Duration::from_secs(120))
        .await?;
    if let Some(user) = save_to_user {
        app.store().await?.set_user_token(user, &token).await?;
    }
    Ok(Generated {
        reference_number: reference,
        token,
    })
}

pub fn print_generated(app: &App, g: &Generated, saved_to: Option<&str>) -> CliResult<()> {
    if app.json() {
        return print_json(&serde_json::json!({
            "referenceNumber": g.reference_number,
            "token": g.token.as_str(),
            "status": "Active",
            "savedToUser": saved_to,
        }));
    }
    println!("KSeF token (Active): {}", g.reference_number);
    println!();
    println!("{}", g.token.as_str());
    println!();
    println!("Copy it now: it is shown only once and cannot be viewed again after this.");
    if let Some(u) = saved_to {
        println!("Saved on program user {u:?} (encrypted).");
    }
    Ok(())
}

fn parse_statuses(statuses: &[String]) -> CliResult<Vec<TokenStatus>> {
    statuses
        .iter()
        .flat_map(|s| s.split(','))
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse::<TokenStatus>()
                .map_err(|e| CliError(format!("--status: {e}")))
        })
        .collect()
}

/// `ksef token list`.
pub async fn list(app: &mut App, statuses: &[String]) -> CliResult<Vec<QueryTokensResponseItem>> {
    let statuses = parse_statuses(statuses)?;
    let s = app.session().await?;
    refuse_token_session(&s, "browsing KSeF tokens")?;
    let query = TokenQuery {
        statuses,
        ..TokenQuery::default()
    };
    Ok(app
        .client
        .list_all_tokens(s.session.access_token.expose_secret(), &query)
        .await?)
}

fn perms(t: &QueryTokensResponseItem) -> String {
    t.requested_permissions
        .iter()
        .map(|p| p.as_str().to_string())
        .collect::<Vec<_>>()
        .join(",")
}

pub fn print_list(app: &App, tokens: &[QueryTokensResponseItem]) -> CliResult<()> {
    if app.json() {
        return print_json(&tokens);
    }
    if tokens.is_empty() {
        println!("no KSeF tokens in this context");
        return Ok(());
    }
    println!(
        "{:<36}  {:<9}  {:<26}  {:<30}  {:<24}  {:<23}  DESCRIPTION",
        "REFERENCE", "STATUS", "AUTHOR", "PERMISSIONS", "CREATED", "LAST USE"
    );
    for t in tokens {
        println!(
            "{:<36}  {:<9}  {:<26}  {:<30}  {:<24}  {:<23}  {}",
            t.reference_number,
            t.status.as_str(),
            format!(
                "{}:{}",
                t.author_identifier.r#type.as_str(),
                t.author_identifier.value
            ),
            perms(t),
            show_time(t.date_created),
            t.last_use_date.map(show_time).unwrap_or_else(|| "-".into()),
            t.description
        );
    }
    Ok(())
}

/// `ksef token show REF`.
pub async fn show(app: &mut App, reference: &str) -> CliResult<QueryTokensResponseItem> {
    let s = app.session().await?;
    refuse_token_session(&s, "browsing KSeF tokens")?;
    Ok(app
        .client
        .token_status(s.session.access_token.expose_secret(), reference)
        .await?)
}

pub fn print_one(app: &App, t: &QueryTokensResponseItem) -> CliResult<()> {
    if app.json() {
        return print_json(t);
    }
    println!("reference:   {}", t.reference_number);
    println!("description: {}", t.description);
    println!("status:      {}", t.status.as_str());
    println!(
        "author:      {} {}",
        t.author_identifier.r#type.as_str(),
        t.author_identifier.value
    );
    println!(
        "context:     {} {}",
        t.context_identifier.r#type.as_str(),
        t.context_identifier.value
    );
    println!("permissions: {}", perms(t));
    println!("created:     {}", show_time(t.date_created));
    println!(
        "last use:    {}",
        t.last_use_date.map(show_time).unwrap_or_else(|| "-".into())
    );
    Ok(())
}

/// `ksef token revoke REF`: only with CredentialsManage (the seed: "Usuwanie tokenów jest jedynie
/// możliwe dla użytkowników, którzy mają w KSeF uprawnienie zarządzania uprawnieniami").
pub async fn revoke(app: &mut App, reference: &str) -> CliResult<()> {
    let s = app.session().await?;
    refuse_token_session(&s, "revoking KSeF tokens")?;
    if let Some(have) = held(&s)
        && !have.contains(&Permission::CredentialsManage)
    {
        return Err(CliError(
            "revoking tokens needs the CredentialsManage permission (zarządzanie uprawnieniami), \
                 which you do not hold in this context"
                .into(),
        ));
    }
    app.client
        .revoke_token(s.session.access_token.expose_secret(), reference)
        .await?;
    if app.json() {
        print_json(&serde_json::json!({"revoked": reference}))?;
    } else {
        println!("token {reference} revoked");
    }
    Ok(())
}
