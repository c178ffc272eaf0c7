//! Running the emulator: bind, serve, shut down.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::EmulatorConfig;
use crate::http::router;
use crate::state::{AppState, StartError};

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
    crate::storage::sweep(&state).await;
    // Session processing runs while the server serves: it resumes unfinished work now and is
    // aborted when serving ends (an interrupted transaction rolls back; the next start resumes).
    state.sessions().start(&state);
    // Exports still in progress when the emulator stopped are rebuilt.
    if let Err(e) = crate::retrieval::resume(&state).await {
        tracing::error!(error = %e, "resuming exports");
    }
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    state.sessions().stop().await;
    // Export builds end too (an interrupted one stays in status 100; the next start rebuilds).
    crate::retrieval::stop(&state).await;
    result
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

    /// Stops serving and waits for in-flight requests.
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
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// Opens the state and serves on `addr` (port 0 = a random free port) in a background task.
pub async fn spawn(
    config: EmulatorConfig,
    addr: SocketAddr,
) -> Result<RunningEmulator, SpawnError> {
    let state = AppState::open(config).await?;
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
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(state.clone(), listener, async move {
        let _ = rx.await;
    }));
    Ok(RunningEmulator {
        addr,
        state,
        stop: Some(tx),
        task: Some(task),
    })
}
