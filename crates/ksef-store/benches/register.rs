//! Invoice register benchmark: `cargo bench -p ksef-store --bench register`.
//!
//! Fills a fresh store with `REGISTER_BENCH_INVOICES` (default 100 000) synthetic invoices of
//! one firm (70 % purchases from 2 000 sellers, 30 % sales; a year of issue dates; three
//! currencies; a ~2 KB file each, stored as the register stores files), then times listing
//! one page of 50 with the count and the totals per currency — the first page, a deep page, a
//! seller filter, a date filter, an amount filter, a text search, the offline invoices not
//! sent yet (1 % of the sales, issued offline) and the overdue ones — as the median and the
//! worst of 20 runs each. The goal is ≤ 50 ms per page; the bench fails above it.

use std::time::{Duration, Instant};

use ksef_core::offline::OfflineMode;
use ksef_store::{
    Direction, FirmId, InvoiceFilter, InvoiceRecord, InvoiceStatus, OfflineFilter, OfflineIssue,
    Store,
};
use time::macros::{date, datetime};

const PAGE: u32 = 50;
const RUNS: usize = 20;
const GOAL: Duration = Duration::from_millis(50);

fn record(n: u32) -> InvoiceRecord {
    let purchase = n % 10 < 7;
    let seller = if purchase {
        format!("{:010}", 1_000_000_000 + (n % 2000))
    } else {
        "5265877635".to_string()
    };
    let gross = i64::from((n * 7919) % 5_000_000) + 100;
    InvoiceRecord {
        direction: if purchase {
            Direction::Purchase
        } else {
            Direction::Sale
        },
        ksef_number: Some(format!("{seller}-20250826-{n:012X}-{:02X}", n % 256)),
        invoice_reference: None,
        session_reference: None,
        invoice_number: format!("FV/{n}/2025"),
        issue_date: date!(2025 - 01 - 01) + time::Duration::days(i64::from(n % 365)),
        seller_nip: seller,
        seller_name: Some(format!("Dostawca {} sp. z o.o.", n % 2000)),
        buyer_id_type: "Nip".into(),
        buyer_id: Some(if purchase {
            "5265877635".into()
        } else {
            format!("{:010}", 2_000_000_000 + n % 5000)
        }),
        buyer_name: Some(format!("Odbiorca {}", n % 5000)),
        net: Some(gross * 100 / 123),
        vat: Some(gross - gross * 100 / 123),
        gross: Some(gross),
        currency: ["PLN", "PLN", "PLN", "EUR", "USD"][(n % 5) as usize].into(),
        form_code: "FA (3)".into(),
        invoice_type: Some("Vat".into()),
        acquisition_date: Some(datetime!(2025-08-26 10:00 UTC)),
        invoicing_date: Some(datetime!(2025-08-26 09:59 UTC)),
        permanent_storage_date: Some(datetime!(2025-08-26 10:01 UTC)),
        offline: false,
        status: if purchase {
            InvoiceStatus::Received
        } else {
            InvoiceStatus::Accepted
        },
        status_code: None,
        status_description: None,
        status_details: vec![],
    }
}

