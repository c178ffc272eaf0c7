//! The HTTP surface: routes under `/v2` as in `open-api.json`, thin handlers that validate input
//! shapes, call the domain modules and map results to the shared wire types.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{DefaultBodyLimit, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ksef_core::{
    ContextIdentifier, ContextIdentifierType, Nip, Permission, Pesel, SubjectIdentifier,
    SubjectIdentifierKind, TokenStatus,
};
use ksef_wire as wire;

use crate::auth::{self, AuthOperation, KsefTokenLogin, StoredIpPolicy};
use crate::error::{ApiError, ApiResult, render_errors};
use crate::extract::{
    ApiJson, ApiPath, Bearer, ClientIp, body_bytes, decode_continuation, next_continuation,
    page_size,
};
use crate::jwt::{Claims, JwtError, TokenType};
use crate::signing_service;
use crate::state::{AppState, KeyUsage};
use crate::testdata;
use crate::tokens::{self, Caller, StoredToken, TokenFilter};

/// The API router (mounted at `/v2`) with error rendering and the body cap.
pub fn router(state: AppState) -> Router {
    let max = state.config().max_body_bytes;
    let api = Router::new()
        .route("/security/public-key-certificates", get(public_keys))
        .route("/auth/challenge", post(challenge))
        .route("/auth/xades-signature", post(xades_signature))
        .route("/auth/ksef-token", post(ksef_token))
        .route("/auth/sessions", get(list_sessions))
        .route("/auth/sessions/current", delete(revoke_current_session))
        .route("/auth/sessions/{reference}", delete(revoke_session))
        .route("/auth/token/redeem", post(redeem))
        .route("/auth/token/refresh", post(refresh))
        .route("/auth/{reference}", get(auth_status))
        .route("/tokens", post(generate_token).get(list_tokens))
        .route("/tokens/{reference}", get(get_token).delete(revoke_token))
        .route(
            "/permissions/query/personal/grants",
            post(query_personal_grants),
        )
        .route("/testdata/subject", post(td_subject))
        .route("/testdata/subject/remove", post(td_subject_remove))
        .route("/testdata/person", post(td_person))
        .route("/testdata/person/remove", post(td_person_remove))
        .route("/testdata/permissions", post(td_permissions))
        .route("/testdata/permissions/revoke", post(td_permissions_revoke))
        .route("/testdata/attachment", post(td_attachment))
        .route("/testdata/attachment/revoke", post(td_attachment_revoke))
        .route("/testdata/context/block", post(td_block))
        .route("/testdata/context/unblock", post(td_unblock))
        .merge(crate::sessions::routes())
        .merge(crate::retrieval::routes())
        .merge(crate::permissions_api::routes())
        .merge(crate::limits::routes())
        .merge(crate::certificates::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Rate limits (digest §15.1); after every route so all are counted.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::limits::rate_limit,
        ))
        .with_state(state.clone());
    let app = Router::new()
        .nest("/v2", api)
        // Not part of the KSeF API: pre-signed upload/download links (batch parts, UPO, exports).
        .merge(crate::storage::routes(state.clone()))
        // Not part of the KSeF API: the simulated Profil Zaufany signing service.
        .route(
            signing_service::PATH,
            signing_service::page_routes(state.clone()),
        )
        .route(
            signing_service::CA_PEM_PATH,
            signing_service::ca_routes(state.clone()),
        )
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max))
        .layer(axum::middleware::from_fn(render_errors))
        .layer(axum::middleware::from_fn(log_requests));
    // Paths are normalised before routing: a layer of the routing router itself would run
    // after its routing, so the app is the fallback of an empty router whose layer rewrites.
    Router::new()
        .fallback_service(app)
        .layer(axum::middleware::map_request(collapse_slashes))
}

