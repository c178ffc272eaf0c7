//! [`KsefClient`]: the HTTP layer (retries, error mapping, logging) and one method per
//! endpoint, returning the `ksef-wire` types.

use std::error::Error as StdError;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ksef_core::{ContextIdentifier, SubjectIdentifierKind, TokenPermission, TokenStatus};
use ksef_crypto::Zeroizing;
use ksef_wire::Operation;
use ksef_wire::{
    AuthenticationChallengeResponse, AuthenticationInitResponse, AuthenticationListResponse,
    AuthenticationOperationStatusResponse, AuthenticationTokenRefreshResponse,
    AuthenticationTokensResponse, ExceptionCode, GenerateTokenRequest, GenerateTokenResponse,
    InitTokenAuthenticationRequest, PersonalPermission, PersonalPermissionsQueryRequest,
    PublicKeyCertificate, PublicKeyCertificateUsage, QueryPersonalPermissionsResponse,
    QueryTokensResponse, QueryTokensResponseItem, Secret, TokenStatusResponse, Validate, WireEnum,
    headers,
};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use crate::error::KsefError;
use crate::pacer::{Pacer, Permit};
use crate::retry::{RetryPolicy, parse_retry_after};

/// `User-Agent` of the client.
const USER_AGENT: &str = concat!("ksef-client/", env!("CARGO_PKG_VERSION"));
/// Default connect timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Default timeout of a whole request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Safety stop for [`KsefClient::list_all_tokens`] (100 tokens a page → 100 000 tokens).
const MAX_PAGES: usize = 1000;

/// Filters of `GET /tokens` (digest §6.3). `Default` = all tokens, server page size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenQuery {
    /// Only these statuses (repeated `status` parameter); empty = all.
    pub statuses: Vec<TokenStatus>,
    /// Case-insensitive substring of the description (≥ 3 characters).
    pub description: Option<String>,
    /// Case-insensitive substring of the author identifier (≥ 3 characters).
    pub author_identifier: Option<String>,
    /// Type of the author identifier.
    pub author_identifier_type: Option<SubjectIdentifierKind>,
    /// Page size, 10–100 (server default 10).
    pub page_size: Option<u32>,
}

/// A typed async client of one KSeF API base URL. Cheap to clone (the HTTP connection pool
/// and the public-key cache are shared between clones).
#[derive(Clone)]
pub struct KsefClient {
    http: reqwest::Client,
    base: Url,
    base_str: String,
    retry: RetryPolicy,
    problem_details: bool,
    keys: Arc<Mutex<Option<Vec<PublicKeyCertificate>>>>,
    pacer: Option<Pacer>,
}

impl std::fmt::Debug for KsefClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KsefClient")
            .field("base_url", &self.base_str)
            .field("retry", &self.retry)
            .field("problem_details", &self.problem_details)
            .field("pacer", &self.pacer)
            .finish_non_exhaustive()
    }
}

/// A successful HTTP answer.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

/// One request to send: an operation of the API table (its method, and its rate-limit group
/// for the [`Pacer`]) on a URL built for it.
pub(crate) struct Call<'a> {
    operation: Operation,
    method: Method,
    url: Url,
    bearer: Option<&'a str>,
    body: Option<(&'static str, Vec<u8>)>,
    continuation: Option<&'a str>,
    accept: &'static str,
}

