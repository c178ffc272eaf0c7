//! Browser-test harness: drives a real headless Chromium (Debian `chromium`) through
//! `chromedriver` (Debian `chromium-driver`) over the W3C WebDriver protocol. Knows nothing of
//! the app (its screens are driven by [`super::ui`]).
//!
//! The WebDriver client is the small [`Session`] below rather than a crate: W3C WebDriver is a
//! handful of JSON-over-HTTP endpoints, this test binary already has reqwest, and a WebDriver
//! crate (fantoccini, thirtyfour) would bring its own HTTP stack into Cargo.lock for the tests
//! only. Everything is W3C WebDriver except [`Tab::front`], which uses chromedriver's
//! `goog/cdp/execute` endpoint once to give a tab the page focus. Each [`Chrome`] starts its own
//! chromedriver on a free port; closing or dropping it ends the WebDriver session (which quits the
//! browser) and kills chromedriver.
//!
//! Every helper panics with a readable message naming its step (these are tests); waits poll the
//! page with a deadline and, when they time out, save a screenshot and print the page's text first.

use std::future::Future;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};

/// Where the browser binary is looked for unless `KSEF_CHROMIUM` names another one.
pub const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";

/// How long a wait for the page may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(30);

/// Where chromedriver is looked for unless `KSEF_CHROMEDRIVER` names another one.
pub const DEFAULT_CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long one script evaluation in the page may take (the session's script timeout).
pub const STEP: Duration = Duration::from_secs(10);

/// The key of an element reference in WebDriver's JSON (W3C WebDriver, "Elements").
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Browser tests share a 2-core machine: they run one at a time (each starts its own Chromium).
static ONE_BROWSER_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs one browser test: serialized with the other browser tests of this binary, on its own
/// multi-threaded tokio runtime, with the process-wide rustls provider installed, and Chromium
/// and chromedriver checked to exist first (a missing browser FAILS the test, it is never skipped).
pub fn run<F, Fut>(test: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    // A previous test's panic poisons the lock; the lock only orders tests, so carry on.
    let _turn = ONE_BROWSER_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // The process-wide TLS provider every reqwest client of the workspace needs.
    drop(ksef_testkit::http_client_builder());
    chromium_path();
    chromedriver_path();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(test());
}

/// The Chromium binary, or a panic telling how to install it.
pub fn chromium_path() -> PathBuf {
    let path = std::env::var_os("KSEF_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CHROMIUM));
    assert!(
        path.is_file(),
        "Chromium not found at {} — the browser tests need Debian's `chromium` (and \
         `chromium-driver`); run scripts/test.sh, which installs them, or set KSEF_CHROMIUM to \
         a Chromium binary",
        path.display()
    );
    path
}

/// The chromedriver binary, or a panic telling how to install it.
pub fn chromedriver_path() -> PathBuf {
    let path = std::env::var_os("KSEF_CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CHROMEDRIVER));
    assert!(
        path.is_file(),
        "chromedriver not found at {} — the browser tests need Debian's `chromium-driver`; run \
         scripts/test.sh, which installs it, or set KSEF_CHROMEDRIVER to a chromedriver binary",
        path.display()
    );
    path
}

/// `<target dir>/screenshots`, created if missing. The target dir is `CARGO_TARGET_DIR` when set
/// (absolute), else the one this test binary was built into (`<target>/<profile>/deps/<bin>`).
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|exe| exe.ancestors().nth(3).map(Path::to_path_buf))
        })
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// A WebDriver error: its W3C error code (`no such element`, `javascript error`…) and message.
#[derive(Debug)]
pub struct WdError {
    pub error: String,
    pub message: String,
}

impl std::fmt::Display for WdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

/// One WebDriver session of a chromedriver: `http://127.0.0.1:PORT/session/ID`.
struct Session {
    http: reqwest::Client,
    /// The session's URL; commands are `<url>/<path>`.
    url: String,
    /// The window (tab) that commands currently go to.
    current: Mutex<String>,
}

