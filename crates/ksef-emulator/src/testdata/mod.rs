//! TEST-environment helpers (`/testdata/*`, digest §17): subjects, NIP–PESEL persons, ZAW-FA-like
//! permission grants, attachment consent, context blocking.

pub(crate) mod routes;

pub(crate) use routes::routes;

use ksef_core::{ContextIdentifier, Nip, Permission, Pesel, SubjectIdentifier};
use time::OffsetDateTime;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::ms;
use ksef_wire::ExceptionCode;

fn check_description(d: &str) -> ApiResult<()> {
    let n = d.chars().count();
    if (5..=256).contains(&n) {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "description: wymagana długość 5–256 znaków, podano {n}."
        )))
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// `/testdata/subject`.
pub async fn create_subject(
    state: &AppState,
    nip: &Nip,
    subject_type: &str,
    description: &str,
    subunits: &[(Nip, String)],
    created: Option<OffsetDateTime>,
) -> ApiResult<()> {
    check_description(description)?;
    let created = ms(created.unwrap_or_else(|| state.now()));
    let mut tx = state.pool().begin_with("BEGIN IMMEDIATE").await?;
    let r = sqlx::query(
        "INSERT INTO subjects(nip, subject_type, description, created_ms) VALUES (?, ?, ?, ?)",
    )
    .bind(nip.as_str())
    .bind(subject_type)
    .bind(description)
    .bind(created)
    .execute(&mut *tx)
    .await;
    if let Err(e) = r {
        return Err(if is_unique_violation(&e) {
            ApiError::bad(
                ExceptionCode::AlreadyExists,
                format!("Podmiot {nip} już istnieje."),
            )
        } else {
            e.into()
        });
    }
    for (sub, desc) in subunits {
        check_description(desc)?;
        let r = sqlx::query(
            "INSERT INTO subjects(nip, subject_type, description, parent_nip, created_ms) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(sub.as_str())
        .bind(format!("{subject_type}Member"))
        .bind(desc)
        .bind(nip.as_str())
        .bind(created)
        .execute(&mut *tx)
        .await;
        if let Err(e) = r {
            return Err(if is_unique_violation(&e) {
                ApiError::bad(
                    ExceptionCode::AlreadyExists,
                    format!("Podmiot {sub} już istnieje."),
                )
            } else {
                e.into()
            });
        }
    }
    tx.commit().await?;
    Ok(())
}

/// `/testdata/subject/remove`: the subject and its subunits.
pub async fn remove_subject(state: &AppState, nip: &Nip) -> ApiResult<()> {
    sqlx::query("DELETE FROM subjects WHERE nip = ? OR parent_nip = ?")
        .bind(nip.as_str())
        .bind(nip.as_str())
        .execute(state.pool())
        .await?;
    Ok(())
}

/// `/testdata/person`: a natural person with a NIP–PESEL link.
pub async fn create_person(
    state: &AppState,
    nip: &Nip,
    pesel: &Pesel,
    is_bailiff: bool,
    is_deceased: bool,
    description: &str,
    created: Option<OffsetDateTime>,
) -> ApiResult<()> {
    check_description(description)?;
    let r = sqlx::query(
        "INSERT INTO persons(nip, pesel, is_bailiff, is_deceased, description, created_ms) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(nip.as_str())
    .bind(pesel.as_str())
    .bind(i64::from(is_bailiff))
    .bind(i64::from(is_deceased))
    .bind(description)
    .bind(ms(created.unwrap_or_else(|| state.now())))
    .execute(state.pool())
    .await;
    match r {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(ApiError::bad(
            ExceptionCode::AlreadyExists,
            format!("Osoba z NIP {nip} już istnieje."),
        )),
        Err(e) => Err(e.into()),
    }
}

/// `/testdata/person/remove`: the person and all their permissions.
pub async fn remove_person(state: &AppState, nip: &Nip) -> ApiResult<()> {
    let mut tx = state.pool().begin_with("BEGIN IMMEDIATE").await?;
    let pesel: Option<String> = sqlx::query_scalar("SELECT pesel FROM persons WHERE nip = ?")
        .bind(nip.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM persons WHERE nip = ?")
        .bind(nip.as_str())
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM grants WHERE authorized_type = 'Nip' AND authorized_value = ?")
        .bind(nip.as_str())
        .execute(&mut *tx)
        .await?;
    if let Some(p) = pesel {
        sqlx::query("DELETE FROM grants WHERE authorized_type = 'Pesel' AND authorized_value = ?")
            .bind(p)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// `/testdata/permissions`: ZAW-FA simulation. Grants are idempotent per permission.
pub async fn grant_permissions(
    state: &AppState,
    context: &ContextIdentifier,
    authorized: &SubjectIdentifier,
    permissions: &[(Permission, String)],
) -> ApiResult<()> {
    if permissions.is_empty() {
        return Err(ApiError::validation(
            "permissions: wymagane co najmniej jedno uprawnienie.",
        ));
    }
    let mut tx = state.pool().begin_with("BEGIN IMMEDIATE").await?;
    let now = ms(state.now());
    for (p, desc) in permissions {
        check_description(desc)?;
        let id: [u8; 16] = rand::random();
        let id = hex::encode(id);
        let id = format!(
            "{}-{}-{}-{}-{}",
            &id[0..8],
            &id[8..12],
            &id[12..16],
            &id[16..20],
            &id[20..32]
        );
        sqlx::query(
            "INSERT INTO grants(id, context_type, context_value, authorized_type, authorized_value, permission, \
             description, author_type, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, 'System', ?) \
             ON CONFLICT(context_type, context_value, authorized_type, authorized_value, permission, \
             grant_kind) DO UPDATE SET description = excluded.description",
        )
        .bind(id)
        .bind(context.kind().as_str())
        .bind(context.value())
        .bind(authorized.kind().as_str())
        .bind(authorized.value())
        .bind(p.as_str())
        .bind(desc)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// `/testdata/permissions/revoke`: all grants of `authorized` in `context`.
pub async fn revoke_permissions(
    state: &AppState,
    context: &ContextIdentifier,
    authorized: &SubjectIdentifier,
) -> ApiResult<()> {
    sqlx::query(
        "DELETE FROM grants WHERE context_type = ? AND context_value = ? AND authorized_type = ? AND authorized_value = ?",
    )
    .bind(context.kind().as_str())
    .bind(context.value())
    .bind(authorized.kind().as_str())
    .bind(authorized.value())
    .execute(state.pool())
    .await?;
    Ok(())
}

/// `/testdata/attachment` and `/testdata/attachment/revoke`.
pub async fn set_attachment(
    state: &AppState,
    nip: &Nip,
    allowed: bool,
    revoked_date: Option<String>,
) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO attachment_consents(nip, allowed, revoked_date) VALUES (?, ?, ?) \
         ON CONFLICT(nip) DO UPDATE SET allowed = excluded.allowed, revoked_date = excluded.revoked_date",
    )
    .bind(nip.as_str())
    .bind(i64::from(allowed))
    .bind(revoked_date)
    .execute(state.pool())
    .await?;
    Ok(())
}

/// `/testdata/context/block` and `/unblock`.
pub async fn set_blocked(
    state: &AppState,
    context: &ContextIdentifier,
    blocked: bool,
) -> ApiResult<()> {
    let q = if blocked {
        "INSERT OR IGNORE INTO blocked_contexts(context_type, context_value) VALUES (?, ?)"
    } else {
        "DELETE FROM blocked_contexts WHERE context_type = ? AND context_value = ?"
    };
    sqlx::query(q)
        .bind(context.kind().as_str())
        .bind(context.value())
        .execute(state.pool())
        .await?;
    Ok(())
}
