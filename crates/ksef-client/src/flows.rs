//! Multi-step flows on top of the endpoint calls: waiting for asynchronous operations, the
//! three ways to log in (signed file, certificate, KSeF token), and keeping a [`Session`]
//! fresh.

use std::time::Duration;

use ksef_core::{ContextIdentifier, TokenStatus};
use ksef_crypto::Credential;
use ksef_wire::{
    AuthenticationInitResponse, AuthenticationOperationStatusResponse, TokenStatusResponse,
};
use ksef_xades::auth_request::{AuthNamespace, AuthTokenRequest, SubjectIdentifierType};
use ksef_xades::signature::{SignOptions, sign_enveloped};
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::client::KsefClient;
use crate::error::KsefError;
use crate::session::Session;

/// First polling interval of the asynchronous waits.
const POLL_START: Duration = Duration::from_millis(100);
/// Longest polling interval of the asynchronous waits.
const POLL_CAP: Duration = Duration::from_secs(2);
/// `GET /auth/{ref}` status: in progress.
const AUTH_IN_PROGRESS: i32 = 100;
/// `GET /auth/{ref}` status: success.
const AUTH_SUCCESS: i32 = 200;
/// How long a login waits for the asynchronous authentication by default. DEMO/PRD can take
/// a while for the OCSP/CRL check of the signing certificate (digest §4.6).
pub const DEFAULT_AUTH_DEADLINE: Duration = Duration::from_secs(120);
/// The access token is refreshed when it expires within this margin.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// Exponential backoff: 100 ms, 200 ms, … capped at 2 s, never past the deadline.
struct Backoff {
    next: Duration,
    started: Instant,
    deadline: Duration,
}

impl Backoff {
    fn new(deadline: Duration) -> Self {
        Backoff {
            next: POLL_START,
            started: Instant::now(),
            deadline,
        }
    }

    /// Sleeps before the next poll; `false` when the deadline has passed.
    async fn wait(&mut self) -> bool {
        let elapsed = self.started.elapsed();
        if elapsed >= self.deadline {
            return false;
        }
        let sleep = self.next.min(self.deadline - elapsed);
        tokio::time::sleep(sleep).await;
        self.next = (self.next * 2).min(POLL_CAP);
        true
    }

    fn waited(&self) -> Duration {
        self.started.elapsed()
    }
}

impl KsefClient {
    /// Polls `GET /auth/{reference}` (exponential backoff 100 ms … 2 s) until the status is
    /// not 100. Status 200 → the status response; any other final status →
    /// [`KsefError::AuthenticationFailed`]; still 100 after `deadline` → [`KsefError::Timeout`].
    pub async fn wait_for_authentication(
        &self,
        reference: &str,
        authentication_token: &str,
        deadline: Duration,
    ) -> Result<AuthenticationOperationStatusResponse, KsefError> {
        let mut backoff = Backoff::new(deadline);
        loop {
            let status = self.auth_status(reference, authentication_token).await?;
            match status.status.code {
                AUTH_IN_PROGRESS => {}
                AUTH_SUCCESS => return Ok(status),
                code => {
                    return Err(KsefError::AuthenticationFailed {
                        code: u16::try_from(code).unwrap_or(0),
                        description: status.status.description,
                        details: status.status.details.unwrap_or_default(),
                    });
                }
            }
            if !backoff.wait().await {
                return Err(KsefError::Timeout {
                    what: format!("authentication {reference} to finish (status 100)"),
                    waited: backoff.waited(),
                });
            }
        }
    }

    /// Waits for an initiated authentication, redeems its tokens and builds the [`Session`].
    pub async fn finish_login(
        &self,
        init: &AuthenticationInitResponse,
        context: &ContextIdentifier,
        deadline: Duration,
    ) -> Result<Session, KsefError> {
        let auth_token = init.authentication_token.token.expose_secret();
        let status = self
            .wait_for_authentication(&init.reference_number, auth_token, deadline)
            .await?;
        let tokens = self.redeem(auth_token).await?;
        Ok(Session {
            reference_number: init.reference_number.clone(),
            context: context.clone(),
            authentication_method: Some(status.authentication_method.as_str().to_owned()),
            access_token: tokens.access_token.token,
            access_valid_until: tokens.access_token.valid_until,
            refresh_token: tokens.refresh_token.token,
            refresh_valid_until: tokens.refresh_token.valid_until,
        })
    }

    /// Logs in with an already signed `AuthTokenRequest` (e.g. signed with Profil Zaufany or an
    /// external tool): submit → wait → redeem. The context is read from the document.
    pub async fn login_with_signed_request(
        &self,
        signed_xml: &[u8],
        verify_certificate_chain: Option<bool>,
    ) -> Result<Session, KsefError> {
        let (request, _) = AuthTokenRequest::parse(signed_xml).map_err(|e| {
            KsefError::InvalidInput(format!("the signed file is not an AuthTokenRequest: {e}"))
        })?;
        let init = self
            .submit_xades(signed_xml, verify_certificate_chain)
            .await?;
        self.finish_login(&init, &request.context, DEFAULT_AUTH_DEADLINE)
            .await
    }

