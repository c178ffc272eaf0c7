//! The routes of the permission-management endpoints (digest §7.3–§7.7): person and entity grants, entity-level
//! authorizations, revocation, the operation status, the persons / entities / authorizations
//! queries, attachment consent and the context's roles; subunit administrators and subordinate
//! entities, indirect grants (intermediary → person, for one client or all partners), EU-entity
//! administrators and representatives (NipVatUe contexts), and the public Peppol provider list.
//!
//! Thin handlers: the bearer is checked first, then the required permissions
//! (`x-required-permissions`, 403 `missing-permissions`), then the body (400/21405); the logic
//! lives in [`crate::permissions`]. Person and entity grants go to the same `grants` table
//! `/testdata/permissions` writes and authentication reads, so they take effect at the subject's
//! next login; subunit and EU-entity grants are written there too, in the unit's / NipVatUe
//! context. Indirect grants have their own table and take effect in the client's context while
//! the client's delegable entity grant to the intermediary exists. Entity-level authorizations (SelfInvoicing, …) are stored and listed; invoice
//! validation does not consult them yet.

use std::future::Future;
use std::pin::Pin;

use axum::extract::{FromRequest, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ksef_core::{ContextIdentifier, Permission, SubjectIdentifier};
use ksef_wire as wire;
use ksef_wire::{Operation, Validate};
use sqlx::SqlitePool;
use time::OffsetDateTime;

use crate::auth::ContextSession;
use crate::endpoint::{Routes, handle};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, form_pairs, optional_json, page_size};
use crate::permissions::{self, GrantAuthor, PersonGrantFilter};
use crate::state::AppState;

/// The routes of this module (merged into the `/v2` router).
pub fn routes() -> Routes {
    vec![
        handle(
            Operation::GrantPersonPermissions,
            grant::<wire::PersonPermissionsGrantRequest>,
        ),
        handle(
            Operation::GrantEntityPermissions,
            grant::<wire::EntityPermissionsGrantRequest>,
        ),
        handle(Operation::QueryEntityGrants, query_entities),
        handle(
            Operation::GrantAuthorizationPermissions,
            grant::<wire::EntityAuthorizationPermissionsGrantRequest>,
        ),
        handle(
            Operation::RevokeAuthorizationPermission,
            revoke_authorization,
        ),
        handle(Operation::QueryAuthorizationGrants, query_authorizations),
        handle(Operation::RevokePermission, revoke_common_grant),
        handle(Operation::PermissionOperationStatus, operation_status),
        handle(Operation::QueryPersonGrants, query_persons),
        handle(Operation::AttachmentPermissionStatus, attachments_status),
        handle(Operation::QueryEntityRoles, query_entity_roles),
        handle(
            Operation::GrantSubunitPermissions,
            grant::<wire::SubunitPermissionsGrantRequest>,
        ),
        handle(Operation::QuerySubunitGrants, query_subunits),
        handle(
            Operation::QuerySubordinateEntityRoles,
            query_subordinate_roles,
        ),
        handle(
            Operation::GrantIndirectPermissions,
            grant::<wire::IndirectPermissionsGrantRequest>,
        ),
        handle(
            Operation::GrantEuEntityAdministration,
            grant::<wire::EuEntityAdministrationPermissionsGrantRequest>,
        ),
        handle(
            Operation::GrantEuEntityPermissions,
            grant::<wire::EuEntityPermissionsGrantRequest>,
        ),
        handle(Operation::QueryEuEntityGrants, query_eu_entities),
        handle(Operation::QueryPersonalGrants, query_personal_grants),
        handle(Operation::QueryPeppolProviders, query_peppol),
    ]
}

/// A required JSON body, read only after the authorization checks.
async fn json_body<T: serde::de::DeserializeOwned>(state: &AppState, req: Request) -> ApiResult<T> {
    let ApiJson(v) = ApiJson::<T>::from_request(req, state).await?;
    Ok(v)
}

fn invalid(e: wire::ValidationError) -> ApiError {
    ApiError::validation(e.to_string())
}

fn accepted(reference_number: String) -> impl IntoResponse {
    (
        StatusCode::ACCEPTED,
        axum::Json(wire::PermissionsOperationResponse { reference_number }),
    )
}

