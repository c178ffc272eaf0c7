//! Who may act in which context (digest §7.2, §17): the owner rule, NIP–PESEL links, grants,
//! and the caller's own grants (`/permissions/query/personal/grants`, §7.6).
//!
//! The permission-management API (§7.3–§7.7, handlers in [`routes`]) writes person
//! and entity grants to the same `grants` table, so [`effective_permissions`] sees them at the next
//! login; subunit-administrator and EU-entity grants too (in the unit's / NipVatUe context).
//! Indirect grants live in `indirect_grants` and count in the client's context while the client's
//! delegable entity grant to the intermediary exists. A grant/revoke is applied when requested;
//! its operation reports 100 for [`OPERATION_DELAY`], then the final status (the "ready at" model
//! of token activation).
//!
//! [`issuing_basis`]: whether a context may issue invoices for a seller NIP (the relations of
//! self-billing, tax representatives, subordinate units…), for the KOD II verification pages.

mod issuing;
pub(crate) mod routes;
mod rows;

pub use issuing::{IssuingBasis, issuing_basis};
pub(crate) use routes::routes;

use ksef_core::{ContextIdentifier, Nip, Permission, PermissionSet, SubjectIdentifier};
use ksef_wire::{PermissionState, PersonalPermissionType, PersonalPermissionsTarget};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use time::OffsetDateTime;

use crate::error::{ApiError, ApiResult};
use crate::store::{from_ms, ms};

/// A natural person created by `/testdata/person` (a NIP–PESEL link).
#[derive(Debug, Clone)]
pub struct PersonLink {
    pub nip: String,
    pub pesel: String,
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
        let indirect = sqlx::query(EFFECTIVE_INDIRECT_SQL)
            .bind(&t)
            .bind(&v)
            .bind(context.kind().as_str())
            .bind(context.value())
            .bind(context.kind().as_str())
            .bind(context.value())
            .fetch_all(pool)
            .await?;
        for r in indirect {
            if let Ok(p) = r.get::<String, _>("permission").parse::<Permission>() {
                set.insert(p);
            }
        }
    }
    Ok(set)
}

/// Indirect grants of (authorized type, value) in force in (context type, value) ×2: their target
/// is the context (selective) or `AllPartners` (general), and the entity of the context has given
/// the intermediary (its NIP) the same permission with `canDelegate` — withdrawing that entity
/// grant makes the indirect one ineffective.
const EFFECTIVE_INDIRECT_SQL: &str = "SELECT ig.* FROM indirect_grants ig \
     WHERE ig.authorized_type = ? AND ig.authorized_value = ? AND ig.intermediary_type = 'Nip' \
     AND ((ig.target_type = ? AND ig.target_value = ?) OR ig.target_type = 'AllPartners') \
     AND EXISTS (SELECT 1 FROM grants g WHERE g.context_type = ? AND g.context_value = ? \
         AND g.authorized_type = 'Nip' AND g.authorized_value = ig.intermediary_value \
         AND g.permission = ig.permission AND g.grant_kind = 'Entity' AND g.can_delegate != 0)";

/// The NIP of a `Nip` context only. [`ContextIdentifier::nip`] also answers for `InternalId`
/// and `NipVatUe` contexts (their parent NIP); grants and authorizations OF the entity must
/// not be visible or revocable from a subunit or an EU-entity context.
fn entity_nip(context: &ContextIdentifier) -> Option<&Nip> {
    match context {
        ContextIdentifier::Nip(nip) => Some(nip),
        _ => None,
    }
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
    /// The client of an indirect grant (`targetIdentifier`); `None` for direct grants.
    pub target: Option<PersonalPermissionsTarget>,
}

/// Filters of `POST /permissions/query/personal/grants` that apply to our data.
#[derive(Debug, Clone, Default)]
pub struct PersonalGrantFilter {
    /// Only grants of this context (`contextIdentifier`).
    pub context: Option<ContextIdentifier>,
    /// Only these permissions; empty = all (`permissionTypes`).
    pub permissions: Vec<Permission>,
    /// Only indirect grants with this target (`targetIdentifier`).
    pub target: Option<PersonalPermissionsTarget>,
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
    if filter.state == Some(PermissionState::Inactive) {
        return Ok((Vec::new(), false));
    }
    let wanted = |p: &Permission| filter.permissions.is_empty() || filter.permissions.contains(p);
    let ids = same_person_identifiers(pool, subject).await?;
    let mut qb = QueryBuilder::<Sqlite>::new("SELECT * FROM (");
    // Direct grants to any identifier of the person in this context (only the
    // `PersonalPermissionScope` vocabulary).
    let direct = filter.target.is_none() && filter.context.as_ref().is_none_or(|c| c == context);
    if direct {
        qb.push("SELECT ")
            .push(rows::DIRECT_LISTED_COLUMNS)
            .push(" FROM grants g WHERE 1");
        rows::push_identifier(
            &mut qb,
            "g.context_type",
            "g.context_value",
            context.kind().as_str(),
            context.value(),
        );
        rows::push_any_identifier(&mut qb, "g.authorized_type", "g.authorized_value", &ids);
        let names: Vec<&'static str> = Permission::ALL
            .iter()
            .filter(|p| PersonalPermissionType::try_from(**p).is_ok() && wanted(p))
            .map(|p| p.as_str())
            .collect();
        rows::push_in(&mut qb, "g.permission", &names);
        qb.push(" UNION ALL ");
    }
    // Indirect grants of the person: those made in this (intermediary) context and those in
    // force here as the target (as in [`EFFECTIVE_INDIRECT_SQL`]); the context of both is the
    // intermediary's.
    qb.push("SELECT ")
        .push(rows::INDIRECT_LISTED_COLUMNS)
        .push(" FROM indirect_grants ig WHERE 1");
    rows::push_any_identifier(&mut qb, "ig.authorized_type", "ig.authorized_value", &ids);
    qb.push(" AND ((ig.intermediary_type = ")
        .push_bind(context.kind().as_str())
        .push(" AND ig.intermediary_value = ")
        .push_bind(context.value().to_string())
        .push(") OR (ig.intermediary_type = 'Nip' AND ((ig.target_type = ")
        .push_bind(context.kind().as_str())
        .push(" AND ig.target_value = ")
        .push_bind(context.value().to_string())
        .push(
            ") OR ig.target_type = 'AllPartners') \
             AND EXISTS (SELECT 1 FROM grants g WHERE g.context_type = ",
        )
        .push_bind(context.kind().as_str())
        .push(" AND g.context_value = ")
        .push_bind(context.value().to_string())
        .push(
            " AND g.authorized_type = 'Nip' AND g.authorized_value = ig.intermediary_value \
             AND g.permission = ig.permission AND g.grant_kind = 'Entity' \
             AND g.can_delegate != 0)))",
        );
    if !filter.permissions.is_empty() {
        let names: Vec<&'static str> = filter.permissions.iter().map(|p| p.as_str()).collect();
        rows::push_in(&mut qb, "ig.permission", &names);
    }
    if let Some(target) = &filter.target {
        let (kind, value) = target_columns(target);
        rows::push_identifier(&mut qb, "ig.target_type", "ig.target_value", kind, &value);
    }
    if let Some(c) = &filter.context {
        rows::push_identifier(
            &mut qb,
            "ig.intermediary_type",
            "ig.intermediary_value",
            c.kind().as_str(),
            c.value(),
        );
    }
    qb.push(") ORDER BY created_ms DESC, id ASC");
    let (rows, has_more) = page.fetch::<rows::ListedGrantRow>(&mut qb, pool).await?;
    let mut items = Vec::with_capacity(rows.len());
    for r in rows {
        items.push(StoredGrant {
            context: r.grant.context()?,
            authorized: r.grant.authorized()?,
            permission: r.grant.permission()?,
            target: r.target()?,
            created: from_ms(r.grant.created_ms),
            id: r.grant.id,
            description: r.grant.description,
        });
    }
    Ok((items, has_more))
}

