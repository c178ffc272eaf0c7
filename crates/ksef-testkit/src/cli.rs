//! The `ksef` binary as end-to-end tests drive it: one program installation (a temporary data
//! directory and a store passphrase) whose every command is pointed at one KSeF API.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use ksef_core::Nip;
use serde_json::Value;

/// One installation of the program: its data directory and the environment that points every
/// command at one API and one store (`KSEF_BASE_URL`, `KSEF_DATA_DIR`, `KSEF_PASSPHRASE`; every
/// other `KSEF_*` variable is removed so the caller's environment cannot redirect a test).
pub struct Program {
    bin: String,
    data: tempfile::TempDir,
    base_url: String,
    passphrase: String,
}

impl Program {
    /// A fresh installation of `bin` (the test's `env!("CARGO_BIN_EXE_ksef")`) for `base_url`.
    pub fn new(bin: &str, base_url: &str) -> Self {
        Self {
            bin: bin.to_string(),
            data: tempfile::tempdir().expect("temporary data directory"),
            base_url: base_url.to_string(),
            passphrase: "tajne hasło 123".into(),
        }
    }

    /// The data directory (`KSEF_DATA_DIR`).
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// The API base URL (`KSEF_BASE_URL`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The store passphrase (`KSEF_PASSPHRASE`).
    pub fn passphrase(&self) -> &str {
        &self.passphrase
    }

    /// The command with the installation's environment, not yet run.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        // No other `KSEF_*` setting of the caller's environment reaches the program.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("KSEF_") {
                c.env_remove(name);
            }
        }
        c.args(args)
            .env("KSEF_BASE_URL", &self.base_url)
            .env("KSEF_DATA_DIR", self.data.path())
            .env("KSEF_PASSPHRASE", &self.passphrase);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run ksef")
    }

    /// Runs with `stdin` fed to the command.
    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ksef");
        // Written from a thread while the output is read, so a large input cannot deadlock on
        // full pipes; a program that exits without reading it is not an error here.
        let mut pipe = child.stdin.take().expect("stdin is piped");
        let input = stdin.as_bytes().to_vec();
        let writer = std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
        let out = child.wait_with_output().expect("wait for ksef");
        let _ = writer.join();
        out
    }

    /// Runs a command that must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "ksef {args:?} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// Runs a command with `--json` that must succeed; returns the parsed output.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.ok(&a);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("ksef {a:?}: not JSON ({e}): {out}"))
    }

    /// Runs a command that must fail with a clear `error: …` message; returns (stdout, stderr).
    pub fn fails_with_output(&self, args: &[&str]) -> (String, String) {
        let out = self.run(args);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            !out.status.success(),
            "ksef {args:?} should have failed; stdout: {stdout}"
        );
        assert!(
            stderr.starts_with("error: "),
            "ksef {args:?}: unclear error output {stderr:?}"
        );
        (stdout, stderr)
    }

    /// Runs a command that must fail with a clear `error: …` message; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        self.fails_with_output(args).1
    }

    /// Logs in as the owner of `nip` with a fresh self-signed certificate made by `ksef cert
    /// new` (its .p12 and password file go to `files`).
    pub fn login_owner(&self, nip: &Nip, files: &Path) {
        let pw = files.join("pw.txt");
        std::fs::write(&pw, "hasło\n").expect("write password file");
        let p12 = files.join("owner.p12");
        let (p12, pw) = (
            p12.to_str().expect("UTF-8 path"),
            pw.to_str().expect("UTF-8 path"),
        );
        let nip = nip.as_str();
        self.ok(&[
            "cert",
            "new",
            "--nip",
            nip,
            "--out",
            p12,
            "--password-file",
            pw,
        ]);
        self.ok(&[
            "auth",
            "login",
            "--nip",
            nip,
            "--cert",
            p12,
            "--password-file",
            pw,
        ]);
    }
}
