//! Self-test of the browser harness (`tests/common/chrome.rs`) against a tiny page served by this test: a
//! real Chromium fills a form, uploads a file through WebDriver's "Element Send Keys", cannot tick a
//! disabled checkbox, downloads an attachment, fetches with the page's cookies and accepts a
//! `confirm()`. If this fails, the app's browser tests cannot be trusted either.

mod common;

use axum::extract::Multipart;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};

const PAGE: &str = r#"<!doctype html><html lang="pl"><head><meta charset="utf-8"><title>Strona testowa</title></head>
<body><h1 id="greeting">Dzień dobry</h1>
<form id="upload-form" method="post" action="/upload" enctype="multipart/form-data">
  <input name="who"> <input type="file" name="doc">
  <label><input type="checkbox" name="p" value="A"> A</label>
  <label><input type="checkbox" name="p" value="B" disabled> B <span class="reason">brak</span></label>
  <button id="send">Wyślij</button>
</form>
<a id="download" href="/file">pobierz</a>
<form id="danger" method="post" action="/delete" onsubmit="return confirm('Na pewno usunąć?')">
  <button id="del">Usuń</button>
</form>
<script>document.cookie = "sid=tajne; path=/";</script>
</body></html>"#;

async fn upload(mut form: Multipart) -> Html<String> {
    let mut parts = Vec::new();
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or_default().to_string();
        let file = field.file_name().map(str::to_string);
        let data = field.bytes().await.unwrap_or_default();
        match file {
            Some(f) => parts.push(format!("{name}={f}:{}", String::from_utf8_lossy(&data))),
            None => parts.push(format!("{name}={}", String::from_utf8_lossy(&data))),
        }
    }
    let shown = parts.join(";").replace('&', "&amp;").replace('<', "&lt;");
    Html(format!(
        "<!doctype html><meta charset=utf-8><p id=result>{shown}</p>"
    ))
}

async fn file(headers: axum::http::HeaderMap) -> impl IntoResponse {
    let cookie = headers
        .get(header::COOKIE)
        .and_then(|c| c.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (
        [
            (header::CONTENT_TYPE, "application/xml".to_string()),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"Wniosek_01-02-2026_10_11_12.xml\"".to_string(),
            ),
        ],
        format!("<Wniosek cookie=\"{cookie}\"/>"),
    )
}

#[test]
fn harness_drives_a_real_chromium() {
    common::chrome::run(|| async {
        let app = axum::Router::new()
            .route("/", get(|| async { Html(PAGE) }))
            .route("/upload", post(upload))
            .route("/file", get(file))
            .route(
                "/delete",
                post(|| async { Html("<!doctype html><p id=deleted>Usunięto</p>") }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, app).await });

        let chrome = common::chrome::Chrome::launch("harness").await;
        let tab = chrome.tab().await;
        tab.goto(&format!("{base}/")).await;
        assert_eq!(tab.text("#greeting").await.as_deref(), Some("Dzień dobry"));
        tab.screenshot("01-page").await;

        // Form: text, a real click on an enabled and on a disabled checkbox, a file.
        tab.type_into("input[name=who]", "Zażółć").await;
        tab.click("input[value=A]").await;
        tab.click("input[value=B]").await;
        assert_eq!(tab.prop("input[value=A]", "checked").await, true);
        assert_eq!(tab.prop("input[value=B]", "checked").await, false);
        let upload = chrome.scratch().join("dokument (1).xml");
        std::fs::write(&upload, "<podpisany/>").unwrap();
        tab.set_files("input[name=doc]", &[upload.as_path()]).await;
        tab.click_and_wait("#send").await;
        assert_eq!(
            tab.text("#result").await.as_deref(),
            Some("who=Zażółć;doc=dokument (1).xml:<podpisany/>;p=A")
        );
        tab.screenshot("02-uploaded").await;

        // Download by clicking a link: the file lands under the server's name.
        tab.goto(&format!("{base}/")).await;
        let before = tab.downloads();
        tab.click("#download").await;
        let got = tab
            .wait_download("the attachment", &before, |n| {
                n == "Wniosek_01-02-2026_10_11_12.xml"
            })
            .await;
        assert_eq!(
            std::fs::read_to_string(&got).unwrap(),
            "<Wniosek cookie=\"sid=tajne\"/>"
        );

        // fetch() from the page carries its cookies and shows the attachment name.
        let (status, disposition, body) = tab.fetch("/file").await;
        assert_eq!(status, 200);
        assert!(
            disposition
                .as_deref()
                .is_some_and(|d| d.contains("Wniosek_01-02-2026_10_11_12.xml")),
            "{disposition:?}"
        );
        assert_eq!(body, "<Wniosek cookie=\"sid=tajne\"/>");

        // confirm() is accepted and recorded.
        tab.click_and_wait("#del").await;
        tab.expect("#deleted").await;
        assert_eq!(tab.dialogs(), vec!["Na pewno usunąć?".to_string()]);
        tab.screenshot("03-confirmed").await;

        drop(tab);
        chrome.close().await;
        server.abort();
    });
}
