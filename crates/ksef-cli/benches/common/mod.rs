//! What the `ksef` benches share: watching a child process's peak memory while it runs,
//! measuring a child's CPU time, the `ksef` command and its log-in, and the online-session load
//! generator ([`online_load`]).
// Each bench compiles this module on its own and uses part of it.
#![allow(dead_code)]

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

/// What [`run_measured`] saw of a child process.
pub struct Measured {
    pub success: bool,
    pub wall: Duration,
    /// User + system CPU time of the child (and of children it waited for).
    pub cpu: Duration,
    /// Peak resident set size, kB (sampled: the last 10 ms before the exit may be missed).
    pub max_rss_kb: u64,
}

/// Runs `cmd` to its end and measures it: CPU time with `wait4(2)` (the kernel's own accounting
/// of the child), peak RSS by sampling the program's own `VmHWM` in `/proc/<pid>/status` every
/// 10 ms (the kernel may carry into `ru_maxrss` the high-water mark of the memory a child
/// shared with its parent until `exec`).
pub fn run_measured(mut cmd: std::process::Command) -> Measured {
    use std::sync::atomic::{AtomicBool, Ordering};
    let start = std::time::Instant::now();
    let child = cmd.spawn().expect("start the measured process");
    let pid = libc::pid_t::try_from(child.id()).expect("a pid fits pid_t");
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        let pid = pid.to_string();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(vm_hwm_kb(&pid));
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        })
    };
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain old data (zeroed is a valid value); `wait4` writes it and
    // `status` for the child we spawned and have not waited for (`child` is never waited on:
    // it is forgotten below, so std does not reap the pid a second time).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    std::mem::forget(child);
    let wall = start.elapsed();
    done.store(true, Ordering::Relaxed);
    let max_rss_kb = sampler.join().unwrap_or(0);
    assert_eq!(rc, pid, "wait4 failed: {}", std::io::Error::last_os_error());
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Measured {
        success: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        max_rss_kb,
    }
}

/// `ksef ARGS` against the API `api` with its store in `data` (passphrase `bench`; `KSEF_ENV`
/// and `RUST_LOG` removed: nothing of the caller's environment picks another API or adds logs).
pub fn ksef(api: &str, data: &std::path::Path, args: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_ksef"));
    c.args(args)
        .env("KSEF_BASE_URL", api)
        .env("KSEF_DATA_DIR", data)
        .env("KSEF_PASSPHRASE", "bench")
        .env_remove("KSEF_ENV")
        .env_remove("RUST_LOG");
    c
}

/// Makes a test certificate for `nip` in `dir` (`ksef cert new`) and logs the store in `data`
/// in to `api` with it (`ksef auth login`); panics with `ksef`'s message when a step fails.
pub fn log_in(api: &str, data: &std::path::Path, dir: &std::path::Path, nip: &str) {
    let pw = dir.join("pw.txt");
    std::fs::write(&pw, "bench\n").expect("password file");
    let p12 = dir.join(format!("{nip}.p12"));
    let (p12, pw) = (p12.to_str().expect("utf-8"), pw.to_str().expect("utf-8"));
    for args in [
        [
            "cert",
            "new",
            "--nip",
            nip,
            "--out",
            p12,
            "--password-file",
            pw,
        ],
        [
            "auth",
            "login",
            "--nip",
            nip,
            "--cert",
            p12,
            "--password-file",
            pw,
        ],
    ] {
        let out = ksef(api, data, &args).output().expect("run ksef");
        assert!(
            out.status.success(),
            "ksef {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