/// A grant request of the permission API: the permission its sender must hold and how the
/// validated grant is recorded (with its asynchronous operation).
trait GrantRequest: wire::Validate<Valid: Send + Sync> + serde::de::DeserializeOwned + Send {
    /// The permission the caller must hold in its context.
    const NEEDED: Permission;
    /// Records the grant and its operation → the operation's reference number.
    fn record<'a>(
        pool: &'a SqlitePool,
        now: OffsetDateTime,
        context: &'a ContextIdentifier,
        author: &'a SubjectIdentifier,
        grant: &'a Self::Valid,
    ) -> Recording<'a>;
}

type Recording<'a> = Pin<Box<dyn Future<Output = ApiResult<String>> + Send + 'a>>;

/// Every grant endpoint (→ 202 `{referenceNumber}`): the caller must hold `T::NEEDED`, the body
/// is read only then and validated, and `T::record` stores the grant.
async fn grant<T: GrantRequest>(
    State(state): State<AppState>,
    session: ContextSession,
    req: Request,
) -> ApiResult<Response> {
    let caller = session.require(&[T::NEEDED])?;
    let body: T = json_body(&state, req).await?;
    let grant = body.validate().map_err(invalid)?;
    let reference = T::record(
        state.pool(),
        state.now(),
        &caller.context,
        &caller.subject,
        &grant,
    )
    .await?;
    Ok(accepted(reference).into_response())
}

/// `POST /permissions/persons/grants` → 202 `{referenceNumber}` (CredentialsManage).
impl GrantRequest for wire::PersonPermissionsGrantRequest {
    const NEEDED: Permission = Permission::CredentialsManage;
    fn record<'a>(
        pool: &'a SqlitePool,
        now: OffsetDateTime,
        context: &'a ContextIdentifier,
        author: &'a SubjectIdentifier,
        grant: &'a Self::Valid,
    ) -> Recording<'a> {
        Box::pin(permissions::grant_person_permissions(
            pool, now, context, author, grant,
        ))
    }
}

/// `POST /permissions/entities/grants` → 202 `{referenceNumber}` (CredentialsManage).
impl GrantRequest for wire::EntityPermissionsGrantRequest {
    const NEEDED: Permission = Permission::CredentialsManage;
    fn record<'a>(
        pool: &'a SqlitePool,
        now: OffsetDateTime,
        context: &'a ContextIdentifier,
        author: &'a SubjectIdentifier,
        grant: &'a Self::Valid,
    ) -> Recording<'a> {
        Box::pin(permissions::grant_entity_permissions(
            pool, now, context, author, grant,
        ))
    }
}

/// `POST /permissions/query/entities/grants` (CredentialsManage or CredentialsRead): invoice
/// permissions the current context received from other entities; the body is optional.
async fn query_entities(
    State(state): State<AppState>,
    session: ContextSession,
    RawQuery(raw): RawQuery,
    req: Request,
) -> ApiResult<axum::Json<wire::QueryEntityPermissionsResponse>> {
    let caller = session.require(&[Permission::CredentialsManage, Permission::CredentialsRead])?;
    let page = permission_page(raw.as_deref())?;
    let body: wire::EntityPermissionsQueryRequest = optional_json(&state, req).await?;
    let from = body
        .context_identifier
        .as_ref()
        .map(|c| c.to_context_identifier("contextIdentifier"))
        .transpose()
        .map_err(invalid)?;
    let (grants, has_more) =
        permissions::received_entity_grants(state.pool(), &caller.context, from.as_ref(), page)
            .await?;
    let mut items = Vec::with_capacity(grants.len());
    for g in grants {
        let scope = wire::EntityPermissionType::try_from(g.grant.permission).map_err(|p| {
            ApiError::internal(format!("entity grant {} has scope {p}", g.grant.id))
        })?;
        let context = wire::EntityPermissionsContextIdentifier::from_context(&g.grant.context)
            .ok_or_else(|| ApiError::internal("entity grant in a context without NIP"))?;
        items.push(wire::EntityPermissionItem {
            id: g.grant.id,
            context_identifier: context,
            permission_scope: scope.into(),
            description: g.grant.description,
            start_date: g.grant.created,
            can_delegate: g.can_delegate,
        });
    }
    Ok(axum::Json(wire::QueryEntityPermissionsResponse {
        permissions: items,
        has_more,
    }))
}

