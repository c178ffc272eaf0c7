//! Online sessions under load (issue 16): `cargo bench -p ksef-cli --bench online_load`.
//!
//! Against the release emulator, 10 and then 50 subjects each send ~3 KB FA(3) invoices
//! back-to-back in their own online session (see [`common::online_load`]). Prints the accepted
//! invoices per second (202s), the latency of a send (p50/p95/p99/max), the time from the end of
//! the sending until every accepted invoice has a final status, and the emulator's peak RSS;
//! then the kill -9 variant: the emulator is killed mid-run, restarted on the same data, and
//! every invoice that got a 202 must still be known and end final.
//!
//! Environment: `ONLINE_LOAD_SESSIONS=10,50` (default), `ONLINE_LOAD_SECS=5` (default),
//! `ONLINE_LOAD_KILL=0` skips the kill -9 run.

mod common;

use std::time::Duration;

use common::online_load;

const KSEF: &str = env!("CARGO_BIN_EXE_ksef");

fn main() {
    let sessions = std::env::var("ONLINE_LOAD_SESSIONS").unwrap_or_else(|_| "10,50".into());
    let sessions: Vec<usize> = sessions
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let secs: f64 = std::env::var("ONLINE_LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    println!(
        "online sessions sending back-to-back for {secs} s (release emulator; shared machine, \
         figures are noisy)"
    );
    let kill = std::env::var("ONLINE_LOAD_KILL").as_deref() != Ok("0");
    online_load::print_figures(KSEF, &sessions, Duration::from_secs_f64(secs), kill);
}