/// Collapses runs of `/` in the path (`/v2//sessions/…` → `/v2/sessions/…`): the real service
/// routes such paths, and a published SDK builds one in its batch flow. The query is kept.
async fn collapse_slashes(mut req: Request) -> Request {
    let uri = req.uri();
    if !uri.path().contains("//") {
        return req;
    }
    let mut path = String::with_capacity(uri.path().len());
    for c in uri.path().chars() {
        if !(c == '/' && path.ends_with('/')) {
            path.push(c);
        }
    }
    let path_and_query = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let mut parts = uri.clone().into_parts();
    match path_and_query.parse() {
        Ok(pq) => parts.path_and_query = Some(pq),
        // Cannot happen (only bytes of a valid path were kept); route the original then.
        Err(_) => return req,
    }
    if let Ok(new) = axum::http::Uri::from_parts(parts) {
        *req.uri_mut() = new;
    }
    req
}

/// One log line per request: method, path, status, duration. Never headers or bodies (tokens
/// and signed documents stay out of logs); paths carry only reference numbers.
async fn log_requests(req: Request, next: axum::middleware::Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    tracing::info!(
        %method,
        %path,
        status = resp.status().as_u16(),
        ms = started.elapsed().as_secs_f64() * 1e3,
        "request"
    );
    resp
}

async fn not_found(req: Request) -> ApiError {
    ApiError::NotFound(format!(
        "Nie ma zasobu {} {} w API KSeF 2.0 (ścieżki zaczynają się od /v2).",
        req.method(),
        req.uri().path()
    ))
}

async fn method_not_allowed(req: Request) -> Response {
    let err = ApiError::validation(format!(
        "Metoda {} nie jest obsługiwana dla {}.",
        req.method(),
        req.uri().path()
    ));
    let mut resp = err.into_response();
    *resp.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    resp
}

fn unauthorized(e: JwtError) -> ApiError {
    ApiError::Unauthorized(e.to_string())
}

// ---------------------------------------------------------------- security

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

// ---------------------------------------------------------------- auth

async fn challenge(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
) -> ApiResult<axum::Json<wire::AuthenticationChallengeResponse>> {
    let c = auth::create_challenge(&state, ip).await?;
    Ok(axum::Json(wire::AuthenticationChallengeResponse {
        challenge: c.challenge.to_string(),
        timestamp: c.timestamp,
        timestamp_ms: c.timestamp_ms,
        client_ip: c.client_ip,
    }))
}

