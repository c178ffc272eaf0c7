//! Typed rows of the permission tables, read with `sqlx::query_as` (each column named and typed
//! once, in its `FromRow` impl), and the SQL helpers of the paged queries.

use ksef_core::{ContextIdentifier, Permission, SubjectIdentifier};
use ksef_wire::PersonalPermissionsTarget;
use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, QueryBuilder, Row, Sqlite, SqlitePool};

use super::{GrantAuthor, Page, parse_subject};
use crate::error::{ApiError, ApiResult};

/// The columns of `grants` read by [`GrantRow`].
pub(super) const GRANT_COLUMNS: &str = "g.id, g.context_type, g.context_value, \
     g.authorized_type, g.authorized_value, g.permission, g.description, g.author_type, \
     g.author_value, g.created_ms, g.subject_details, g.can_delegate, g.entity_details, \
     g.subunit_name";

/// One row of `grants` (selected as [`GRANT_COLUMNS`], the table aliased `g`).
#[derive(Debug, Clone)]
pub(super) struct GrantRow {
    pub id: String,
    pub context_type: String,
    pub context_value: String,
    pub authorized_type: String,
    pub authorized_value: String,
    pub permission: String,
    pub description: String,
    pub author_type: String,
    pub author_value: Option<String>,
    pub created_ms: i64,
    pub subject_details: Option<String>,
    pub can_delegate: bool,
    pub entity_details: Option<String>,
    pub subunit_name: Option<String>,
}

impl FromRow<'_, SqliteRow> for GrantRow {
    fn from_row(r: &SqliteRow) -> Result<Self, sqlx::Error> {
        Ok(GrantRow {
            id: r.try_get("id")?,
            context_type: r.try_get("context_type")?,
            context_value: r.try_get("context_value")?,
            authorized_type: r.try_get("authorized_type")?,
            authorized_value: r.try_get("authorized_value")?,
            permission: r.try_get("permission")?,
            description: r.try_get("description")?,
            author_type: r.try_get("author_type")?,
            author_value: r.try_get("author_value")?,
            created_ms: r.try_get("created_ms")?,
            subject_details: r.try_get("subject_details")?,
            can_delegate: r.try_get::<i64, _>("can_delegate")? != 0,
            entity_details: r.try_get("entity_details")?,
            subunit_name: r.try_get("subunit_name")?,
        })
    }
}

impl GrantRow {
    pub fn context(&self) -> ApiResult<ContextIdentifier> {
        parse_context(&self.context_type, &self.context_value)
    }
    pub fn authorized(&self) -> ApiResult<SubjectIdentifier> {
        parse_subject(&self.authorized_type, &self.authorized_value)
    }
    pub fn permission(&self) -> ApiResult<Permission> {
        parse_permission(&self.permission)
    }
    /// The author of a grant that must have one (subunit and EU-entity grants).
    pub fn required_author(&self, what: &str) -> ApiResult<SubjectIdentifier> {
        match &self.author_value {
            Some(v) => parse_subject(&self.author_type, v),
            None => Err(ApiError::internal(format!("{what} without author"))),
        }
    }
}

/// A grant of `grants` or `indirect_grants` as listed by the persons and personal queries: the
/// union of [`DIRECT_LISTED_COLUMNS`] and [`INDIRECT_LISTED_COLUMNS`].
#[derive(Debug, Clone)]
pub(super) struct ListedGrantRow {
    pub grant: GrantRow,
    /// `Nip` | `InternalId` | `AllPartners` for indirect grants, `None` for direct ones.
    pub target_type: Option<String>,
    pub target_value: Option<String>,
}

/// A direct grant (`grants g`) in the column list of [`ListedGrantRow`].
pub(super) const DIRECT_LISTED_COLUMNS: &str = "g.id, g.context_type, g.context_value, \
     g.authorized_type, g.authorized_value, g.permission, g.description, g.author_type, \
     g.author_value, g.created_ms, g.subject_details, g.can_delegate, g.entity_details, \
     g.subunit_name, NULL AS target_type, NULL AS target_value";

