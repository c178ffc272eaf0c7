//! The firms the program works for: KSeF contexts (`Nip:5265877635`, `InternalId:…`) with a
//! name for people. A firm is added when a user saves a token for it or logs in to it, or by
//! hand; the invoice register and the users' tokens are kept per firm.

use sqlx::Row;
use time::OffsetDateTime;

use crate::error::{Result, StoreError};
use crate::{Store, now_text, parse_time};

/// Longest firm name, in characters.
pub const MAX_FIRM_NAME_CHARS: usize = 256;

/// One firm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firm {
    /// The firm's key, [`crate::firm_key`] of its KSeF context.
    pub context: String,
    /// The name shown to people (the context value until someone names it).
    pub name: String,
    pub created_at: OffsetDateTime,
}

fn check_key(context: &str) -> Result<()> {
    let ok = context
        .split_once(':')
        .is_some_and(|(k, v)| !k.is_empty() && !v.is_empty())
        && context.len() <= 128
        && !context.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidFirm(context.into()))
    }
}

fn check_name(name: &str) -> Result<&str> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_FIRM_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(StoreError::InvalidFirmName);
    }
    Ok(name)
}

impl Store {
    /// Adds a firm, or renames it if it exists.
    pub async fn put_firm(&self, context: &str, name: &str) -> Result<()> {
        check_key(context)?;
        let name = check_name(name)?;
        sqlx::query(
            "INSERT INTO firms (context, name, created_at) VALUES (?, ?, ?) \
             ON CONFLICT (context) DO UPDATE SET name = excluded.name",
        )
        .bind(context)
        .bind(name)
        .bind(now_text()?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// All firms, by name.
    pub async fn list_firms(&self) -> Result<Vec<Firm>> {
        let rows =
            sqlx::query("SELECT context, name, created_at FROM firms ORDER BY name, context")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                let created: String = r.try_get("created_at")?;
                Ok(Firm {
                    context: r.try_get("context")?,
                    name: r.try_get("name")?,
                    created_at: parse_time(&created)?,
                })
            })
            .collect()
    }

    /// One firm.
    pub async fn firm(&self, context: &str) -> Result<Option<Firm>> {
        Ok(self
            .list_firms()
            .await?
            .into_iter()
            .find(|f| f.context == context))
    }
}
