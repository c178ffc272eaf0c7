//! The CLI side of the shared program layer: re-exports and JSON printing.

pub use ksef_program::{
    App, ProgramError as CliError, ProgramResult as CliResult, Settings, StoredSession, show_time,
};
use serde::Serialize;

/// Prints a JSON value (for `--json`).
pub fn print_json<T: Serialize>(v: &T) -> CliResult<()> {
    let s =
        serde_json::to_string_pretty(v).map_err(|e| CliError(format!("cannot print JSON: {e}")))?;
    println!("{s}");
    Ok(())
}