/// An indirect grant (`indirect_grants ig`; its context is the intermediary's) in the column
/// list of [`ListedGrantRow`].
pub(super) const INDIRECT_LISTED_COLUMNS: &str = "ig.id, ig.intermediary_type AS context_type, \
     ig.intermediary_value AS context_value, ig.authorized_type, ig.authorized_value, \
     ig.permission, ig.description, ig.author_type, ig.author_value, ig.created_ms, \
     ig.subject_details, 0 AS can_delegate, NULL AS entity_details, NULL AS subunit_name, \
     ig.target_type, ig.target_value";

impl FromRow<'_, SqliteRow> for ListedGrantRow {
    fn from_row(r: &SqliteRow) -> Result<Self, sqlx::Error> {
        Ok(ListedGrantRow {
            grant: GrantRow::from_row(r)?,
            target_type: r.try_get("target_type")?,
            target_value: r.try_get("target_value")?,
        })
    }
}

impl ListedGrantRow {
    /// The client of an indirect grant; `None` for a direct grant.
    pub fn target(&self) -> ApiResult<Option<PersonalPermissionsTarget>> {
        let internal = |e: &dyn std::fmt::Display| {
            ApiError::internal(format!("stored indirect grant target: {e}"))
        };
        let value = self.target_value.as_deref().unwrap_or("");
        Ok(match self.target_type.as_deref() {
            None => None,
            Some("AllPartners") => Some(PersonalPermissionsTarget::AllPartners),
            Some("Nip") => Some(PersonalPermissionsTarget::Nip(
                value.parse().map_err(|e| internal(&e))?,
            )),
            Some("InternalId") => Some(PersonalPermissionsTarget::InternalId(
                value.parse().map_err(|e| internal(&e))?,
            )),
            Some(other) => return Err(internal(&other)),
        })
    }
    /// Who made the grant: `System` for ZAW-FA grants (author type `System` or no author).
    pub fn author(&self) -> ApiResult<GrantAuthor> {
        let g = &self.grant;
        Ok(match (g.author_type.as_str(), &g.author_value) {
            ("System", _) | (_, None) => GrantAuthor::System,
            (t, Some(v)) => GrantAuthor::Subject(parse_subject(t, v)?),
        })
    }
}

/// A grant of an EU entity: `grants g` joined with `eu_entities e`.
#[derive(Debug, Clone)]
pub(super) struct EuGrantRow {
    pub grant: GrantRow,
    pub vat_ue: String,
    pub eu_name: String,
    pub eu_details: String,
}

impl FromRow<'_, SqliteRow> for EuGrantRow {
    fn from_row(r: &SqliteRow) -> Result<Self, sqlx::Error> {
        Ok(EuGrantRow {
            grant: GrantRow::from_row(r)?,
            vat_ue: r.try_get("vat_ue")?,
            eu_name: r.try_get("eu_name")?,
            eu_details: r.try_get("eu_details")?,
        })
    }
}

/// One row of `authorization_grants`.
#[derive(Debug, Clone)]
pub(super) struct AuthorizationRow {
    pub id: String,
    pub authorizing_nip: String,
    pub authorized_type: String,
    pub authorized_value: String,
    pub permission: String,
    pub description: String,
    pub full_name: String,
    pub author_type: String,
    pub author_value: String,
    pub created_ms: i64,
}

impl FromRow<'_, SqliteRow> for AuthorizationRow {
    fn from_row(r: &SqliteRow) -> Result<Self, sqlx::Error> {
        Ok(AuthorizationRow {
            id: r.try_get("id")?,
            authorizing_nip: r.try_get("authorizing_nip")?,
            authorized_type: r.try_get("authorized_type")?,
            authorized_value: r.try_get("authorized_value")?,
            permission: r.try_get("permission")?,
            description: r.try_get("description")?,
            full_name: r.try_get("full_name")?,
            author_type: r.try_get("author_type")?,
            author_value: r.try_get("author_value")?,
            created_ms: r.try_get("created_ms")?,
        })
    }
}

/// A role of a context or a subordinate entity: the role's source name (a `subjects.subject_type`
/// or `CourtBailiff`), its parent NIP, description and start.
#[derive(Debug, Clone)]
pub(super) struct RoleRow {
    pub nip: String,
    pub role: String,
    pub parent_nip: Option<String>,
    pub description: String,
    pub created_ms: i64,
}

