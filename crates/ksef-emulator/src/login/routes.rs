//! The routes of the login flow: `POST /auth/challenge`, `/auth/xades-signature`,
//! `/auth/ksef-token`, `GET /auth/{referenceNumber}`, `POST /auth/token/redeem`, `/auth/token/refresh`.

use std::collections::HashMap;

use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ksef_wire as wire;
use ksef_wire::Operation;

use crate::auth::routes::{method_info, status_info};
use crate::auth::{AuthInit, AuthenticationTokenClaims, RefreshTokenClaims, StoredIpPolicy};
use crate::endpoint::{Routes, handle};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ClientIp, body_bytes, form_pairs, parse_context};
use crate::login::{self, KsefTokenLogin};
use crate::state::AppState;

/// Routes under `/v2` owned by this feature.
pub fn routes() -> Routes {
    vec![
        handle(Operation::AuthChallenge, challenge),
        handle(Operation::AuthXadesSignature, xades_signature),
        handle(Operation::AuthKsefToken, ksef_token),
        handle(Operation::RedeemToken, redeem),
        handle(Operation::RefreshToken, refresh),
        handle(Operation::AuthStatus, auth_status),
    ]
}

async fn challenge(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
) -> ApiResult<axum::Json<wire::AuthenticationChallengeResponse>> {
    let c = login::create_challenge(&state, ip).await?;
    Ok(axum::Json(wire::AuthenticationChallengeResponse {
        challenge: c.challenge.to_string(),
        timestamp: c.timestamp,
        timestamp_ms: c.timestamp_ms,
        client_ip: c.client_ip,
    }))
}

fn init_response(init: AuthInit) -> (StatusCode, axum::Json<wire::AuthenticationInitResponse>) {
    (
        StatusCode::ACCEPTED,
        axum::Json(wire::AuthenticationInitResponse {
            reference_number: init.reference_number,
            authentication_token: wire::TokenInfo {
                token: init.authentication_token.into(),
                valid_until: init.valid_until,
            },
        }),
    )
}

fn has_feature(headers: &HeaderMap, feature: &str) -> bool {
    headers
        .get_all("x-ksef-feature")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case(feature))
}

async fn xades_signature(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    req: Request,
) -> ApiResult<impl IntoResponse> {
    let headers = req.headers().clone();
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !(mime == "application/xml" || mime == "text/xml" || mime.ends_with("+xml")) {
        return Err(ApiError::UnsupportedMediaType(format!(
            "Oczekiwano Content-Type: application/xml z podpisanym dokumentem AuthTokenRequest, otrzymano {:?}.",
            if mime.is_empty() {
                "(brak)"
            } else {
                mime.as_str()
            }
        )));
    }
    let query: HashMap<String, String> = form_pairs(raw.as_deref().unwrap_or(""))
        .into_iter()
        .collect();
    let verify_chain = match query
        .get("verifyCertificateChain")
        .map(|s| s.to_ascii_lowercase())
    {
        None => false,
        Some(v) if v == "true" => true,
        Some(v) if v == "false" => false,
        Some(v) => {
            return Err(ApiError::validation(format!(
                "verifyCertificateChain: oczekiwano true/false, podano {v:?}."
            )));
        }
    };
    let body = body_bytes(req, &state).await?;
    let init = login::xades_signature(
        &state,
        &body,
        verify_chain,
        has_feature(&headers, "enforce-xades-compliance"),
    )
    .await?;
    Ok(init_response(init))
}

async fn ksef_token(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<wire::InitTokenAuthenticationRequest>,
) -> ApiResult<impl IntoResponse> {
    let context = parse_context(
        req.context_identifier.r#type.as_str(),
        &req.context_identifier.value,
        "contextIdentifier",
    )?;
    let encrypted = STANDARD
        .decode(req.encrypted_token.expose_secret().trim())
        .map_err(|_| ApiError::validation("encryptedToken: oczekiwano danych w Base64."))?;
    let ip_policy = match req.authorization_policy.and_then(|p| p.allowed_ips) {
        None => None,
        Some(ips) => {
            let policy = StoredIpPolicy {
                ip4_addresses: ips.ip4_addresses.unwrap_or_default(),
                ip4_ranges: ips.ip4_ranges.unwrap_or_default(),
                ip4_masks: ips.ip4_masks.unwrap_or_default(),
            };
            validate_ip_policy(&policy)?;
            Some(policy)
        }
    };
    let init = login::ksef_token(
        &state,
        KsefTokenLogin {
            challenge: req.challenge,
            context,
            encrypted_token: encrypted,
            public_key_id: req.public_key_id,
            ip_policy,
        },
    )
    .await?;
    Ok(init_response(init))
}

fn validate_ip_policy(p: &StoredIpPolicy) -> ApiResult<()> {
    for (name, list) in [
        ("ip4Addresses", &p.ip4_addresses),
        ("ip4Ranges", &p.ip4_ranges),
        ("ip4Masks", &p.ip4_masks),
    ] {
        if list.len() > 10 {
            return Err(ApiError::validation(format!(
                "authorizationPolicy.allowedIps.{name}: najwyżej 10 pozycji."
            )));
        }
    }
    ksef_xades::auth_request::AuthorizationPolicy {
        ip4_addresses: p.ip4_addresses.clone(),
        ip4_ranges: p.ip4_ranges.clone(),
        ip4_masks: p.ip4_masks.clone(),
    }
    .validate()
    .map_err(|e| ApiError::validation(format!("authorizationPolicy: {e}")))
}

async fn auth_status(
    State(state): State<AppState>,
    AuthenticationTokenClaims(claims): AuthenticationTokenClaims,
    ApiPath(reference): ApiPath,
) -> ApiResult<axum::Json<wire::AuthenticationOperationStatusResponse>> {
    let op = login::operation_status(&state, &claims, &reference).await?;
    let status = op.status_at(state.now());
    Ok(axum::Json(wire::AuthenticationOperationStatusResponse {
        start_date: op.started,
        authentication_method: op.method.method.into(),
        authentication_method_info: method_info(&op),
        status: status_info(&status),
        is_token_redeemed: Some(op.redeemed),
        last_token_refresh_date: op.last_refresh,
        refresh_token_valid_until: op.refresh_valid_until,
    }))
}

async fn redeem(
    State(state): State<AppState>,
    AuthenticationTokenClaims(claims): AuthenticationTokenClaims,
) -> ApiResult<axum::Json<wire::AuthenticationTokensResponse>> {
    let issued = login::redeem(&state, &claims).await?;
    let (refresh, refresh_until) = issued
        .refresh
        .ok_or_else(|| ApiError::internal("redeem without refresh token"))?;
    Ok(axum::Json(wire::AuthenticationTokensResponse {
        access_token: wire::TokenInfo {
            token: issued.access_token.into(),
            valid_until: issued.access_valid_until,
        },
        refresh_token: wire::TokenInfo {
            token: refresh.into(),
            valid_until: refresh_until,
        },
    }))
}

async fn refresh(
    State(state): State<AppState>,
    RefreshTokenClaims(claims): RefreshTokenClaims,
) -> ApiResult<axum::Json<wire::AuthenticationTokenRefreshResponse>> {
    let issued = login::refresh(&state, &claims).await?;
    Ok(axum::Json(wire::AuthenticationTokenRefreshResponse {
        access_token: wire::TokenInfo {
            token: issued.access_token.into(),
            valid_until: issued.access_valid_until,
        },
    }))
}
