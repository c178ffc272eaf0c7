//! `ksef-web` — the accounting program's KSeF screens as a local web app: Konfiguracja › KSeF ›
//! Generuj token KSeF (certificate or Profil Zaufany login, Nadaj uprawnienia KSeF, Dodaj, Zapisz),
//! Tokeny KSeF, Użytkownicy and the environment settings. Server-rendered HTML (askama), a little
//! progressive JavaScript, CSRF-protected forms, loopback only. The workflow itself lives in
//! `ksef-program`; this crate is a thin front end over it.

mod embedded;
pub mod errors;
mod forms;
mod handlers;
mod pages;
mod state;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use ksef_emulator::{EmulatorConfig, RunningEmulator};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Default upload cap (certificates, signed requests).
pub const DEFAULT_MAX_UPLOAD_BYTES: usize = 1024 * 1024;

/// Default idle time of a program session (then the user logs in again).
pub const DEFAULT_PROGRAM_IDLE: std::time::Duration = std::time::Duration::from_secs(4 * 3600);
/// Default idle time of the token screens' KSeF session.
pub const DEFAULT_SCREEN_IDLE: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// How to start the web app.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// The program's data dir (store: users dictionary, settings).
    pub data_dir: PathBuf,
    /// Where to listen; must be a loopback address (port 0 = a free port).
    pub addr: SocketAddr,
    /// `Some` = run this in-process emulator and use it for the environment "local": on
    /// 127.0.0.1, on the port recorded in the store (`emulator.base_url`, see
    /// `ksef_program::local_emulator`) if it is free, else on a free port, which is then
    /// recorded; `None` = use the environment chosen in the settings.
    pub emulator: Option<EmulatorConfig>,
    /// Upload size cap in bytes (per file).
    pub max_upload_bytes: usize,
    /// What the environment "local" means when no emulator is embedded.
    pub local_base_url: String,
    /// If set, saved as the chosen environment at start (else the settings page's choice stays).
    pub environment: Option<ksef_client::Environment>,
    /// A program session without requests for this long is logged out.
    pub program_idle: std::time::Duration,
    /// The KSeF session of the token screens ends after this long without a request to them.
    pub screen_idle: std::time::Duration,
}

impl WebConfig {
    /// Defaults: 127.0.0.1 on a free port, an embedded emulator in `<data_dir>/emulator`, 1 MiB uploads.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        Self {
            emulator: Some(EmulatorConfig::new(data_dir.join("emulator"))),
            data_dir,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            local_base_url: ksef_client::Environment::Local.base_url().to_string(),
            environment: None,
            program_idle: DEFAULT_PROGRAM_IDLE,
            screen_idle: DEFAULT_SCREEN_IDLE,
        }
    }
}

/// Errors while starting the web app.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("the web app binds to loopback only; {0} is not a loopback address")]
    NotLoopback(SocketAddr),
    #[error("cannot start the embedded KSeF emulator: {0}")]
    Emulator(#[from] ksef_emulator::SpawnError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot open the program's store in {dir}: {message}")]
    Store { dir: PathBuf, message: String },
}

/// A running web app (and its embedded emulator, if any).
pub struct RunningWeb {
    /// The address the web app listens on.
    pub addr: SocketAddr,
    /// The embedded emulator's API base URL (`http://127.0.0.1:PORT/v2`), if one runs.
    pub emulator_base_url: Option<String>,
    /// The store has no administrator yet: the first page is the first-start setup.
    pub first_start: bool,
    emulator: Option<RunningEmulator>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningWeb {
    /// `http://127.0.0.1:PORT/`.
    pub fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The embedded emulator's simulated signing service page (`http://127.0.0.1:PORT/symulator-podpisu`).
    pub fn signing_simulator_url(&self) -> Option<String> {
        self.emulator
            .as_ref()
            .map(|e| format!("http://{}/symulator-podpisu", e.addr))
    }

    /// The embedded emulator (tests may reach its state directly).
    pub fn emulator(&self) -> Option<&RunningEmulator> {
        self.emulator.as_ref()
    }

    /// Stops serving, waits for in-flight requests, stops the emulator.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        if let Some(e) = self.emulator.take() {
            e.shutdown().await;
        }
    }
}