// ---------------------------------------------------------------- permission-management API

/// How long a grant/revoke operation reports 100 before its final status (digest §7.5: the
/// operation is asynchronous and "becomes 200 quickly"). Like token activation, the state is a
/// "ready at" instant resolved when read.
pub const OPERATION_DELAY: std::time::Duration = std::time::Duration::from_millis(200);
/// How long an operation status stays readable (digest §7.5: 30 days, then 410).
pub const OPERATION_RETENTION: time::Duration = time::Duration::days(30);

/// A new permission id: a UUID (36 characters, `PermissionId`).
fn new_permission_id() -> String {
    let id = hex::encode(rand::random::<[u8; 16]>());
    format!(
        "{}-{}-{}-{}-{}",
        &id[0..8],
        &id[8..12],
        &id[12..16],
        &id[16..20],
        &id[20..32]
    )
}

/// The final status of a permission operation (digest §7.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationStatus {
    pub code: i32,
    pub description: String,
    pub details: Vec<String>,
}

impl OperationStatus {
    fn accepted() -> Self {
        Self::new(100, "Operacja przyjęta do realizacji", Vec::new())
    }
    fn success() -> Self {
        Self::new(200, "Operacja zakończona sukcesem", Vec::new())
    }
    fn failed(detail: impl Into<String>) -> Self {
        Self::new(
            400,
            "Operacja zakończona niepowodzeniem",
            vec![detail.into()],
        )
    }
    fn role_mismatch(detail: impl Into<String>) -> Self {
        Self::new(
            430,
            "Kontekst identyfikatora nie odpowiada wymaganej roli lub uprawnieniom",
            vec![detail.into()],
        )
    }
    fn new(code: i32, description: &str, details: Vec<String>) -> Self {
        OperationStatus {
            code,
            description: description.to_string(),
            details,
        }
    }
}

async fn record_operation(
    tx: &mut sqlx::SqliteConnection,
    now: OffsetDateTime,
    context: &ContextIdentifier,
    operation: &str,
    outcome: &OperationStatus,
) -> ApiResult<String> {
    let reference =
        ksef_core::ReferenceNumber::generate(ksef_core::ReferenceKind::PermissionOperation, now)
            .to_string();
    sqlx::query(
        "INSERT INTO permission_operations(reference_number, context_type, context_value, operation, \
         created_ms, ready_ms, final_code, final_description, final_details) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&reference)
    .bind(context.kind().as_str())
    .bind(context.value())
    .bind(operation)
    .bind(ms(now))
    .bind(ms(now + OPERATION_DELAY))
    .bind(outcome.code)
    .bind(&outcome.description)
    .bind(serde_json::to_string(&outcome.details).map_err(ApiError::internal)?)
    .execute(tx)
    .await?;
    Ok(reference)
}

/// `POST /permissions/persons/grants` (digest §7.3): grants `permissions` in `context` to
/// `subject`, made by `author`. The grant is written to `grants` — the table
/// [`effective_permissions`] reads and `/testdata/permissions` writes — so the next login of
/// the subject carries it. Granting a permission the subject already holds is ignored (digest
/// §7.5 allows ignoring duplicates). `EnforcementOperations` needs a context with the role
/// EnforcementAuthority or CourtBailiff, otherwise the operation ends with 430 and nothing is
/// granted. Returns the operation's reference number.
pub async fn grant_person_permissions(
    pool: &SqlitePool,
    now: OffsetDateTime,
    context: &ContextIdentifier,
    author: &SubjectIdentifier,
    grant: &ksef_wire::ValidPersonPermissionsGrant,
) -> ApiResult<String> {
    let wants_enforcement = grant
        .permissions
        .contains(&ksef_wire::PersonPermissionType::EnforcementOperations);
    let outcome = if wants_enforcement && !owner_has_enforcement(pool, context).await? {
        OperationStatus::role_mismatch(
            "Uprawnienie EnforcementOperations może być nadane tylko w kontekście podmiotu z rolą \
             EnforcementAuthority lub CourtBailiff.",
        )
    } else {
        OperationStatus::success()
    };
    let details = serde_json::to_string(&grant.details).map_err(ApiError::internal)?;
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    if outcome.code == 200 {
        for p in &grant.permissions {
            insert_grant(
                &mut tx,
                NewGrant {
                    now,
                    context,
                    authorized: &grant.subject,
                    permission: Permission::from(*p),
                    description: &grant.description,
                    author,
                    kind: "Person",
                    can_delegate: false,
                    person_details: Some(&details),
                    entity_details: None,
                    subunit_name: None,
                },
            )
            .await?;
        }
    }
    let reference = record_operation(&mut tx, now, context, "Grant", &outcome).await?;
    tx.commit().await?;
    Ok(reference)
}

/// One row for [`insert_grant`].
struct NewGrant<'a> {
    now: OffsetDateTime,
    context: &'a ContextIdentifier,
    authorized: &'a SubjectIdentifier,
    permission: Permission,
    description: &'a str,
    author: &'a SubjectIdentifier,
    /// `Person` or `Entity`.
    kind: &'a str,
    can_delegate: bool,
    person_details: Option<&'a str>,
    entity_details: Option<&'a str>,
    /// Name of the unit (subunit administrator grants only).
    subunit_name: Option<&'a str>,
}

/// Inserts a grant; granting again what the identifier already holds (same kind) keeps the
/// grant and takes the new `canDelegate`.
async fn insert_grant(tx: &mut sqlx::SqliteConnection, g: NewGrant<'_>) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO grants(id, context_type, context_value, authorized_type, authorized_value, \
         permission, description, author_type, author_value, created_ms, subject_details, \
         grant_kind, can_delegate, entity_details, subunit_name) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT(context_type, context_value, authorized_type, authorized_value, permission, \
         grant_kind) DO UPDATE SET can_delegate = excluded.can_delegate",
    )
    .bind(new_permission_id())
    .bind(g.context.kind().as_str())
    .bind(g.context.value())
    .bind(g.authorized.kind().as_str())
    .bind(g.authorized.value())
    .bind(g.permission.as_str())
    .bind(g.description)
    .bind(g.author.kind().as_str())
    .bind(g.author.value())
    .bind(ms(g.now))
    .bind(g.person_details)
    .bind(g.kind)
    .bind(i64::from(g.can_delegate))
    .bind(g.entity_details)
    .bind(g.subunit_name)
    .execute(tx)
    .await?;
    Ok(())
}

