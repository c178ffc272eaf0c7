//! Shared state, program sessions and the middleware that guards every request.
//!
//! * A server-side session exists only for a logged-in program user (created by the program
//!   login or the first-start setup). Requests without one are redirected (303) to the login
//!   or the setup; they create nothing on the server, so no number of cookie-less requests
//!   can push a logged-in user out. Each user keeps at most [`MAX_SESSIONS_PER_USER`]
//!   sessions (their own oldest goes first).
//! * Forms: logged-in forms carry the session's random CSRF token. The two forms shown before
//!   login (login, setup) carry an HMAC of a random pre-login cookie under a per-process key,
//!   so they need no server-side state. Every POST whose `Origin` names another origin is
//!   refused (other local ports share our cookies and are same-site).
//! * A KSeF session opened for the token screens (Generuj token KSeF, Tokeny KSeF) ends when
//!   the user leaves them or after [`WebConfig::screen_idle`](crate::WebConfig) without a
//!   request (a sweeper ends it at KSeF too).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use hmac::{Hmac, KeyInit, Mac};
use ksef_client::Environment;
use ksef_crypto::Zeroizing;
use ksef_program::auth::PreparedRequest;
use ksef_program::users::ProgramUser;
use ksef_program::{App, ProgramResult, Settings, StoredSession};
use ksef_store::Store;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::sync::Mutex;

/// The cookie carrying the server-side session id of a logged-in program user.
pub const SESSION_COOKIE: &str = "ksef_web_sid";
/// The cookie of a browser that has not logged in yet (keys the pre-login CSRF token).
pub const PRE_COOKIE: &str = "ksef_web_pre";
/// The store setting holding the chosen environment (`local`, `test`, `demo`, `prod`).
pub const ENVIRONMENT_SETTING: &str = "environment";
/// Sessions kept per program user (the oldest of that user's goes first).
pub const MAX_SESSIONS_PER_USER: usize = 8;
/// Sessions kept in all (only logged-in users create them).
const MAX_SESSIONS: usize = 1024;
/// Generated tokens kept per session, waiting for "Zapisz".
const MAX_PENDING_TOKENS: usize = 8;
/// How long a generated token waits for "Zapisz".
pub const PENDING_TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Paths served without a program session.
const PUBLIC_PATHS: [&str; 2] = [LOGIN_PATH, SETUP_PATH];
/// The program login.
pub const LOGIN_PATH: &str = "/zaloguj";
/// The first-start setup (creates the first administrator).
pub const SETUP_PATH: &str = "/pierwsze-uruchomienie";

/// The embedded emulator, as the pages need it.
#[derive(Debug, Clone)]
pub struct EmbeddedEmulator {
    /// `http://127.0.0.1:PORT/v2`.
    pub base_url: String,
    /// `http://127.0.0.1:PORT/symulator-podpisu`.
    pub signing_url: String,
}

/// Timeouts of the web app's sessions.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// A program session without requests for this long is logged out.
    pub program_idle: Duration,
    /// A KSeF session of the token screens without requests for this long is ended.
    pub screen_idle: Duration,
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
    pub timeouts: Timeouts,
    /// Key of the pre-login CSRF tokens (random per process).
    pre_key: Zeroizing<[u8; 32]>,
    sessions: std::sync::Mutex<HashMap<String, Entry>>,
    /// "Pobierz z KSeF" runs per firm (Faktury zakupu).
    pub syncs: Arc<crate::handlers::SyncJobs>,
    /// Faktury sprzedaży: the background sending jobs.
    pub sales_jobs: crate::handlers::SalesJobs,
}

struct Entry {
    session: Arc<Mutex<WebSession>>,
    user_key: String,
    last_seen: Instant,
}

pub type SharedState = Arc<Shared>;

/// A Profil Zaufany request waiting for its signed copy.
pub struct PendingPz {
    pub prepared: PreparedRequest,
    pub return_to: String,
}

/// A freshly generated token, shown on its own page until "Zapisz" (or its lifetime ends).
pub struct GeneratedToken {
    pub reference: String,
    pub token: Zeroizing<String>,
    pub created: Instant,
}

/// A message for the next page: a Polish sentence and, folded away, technical detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub details: Option<String>,
}

impl From<String> for Notice {
    fn from(text: String) -> Self {
        Notice {
            text,
            details: None,
        }
    }
}

impl From<&str> for Notice {
    fn from(text: &str) -> Self {
        Notice::from(text.to_string())
    }
}

impl From<&ksef_program::ProgramError> for Notice {
    fn from(e: &ksef_program::ProgramError) -> Self {
        Notice {
            text: crate::errors::polish(e),
            details: crate::errors::details(e),
        }
    }
}