/// `POST /permissions/authorizations/grants` → 202 `{referenceNumber}` (CredentialsManage).
impl GrantRequest for wire::EntityAuthorizationPermissionsGrantRequest {
    const NEEDED: Permission = Permission::CredentialsManage;
    fn record<'a>(
        pool: &'a SqlitePool,
        now: OffsetDateTime,
        context: &'a ContextIdentifier,
        author: &'a SubjectIdentifier,
        grant: &'a Self::Valid,
    ) -> Recording<'a> {
        Box::pin(permissions::grant_authorization(
            pool, now, context, author, grant,
        ))
    }
}

/// `DELETE /permissions/authorizations/grants/{permissionId}` → 202 (CredentialsManage).
async fn revoke_authorization(
    State(state): State<AppState>,
    session: ContextSession,
    ApiPath(permission_id): ApiPath,
) -> ApiResult<impl IntoResponse> {
    let caller = session.require(&[Permission::CredentialsManage])?;
    wire::check_length("permissionId", &permission_id, 36, 36).map_err(invalid)?;
    let reference = permissions::revoke_authorization(
        state.pool(),
        state.now(),
        &caller.context,
        &permission_id,
    )
    .await?;
    Ok(accepted(reference))
}

/// `POST /permissions/query/authorizations/grants` (CredentialsManage, CredentialsRead or
/// PefInvoiceWrite); `queryType` is required, so the body is too.
async fn query_authorizations(
    State(state): State<AppState>,
    session: ContextSession,
    RawQuery(raw): RawQuery,
    req: Request,
) -> ApiResult<axum::Json<wire::QueryEntityAuthorizationPermissionsResponse>> {
    let caller = session.require(&[
        Permission::CredentialsManage,
        Permission::CredentialsRead,
        Permission::PefInvoiceWrite,
    ])?;
    let page = permission_page(raw.as_deref())?;
    let body: wire::EntityAuthorizationPermissionsQueryRequest = json_body(&state, req).await?;
    let query = body.validate().map_err(invalid)?;
    let (list, has_more) =
        permissions::authorizations(state.pool(), &caller.context, &query, page).await?;
    let mut grants = Vec::with_capacity(list.len());
    for a in list {
        let authorized =
            wire::EntityAuthorizationsAuthorizedEntityIdentifier::from_entity(&a.authorized)
                .ok_or_else(|| ApiError::internal("authorization of a non-NIP/PeppolId entity"))?;
        grants.push(wire::EntityAuthorizationGrant {
            id: a.id,
            author_identifier: Some((&a.author).into()),
            authorized_entity_identifier: authorized,
            authorizing_entity_identifier: wire::TypedIdentifier::new(
                wire::EntityAuthorizationsAuthorizingEntityIdentifierType::Nip,
                a.authorizing.as_str(),
            ),
            authorization_scope: a.permission.into(),
            description: a.description,
            subject_entity_details: Some(wire::PermissionsSubjectEntityByIdentifierDetails {
                subject_details_type:
                    wire::EntitySubjectByIdentifierDetailsType::EntityByIdentifier.into(),
                full_name: a.full_name,
            }),
            start_date: a.created,
        });
    }
    Ok(axum::Json(
        wire::QueryEntityAuthorizationPermissionsResponse {
            authorization_grants: grants,
            has_more,
        },
    ))
}

/// `DELETE /permissions/common/grants/{permissionId}` → 202 `{referenceNumber}`
/// (CredentialsManage, VatUeManage or SubunitManage).
async fn revoke_common_grant(
    State(state): State<AppState>,
    session: ContextSession,
    ApiPath(permission_id): ApiPath,
) -> ApiResult<impl IntoResponse> {
    let caller = session.require(&[
        Permission::CredentialsManage,
        Permission::VatUeManage,
        Permission::SubunitManage,
    ])?;
    wire::check_length("permissionId", &permission_id, 36, 36).map_err(invalid)?;
    let reference = permissions::revoke_grant(
        state.pool(),
        state.now(),
        &caller.context,
        &caller.permissions,
        &permission_id,
    )
    .await?;
    Ok(accepted(reference))
}