/// `POST /permissions/entities/grants` (digest §7.3): lets the entity `grant.subject` handle the
/// invoices of `context` (InvoiceRead/InvoiceWrite, optionally delegable). Stored in `grants`
/// for the entity's NIP, so the entity's next login in `context` carries them. Returns the
/// operation's reference number.
pub async fn grant_entity_permissions(
    pool: &SqlitePool,
    now: OffsetDateTime,
    context: &ContextIdentifier,
    author: &SubjectIdentifier,
    grant: &ksef_wire::ValidEntityPermissionsGrant,
) -> ApiResult<String> {
    let details = serde_json::to_string(&grant.details).map_err(ApiError::internal)?;
    let authorized = SubjectIdentifier::Nip(grant.subject.clone());
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    for (p, can_delegate) in &grant.permissions {
        insert_grant(
            &mut tx,
            NewGrant {
                now,
                context,
                authorized: &authorized,
                permission: Permission::from(*p),
                description: &grant.description,
                author,
                kind: "Entity",
                can_delegate: *can_delegate,
                person_details: None,
                entity_details: Some(&details),
                subunit_name: None,
            },
        )
        .await?;
    }
    let reference =
        record_operation(&mut tx, now, context, "Grant", &OperationStatus::success()).await?;
    tx.commit().await?;
    Ok(reference)
}

/// A grant received by an entity (`POST /permissions/query/entities/grants`).
#[derive(Debug, Clone)]
pub struct ReceivedEntityGrant {
    pub grant: StoredGrant,
    pub can_delegate: bool,
}

/// `POST /permissions/query/entities/grants` (digest §7.6): InvoiceRead/InvoiceWrite the entity
/// of `context` (its NIP) received from other entities, optionally only from `from`. Sorted by
/// start date descending, then id ascending.
pub async fn received_entity_grants(
    pool: &SqlitePool,
    context: &ContextIdentifier,
    from: Option<&ContextIdentifier>,
    page: Page,
) -> ApiResult<(Vec<ReceivedEntityGrant>, bool)> {
    let Some(nip) = entity_nip(context) else {
        return Ok((Vec::new(), false));
    };
    let mut qb = QueryBuilder::<Sqlite>::new("SELECT ");
    qb.push(rows::GRANT_COLUMNS)
        .push(" FROM grants g WHERE g.grant_kind = 'Entity'");
    rows::push_identifier(
        &mut qb,
        "g.authorized_type",
        "g.authorized_value",
        "Nip",
        nip.as_str(),
    );
    if let Some(f) = from {
        rows::push_identifier(
            &mut qb,
            "g.context_type",
            "g.context_value",
            f.kind().as_str(),
            f.value(),
        );
    }
    qb.push(" ORDER BY g.created_ms DESC, g.id ASC");
    let (rows, has_more) = page.fetch::<rows::GrantRow>(&mut qb, pool).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(ReceivedEntityGrant {
            grant: StoredGrant {
                context: r.context()?,
                authorized: SubjectIdentifier::Nip(nip.clone()),
                permission: r.permission()?,
                created: from_ms(r.created_ms),
                id: r.id,
                description: r.description,
                target: None,
            },
            can_delegate: r.can_delegate,
        });
    }
    Ok((out, has_more))
}

/// `DELETE /permissions/common/grants/{permissionId}` (digest §7.4): removes the grant with this
/// id in `context`. An id that names no grant of this context is accepted (202) and the
/// operation ends with 400, as the real service validates asynchronously.
pub async fn revoke_grant(
    pool: &SqlitePool,
    now: OffsetDateTime,
    context: &ContextIdentifier,
    held: &PermissionSet,
    permission_id: &str,
) -> ApiResult<String> {
    // Which grants the caller may revoke: CredentialsManage any; SubunitManage only subunit
    // administrators; VatUeManage only EU-entity grants (a SubunitManage holder must not
    // remove the owner's appointed administrators).
    let manage = held.contains(Permission::CredentialsManage);
    let subunits = manage || held.contains(Permission::SubunitManage);
    let eu = manage || held.contains(Permission::VatUeManage);
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let mut removed = sqlx::query(
        "DELETE FROM grants WHERE id = ?1 AND context_type = ?2 AND context_value = ?3 AND ( \
         ?4 OR (?5 AND grant_kind = 'Subunit') OR \
         (?6 AND grant_kind IN ('EuAdmin', 'EuRepresentative')))",
    )
    .bind(permission_id)
    .bind(context.kind().as_str())
    .bind(context.value())
    .bind(manage)
    .bind(subunits)
    .bind(eu)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // Subunit-administrator and EU-entity grants live in the unit's / NipVatUe context; the
    // parent NIP context revokes them too.
    if let ContextIdentifier::Nip(parent) = context {
        removed += sqlx::query(
            "DELETE FROM grants WHERE id = ?1 AND ( \
             (?3 AND grant_kind = 'Subunit' AND context_type = 'InternalId' \
              AND substr(context_value, 1, 10) = ?2) OR \
             (?3 AND grant_kind = 'Subunit' AND context_type = 'Nip' \
              AND context_value IN (SELECT nip FROM subjects WHERE parent_nip = ?2)) OR \
             (?4 AND grant_kind IN ('EuAdmin', 'EuRepresentative') AND context_type = 'NipVatUe' \
              AND substr(context_value, 1, 10) = ?2))",
        )
        .bind(permission_id)
        .bind(parent.as_str())
        .bind(subunits)
        .bind(eu)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    if manage {
        removed += sqlx::query(
            "DELETE FROM indirect_grants WHERE id = ? AND intermediary_type = ? \
             AND intermediary_value = ?",
        )
        .bind(permission_id)
        .bind(context.kind().as_str())
        .bind(context.value())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    let outcome = if removed > 0 {
        OperationStatus::success()
    } else {
        OperationStatus::failed(format!(
            "Uprawnienie {permission_id} nie istnieje w bieżącym kontekście."
        ))
    };
    let reference = record_operation(&mut tx, now, context, "Revoke", &outcome).await?;
    tx.commit().await?;
    Ok(reference)
}

/// `GET /permissions/operations/{referenceNumber}` (digest §7.5): 100 until the operation is
/// ready, then its final status. Only operations of `context` are visible; an unknown one is a
/// 400/21405, one older than the retention period a 410.
pub async fn operation_status(
    pool: &SqlitePool,
    now: OffsetDateTime,
    context: &ContextIdentifier,
    reference: &str,
) -> ApiResult<OperationStatus> {
    let row = sqlx::query(
        "SELECT created_ms, ready_ms, final_code, final_description, final_details \
         FROM permission_operations WHERE reference_number = ? AND context_type = ? AND context_value = ?",
    )
    .bind(reference)
    .bind(context.kind().as_str())
    .bind(context.value())
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| {
        ApiError::validation(format!(
            "Operacja o numerze referencyjnym {reference} nie istnieje w bieżącym kontekście."
        ))
    })?;
    if from_ms(row.get("created_ms")) + OPERATION_RETENTION < now {
        return Err(ApiError::Gone(format!(
            "Status operacji {reference} nie jest już dostępny (przechowywany 30 dni)."
        )));
    }
    if ms(now) < row.get::<i64, _>("ready_ms") {
        return Ok(OperationStatus::accepted());
    }
    Ok(OperationStatus {
        code: row.get::<i64, _>("final_code") as i32,
        description: row.get("final_description"),
        details: serde_json::from_str(&row.get::<String, _>("final_details")).unwrap_or_default(),
    })
}

/// Who made a stored grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantAuthor {
    /// ZAW-FA (`/testdata/permissions`).
    System,
    Subject(SubjectIdentifier),
}

/// A grant as listed by `POST /permissions/query/persons/grants`.
#[derive(Debug, Clone)]
pub struct PersonGrant {
    pub grant: StoredGrant,
    pub author: GrantAuthor,
    /// The data of the person given when granting (`None` for ZAW-FA and entity grants).
    pub subject_details: Option<ksef_wire::PermissionsSubjectPersonDetails>,
    /// The data of the entity (entity grants only).
    pub entity_details: Option<ksef_wire::PermissionsSubjectEntityDetails>,
    pub can_delegate: bool,
}