/// Which screen a KSeF session was opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// Generuj token KSeF and Tokeny KSeF (the seed: a session that ends with the window).
    Tokens,
    /// Opened on the start page with the user's own token (sending and receiving invoices).
    Invoices,
}

/// One logged-in browser session.
pub struct WebSession {
    csrf: String,
    /// The program user logged in (their key unlocks only their own token).
    pub user: ProgramUser,
    /// The program, with this browser's KSeF session kept in memory only.
    pub app: App,
    /// The firm (KSeF context key, `Nip:5265877635`) the user works for now.
    pub firm: Option<String>,
    /// What the open KSeF session (if any) was opened for.
    pub ksef_screen: Option<Screen>,
    /// The last request to the screen that opened the KSeF session.
    pub ksef_last_use: Instant,
    pub last_nip: String,
    pub pending_pz: Option<PendingPz>,
    /// Generated tokens by one-time id (several tabs may each hold one).
    pub generated: HashMap<String, GeneratedToken>,
    pub flash: Option<String>,
    pub error: Option<Notice>,
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

    /// Keeps a generated token under a new one-time id (dropping expired and the oldest
    /// beyond the cap).
    pub fn keep_generated(&mut self, reference: String, token: Zeroizing<String>) -> String {
        self.generated
            .retain(|_, g| g.created.elapsed() < PENDING_TOKEN_LIFETIME);
        while self.generated.len() >= MAX_PENDING_TOKENS {
            let Some(oldest) = self
                .generated
                .iter()
                .min_by_key(|(_, g)| g.created)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.generated.remove(&oldest);
        }
        let id = random_hex();
        self.generated.insert(
            id.clone(),
            GeneratedToken {
                reference,
                token,
                created: Instant::now(),
            },
        );
        id
    }

    /// The generated token of a one-time id, if still waiting.
    pub fn generated(&self, id: &str) -> Option<&GeneratedToken> {
        self.generated
            .get(id)
            .filter(|g| g.created.elapsed() < PENDING_TOKEN_LIFETIME)
    }

    /// A KSeF session in `firm`'s context for the invoice screens: the open one if it is in
    /// that context, else (ending another firm's) a new one with the user's own token for it.
    pub async fn firm_session(&mut self, firm: &str) -> ProgramResult<StoredSession> {
        if let Ok(Some(s)) = self.app.current_session().await {
            if ksef_store::firm_key(&s.session.context) == firm {
                return Ok(s);
            }
            self.end_ksef_session().await;
        }
        let s = ksef_program::auth::login_with_user(&mut self.app, &self.user, Some(firm)).await?;
        self.ksef_screen = Some(Screen::Invoices);
        self.ksef_last_use = Instant::now();
        Ok(s)
    }

    /// Ends the KSeF session (at KSeF, best effort, and here). Returns whether one was open.
    pub async fn end_ksef_session(&mut self) -> bool {
        self.pending_pz = None;
        self.generated.clear();
        self.ksef_screen = None;
        match self.app.current_session().await {
            Ok(Some(_)) => {
                if ksef_program::auth::logout(&mut self.app).await.is_err() {
                    let _ = self.app.clear_session().await;
                }
                true
            }
            _ => {
                let _ = self.app.clear_session().await;
                false
            }
        }
    }
}

/// The pre-login cookie value of the current request (inserted by [`guard`] on the login and
/// setup pages; a new one is set on the response when the browser had none).
#[derive(Clone)]
pub struct PreLogin(pub String);

/// The session of the current request (inserted by [`guard`]).
#[derive(Clone)]
pub struct SessionHandle(pub Arc<Mutex<WebSession>>);