/// `GET /permissions/operations/{referenceNumber}` (no permission required; operations of the
/// current context only).
async fn operation_status(
    State(state): State<AppState>,
    session: ContextSession,
    ApiPath(reference): ApiPath,
) -> ApiResult<axum::Json<wire::PermissionsOperationStatusResponse>> {
    let caller = session.require(&[])?;
    let reference: ksef_core::ReferenceNumber = reference
        .parse()
        .map_err(|e| ApiError::validation(format!("referenceNumber: {e}")))?;
    let s = permissions::operation_status(
        state.pool(),
        state.now(),
        &caller.context,
        reference.as_str(),
    )
    .await?;
    let mut status = wire::StatusInfo::new(s.code, s.description);
    if !s.details.is_empty() {
        status = status.with_details(s.details);
    }
    Ok(axum::Json(wire::PermissionsOperationStatusResponse {
        status,
    }))
}

/// `POST /permissions/query/persons/grants` (CredentialsManage, CredentialsRead or
/// SubunitManage); `queryType` is required, so the body is too.
async fn query_persons(
    State(state): State<AppState>,
    session: ContextSession,
    RawQuery(raw): RawQuery,
    req: Request,
) -> ApiResult<axum::Json<wire::QueryPersonPermissionsResponse>> {
    let caller = session.require(&[
        Permission::CredentialsManage,
        Permission::CredentialsRead,
        Permission::SubunitManage,
    ])?;
    let page = permission_page(raw.as_deref())?;
    let body: wire::PersonPermissionsQueryRequest = json_body(&state, req).await?;
    let q = body.validate().map_err(invalid)?;
    let filter = PersonGrantFilter {
        granted_by_caller: q.query_type
            == wire::PersonPermissionsQueryType::PermissionsGrantedInCurrentContext,
        author: q.author.map(|a| match a {
            wire::PermissionAuthor::System => GrantAuthor::System,
            wire::PermissionAuthor::Subject(s) => GrantAuthor::Subject(s),
        }),
        authorized: q.authorized,
        context: q.context,
        target: q.target,
        state: q.permission_state,
        permissions: q
            .permission_types
            .into_iter()
            .map(Permission::from)
            .collect(),
    };
    let (grants, has_more) = permissions::person_grants(
        state.pool(),
        &caller.subject,
        &caller.context,
        &filter,
        page,
    )
    .await?;
    let mut items = Vec::with_capacity(grants.len());
    for g in grants {
        let scope = wire::PersonPermissionType::try_from(g.grant.permission).map_err(|p| {
            ApiError::internal(format!("grant {} has no person scope: {p}", g.grant.id))
        })?;
        let author = match &g.author {
            GrantAuthor::System => wire::PermissionAuthor::System,
            GrantAuthor::Subject(s) => wire::PermissionAuthor::Subject(s.clone()),
        };
        items.push(wire::PersonPermission {
            authorized_identifier: (&g.grant.authorized).into(),
            context_identifier: wire::PersonPermissionsContextIdentifier::from_context(
                &g.grant.context,
            ),
            target_identifier: g
                .grant
                .target
                .as_ref()
                .map(wire::PersonalPermissionsTargetIdentifier::from_target),
            author_identifier: wire::PersonPermissionsAuthorIdentifier::from_author(&author),
            permission_scope: scope.into(),
            description: g.grant.description,
            subject_person_details: g.subject_details,
            subject_entity_details: g.entity_details,
            permission_state: wire::PermissionState::Active.into(),
            start_date: g.grant.created,
            can_delegate: g.can_delegate,
            id: g.grant.id,
        });
    }
    Ok(axum::Json(wire::QueryPersonPermissionsResponse {
        permissions: items,
        has_more,
    }))
}