/// Filters of `POST /permissions/query/persons/grants` (digest §7.6).
#[derive(Debug, Clone, Default)]
pub struct PersonGrantFilter {
    /// `PermissionsGrantedInCurrentContext`: only grants made by the caller (any identifier of
    /// the same person); otherwise every grant in force in the context.
    pub granted_by_caller: bool,
    pub author: Option<GrantAuthor>,
    pub authorized: Option<SubjectIdentifier>,
    pub context: Option<ContextIdentifier>,
    /// Only indirect grants with this target (`targetIdentifier`).
    pub target: Option<PersonalPermissionsTarget>,
    pub state: Option<PermissionState>,
    /// Empty = all.
    pub permissions: Vec<Permission>,
}

fn parse_subject(kind: &str, value: &str) -> ApiResult<SubjectIdentifier> {
    let kind = kind
        .parse()
        .map_err(|e| ApiError::internal(format!("stored identifier type: {e}")))?;
    SubjectIdentifier::parse(kind, value)
        .map_err(|e| ApiError::internal(format!("stored identifier: {e}")))
}

/// `POST /permissions/query/persons/grants`: person grants of `context` (only the
/// `PersonPermissionScope` vocabulary), sorted by start date descending, then id ascending.
/// Returns the page and whether more follow.
pub async fn person_grants(
    pool: &SqlitePool,
    caller: &SubjectIdentifier,
    context: &ContextIdentifier,
    filter: &PersonGrantFilter,
    page: Page,
) -> ApiResult<(Vec<PersonGrant>, bool)> {
    if filter.state == Some(PermissionState::Inactive)
        || filter.context.as_ref().is_some_and(|c| c != context)
    {
        return Ok((Vec::new(), false));
    }
    let caller_ids = if filter.granted_by_caller {
        same_person_identifiers(pool, caller).await?
    } else {
        Vec::new()
    };
    // The filters common to direct and indirect grants (alias `a`: `g` or `ig`). An author of
    // type `System` or without value is ZAW-FA (`GrantAuthor::System`); subject identifier
    // types are never `System`, so a subject author matches by type and value.
    let push_common = |qb: &mut QueryBuilder<Sqlite>, a: &str| {
        if filter.granted_by_caller {
            rows::push_any_identifier(
                qb,
                &format!("{a}.author_type"),
                &format!("{a}.author_value"),
                &caller_ids,
            );
        }
        match &filter.author {
            None => {}
            Some(GrantAuthor::System) if a == "g" => {
                qb.push(" AND (g.author_type = 'System' OR g.author_value IS NULL)");
            }
            // Indirect grants always have a subject author.
            Some(GrantAuthor::System) => {
                qb.push(" AND 0");
            }
            Some(GrantAuthor::Subject(s)) => rows::push_identifier(
                qb,
                &format!("{a}.author_type"),
                &format!("{a}.author_value"),
                s.kind().as_str(),
                s.value(),
            ),
        }
        if let Some(s) = &filter.authorized {
            rows::push_identifier(
                qb,
                &format!("{a}.authorized_type"),
                &format!("{a}.authorized_value"),
                s.kind().as_str(),
                s.value(),
            );
        }
    };
    let wanted = |p: &Permission| filter.permissions.is_empty() || filter.permissions.contains(p);
    let mut qb = QueryBuilder::<Sqlite>::new("SELECT * FROM (");
    // Direct grants of the context (only the `PersonPermissionScope` vocabulary); none when a
    // target is asked for.
    if filter.target.is_none() {
        qb.push("SELECT ")
            .push(rows::DIRECT_LISTED_COLUMNS)
            .push(" FROM grants g WHERE 1");
        rows::push_identifier(
            &mut qb,
            "g.context_type",
            "g.context_value",
            context.kind().as_str(),
            context.value(),
        );
        let names: Vec<&'static str> = Permission::ALL
            .iter()
            .filter(|p| ksef_wire::PersonPermissionType::try_from(**p).is_ok() && wanted(p))
            .map(|p| p.as_str())
            .collect();
        rows::push_in(&mut qb, "g.permission", &names);
        push_common(&mut qb, "g");
        qb.push(" UNION ALL ");
    }
    // Indirect grants made in this (intermediary) context.
    qb.push("SELECT ")
        .push(rows::INDIRECT_LISTED_COLUMNS)
        .push(" FROM indirect_grants ig WHERE 1");
    rows::push_identifier(
        &mut qb,
        "ig.intermediary_type",
        "ig.intermediary_value",
        context.kind().as_str(),
        context.value(),
    );
    if !filter.permissions.is_empty() {
        let names: Vec<&'static str> = filter.permissions.iter().map(|p| p.as_str()).collect();
        rows::push_in(&mut qb, "ig.permission", &names);
    }
    push_common(&mut qb, "ig");
    if let Some(target) = &filter.target {
        let (kind, value) = target_columns(target);
        rows::push_identifier(&mut qb, "ig.target_type", "ig.target_value", kind, &value);
    }
    qb.push(") ORDER BY created_ms DESC, id ASC");
    let (rows, has_more) = page.fetch::<rows::ListedGrantRow>(&mut qb, pool).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let target = r.target()?;
        let author = r.author()?;
        out.push(PersonGrant {
            grant: StoredGrant {
                context: r.grant.context()?,
                authorized: r.grant.authorized()?,
                permission: r.grant.permission()?,
                description: r.grant.description,
                created: from_ms(r.grant.created_ms),
                id: r.grant.id,
                target,
            },
            author,
            subject_details: r
                .grant
                .subject_details
                .and_then(|s| serde_json::from_str(&s).ok()),
            entity_details: r
                .grant
                .entity_details
                .and_then(|s| serde_json::from_str(&s).ok()),
            can_delegate: r.grant.can_delegate,
        });
    }
    Ok((out, has_more))
}

/// `GET /permissions/attachments/status` (digest §7.7): the consent of the context's NIP as set
/// by `/testdata/attachment*`; `revokedDate` is the end date given on revocation (midnight UTC).
pub async fn attachment_status(
    pool: &SqlitePool,
    context: &ContextIdentifier,
) -> ApiResult<(bool, Option<OffsetDateTime>)> {
    let Some(nip) = context.nip() else {
        return Ok((false, None));
    };
    let row = sqlx::query("SELECT allowed, revoked_date FROM attachment_consents WHERE nip = ?")
        .bind(nip.as_str())
        .fetch_optional(pool)
        .await?;
    let Some(row) = row else {
        return Ok((false, None));
    };
    let revoked = match row.get::<Option<String>, _>("revoked_date") {
        Some(d) => {
            let fmt = time::macros::format_description!("[year]-[month]-[day]");
            let date = time::Date::parse(&d, fmt)
                .map_err(|e| ApiError::internal(format!("stored attachment end date: {e}")))?;
            Some(date.midnight().assume_utc())
        }
        None => None,
    };
    Ok((row.get::<i64, _>("allowed") != 0, revoked))
}

/// One role of a context (`GET /permissions/query/entities/roles`).
#[derive(Debug, Clone)]
pub struct ContextRole {
    pub role: ksef_wire::EntityRoleType,
    pub parent: Option<String>,
    pub description: String,
    pub start: OffsetDateTime,
}

