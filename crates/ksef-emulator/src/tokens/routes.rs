//! The routes of KSeF tokens: `POST /tokens`, `GET /tokens`, `GET`/`DELETE /tokens/{referenceNumber}`.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use ksef_core::{SubjectIdentifierKind, TokenStatus};
use ksef_wire as wire;
use ksef_wire::Operation;

use super::{StoredToken, TokenFilter};
use crate::auth::ContextSession;
use crate::endpoint::{Routes, handle};
use crate::error::{ApiError, ApiResult};
use crate::extract::{
    ApiJson, ApiPath, decode_continuation, form_pairs, next_continuation, page_size,
};
use crate::state::AppState;

/// Routes under `/v2` owned by this feature.
pub fn routes() -> Routes {
    vec![
        handle(Operation::ListTokens, list_tokens),
        handle(Operation::GenerateToken, generate_token),
        handle(Operation::TokenStatus, get_token),
        handle(Operation::RevokeToken, revoke_token),
    ]
}

fn token_item(t: &StoredToken) -> wire::TokenStatusResponse {
    wire::TokenStatusResponse {
        reference_number: t.reference_number.clone(),
        author_identifier: wire::TokenAuthorIdentifierTypeIdentifier {
            r#type: t.author.kind().into(),
            value: t.author.value().to_string(),
        },
        context_identifier: wire::TokenContextIdentifierTypeIdentifier {
            r#type: t.context.kind().into(),
            value: t.context.value().to_string(),
        },
        description: t.description.clone(),
        requested_permissions: t.requested.iter().map(|p| (*p).into()).collect(),
        date_created: t.created,
        last_use_date: t.last_use,
        status: t.status.into(),
        status_details: Some(t.status_details.clone()),
    }
}

async fn generate_token(
    State(state): State<AppState>,
    session: ContextSession,
    ApiJson(req): ApiJson<wire::GenerateTokenRequest>,
) -> ApiResult<impl IntoResponse> {
    let caller = session.caller()?;
    let mut perms = Vec::new();
    for p in &req.permissions {
        perms.push(
            p.require("permissions")
                .map_err(|e| ApiError::validation(e.to_string()))?,
        );
    }
    let (reference, token) = super::generate(&state, &caller, perms, &req.description).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(wire::GenerateTokenResponse {
            reference_number: reference.to_string(),
            token: token.expose_secret().to_string().into(),
        }),
    ))
}

async fn list_tokens(
    State(state): State<AppState>,
    session: ContextSession,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<axum::Json<wire::QueryTokensResponse>> {
    let caller = session.caller()?;
    let mut filter = TokenFilter::default();
    let mut size = None;
    for (k, v) in form_pairs(raw.as_deref().unwrap_or("")) {
        match k.as_str() {
            "status" => filter.statuses.push(
                v.parse::<TokenStatus>()
                    .map_err(|e| ApiError::validation(format!("status: {e}")))?,
            ),
            "description" => filter.description = Some(min3("description", v)?),
            "authorIdentifier" => filter.author_identifier = Some(min3("authorIdentifier", v)?),
            "authorIdentifierType" => {
                let kind: SubjectIdentifierKind = v
                    .parse()
                    .map_err(|e| ApiError::validation(format!("authorIdentifierType: {e}")))?;
                filter.author_identifier_type = Some(kind.as_str().to_string());
            }
            "pageSize" => size = Some(v),
            _ => {}
        }
    }
    let size = page_size(size.as_deref(), 10, 100, 10)?;
    let offset = decode_continuation(&headers)?;
    let (list, more) = super::list(&state, &caller, &filter, offset, size).await?;
    Ok(axum::Json(wire::QueryTokensResponse {
        continuation_token: more.then(|| next_continuation(offset, size)).flatten(),
        tokens: list.iter().map(token_item).collect(),
    }))
}

fn min3(field: &str, v: String) -> ApiResult<String> {
    if v.chars().count() < 3 {
        Err(ApiError::validation(format!(
            "{field}: wymagane co najmniej 3 znaki."
        )))
    } else {
        Ok(v)
    }
}

async fn get_token(
    State(state): State<AppState>,
    session: ContextSession,
    ApiPath(reference): ApiPath,
) -> ApiResult<axum::Json<wire::TokenStatusResponse>> {
    let t = super::get(&state, &session.caller()?, &reference).await?;
    Ok(axum::Json(token_item(&t)))
}

async fn revoke_token(
    State(state): State<AppState>,
    session: ContextSession,
    ApiPath(reference): ApiPath,
) -> ApiResult<StatusCode> {
    super::revoke(&state, &session.caller()?, &reference).await?;
    Ok(StatusCode::NO_CONTENT)
}