/// `GET /permissions/attachments/status` (CredentialsManage or CredentialsRead).
async fn attachments_status(
    State(state): State<AppState>,
    session: ContextSession,
) -> ApiResult<axum::Json<wire::CheckAttachmentPermissionStatusResponse>> {
    let caller = session.require(&[Permission::CredentialsManage, Permission::CredentialsRead])?;
    let (allowed, revoked) = permissions::attachment_status(state.pool(), &caller.context).await?;
    Ok(axum::Json(wire::CheckAttachmentPermissionStatusResponse {
        is_attachment_allowed: allowed,
        revoked_date: revoked,
    }))
}

/// `GET /permissions/query/entities/roles` (CredentialsManage or CredentialsRead), paged with
/// `pageOffset`/`pageSize`.
async fn query_entity_roles(
    State(state): State<AppState>,
    session: ContextSession,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<wire::QueryEntityRolesResponse>> {
    let caller = session.require(&[Permission::CredentialsManage, Permission::CredentialsRead])?;
    let page = permission_page(raw.as_deref())?;
    let (roles, has_more) = permissions::context_roles(state.pool(), &caller.context, page).await?;
    let roles = roles
        .into_iter()
        .map(|r| wire::EntityRole {
            parent_entity_identifier: r.parent.map(|p| {
                wire::TypedIdentifier::new(wire::EntityRolesParentEntityIdentifierType::Nip, p)
            }),
            role: r.role.into(),
            description: r.description,
            start_date: r.start,
        })
        .collect();
    Ok(axum::Json(wire::QueryEntityRolesResponse {
        roles,
        has_more,
    }))
}

/// `POST /permissions/subunits/grants` → 202 (SubunitManage).
impl GrantRequest for wire::SubunitPermissionsGrantRequest {
    const NEEDED: Permission = Permission::SubunitManage;
    fn record<'a>(
        pool: &'a SqlitePool,
        now: OffsetDateTime,
        context: &'a ContextIdentifier,
        author: &'a SubjectIdentifier,
        grant: &'a Self::Valid,
    ) -> Recording<'a> {
        Box::pin(permissions::grant_subunit_admin(
            pool, now, context, author, grant,
        ))
    }
}

/// `POST /permissions/query/subunits/grants` (CredentialsManage, CredentialsRead or
/// SubunitManage); optional body.
async fn query_subunits(
    State(state): State<AppState>,
    session: ContextSession,
    RawQuery(raw): RawQuery,
    req: Request,
) -> ApiResult<axum::Json<wire::QuerySubunitPermissionsResponse>> {
    let caller = session.require(&[
        Permission::CredentialsManage,
        Permission::CredentialsRead,
        Permission::SubunitManage,
    ])?;
    let page = permission_page(raw.as_deref())?;
    let body: wire::SubunitPermissionsQueryRequest = optional_json(&state, req).await?;
    let subunit = body
        .subunit_identifier
        .as_ref()
        .map(|s| s.to_subunit("subunitIdentifier"))
        .transpose()
        .map_err(invalid)?;
    let (list, has_more) =
        permissions::subunit_grants(state.pool(), &caller.context, subunit.as_ref(), page).await?;
    let mut items = Vec::with_capacity(list.len());
    for g in list {
        let unit = wire::SubunitPermissionsSubunitIdentifier::from_subunit(&g.grant.context)
            .ok_or_else(|| ApiError::internal("subunit grant in a context of another type"))?;
        items.push(wire::SubunitPermission {
            id: g.grant.id,
            authorized_identifier: (&g.grant.authorized).into(),
            subunit_identifier: unit,
            author_identifier: (&g.author).into(),
            permission_scope: wire::SubunitPermissionScope::CredentialsManage.into(),
            description: g.grant.description,
            subject_person_details: g.subject_details,
            subunit_name: g.subunit_name,
            start_date: g.grant.created,
        });
    }
    Ok(axum::Json(wire::QuerySubunitPermissionsResponse {
        permissions: items,
        has_more,
    }))
}

