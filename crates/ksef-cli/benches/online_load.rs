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

use common::online_load::{self, LoadFigures};

const KSEF: &str = env!("CARGO_BIN_EXE_ksef");

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let sessions = std::env::var("ONLINE_LOAD_SESSIONS").unwrap_or_else(|_| "10,50".into());
    let secs: f64 = std::env::var("ONLINE_LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let duration = Duration::from_secs_f64(secs);
    println!(
        "online sessions sending back-to-back for {secs} s (release emulator; shared machine, \
         figures are noisy)"
    );
    println!("{}", LoadFigures::header());
    let mut last = 0;
    for n in sessions
        .split(',')
        .filter_map(|s| s.trim().parse::<usize>().ok())
    {
        let figures = rt.block_on(online_load::run(KSEF, n, duration));
        println!("{figures}");
        last = n;
    }
    if std::env::var("ONLINE_LOAD_KILL").as_deref() != Ok("0") && last > 0 {
        let k = rt.block_on(online_load::run_kill9(
            KSEF,
            last,
            duration / 2,
            Duration::from_secs(120),
        ));
        println!(
            "kill -9 after {:.1} s with {last} sessions: lost after kill -9: {} of {} \
             ({} final with a KSeF number, {} rejected, {} not final)",
            (duration / 2).as_secs_f64(),
            k.lost,
            k.accepted,
            k.final_accepted,
            k.final_rejected,
            k.not_final
        );
    }
}