impl Session {
    /// Sends one WebDriver command; `path` is relative to the session (`""`: the session itself).
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WdError> {
        let url = if path.is_empty() {
            self.url.clone()
        } else {
            format!("{}/{path}", self.url)
        };
        request(&self.http, method, &url, body).await
    }
}

/// One WebDriver request: the JSON answer's `value`, or the error it reports.
async fn request(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    body: Option<Value>,
) -> Result<Value, WdError> {
    let transport = |e: reqwest::Error| WdError {
        error: "no answer from chromedriver".to_string(),
        message: format!("{url}: {e}"),
    };
    let mut req = http.request(method, url);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.map_err(transport)?;
    let ok = resp.status().is_success();
    let answer: Value = resp.json().await.map_err(transport)?;
    let value = answer.get("value").cloned().unwrap_or(Value::Null);
    if ok {
        return Ok(value);
    }
    let field = |k: &str| value[k].as_str().unwrap_or_default().to_string();
    Err(WdError {
        error: field("error"),
        message: field("message"),
    })
}

/// A free TCP port on 127.0.0.1 (the OS picks it; chromedriver binds it right after).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port for chromedriver: {e}"))
}

/// A headless Chromium driven by its own chromedriver, with a fresh profile and download dir.
/// Dropping it (as [`Chrome::close`] does) ends the session and kills chromedriver.
pub struct Chrome {
    driver: Child,
    port: u16,
    session: Arc<Session>,
    /// The window the session opened with, handed to the first [`Chrome::tab`].
    first_window: Mutex<Option<String>>,
    session_ended: bool,
    test: String,
    profile: tempfile::TempDir,
    downloads: PathBuf,
}

