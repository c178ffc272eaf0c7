//! `ksef-program` — the accounting program's KSeF workflow, shared by the command line and the
//! web app: where to talk (base URL) and keep state (data dir, store), the stored KSeF session,
//! logging in (certificate, Profil Zaufany round trip, a program user's KSeF token), generating,
//! listing and revoking tokens with the seed's rules checked before KSeF is called, and the local
//! pre-flight of signed files; invoices (local validation, sending, UPOs, sessions, queries,
//! downloads, sync — [`invoices`]); the invoice register ([`register`]); offline invoicing
//! (issuing offline, sending later, technical corrections — [`offline`]). One error type, [`ProgramError`], whose variants front ends
//! branch on and render in their own language (its `Display` is English). No printing.

pub mod auth;
pub mod certificates;
pub mod check;
pub mod error;
pub mod invoices;
pub mod local_emulator;
pub mod offline;
pub mod permissions;
pub mod register;
pub mod tokens;
pub mod users;

use std::path::{Path, PathBuf};

use ksef_client::{Environment, KsefClient, Session};
use ksef_store::{SessionSummary, Store};
use serde::{Deserialize, Serialize};

pub use error::{Field, InputProblem, IoAction, Operation, ProgramError, TokenSessionRefusal};

pub type ProgramResult<T> = Result<T, ProgramError>;

/// Global options after resolution.
#[derive(Debug, Clone)]
pub struct Settings {
    pub base_url: String,
    pub data_dir: PathBuf,
    pub json: bool,
}

impl Settings {
    /// `--base-url` wins over `--env`; both can come from the environment (clap `env`).
    pub fn resolve(
        base_url: Option<String>,
        env: Option<String>,
        data_dir: Option<PathBuf>,
        json: bool,
    ) -> ProgramResult<Self> {
        let base_url = match (base_url, env) {
            (Some(url), _) => normalise_base_url(&url)?,
            (None, Some(env)) => env
                .parse::<Environment>()
                .map_err(|_| {
                    ProgramError::invalid(
                        Field::Environment,
                        InputProblem::UnexpectedValue {
                            value: env.clone(),
                            expected: "local, test, demo, prod (or prd)".into(),
                        },
                    )
                })?
                .base_url()
                .to_string(),
            (None, None) => Environment::Local.base_url().to_string(),
        };
        let data_dir = data_dir.unwrap_or_else(default_data_dir);
        Ok(Self {
            base_url,
            data_dir,
            json,
        })
    }
}

fn normalise_base_url(url: &str) -> ProgramResult<String> {
    let url = url.trim().trim_end_matches('/');
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ProgramError::invalid(
            Field::BaseUrl,
            InputProblem::BadFormat {
                value: url.to_string(),
                expected: "an http:// or https:// URL ending in /v2, e.g. http://127.0.0.1:8080/v2",
            },
        ));
    }
    Ok(url.to_string())
}

/// The per-user data directory of the program (`…/ksef`).
pub fn default_data_dir() -> PathBuf {
    dirs::data_local_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("ksef")
}

/// The store key source: `KSEF_PASSPHRASE` if set (Argon2id), else a key file beside the database.
pub fn passphrase() -> Option<ksef_crypto::Zeroizing<String>> {
    std::env::var("KSEF_PASSPHRASE")
        .ok()
        .filter(|p| !p.is_empty())
        .map(ksef_crypto::Zeroizing::new)
}

/// Everything a command needs.
pub struct App {
    pub settings: Settings,
    pub client: KsefClient,
    store: Option<Store>,
    /// `Some` = the KSeF session lives in this value only (the web app: one per browser
    /// session), never in the store; the inner value is the session's JSON.
    memory_session: Option<Option<ksef_crypto::Zeroizing<String>>>,
}

/// What we keep of a KSeF session: the client's session plus what we learned at login.
#[derive(Serialize, Deserialize)]
pub struct StoredSession {
    pub session: Session,
    /// The authenticated subject as `Type:value` (e.g. `Nip:5265877635`), when known.
    pub subject: Option<String>,
    /// The program user whose token opened the session (token sessions).
    pub via_user: Option<String>,
    /// Permissions known to be held in the context (`None` = unknown: let KSeF decide).
    pub permissions: Option<Vec<String>>,
}

impl App {
    pub fn new(settings: Settings) -> ProgramResult<Self> {
        let client = KsefClient::new(&settings.base_url)?;
        Ok(Self {
            settings,
            client,
            store: None,
            memory_session: None,
        })
    }

    /// Uses an already open store (shared with other `App`s; the store is cheap to clone).
    pub fn with_store(mut self, store: Store) -> Self {
        self.store = Some(store);
        self
    }

