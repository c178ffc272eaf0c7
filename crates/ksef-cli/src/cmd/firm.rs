//! `ksef firm …`: the firms (KSeF contexts) the program works for. A firm is also added when a
//! token for it is saved on a user; users hold one token per firm.

use crate::app::{App, CliResult, print_json, show_time};

pub async fn list(app: &mut App) -> CliResult<()> {
    let firms = app.store().await?.list_firms().await?;
    if app.json() {
        let v: Vec<_> = firms
            .iter()
            .map(|f| {
                serde_json::json!({
                    "context": f.context,
                    "name": f.name,
                    "createdAt": show_time(f.created_at),
                })
            })
            .collect();
        return print_json(&v);
    }
    if firms.is_empty() {
        println!("no firms yet; add one with `ksef firm add --nip NIP --name NAME`");
        return Ok(());
    }
    println!("{:<32}  NAME", "FIRM");
    for f in firms {
        println!("{:<32}  {}", f.context, f.name);
    }
    Ok(())
}

/// Adds a firm (or renames it).
pub async fn add(
    app: &mut App,
    context: &ksef_core::ContextIdentifier,
    name: &str,
) -> CliResult<()> {
    let key = ksef_store::firm_key(context);
    app.store().await?.put_firm(&key, name).await?;
    if app.json() {
        print_json(&serde_json::json!({"context": key, "name": name.trim()}))
    } else {
        println!("firm {key} ({}) saved", name.trim());
        Ok(())
    }
}