impl Chrome {
    /// Starts chromedriver and Chromium for the test named `test` (the name prefixes its
    /// screenshots).
    pub async fn launch(test: &str) -> Chrome {
        let profile = tempfile::tempdir().expect("profile dir");
        let downloads = profile.path().join("downloads");
        std::fs::create_dir_all(&downloads).expect("downloads dir");
        let port = free_port();
        let mut driver = Command::new(chromedriver_path())
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver_path().display()));
        let http = ksef_testkit::http_client_builder()
            .no_proxy()
            .timeout(Duration::from_secs(120))
            .build()
            .expect("HTTP client for chromedriver");
        let base = format!("http://127.0.0.1:{port}");

        // chromedriver is up once /status says it is ready.
        let deadline = Instant::now() + WAIT;
        loop {
            let status = request(&http, Method::GET, &format!("{base}/status"), None).await;
            if status.is_ok_and(|s| s["ready"] == true) {
                break;
            }
            if let Ok(Some(exit)) = driver.try_wait() {
                panic!("chromedriver on port {port} exited before it was ready: {exit}");
            }
            if Instant::now() > deadline {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("chromedriver on port {port} not ready within {WAIT:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let mut args: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // Screenshots rendered alike on every machine (no scrollbars, sRGB colours, one
            // language) and no throttling of background tabs.
            "--hide-scrollbars",
            "--mute-audio",
            "--force-color-profile=srgb",
            "--lang=en_US",
            "--disable-background-timer-throttling",
            "--disable-backgrounding-occluded-windows",
            "--disable-renderer-backgrounding",
            "--window-size=1280,1000",
        ]
        .map(String::from)
        .to_vec();
        let profile_dir = profile.path().join("profile");
        args.push(format!("--user-data-dir={}", profile_dir.display()));
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            // Dialogs stay open and make the next command fail with `unexpected alert open`;
            // `Tab::command` then records and accepts them (see `Tab::dialogs`).
            "unhandledPromptBehavior": "ignore",
            "timeouts": {"script": STEP.as_millis() as u64, "pageLoad": WAIT.as_millis() as u64,
                         "implicit": 0},
            "goog:chromeOptions": {
                "binary": chromium_path(),
                "args": args,
                "prefs": {
                    "download.default_directory": downloads,
                    "download.prompt_for_download": false,
                    "download.directory_upgrade": true,
                },
            },
        }}});
        let created = request(
            &http,
            Method::POST,
            &format!("{base}/session"),
            Some(capabilities),
        )
        .await;
        let session_id = match created.as_ref().map(|v| v["sessionId"].as_str()) {
            Ok(Some(id)) => id.to_string(),
            _ => {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!(
                    "chromedriver cannot start {}: {created:?} (run scripts/test.sh to install \
                     chromium and chromium-driver)",
                    chromium_path().display()
                );
            }
        };
        let session = Arc::new(Session {
            http,
            url: format!("{base}/session/{session_id}"),
            current: Mutex::new(String::new()),
        });
        // Built before the next request so that a failure from here on still ends the session.
        let chrome = Chrome {
            driver,
            port,
            session,
            first_window: Mutex::new(None),
            session_ended: false,
            test: test.to_string(),
            profile,
            downloads,
        };
        let first = match chrome.session.send(Method::GET, "window", None).await {
            Ok(Value::String(handle)) => handle,
            other => panic!("the browser's first window: {other:?}"),
        };
        *lock(&chrome.session.current) = first.clone();
        *lock(&chrome.first_window) = Some(first);
        chrome
    }

    /// A tab showing `about:blank` (the browser's first window, then new ones); JavaScript
    /// dialogs in it are accepted and recorded.
    pub async fn tab(&self) -> Tab {
        let first = lock(&self.first_window).take();
        let window = match first {
            Some(handle) => handle,
            None => {
                let made = self
                    .session
                    .send(Method::POST, "window/new", Some(json!({"type": "tab"})))
                    .await;
                match made.as_ref().map(|v| v["handle"].as_str()) {
                    Ok(Some(handle)) => handle.to_string(),
                    _ => panic!("opening a new tab: {made:?}"),
                }
            }
        };
        Tab {
            session: Arc::clone(&self.session),
            window,
            test: self.test.clone(),
            dialogs: Mutex::new(Vec::new()),
            downloads: self.downloads.clone(),
        }
    }

    /// Where this browser saves downloads.
    pub fn downloads(&self) -> &Path {
        &self.downloads
    }

    /// A scratch dir that lives as long as the browser (for files to upload).
    pub fn scratch(&self) -> PathBuf {
        let dir = self.profile.path().join("scratch");
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    /// Ends the session (chromedriver quits the browser and waits for it), then stops
    /// chromedriver.
    pub async fn close(mut self) {
        if let Err(e) = self.session.send(Method::DELETE, "", None).await {
            eprintln!("ending the WebDriver session: {e}");
        }
        self.session_ended = true;
    }
}

