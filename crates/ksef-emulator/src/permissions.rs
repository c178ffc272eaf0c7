//! Who may act in which context (digest §7.2, §17): the owner rule, NIP–PESEL links, grants,
//! and the caller's own grants (`/permissions/query/personal/grants`, §7.6).

use ksef_core::{ContextIdentifier, Nip, Permission, PermissionSet, SubjectIdentifier};
use ksef_wire::{PermissionState, PersonalPermissionType};
use sqlx::{Row, SqlitePool};
use time::OffsetDateTime;

use crate::error::{ApiError, ApiResult};
use crate::store::from_ms;

/// A natural person created by `/testdata/person` (a NIP–PESEL link).
#[derive(Debug, Clone)]
pub struct PersonLink {
    pub nip: String,
    pub pesel: String,
    pub is_bailiff: bool,
    pub is_deceased: bool,
}

/// The person records linked to a subject (by NIP or by PESEL).
pub async fn person_links(
    pool: &SqlitePool,
    subject: &SubjectIdentifier,
) -> Result<Vec<PersonLink>, sqlx::Error> {
    let column = match subject {
        SubjectIdentifier::Nip(_) => "nip",
        SubjectIdentifier::Pesel(_) => "pesel",
        SubjectIdentifier::Fingerprint(_) => return Ok(Vec::new()),
    };
    // `column` is one of two literals above, never input.
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT nip, pesel, is_bailiff, is_deceased FROM persons WHERE {column} = ?"
    )))
    .bind(subject.value())
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| PersonLink {
            nip: r.get("nip"),
            pesel: r.get("pesel"),
            is_bailiff: r.get::<i64, _>("is_bailiff") != 0,
            is_deceased: r.get::<i64, _>("is_deceased") != 0,
        })
        .collect())
}

/// Every identifier that denotes the same person as `subject` (the NIP–PESEL link counts as the
/// same author — digest §6.3/§6.4). Always contains `subject` itself.
pub async fn same_person_identifiers(
    pool: &SqlitePool,
    subject: &SubjectIdentifier,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let mut ids = vec![(
        subject.kind().as_str().to_string(),
        subject.value().to_string(),
    )];
    for link in person_links(pool, subject).await? {
        let (t, v) = match subject {
            SubjectIdentifier::Nip(_) => ("Pesel", link.pesel),
            _ => ("Nip", link.nip),
        };
        if !ids.iter().any(|(a, b)| a == t && *b == v) {
            ids.push((t.to_string(), v));
        }
    }
    Ok(ids)
}

/// Whether the subject is the owner of the context (digest §7.2).
pub async fn is_owner(
    pool: &SqlitePool,
    subject: &SubjectIdentifier,
    context: &ContextIdentifier,
) -> Result<bool, sqlx::Error> {
    let ContextIdentifier::Nip(ctx_nip) = context else {
        return Ok(false);
    };
    match subject {
        SubjectIdentifier::Nip(n) => Ok(n == ctx_nip),
        SubjectIdentifier::Pesel(_) => Ok(person_links(pool, subject)
            .await?
            .iter()
            .any(|l| l.nip == ctx_nip.as_str())),
        SubjectIdentifier::Fingerprint(_) => Ok(false),
    }
}

/// The permissions `subject` holds in `context` right now: owner permissions plus grants to any
/// identifier of the same person.
pub async fn effective_permissions(
    pool: &SqlitePool,
    subject: &SubjectIdentifier,
    context: &ContextIdentifier,
) -> Result<PermissionSet, sqlx::Error> {
    let mut set = PermissionSet::default();
    if is_owner(pool, subject, context).await? {
        let enforcement = owner_has_enforcement(pool, context).await?;
        set = PermissionSet::owner(enforcement);
    }
    for (t, v) in same_person_identifiers(pool, subject).await? {
        let rows = sqlx::query(
            "SELECT permission FROM grants WHERE context_type = ? AND context_value = ? \
             AND authorized_type = ? AND authorized_value = ?",
        )
        .bind(context.kind().as_str())
        .bind(context.value())
        .bind(&t)
        .bind(&v)
        .fetch_all(pool)
        .await?;
        for r in rows {
            let name: String = r.get("permission");
            if let Ok(p) = name.parse::<Permission>() {
                set.insert(p);
            }
        }
    }
    Ok(set)
}

/// Owners get `EnforcementOperations` only when the context is a court bailiff (person with
/// `isBailiff`) or an enforcement authority (test subject) — digest §7.1.
async fn owner_has_enforcement(
    pool: &SqlitePool,
    context: &ContextIdentifier,
) -> Result<bool, sqlx::Error> {
    let Some(nip) = context.nip() else {
        return Ok(false);
    };
    let bailiff: Option<i64> = sqlx::query_scalar("SELECT is_bailiff FROM persons WHERE nip = ?")
        .bind(nip.as_str())
        .fetch_optional(pool)
        .await?;
    if bailiff.unwrap_or(0) != 0 {
        return Ok(true);
    }
    let authority: Option<String> =
        sqlx::query_scalar("SELECT subject_type FROM subjects WHERE nip = ?")
            .bind(nip.as_str())
            .fetch_optional(pool)
            .await?;
    Ok(authority.as_deref() == Some("EnforcementAuthority"))
}

