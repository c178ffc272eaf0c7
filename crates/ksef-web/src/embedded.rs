//! Starting the embedded emulator on the stable address recorded for the data directory
//! (`ksef_program::local_emulator`): the recorded port first, a free one when it is taken; the
//! address actually used is recorded again, so the command line with the same data directory
//! reaches this emulator and stored sessions keep their base URL across restarts.

use std::net::{Ipv4Addr, SocketAddr};

use ksef_emulator::{EmulatorConfig, RunningEmulator, SpawnError};
use ksef_program::local_emulator;
use ksef_store::Store;

use crate::WebError;

/// Spawns the emulator of `config` on 127.0.0.1, on the recorded port if it is free (and not
/// `avoid`, the web app's own port), and records its base URL in `store`.
pub async fn spawn_recorded(
    store: &Store,
    config: &EmulatorConfig,
    avoid: u16,
) -> Result<RunningEmulator, WebError> {
    let store_error = |e: ksef_program::ProgramError| WebError::Store {
        dir: config.data_dir.clone(),
        message: e.to_string(),
    };
    let recorded = local_emulator::recorded_port(store)
        .await
        .map_err(store_error)?
        .filter(|p| *p != avoid);
    let mut running = None;
    if let Some(port) = recorded {
        match ksef_emulator::spawn(config.clone(), loopback(port)).await {
            Ok(e) => running = Some(e),
            Err(SpawnError::Bind { addr, source }) => tracing::warn!(
                %addr,
                error = %source,
                "the embedded emulator's recorded port is taken; using a free port (recorded anew)"
            ),
            Err(e) => return Err(e.into()),
        }
    }
    let emulator = match running {
        Some(e) => e,
        None => ksef_emulator::spawn(config.clone(), loopback(0)).await?,
    };
    local_emulator::record_base_url(store, &emulator.base_url())
        .await
        .map_err(store_error)?;
    Ok(emulator)
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}