impl FromRow<'_, SqliteRow> for RoleRow {
    fn from_row(r: &SqliteRow) -> Result<Self, sqlx::Error> {
        Ok(RoleRow {
            nip: r.try_get("nip")?,
            role: r.try_get("role")?,
            parent_nip: r.try_get("parent_nip")?,
            description: r.try_get("description")?,
            created_ms: r.try_get("created_ms")?,
        })
    }
}

/// A Peppol provider of `GET /peppol/query`.
#[derive(Debug, Clone)]
pub(super) struct PeppolRow {
    pub id: String,
    pub name: Option<String>,
    pub created_ms: i64,
}

impl FromRow<'_, SqliteRow> for PeppolRow {
    fn from_row(r: &SqliteRow) -> Result<Self, sqlx::Error> {
        Ok(PeppolRow {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            created_ms: r.try_get("created")?,
        })
    }
}

pub(super) fn parse_context(kind: &str, value: &str) -> ApiResult<ContextIdentifier> {
    let kind = kind
        .parse()
        .map_err(|e| ApiError::internal(format!("stored context type: {e}")))?;
    ContextIdentifier::parse(kind, value)
        .map_err(|e| ApiError::internal(format!("stored context: {e}")))
}

pub(super) fn parse_permission(name: &str) -> ApiResult<Permission> {
    name.parse()
        .map_err(|e| ApiError::internal(format!("stored grant permission: {e}")))
}

// ---------------------------------------------------------------- SQL helpers

impl Page {
    /// Runs `qb` (filters and `ORDER BY` pushed) for this page: `LIMIT size + 1 OFFSET
    /// page × size`, the extra row only telling whether more follow. Returns the page's rows
    /// and `hasMore`.
    pub(super) async fn fetch<T>(
        self,
        qb: &mut QueryBuilder<Sqlite>,
        pool: &SqlitePool,
    ) -> Result<(Vec<T>, bool), sqlx::Error>
    where
        T: for<'r> FromRow<'r, SqliteRow> + Send + Unpin,
    {
        let size = i64::from(self.size);
        qb.push(" LIMIT ")
            .push_bind(size + 1)
            .push(" OFFSET ")
            .push_bind(i64::from(self.page) * size);
        let mut rows: Vec<T> = qb.build_query_as().fetch_all(pool).await?;
        let more = rows.len() > self.size as usize;
        rows.truncate(self.size as usize);
        Ok((rows, more))
    }
}

/// ` AND {column} IN (names…)`; no name at all matches no row.
pub(super) fn push_in(qb: &mut QueryBuilder<Sqlite>, column: &str, names: &[&'static str]) {
    if names.is_empty() {
        qb.push(" AND 0");
        return;
    }
    qb.push(" AND ").push(column).push(" IN (");
    let mut list = qb.separated(", ");
    for n in names {
        list.push_bind(*n);
    }
    qb.push(")");
}

/// ` AND ({type_col} = t AND {value_col} = v OR …)` for the identifiers `ids`.
pub(super) fn push_any_identifier(
    qb: &mut QueryBuilder<Sqlite>,
    type_col: &str,
    value_col: &str,
    ids: &[(String, String)],
) {
    if ids.is_empty() {
        qb.push(" AND 0");
        return;
    }
    qb.push(" AND (");
    for (i, (t, v)) in ids.iter().enumerate() {
        if i > 0 {
            qb.push(" OR ");
        }
        qb.push("(")
            .push(type_col)
            .push(" = ")
            .push_bind(t.clone())
            .push(" AND ")
            .push(value_col)
            .push(" = ")
            .push_bind(v.clone())
            .push(")");
    }
    qb.push(")");
}

/// ` AND {type_col} = kind AND {value_col} = value`.
pub(super) fn push_identifier(
    qb: &mut QueryBuilder<Sqlite>,
    type_col: &str,
    value_col: &str,
    kind: &'static str,
    value: &str,
) {
    qb.push(" AND ")
        .push(type_col)
        .push(" = ")
        .push_bind(kind)
        .push(" AND ")
        .push(value_col)
        .push(" = ")
        .push_bind(value.to_string());
}