/// The roles of the context's NIP (digest §7.6), from the test data: a court bailiff person
/// (`/testdata/person` with `isBailiff`), and test subjects (`/testdata/subject`: enforcement
/// authority, JST / VAT group and their members). Sorted by start date descending (the bailiff
/// role first on a tie); returns the page and whether more follow.
pub async fn context_roles(
    pool: &SqlitePool,
    context: &ContextIdentifier,
    page: Page,
) -> ApiResult<(Vec<ContextRole>, bool)> {
    use ksef_wire::EntityRoleType as R;
    let Some(nip) = context.nip() else {
        return Ok((Vec::new(), false));
    };
    // Ties of the start date: the bailiff role first (`source` 0).
    let mut qb = QueryBuilder::<Sqlite>::new(
        "SELECT * FROM (SELECT nip, 'CourtBailiff' AS role, NULL AS parent_nip, description, \
         created_ms, 0 AS source FROM persons WHERE is_bailiff != 0 AND nip = ",
    );
    qb.push_bind(nip.as_str().to_string())
        .push(
            " UNION ALL SELECT nip, subject_type AS role, parent_nip, description, created_ms, \
             1 AS source FROM subjects WHERE subject_type IN ('EnforcementAuthority', 'JST', \
             'JSTMember', 'VatGroup', 'VatGroupMember') AND nip = ",
        )
        .push_bind(nip.as_str().to_string())
        .push(") ORDER BY created_ms DESC, source ASC");
    let (rows, has_more) = page.fetch::<rows::RoleRow>(&mut qb, pool).await?;
    let mut roles = Vec::with_capacity(rows.len());
    for r in rows {
        let role = match r.role.as_str() {
            "CourtBailiff" => R::CourtBailiff,
            "EnforcementAuthority" => R::EnforcementAuthority,
            "JST" => R::LocalGovernmentUnit,
            "JSTMember" => R::LocalGovernmentSubUnit,
            "VatGroup" => R::VatGroupUnit,
            "VatGroupMember" => R::VatGroupSubUnit,
            other => return Err(ApiError::internal(format!("context role {other}"))),
        };
        roles.push(ContextRole {
            role,
            parent: r.parent_nip,
            description: r.description,
            start: from_ms(r.created_ms),
        });
    }
    Ok((roles, has_more))
}

/// `POST /permissions/authorizations/grants` (digest §7.3): an entity-level permission of the
/// context's entity (its NIP) for `grant.subject`. Only a NIP context can authorize; in any
/// other context the operation ends with 450. Duplicates are ignored.
pub async fn grant_authorization(
    pool: &SqlitePool,
    now: OffsetDateTime,
    context: &ContextIdentifier,
    author: &SubjectIdentifier,
    grant: &ksef_wire::ValidEntityAuthorizationGrant,
) -> ApiResult<String> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let outcome = match context {
        ContextIdentifier::Nip(nip) => {
            sqlx::query(
                "INSERT INTO authorization_grants(id, authorizing_nip, authorized_type, authorized_value, \
                 permission, description, full_name, author_type, author_value, created_ms) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT(authorizing_nip, authorized_type, authorized_value, permission) DO NOTHING",
            )
            .bind(new_permission_id())
            .bind(nip.as_str())
            .bind(grant.subject.kind().as_str())
            .bind(grant.subject.value())
            .bind(grant.permission.as_str())
            .bind(&grant.description)
            .bind(&grant.full_name)
            .bind(author.kind().as_str())
            .bind(author.value())
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
            OperationStatus::success()
        }
        other => OperationStatus::new(
            450,
            "Operacja niedozwolona dla wskazanego identyfikatora lub jego typu",
            vec![format!(
                "Uprawnienia podmiotowe nadaje tylko podmiot w kontekście Nip (bieżący: {}).",
                other.kind()
            )],
        ),
    };
    let reference = record_operation(&mut tx, now, context, "Grant", &outcome).await?;
    tx.commit().await?;
    Ok(reference)
}

/// `DELETE /permissions/authorizations/grants/{permissionId}` (digest §7.4): removes an
/// entity-level permission granted by the context's entity; an unknown id makes the operation
/// end with 400.
pub async fn revoke_authorization(
    pool: &SqlitePool,
    now: OffsetDateTime,
    context: &ContextIdentifier,
    permission_id: &str,
) -> ApiResult<String> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let removed = match entity_nip(context) {
        Some(nip) => {
            sqlx::query("DELETE FROM authorization_grants WHERE id = ? AND authorizing_nip = ?")
                .bind(permission_id)
                .bind(nip.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected()
        }
        None => 0,
    };
    let outcome = if removed > 0 {
        OperationStatus::success()
    } else {
        OperationStatus::failed(format!(
            "Uprawnienie podmiotowe {permission_id} nie istnieje w bieżącym kontekście."
        ))
    };
    let reference = record_operation(&mut tx, now, context, "Revoke", &outcome).await?;
    tx.commit().await?;
    Ok(reference)
}

/// A stored entity-level authorization.
#[derive(Debug, Clone)]
pub struct StoredAuthorization {
    pub id: String,
    pub authorizing: Nip,
    pub authorized: ContextIdentifier,
    pub permission: ksef_wire::EntityAuthorizationPermissionType,
    pub description: String,
    pub full_name: String,
    pub author: SubjectIdentifier,
    pub created: OffsetDateTime,
}

/// `POST /permissions/query/authorizations/grants` (digest §7.6): the authorizations the
/// context's entity granted (`received = false`) or received, filtered; sorted by start date
/// descending, then id ascending.
pub async fn authorizations(
    pool: &SqlitePool,
    context: &ContextIdentifier,
    query: &ksef_wire::ValidEntityAuthorizationQuery,
    page: Page,
) -> ApiResult<(Vec<StoredAuthorization>, bool)> {
    use ksef_wire::WireEnum;
    let mut qb = QueryBuilder::<Sqlite>::new(
        "SELECT id, authorizing_nip, authorized_type, authorized_value, permission, description, \
         full_name, author_type, author_value, created_ms FROM authorization_grants WHERE 1",
    );
    match query.query_type {
        ksef_wire::QueryType::Granted => {
            let Some(nip) = entity_nip(context) else {
                return Ok((Vec::new(), false));
            };
            qb.push(" AND authorizing_nip = ")
                .push_bind(nip.as_str().to_string());
        }
        ksef_wire::QueryType::Received => rows::push_identifier(
            &mut qb,
            "authorized_type",
            "authorized_value",
            context.kind().as_str(),
            context.value(),
        ),
    }
    if let Some(a) = &query.authorizing {
        qb.push(" AND authorizing_nip = ")
            .push_bind(a.as_str().to_string());
    }
    if let Some(a) = &query.authorized {
        rows::push_identifier(
            &mut qb,
            "authorized_type",
            "authorized_value",
            a.kind().as_str(),
            a.value(),
        );
    }
    if !query.permission_types.is_empty() {
        let names: Vec<&'static str> = query
            .permission_types
            .iter()
            .map(|p| p.wire_name())
            .collect();
        rows::push_in(&mut qb, "permission", &names);
    }
    qb.push(" ORDER BY created_ms DESC, id ASC");
    let (rows, has_more) = page.fetch::<rows::AuthorizationRow>(&mut qb, pool).await?;
    let internal = |what: &str, e: &dyn std::fmt::Display| {
        ApiError::internal(format!("stored authorization {what}: {e}"))
    };
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let kind = r
            .authorized_type
            .parse()
            .map_err(|e| internal("type", &e))?;
        out.push(StoredAuthorization {
            authorizing: r
                .authorizing_nip
                .parse()
                .map_err(|e| internal("grantor", &e))?,
            authorized: ContextIdentifier::parse(kind, &r.authorized_value)
                .map_err(|e| internal("entity", &e))?,
            permission: ksef_wire::EntityAuthorizationPermissionType::from_wire_name(&r.permission)
                .ok_or_else(|| internal("permission", &r.permission))?,
            author: parse_subject(&r.author_type, &r.author_value)?,
            created: from_ms(r.created_ms),
            id: r.id,
            description: r.description,
            full_name: r.full_name,
        });
    }
    Ok((out, has_more))
}

