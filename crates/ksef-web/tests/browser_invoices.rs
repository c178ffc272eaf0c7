//! Faktury zakupu in a real headless Chromium (against DOM-CONTRACT.md): the owner's token saved
//! on the administrator, another firm issues two invoices to ours on the embedded emulator,
//! "Pobierz z KSeF" with the progress page reloading itself until done, the purchases list with
//! totals, one invoice's visualisation and PDF, then (after one sales invoice sent, as /sesje
//! lists sending sessions only) the KSeF sessions list.
//! Screenshots: `<target>/screenshots/faktury-zakupu-*.png`.

mod common;

use common::chrome::Tab;
use common::firms::{issue_invoices, issue_invoices_from_new_firm, new_firm};
use common::ui::{ADMIN, NIP, admin_with_invoice_token, no_error, switch_firm, write_file};
use ksef_core::{ContextIdentifier, Nip};
use serde_json::json;

#[test]
fn faktury_zakupu_fetch_list_view_pdf_and_sessions() {
    common::chrome::run(|| async {
        // First start: the administrator; a token with invoice permissions saved on them.
        let (app, chrome, tab) = admin_with_invoice_token("faktury-zakupu").await;
        let scratch = chrome.scratch();

        // Another firm issues two invoices to ours.
        let ours: Nip = NIP.parse().expect("NIP");
        let (seller, sent) =
            issue_invoices_from_new_firm(&app.emulator(), &ours, &["201", "202"]).await;
        let numbers: Vec<String> = sent.into_iter().map(|(_, number)| number).collect();
        assert_eq!(numbers.len(), 2);

        // Faktury zakupu: empty until "Pobierz z KSeF".
        tab.click_and_wait("a#nav-purchases").await;
        tab.wait_for("form#sync-form").await;
        tab.expect("#purchases-empty").await;
        tab.screenshot("01-lista-pusta").await;
        tab.click_and_wait("#sync-start").await;
        tab.wait_for("#sync-status").await;
        tab.screenshot("02-pobieranie").await;
        // The page reloads itself (meta refresh) until the sync is done.
        tab.wait_for("#sync-status:not([data-state=running])").await;
        no_error(&tab, "Pobierz z KSeF").await;
        assert_eq!(
            tab.attr("#sync-status", "data-state").await.as_deref(),
            Some("done")
        );
        let status = tab.text("#sync-status").await.unwrap_or_default();
        assert!(status.contains("nowych faktur w rejestrze: 2"), "{status}");

        // The list: both invoices, with totals.
        tab.click_and_wait("a#back-to-purchases").await;
        tab.wait_for("#purchases-table").await;
        assert_eq!(tab.count("tr.purchase-row").await, 2);
        for n in &numbers {
            let sel = format!("tr.purchase-row[data-ksef-number=\"{n}\"]");
            tab.expect(&sel).await;
            let gross = tab
                .text(&format!("{sel} td.gross"))
                .await
                .unwrap_or_default();
            assert_eq!(gross, "53,63 zł", "{n}");
            let nip = tab
                .text(&format!("{sel} td.seller-nip"))
                .await
                .unwrap_or_default();
            assert_eq!(nip, seller.as_str());
        }
        let total = tab
            .text("tr.total-row[data-currency=PLN] td.gross")
            .await
            .unwrap_or_default();
        assert_eq!(total, "107,26 zł");
        assert_eq!(
            tab.text("#purchases-count").await.as_deref(),
            Some("Liczba faktur: 2")
        );
        tab.screenshot("03-lista").await;

        // One invoice: the visualisation names the seller and a line item.
        tab.click_and_wait(&format!(
            "tr.purchase-row[data-ksef-number=\"{}\"] td.number a",
            numbers[0]
        ))
        .await;
        tab.wait_for("#invoice-view").await;
        assert_eq!(
            tab.text("#invoice-ksef-number").await.as_deref(),
            Some(numbers[0].as_str())
        );
        let view = tab.text("#invoice-view").await.unwrap_or_default();
        assert!(view.contains("Elektrownia S.A."), "{view}");
        assert!(view.contains(seller.as_str()), "{view}");
        assert!(view.contains("Razem za energię czynną"), "{view}");
        tab.screenshot("04-faktura").await;

        // "Pobierz PDF" answers with a PDF (fetched in the page, with its cookie).
        let href = tab
            .prop("#download-pdf", "href")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(href.ends_with("/pdf"), "{href}");
        let pdf = tab
            .call(
                "async (u) => { const r = await fetch(u, {credentials: 'same-origin'}); \
                 const b = new Uint8Array(await r.arrayBuffer()); \
                 return [r.status, r.headers.get('content-type'), \
                         String.fromCharCode(...b.slice(0, 5)), b.length]; }",
                &[json!(href)],
            )
            .await;
        assert_eq!(pdf[0], json!(200), "{pdf}");
        assert_eq!(pdf[1], json!("application/pdf"), "{pdf}");
        assert_eq!(pdf[2], json!("%PDF-"), "{pdf}");
        assert!(pdf[3].as_u64().unwrap_or(0) > 1000, "{pdf}");

        // /sesje lists the firm's SENDING sessions (fetching purchases opens none that shows
        // there), so our firm sends one sales invoice first (Faktury sprzedaży).
        tab.click_and_wait("a#nav-sales").await;
        tab.wait_for("form#sales-form").await;
        let sale = write_file(
            &scratch,
            "sprzedaz-1.xml",
            &ksef_testkit::invoices::fa3(NIP, "S-1"),
        );
        tab.set_files("#sales-files", &[&sale]).await;
        tab.click_and_wait("#sales-send").await;
        tab.wait_for("#sales-job-state[data-running=false]").await;
        no_error(&tab, "Wysyłka").await;
        assert_eq!(tab.count("tr.job-row[data-state=accepted]").await, 1);

        // Sesje: at least one KSeF session.
        tab.click_and_wait("a#nav-sessions").await;
        tab.wait_for("#sessions-table").await;
        assert!(tab.count("tr.session-row").await >= 1);
        let kinds = tab.texts("tr.session-row td.kind").await;
        assert!(kinds.iter().any(|k| k == "interaktywna"), "{kinds:?}");
        tab.screenshot("sesje-01").await;

        chrome.close().await;
        app.web.shutdown().await;
    });
}