async fn time_it(store: &Store, name: &str, filter: &InvoiceFilter, page: u32) -> Duration {
    let mut times = Vec::with_capacity(RUNS);
    let mut total = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        let p = store.list_invoices(filter, page, PAGE).await.expect("list");
        times.push(t.elapsed());
        total = p.total;
        assert!(!p.totals.is_empty() || p.total == 0);
    }
    times.sort();
    let median = times[RUNS / 2];
    let worst = times[RUNS - 1];
    println!(
        "{name:<34} | {total:>7} | {:>9.2} | {:>9.2}",
        median.as_secs_f64() * 1e3,
        worst.as_secs_f64() * 1e3
    );
    median
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let n: u32 = std::env::var("REGISTER_BENCH_INVOICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path(), None).await.expect("store");
    let firm: FirmId = store
        .register_of("http://127.0.0.1:8080/v2", "Nip:5265877635")
        .await
        .expect("firm");
    let filler = "x".repeat(2000);
    let t = Instant::now();
    for start in (0..n).step_by(1000) {
        let files: Vec<Vec<u8>> = (start..(start + 1000).min(n))
            .map(|i| format!("<Faktura n='{i}'>{filler}</Faktura>").into_bytes())
            .collect();
        let batch: Vec<(InvoiceRecord, &[u8])> = (start..(start + 1000).min(n))
            .zip(&files)
            .map(|(i, f)| (record(i), f.as_slice()))
            .collect();
        store
            .record_invoices(firm, &batch, None)
            .await
            .expect("record");
    }
    // 1 % of the sales issued offline and not sent yet (a tenth of the firm's sales per day
    // would be a lot); their deadlines spread over the year.
    let offline: Vec<(InvoiceRecord, OfflineIssue, Vec<u8>)> = (0..n)
        .filter(|i| i % 10 >= 7 && i % 100 == 7)
        .map(|i| {
            let mut r = record(i);
            r.ksef_number = None;
            let issue = OfflineIssue {
                mode: OfflineMode::Offline24,
                send_deadline: OfflineMode::Offline24
                    .sending_deadline(r.issue_date)
                    .expect("deadline"),
            };
            (
                r,
                issue,
                format!("<Faktura offline='{i}'>{filler}</Faktura>").into_bytes(),
            )
        })
        .collect();
    let pending = offline.len();
    let batch: Vec<(InvoiceRecord, OfflineIssue, &[u8])> = offline
        .iter()
        .map(|(r, o, f)| (r.clone(), *o, f.as_slice()))
        .collect();
    store
        .record_issued_offline(firm, &batch)
        .await
        .expect("record offline");
    let fill = t.elapsed();
    let size = std::fs::metadata(store.db_path())
        .map(|m| m.len())
        .unwrap_or(0);
    println!("{pending} of them issued offline, not sent yet");
    println!(
        "filled {n} invoices in {:.1} s ({:.0} invoices/s), database {} MB",
        fill.as_secs_f64(),
        f64::from(n) / fill.as_secs_f64(),
        size >> 20
    );
    println!(
        "{:<34} | {:>7} | {:>9} | {:>9}",
        "page of 50 + count + totals", "matches", "median ms", "worst ms"
    );
    let all = InvoiceFilter::new(firm);
    let purchases = InvoiceFilter {
        direction: Some(Direction::Purchase),
        ..all.clone()
    };
    let deep_page = (n / 2 / PAGE).max(1);
    let cases = [
        ("first page, all", all.clone(), 1),
        ("first page, purchases", purchases.clone(), 1),
        ("deep page (middle), all", all.clone(), deep_page),
        (
            "seller NIP",
            InvoiceFilter {
                seller_nip: Some("1000000042".into()),
                ..purchases.clone()
            },
            1,
        ),
        (
            "issue date: one month, purchases",
            InvoiceFilter {
                from: Some(date!(2025 - 03 - 01)),
                to: Some(date!(2025 - 03 - 31)),
                ..purchases.clone()
            },
            1,
        ),
        (
            "gross 1000.00–2000.00",
            InvoiceFilter {
                min_gross: Some(100_000),
                max_gross: Some(200_000),
                ..all.clone()
            },
            1,
        ),
        (
            "offline, not sent yet",
            InvoiceFilter {
                offline: Some(OfflineFilter::Pending),
                ..all.clone()
            },
            1,
        ),
        (
            "offline, overdue on 2025-07-01",
            InvoiceFilter {
                offline: Some(OfflineFilter::OverdueOn(date!(2025 - 07 - 01))),
                ..all.clone()
            },
            1,
        ),
        (
            "text \"FV/4242\", purchases",
            InvoiceFilter {
                text: Some("FV/4242".into()),
                ..purchases.clone()
            },
            1,
        ),
    ];
    let mut over = Vec::new();
    for (name, filter, page) in &cases {
        if time_it(&store, name, filter, *page).await > GOAL {
            over.push(*name);
        }
    }
    store.close().await;
    assert!(over.is_empty(), "over {GOAL:?}: {over:?}");
}
