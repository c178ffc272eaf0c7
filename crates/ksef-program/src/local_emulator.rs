//! The local emulator of a data directory: `ksef ui` runs its embedded emulator on a stable
//! address recorded in the program's store (setting [`BASE_URL_SETTING`]), and the command line
//! with the same data directory talks to that emulator in the local environment.
//!
//! * The web app records the embedded emulator's base URL after every start
//!   ([`record_base_url`]) and tries the recorded port first on the next start
//!   ([`recorded_port`]), so the address — and the KSeF sessions stored for it — survive a
//!   restart.
//! * The command line in the local environment (`--env local` or no `--env`, and no
//!   `--base-url`) uses the recorded address when the store has one ([`local_app`]), else
//!   [`ksef_client::Environment::Local`]'s `http://127.0.0.1:8080/v2`.
//! * Profil Zaufany requests are signed by the emulator's simulated signing service there
//!   ([`signing_service_url`]).

use std::net::SocketAddr;
use std::path::Path;

use ksef_client::Environment;
use ksef_store::Store;

use crate::{App, ProgramResult, Settings};

/// Store setting holding the base URL (`http://127.0.0.1:PORT/v2`) of the emulator `ksef ui`
/// embeds for this data directory.
pub const BASE_URL_SETTING: &str = "emulator.base_url";

/// Path of the emulator's simulated Profil Zaufany signing service (outside `/v2`).
pub const SIGNING_SIMULATOR_PATH: &str = "/symulator-podpisu";

/// The address in an emulator base URL as this module records it (`http://ADDR/v2`).
fn address_of(base_url: &str) -> Option<SocketAddr> {
    base_url
        .trim()
        .strip_prefix("http://")?
        .strip_suffix("/v2")?
        .parse()
        .ok()
}

/// The recorded emulator base URL of the data directory whose store this is. A value that is
/// not an `http://ADDRESS:PORT/v2` URL (edited by hand, say) counts as none.
pub async fn recorded_base_url(store: &Store) -> ProgramResult<Option<String>> {
    Ok(store
        .setting(BASE_URL_SETTING)
        .await?
        .filter(|url| address_of(url).is_some()))
}

/// The port of the recorded emulator base URL (the one to try first on the next start).
pub async fn recorded_port(store: &Store) -> ProgramResult<Option<u16>> {
    Ok(recorded_base_url(store)
        .await?
        .as_deref()
        .and_then(address_of)
        .map(|a| a.port())
        .filter(|p| *p != 0))
}

/// Records the base URL of the emulator now running for the store's data directory.
pub async fn record_base_url(store: &Store, base_url: &str) -> ProgramResult<()> {
    if address_of(base_url).is_none() {
        return Err(crate::ProgramError::InvalidInput {
            field: crate::Field::BaseUrl,
            problem: crate::InputProblem::BadFormat {
                value: base_url.to_string(),
                expected: "http://ADDRESS:PORT/v2",
            },
        });
    }
    store.set_setting(BASE_URL_SETTING, base_url.trim()).await?;
    Ok(())
}

/// Whether the global options ask for the local environment without naming a URL: no
/// `--base-url` and `--env` absent or `local`.
pub fn wants_local_default(base_url: Option<&str>, env: Option<&str>) -> bool {
    base_url.is_none()
        && env.is_none_or(|e| e.parse::<Environment>().ok() == Some(Environment::Local))
}

/// The program for the command line: [`Settings::resolve`], and in the local environment
/// without a `--base-url` ([`wants_local_default`]) the address recorded in the data
/// directory's store by `ksef ui` instead of `http://127.0.0.1:8080/v2`. The store is read only
/// when it exists (a fresh data directory gets none), and it stays open in the returned `App`.
/// A store that cannot be opened here is left to the command, which reports it when it needs
/// the store.
pub async fn local_app(
    base_url: Option<String>,
    env: Option<String>,
    data_dir: Option<std::path::PathBuf>,
    json: bool,
) -> ProgramResult<App> {
    let local = wants_local_default(base_url.as_deref(), env.as_deref());
    let mut settings = Settings::resolve(base_url, env, data_dir, json)?;
    if !local || !store_exists(&settings.data_dir) {
        return App::new(settings);
    }
    let Ok(store) = Store::open(&settings.data_dir, crate::passphrase()).await else {
        return App::new(settings);
    };
    if let Ok(Some(url)) = recorded_base_url(&store).await {
        settings.base_url = url;
    }
    Ok(App::new(settings)?.with_store(store))
}