impl Drop for RunningWeb {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Starts the web app (and the embedded emulator) on background tasks.
pub async fn serve(config: WebConfig) -> Result<RunningWeb, WebError> {
    if !config.addr.ip().is_loopback() {
        return Err(WebError::NotLoopback(config.addr));
    }
    let store = ksef_store::Store::open(&config.data_dir, ksef_program::passphrase())
        .await
        .map_err(|e| WebError::Store {
            dir: config.data_dir.clone(),
            message: e.to_string(),
        })?;
    if let Some(env) = config.environment {
        store
            .set_setting(state::ENVIRONMENT_SETTING, env.name())
            .await
            .map_err(|e| WebError::Store {
                dir: config.data_dir.clone(),
                message: e.to_string(),
            })?;
    }
    // On the address recorded for this data directory (see `embedded`).
    let emulator = match &config.emulator {
        Some(c) => Some(embedded::spawn_recorded(&store, c, config.addr.port()).await?),
        None => None,
    };
    let emulator_base_url = emulator.as_ref().map(|e| e.base_url());
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|source| WebError::Bind {
            addr: config.addr,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| WebError::Bind {
        addr: config.addr,
        source,
    })?;
    let embedded = emulator.as_ref().map(|e| state::EmbeddedEmulator {
        base_url: e.base_url(),
        signing_url: format!("http://{}/symulator-podpisu", e.addr),
    });
    let first_start = store.needs_first_admin().await.unwrap_or(false);
    let shared = Arc::new(state::Shared::new(
        store,
        config.data_dir.clone(),
        embedded,
        config.local_base_url.clone(),
        config.max_upload_bytes,
        addr.port(),
        state::Timeouts {
            program_idle: config.program_idle,
            screen_idle: config.screen_idle,
        },
    ));
    let router = router(shared.clone(), config.max_upload_bytes);
    let (tx, rx) = oneshot::channel::<()>();
    // Ends idle KSeF sessions of the token screens (at KSeF too) and forgets idle program
    // sessions, even when no request comes.
    let sweep_every = (config.screen_idle / 4).clamp(
        std::time::Duration::from_millis(200),
        std::time::Duration::from_secs(30),
    );
    let sweeper_state = Arc::downgrade(&shared);
    let sweeper = tokio::spawn(async move {
        let mut tick = tokio::time::interval(sweep_every);
        loop {
            tick.tick().await;
            let Some(sh) = sweeper_state.upgrade() else {
                return;
            };
            sh.sweep().await;
        }
    });
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
        sweeper.abort();
        served
    });
    Ok(RunningWeb {
        addr,
        emulator_base_url,
        first_start,
        emulator,
        stop: Some(tx),
        task: Some(task),
    })
}

/// The routes (paths are the contract's: crates/ksef-web/DOM-CONTRACT.md).
fn router(shared: state::SharedState, max_upload: usize) -> Router {
    use handlers as h;
    // Multipart bodies: a few files under the per-file cap plus small fields; anything bigger
    // is cut off by axum. Parts above the per-file cap are drained and reported clearly.
    let upload_limit =
        DefaultBodyLimit::max(max_upload.saturating_mul(4).saturating_add(64 * 1024));
    Router::new()
        .route("/", get(h::index))
        .route("/static/app.js", get(h::static_js))
        .route("/static/app.css", get(h::static_css))
        .route("/static/{*path}", get(h::static_missing))
        .route(
            state::LOGIN_PATH,
            get(h::program_login_page).post(h::program_login),
        )
        .route(state::SETUP_PATH, get(h::setup_form).post(h::setup_submit))
        .route("/wyloguj", post(h::logout))
        .route("/firma", post(h::switch_firm))
        .route("/certyfikat-testowy", post(h::test_certificate))
        .route("/sesja/zamknij", post(h::close_session))
        .route(
            "/logowanie/certyfikat",
            post(h::login_certificate).layer(upload_limit),
        )
        .route("/logowanie/token", post(h::login_token))
        .route("/logowanie/pz", post(h::pz_prepare).get(h::pz_step2))
        .route("/logowanie/pz/plik", get(h::pz_download))
        .route(
            "/logowanie/pz/podpisany",
            post(h::pz_submit).layer(upload_limit),
        )
        .route("/generuj", get(h::generate_page).post(h::generate_submit))
        .route("/generuj/token/{id}", get(h::token_page))
        .route("/generuj/token/{id}/zapisz", post(h::token_save))
        .route("/tokeny", get(h::tokens_page))
        .route("/tokeny/{reference}/usun", post(h::token_revoke))
        .route("/uzytkownicy", get(h::users_page).post(h::user_add))
        .route("/uzytkownicy/{name}", get(h::user_page).post(h::user_save))
        .route("/uzytkownicy/{name}/haslo", post(h::user_password))
        .route("/uzytkownicy/{name}/rola", post(h::user_admin))
        .route("/uzytkownicy/{name}/sprawdz", post(h::user_check))
        .route("/uzytkownicy/{name}/usun", post(h::user_remove))
        .route("/ustawienia", get(h::settings_page).post(h::settings_save))
        .route("/faktury/zakupu", get(h::purchases_page))
        .route("/faktury/zakupu/pobierz", post(h::purchases_sync))
        .route("/faktury/zakupu/pobieranie", get(h::purchases_sync_page))
        .route("/faktury/{id}", get(h::invoice_page))
        .route("/faktury/{id}/xml", get(h::invoice_xml))
        .route("/faktury/{id}/pdf", get(h::invoice_pdf))
        .route("/faktury/{id}/upo", get(h::invoice_upo))
        .route("/static/faktura.css", get(h::invoice_css))
        .route("/sesje", get(h::sessions_page))
        .route("/faktury/sprzedazy", get(h::sales_list))
        .route(
            "/faktury/sprzedazy/wyslij",
            post(h::sales_send).layer(DefaultBodyLimit::max(h::sales_body_limit(max_upload))),
        )
        .route("/faktury/sprzedazy/wysylka/{id}", get(h::sales_job))
        .route(
            "/faktury/sprzedazy/wysylka/{id}/upo",
            get(h::sales_session_upo),
        )
        .route("/faktury/sprzedazy/upo/{id}", get(h::sales_upo))
        .route("/faktury/offline", get(h::offline_list))
        .route(
            "/faktury/offline/wystaw",
            post(h::offline_issue).layer(DefaultBodyLimit::max(h::sales_body_limit(max_upload))),
        )
        .route("/faktury/offline/wyslij", post(h::offline_send))
        .route(
            "/faktury/offline/korekta/{id}",
            post(h::offline_correct).layer(DefaultBodyLimit::max(h::sales_body_limit(max_upload))),
        )
        .fallback(h::not_found)
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            state::guard,
        ))
        .with_state(shared)
}
