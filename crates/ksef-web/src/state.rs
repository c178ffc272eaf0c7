//! Shared state, the server-side sessions bound to an HttpOnly cookie, CSRF tokens, and the
//! middleware that guards every request (Host check, session cookie, security headers).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ksef_client::Environment;
use ksef_crypto::Zeroizing;
use ksef_program::auth::PreparedRequest;
use ksef_program::{App, ProgramResult, Settings};
use ksef_store::Store;
use subtle::ConstantTimeEq;
use tokio::sync::Mutex;

/// The cookie carrying the server-side session id.
pub const SESSION_COOKIE: &str = "ksef_web_sid";
/// The store setting holding the chosen environment (`local`, `test`, `demo`, `prod`).
pub const ENVIRONMENT_SETTING: &str = "environment";
/// Idle server-side sessions are forgotten after this long.
const SESSION_IDLE: Duration = Duration::from_secs(8 * 3600);
/// At most this many server-side sessions are kept (oldest dropped first).
const MAX_SESSIONS: usize = 256;

/// The embedded emulator, as the pages need it.
#[derive(Debug, Clone)]
pub struct EmbeddedEmulator {
    /// `http://127.0.0.1:PORT/v2`.
    pub base_url: String,
    /// `http://127.0.0.1:PORT/symulator-podpisu`.
    pub signing_url: String,
}

/// State shared by all requests.
pub struct Shared {
    pub store: Store,
    pub data_dir: PathBuf,
    pub emulator: Option<EmbeddedEmulator>,
    /// What the environment "local" means without an embedded emulator.
    pub local_base_url: String,
    pub max_upload_bytes: usize,
    /// `Host` header values accepted (DNS-rebinding protection).
    pub allowed_hosts: Vec<String>,
    sessions: std::sync::Mutex<HashMap<String, Entry>>,
}

struct Entry {
    session: Arc<Mutex<WebSession>>,
    last_seen: Instant,
}

pub type SharedState = Arc<Shared>;

/// A Profil Zaufany request waiting for its signed copy.
pub struct PendingPz {
    pub prepared: PreparedRequest,
    pub return_to: String,
}

/// A freshly generated token, kept only until "Zapisz" or the next page.
pub struct GeneratedToken {
    pub reference: String,
    pub token: Zeroizing<String>,
    pub for_user: Option<String>,
}

/// One browser's server-side session.
pub struct WebSession {
    csrf: String,
    /// The program, with this browser's KSeF session kept in memory only.
    pub app: App,
    pub current_user: Option<String>,
    pub last_nip: String,
    pub pending_pz: Option<PendingPz>,
    pub generated: Option<GeneratedToken>,
    pub flash: Option<String>,
    pub error: Option<String>,
}

impl WebSession {
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// Constant-time comparison of a submitted CSRF token with this session's.
    pub fn csrf_ok(&self, given: Option<&str>) -> bool {
        match given {
            Some(g) => bool::from(g.as_bytes().ct_eq(self.csrf.as_bytes())),
            None => false,
        }
    }
}

/// The session of the current request (inserted by [`guard`]).
#[derive(Clone)]
pub struct SessionHandle(pub Arc<Mutex<WebSession>>);

fn random_hex() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