impl<'a> Call<'a> {
    /// A call of `operation` on `url` (built with [`KsefClient::op_url`]); the method is the
    /// operation's.
    pub(crate) fn op(operation: Operation, url: Url) -> Self {
        let method = match operation.endpoint().method {
            ksef_wire::endpoints::Method::Get => Method::GET,
            ksef_wire::endpoints::Method::Post => Method::POST,
            ksef_wire::endpoints::Method::Put => Method::PUT,
            ksef_wire::endpoints::Method::Delete => Method::DELETE,
        };
        Call {
            operation,
            method,
            url,
            bearer: None,
            body: None,
            continuation: None,
            accept: "application/json",
        }
    }
    pub(crate) fn bearer(mut self, token: &'a str) -> Self {
        self.bearer = Some(token);
        self
    }
    pub(crate) fn json(mut self, body: Vec<u8>) -> Self {
        self.body = Some(("application/json", body));
        self
    }
    pub(crate) fn continuation(mut self, token: Option<&'a str>) -> Self {
        self.continuation = token.filter(|t| !t.is_empty());
        self
    }
    /// Sets the `Accept` header (default `application/json`; XML downloads).
    pub(crate) fn accept(mut self, media_type: &'static str) -> Self {
        self.accept = media_type;
        self
    }
}

