//! Who is calling: the extractors that turn a bearer token into the caller of an endpoint.
//!
//! * [`ContextSession`] — an access token (`ContextToken`) whose authentication session exists
//!   and whose IP policy allows the client; [`ContextSession::require`] is the permission guard
//!   (403 `missing-permissions`). Every protected endpoint of every feature starts with it.
//! * [`ContextOrRefreshSession`] — the same, also accepting a refresh token
//!   (`DELETE /auth/sessions/current`).
//! * [`AuthenticationTokenClaims`], [`RefreshTokenClaims`] — a verified authentication or
//!   refresh token, no session lookup (the login flow: status, redeem, refresh).
//!
//! Rejections: no or malformed `Authorization` → 401 (see [`Bearer`]); a token that does not
//! verify or whose session does not exist → 401; an IP the session's policy refuses → 403
//! `ip-not-allowed`.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use ksef_core::{
    AuthenticationMethod, ContextIdentifier, Permission, PermissionSet, SubjectIdentifier,
};

use super::operation::{AuthOperation, check_ip, load_operation};
use crate::error::{ApiError, ApiResult, ForbiddenReason};
use crate::extract::{Bearer, ClientIp};
use crate::jwt::{Claims, JwtError, TokenType};
use crate::state::AppState;

/// The caller of a protected endpoint, as established by its access token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub context: ContextIdentifier,
    pub subject: SubjectIdentifier,
    pub method: AuthenticationMethod,
    /// The KSeF token the session was opened with, if any.
    pub ksef_token_ref: Option<String>,
    /// Permissions the session holds now.
    pub permissions: PermissionSet,
}

impl Caller {
    /// Whether the session was opened with a KSeF token.
    pub fn is_token_session(&self) -> bool {
        self.method == AuthenticationMethod::Token
    }
}

fn unauthorized(e: JwtError) -> ApiError {
    ApiError::Unauthorized(e.to_string())
}

/// An authenticated session: verified JWT, its authentication operation, IP policy checked.
pub struct ContextSession {
    pub claims: Claims,
    pub op: AuthOperation,
}

impl ContextSession {
    /// Verifies `token` (one of `types`), loads its authentication session and checks the
    /// session's IP policy against `ip`.
    async fn verify(
        state: &AppState,
        token: &str,
        ip: IpAddr,
        types: &[TokenType],
    ) -> ApiResult<Self> {
        let claims = state.jwt().verify(token, types).map_err(unauthorized)?;
        let op = load_operation(state, &claims.arn).await?.ok_or_else(|| {
            ApiError::Unauthorized("Sesja uwierzytelnienia tego tokenu nie istnieje.".into())
        })?;
        check_ip(&op, ip)?;
        Ok(Self { claims, op })
    }

    async fn from_parts(
        parts: &mut Parts,
        state: &AppState,
        types: &[TokenType],
    ) -> ApiResult<Self> {
        let Bearer(token) = Bearer::from_request_parts(parts, state).await?;
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        Self::verify(state, &token, ip, types).await
    }

    /// The caller: the session's context and subject, the permissions of the token.
    pub fn caller(&self) -> ApiResult<Caller> {
        let context = self
            .op
            .context
            .clone()
            .ok_or_else(|| ApiError::internal("session without context"))?;
        let subject = self
            .op
            .subject
            .clone()
            .ok_or_else(|| ApiError::internal("session without subject"))?;
        Ok(Caller {
            context,
            subject,
            method: self.op.method.method,
            ksef_token_ref: self.op.ksef_token_ref.clone(),
            permissions: self
                .claims
                .per
                .iter()
                .filter_map(|p| p.parse::<Permission>().ok())
                .collect(),
        })
    }

    /// The permission guard: the caller, if it holds any of `any_of` (an empty list requires
    /// nothing); 403 `missing-permissions` otherwise.
    pub fn require(&self, any_of: &[Permission]) -> ApiResult<Caller> {
        let caller = self.caller()?;
        if !any_of.is_empty() {
            require_any(&caller, any_of)?;
        }
        Ok(caller)
    }

    /// [`Self::require`] with the given `detail` in the 403 instead of the generic one.
    pub fn require_with(&self, any_of: &[Permission], detail: &str) -> ApiResult<Caller> {
        let caller = self.caller()?;
        if any_of.iter().any(|p| caller.permissions.contains(*p)) {
            return Ok(caller);
        }
        Err(missing_permissions(&caller, any_of, detail.to_string()))
    }

    /// The reference number of the authentication operation behind the token.
    pub fn auth_reference(&self) -> &str {
        &self.op.reference_number
    }
}

impl FromRequestParts<AppState> for ContextSession {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        Self::from_parts(parts, state, &[TokenType::ContextToken]).await
    }
}

/// A [`ContextSession`] presented with an access or a refresh token.
pub struct ContextOrRefreshSession(pub ContextSession);

impl FromRequestParts<AppState> for ContextOrRefreshSession {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        ContextSession::from_parts(
            parts,
            state,
            &[TokenType::ContextToken, TokenType::RefreshToken],
        )
        .await
        .map(Self)
    }
}

/// The verified claims of an authentication token (no session lookup).
pub struct AuthenticationTokenClaims(pub Claims);

impl FromRequestParts<AppState> for AuthenticationTokenClaims {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let Bearer(token) = Bearer::from_request_parts(parts, state).await?;
        state
            .jwt()
            .verify(&token, &[TokenType::AuthenticationToken])
            .map(Self)
            .map_err(unauthorized)
    }
}

/// The verified claims of a refresh token (no session lookup).
pub struct RefreshTokenClaims(pub Claims);

impl FromRequestParts<AppState> for RefreshTokenClaims {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let Bearer(token) = Bearer::from_request_parts(parts, state).await?;
        state
            .jwt()
            .verify(&token, &[TokenType::RefreshToken])
            .map(Self)
            .map_err(unauthorized)
    }
}

/// 403 `missing-permissions` unless the caller holds one of `required`.
pub fn require_any(caller: &Caller, required: &[Permission]) -> ApiResult<()> {
    if required.iter().any(|p| caller.permissions.contains(*p)) {
        return Ok(());
    }
    Err(missing_permissions(
        caller,
        required,
        format!(
            "Brak wymaganych uprawnień; wymagane jedno z: {}.",
            required
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

fn missing_permissions(caller: &Caller, required: &[Permission], detail: String) -> ApiError {
    ApiError::forbidden(
        ForbiddenReason::MissingPermissions,
        detail,
        serde_json::json!({
            "requiredAnyOfPermissions": required.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            "presentPermissions": caller.permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        }),
    )
}
