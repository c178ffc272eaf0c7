//! Browser-test harness: drives a real headless Chromium (Debian `chromium`) over the DevTools
//! protocol with chromiumoxide — no driver process. Shared by `tests/browser*.rs`.
//!
//! Every helper panics with a readable message (these are tests); waits poll the page with a
//! deadline and, when they time out, save a screenshot and print the page's text first.

#![allow(dead_code)] // each test binary uses a different subset of the helpers

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chromiumoxide::Page;
use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::cdp::browser_protocol::browser::{
    SetDownloadBehaviorBehavior, SetDownloadBehaviorParams,
};
use chromiumoxide::cdp::browser_protocol::dom::SetFileInputFilesParams;
use chromiumoxide::cdp::browser_protocol::input::InsertTextParams;
use chromiumoxide::cdp::browser_protocol::page::{
    CaptureScreenshotFormat, EventJavascriptDialogOpening, HandleJavaScriptDialogParams,
};
use chromiumoxide::page::ScreenshotParams;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// Where the browser binary is looked for unless `KSEF_CHROMIUM` names another one.
pub const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";

/// How long a wait for the page may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(30);

/// How long one DevTools call (an evaluation, a screenshot) may take.
pub const STEP: Duration = Duration::from_secs(10);

/// Browser tests share a 2-core machine: they run one at a time (each starts its own Chromium).
static ONE_BROWSER_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs one browser test: serialized with the other browser tests of this binary, on its own
/// multi-threaded tokio runtime, with the process-wide rustls provider installed and Chromium
/// checked to exist first (a missing browser FAILS the test, it is never skipped).
pub fn run<F, Fut>(test: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    // A previous test's panic poisons the lock; the lock only orders tests, so carry on.
    let _turn = ONE_BROWSER_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // Pick rustls' provider (aws-lc-rs, reqwest's) explicitly, so that a second provider
    // entering the dependency tree can never make anything panic with "cannot determine the
    // process-level CryptoProvider" (ring was one, through rcgen, until ksef-crypto moved to
    // x509-cert).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    chromium_path();
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

/// A headless Chromium with a fresh profile and download dir; killed when dropped.
pub struct Chrome {
    browser: Browser,
    handler: JoinHandle<()>,
    test: String,
    profile: tempfile::TempDir,
    downloads: PathBuf,
}

impl Chrome {
    /// Starts Chromium for the test named `test` (the name prefixes its screenshots).
    pub async fn launch(test: &str) -> Chrome {
        let profile = tempfile::tempdir().expect("profile dir");
        let downloads = profile.path().join("downloads");
        std::fs::create_dir_all(&downloads).expect("downloads dir");
        let config = BrowserConfig::builder()
            .chrome_executable(chromium_path())
            .no_sandbox()
            .user_data_dir(profile.path().join("profile"))
            .window_size(1280, 1000)
            .viewport(None) // use the window size, not chromiumoxide's 800×600 emulation
            .launch_timeout(Duration::from_secs(60))
            .request_timeout(Duration::from_secs(60))
            .args([
                "disable-gpu",
                "disable-quic",
                "no-first-run",
                "disable-background-networking",
                "disable-component-update",
                "disable-sync",
                "disable-dev-shm-usage",
            ])
            .build()
            .unwrap_or_else(|e| panic!("Chromium configuration: {e}"));
        let (browser, mut handler) = Browser::launch(config).await.unwrap_or_else(|e| {
            panic!(
                "cannot start {}: {e} (run scripts/test.sh to install chromium)",
                chromium_path().display()
            )
        });
        // The handler drives the DevTools connection; it must be polled for anything to happen.
        let handler = tokio::spawn(async move { while handler.next().await.is_some() {} });
        browser
            .execute(
                SetDownloadBehaviorParams::builder()
                    .behavior(SetDownloadBehaviorBehavior::Allow)
                    .download_path(downloads.display().to_string())
                    .build()
                    .expect("download behaviour"),
            )
            .await
            .expect("Browser.setDownloadBehavior");
        Chrome {
            browser,
            handler,
            test: test.to_string(),
            profile,
            downloads,
        }
    }

    /// A new tab showing `about:blank`; JavaScript dialogs in it are accepted and recorded.
    pub async fn tab(&self) -> Tab {
        let page = self.browser.new_page("about:blank").await.expect("new tab");
        let dialogs = Arc::new(Mutex::new(Vec::new()));
        let mut events = page
            .event_listener::<EventJavascriptDialogOpening>()
            .await
            .expect("dialog listener");
        let (seen, on_page) = (Arc::clone(&dialogs), page.clone());
        let dialog_task = tokio::spawn(async move {
            while let Some(event) = events.next().await {
                seen.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(event.message.clone());
                let _ = on_page
                    .execute(HandleJavaScriptDialogParams::new(true))
                    .await;
            }
        });
        Tab {
            page,
            test: self.test.clone(),
            dialogs,
            dialog_task,
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

    /// Closes the browser and waits for the process to exit.
    pub async fn close(mut self) {
        let _ = self.browser.close().await;
        let _ = self.browser.wait().await;
        self.handler.abort();
    }
}

/// One browser tab.
pub struct Tab {
    page: Page,
    test: String,
    dialogs: Arc<Mutex<Vec<String>>>,
    dialog_task: JoinHandle<()>,
    downloads: PathBuf,
}

impl Drop for Tab {
    fn drop(&mut self) {
        self.dialog_task.abort();
    }
}

impl Tab {
    /// The chromiumoxide page, for anything the helpers do not cover.
    pub fn page(&self) -> &Page {
        &self.page
    }

    /// Opens `url` and waits until the document has loaded.
    pub async fn goto(&self, url: &str) {
        self.page
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
        self.wait_loaded().await;
    }

    /// Saves a full-page PNG as `<target>/screenshots/<test>-<step>.png`, prints and returns the path.
    pub async fn screenshot(&self, step: &str) -> PathBuf {
        let path = screenshot_dir().join(format!("{}-{step}.png", self.test));
        self.front().await;
        let png = self
            .page
            .screenshot(
                ScreenshotParams::builder()
                    .format(CaptureScreenshotFormat::Png)
                    .full_page(true)
                    .build(),
            )
            .await
            .unwrap_or_else(|e| panic!("screenshot {step}: {e}"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        println!("screenshot: {}", path.display());
        path
    }

    /// Calls the JavaScript function `function` with `args` (JSON values) in the page and returns
    /// its (awaited) result as JSON; `undefined` becomes `null`.
    pub async fn try_call(&self, function: &str, args: &[Value]) -> Result<Value, String> {
        let args = serde_json::to_string(args).map_err(|e| e.to_string())?;
        let expression = format!("({function})(...{args})");
        // A document that is still loading can hold an evaluation back; never wait forever.
        let result = tokio::time::timeout(STEP, self.page.evaluate_expression(expression))
            .await
            .map_err(|_| format!("no answer from the page within {STEP:?}"))?
            .map_err(|e| e.to_string())?;
        Ok(result.value().cloned().unwrap_or(Value::Null))
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

    /// Makes this the foreground tab: Chromium holds input events (and frames) of a background
    /// tab back, so a click there would never complete.
    pub async fn front(&self) {
        if let Err(e) = self.page.bring_to_front().await {
            self.fail::<()>(&format!("Page.bringToFront: {e}")).await;
        }
    }

    /// A real mouse click on the first match (scrolled into view), in the foreground tab.
    pub async fn click(&self, selector: &str) {
        self.front().await;
        let element = match self.page.find_element(selector).await {
            Ok(e) => e,
            Err(e) => {
                self.fail(&format!("no element {selector} to click: {e}"))
                    .await
            }
        };
        match tokio::time::timeout(STEP, element.click()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => self.fail::<()>(&format!("clicking {selector}: {e}")).await,
            Err(_) => {
                self.fail::<()>(&format!("clicking {selector}: no answer within {STEP:?}"))
                    .await
            }
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

    /// Types `text` into `selector` as keyboard input (after clearing it and clicking into it).
    pub async fn type_into(&self, selector: &str, text: &str) {
        self.fill(selector, "").await;
        let element = match self.page.find_element(selector).await {
            Ok(e) => e,
            Err(e) => {
                self.fail(&format!("no element {selector} to type into: {e}"))
                    .await
            }
        };
        if let Err(e) = element.click().await {
            self.fail::<()>(&format!("focusing {selector}: {e}")).await;
        }
        // `Input.insertText` (what an IME does) rather than per-key events: chromiumoxide's key
        // map has no Polish letters.
        if let Err(e) = self.page.execute(InsertTextParams::new(text)).await {
            self.fail::<()>(&format!("typing into {selector}: {e}"))
                .await;
        }
    }

    /// Puts `files` into the `<input type=file>` matching `selector` (CDP `DOM.setFileInputFiles`,
    /// what a user's file chooser does).
    pub async fn set_files(&self, selector: &str, files: &[&Path]) {
        for f in files {
            assert!(f.is_file(), "no file to upload at {}", f.display());
        }
        let element = match self.page.find_element(selector).await {
            Ok(e) => e,
            Err(e) => self.fail(&format!("no file input {selector}: {e}")).await,
        };
        let params = SetFileInputFilesParams::builder()
            .files(files.iter().map(|f| f.display().to_string()))
            .backend_node_id(element.backend_node_id)
            .build()
            .expect("DOM.setFileInputFiles params");
        if let Err(e) = self.page.execute(params).await {
            self.fail::<()>(&format!("DOM.setFileInputFiles on {selector}: {e}"))
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
        self.dialogs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
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
        let png = tokio::time::timeout(
            STEP,
            self.page.screenshot(
                ScreenshotParams::builder()
                    .format(CaptureScreenshotFormat::Png)
                    .full_page(true)
                    .build(),
            ),
        )
        .await;
        if let Ok(Ok(png)) = png {
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