pub fn random_hex() -> String {
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
        timeouts: Timeouts,
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
            timeouts,
            pre_key: Zeroizing::new(rand::random()),
            sessions: std::sync::Mutex::new(HashMap::new()),
            syncs: Arc::default(),
            sales_jobs: Default::default(),
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

    /// The current firm: the one chosen in the header, else the only firm the user holds a
    /// token for (which then becomes the chosen one).
    pub async fn current_firm(&self, ws: &mut WebSession) -> Option<String> {
        if ws.firm.is_none()
            && let Ok(me) = self.store.user(ws.user.name()).await
            && let [only] = me.tokens.as_slice()
        {
            ws.firm = Some(only.firm.clone());
        }
        ws.firm.clone()
    }

    /// Makes sure the session's program talks to the chosen environment (a switch drops the
    /// KSeF session of the old one).
    pub async fn align(&self, ws: &mut WebSession) -> ProgramResult<()> {
        let base = self.base_url_of(self.environment().await);
        if ws.app.settings.base_url != base {
            ws.end_ksef_session().await;
            ws.app = self.new_app(base)?;
        }
        Ok(())
    }

    /// Starts a program session for a user who just logged in; returns its id.
    pub async fn start_session(&self, user: ProgramUser) -> ProgramResult<String> {
        let base = self.base_url_of(self.environment().await);
        let user_key = user.name().to_lowercase();
        let ws = WebSession {
            csrf: random_hex(),
            user,
            app: self.new_app(base)?,
            firm: None,
            ksef_screen: None,
            ksef_last_use: Instant::now(),
            last_nip: String::new(),
            pending_pz: None,
            generated: HashMap::new(),
            flash: None,
            error: None,
        };
        let sid = random_hex();
        let now = Instant::now();
        let mut map = self.lock_sessions();
        let idle = self.timeouts.program_idle;
        map.retain(|_, e| now.duration_since(e.last_seen) < idle);
        evict_oldest(&mut map, MAX_SESSIONS_PER_USER, |e| e.user_key == user_key);
        evict_oldest(&mut map, MAX_SESSIONS, |_| true);
        map.insert(
            sid.clone(),
            Entry {
                session: Arc::new(Mutex::new(ws)),
                user_key,
                last_seen: now,
            },
        );
        Ok(sid)
    }

    /// Ends a program session (logout).
    pub fn end_session(&self, sid: &str) -> Option<Arc<Mutex<WebSession>>> {
        self.lock_sessions().remove(sid).map(|e| e.session)
    }

    /// Ends every program session of a user (removed, or password reset by an administrator).
    pub fn end_sessions_of(&self, name: &str) -> Vec<Arc<Mutex<WebSession>>> {
        let key = name.trim().to_lowercase();
        let mut map = self.lock_sessions();
        let ids: Vec<String> = map
            .iter()
            .filter(|(_, e)| e.user_key == key)
            .map(|(k, _)| k.clone())
            .collect();
        ids.iter()
            .filter_map(|id| map.remove(id).map(|e| e.session))
            .collect()
    }

    fn lock_sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn session(&self, sid: &str) -> Option<Arc<Mutex<WebSession>>> {
        let now = Instant::now();
        let mut map = self.lock_sessions();
        let idle = self.timeouts.program_idle;
        match map.get_mut(sid) {
            Some(e) if now.duration_since(e.last_seen) < idle => {
                e.last_seen = now;
                Some(e.session.clone())
            }
            Some(_) => {
                map.remove(sid);
                None
            }
            None => None,
        }
    }

    /// The CSRF token of the pre-login forms for a pre-login cookie value.
    pub fn pre_csrf(&self, pre: &str) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.pre_key[..])
            .expect("HMAC takes keys of any length");
        mac.update(pre.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether a program session id is live.
    pub fn has_session(&self, sid: &str) -> bool {
        self.session(sid).is_some()
    }

    /// Whether a pre-login form's CSRF token matches the request's pre-login cookie.
    pub fn pre_csrf_ok(&self, headers: &HeaderMap, given: Option<&str>) -> bool {
        let (Some(pre), Some(given)) = (cookie_value(headers, PRE_COOKIE), given) else {
            return false;
        };
        bool::from(self.pre_csrf(pre).as_bytes().ct_eq(given.as_bytes()))
    }

    /// Ends KSeF sessions of the token screens idle for longer than allowed, and forgets
    /// idle program sessions. Run periodically.
    pub async fn sweep(&self) {
        let idle = self.timeouts.program_idle;
        let sessions: Vec<Arc<Mutex<WebSession>>> = {
            let mut map = self.lock_sessions();
            let now = Instant::now();
            map.retain(|_, e| now.duration_since(e.last_seen) < idle);
            map.values().map(|e| e.session.clone()).collect()
        };
        for s in sessions {
            // A session busy with a request is left alone; the request itself checks.
            if let Ok(mut ws) = s.try_lock() {
                self.expire_screen_session(&mut ws).await;
            }
        }
    }

    /// Ends the token screens' KSeF session if it was idle too long; returns whether it did.
    pub async fn expire_screen_session(&self, ws: &mut WebSession) -> bool {
        if ws.ksef_screen == Some(Screen::Tokens)
            && ws.ksef_last_use.elapsed() >= self.timeouts.screen_idle
        {
            ws.end_ksef_session().await;
            ws.flash =
                Some("Sesja KSeF okna tokenów została zakończona po okresie bezczynności.".into());
            return true;
        }
        false
    }
}