// ------------------------------------------- subunits, indirect grants, EU entities, Peppol

fn mismatch(detail: impl Into<String>) -> OperationStatus {
    OperationStatus::new(
        410,
        "Podane identyfikatory są niezgodne lub pozostają w niewłaściwej relacji",
        vec![detail.into()],
    )
}

fn not_allowed_here(detail: impl Into<String>) -> OperationStatus {
    OperationStatus::new(
        450,
        "Operacja niedozwolona dla wskazanego identyfikatora lub jego typu",
        vec![detail.into()],
    )
}

/// The NIP of a subordinate entity (JST unit, VAT-group member) of `parent`, if it is one.
async fn is_subordinate_entity(
    conn: &mut sqlx::SqliteConnection,
    parent: &Nip,
    nip: &str,
) -> ApiResult<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM subjects WHERE nip = ? AND parent_nip = ? \
         AND subject_type IN ('JSTMember', 'VatGroupMember')",
    )
    .bind(nip)
    .bind(parent.as_str())
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}

/// `POST /permissions/subunits/grants` (digest §7.3): makes `grant.subject` the administrator
/// (CredentialsManage) of a subordinate unit (`InternalId` whose NIP is the context's) or of a
/// subordinate entity (`Nip` of a JST unit / VAT-group member whose parent is the context).
/// The grant lives in the unit's context, so the administrator's next login there carries it.
/// Outside a NIP context the operation ends with 450, for a unit that is not the context's
/// with 410.
pub async fn grant_subunit_admin(
    pool: &SqlitePool,
    now: OffsetDateTime,
    context: &ContextIdentifier,
    author: &SubjectIdentifier,
    grant: &ksef_wire::ValidSubunitPermissionsGrant,
) -> ApiResult<String> {
    // One write transaction from the checks to the insert: what was checked still holds.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let outcome = match (context, &grant.subunit) {
        (ContextIdentifier::Nip(parent), ContextIdentifier::InternalId(id)) => {
            if id.nip() == *parent {
                OperationStatus::success()
            } else {
                mismatch(format!(
                    "Jednostka {id} nie jest jednostką podrzędną podmiotu {parent}."
                ))
            }
        }
        (ContextIdentifier::Nip(parent), ContextIdentifier::Nip(nip)) => {
            if is_subordinate_entity(&mut tx, parent, nip.as_str()).await? {
                OperationStatus::success()
            } else {
                mismatch(format!(
                    "Podmiot {nip} nie jest podmiotem podrzędnym podmiotu {parent}."
                ))
            }
        }
        (ContextIdentifier::Nip(_), other) => {
            not_allowed_here(format!("Nieobsługiwany typ jednostki {}.", other.kind()))
        }
        (other, _) => not_allowed_here(format!(
            "Administratora jednostki podrzędnej nadaje się w kontekście Nip (bieżący: {}).",
            other.kind()
        )),
    };
    let details = serde_json::to_string(&grant.details).map_err(ApiError::internal)?;
    if outcome.code == 200 {
        insert_grant(
            &mut tx,
            NewGrant {
                now,
                context: &grant.subunit,
                authorized: &grant.subject,
                permission: Permission::CredentialsManage,
                description: &grant.description,
                author,
                kind: "Subunit",
                can_delegate: false,
                person_details: Some(&details),
                entity_details: None,
                subunit_name: grant.subunit_name.as_deref(),
            },
        )
        .await?;
    }
    let reference = record_operation(&mut tx, now, context, "Grant", &outcome).await?;
    tx.commit().await?;
    Ok(reference)
}

/// A subunit administrator grant (`POST /permissions/query/subunits/grants`).
#[derive(Debug, Clone)]
pub struct SubunitGrant {
    pub grant: StoredGrant,
    pub author: SubjectIdentifier,
    pub subject_details: Option<ksef_wire::PermissionsSubjectPersonDetails>,
    pub subunit_name: Option<String>,
}

/// `POST /permissions/query/subunits/grants` (digest §7.6): the administrator grants of the
/// units and subordinate entities of the context's NIP, optionally of one `subunit`; sorted by
/// start date descending, then id ascending.
pub async fn subunit_grants(
    pool: &SqlitePool,
    context: &ContextIdentifier,
    subunit: Option<&ContextIdentifier>,
    page: Page,
) -> ApiResult<(Vec<SubunitGrant>, bool)> {
    let ContextIdentifier::Nip(parent) = context else {
        return Ok((Vec::new(), false));
    };
    let mut qb = QueryBuilder::<Sqlite>::new("SELECT ");
    qb.push(rows::GRANT_COLUMNS)
        .push(
            " FROM grants g WHERE g.grant_kind = 'Subunit' AND \
             ((g.context_type = 'InternalId' AND substr(g.context_value, 1, 10) = ",
        )
        .push_bind(parent.as_str().to_string())
        .push(
            ") OR (g.context_type = 'Nip' AND g.context_value IN \
             (SELECT nip FROM subjects WHERE parent_nip = ",
        )
        .push_bind(parent.as_str().to_string())
        .push(")))");
    if let Some(s) = subunit {
        rows::push_identifier(
            &mut qb,
            "g.context_type",
            "g.context_value",
            s.kind().as_str(),
            s.value(),
        );
    }
    qb.push(" ORDER BY g.created_ms DESC, g.id ASC");
    let (rows, has_more) = page.fetch::<rows::GrantRow>(&mut qb, pool).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let author = r.required_author("subunit grant")?;
        out.push(SubunitGrant {
            grant: StoredGrant {
                context: r.context()?,
                authorized: r.authorized()?,
                permission: Permission::CredentialsManage,
                created: from_ms(r.created_ms),
                id: r.id,
                description: r.description,
                target: None,
            },
            author,
            subject_details: r
                .subject_details
                .and_then(|s| serde_json::from_str(&s).ok()),
            subunit_name: r.subunit_name,
        });
    }
    Ok((out, has_more))
}

/// One subordinate entity (`POST /permissions/query/subordinate-entities/roles`).
#[derive(Debug, Clone)]
pub struct SubordinateRole {
    pub nip: String,
    pub role: ksef_wire::SubordinateEntityRoleType,
    pub description: String,
    pub start: OffsetDateTime,
}

