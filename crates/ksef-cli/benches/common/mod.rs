//! What the `ksef` benches share: watching a child process's peak memory while it runs, and the
//! online-session load generator ([`online_load`]).

#[allow(dead_code)] // each bench binary uses its own part of the shared code
pub mod online_load;

use std::process::{Child, ExitStatus};
use std::time::Duration;

/// Peak resident set size (kB) of a process, from `/proc/<pid>/status` (0 once it is gone).
pub fn vm_hwm_kb(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Waits for `child`, sampling its peak RSS every `every`: its exit status and the peak (kB).
pub fn wait_sampling_peak(child: &mut Child, every: Duration) -> (ExitStatus, u64) {
    let pid = child.id().to_string();
    let mut peak = 0;
    loop {
        peak = peak.max(vm_hwm_kb(&pid));
        if let Some(status) = child.try_wait().expect("wait for the child process") {
            return (status, peak);
        }
        std::thread::sleep(every);
    }
}