    /// Keeps the KSeF session in this value only instead of the store (the web app keeps one
    /// `App` per browser session; closing it ends nothing else).
    pub fn with_session_in_memory(mut self) -> Self {
        self.memory_session = Some(None);
        self
    }

    /// A fresh `App` on the same API, store and settings whose session lives in memory only
    /// (for short side sessions, e.g. checking a program user's token).
    pub fn side_app(&self) -> Self {
        Self {
            settings: self.settings.clone(),
            client: self.client.clone(),
            store: self.store.clone(),
            memory_session: Some(None),
        }
    }

    /// The JSON of the current session, from memory or the store.
    async fn load_session_json(&mut self) -> ProgramResult<Option<ksef_crypto::Zeroizing<String>>> {
        if let Some(mem) = &self.memory_session {
            return Ok(mem.clone());
        }
        let base = self.settings.base_url.clone();
        Ok(self
            .store()
            .await?
            .load_session(&base)
            .await?
            .map(|(json, _)| json))
    }

    /// The current session if there is a usable one (`None` when not logged in or expired).
    pub async fn current_session(&mut self) -> ProgramResult<Option<StoredSession>> {
        if self.load_session_json().await?.is_none() {
            return Ok(None);
        }
        match self.session().await {
            Ok(s) => Ok(Some(s)),
            Err(_) => Ok(None),
        }
    }

    pub fn json(&self) -> bool {
        self.settings.json
    }

    /// Opens the local store on first use.
    pub async fn store(&mut self) -> ProgramResult<&Store> {
        let store = match self.store.take() {
            Some(store) => store,
            None => Store::open(&self.settings.data_dir, passphrase()).await?,
        };
        Ok(self.store.insert(store))
    }

    /// The stored session for this base URL, with a fresh access token.
    pub async fn session(&mut self) -> ProgramResult<StoredSession> {
        let base = self.settings.base_url.clone();
        let Some(json) = self.load_session_json().await? else {
            return Err(ProgramError::NotLoggedIn { base_url: base });
        };
        // Only the position of the defect: serde_json's message may quote the text (tokens).
        let mut stored: StoredSession =
            serde_json::from_str(&json).map_err(|e| ProgramError::SessionUnreadable {
                kind: match e.classify() {
                    serde_json::error::Category::Io => "I/O",
                    serde_json::error::Category::Syntax => "syntax",
                    serde_json::error::Category::Data => "data",
                    serde_json::error::Category::Eof => "EOF",
                },
                line: e.line(),
                column: e.column(),
            })?;
        let now = time::OffsetDateTime::now_utc();
        if stored.session.refresh_valid_until <= now {
            self.clear_session().await?;
            return Err(ProgramError::SessionExpired);
        }
        if self.client.ensure_fresh(&mut stored.session).await? {
            self.save_session(&stored).await?;
        }
        Ok(stored)
    }

    pub async fn save_session(&mut self, stored: &StoredSession) -> ProgramResult<()> {
        let base = self.settings.base_url.clone();
        let json = serde_json::to_string(stored).map_err(|e| ProgramError::Serialize {
            what: "the session",
            detail: e.to_string(),
        })?;
        if let Some(mem) = &mut self.memory_session {
            *mem = Some(ksef_crypto::Zeroizing::new(json));
            return Ok(());
        }
        let summary = SessionSummary {
            context: format!(
                "{}:{}",
                stored.session.context.kind(),
                stored.session.context.value()
            ),
            method: stored
                .session
                .authentication_method
                .clone()
                .unwrap_or_default(),
            reference_number: stored.session.reference_number.clone(),
            access_valid_until: stored.session.access_valid_until,
            refresh_valid_until: stored.session.refresh_valid_until,
            via_user: stored.via_user.clone(),
        };
        self.store()
            .await?
            .save_session(&base, &json, summary)
            .await?;
        Ok(())
    }

    pub async fn clear_session(&mut self) -> ProgramResult<()> {
        if let Some(mem) = &mut self.memory_session {
            *mem = None;
            return Ok(());
        }
        let base = self.settings.base_url.clone();
        self.store().await?.clear_session(&base).await?;
        Ok(())
    }
}

/// Reads the first line of a password file.
pub fn read_password_file(path: &Path) -> ProgramResult<ksef_crypto::Zeroizing<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ProgramError::io(IoAction::ReadPasswordFile, path, e))?;
    Ok(ksef_crypto::Zeroizing::new(
        text.lines().next().unwrap_or("").to_string(),
    ))
}

/// KSeF timestamps for people: local-ish UTC without fractions.
pub fn show_time(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}