/// `POST /permissions/query/subordinate-entities/roles` (digest §7.6): the JST units and
/// VAT-group members whose parent is the context's NIP (`/testdata/subject`), optionally only
/// `only`; sorted by start date descending, then NIP ascending.
pub async fn subordinate_roles(
    pool: &SqlitePool,
    context: &ContextIdentifier,
    only: Option<&Nip>,
    page: Page,
) -> ApiResult<(Vec<SubordinateRole>, bool)> {
    let ContextIdentifier::Nip(parent) = context else {
        return Ok((Vec::new(), false));
    };
    let mut qb = QueryBuilder::<Sqlite>::new(
        "SELECT nip, subject_type AS role, parent_nip, description, created_ms FROM subjects \
         WHERE subject_type IN ('JSTMember', 'VatGroupMember') AND parent_nip = ",
    );
    qb.push_bind(parent.as_str().to_string());
    if let Some(o) = only {
        qb.push(" AND nip = ").push_bind(o.as_str().to_string());
    }
    qb.push(" ORDER BY created_ms DESC, nip ASC");
    let (rows, has_more) = page.fetch::<rows::RoleRow>(&mut qb, pool).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let role = match r.role.as_str() {
            "JSTMember" => ksef_wire::SubordinateEntityRoleType::LocalGovernmentSubUnit,
            "VatGroupMember" => ksef_wire::SubordinateEntityRoleType::VatGroupSubUnit,
            other => return Err(ApiError::internal(format!("subordinate role {other}"))),
        };
        out.push(SubordinateRole {
            nip: r.nip,
            role,
            description: r.description,
            start: from_ms(r.created_ms),
        });
    }
    Ok((out, has_more))
}

/// The stored `(target_type, target_value)` of an indirect grant's client.
fn target_columns(target: &PersonalPermissionsTarget) -> (&'static str, String) {
    match target {
        PersonalPermissionsTarget::Nip(n) => ("Nip", n.to_string()),
        PersonalPermissionsTarget::InternalId(i) => ("InternalId", i.to_string()),
        PersonalPermissionsTarget::AllPartners => ("AllPartners", String::new()),
    }
}

/// `POST /permissions/indirect/grants` (digest §7.3): the intermediary (the context's entity)
/// lets `grant.subject` handle the invoices of one client (`Nip`/`InternalId` target) or of all
/// its clients (`AllPartners`). A selective grant needs every requested permission to have been
/// given to the intermediary by the client with `canDelegate`, else the operation ends with 420
/// and nothing is stored. The grant takes effect in the client's context (see
/// [`EFFECTIVE_INDIRECT_SQL`]) as long as that delegable permission exists.
pub async fn grant_indirect(
    pool: &SqlitePool,
    now: OffsetDateTime,
    context: &ContextIdentifier,
    author: &SubjectIdentifier,
    grant: &ksef_wire::ValidIndirectPermissionsGrant,
) -> ApiResult<String> {
    let (target_type, target_value) = target_columns(&grant.target);
    // One write transaction from the delegation check to the insert: a client revoking its
    // delegable grant meanwhile cannot leave an indirect grant reported as successful.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let outcome = match context {
        ContextIdentifier::Nip(intermediary) => {
            let mut missing = Vec::new();
            if target_type != "AllPartners" {
                for p in &grant.permissions {
                    let permission = Permission::from(*p);
                    let n: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM grants WHERE context_type = ? AND context_value = ? \
                         AND authorized_type = 'Nip' AND authorized_value = ? AND permission = ? \
                         AND grant_kind = 'Entity' AND can_delegate != 0",
                    )
                    .bind(target_type)
                    .bind(&target_value)
                    .bind(intermediary.as_str())
                    .bind(permission.as_str())
                    .fetch_one(&mut *tx)
                    .await?;
                    if n == 0 {
                        missing.push(permission.as_str());
                    }
                }
            }
            if missing.is_empty() {
                OperationStatus::success()
            } else {
                OperationStatus::new(
                    420,
                    "Użyte poświadczenia nie mają uprawnień do wykonania tej operacji",
                    vec![format!(
                        "Klient {target_value} nie nadał pośrednikowi {intermediary} uprawnień z \
                         możliwością dalszego przekazania: {}.",
                        missing.join(", ")
                    )],
                )
            }
        }
        other => not_allowed_here(format!(
            "Uprawnienia pośrednie nadaje podmiot w kontekście Nip (bieżący: {}).",
            other.kind()
        )),
    };
    let details = serde_json::to_string(&grant.details).map_err(ApiError::internal)?;
    if outcome.code == 200 {
        for p in &grant.permissions {
            sqlx::query(
                "INSERT INTO indirect_grants(id, intermediary_type, intermediary_value, target_type, \
                 target_value, authorized_type, authorized_value, permission, description, \
                 author_type, author_value, subject_details, created_ms) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(new_permission_id())
            .bind(context.kind().as_str())
            .bind(context.value())
            .bind(target_type)
            .bind(&target_value)
            .bind(grant.subject.kind().as_str())
            .bind(grant.subject.value())
            .bind(Permission::from(*p).as_str())
            .bind(&grant.description)
            .bind(author.kind().as_str())
            .bind(author.value())
            .bind(&details)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
        }
    }
    let reference = record_operation(&mut tx, now, context, "Grant", &outcome).await?;
    tx.commit().await?;
    Ok(reference)
}

/// The JSON columns of EU-entity subject details: (person, entity).
fn eu_details_json(d: &ksef_wire::EuSubjectDetails) -> ApiResult<(Option<String>, Option<String>)> {
    Ok(match d {
        ksef_wire::EuSubjectDetails::Person(p) => (
            Some(serde_json::to_string(p).map_err(ApiError::internal)?),
            None,
        ),
        ksef_wire::EuSubjectDetails::Entity(e) => (
            None,
            Some(serde_json::to_string(e).map_err(ApiError::internal)?),
        ),
    })
}

/// Permissions of an EU-entity administrator (digest §7.3).
const EU_ADMIN_PERMISSIONS: [Permission; 4] = [
    Permission::VatUeManage,
    Permission::InvoiceWrite,
    Permission::InvoiceRead,
    Permission::Introspection,
];

/// `POST /permissions/eu-entities/administration/grants` (digest §7.3): creates the composite
/// context `{nip}-{VAT UE}` (its NIP must be the context's, else 410; only from a NIP context,
/// else 450) and makes the fingerprint its administrator (VatUeManage, InvoiceWrite,
/// InvoiceRead, Introspection), effective at the next login in the NipVatUe context. Granting
/// again for an existing EU entity keeps its original name and details.
pub async fn grant_eu_admin(
    pool: &SqlitePool,
    now: OffsetDateTime,
    context: &ContextIdentifier,
    author: &SubjectIdentifier,
    grant: &ksef_wire::ValidEuEntityAdministrationGrant,
) -> ApiResult<String> {
    let outcome = match context {
        ContextIdentifier::Nip(nip) if *nip == grant.context.nip() => OperationStatus::success(),
        ContextIdentifier::Nip(nip) => mismatch(format!(
            "Kontekst {} nie należy do podmiotu {nip}.",
            grant.context
        )),
        other => not_allowed_here(format!(
            "Administratora podmiotu unijnego nadaje się w kontekście Nip (bieżący: {}).",
            other.kind()
        )),
    };
    let (person, entity) = eu_details_json(&grant.details)?;
    let eu_context = ContextIdentifier::NipVatUe(grant.context.clone());
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    if outcome.code == 200 {
        sqlx::query(
            "INSERT INTO eu_entities(context_value, nip, vat_ue, name, details, created_ms) \
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(context_value) DO NOTHING",
        )
        .bind(grant.context.as_str())
        .bind(grant.context.nip().as_str())
        .bind(grant.context.vat_ue())
        .bind(&grant.eu_entity_name)
        .bind(serde_json::to_string(&grant.eu_entity_details).map_err(ApiError::internal)?)
        .bind(ms(now))
        .execute(&mut *tx)
        .await?;
        for p in EU_ADMIN_PERMISSIONS {
            insert_grant(
                &mut tx,
                NewGrant {
                    now,
                    context: &eu_context,
                    authorized: &grant.subject,
                    permission: p,
                    description: &grant.description,
                    author,
                    kind: "EuAdmin",
                    can_delegate: false,
                    person_details: person.as_deref(),
                    entity_details: entity.as_deref(),
                    subunit_name: None,
                },
            )
            .await?;
        }
    }
    let reference = record_operation(&mut tx, now, context, "Grant", &outcome).await?;
    tx.commit().await?;
    Ok(reference)
}