fn store_exists(data_dir: &Path) -> bool {
    data_dir.join(ksef_store::DB_FILE_NAME).is_file()
}

/// Where a Profil Zaufany request for `base_url` is signed: the government service for the
/// official environments (hosts under `gov.pl`), else the emulator's simulated signing service
/// at the same address (`http://HOST:PORT/symulator-podpisu`).
pub fn signing_service_url(base_url: &str) -> String {
    let trimmed = base_url.trim().trim_end_matches('/');
    let Some((scheme, rest)) = trimmed.split_once("://") else {
        return crate::auth::SIGNING_SERVICE_URL.to_string();
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, h)| h)
        .trim_start_matches('[');
    let host = host
        .split_once(']')
        .map_or_else(|| host.split(':').next().unwrap_or(host), |(h, _)| h)
        .to_ascii_lowercase();
    if host == "gov.pl" || host.ends_with(".gov.pl") {
        return crate::auth::SIGNING_SERVICE_URL.to_string();
    }
    format!("{scheme}://{authority}{SIGNING_SIMULATOR_PATH}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_service_per_environment() {
        assert_eq!(
            signing_service_url("http://127.0.0.1:8080/v2"),
            "http://127.0.0.1:8080/symulator-podpisu"
        );
        assert_eq!(
            signing_service_url("http://[::1]:41234/v2/"),
            "http://[::1]:41234/symulator-podpisu"
        );
        assert_eq!(
            signing_service_url("http://emulator.lan:9000/v2"),
            "http://emulator.lan:9000/symulator-podpisu"
        );
        for env in [Environment::Test, Environment::Demo, Environment::Prod] {
            assert_eq!(
                signing_service_url(env.base_url()),
                crate::auth::SIGNING_SERVICE_URL
            );
        }
        assert_eq!(
            signing_service_url("https://KSEF-TEST.MF.GOV.PL:443/api/v2"),
            crate::auth::SIGNING_SERVICE_URL
        );
    }

    #[test]
    fn local_default_and_recorded_addresses() {
        assert!(wants_local_default(None, None));
        assert!(wants_local_default(None, Some("LOCAL")));
        assert!(!wants_local_default(None, Some("test")));
        assert!(!wants_local_default(Some("http://127.0.0.1:1/v2"), None));
        assert_eq!(
            address_of("http://127.0.0.1:4321/v2"),
            Some(SocketAddr::from(([127, 0, 0, 1], 4321)))
        );
        assert_eq!(address_of("http://127.0.0.1:4321"), None);
        assert_eq!(address_of("https://127.0.0.1:4321/v2"), None);
        assert_eq!(address_of("http://localhost:4321/v2"), None);
    }

    #[tokio::test]
    async fn the_address_round_trips_through_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), None).await.unwrap();
        assert_eq!(recorded_base_url(&store).await.unwrap(), None);
        assert_eq!(recorded_port(&store).await.unwrap(), None);
        record_base_url(&store, "http://127.0.0.1:45678/v2")
            .await
            .unwrap();
        assert_eq!(
            recorded_base_url(&store).await.unwrap().as_deref(),
            Some("http://127.0.0.1:45678/v2")
        );
        assert_eq!(recorded_port(&store).await.unwrap(), Some(45678));
        let err = record_base_url(&store, "127.0.0.1:1").await.unwrap_err();
        assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
        // A hand-edited value is ignored, not used.
        store
            .set_setting(BASE_URL_SETTING, "ftp://x")
            .await
            .unwrap();
        assert_eq!(recorded_base_url(&store).await.unwrap(), None);
        store.close().await;
    }
}
