//! Running the emulator: bind, serve, shut down.
//!
//! The accept loop is hyper's HTTP/1 server (not `axum::serve`, which has neither a
//! header-read timeout nor a connection cap): every connection must send its request head
//! within [`EmulatorConfig::header_read_timeout`] (also the idle limit between keep-alive
//! requests), and at most [`EmulatorConfig::max_connections`] are served at once.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;

mod router;

use crate::config::EmulatorConfig;
use crate::datadir::{DataDirLock, LockError};
use crate::error::StartError;
use crate::state::AppState;
use router::router;

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Pre-signed links are built on the bound address unless a public base URL is configured
    // (never on the request's `Host` header, which the client controls).
    let local = listener.local_addr()?;
    state.set_listen_base(crate::storage::listen_base(local));
    if state.config().public_base_url.is_none() && local.ip().is_unspecified() {
        tracing::warn!(
            bound = %local,
            links = %crate::storage::listen_base(local),
            "listening on an unspecified address: pre-signed links (batch uploads, UPO, exports) \
             point at the loopback address; set --public-base-url to the address clients use"
        );
    }
    // Leftovers of earlier runs (abandoned uploads, parts of sessions cancelled before
    // processing): removed before any request or session processing can touch the files.
    let mut swept = crate::sessions::sweep(&state).await;
    let exports = crate::retrieval::sweep(&state).await;
    swept.export_dirs += exports.export_dirs;
    swept.log();
    // Session processing runs while the server serves: it resumes unfinished work now and is
    // aborted when serving ends (an interrupted transaction rolls back; the next start resumes).
    crate::sessions::start(&state);
    // Exports still in progress when the emulator stopped are rebuilt.
    if let Err(e) = crate::retrieval::resume(&state).await {
        tracing::error!(error = %e, "resuming exports");
    }
    let app = router(state.clone());
    accept_loop(state.config(), app, listener, shutdown).await;
    crate::sessions::stop(&state).await;
    // Export builds end too (an interrupted one stays in status 100; the next start rebuilds).
    crate::retrieval::stop(&state).await;
    Ok(())
}

/// Accepts connections until `shutdown` resolves, then lets the open ones finish (idle ones
/// close at once) and returns.
async fn accept_loop(
    config: &EmulatorConfig,
    app: Router,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .keep_alive(true);
    let slots = Arc::new(Semaphore::new(
        config.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // At the cap, wait for a connection to close before accepting another.
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break, // never closed
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            // What `into_make_service_with_connect_info` would add: handlers read the client
            // IP from it (`crate::extract::ClientIp`, rate limits).
            req.extensions_mut().insert(ConnectInfo(peer));
            let mut app = app.clone();
            async move {
                let resp: Result<axum::response::Response, Infallible> =
                    tower_service::Service::call(&mut app, req).await;
                resp
            }
        });
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    // Requests in flight may finish, but a client that stalls its body or never reads the
    // answer cannot hold the shutdown up.
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_secs = SHUTDOWN_GRACE.as_secs(),
            "connections still open after the shutdown grace period were abandoned"
        );
    }
}

/// How long a shutdown waits for open connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Errors of `accept`: a connection that failed before it was accepted is skipped; anything
/// else (e.g. out of file descriptors) is logged and retried after a pause.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// An emulator running on a background task (for tests, `ksef demo` and the web app).
pub struct RunningEmulator {
    pub addr: SocketAddr,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningEmulator {
    /// `http://127.0.0.1:PORT/v2`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v2", self.addr)
    }

    /// Stops serving and waits for in-flight requests; the data directory's lock is released
    /// when this returns. (Dropping without `shutdown` stops serving too, but the lock is
    /// released only once the background task has wound down.)
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Errors while spawning.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error(transparent)]
    Start(#[from] StartError),
    /// Another emulator (in this process or another one) runs on this data directory: one
    /// data directory serves one emulator at a time.
    #[error(
        "the data directory {path} is in use by another running KSeF emulator (it holds the lock \
         {lock_file}); stop that emulator or choose another data directory"
    )]
    DataDirInUse { path: String, lock_file: String },
    /// The lock file of the data directory cannot be created or locked.
    #[error("cannot lock the data directory {path} (lock file {lock_file}): {source}")]
    DataDirLock {
        path: String,
        lock_file: String,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// Locks the data directory (after preparing it: created, private, writable) for the lifetime
/// of the returned guard.
async fn lock_data_dir(config: &EmulatorConfig) -> Result<DataDirLock, SpawnError> {
    let dir = config.data_dir.clone();
    let db = config.database_path();
    let shown = dir.display().to_string();
    let locked = tokio::task::spawn_blocking(move || {
        crate::datadir::prepare(&dir, &db)?;
        Ok::<_, StartError>(crate::datadir::lock(&dir))
    })
    .await
    .map_err(|e| StartError::DataDir {
        path: shown.clone(),
        source: std::io::Error::other(e),
    })??;
    locked.map_err(|e| match e {
        LockError::InUse { lock_file } => SpawnError::DataDirInUse {
            path: shown,
            lock_file: lock_file.display().to_string(),
        },
        LockError::Io { lock_file, source } => SpawnError::DataDirLock {
            path: shown,
            lock_file: lock_file.display().to_string(),
            source,
        },
    })
}

/// Opens the state and serves on `addr` (port 0 = a random free port) in a background task.
///
/// The emulator holds an exclusive lock on its data directory
/// ([`crate::datadir::LOCK_FILE_NAME`]) until it stops serving, so a second emulator on the same
/// directory fails with [`SpawnError::DataDirInUse`]. The address is bound before the state is
/// opened: a taken port fails fast, without touching the database.
pub async fn spawn(
    config: EmulatorConfig,
    addr: SocketAddr,
) -> Result<RunningEmulator, SpawnError> {
    let lock = lock_data_dir(&config).await?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| SpawnError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SpawnError::Bind {
        addr: addr.to_string(),
        source,
    })?;
    let state = AppState::open(config).await?;
    let (tx, rx) = oneshot::channel::<()>();
    let served = state.clone();
    let task = tokio::spawn(async move {
        // Held while serving (and while background work winds down), released when it ends.
        let _lock = lock;
        serve(served, listener, async move {
            let _ = rx.await;
        })
        .await
    });
    Ok(RunningEmulator {
        addr,
        state,
        stop: Some(tx),
        task: Some(task),
    })
}
