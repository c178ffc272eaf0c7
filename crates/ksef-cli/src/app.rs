//! The CLI side of the shared program layer: re-exports, the CLI's error type and JSON printing.

use std::path::PathBuf;

pub use ksef_program::{App, ProgramError, Settings, StoredSession, show_time};
use serde::Serialize;

/// A failure of a command, printed in English as `error: …` (exit code 1).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The program layer failed (its `Display` is the English message).
    #[error(transparent)]
    Program(#[from] ProgramError),
    /// A command-line argument is missing or unusable; the message names it.
    #[error("{0}")]
    Usage(String),
    /// An operation of the CLI itself on the terminal or the system failed.
    #[error("cannot {action}: {source}")]
    Io {
        /// E.g. `write to standard output`.
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A value could not be printed as JSON.
    #[error("cannot print JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The demo's emulator did not start.
    #[error("cannot start the emulator: {0}")]
    Emulator(#[from] ksef_emulator::SpawnError),
    /// `ksef ui` did not start.
    #[error(transparent)]
    Web(#[from] ksef_web::WebError),
    /// `ksef emulator` and `ksef cert new` report their own message.
    #[error("{0}")]
    Tool(String),
    /// `ksef invoice validate`: some files are not valid (the report is on stdout).
    #[error("{invalid} of {total} invoice file(s) are not valid")]
    InvoicesInvalid { invalid: usize, total: usize },
    /// `ksef invoice send`: KSeF did not accept some invoices (the report is on stdout).
    #[error("{failed} of {total} invoice(s) were not accepted by KSeF")]
    InvoicesNotAccepted { failed: usize, total: usize },
    /// `ksef auth check`: the signed file has problems KSeF would reject.
    #[error("{}: {errors} problem(s) KSeF would reject", file.display())]
    CheckFindings { file: PathBuf, errors: usize },
    /// `ksef invoice qr --cert`: the certificate may not sign KOD II (not a KSeF `Offline` one).
    #[error(
        "{}: {source}; request one with `ksef cert enroll --type Offline`",
        file.display()
    )]
    NotOfflineCertificate {
        file: PathBuf,
        #[source]
        source: ksef_crypto::CryptoError,
    },
    /// A step of `ksef demo` did not behave as the seed says.
    #[error("demo step failed: {0}")]
    DemoStep(String),
}

impl From<ksef_store::StoreError> for CliError {
    fn from(e: ksef_store::StoreError) -> Self {
        CliError::Program(e.into())
    }
}

impl From<ksef_client::KsefError> for CliError {
    fn from(e: ksef_client::KsefError) -> Self {
        CliError::Program(e.into())
    }
}

impl From<ksef_crypto::CryptoError> for CliError {
    fn from(e: ksef_crypto::CryptoError) -> Self {
        CliError::Program(e.into())
    }
}

pub type CliResult<T> = Result<T, CliError>;

/// Prints a JSON value (for `--json`).
pub fn print_json<T: Serialize>(v: &T) -> CliResult<()> {
    let s = serde_json::to_string_pretty(v)?;
    println!("{s}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_errors_print_their_english_message() {
        let e = CliError::from(ProgramError::SessionExpired);
        assert_eq!(e.to_string(), "the KSeF session has expired; log in again");
        let e = CliError::from(ksef_store::StoreError::WrongKey);
        assert!(matches!(
            e,
            CliError::Program(ProgramError::Store(ksef_store::StoreError::WrongKey))
        ));
        assert!(e.to_string().starts_with("local store: "), "{e}");
        let e = CliError::InvoicesNotAccepted {
            failed: 3,
            total: 1000,
        };
        assert_eq!(
            e.to_string(),
            "3 of 1000 invoice(s) were not accepted by KSeF"
        );
    }
}