/// "Pobierz z KSeF" for the current firm until done, back to the list of `expected` rows.
async fn fetch(tab: &Tab, expected: usize) {
    tab.click_and_wait("#sync-start").await;
    tab.wait_for("#sync-status:not([data-state=running])").await;
    no_error(tab, "Pobierz z KSeF").await;
    assert_eq!(
        tab.attr("#sync-status", "data-state").await.as_deref(),
        Some("done")
    );
    tab.click_and_wait("a#back-to-purchases").await;
    tab.wait_for("#purchases-table").await;
    assert_eq!(tab.count("tr.purchase-row").await, expected);
}

/// The KSeF numbers of the purchases listed, sorted.
async fn listed(tab: &Tab) -> Vec<String> {
    let mut numbers: Vec<String> = tab
        .call(
            "() => [...document.querySelectorAll('tr.purchase-row')].map(r => r.dataset.ksefNumber)",
            &[],
        )
        .await
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default();
    numbers.sort();
    numbers
}

/// "Switching firms switches everything": one program user holds tokens for two firms; a
/// third firm issues two invoices to firm A and one to firm B. Purchases, sales, sessions and
/// the invoice page all follow the firm chosen in the header — each firm's "Pobierz z KSeF"
/// fetches with its own token into its own register, and an invoice of A is "not found" while
/// B is chosen. Screenshots: `dwie-firmy-faktury-*.png`.
#[test]
fn switching_the_firm_switches_purchases_sales_sessions_and_the_invoice_page() {
    common::chrome::run(|| async {
        let (app, chrome, tab) = admin_with_invoice_token("dwie-firmy-faktury").await;
        let scratch = chrome.scratch();
        let nip_a: Nip = NIP.parse().expect("NIP");
        let (firm_a, nip_b) = (format!("Nip:{NIP}"), new_firm("Bogdan", "Drugi"));
        let (nip_b, owner_b) = nip_b;
        let firm_b = format!("Nip:{}", nip_b.as_str());
        // Firm B's token, generated through the API and pasted on the administrator.
        let session_b = app
            .api
            .login_with_certificate(&owner_b, &ContextIdentifier::Nip(nip_b.clone()))
            .await
            .expect("firm B's owner logs in through the API");
        let (_, token_b) = app
            .api
            .generate_active_token(
                &session_b.access_token,
                &["InvoiceRead", "InvoiceWrite"],
                "Token firmy B",
            )
            .await;
        tab.click_and_wait("a#nav-users").await;
        tab.click_and_wait(&format!("tr.user-row[data-name=\"{ADMIN}\"] a.edit"))
            .await;
        tab.fill("textarea#token-field", &token_b).await;
        tab.click_and_wait("#save-user").await;
        no_error(&tab, "saving firm B's token").await;

        // A third firm issues two invoices to A and one to B.
        let (seller, owner_c) = new_firm("Cezary", "Trzeci");
        let emulator = app.emulator();
        let to_a: Vec<String> =
            issue_invoices(&emulator, &seller, &owner_c, &nip_a, &["A-1", "A-2"])
                .await
                .into_iter()
                .map(|(_, n)| n)
                .collect();
        let to_b: Vec<String> = issue_invoices(&emulator, &seller, &owner_c, &nip_b, &["B-1"])
            .await
            .into_iter()
            .map(|(_, n)| n)
            .collect();

        // Firm A: fetch its purchases, send one sale.
        tab.click_and_wait("a#nav-purchases").await;
        tab.wait_for("form#sync-form").await;
        switch_firm(&tab, &firm_a).await;
        fetch(&tab, 2).await;
        let mut expected_a = to_a.clone();
        expected_a.sort();
        assert_eq!(listed(&tab).await, expected_a);
        assert!(
            tab.text("#purchases-firm")
                .await
                .unwrap_or_default()
                .contains(NIP)
        );
        let id_a = tab
            .attr("tr.purchase-row", "data-id")
            .await
            .expect("a row id");
        tab.screenshot("01-zakupy-firmy-a").await;

        tab.click_and_wait("a#nav-sales").await;
        tab.wait_for("form#sales-form").await;
        let sale = write_file(
            &scratch,
            "sprzedaz-a.xml",
            &ksef_testkit::invoices::fa3(NIP, "SA-1"),
        );
        tab.set_files("#sales-files", &[&sale]).await;
        tab.click_and_wait("#sales-send").await;
        tab.wait_for("#sales-job-state[data-running=false]").await;
        no_error(&tab, "firm A's sale").await;
        assert_eq!(tab.count("tr.job-row[data-state=accepted]").await, 1);
        let sale_a = tab
            .text("tr.job-row td.ksef-number")
            .await
            .unwrap_or_default();
        tab.click_and_wait("a#back-to-sales").await;
        assert_eq!(tab.count("tr.sale-row").await, 1);
        tab.click_and_wait("a#nav-sessions").await;
        tab.wait_for("#sessions-table").await;
        let sessions_a = tab.count("tr.session-row").await;
        assert!(sessions_a >= 1);

        // Switch to B on the sessions page: everything is B's.
        switch_firm(&tab, &firm_b).await;
        assert!(
            !tab.exists("tr.session-row").await || {
                let kinds = tab.texts("tr.session-row td.kind").await;
                kinds.iter().all(|k| k != "interaktywna")
            },
            "firm B sent nothing: none of A's sending sessions may show"
        );
        tab.screenshot("02-sesje-firmy-b").await;
        tab.click_and_wait("a#nav-sales").await;
        tab.expect("#sales-empty").await;
        assert!(
            tab.text("#sales-firm")
                .await
                .unwrap_or_default()
                .contains(nip_b.as_str())
        );
        tab.screenshot("03-sprzedaz-firmy-b").await;
        tab.click_and_wait("a#nav-purchases").await;
        tab.expect("#purchases-empty").await;
        assert!(
            tab.text("#purchases-firm")
                .await
                .unwrap_or_default()
                .contains(nip_b.as_str())
        );
        fetch(&tab, 1).await;
        assert_eq!(listed(&tab).await, to_b);
        // The KSeF session now is B's (its own token): the banner names B only.
        let banner = tab.text("#ksef-session").await.unwrap_or_default();
        assert!(
            banner.contains(nip_b.as_str()) && !banner.contains(NIP),
            "{banner:?}"
        );
        tab.screenshot("04-zakupy-firmy-b").await;
        // A's invoice is not B's: "not found", none of A's data.
        tab.goto(&app.url(&format!("/faktury/{id_a}"))).await;
        tab.expect("#error").await;
        assert!(!tab.exists("#invoice-view").await);
        assert!(!tab.html().await.contains(&to_a[0]));
        tab.screenshot("05-faktura-innej-firmy").await;

        // Back to A: A's lists again, B's invoice nowhere.
        tab.click_and_wait("a#nav-purchases").await;
        switch_firm(&tab, &firm_a).await;
        assert_eq!(listed(&tab).await, expected_a);
        tab.click_and_wait("a#nav-sales").await;
        assert_eq!(tab.count("tr.sale-row").await, 1);
        assert_eq!(
            tab.attr("tr.sale-row", "data-ksef-number").await.as_deref(),
            Some(sale_a.as_str())
        );
        tab.goto(&app.url(&format!("/faktury/{id_a}"))).await;
        tab.wait_for("#invoice-view").await;
        tab.screenshot("06-z-powrotem-firma-a").await;

        chrome.close().await;
        app.web.shutdown().await;
    });
}