fn evict_oldest(map: &mut HashMap<String, Entry>, cap: usize, of: impl Fn(&Entry) -> bool) {
    loop {
        let mine: Vec<(&String, &Entry)> = map.iter().filter(|(_, e)| of(e)).collect();
        if mine.len() < cap {
            return;
        }
        let Some(oldest) = mine
            .iter()
            .min_by_key(|(_, e)| e.last_seen)
            .map(|(k, _)| (*k).clone())
        else {
            return;
        };
        map.remove(&oldest);
    }
}

pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_hexdigit()))
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

/// The 404 page of unknown static files (no session needed).
pub fn static_not_found() -> Response {
    plain_error(StatusCode::NOT_FOUND, "Nie ma takiego pliku.")
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
    // Not `no-referrer`: under it browsers send `Origin: null` with every form POST, which
    // `same_origin` (rightly) refuses. `same-origin` still sends nothing to other sites.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// Whether a POST comes from this app's own pages (`Origin` absent or one of ours).
fn same_origin(sh: &Shared, headers: &HeaderMap) -> bool {
    match headers.get(header::ORIGIN).map(|o| o.to_str()) {
        None => true,
        Some(Ok(origin)) => origin.strip_prefix("http://").is_some_and(|host| {
            sh.allowed_hosts
                .iter()
                .any(|a| a.eq_ignore_ascii_case(host))
        }),
        Some(Err(_)) => false,
    }
}

/// The section of the app a path belongs to (for ending the token screens' KSeF session).
pub fn is_token_screen(path: &str) -> bool {
    const PREFIXES: [&str; 4] = ["/generuj", "/tokeny", "/logowanie", "/sesja"];
    PREFIXES.iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// Every request: the `Host` must be this loopback server; POSTs must come from our pages;
/// pages other than login and setup need a logged-in program user.
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
    if req.method() == Method::POST && !same_origin(&sh, req.headers()) {
        let mut r = csrf_forbidden();
        set_security_headers(r.headers_mut());
        return r;
    }
    let path = req.uri().path().to_string();
    if path.starts_with("/static/") {
        let mut r = next.run(req).await;
        set_security_headers(r.headers_mut());
        return r;
    }
    if PUBLIC_PATHS.contains(&path.as_str()) {
        let existing = cookie_value(req.headers(), PRE_COOKIE).map(str::to_string);
        let new = existing.is_none();
        let pre = existing.unwrap_or_else(random_hex);
        req.extensions_mut().insert(PreLogin(pre.clone()));
        let mut resp = next.run(req).await;
        if new
            && let Ok(v) = HeaderValue::from_str(&format!(
                "{PRE_COOKIE}={pre}; Path=/; HttpOnly; SameSite=Strict"
            ))
        {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
        set_security_headers(resp.headers_mut());
        return resp;
    }
    let sid = cookie_value(req.headers(), SESSION_COOKIE).map(str::to_string);
    let session = sid.as_deref().and_then(|sid| sh.session(sid));
    let Some(session) = session else {
        let target = match sh.store.needs_first_admin().await {
            Ok(true) => SETUP_PATH.to_string(),
            _ if sid.is_some() => format!("{LOGIN_PATH}?wygasla=1"),
            _ => LOGIN_PATH.to_string(),
        };
        let mut r = Redirect::to(&target).into_response();
        set_security_headers(r.headers_mut());
        return r;
    };
    {
        // Leaving the token screens (or idling) ends the KSeF session opened for them. Only a
        // page load leaves: not what the browser fetches by itself (`/favicon.ico`) or a
        // script fetches (`Sec-Fetch-Dest` other than `document`).
        let page_load = req
            .headers()
            .get("sec-fetch-dest")
            .is_none_or(|d| d.as_bytes() == b"document");
        let mut ws = session.lock().await;
        if !sh.expire_screen_session(&mut ws).await && ws.ksef_screen == Some(Screen::Tokens) {
            if is_token_screen(&path) {
                ws.ksef_last_use = Instant::now();
            } else if page_load && ws.end_ksef_session().await {
                ws.flash =
                    Some("Sesja KSeF okna tokenów została zakończona po zamknięciu okna.".into());
            }
        }
    }
    req.extensions_mut().insert(SessionHandle(session));
    let mut resp = next.run(req).await;
    set_security_headers(resp.headers_mut());
    resp
}

/// The `Set-Cookie` value of a new program session.
pub fn session_cookie(sid: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={sid}; Path=/; HttpOnly; SameSite=Strict"
    ))
    .ok()
}

/// The `Set-Cookie` value that forgets the program session.
pub fn clear_session_cookie() -> HeaderValue {
    HeaderValue::from_static("ksef_web_sid=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}
