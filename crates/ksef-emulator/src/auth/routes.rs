//! The routes of authentication sessions and of the emulator's public keys.

use std::collections::HashMap;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ksef_wire as wire;
use ksef_wire::Operation;

use super::context::{ContextOrRefreshSession, ContextSession};
use super::operation::{AuthOperation, AuthStatus};
use super::sessions;
use crate::endpoint::{Routes, handle};
use crate::error::ApiResult;
use crate::extract::{ApiPath, decode_continuation, form_pairs, next_continuation, page_size};
use crate::keys::KeyUsage;
use crate::state::AppState;

/// Routes under `/v2` owned by this feature.
pub fn routes() -> Routes {
    vec![
        handle(Operation::PublicKeyCertificates, public_keys),
        handle(Operation::ListAuthSessions, list_sessions),
        handle(Operation::RevokeCurrentAuthSession, revoke_current_session),
        handle(Operation::RevokeAuthSession, revoke_session),
    ]
}

/// The wire form of an authentication status.
pub fn status_info(s: &AuthStatus) -> wire::StatusInfo {
    wire::StatusInfo {
        code: i32::from(s.code),
        description: s.description.to_string(),
        details: if s.details.is_empty() {
            None
        } else {
            Some(s.details.clone())
        },
    }
}

/// The wire form of how an operation authenticated.
pub fn method_info(op: &AuthOperation) -> wire::AuthenticationMethodInfo {
    wire::AuthenticationMethodInfo {
        category: op.method.category().into(),
        code: op.method.code.to_string(),
        display_name: op.method.display_name.to_string(),
    }
}

/// `GET /security/public-key-certificates`: the emulator's two encryption keys.
async fn public_keys(
    State(state): State<AppState>,
) -> ApiResult<axum::Json<Vec<wire::PublicKeyCertificate>>> {
    let mut out = Vec::new();
    for usage in [
        KeyUsage::KsefTokenEncryption,
        KeyUsage::SymmetricKeyEncryption,
    ] {
        let k = state.key(usage);
        out.push(wire::PublicKeyCertificate {
            certificate: STANDARD.encode(k.certificate_der()),
            certificate_id: k.certificate_id().to_string(),
            public_key_id: k.public_key_id().to_string(),
            valid_from: k.valid_from(),
            valid_to: k.valid_to(),
            usage: vec![
                match usage {
                    KeyUsage::KsefTokenEncryption => {
                        wire::PublicKeyCertificateUsage::KsefTokenEncryption
                    }
                    KeyUsage::SymmetricKeyEncryption => {
                        wire::PublicKeyCertificateUsage::SymmetricKeyEncryption
                    }
                }
                .into(),
            ],
        });
    }
    Ok(axum::Json(out))
}

async fn list_sessions(
    State(state): State<AppState>,
    s: ContextSession,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<axum::Json<wire::AuthenticationListResponse>> {
    let query: HashMap<String, String> = form_pairs(raw.as_deref().unwrap_or(""))
        .into_iter()
        .collect();
    let size = page_size(query.get("pageSize").map(String::as_str), 10, 100, 10)?;
    let offset = decode_continuation(&headers)?;
    let (ops, more) = sessions::list_sessions(&state, &s.caller()?, offset, size).await?;
    let now = state.now();
    let items = ops
        .iter()
        .map(|op| wire::AuthenticationListItem {
            reference_number: op.reference_number.clone(),
            is_current: op.reference_number == s.claims.arn,
            start_date: op.started,
            authentication_method: op.method.method.into(),
            authentication_method_info: method_info(op),
            status: status_info(&op.status_at(now)),
            is_token_redeemed: Some(op.redeemed),
            last_token_refresh_date: op.last_refresh,
            refresh_token_valid_until: op.refresh_valid_until,
        })
        .collect();
    Ok(axum::Json(wire::AuthenticationListResponse {
        continuation_token: more.then(|| next_continuation(offset, size)).flatten(),
        items,
    }))
}

async fn revoke_current_session(
    State(state): State<AppState>,
    ContextOrRefreshSession(s): ContextOrRefreshSession,
) -> ApiResult<StatusCode> {
    sessions::revoke_current_session(&state, &s.claims).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn revoke_session(
    State(state): State<AppState>,
    s: ContextSession,
    ApiPath(reference): ApiPath,
) -> ApiResult<StatusCode> {
    sessions::revoke_session(&state, &s.caller()?, &reference).await?;
    Ok(StatusCode::NO_CONTENT)
}
