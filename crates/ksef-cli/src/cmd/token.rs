//! `ksef token …` output.

use ksef_wire::QueryTokensResponseItem;

use crate::app::{App, CliResult, print_json, show_time};
pub use ksef_program::tokens::*;

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

/// `ksef token revoke REF`.
pub async fn revoke_and_print(app: &mut App, reference: &str) -> CliResult<()> {
    revoke(app, reference).await?;
    if app.json() {
        print_json(&serde_json::json!({"revoked": reference}))
    } else {
        println!("token {reference} revoked");
        Ok(())
    }
}
