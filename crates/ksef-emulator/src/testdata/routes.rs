//! The routes of test data (`/testdata/subject`, `/person`, `/permissions`, `/attachment`,
//! `/context/block` and their twins; no authentication, as in the OpenAPI).

use axum::extract::State;
use axum::http::StatusCode;
use ksef_core::{
    ContextIdentifier, Nip, Permission, Pesel, SubjectIdentifier, SubjectIdentifierKind,
};
use ksef_wire as wire;
use ksef_wire::Operation;

use crate::endpoint::{Routes, handle};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, parse_context};
use crate::state::AppState;

/// Routes under `/v2` owned by this feature.
pub fn routes() -> Routes {
    vec![
        handle(Operation::TestDataCreateSubject, td_subject),
        handle(Operation::TestDataRemoveSubject, td_subject_remove),
        handle(Operation::TestDataCreatePerson, td_person),
        handle(Operation::TestDataRemovePerson, td_person_remove),
        handle(Operation::TestDataGrantPermissions, td_permissions),
        handle(Operation::TestDataRevokePermissions, td_permissions_revoke),
        handle(Operation::TestDataAllowAttachments, td_attachment),
        handle(Operation::TestDataRevokeAttachments, td_attachment_revoke),
        handle(Operation::TestDataBlockContext, td_block),
        handle(Operation::TestDataUnblockContext, td_unblock),
    ]
}

fn nip(field: &str, v: &str) -> ApiResult<Nip> {
    v.parse()
        .map_err(|e| ApiError::validation(format!("{field}: {e}")))
}

async fn td_subject(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<wire::SubjectCreateRequest>,
) -> ApiResult<StatusCode> {
    let subject = nip("subjectNip", &req.subject_nip)?;
    let mut subunits = Vec::new();
    for (i, u) in req.subunits.unwrap_or_default().iter().enumerate() {
        subunits.push((
            nip(&format!("subunits[{i}].subjectNip"), &u.subject_nip)?,
            u.description.clone(),
        ));
    }
    super::create_subject(
        &state,
        &subject,
        req.subject_type.as_str(),
        &req.description,
        &subunits,
        req.created_date,
    )
    .await?;
    Ok(StatusCode::OK)
}

async fn td_subject_remove(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<wire::SubjectRemoveRequest>,
) -> ApiResult<StatusCode> {
    super::remove_subject(&state, &nip("subjectNip", &req.subject_nip)?).await?;
    Ok(StatusCode::OK)
}

async fn td_person(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<wire::PersonCreateRequest>,
) -> ApiResult<StatusCode> {
    let n = nip("nip", &req.nip)?;
    let p: Pesel = req
        .pesel
        .parse()
        .map_err(|e| ApiError::validation(format!("pesel: {e}")))?;
    super::create_person(
        &state,
        &n,
        &p,
        req.is_bailiff,
        req.is_deceased,
        &req.description,
        req.created_date,
    )
    .await?;
    Ok(StatusCode::OK)
}

async fn td_person_remove(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<wire::PersonRemoveRequest>,
) -> ApiResult<StatusCode> {
    super::remove_person(&state, &nip("nip", &req.nip)?).await?;
    Ok(StatusCode::OK)
}

/// The context and the authorized subject of a `/testdata/permissions*` request.
fn grant_parties(
    context: &wire::TestDataContextIdentifier,
    who: &wire::TestDataAuthorizedIdentifier,
) -> ApiResult<(ContextIdentifier, SubjectIdentifier)> {
    let ctx = parse_context(context.r#type.as_str(), &context.value, "contextIdentifier")?;
    Ok((ctx, authorized(who.r#type.as_str(), &who.value)?))
}

fn authorized(kind: &str, value: &str) -> ApiResult<SubjectIdentifier> {
    let kind: SubjectIdentifierKind = kind
        .parse()
        .map_err(|e| ApiError::validation(format!("authorizedIdentifier.type: {e}")))?;
    SubjectIdentifier::parse(kind, value)
        .map_err(|e| ApiError::validation(format!("authorizedIdentifier.value: {e}")))
}

async fn td_permissions(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<wire::TestDataPermissionsGrantRequest>,
) -> ApiResult<StatusCode> {
    let (ctx, who) = grant_parties(&req.context_identifier, &req.authorized_identifier)?;
    let mut perms = Vec::new();
    for (i, p) in req.permissions.iter().enumerate() {
        let perm: Permission =
            p.permission_type.as_str().parse().map_err(|e| {
                ApiError::validation(format!("permissions[{i}].permissionType: {e}"))
            })?;
        if matches!(perm, Permission::VatUeManage | Permission::PefInvoiceWrite) {
            return Err(ApiError::validation(format!(
                "permissions[{i}].permissionType: {perm} nie może być nadane przez /testdata/permissions."
            )));
        }
        perms.push((perm, p.description.clone()));
    }
    super::grant_permissions(&state, &ctx, &who, &perms).await?;
    Ok(StatusCode::OK)
}

async fn td_permissions_revoke(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<wire::TestDataPermissionsRevokeRequest>,
) -> ApiResult<StatusCode> {
    let (ctx, who) = grant_parties(&req.context_identifier, &req.authorized_identifier)?;
    super::revoke_permissions(&state, &ctx, &who).await?;
    Ok(StatusCode::OK)
}

async fn td_attachment(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<wire::AttachmentPermissionGrantRequest>,
) -> ApiResult<StatusCode> {
    super::set_attachment(&state, &nip("nip", &req.nip)?, true, None).await?;
    Ok(StatusCode::OK)
}

async fn td_attachment_revoke(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<wire::AttachmentPermissionRevokeRequest>,
) -> ApiResult<StatusCode> {
    let end = req.expected_end_date.map(|d| d.to_string());
    super::set_attachment(&state, &nip("nip", &req.nip)?, false, end).await?;
    Ok(StatusCode::OK)
}

async fn td_block(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<wire::BlockContextAuthenticationRequest>,
) -> ApiResult<StatusCode> {
    set_blocked(&state, req.context_identifier, true).await
}

async fn td_unblock(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<wire::UnblockContextAuthenticationRequest>,
) -> ApiResult<StatusCode> {
    set_blocked(&state, req.context_identifier, false).await
}

async fn set_blocked(
    state: &AppState,
    id: Option<wire::TestDataAuthenticationContextIdentifier>,
    blocked: bool,
) -> ApiResult<StatusCode> {
    let id = id.ok_or_else(|| ApiError::validation("contextIdentifier: pole wymagane."))?;
    let ctx = parse_context(id.r#type.as_str(), &id.value, "contextIdentifier")?;
    super::set_blocked(state, &ctx, blocked).await?;
    Ok(StatusCode::OK)
}