impl Drop for Chrome {
    /// Ends the session if [`Chrome::close`] did not (a failed test unwinding), then kills
    /// chromedriver: no browser or driver outlives the test.
    fn drop(&mut self) {
        if !self.session_ended {
            // Blocking and by hand: this may run while a panic unwinds out of the runtime.
            let path = self
                .session
                .url
                .split_once("/session/")
                .map(|(_, id)| format!("/session/{id}"))
                .unwrap_or_default();
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
            if let Ok(mut conn) = std::net::TcpStream::connect_timeout(&addr, WAIT) {
                let _ = conn.set_read_timeout(Some(WAIT));
                let _ = write!(
                    conn,
                    "DELETE {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
                    self.port
                );
                // chromedriver answers once the browser has quit, and keeps the connection open
                // despite `Connection: close`: read up to the end of the answer's header only.
                let (mut answer, mut chunk) = (Vec::new(), [0u8; 1024]);
                while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => answer.extend_from_slice(&chunk[..n]),
                    }
                }
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Locks a mutex that only guards plain data (a panicking test must not poison the harness).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One browser tab (a WebDriver window).
pub struct Tab {
    session: Arc<Session>,
    window: String,
    test: String,
    dialogs: Mutex<Vec<String>>,
    downloads: PathBuf,
}

impl Tab {
    /// Sends a WebDriver command to this tab: switches the session to it first, and records and
    /// accepts a JavaScript dialog that holds the command back (then sends it again).
    pub async fn command(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WdError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            if *lock(&self.session.current) != self.window {
                self.switch().await?;
            }
            match self.session.send(method.clone(), path, body.clone()).await {
                Err(e) if e.error == "unexpected alert open" && attempts < 5 => {
                    self.accept_dialog().await
                }
                answer => return answer,
            }
        }
    }

    /// Makes this tab the session's current window (chromedriver also activates it).
    async fn switch(&self) -> Result<(), WdError> {
        self.session
            .send(Method::POST, "window", Some(json!({"handle": self.window})))
            .await?;
        *lock(&self.session.current) = self.window.clone();
        Ok(())
    }

    /// Records the open dialog's message and accepts it.
    async fn accept_dialog(&self) {
        if let Ok(text) = self.session.send(Method::GET, "alert/text", None).await {
            lock(&self.dialogs).push(text.as_str().unwrap_or_default().to_string());
        }
        let _ = self
            .session
            .send(Method::POST, "alert/accept", Some(json!({})))
            .await;
    }

    /// The WebDriver element reference of the first match of `selector`; fails the test naming
    /// `step` when nothing matches.
    async fn element(&self, selector: &str, step: &str) -> String {
        let found = self
            .command(
                Method::POST,
                "element",
                Some(json!({"using": "css selector", "value": selector})),
            )
            .await;
        match found.as_ref().map(|v| v[ELEMENT].as_str()) {
            Ok(Some(id)) => id.to_string(),
            Ok(None) => self.fail(&format!("{step}: odd answer {found:?}")).await,
            Err(e) => {
                self.fail(&format!("{step}: no element {selector} ({e})"))
                    .await
            }
        }
    }

    /// A full-page PNG: the window is made as tall as the document for the shot, then restored.
    async fn png(&self) -> Result<Vec<u8>, String> {
        let sizes = self
            .try_call(
                "() => [document.documentElement.scrollHeight, window.innerHeight]",
                &[],
            )
            .await?;
        let extra = sizes[0].as_i64().unwrap_or(0) - sizes[1].as_i64().unwrap_or(0);
        let mut restore = None;
        if extra > 0 {
            let rect = self
                .command(Method::GET, "window/rect", None)
                .await
                .map_err(|e| format!("window size: {e}"))?;
            let height = rect["height"].as_i64().unwrap_or(0);
            // chromedriver ignores a height without a width.
            self.command(
                Method::POST,
                "window/rect",
                Some(json!({"width": rect["width"], "height": height + extra})),
            )
            .await
            .map_err(|e| format!("enlarging the window: {e}"))?;
            restore = Some(json!({"width": rect["width"], "height": height}));
        }
        let shot = self.command(Method::GET, "screenshot", None).await;
        if let Some(rect) = restore {
            let _ = self.command(Method::POST, "window/rect", Some(rect)).await;
        }
        let shot = shot.map_err(|e| e.to_string())?;
        base64::engine::general_purpose::STANDARD
            .decode(shot.as_str().unwrap_or_default())
            .map_err(|e| format!("the screenshot is not base64: {e}"))
    }

    /// Opens `url` and waits until the document has loaded.
    pub async fn goto(&self, url: &str) {
        if let Err(e) = self
            .command(Method::POST, "url", Some(json!({"url": url})))
            .await
        {
            self.fail::<()>(&format!("opening {url}: {e}")).await;
        }
        self.wait_loaded().await;
    }

    /// Reloads the page as F5 does (WebDriver "Refresh") and waits for the NEW document.
    pub async fn reload(&self) {
        self.call("() => { window.__ksefBrowserTestOldPage = true; }", &[])
            .await;
        if let Err(e) = self.command(Method::POST, "refresh", Some(json!({}))).await {
            self.fail::<()>(&format!("reloading the page: {e}")).await;
        }
        self.wait_until(
            "the reloaded page",
            "() => window.__ksefBrowserTestOldPage === undefined && document.readyState === 'complete'",
            &[],
        )
        .await;
    }

    /// Saves a full-page PNG as `<target>/screenshots/<test>-<step>.png`, prints and returns the path.
    pub async fn screenshot(&self, step: &str) -> PathBuf {
        let path = screenshot_dir().join(format!("{}-{step}.png", self.test));
        self.front().await;
        let png = match self.png().await {
            Ok(png) => png,
            Err(e) => self.fail(&format!("screenshot {step}: {e}")).await,
        };
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        println!("screenshot: {}", path.display());
        path
    }

    /// Calls the JavaScript function `function` with `args` (JSON values) in the page and returns
    /// its (awaited) result as JSON; `undefined` becomes `null`.
    pub async fn try_call(&self, function: &str, args: &[Value]) -> Result<Value, String> {
        // W3C "Execute Script" awaits a returned promise; the session's script timeout (STEP)
        // bounds it.
        self.command(
            Method::POST,
            "execute/sync",
            Some(json!({"script": format!("return ({function})(...arguments);"), "args": args})),
        )
        .await
        .map_err(|e| e.to_string())
    }

    /// [`Tab::try_call`] that fails the test on a JavaScript error.
    pub async fn call(&self, function: &str, args: &[Value]) -> Value {
        match self.try_call(function, args).await {
            Ok(v) => v,
            Err(e) => {
                self.fail(&format!("JavaScript {function} failed: {e}"))
                    .await
            }
        }
    }

    /// The page's URL.
    pub async fn url(&self) -> String {
        self.call("() => location.href", &[])
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Whether an element matches `selector`.
    pub async fn exists(&self, selector: &str) -> bool {
        self.count(selector).await > 0
    }

    /// How many elements match `selector`.
    pub async fn count(&self, selector: &str) -> usize {
        let n = self
            .call(
                "(s) => document.querySelectorAll(s).length",
                &[json!(selector)],
            )
            .await;
        n.as_u64().unwrap_or(0) as usize
    }

    /// The trimmed `innerText` of the first match, `None` when nothing matches.
    pub async fn text(&self, selector: &str) -> Option<String> {
        self.call(
            "(s) => { const e = document.querySelector(s); return e ? e.innerText.trim() : null; }",
            &[json!(selector)],
        )
        .await
        .as_str()
        .map(str::to_string)
    }

    /// The trimmed `innerText` of every match, in document order.
    pub async fn texts(&self, selector: &str) -> Vec<String> {
        let v = self
            .call(
                "(s) => Array.from(document.querySelectorAll(s), e => e.innerText.trim())",
                &[json!(selector)],
            )
            .await;
        serde_json::from_value(v).unwrap_or_default()
    }

    /// An attribute of the first match (`None`: no match or no such attribute).
    pub async fn attr(&self, selector: &str, name: &str) -> Option<String> {
        self.call(
            "(s, n) => { const e = document.querySelector(s); return e ? e.getAttribute(n) : null; }",
            &[json!(selector), json!(name)],
        )
        .await
        .as_str()
        .map(str::to_string)
    }

    /// A DOM property of the first match (`value`, `checked`, `disabled`, `href`…), `null` if none.
    pub async fn prop(&self, selector: &str, name: &str) -> Value {
        self.call(
            "(s, n) => { const e = document.querySelector(s); return e ? e[n] : null; }",
            &[json!(selector), json!(name)],
        )
        .await
    }

    /// The whole HTML of the document.
    pub async fn html(&self) -> String {
        let v = self
            .call("() => document.documentElement.outerHTML", &[])
            .await;
        v.as_str().unwrap_or_default().to_string()
    }

    /// Fails unless `selector` matches; returns nothing (use for "this must be on the page").
    pub async fn expect(&self, selector: &str) {
        if !self.exists(selector).await {
            self.fail::<()>(&format!("expected an element matching {selector}"))
                .await;
        }
    }

    /// Waits until `selector` matches.
    pub async fn wait_for(&self, selector: &str) {
        self.wait_until(
            &format!("an element matching {selector}"),
            "(s) => document.readyState === 'complete' && !!document.querySelector(s)",
            &[json!(selector)],
        )
        .await;
    }

    /// Waits until the first of `selectors` matches; returns its index.
    pub async fn wait_for_any(&self, selectors: &[&str]) -> usize {
        let what = format!("one of {selectors:?}");
        let deadline = Instant::now() + WAIT;
        loop {
            for (i, s) in selectors.iter().enumerate() {
                let found = self
                    .try_call(
                        "(s) => document.readyState === 'complete' && !!document.querySelector(s)",
                        &[json!(s)],
                    )
                    .await;
                if found == Ok(Value::Bool(true)) {
                    return i;
                }
            }
            if Instant::now() > deadline {
                self.fail::<()>(&format!("timed out waiting for {what}"))
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls the JavaScript predicate `function(args…)` until it returns `true`. Errors while a
    /// new document loads count as "not yet".
    pub async fn wait_until(&self, what: &str, function: &str, args: &[Value]) {
        let deadline = Instant::now() + WAIT;
        loop {
            if self.try_call(function, args).await == Ok(Value::Bool(true)) {
                return;
            }
            if Instant::now() > deadline {
                self.fail::<()>(&format!("timed out waiting for {what}"))
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the current document has finished loading.
    pub async fn wait_loaded(&self) {
        self.wait_until(
            "the page to load",
            "() => document.readyState === 'complete'",
            &[],
        )
        .await;
    }

    /// Makes this the foreground tab with the page focus, as a user's click on the tab does.
    /// W3C "Switch To Window" (done by [`Tab::command`]) only directs the commands; headless
    /// Chromium keeps the focus (focus ring, caret, `document.hasFocus()`) on the first tab, so
    /// this also sends `Page.bringToFront` through chromedriver's one extension endpoint,
    /// `goog/cdp/execute` (plain JSON over the same HTTP session).
    pub async fn front(&self) {
        let front = self
            .command(
                Method::POST,
                "goog/cdp/execute",
                Some(json!({"cmd": "Page.bringToFront", "params": {}})),
            )
            .await;
        if let Err(e) = front {
            self.fail::<()>(&format!("bringing this tab to the front: {e}"))
                .await;
        }
    }

    /// A real mouse click on the first match (scrolled into view), in the foreground tab.
    pub async fn click(&self, selector: &str) {
        self.front().await;
        let element = self.element(selector, "click").await;
        if let Err(e) = self
            .command(
                Method::POST,
                &format!("element/{element}/click"),
                Some(json!({})),
            )
            .await
        {
            self.fail::<()>(&format!("clicking {selector}: {e}")).await;
        }
    }

    /// Clicks `selector` and waits until the click has loaded a NEW document (a form submit or a
    /// link), detected by a marker set on the old `window` that the new one lacks.
    pub async fn click_and_wait(&self, selector: &str) {
        self.call("() => { window.__ksefBrowserTestOldPage = true; }", &[])
            .await;
        self.click(selector).await;
        self.wait_until(
            &format!("a new page after clicking {selector}"),
            "() => window.__ksefBrowserTestOldPage === undefined && document.readyState === 'complete'",
            &[],
        )
        .await;
    }

    /// Sets the value of an input/textarea/select as typing would (fires `input` and `change`).
    pub async fn fill(&self, selector: &str, value: &str) {
        let ok = self
            .call(
                "(s, v) => { const e = document.querySelector(s); if (!e) return false; \
                 e.focus(); e.value = v; \
                 e.dispatchEvent(new Event('input', {bubbles: true})); \
                 e.dispatchEvent(new Event('change', {bubbles: true})); return e.value === v; }",
                &[json!(selector), json!(value)],
            )
            .await;
        if ok != Value::Bool(true) {
            self.fail::<()>(&format!("cannot fill {selector} with {value:?}"))
                .await;
        }
    }

    /// Types `text` into `selector` as keyboard input (after clearing it): WebDriver's "Element
    /// Send Keys" with the whole string, which focuses the element first.
    pub async fn type_into(&self, selector: &str, text: &str) {
        self.fill(selector, "").await;
        let element = self.element(selector, "type into").await;
        if let Err(e) = self
            .command(
                Method::POST,
                &format!("element/{element}/value"),
                Some(json!({"text": text})),
            )
            .await
        {
            self.fail::<()>(&format!("typing into {selector}: {e}"))
                .await;
        }
    }

    /// Puts `files` into the `<input type=file>` matching `selector`, as a user's file chooser
    /// does: WebDriver's "Element Send Keys" with the paths, one a line.
    pub async fn set_files(&self, selector: &str, files: &[&Path]) {
        for f in files {
            assert!(f.is_file(), "no file to upload at {}", f.display());
        }
        let element = self.element(selector, "choose files").await;
        let paths: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        if let Err(e) = self
            .command(
                Method::POST,
                &format!("element/{element}/value"),
                Some(json!({"text": paths.join("\n")})),
            )
            .await
        {
            self.fail::<()>(&format!("choosing files in {selector}: {e}"))
                .await;
        }
        let n = self.call(
            "(s) => { const e = document.querySelector(s); e.dispatchEvent(new Event('change', {bubbles: true})); return e.files.length; }",
            &[json!(selector)],
        )
        .await;
        assert_eq!(n, json!(files.len()), "files set on {selector}");
    }

    /// Messages of the JavaScript dialogs (`confirm`, `alert`) shown so far; all were accepted.
    pub fn dialogs(&self) -> Vec<String> {
        lock(&self.dialogs).clone()
    }

    /// `fetch(url)` from inside the page (so with its cookies): (status, Content-Disposition, body).
    pub async fn fetch(&self, url: &str) -> (u16, Option<String>, String) {
        let v = self
            .call(
                "async (u) => { const r = await fetch(u, {credentials: 'same-origin'}); \
                 return [r.status, r.headers.get('content-disposition'), await r.text()]; }",
                &[json!(url)],
            )
            .await;
        let status = v[0].as_u64().unwrap_or(0) as u16;
        let disposition = v[1].as_str().map(str::to_string);
        let body = v[2].as_str().unwrap_or_default().to_string();
        (status, disposition, body)
    }

    /// Waits until a finished download whose name satisfies `pred` is in the download dir (not
    /// among `before`); returns its path.
    pub async fn wait_download(
        &self,
        what: &str,
        before: &[PathBuf],
        pred: impl Fn(&str) -> bool,
    ) -> PathBuf {
        let deadline = Instant::now() + WAIT;
        loop {
            let found = list_dir(&self.downloads).into_iter().find(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                !before.contains(p) && !name.ends_with(".crdownload") && pred(name)
            });
            if let Some(p) = found {
                return p;
            }
            if Instant::now() > deadline {
                let present = list_dir(&self.downloads);
                self.fail::<()>(&format!(
                    "timed out waiting for the download of {what}; present: {present:?}"
                ))
                .await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The files in the download dir now.
    pub fn downloads(&self) -> Vec<PathBuf> {
        list_dir(&self.downloads)
    }

    /// Fails the test: saves a screenshot, prints where the page is and what it says.
    pub async fn fail<T>(&self, message: &str) -> T {
        let url = self
            .try_call("() => location.href", &[])
            .await
            .unwrap_or(Value::Null);
        let text = self
            .try_call("() => document.body ? document.body.innerText : ''", &[])
            .await
            .unwrap_or(Value::Null);
        let shot = screenshot_dir().join(format!("{}-FAILED.png", self.test));
        if let Ok(png) = self.png().await {
            let _ = std::fs::write(&shot, png);
        }
        panic!(
            "{message}\n  page: {url}\n  screenshot: {}\n  page text:\n{}",
            shot.display(),
            text.as_str().unwrap_or_default()
        );
    }
}

fn list_dir(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}