/// `POST /permissions/query/subordinate-entities/roles` (CredentialsManage, CredentialsRead or
/// SubunitManage); optional body.
async fn query_subordinate_roles(
    State(state): State<AppState>,
    session: ContextSession,
    RawQuery(raw): RawQuery,
    req: Request,
) -> ApiResult<axum::Json<wire::QuerySubordinateEntityRolesResponse>> {
    let caller = session.require(&[
        Permission::CredentialsManage,
        Permission::CredentialsRead,
        Permission::SubunitManage,
    ])?;
    let page = permission_page(raw.as_deref())?;
    let body: wire::SubordinateEntityRolesQueryRequest = optional_json(&state, req).await?;
    let only = body.validate().map_err(invalid)?;
    let (roles, has_more) =
        permissions::subordinate_roles(state.pool(), &caller.context, only.as_ref(), page).await?;
    let roles = roles
        .into_iter()
        .map(|r| wire::SubordinateEntityRole {
            subordinate_entity_identifier: wire::TypedIdentifier::new(
                wire::EntityPermissionsSubjectIdentifierType::Nip,
                r.nip,
            ),
            role: r.role.into(),
            description: r.description,
            start_date: r.start,
        })
        .collect();
    Ok(axum::Json(wire::QuerySubordinateEntityRolesResponse {
        roles,
        has_more,
    }))
}

/// `POST /permissions/indirect/grants` → 202 (CredentialsManage, in the intermediary's context).
impl GrantRequest for wire::IndirectPermissionsGrantRequest {
    const NEEDED: Permission = Permission::CredentialsManage;
    fn record<'a>(
        pool: &'a SqlitePool,
        now: OffsetDateTime,
        context: &'a ContextIdentifier,
        author: &'a SubjectIdentifier,
        grant: &'a Self::Valid,
    ) -> Recording<'a> {
        Box::pin(permissions::grant_indirect(
            pool, now, context, author, grant,
        ))
    }
}

/// `POST /permissions/eu-entities/administration/grants` → 202 (CredentialsManage).
impl GrantRequest for wire::EuEntityAdministrationPermissionsGrantRequest {
    const NEEDED: Permission = Permission::CredentialsManage;
    fn record<'a>(
        pool: &'a SqlitePool,
        now: OffsetDateTime,
        context: &'a ContextIdentifier,
        author: &'a SubjectIdentifier,
        grant: &'a Self::Valid,
    ) -> Recording<'a> {
        Box::pin(permissions::grant_eu_admin(
            pool, now, context, author, grant,
        ))
    }
}

/// `POST /permissions/eu-entities/grants` → 202 (VatUeManage, in a NipVatUe context).
impl GrantRequest for wire::EuEntityPermissionsGrantRequest {
    const NEEDED: Permission = Permission::VatUeManage;
    fn record<'a>(
        pool: &'a SqlitePool,
        now: OffsetDateTime,
        context: &'a ContextIdentifier,
        author: &'a SubjectIdentifier,
        grant: &'a Self::Valid,
    ) -> Recording<'a> {
        Box::pin(permissions::grant_eu_representative(
            pool, now, context, author, grant,
        ))
    }
}

/// `POST /permissions/query/eu-entities/grants` (CredentialsManage, CredentialsRead or
/// VatUeManage); optional body.
async fn query_eu_entities(
    State(state): State<AppState>,
    session: ContextSession,
    RawQuery(raw): RawQuery,
    req: Request,
) -> ApiResult<axum::Json<wire::QueryEuEntityPermissionsResponse>> {
    let caller = session.require(&[
        Permission::CredentialsManage,
        Permission::CredentialsRead,
        Permission::VatUeManage,
    ])?;
    let page = permission_page(raw.as_deref())?;
    let body: wire::EuEntityPermissionsQueryRequest = optional_json(&state, req).await?;
    let query = body.validate().map_err(invalid)?;
    let (list, has_more) =
        permissions::eu_grants(state.pool(), &caller.context, &query, page).await?;
    let mut items = Vec::with_capacity(list.len());
    for g in list {
        let scope = wire::EuEntityPermissionsQueryPermissionType::try_from(g.permission)
            .map_err(|p| ApiError::internal(format!("EU-entity grant {} has scope {p}", g.id)))?;
        items.push(wire::EuEntityPermission {
            id: g.id,
            author_identifier: (&g.author).into(),
            vat_ue_identifier: g.vat_ue,
            eu_entity_name: g.eu_entity_name,
            authorized_fingerprint_identifier: g.fingerprint,
            permission_scope: scope.into(),
            description: g.description,
            subject_person_details: g.person_details,
            subject_entity_details: g.entity_details,
            eu_entity_details: g.eu_entity_details,
            start_date: g.created,
        });
    }
    Ok(axum::Json(wire::QueryEuEntityPermissionsResponse {
        permissions: items,
        has_more,
    }))
}