fn init_response(
    init: auth::AuthInit,
) -> (StatusCode, axum::Json<wire::AuthenticationInitResponse>) {
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
    let init = auth::xades_signature(
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
    let init = auth::ksef_token(
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

fn parse_context(kind: &str, value: &str, field: &str) -> ApiResult<ContextIdentifier> {
    let kind: ContextIdentifierType = kind
        .parse()
        .map_err(|e| ApiError::validation(format!("{field}.type: {e}")))?;
    ContextIdentifier::parse(kind, value)
        .map_err(|e| ApiError::validation(format!("{field}.value: {e}")))
}

fn status_info(s: &auth::AuthStatus) -> wire::StatusInfo {
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

fn method_info(op: &AuthOperation) -> wire::AuthenticationMethodInfo {
    wire::AuthenticationMethodInfo {
        category: op.method.category().into(),
        code: op.method.code.to_string(),
        display_name: op.method.display_name.to_string(),
    }
}

async fn auth_status(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    ApiPath(reference): ApiPath,
) -> ApiResult<axum::Json<wire::AuthenticationOperationStatusResponse>> {
    let claims = state
        .jwt()
        .verify(&token, &[TokenType::AuthenticationToken])
        .map_err(unauthorized)?;
    let op = auth::operation_status(&state, &claims, &reference).await?;
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
    Bearer(token): Bearer,
) -> ApiResult<axum::Json<wire::AuthenticationTokensResponse>> {
    let claims = state
        .jwt()
        .verify(&token, &[TokenType::AuthenticationToken])
        .map_err(unauthorized)?;
    let issued = auth::redeem(&state, &claims).await?;
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
    Bearer(token): Bearer,
) -> ApiResult<axum::Json<wire::AuthenticationTokenRefreshResponse>> {
    let claims = state
        .jwt()
        .verify(&token, &[TokenType::RefreshToken])
        .map_err(unauthorized)?;
    let issued = auth::refresh(&state, &claims).await?;
    Ok(axum::Json(wire::AuthenticationTokenRefreshResponse {
        access_token: wire::TokenInfo {
            token: issued.access_token.into(),
            valid_until: issued.access_valid_until,
        },
    }))
}

/// An authenticated access-token session: verified JWT, its operation, IP policy checked.
pub(crate) struct Session {
    pub(crate) claims: Claims,
    pub(crate) op: AuthOperation,
}

pub(crate) async fn session(
    state: &AppState,
    token: &str,
    ip: std::net::IpAddr,
    types: &[TokenType],
) -> ApiResult<Session> {
    let claims = state.jwt().verify(token, types).map_err(unauthorized)?;
    let op = auth::load_operation(state, &claims.arn)
        .await?
        .ok_or_else(|| {
            ApiError::Unauthorized("Sesja uwierzytelnienia tego tokenu nie istnieje.".into())
        })?;
    auth::check_ip(&op, ip)?;
    Ok(Session { claims, op })
}

impl Session {
    pub(crate) fn caller(&self) -> ApiResult<Caller> {
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
}

async fn list_sessions(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    ClientIp(ip): ClientIp,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<axum::Json<wire::AuthenticationListResponse>> {
    let s = session(&state, &token, ip, &[TokenType::ContextToken]).await?;
    let query: HashMap<String, String> = form_pairs(raw.as_deref().unwrap_or(""))
        .into_iter()
        .collect();
    let size = page_size(query.get("pageSize").map(String::as_str), 10, 100, 10)?;
    let offset = decode_continuation(&headers)?;
    let (ops, more) = auth::list_sessions(&state, &s.caller()?, offset, size).await?;
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
    Bearer(token): Bearer,
    ClientIp(ip): ClientIp,
) -> ApiResult<StatusCode> {
    let s = session(
        &state,
        &token,
        ip,
        &[TokenType::ContextToken, TokenType::RefreshToken],
    )
    .await?;
    auth::revoke_current_session(&state, &s.claims).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn revoke_session(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    ClientIp(ip): ClientIp,
    ApiPath(reference): ApiPath,
) -> ApiResult<StatusCode> {
    let s = session(&state, &token, ip, &[TokenType::ContextToken]).await?;
    auth::revoke_session(&state, &s.caller()?, &reference).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- tokens

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
    Bearer(token): Bearer,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<wire::GenerateTokenRequest>,
) -> ApiResult<impl IntoResponse> {
    let s = session(&state, &token, ip, &[TokenType::ContextToken]).await?;
    let caller = s.caller()?;
    let mut perms = Vec::new();
    for p in &req.permissions {
        perms.push(
            p.require("permissions")
                .map_err(|e| ApiError::validation(e.to_string()))?,
        );
    }
    let (reference, token) = tokens::generate(&state, &caller, perms, &req.description).await?;
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
    Bearer(token): Bearer,
    ClientIp(ip): ClientIp,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<axum::Json<wire::QueryTokensResponse>> {
    let s = session(&state, &token, ip, &[TokenType::ContextToken]).await?;
    let caller = s.caller()?;
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
    let (list, more) = tokens::list(&state, &caller, &filter, offset, size).await?;
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

/// Decodes `a=1&a=2` query strings keeping repeated keys (digest §2.1: arrays by repetition).
fn form_pairs(raw: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect()
}

async fn get_token(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    ClientIp(ip): ClientIp,
    ApiPath(reference): ApiPath,
) -> ApiResult<axum::Json<wire::TokenStatusResponse>> {
    let s = session(&state, &token, ip, &[TokenType::ContextToken]).await?;
    let t = tokens::get(&state, &s.caller()?, &reference).await?;
    Ok(axum::Json(token_item(&t)))
}

async fn revoke_token(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    ClientIp(ip): ClientIp,
    ApiPath(reference): ApiPath,
) -> ApiResult<StatusCode> {
    let s = session(&state, &token, ip, &[TokenType::ContextToken]).await?;
    tokens::revoke(&state, &s.caller()?, &reference).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- testdata

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
    testdata::create_subject(
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
    testdata::remove_subject(&state, &nip("subjectNip", &req.subject_nip)?).await?;
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
    testdata::create_person(
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
    testdata::remove_person(&state, &nip("nip", &req.nip)?).await?;
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
    testdata::grant_permissions(&state, &ctx, &who, &perms).await?;
    Ok(StatusCode::OK)
}

async fn td_permissions_revoke(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<wire::TestDataPermissionsRevokeRequest>,
) -> ApiResult<StatusCode> {
    let (ctx, who) = grant_parties(&req.context_identifier, &req.authorized_identifier)?;
    testdata::revoke_permissions(&state, &ctx, &who).await?;
    Ok(StatusCode::OK)
}

async fn td_attachment(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<wire::AttachmentPermissionGrantRequest>,
) -> ApiResult<StatusCode> {
    testdata::set_attachment(&state, &nip("nip", &req.nip)?, true, None).await?;
    Ok(StatusCode::OK)
}

async fn td_attachment_revoke(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<wire::AttachmentPermissionRevokeRequest>,
) -> ApiResult<StatusCode> {
    let end = req.expected_end_date.map(|d| d.to_string());
    testdata::set_attachment(&state, &nip("nip", &req.nip)?, false, end).await?;
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
    testdata::set_blocked(state, &ctx, blocked).await?;
    Ok(StatusCode::OK)
}

// ---------------------------------------------------------------- permission queries

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

/// A JSON object body the OpenAPI marks optional: an empty body means `T::default()` (no
/// filters); anything else goes through [`ApiJson`] (415 for a wrong content type, 400/21405
/// when malformed). Non-objects are rejected explicitly: serde's derived `Deserialize` would
/// accept `[]` as a struct whose fields all default.
pub(crate) async fn optional_json<T: serde::de::DeserializeOwned + Default>(
    state: &AppState,
    req: Request,
) -> ApiResult<T> {
    let headers = req.headers().clone();
    let bytes = body_bytes(req, state).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let mut rebuilt = Request::new(axum::body::Body::from(bytes));
    *rebuilt.headers_mut() = headers;
    let ApiJson(v) =
        <ApiJson<serde_json::Value> as axum::extract::FromRequest<AppState>>::from_request(
            rebuilt, state,
        )
        .await?;
    if !v.is_object() {
        return Err(ApiError::validation(
            "Nieprawidłowy JSON: oczekiwano obiektu JSON.",
        ));
    }
    serde_json::from_value(v).map_err(|e| ApiError::validation(format!("Nieprawidłowy JSON: {e}")))
}

/// `POST /permissions/query/personal/grants` (digest §7.6): the caller's own grants in the
/// current context. No permission is required; the bearer is checked before the body.
async fn query_personal_grants(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    ClientIp(ip): ClientIp,
    RawQuery(raw): RawQuery,
    req: Request,
) -> ApiResult<axum::Json<wire::QueryPersonalPermissionsResponse>> {
    let s = session(&state, &token, ip, &[TokenType::ContextToken]).await?;
    let caller = s.caller()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_keep_repeats_and_decode() {
        let p = form_pairs("status=Active&status=Pending&description=Wystawianie%20faktur&x=%zz");
        assert_eq!(p[0], ("status".into(), "Active".into()));
        assert_eq!(p[1], ("status".into(), "Pending".into()));
        assert_eq!(p[2].1, "Wystawianie faktur");
        assert_eq!(p[3].1, "%zz");
    }
}