impl KsefClient {
    /// A client of `base_url` (the API root ending in `/v2`, e.g.
    /// [`Environment::base_url`](crate::Environment::base_url)). Uses rustls with the
    /// platform's trust store for HTTPS.
    pub fn new(base_url: &str) -> Result<Self, KsefError> {
        let http = crate::http_client_builder()
            .user_agent(USER_AGENT)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| {
                KsefError::Transport(format!("cannot set up the HTTP client: {}", chain(&e)))
            })?;
        Self::with_http(base_url, http)
    }

    /// A client of `base_url` using a caller-configured `reqwest::Client` (proxy, timeouts,
    /// extra root certificates…). Start it from [`http_client_builder`](crate::http_client_builder),
    /// which selects the TLS provider.
    pub fn with_http(base_url: &str, http: reqwest::Client) -> Result<Self, KsefError> {
        let trimmed = base_url.trim().trim_end_matches('/');
        let base = Url::parse(trimmed)
            .map_err(|e| KsefError::InvalidInput(format!("invalid base URL {trimmed:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(KsefError::InvalidInput(format!(
                "invalid base URL {trimmed:?}: expected http:// or https://"
            )));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(KsefError::InvalidInput(format!(
                "invalid base URL {trimmed:?}: no query or fragment allowed"
            )));
        }
        Ok(KsefClient {
            http,
            base,
            base_str: trimmed.to_owned(),
            retry: RetryPolicy::default(),
            problem_details: false,
            keys: Arc::new(Mutex::new(None)),
            pacer: None,
        })
    }

    /// Paces every call of this client (and its clones made after) to `pacer`'s rate limits:
    /// a call waits until its group has room, so KSeF does not answer 429 (see [`Pacer`]).
    /// Off by default; flows that make many calls in one context turn it on for their client.
    pub fn with_pacer(mut self, pacer: Pacer) -> Self {
        self.pacer = Some(pacer);
        self
    }

    /// The pacer in force, if any.
    pub fn pacer(&self) -> Option<&Pacer> {
        self.pacer.as_ref()
    }

    /// Replaces the retry policy (429 / connection resets).
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Sends `X-Error-Format: problem-details`, so 400 and 429 come as RFC 7807 bodies. Both
    /// formats map onto the same [`KsefError::Api`].
    pub fn with_problem_details(mut self, on: bool) -> Self {
        self.problem_details = on;
        self
    }

    /// The API base URL (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base_str
    }

    /// The retry policy in force.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The underlying HTTP client (for the pre-signed storage calls in `invoicing`).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    // -----------------------------------------------------------------------------------------
    // HTTP layer
    // -----------------------------------------------------------------------------------------

    /// `base` + path segments (each percent-encoded, so a reference number cannot escape its
    /// path segment).
    pub(crate) fn url(&self, segments: &[&str]) -> Result<Url, KsefError> {
        let mut url = self.base.clone();
        {
            let mut path = url.path_segments_mut().map_err(|()| {
                KsefError::InvalidInput(format!("base URL {} cannot take a path", self.base_str))
            })?;
            path.pop_if_empty();
            path.extend(segments);
        }
        Ok(url)
    }

    /// The URL of `op` (its path in [`ksef_wire::ENDPOINTS`]) with `params` for its path
    /// parameters, in order, each segment-encoded.
    pub(crate) fn op_url(&self, op: Operation, params: &[&str]) -> Result<Url, KsefError> {
        let endpoint = op.endpoint();
        let segments = endpoint.segments(params).ok_or_else(|| {
            KsefError::InvalidInput(format!(
                "{endpoint}: {} path parameter(s) given",
                params.len()
            ))
        })?;
        self.url(&segments)
    }

    fn request(&self, call: &Call<'_>) -> reqwest::RequestBuilder {
        let mut req = self.http.request(call.method.clone(), call.url.clone());
        if let Some(token) = call.bearer {
            req = req.bearer_auth(token);
        }
        if let Some(token) = call.continuation {
            req = req.header(headers::X_CONTINUATION_TOKEN, token);
        }
        if self.problem_details {
            req = req.header(headers::X_ERROR_FORMAT, headers::PROBLEM_DETAILS);
        }
        req = req.header(reqwest::header::ACCEPT, call.accept);
        if let Some((content_type, body)) = &call.body {
            req = req.header(CONTENT_TYPE, *content_type).body(body.clone());
        }
        req
    }

    async fn attempt(&self, call: &Call<'_>) -> Result<Answer, reqwest::Error> {
        let resp = self.request(call).send().await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await?.to_vec();
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// Whether a transport error is retried: a GET whose connection was reset, once.
    fn retry_reset(&self, call: &Call<'_>, e: &reqwest::Error, retried: &mut bool) -> bool {
        if call.method == Method::GET
            && self.retry.retry_get_on_connection_reset
            && !*retried
            && is_connection_reset(e)
        {
            *retried = true;
            tracing::debug!(method = %call.method, path = call.url.path(), "connection reset, retrying once");
            return true;
        }
        false
    }

    /// How long to wait before retrying a 429 answer, if the policy allows another retry
    /// (counted in `retries` / `waited`).
    fn wait_for_429(
        &self,
        call: &Call<'_>,
        wait: Duration,
        retries: &mut u32,
        waited: &mut Duration,
    ) -> Option<Duration> {
        if *retries < self.retry.max_retries_on_429 && *waited + wait <= self.retry.max_total_wait {
            *retries += 1;
            *waited += wait;
            tracing::debug!(
                method = %call.method,
                path = call.url.path(),
                wait_ms = wait.as_millis() as u64,
                "429, retrying after Retry-After"
            );
            return Some(wait);
        }
        None
    }

    /// The `Retry-After` of a 429 answer (the policy's default wait when it has none).
    fn retry_after(&self, headers: &HeaderMap) -> Duration {
        headers
            .get(headers::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()))
            .unwrap_or(self.retry.default_wait)
    }

    /// Waits for the pacer (when there is one) to give `call` a slot.
    async fn pace(&self, call: &Call<'_>) -> Option<Permit> {
        match &self.pacer {
            Some(p) => Some(p.acquire(call.operation).await),
            None => None,
        }
    }

    /// Ends a paced call with its answer's status: a 429 blocks its group in the pacer for the
    /// `Retry-After`. Returns that wait for a 429.
    fn answered(
        &self,
        permit: Option<Permit>,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> Option<Duration> {
        let wait = (status == StatusCode::TOO_MANY_REQUESTS).then(|| self.retry_after(headers));
        if let Some(p) = permit {
            p.answered(wait);
        }
        wait
    }

    /// [`send`](Self::send) for large answers: the same retry policy, but a 2xx response is
    /// returned unread, for the caller to stream. Error answers are read (they are small) and
    /// become [`KsefError::Api`].
    pub(crate) async fn send_streaming(
        &self,
        call: Call<'_>,
    ) -> Result<reqwest::Response, KsefError> {
        let (mut retries_429, mut waited) = (0u32, Duration::ZERO);
        let mut reset_retried = false;
        loop {
            let permit = self.pace(&call).await;
            let resp = match self.request(&call).send().await {
                Ok(r) => r,
                Err(e) => {
                    drop(permit);
                    if self.retry_reset(&call, &e, &mut reset_retried) {
                        continue;
                    }
                    return Err(transport_error(&call, e));
                }
            };
            let status = resp.status();
            // KSeF counted the call once its answer began: the body may stream on.
            let throttled = self.answered(permit, status, resp.headers());
            tracing::debug!(method = %call.method, path = call.url.path(),
                status = status.as_u16(), "KSeF call (streamed)");
            if status.is_success() {
                return Ok(resp);
            }
            if let Some(wait) = throttled
                && let Some(wait) = self.wait_for_429(&call, wait, &mut retries_429, &mut waited)
            {
                tokio::time::sleep(wait).await;
                continue;
            }
            let body = resp.bytes().await.map_err(|e| transport_error(&call, e))?;
            return Err(KsefError::from_response(status.as_u16(), &body));
        }
    }

    /// Sends a call with the retry policy; non-2xx answers become [`KsefError::Api`].
    pub(crate) async fn send(&self, call: Call<'_>) -> Result<Answer, KsefError> {
        let mut retries_429 = 0u32;
        let mut waited = Duration::ZERO;
        let mut reset_retried = false;
        loop {
            let permit = self.pace(&call).await;
            let answer = match self.attempt(&call).await {
                Ok(a) => a,
                Err(e) => {
                    drop(permit);
                    if self.retry_reset(&call, &e, &mut reset_retried) {
                        continue;
                    }
                    return Err(transport_error(&call, e));
                }
            };
            let throttled = self.answered(permit, answer.status, &answer.headers);
            tracing::debug!(
                method = %call.method,
                path = call.url.path(),
                status = answer.status.as_u16(),
                "KSeF call"
            );
            if let Some(wait) = throttled
                && let Some(wait) = self.wait_for_429(&call, wait, &mut retries_429, &mut waited)
            {
                tokio::time::sleep(wait).await;
                continue;
            }
            if answer.status.is_success() {
                return Ok(answer);
            }
            return Err(KsefError::from_response(
                answer.status.as_u16(),
                &answer.body,
            ));
        }
    }

    pub(crate) async fn send_json<T: DeserializeOwned>(
        &self,
        what: &str,
        call: Call<'_>,
    ) -> Result<T, KsefError> {
        let answer = self.send(call).await?;
        decode(what, &answer.body)
    }

    // -----------------------------------------------------------------------------------------
    // Public keys
    // -----------------------------------------------------------------------------------------

    /// `GET /security/public-key-certificates` (no auth). Also refreshes the key cache used by
    /// [`submit_ksef_token`](Self::submit_ksef_token).
    pub async fn public_key_certificates(&self) -> Result<Vec<PublicKeyCertificate>, KsefError> {
        let url = self.op_url(Operation::PublicKeyCertificates, &[])?;
        let keys: Vec<PublicKeyCertificate> = self
            .send_json(
                &Operation::PublicKeyCertificates.endpoint().response_label(),
                Call::op(Operation::PublicKeyCertificates, url),
            )
            .await?;
        *self.keys.lock().unwrap_or_else(PoisonError::into_inner) = Some(keys.clone());
        Ok(keys)
    }

    /// Forgets the cached public keys (the next token login downloads them again).
    pub fn invalidate_public_keys(&self) {
        *self.keys.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// The certificate to encrypt with for `usage`, valid now, with the latest `validFrom`
    /// (digest §3.1). Uses the cache when it has such a certificate, downloads otherwise.
    pub async fn public_key_for(
        &self,
        usage: PublicKeyCertificateUsage,
    ) -> Result<PublicKeyCertificate, KsefError> {
        let now = OffsetDateTime::now_utc();
        let cached = self
            .keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_deref()
            .and_then(|keys| PublicKeyCertificate::select(keys, usage, now).cloned());
        if let Some(cert) = cached {
            return Ok(cert);
        }
        let keys = self.public_key_certificates().await?;
        PublicKeyCertificate::select(&keys, usage, now)
            .cloned()
            .ok_or_else(|| KsefError::Decode {
                what: Operation::PublicKeyCertificates.endpoint().response_label(),
                message: format!(
                    "no certificate with usage {} is valid now",
                    usage.wire_name()
                ),
            })
    }

    // -----------------------------------------------------------------------------------------
    // Authentication
    // -----------------------------------------------------------------------------------------

    /// `POST /auth/challenge` (no auth).
    pub async fn challenge(&self) -> Result<AuthenticationChallengeResponse, KsefError> {
        let url = self.op_url(Operation::AuthChallenge, &[])?;
        self.send_json(
            &Operation::AuthChallenge.endpoint().response_label(),
            Call::op(Operation::AuthChallenge, url),
        )
        .await
    }

    /// `POST /auth/xades-signature` with a signed `AuthTokenRequest`, sent byte for byte.
    /// `verify_certificate_chain`: `Some(true)` makes TEST check the chain like PRD; `None`
    /// leaves the parameter out.
    pub async fn submit_xades(
        &self,
        signed_xml: &[u8],
        verify_certificate_chain: Option<bool>,
    ) -> Result<AuthenticationInitResponse, KsefError> {
        let mut url = self.op_url(Operation::AuthXadesSignature, &[])?;
        if let Some(verify) = verify_certificate_chain {
            url.query_pairs_mut().append_pair(
                "verifyCertificateChain",
                if verify { "true" } else { "false" },
            );
        }
        let mut call = Call::op(Operation::AuthXadesSignature, url);
        call.body = Some(("application/xml", signed_xml.to_vec()));
        self.send_json(
            &Operation::AuthXadesSignature.endpoint().response_label(),
            call,
        )
        .await
    }

    /// `POST /auth/ksef-token`: takes a fresh challenge, encrypts `token|timestampMs` with
    /// RSA-OAEP-SHA-256 for the current `KsefTokenEncryption` key (cached, never pinned) and
    /// sends its `publicKeyId`. On 400/21470 (unknown key id: the keys rotated) it downloads
    /// the keys again and retries once.
    pub async fn submit_ksef_token(
        &self,
        token: &str,
        context: &ContextIdentifier,
    ) -> Result<AuthenticationInitResponse, KsefError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(KsefError::InvalidInput("the KSeF token is empty".into()));
        }
        match self.submit_ksef_token_once(token, context).await {
            Err(e) if e.is_exception(ExceptionCode::UnknownPublicKey) => {
                tracing::debug!("21470: public key withdrawn, downloading the keys again");
                self.invalidate_public_keys();
                self.submit_ksef_token_once(token, context).await
            }
            other => other,
        }
    }

    async fn submit_ksef_token_once(
        &self,
        token: &str,
        context: &ContextIdentifier,
    ) -> Result<AuthenticationInitResponse, KsefError> {
        let key = self
            .public_key_for(PublicKeyCertificateUsage::KsefTokenEncryption)
            .await?;
        let cert_der = BASE64
            .decode(key.certificate.trim())
            .map_err(|e| KsefError::Decode {
                what: "public key certificate".into(),
                message: format!("certificate is not Base64: {e}"),
            })?;
        let challenge = self.challenge().await?;
        let plaintext = Zeroizing::new(format!("{token}|{}", challenge.timestamp_ms));
        let encrypted = ksef_crypto::envelope::rsa_oaep_sha256_encrypt_for_certificate(
            &cert_der,
            plaintext.as_bytes(),
        )
        .map_err(|e| KsefError::Crypto(format!("encrypting the KSeF token: {e}")))?;
        let request = InitTokenAuthenticationRequest {
            challenge: challenge.challenge,
            context_identifier: context.into(),
            encrypted_token: Secret::new(BASE64.encode(encrypted)),
            public_key_id: Some(key.public_key_id),
            authorization_policy: None,
        };
        let url = self.op_url(Operation::AuthKsefToken, &[])?;
        self.send_json(
            &Operation::AuthKsefToken.endpoint().response_label(),
            Call::op(Operation::AuthKsefToken, url).json(to_json(&request)?),
        )
        .await
    }

    /// `GET /auth/{referenceNumber}` with the authenticationToken.
    pub async fn auth_status(
        &self,
        reference: &str,
        authentication_token: &str,
    ) -> Result<AuthenticationOperationStatusResponse, KsefError> {
        let url = self.op_url(Operation::AuthStatus, &[reference])?;
        self.send_json(
            &Operation::AuthStatus.endpoint().response_label(),
            Call::op(Operation::AuthStatus, url).bearer(authentication_token),
        )
        .await
    }

    /// `POST /auth/token/redeem` with the authenticationToken (allowed once).
    pub async fn redeem(
        &self,
        authentication_token: &str,
    ) -> Result<AuthenticationTokensResponse, KsefError> {
        let url = self.op_url(Operation::RedeemToken, &[])?;
        self.send_json(
            &Operation::RedeemToken.endpoint().response_label(),
            Call::op(Operation::RedeemToken, url).bearer(authentication_token),
        )
        .await
    }

    /// `POST /auth/token/refresh` with the refresh token → a new access token.
    pub async fn refresh(
        &self,
        refresh_token: &str,
    ) -> Result<AuthenticationTokenRefreshResponse, KsefError> {
        let url = self.op_url(Operation::RefreshToken, &[])?;
        self.send_json(
            &Operation::RefreshToken.endpoint().response_label(),
            Call::op(Operation::RefreshToken, url).bearer(refresh_token),
        )
        .await
    }

    /// `GET /auth/sessions`: one page of the context's authentication sessions.
    pub async fn auth_sessions(
        &self,
        access_token: &str,
        continuation: Option<&str>,
    ) -> Result<AuthenticationListResponse, KsefError> {
        let url = self.op_url(Operation::ListAuthSessions, &[])?;
        self.send_json(
            &Operation::ListAuthSessions.endpoint().response_label(),
            Call::op(Operation::ListAuthSessions, url)
                .bearer(access_token)
                .continuation(continuation),
        )
        .await
    }

    /// `DELETE /auth/sessions/current` with the access or refresh token: revokes the session
    /// (its refresh token stops working; issued access tokens live until they expire).
    pub async fn logout(&self, access_or_refresh_token: &str) -> Result<(), KsefError> {
        let url = self.op_url(Operation::RevokeCurrentAuthSession, &[])?;
        self.send(
            Call::op(Operation::RevokeCurrentAuthSession, url).bearer(access_or_refresh_token),
        )
        .await
        .map(drop)
    }

    // -----------------------------------------------------------------------------------------
    // Permissions
    // -----------------------------------------------------------------------------------------

    /// `POST /permissions/query/personal/grants`: one page (0-based `page_offset`) of the caller's
    /// own permissions in the current context. The owner role is never listed (digest §7.2).
    pub async fn personal_permissions(
        &self,
        access_token: &str,
        query: &PersonalPermissionsQueryRequest,
        page_offset: u32,
        page_size: u32,
    ) -> Result<QueryPersonalPermissionsResponse, KsefError> {
        let mut url = self.op_url(Operation::QueryPersonalGrants, &[])?;
        url.query_pairs_mut()
            .append_pair("pageOffset", &page_offset.to_string())
            .append_pair("pageSize", &page_size.to_string());
        self.send_json(
            &Operation::QueryPersonalGrants.endpoint().response_label(),
            Call::op(Operation::QueryPersonalGrants, url)
                .bearer(access_token)
                .json(to_json(query)?),
        )
        .await
    }

    /// Every page of [`Self::personal_permissions`].
    pub async fn all_personal_permissions(
        &self,
        access_token: &str,
        query: &PersonalPermissionsQueryRequest,
    ) -> Result<Vec<PersonalPermission>, KsefError> {
        let mut all = Vec::new();
        for page in 0..MAX_PAGES as u32 {
            let r = self
                .personal_permissions(access_token, query, page, 100)
                .await?;
            all.extend(r.permissions);
            if !r.has_more {
                return Ok(all);
            }
        }
        Err(KsefError::Decode {
            what: Operation::QueryPersonalGrants.endpoint().response_label(),
            message: format!("more than {MAX_PAGES} pages"),
        })
    }

    // -----------------------------------------------------------------------------------------
    // KSeF tokens
    // -----------------------------------------------------------------------------------------

    /// `POST /tokens` → reference number and the token (returned only once). The request is
    /// checked locally first (description 5–256 characters, at least one permission).
    pub async fn generate_token(
        &self,
        access_token: &str,
        permissions: &[TokenPermission],
        description: &str,
    ) -> Result<GenerateTokenResponse, KsefError> {
        if permissions.is_empty() {
            return Err(KsefError::InvalidInput(
                "a KSeF token needs at least one permission".into(),
            ));
        }
        let request = GenerateTokenRequest::new(permissions, description);
        request
            .validate()
            .map_err(|e| KsefError::InvalidInput(e.to_string()))?;
        let url = self.op_url(Operation::GenerateToken, &[])?;
        self.send_json(
            &Operation::GenerateToken.endpoint().response_label(),
            Call::op(Operation::GenerateToken, url)
                .bearer(access_token)
                .json(to_json(&request)?),
        )
        .await
    }

    /// `GET /tokens`: one page of tokens matching `query`.
    pub async fn list_tokens(
        &self,
        access_token: &str,
        query: &TokenQuery,
        continuation: Option<&str>,
    ) -> Result<QueryTokensResponse, KsefError> {
        let mut url = self.op_url(Operation::ListTokens, &[])?;
        {
            let mut q = url.query_pairs_mut();
            for status in &query.statuses {
                q.append_pair("status", status.as_str());
            }
            if let Some(d) = &query.description {
                q.append_pair("description", d);
            }
            if let Some(a) = &query.author_identifier {
                q.append_pair("authorIdentifier", a);
            }
            if let Some(t) = query.author_identifier_type {
                q.append_pair("authorIdentifierType", t.as_str());
            }
            if let Some(n) = query.page_size {
                q.append_pair("pageSize", &n.to_string());
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        self.send_json(
            &Operation::ListTokens.endpoint().response_label(),
            Call::op(Operation::ListTokens, url)
                .bearer(access_token)
                .continuation(continuation),
        )
        .await
    }

    /// Every token matching `query`, following `x-continuation-token` page after page.
    pub async fn list_all_tokens(
        &self,
        access_token: &str,
        query: &TokenQuery,
    ) -> Result<Vec<QueryTokensResponseItem>, KsefError> {
        let mut all = Vec::new();
        let mut continuation: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .list_tokens(access_token, query, continuation.as_deref())
                .await?;
            all.extend(page.tokens);
            match page.continuation_token.filter(|t| !t.is_empty()) {
                Some(next) if Some(&next) == continuation.as_ref() => {
                    return Err(KsefError::Decode {
                        what: Operation::ListTokens.endpoint().response_label(),
                        message: "the server returned the same continuation token twice".into(),
                    });
                }
                Some(next) => continuation = Some(next),
                None => return Ok(all),
            }
        }
        Err(KsefError::Decode {
            what: Operation::ListTokens.endpoint().response_label(),
            message: format!("more than {MAX_PAGES} pages; narrow the query"),
        })
    }

    /// `GET /tokens/{referenceNumber}`.
    pub async fn token_status(
        &self,
        access_token: &str,
        reference: &str,
    ) -> Result<TokenStatusResponse, KsefError> {
        let url = self.op_url(Operation::TokenStatus, &[reference])?;
        self.send_json(
            &Operation::TokenStatus.endpoint().response_label(),
            Call::op(Operation::TokenStatus, url).bearer(access_token),
        )
        .await
    }

    /// `DELETE /tokens/{referenceNumber}` (asynchronous: Active → Revoking → Revoked).
    pub async fn revoke_token(&self, access_token: &str, reference: &str) -> Result<(), KsefError> {
        let url = self.op_url(Operation::RevokeToken, &[reference])?;
        self.send(Call::op(Operation::RevokeToken, url).bearer(access_token))
            .await
            .map(drop)
    }
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, KsefError> {
    serde_json::to_vec(value)
        .map_err(|e| KsefError::InvalidInput(format!("cannot encode JSON: {e}")))
}

/// Decodes a JSON body. The message never quotes string values of the body (they may be
/// tokens): serde quotes values in `"…"`, which are blanked out.
pub(crate) fn decode<T: DeserializeOwned>(what: &str, body: &[u8]) -> Result<T, KsefError> {
    serde_json::from_slice(body).map_err(|e| KsefError::Decode {
        what: what.to_owned(),
        message: redact_quoted(&e.to_string()),
    })
}

fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut inside = false;
    for c in message.chars() {
        if c == '"' {
            if inside {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

/// The `Display` of an error and all its sources, `: `-separated, without repetitions.
pub(crate) fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        let s = err.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    parts.join(": ")
}

fn transport_error(call: &Call<'_>, e: reqwest::Error) -> KsefError {
    // The URL holds no secret (tokens travel in headers), so it is named in full.
    let url = &call.url;
    let e = e.without_url();
    if e.is_timeout() {
        return KsefError::Transport(format!(
            "{} {url}: no answer in time ({})",
            call.method,
            chain(&e)
        ));
    }
    KsefError::Transport(format!(
        "cannot reach {url} ({} request): {}",
        call.method,
        chain(&e)
    ))
}

/// Whether the connection was reset/closed under the request (worth one retry for a GET).
pub(crate) fn is_connection_reset(e: &reqwest::Error) -> bool {
    use std::io::ErrorKind;
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::BrokenPipe
                    | ErrorKind::UnexpectedEof
            )
        {
            return true;
        }
        // hyper reports a peer that closed a kept-alive connection without an io::Error.
        if err
            .to_string()
            .contains("connection closed before message completed")
        {
            return true;
        }
        cur = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_segment_encoded() {
        let c = KsefClient::new("http://127.0.0.1:1/v2/").unwrap();
        assert_eq!(c.base_url(), "http://127.0.0.1:1/v2");
        let u = c.url(&["tokens", "../auth/x?y"]).unwrap();
        assert_eq!(u.as_str(), "http://127.0.0.1:1/v2/tokens/..%2Fauth%2Fx%3Fy");
        assert!(KsefClient::new("ftp://x/v2").is_err());
        assert!(KsefClient::new("not a url").is_err());
        assert!(KsefClient::new("https://h/v2?x=1").is_err());
    }

    #[test]
    fn decode_errors_do_not_quote_values() {
        let err = decode::<AuthenticationTokensResponse>(
            "redeem",
            br#"{"accessToken": {"token": 5, "validUntil": "x"}, "refreshToken": "eyJsecret"}"#,
        )
        .unwrap_err();
        assert!(!err.to_string().contains("eyJ"), "{err}");
        assert_eq!(
            redact_quoted(r#"invalid type: string "abc", expected"#),
            "invalid type: string \"…\", expected"
        );
    }
}
