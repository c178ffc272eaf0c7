//! Shared helpers: run the `openssl` CLI (OpenSSL 3) as a test oracle.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};

/// Run `openssl <args>` in `dir`, feeding `stdin`; panic with stderr on failure.
pub fn openssl(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    let out = try_openssl(dir, args, stdin);
    match out {
        Ok(o) => o,
        Err(e) => panic!("openssl {args:?} failed: {e}"),
    }
}

/// Like [`openssl`] but returns stderr as the error.
pub fn try_openssl(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Result<Vec<u8>, String> {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the `openssl` CLI is required for these tests (Debian package `openssl`)");
    {
        let mut sin = child.stdin.take().unwrap();
        if let Some(data) = stdin {
            sin.write_all(data).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `openssl <args>` in `dir` without input: whether it exited 0, and its stdout and stderr
/// together (`openssl req -verify` reports a bad signature on stderr and still exits 0).
pub fn openssl_all_output(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("the `openssl` CLI is required for these tests (Debian package `openssl`)");
    let mut all = String::from_utf8_lossy(&out.stdout).into_owned();
    all.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), all)
}

pub fn write(dir: &Path, name: &str, data: &[u8]) {
    std::fs::write(dir.join(name), data).unwrap();
}

pub fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap()
}

pub fn text(b: Vec<u8>) -> String {
    String::from_utf8(b).unwrap()
}