    /// Logs in with a certificate and its private key: challenge → `AuthTokenRequest` → XAdES
    /// signature → submit → wait → redeem.
    pub async fn login_with_credential(
        &self,
        credential: &Credential,
        context: &ContextIdentifier,
        subject: SubjectIdentifierType,
    ) -> Result<Session, KsefError> {
        let challenge = self.challenge().await?;
        let xml = AuthTokenRequest::new(challenge.challenge, context.clone(), subject)
            .to_xml(AuthNamespace::V2_0);
        let signed = sign_enveloped(&xml, credential, &SignOptions::default())
            .map_err(|e| KsefError::Crypto(format!("signing the AuthTokenRequest: {e}")))?;
        let init = self.submit_xades(signed.as_bytes(), None).await?;
        self.finish_login(&init, context, DEFAULT_AUTH_DEADLINE)
            .await
    }

    /// Logs in with a KSeF token: encrypted token → wait → redeem.
    pub async fn login_with_ksef_token(
        &self,
        token: &str,
        context: &ContextIdentifier,
    ) -> Result<Session, KsefError> {
        let init = self.submit_ksef_token(token, context).await?;
        self.finish_login(&init, context, DEFAULT_AUTH_DEADLINE)
            .await
    }

    /// Polls `GET /tokens/{reference}` until the token is `Active`. `Failed`, `Revoking` or
    /// `Revoked` → [`KsefError::TokenNotActive`]; still `Pending` after `deadline` →
    /// [`KsefError::Timeout`].
    pub async fn wait_token_active(
        &self,
        access_token: &str,
        reference: &str,
        deadline: Duration,
    ) -> Result<TokenStatusResponse, KsefError> {
        let mut backoff = Backoff::new(deadline);
        loop {
            let token = self.token_status(access_token, reference).await?;
            match token.status.known() {
                Some(TokenStatus::Active) => return Ok(token),
                Some(TokenStatus::Pending) => {}
                _ => {
                    return Err(KsefError::TokenNotActive {
                        reference_number: token.reference_number,
                        status: token.status.as_str().to_owned(),
                        details: token.status_details.unwrap_or_default(),
                    });
                }
            }
            if !backoff.wait().await {
                return Err(KsefError::Timeout {
                    what: format!("KSeF token {reference} to become Active"),
                    waited: backoff.waited(),
                });
            }
        }
    }

    /// Refreshes the session's access token with its refresh token (unconditionally).
    pub async fn refresh_session(&self, session: &mut Session) -> Result<(), KsefError> {
        if !session.can_refresh(OffsetDateTime::now_utc()) {
            return Err(KsefError::SessionExpired {
                refresh_valid_until: session.refresh_valid_until,
            });
        }
        let fresh = self.refresh(session.refresh_token.expose_secret()).await?;
        session.access_token = fresh.access_token.token;
        session.access_valid_until = fresh.access_token.valid_until;
        Ok(())
    }

    /// Refreshes the access token when it expires within 60 s. Returns whether it refreshed
    /// (the caller then stores the session again).
    pub async fn ensure_fresh(&self, session: &mut Session) -> Result<bool, KsefError> {
        let margin = time::Duration::try_from(REFRESH_MARGIN).unwrap_or(time::Duration::MINUTE);
        if !session.access_expires_within(margin, OffsetDateTime::now_utc()) {
            return Ok(false);
        }
        self.refresh_session(session).await?;
        Ok(true)
    }

    /// Runs `call` with a fresh access token of `session`: refreshes first if it expires
    /// within 60 s, and refreshes once more and repeats the call if KSeF answers 401.
    ///
    /// ```no_run
    /// # async fn f(client: ksef_client::KsefClient, mut session: ksef_client::Session) -> Result<(), ksef_client::KsefError> {
    /// let tokens = client
    ///     .with_session(&mut session, async |c, access| {
    ///         c.list_all_tokens(access, &Default::default()).await
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn with_session<T>(
        &self,
        session: &mut Session,
        call: impl AsyncFn(&KsefClient, &str) -> Result<T, KsefError>,
    ) -> Result<T, KsefError> {
        self.ensure_fresh(session).await?;
        match call(self, session.access_token.expose_secret()).await {
            Err(e) if e.http_status() == Some(401) => {
                tracing::debug!("401 with a stored access token, refreshing once");
                self.refresh_session(session).await?;
                call(self, session.access_token.expose_secret()).await
            }
            other => other,
        }
    }
}