/// `GET /peppol/query` (public, no bearer), paged with `pageOffset`/`pageSize`.
async fn query_peppol(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<axum::Json<wire::QueryPeppolProvidersResponse>> {
    let page = permission_page(raw.as_deref())?;
    let (list, has_more) = permissions::peppol_providers(state.pool(), page).await?;
    Ok(axum::Json(wire::QueryPeppolProvidersResponse {
        peppol_providers: list
            .into_iter()
            .map(|p| wire::PeppolProvider {
                id: p.id,
                name: p.name,
                date_created: p.created,
            })
            .collect(),
        has_more,
    }))
}

/// `pageOffset` (a 0-based page index, `int32`, default 0) and `pageSize` (10–100, default 10)
/// of the `POST /permissions/query/*` endpoints (digest §2.2); the last occurrence wins.
pub(crate) fn permission_page(raw: Option<&str>) -> ApiResult<crate::permissions::Page> {
    let mut offset = None;
    let mut size = None;
    for (k, v) in form_pairs(raw.unwrap_or("")) {
        match k.as_str() {
            "pageOffset" => offset = Some(v),
            "pageSize" => size = Some(v),
            _ => {}
        }
    }
    let page = match offset {
        None => 0,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| i32::try_from(*n).is_ok())
            .ok_or_else(|| {
                ApiError::validation(format!(
                    "pageOffset: wymagana liczba całkowita nieujemna (numer strony od 0), podano {v:?}."
                ))
            })?,
    };
    let (min, max) = wire::PERMISSIONS_QUERY_PAGE_SIZE;
    let size = page_size(
        size.as_deref(),
        min as usize,
        max as usize,
        wire::PERMISSIONS_QUERY_DEFAULT_PAGE_SIZE as usize,
    )?;
    Ok(crate::permissions::Page {
        page,
        size: u32::try_from(size).map_err(ApiError::internal)?,
    })
}

/// `POST /permissions/query/personal/grants` (digest §7.6): the caller's own grants in the
/// current context. No permission is required; the bearer is checked before the body.
async fn query_personal_grants(
    State(state): State<AppState>,
    session: ContextSession,
    RawQuery(raw): RawQuery,
    req: Request,
) -> ApiResult<axum::Json<wire::QueryPersonalPermissionsResponse>> {
    let caller = session.caller()?;
    let page = permission_page(raw.as_deref())?;
    let body: wire::PersonalPermissionsQueryRequest = optional_json(&state, req).await?;
    let query = body
        .validate()
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let filter = crate::permissions::PersonalGrantFilter {
        context: query.context,
        permissions: query
            .permission_types
            .into_iter()
            .map(Permission::from)
            .collect(),
        target: query.target,
        state: query.permission_state,
    };
    let (grants, has_more) = crate::permissions::personal_grants(
        state.pool(),
        &caller.subject,
        &caller.context,
        &filter,
        page,
    )
    .await?;
    let mut items = Vec::with_capacity(grants.len());
    for g in grants {
        let scope = wire::PersonalPermissionType::try_from(g.permission).map_err(|p| {
            ApiError::internal(format!("grant {} has no personal scope: {p}", g.id))
        })?;
        items.push(wire::PersonalPermission {
            context_identifier: wire::PersonalPermissionsContextIdentifier::from_context(
                &g.context,
            ),
            authorized_identifier: Some((&g.authorized).into()),
            target_identifier: g
                .target
                .as_ref()
                .map(wire::PersonalPermissionsTargetIdentifier::from_target),
            permission_scope: scope.into(),
            description: g.description,
            subject_person_details: None,
            subject_entity_details: None,
            permission_state: wire::PermissionState::Active.into(),
            start_date: g.created,
            can_delegate: false,
            id: g.id,
        });
    }
    Ok(axum::Json(wire::QueryPersonalPermissionsResponse {
        permissions: items,
        has_more,
    }))
}
