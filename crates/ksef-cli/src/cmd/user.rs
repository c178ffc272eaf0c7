//! `ksef user …`: the program's users dictionary (Konfiguracja › Użytkownicy). A user may hold a
//! KSeF token (field "Token KSeF"), stored encrypted and never shown in full.

use std::io::Read;
use std::path::PathBuf;

use ksef_crypto::Zeroizing;
use ksef_program::users::{self, ProgramUser};
use ksef_store::TokenAfterReset;

use crate::app::{App, CliError, CliResult, print_json, show_time};

/// The environment variable holding a program user's password (when no file is given).
pub const USER_PASSWORD_ENV: &str = "KSEF_USER_PASSWORD";

/// The password from `file` (first line) or `KSEF_USER_PASSWORD`.
fn password(file: Option<PathBuf>, option: &str) -> CliResult<Zeroizing<String>> {
    match file {
        Some(f) => Ok(ksef_program::read_password_file(&f)?),
        None => std::env::var(USER_PASSWORD_ENV)
            .ok()
            .filter(|p| !p.is_empty())
            .map(Zeroizing::new)
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "the program user's password is needed: give {option} FILE or set {USER_PASSWORD_ENV}"
                ))
            }),
    }
}

/// Logs the program user in (for commands that use the user's KSeF token).
pub async fn log_in(app: &mut App, name: &str, file: Option<PathBuf>) -> CliResult<ProgramUser> {
    let pw = password(file, "--user-password-file")?;
    let store = app.store().await?.clone();
    Ok(users::log_in(&store, name, &pw).await?)
}

pub async fn add(app: &mut App, name: &str, file: Option<PathBuf>, admin: bool) -> CliResult<()> {
    let pw = password(file, "--password-file")?;
    app.store().await?.add_user(name, &pw, admin).await?;
    if app.json() {
        print_json(&serde_json::json!({"added": name.trim(), "admin": admin}))
    } else {
        let role = if admin { " (administrator)" } else { "" };
        println!("program user {:?} added{role}", name.trim());
        Ok(())
    }
}

pub async fn passwd(app: &mut App, name: &str, file: Option<PathBuf>) -> CliResult<()> {
    let pw = password(file, "--password-file")?;
    let after = app.store().await?.set_password(name, &pw).await?;
    let note = match after {
        TokenAfterReset::None => "",
        TokenAfterReset::Kept => "; the saved KSeF token was re-sealed to the new password",
        TokenAfterReset::Removed => {
            "; the saved KSeF token was sealed to the old password and has been removed \
             (save it again with `ksef user set-token`)"
        }
    };
    if app.json() {
        print_json(&serde_json::json!({
            "user": name.trim(),
            "passwordSet": true,
            "tokenRemoved": after == TokenAfterReset::Removed,
        }))
    } else {
        println!("password of program user {:?} set{note}", name.trim());
        Ok(())
    }
}

pub async fn list(app: &mut App) -> CliResult<()> {
    let users = app.store().await?.list_users().await?;
    if app.json() {
        let v: Vec<_> = users
            .iter()
            .map(|u| {
                serde_json::json!({
                    "name": u.name,
                    "admin": u.is_admin,
                    "hasPassword": u.has_password,
                    "lockedUntil": u.locked_until.map(show_time),
                    "hasToken": u.has_token,
                    "tokens": u.tokens.iter().map(|t| serde_json::json!({
                        "firm": t.firm,
                        "token": t.masked,
                        "tokenReference": t.reference,
                        "tokenContext": t.context,
                        "tokenSetAt": show_time(t.set_at),
                        "tokenStatus": t.status,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        return print_json(&v);
    }
    if users.is_empty() {
        println!("no program users; add one with `ksef user add NAME --password-file FILE`");
        return Ok(());
    }
    println!(
        "{:<24}  {:<5}  {:<22}  {:<10}  TOKEN KSeF",
        "USER", "ADMIN", "FIRM", "STATUS"
    );
    for u in users {
        let admin = if u.is_admin { "yes" } else { "no" };
        if u.tokens.is_empty() {
            println!("{:<24}  {admin:<5}  {:<22}  {:<10}  -", u.name, "-", "-");
        }
        for t in &u.tokens {
            println!(
                "{:<24}  {admin:<5}  {:<22}  {:<10}  {}",
                u.name,
                t.firm,
                t.status.as_deref().unwrap_or("-"),
                t.masked
            );
        }
    }
    Ok(())
}

/// Reads the token from stdin (pasted into the "Token KSeF" field) and saves it encrypted.
pub async fn set_token(app: &mut App, name: &str) -> CliResult<()> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|source| CliError::Io {
            action: "read the token from standard input",
            source,
        })?;
    let token = ksef_crypto::Zeroizing::new(input.trim().to_string());
    input.clear();
    if token.is_empty() {
        return Err(CliError::Usage(
            "no token on standard input; paste the KSeF token and end with Ctrl+D".into(),
        ));
    }
    let firm = app.store().await?.set_user_token(name, &token).await?;
    if app.json() {
        print_json(&serde_json::json!({"user": name, "tokenSaved": true, "firm": firm}))
    } else {
        println!("KSeF token for {firm} saved on program user {name:?} (sealed to the user)");
        Ok(())
    }
}

pub async fn remove(app: &mut App, name: &str) -> CliResult<()> {
    app.store().await?.remove_user(name).await?;
    if app.json() {
        print_json(&serde_json::json!({"removed": name}))
    } else {
        println!("program user {name:?} removed");
        Ok(())
    }
}