/// Whether authentication in this context is blocked (`/testdata/context/block`).
pub async fn is_blocked(
    pool: &SqlitePool,
    context: &ContextIdentifier,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM blocked_contexts WHERE context_type = ? AND context_value = ?",
    )
    .bind(context.kind().as_str())
    .bind(context.value())
    .fetch_one(pool)
    .await?;
    Ok(n > 0)
}

/// Whether the person behind `subject` is marked deceased (`/testdata/person` `isDeceased`).
pub async fn is_deceased(
    pool: &SqlitePool,
    subject: &SubjectIdentifier,
) -> Result<bool, sqlx::Error> {
    Ok(person_links(pool, subject)
        .await?
        .iter()
        .any(|l| l.is_deceased))
}

/// Convenience: the NIP of a subject that is a NIP.
pub fn subject_nip(subject: &SubjectIdentifier) -> Option<&Nip> {
    match subject {
        SubjectIdentifier::Nip(n) => Some(n),
        _ => None,
    }
}

/// A grant as stored in `grants` (today created by `/testdata/permissions`, the ZAW-FA
/// simulation; author type `System`).
#[derive(Debug, Clone)]
pub struct StoredGrant {
    /// Permission id (a UUID; `PermissionId` on the wire).
    pub id: String,
    pub context: ContextIdentifier,
    pub authorized: SubjectIdentifier,
    pub permission: Permission,
    pub description: String,
    /// When the grant became effective (`startDate`).
    pub created: OffsetDateTime,
}

/// Filters of `POST /permissions/query/personal/grants` that apply to our data.
#[derive(Debug, Clone, Default)]
pub struct PersonalGrantFilter {
    /// Only grants of this context (`contextIdentifier`).
    pub context: Option<ContextIdentifier>,
    /// Only these permissions; empty = all (`permissionTypes`).
    pub permissions: Vec<Permission>,
    /// Whether the request asked for a particular indirect-permission target. Stored grants
    /// are all direct, so no grant matches such a filter.
    pub target: bool,
    /// `permissionState` asked for; every stored grant is active.
    pub state: Option<PermissionState>,
}

/// One page of a `pageOffset`/`pageSize` query (digest §2.2: `page` is a 0-based page index).
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub page: u32,
    pub size: u32,
}

/// The caller's own grants in `context` (digest §7.6): grants to any identifier of the same
/// person (the NIP–PESEL link counts). Ownership is a role, not a grant, so it never appears.
/// Sorted by start date descending, then id ascending; only permissions of the
/// `PersonalPermissionScope` vocabulary. Returns the page and whether more follow.
pub async fn personal_grants(
    pool: &SqlitePool,
    subject: &SubjectIdentifier,
    context: &ContextIdentifier,
    filter: &PersonalGrantFilter,
    page: Page,
) -> ApiResult<(Vec<StoredGrant>, bool)> {
    if filter.target
        || filter.state == Some(PermissionState::Inactive)
        || filter.context.as_ref().is_some_and(|c| c != context)
    {
        return Ok((Vec::new(), false));
    }
    // A person holds at most one grant per permission and identifier in a context (UNIQUE in
    // `grants`), i.e. a handful of rows: filtering, sorting and paging happen here rather than
    // in dynamically assembled SQL.
    let mut grants = Vec::new();
    for (t, v) in same_person_identifiers(pool, subject).await? {
        let rows = sqlx::query(
            "SELECT id, authorized_type, authorized_value, permission, description, created_ms \
             FROM grants WHERE context_type = ? AND context_value = ? \
             AND authorized_type = ? AND authorized_value = ?",
        )
        .bind(context.kind().as_str())
        .bind(context.value())
        .bind(&t)
        .bind(&v)
        .fetch_all(pool)
        .await?;
        for r in rows {
            let name: String = r.get("permission");
            let permission: Permission = name
                .parse()
                .map_err(|e| ApiError::internal(format!("stored grant permission: {e}")))?;
            if PersonalPermissionType::try_from(permission).is_err()
                || !(filter.permissions.is_empty() || filter.permissions.contains(&permission))
            {
                continue;
            }
            let kind = r
                .get::<String, _>("authorized_type")
                .parse()
                .map_err(|e| ApiError::internal(format!("stored grant identifier type: {e}")))?;
            let authorized =
                SubjectIdentifier::parse(kind, &r.get::<String, _>("authorized_value"))
                    .map_err(|e| ApiError::internal(format!("stored grant identifier: {e}")))?;
            grants.push(StoredGrant {
                id: r.get("id"),
                context: context.clone(),
                authorized,
                permission,
                description: r.get("description"),
                created: from_ms(r.get("created_ms")),
            });
        }
    }
    grants.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
    let size = page.size as usize;
    let start = (page.page as usize).saturating_mul(size);
    let has_more = grants.len() > start.saturating_add(size);
    let items = grants.into_iter().skip(start).take(size).collect();
    Ok((items, has_more))
}
