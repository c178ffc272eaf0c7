//! One emulator per data directory: `ksef ui` runs its embedded emulator on an address recorded
//! in the store, and the command line with the same data directory (local environment, no
//! `--base-url`) reaches it — a certificate login, and the Profil Zaufany round trip of a fresh
//! install through the simulated signing service with the "owner" option, with no test data
//! prepared. Connection errors name the URL tried.

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use ksef_core::{Nip, Pesel};
use ksef_testkit::cli::Program;
use reqwest::multipart::{Form, Part};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ksef");

/// A `ksef ui` child process; killed on drop.
struct Ui {
    child: Child,
    emulator: String,
}

impl Ui {
    /// Starts `ksef ui --port 0` for the installation (without `KSEF_BASE_URL`) and reads the
    /// embedded emulator's address from its first lines (a fresh store also prints a
    /// first-start line before it).
    fn start(p: &Program, log: &Path) -> Ui {
        let log = std::fs::File::create(log).expect("ui log");
        let mut child = local(p, &["ui", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start ksef ui");
        let mut reader = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut lines = Vec::new();
        let mut emulator = None;
        while emulator.is_none() && lines.len() < 4 {
            let mut line = String::new();
            reader.read_line(&mut line).expect("read a line of ksef ui");
            emulator = line
                .strip_prefix("embedded KSeF emulator: ")
                .and_then(|rest| rest.split_whitespace().next())
                .map(str::to_string);
            lines.push(line);
        }
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        assert!(lines[0].starts_with("KSeF web app: "), "{lines:?}");
        let emulator = emulator.unwrap_or_else(|| panic!("no emulator line: {lines:?}"));
        Ui { child, emulator }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Ui {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The installation's command in the local environment: no `KSEF_BASE_URL`.
fn local(p: &Program, args: &[&str]) -> Command {
    let mut c = p.cmd(args);
    c.env_remove("KSEF_BASE_URL");
    c
}

/// Runs a local command that must succeed; returns stdout.
fn ok(p: &Program, args: &[&str]) -> String {
    let out = local(p, args).output().expect("run ksef");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "ksef {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn json(p: &Program, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let out = ok(p, &a);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("ksef {a:?}: not JSON ({e}): {out}"))
}

/// The `value` of the input with `id` on a page.
fn input_value(page: &str, id: &str) -> String {
    let at = page.find(&format!("id=\"{id}\"")).expect("input");
    let tag = &page[at..at + page[at..].find('>').expect("tag end")];
    let v = tag.find("value=\"").expect("value") + 7;
    tag[v..v + tag[v..].find('"').expect("quote")].to_string()
}

#[test]
fn ui_and_cli_share_the_emulator_of_their_data_directory() {
    let p = Program::new(BIN, "http://127.0.0.1:9/unused/v2");
    let files = tempfile::tempdir().unwrap();
    let mut ui = Ui::start(&p, &files.path().join("ui.log"));
    let emulator = ui.emulator.clone();
    assert!(emulator.starts_with("http://127.0.0.1:"), "{emulator}");

    // A certificate login without --base-url reaches the ui's emulator.
    let nip = Nip::random();
    let pw = files.path().join("pw.txt");
    std::fs::write(&pw, "hasło\n").unwrap();
    let p12 = files.path().join("owner.p12");
    let (pw, p12) = (pw.to_str().unwrap(), p12.to_str().unwrap());
    ok(
        &p,
        &[
            "cert",
            "new",
            "--nip",
            nip.as_str(),
            "--out",
            p12,
            "--password-file",
            pw,
        ],
    );
    let out = ok(
        &p,
        &[
            "auth",
            "login",
            "--nip",
            nip.as_str(),
            "--cert",
            p12,
            "--password-file",
            pw,
        ],
    );
    assert!(out.contains(&format!("logged in to {emulator} ")), "{out}");
    let status = json(&p, &["auth", "status"]);
    assert_eq!(status["baseUrl"], emulator.as_str());
    assert_eq!(status["active"], true);

    // Profil Zaufany on a fresh install: `auth prepare` points to the emulator's signing page,
    // which suggests a person and makes them the owner of a NIP nobody prepared.
    let sole_trader = Nip::random();
    let dir = files.path().join("pz");
    let prepared = json(
        &p,
        &[
            "auth",
            "prepare",
            "--nip",
            sole_trader.as_str(),
            "--dir",
            dir.to_str().unwrap(),
        ],
    );
    let signing = format!("{}/symulator-podpisu", emulator.trim_end_matches("/v2"));
    assert_eq!(prepared["signingService"], signing.as_str());
    let text = ok(
        &p,
        &[
            "auth",
            "prepare",
            "--nip",
            sole_trader.as_str(),
            "--dir",
            dir.to_str().unwrap(),
        ],
    );
    assert!(text.contains(&signing), "{text}");
    assert!(!text.contains("gov.pl"), "{text}");
    let file = std::path::PathBuf::from(
        text.lines()
            .find_map(|l| l.strip_prefix("Wrote "))
            .expect("Wrote line"),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let signed = rt.block_on(async {
        let http = ksef_testkit::http_client();
        let page = http
            .get(&signing)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let pesel: Pesel = input_value(&page, "pesel").parse().expect("a valid PESEL");
        let form = Form::new()
            .text("pesel", pesel.as_str().to_string())
            .text("given_name", input_value(&page, "given_name"))
            .text("surname", input_value(&page, "surname"))
            .text("owner", "1")
            .part(
                "document",
                Part::bytes(std::fs::read(&file).unwrap())
                    .file_name(file.file_name().unwrap().to_string_lossy().into_owned()),
            );
        let r = http.post(&signing).multipart(form).send().await.unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::OK);
        r.bytes().await.unwrap()
    });
    let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
    std::fs::write(dir.join(format!("{stem} (1).xml")), &signed).unwrap();
    let s = json(&p, &["auth", "submit", "--dir", dir.to_str().unwrap()]);
    assert_eq!(s["authenticationMethod"], "TrustedProfile", "{s}");
    assert_eq!(s["context"]["value"], sole_trader.as_str(), "{s}");
    // As the owner: a KSeF token with CredentialsManage.
    let t = json(
        &p,
        &[
            "token",
            "generate",
            "--permissions",
            "InvoiceRead,CredentialsManage",
            "--description",
            "Token jednoosobowej firmy",
        ],
    );
    assert!(t["referenceNumber"].is_string(), "{t}");

    // The ui stopped: the error names the URL tried (the recorded emulator, not 127.0.0.1:8080).
    ui.stop();
    let out = local(&p, &["auth", "status"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(&format!("{emulator}/")), "{stderr}");
    // An explicit --base-url wins over the recorded address.
    let other = local(
        &p,
        &["--base-url", "http://127.0.0.1:9/v2", "auth", "status"],
    )
    .output()
    .unwrap();
    assert!(!other.status.success());
    let stderr = String::from_utf8_lossy(&other.stderr);
    assert!(!stderr.contains(&emulator), "{stderr}");
}