impl Shared {
    pub fn new(
        store: Store,
        data_dir: PathBuf,
        emulator: Option<EmbeddedEmulator>,
        local_base_url: String,
        max_upload_bytes: usize,
        port: u16,
    ) -> Self {
        Self {
            store,
            data_dir,
            emulator,
            local_base_url,
            max_upload_bytes,
            allowed_hosts: vec![
                format!("127.0.0.1:{port}"),
                format!("localhost:{port}"),
                format!("[::1]:{port}"),
            ],
            sessions: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The chosen environment (default: local).
    pub async fn environment(&self) -> Environment {
        self.store
            .setting(ENVIRONMENT_SETTING)
            .await
            .ok()
            .flatten()
            .and_then(|s| s.parse().ok())
            .unwrap_or(Environment::Local)
    }

    /// The API base URL of an environment.
    pub fn base_url_of(&self, env: Environment) -> String {
        match env {
            Environment::Local => self
                .emulator
                .as_ref()
                .map(|e| e.base_url.clone())
                .unwrap_or_else(|| self.local_base_url.clone()),
            other => other.base_url().to_string(),
        }
    }

    /// Where Profil Zaufany requests are signed: the emulator's simulation offline.
    pub fn signing_url(&self, env: Environment) -> (String, &'static str) {
        match (&self.emulator, env) {
            (Some(e), Environment::Local) => (
                e.signing_url.clone(),
                "Symulowany serwis podpisu zaufanego (emulator — SYMULACJA)",
            ),
            _ => (
                ksef_program::auth::SIGNING_SERVICE_URL.to_string(),
                "Podpisz dokument elektronicznie (gov.pl)",
            ),
        }
    }

    fn new_app(&self, base_url: String) -> ProgramResult<App> {
        let settings = Settings {
            base_url,
            data_dir: self.data_dir.clone(),
            json: false,
        };
        Ok(App::new(settings)?
            .with_store(self.store.clone())
            .with_session_in_memory())
    }

    /// Makes sure the session's program talks to the chosen environment (a switch drops the
    /// KSeF session of the old one).
    pub async fn align(&self, ws: &mut WebSession) -> ProgramResult<()> {
        let base = self.base_url_of(self.environment().await);
        if ws.app.settings.base_url != base {
            ws.app = self.new_app(base)?;
            ws.pending_pz = None;
            ws.generated = None;
        }
        Ok(())
    }

    async fn session_for(
        &self,
        sid: Option<&str>,
    ) -> ProgramResult<(String, Arc<Mutex<WebSession>>, bool)> {
        let now = Instant::now();
        if let Some(sid) = sid {
            let mut map = self
                .sessions
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(e) = map.get_mut(sid) {
                e.last_seen = now;
                return Ok((sid.to_string(), e.session.clone(), false));
            }
        }
        let base = self.base_url_of(self.environment().await);
        let ws = WebSession {
            csrf: random_hex(),
            app: self.new_app(base)?,
            current_user: None,
            last_nip: String::new(),
            pending_pz: None,
            generated: None,
            flash: None,
            error: None,
        };
        let sid = random_hex();
        let session = Arc::new(Mutex::new(ws));
        let mut map = self
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, e| now.duration_since(e.last_seen) < SESSION_IDLE);
        while map.len() >= MAX_SESSIONS {
            let Some(oldest) = map
                .iter()
                .min_by_key(|(_, e)| e.last_seen)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            map.remove(&oldest);
        }
        map.insert(
            sid.clone(),
            Entry {
                session: session.clone(),
                last_seen: now,
            },
        );
        Ok((sid, session, true))
    }
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn plain_error(status: StatusCode, text: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"pl\"><head><meta charset=\"utf-8\"><title>Błąd</title>\
         <link rel=\"stylesheet\" href=\"/static/app.css\"></head><body><main>\
         <h1>{}</h1><p id=\"error\" class=\"error\">{text}</p><p><a href=\"/\">Strona główna</a></p>\
         </main></body></html>",
        status.as_u16()
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// The 403 page of a missing or wrong CSRF token.
pub fn csrf_forbidden() -> Response {
    plain_error(
        StatusCode::FORBIDDEN,
        "Nieprawidłowy lub brakujący token formularza (CSRF). Odśwież stronę i spróbuj ponownie.",
    )
}

/// A page for an internal failure (no details beyond a Polish sentence).
pub fn internal_error(text: &str) -> Response {
    plain_error(StatusCode::INTERNAL_SERVER_ERROR, text)
}

fn set_security_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// Every request: the `Host` must be this loopback server; pages get the cookie-bound session.
pub async fn guard(State(sh): State<SharedState>, mut req: Request, next: Next) -> Response {
    let host_ok = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| sh.allowed_hosts.iter().any(|a| a.eq_ignore_ascii_case(h)));
    if !host_ok {
        let mut r = plain_error(
            StatusCode::MISDIRECTED_REQUEST,
            "Nieprawidłowy adres serwera (nagłówek Host). Otwórz aplikację pod adresem 127.0.0.1.",
        );
        set_security_headers(r.headers_mut());
        return r;
    }
    if req.uri().path().starts_with("/static/") {
        let mut r = next.run(req).await;
        set_security_headers(r.headers_mut());
        return r;
    }
    let sid = cookie_value(req.headers(), SESSION_COOKIE).map(str::to_string);
    let (sid, session, new) = match sh.session_for(sid.as_deref()).await {
        Ok(x) => x,
        Err(e) => {
            tracing::error!("cannot create a web session: {e}");
            return internal_error(&format!(
                "Nie można uruchomić sesji aplikacji: {}",
                crate::errors::polish(&e)
            ));
        }
    };
    req.extensions_mut().insert(SessionHandle(session));
    let mut resp = next.run(req).await;
    if new
        && let Ok(v) = HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}={sid}; Path=/; HttpOnly; SameSite=Strict"
        ))
    {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    set_security_headers(resp.headers_mut());
    resp
}
