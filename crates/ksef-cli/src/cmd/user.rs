//! `ksef user …`: the program's users dictionary (Konfiguracja › Użytkownicy). A user may hold a
//! KSeF token (field "Token KSeF"), stored encrypted and never shown in full.

use std::io::Read;

use crate::app::{App, CliError, CliResult, print_json, show_time};

pub async fn add(app: &mut App, name: &str) -> CliResult<()> {
    app.store().await?.add_user(name).await?;
    if app.json() {
        print_json(&serde_json::json!({"added": name.trim()}))
    } else {
        println!("program user {:?} added", name.trim());
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
                    "hasToken": u.has_token,
                    "token": u.token_masked,
                    "tokenReference": u.token_reference,
                    "tokenContext": u.token_context,
                    "tokenSetAt": u.token_set_at.map(show_time),
                })
            })
            .collect();
        return print_json(&v);
    }
    if users.is_empty() {
        println!("no program users; add one with `ksef user add NAME`");
        return Ok(());
    }
    println!("{:<24}  TOKEN KSeF", "USER");
    for u in users {
        println!(
            "{:<24}  {}",
            u.name,
            u.token_masked.as_deref().unwrap_or("-")
        );
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
    app.store().await?.set_user_token(name, &token).await?;
    if app.json() {
        print_json(&serde_json::json!({"user": name, "tokenSaved": true}))
    } else {
        println!("KSeF token saved on program user {name:?} (encrypted)");
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