/// `POST /permissions/eu-entities/grants` (digest §7.3): InvoiceRead/InvoiceWrite for a
/// representative (fingerprint) of the EU entity of the current NipVatUe context; in any other
/// context the operation ends with 450.
pub async fn grant_eu_representative(
    pool: &SqlitePool,
    now: OffsetDateTime,
    context: &ContextIdentifier,
    author: &SubjectIdentifier,
    grant: &ksef_wire::ValidEuEntityPermissionsGrant,
) -> ApiResult<String> {
    let outcome = match context {
        ContextIdentifier::NipVatUe(_) => OperationStatus::success(),
        other => not_allowed_here(format!(
            "Reprezentanta podmiotu unijnego nadaje się w kontekście NipVatUe (bieżący: {}).",
            other.kind()
        )),
    };
    let (person, entity) = eu_details_json(&grant.details)?;
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    if outcome.code == 200 {
        for p in &grant.permissions {
            insert_grant(
                &mut tx,
                NewGrant {
                    now,
                    context,
                    authorized: &grant.subject,
                    permission: Permission::from(*p),
                    description: &grant.description,
                    author,
                    kind: "EuRepresentative",
                    can_delegate: false,
                    person_details: person.as_deref(),
                    entity_details: entity.as_deref(),
                    subunit_name: None,
                },
            )
            .await?;
        }
    }
    let reference = record_operation(&mut tx, now, context, "Grant", &outcome).await?;
    tx.commit().await?;
    Ok(reference)
}

/// An EU-entity administrator or representative grant.
#[derive(Debug, Clone)]
pub struct EuGrant {
    pub id: String,
    pub author: SubjectIdentifier,
    pub vat_ue: String,
    pub eu_entity_name: String,
    pub fingerprint: String,
    pub permission: Permission,
    pub description: String,
    pub person_details: Option<ksef_wire::PermissionsSubjectPersonDetails>,
    pub entity_details: Option<ksef_wire::PermissionsSubjectEntityDetails>,
    pub eu_entity_details: Option<ksef_wire::EuEntityDetails>,
    pub created: OffsetDateTime,
}

/// `POST /permissions/query/eu-entities/grants` (digest §7.6): in a NIP context the grants of
/// all its EU entities, in a NipVatUe context those of that entity; filtered, sorted by start
/// date descending, then id ascending.
pub async fn eu_grants(
    pool: &SqlitePool,
    context: &ContextIdentifier,
    query: &ksef_wire::ValidEuEntityPermissionsQuery,
    page: Page,
) -> ApiResult<(Vec<EuGrant>, bool)> {
    let nip = match context {
        ContextIdentifier::Nip(n) => n.clone(),
        ContextIdentifier::NipVatUe(c) => c.nip(),
        _ => return Ok((Vec::new(), false)),
    };
    let mut qb = QueryBuilder::<Sqlite>::new("SELECT ");
    qb.push(rows::GRANT_COLUMNS)
        .push(
            ", e.vat_ue, e.name AS eu_name, e.details AS eu_details FROM grants g \
             JOIN eu_entities e ON e.context_value = g.context_value \
             WHERE g.context_type = 'NipVatUe' AND e.nip = ",
        )
        .push_bind(nip.as_str().to_string())
        .push(" AND g.grant_kind IN ('EuAdmin', 'EuRepresentative')");
    if let ContextIdentifier::NipVatUe(c) = context {
        qb.push(" AND g.context_value = ")
            .push_bind(c.as_str().to_string());
    }
    // A stored permission outside the vocabulary is left out (as before paging moved to SQL).
    let names: Vec<&'static str> = Permission::ALL
        .iter()
        .filter(|p| {
            query.permission_types.is_empty()
                || query
                    .permission_types
                    .iter()
                    .any(|q| Permission::from(*q) == **p)
        })
        .map(|p| p.as_str())
        .collect();
    rows::push_in(&mut qb, "g.permission", &names);
    if let Some(v) = &query.vat_ue {
        qb.push(" AND e.vat_ue = ").push_bind(v.clone());
    }
    if let Some(f) = &query.fingerprint {
        qb.push(" AND g.authorized_value = ").push_bind(f.clone());
    }
    qb.push(" ORDER BY g.created_ms DESC, g.id ASC");
    let (rows, has_more) = page.fetch::<rows::EuGrantRow>(&mut qb, pool).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let g = r.grant;
        out.push(EuGrant {
            author: g.required_author("EU-entity grant")?,
            permission: g.permission()?,
            id: g.id,
            vat_ue: r.vat_ue,
            eu_entity_name: r.eu_name,
            fingerprint: g.authorized_value,
            description: g.description,
            person_details: g
                .subject_details
                .and_then(|s| serde_json::from_str(&s).ok()),
            entity_details: g.entity_details.and_then(|s| serde_json::from_str(&s).ok()),
            eu_entity_details: serde_json::from_str(&r.eu_details).ok(),
            created: from_ms(g.created_ms),
        });
    }
    Ok((out, has_more))
}

/// A Peppol service provider known to the emulator.
#[derive(Debug, Clone)]
pub struct PeppolProvider {
    pub id: String,
    pub name: String,
    pub created: OffsetDateTime,
}

/// `GET /peppol/query` (digest §18): the Peppol providers the emulator knows — every PeppolId
/// that authenticated successfully (KSeF registers a provider at its first authentication) or
/// received an entity-level authorization (`PefInvoicing`, …). The name is the `fullName` of the
/// earliest authorization, else `Dostawca usług Peppol {id}`; `dateCreated` is the first
/// sighting. Sorted by `dateCreated` descending, then id ascending.
pub async fn peppol_providers(
    pool: &SqlitePool,
    page: Page,
) -> ApiResult<(Vec<PeppolProvider>, bool)> {
    let mut qb = QueryBuilder::<Sqlite>::new(
        "SELECT p.pid AS id, MIN(p.created) AS created, \
         (SELECT a.full_name FROM authorization_grants a WHERE a.authorized_type = 'PeppolId' \
          AND a.authorized_value = p.pid ORDER BY a.created_ms ASC LIMIT 1) AS name FROM ( \
           SELECT authorized_value AS pid, created_ms AS created FROM authorization_grants \
           WHERE authorized_type = 'PeppolId' \
           UNION ALL \
           SELECT context_value AS pid, started_ms AS created FROM auth_operations \
           WHERE context_type = 'PeppolId' AND final_code = 200) p \
         GROUP BY p.pid ORDER BY created DESC, id ASC",
    );
    let (rows, has_more) = page.fetch::<rows::PeppolRow>(&mut qb, pool).await?;
    let list = rows
        .into_iter()
        .map(|r| PeppolProvider {
            name: r
                .name
                .unwrap_or_else(|| format!("Dostawca usług Peppol {}", r.id)),
            created: from_ms(r.created_ms),
            id: r.id,
        })
        .collect();
    Ok((list, has_more))
}
