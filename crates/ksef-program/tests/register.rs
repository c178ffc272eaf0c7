//! The invoice register filled by the program against a real in-process emulator: sales
//! recorded on sending (accepted with KSeF numbers, a duplicate rejected with its code), a
//! sync run twice gives the same register, and a sync that fails half-way leaves the register
//! and its cursor consistent — the next run completes it.

mod common;

use std::path::PathBuf;

use ksef_client::invoicing_flows::{self, ExportedInvoice, SyncError, SyncOptions, SyncSink};
use ksef_core::Nip;
use ksef_program::invoices::{self, SendRequest};
use ksef_program::register::{self, ListRequest, ListedInvoice, RegisterSink};
use ksef_program::{App, ProgramError};

use common::{emulator, logged_in};
use ksef_store::{Direction, InvoiceKey, InvoiceStatus};
use ksef_wire::InvoiceQuerySubjectType;
use time::OffsetDateTime;

async fn listed(app: &mut App, direction: Option<Direction>) -> Vec<ListedInvoice> {
    let page = register::list(
        app,
        &ListRequest {
            direction,
            page: 1,
            page_size: 1000,
            ..ListRequest::default()
        },
    )
    .await
    .unwrap();
    page.invoices.iter().map(ListedInvoice::from).collect()
}

async fn send(app: &mut App, files: Vec<PathBuf>) {
    let mut req = SendRequest::new(files);
    req.validate = true;
    invoices::send(app, req, &mut |_| {}).await.unwrap();
}

/// Fails the package's last batch (the one that would move the cursor) after storing the
/// invoices of every batch before it without a cursor — what a `kill -9` between two
/// transactions leaves.
struct DiesBeforeTheCursor(RegisterSink);

impl SyncSink for DiesBeforeTheCursor {
    type Error = ProgramError;

    async fn checkpoint(
        &mut self,
        s: InvoiceQuerySubjectType,
    ) -> Result<Option<OffsetDateTime>, ProgramError> {
        self.0.checkpoint(s).await
    }

    async fn store(
        &mut self,
        s: InvoiceQuerySubjectType,
        invoices: Vec<ExportedInvoice>,
        checkpoint: Option<OffsetDateTime>,
    ) -> Result<u64, ProgramError> {
        if checkpoint.is_some() {
            // Half of the last batch made it in its own transaction, then the process died.
            let half = invoices.len() / 2;
            self.0.store(s, invoices[..half].to_vec(), None).await?;
            return Err(ProgramError::SessionExpired);
        }
        self.0.store(s, invoices, None).await
    }
}

#[tokio::test]
async fn sends_and_syncs_fill_the_register_consistently() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path()).await;
    let nip = Nip::random();
    let mut app = logged_in(emu.base_url(), dir.path().join("program"), &nip).await;

    // --- Sales recorded on sending: four accepted, then a duplicate number rejected (440).
    let files = dir.path().join("faktury");
    std::fs::create_dir(&files).unwrap();
    let mut paths = Vec::new();
    for n in 1..=4 {
        let p = files.join(format!("fv-{n}.xml"));
        std::fs::write(
            &p,
            ksef_testkit::invoices::fa3(nip.as_str(), &format!("REG-{n}")),
        )
        .unwrap();
        paths.push(p);
    }
    send(&mut app, paths.clone()).await;
    let dup = files.join("dup.xml");
    std::fs::write(&dup, ksef_testkit::invoices::fa3(nip.as_str(), "REG-1")).unwrap();
    let mut req = SendRequest::new(vec![dup.clone()]);
    req.validate = true;
    let totals = invoices::send(&mut app, req, &mut |_| {}).await.unwrap();
    assert_eq!(totals.failed, 1);

    let sales = listed(&mut app, Some(Direction::Sale)).await;
    assert_eq!(sales.len(), 5, "{sales:#?}");
    let accepted: Vec<_> = sales.iter().filter(|s| s.status == "accepted").collect();
    assert_eq!(accepted.len(), 4);
    for a in &accepted {
        assert!(a.ksef_number.as_deref().unwrap().starts_with(nip.as_str()));
        assert!(a.session_reference.is_some() && a.invoice_reference.is_some());
        assert_eq!(a.status_code, Some(200));
        assert!(a.acquisition_date.is_some());
        assert_eq!(a.seller.nip.as_deref(), Some(nip.as_str()));
        assert!(a.gross.is_some());
    }
    let rejected = sales.iter().find(|s| s.status == "rejected").unwrap();
    assert_eq!(rejected.status_code, Some(440), "{rejected:#?}");
    assert_eq!(rejected.ksef_number, None);
    assert!(rejected.invoice_number.contains("REG-1"), "{rejected:#?}");
    // The exact file is kept.
    let firm = register::current_firm(&mut app).await.unwrap();
    let key = InvoiceKey::KsefNumber(accepted[0].ksef_number.clone().unwrap());
    let (inv, bytes) = app
        .store()
        .await
        .unwrap()
        .invoice(firm, &key)
        .await
        .unwrap()
        .unwrap();
    let original = paths
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .find(|b| ksef_crypto::sha256(b) == inv.sha256)
        .unwrap();
    assert_eq!(bytes, original);

    // --- Sync twice: the same register; the sales sent are the rows the sync finds.
    let progress = invoicing_flows::no_progress();
    let first = invoices::sync(
        &mut app,
        None,
        vec![],
        None,
        Default::default(),
        progress.clone(),
    )
    .await
    .unwrap();
    assert_eq!(
        first.subjects[0].registered, 0,
        "already recorded on sending: {first:?}"
    );
    let after_first = listed(&mut app, None).await;
    let second = invoices::sync(
        &mut app,
        None,
        vec![],
        None,
        Default::default(),
        progress.clone(),
    )
    .await
    .unwrap();
    assert_eq!(second.subjects.iter().map(|s| s.registered).sum::<u64>(), 0);
    assert_eq!(listed(&mut app, None).await, after_first);
    let synced = after_first
        .iter()
        .find(|s| s.ksef_number == accepted[0].ksef_number)
        .unwrap();
    assert_eq!(
        synced.status, "accepted",
        "a sync does not downgrade a sale"
    );
    assert_eq!(synced.session_reference, accepted[0].session_reference);

    // --- A fresh register (another data dir): the sync dies before its cursor moves.
    let mut fresh = logged_in(emu.base_url(), dir.path().join("fresh"), &nip).await;
    let firm = register::current_firm(&mut fresh).await.unwrap();
    let store = fresh.store().await.unwrap().clone();
    let stored = fresh.session().await.unwrap();
    let mut session = stored.session;
    let options = SyncOptions {
        subject_types: vec![InvoiceQuerySubjectType::Subject1],
        temp_dir: Some(dir.path().to_path_buf()),
        ..SyncOptions::default()
    };
    let mut dying = DiesBeforeTheCursor(RegisterSink::new(store.clone(), firm));
    let err = invoicing_flows::sync_with(&fresh.client, &mut session, None, &mut dying, &options)
        .await
        .unwrap_err();
    assert!(matches!(err, SyncError::Sink(ProgramError::SessionExpired)));
    assert_eq!(
        store.sync_cursor(firm, "Subject1").await.unwrap(),
        None,
        "the cursor did not move"
    );
    let partial = listed(&mut fresh, None).await;
    assert_eq!(
        partial.len(),
        2,
        "half of the package, whole rows: {partial:#?}"
    );
    assert!(
        partial
            .iter()
            .all(|p| p.status == "received" && p.ksef_number.is_some())
    );
    // The next run completes it: every accepted sale once, the cursor set.
    let done = invoices::sync(
        &mut fresh,
        None,
        vec![InvoiceQuerySubjectType::Subject1],
        None,
        Default::default(),
        progress,
    )
    .await
    .unwrap();
    assert_eq!(done.subjects[0].registered, 2, "{done:?}");
    assert!(store.sync_cursor(firm, "Subject1").await.unwrap().is_some());
    let all = listed(&mut fresh, Some(Direction::Sale)).await;
    let mut numbers: Vec<_> = all.iter().filter_map(|s| s.ksef_number.clone()).collect();
    numbers.sort();
    let mut expected: Vec<_> = accepted
        .iter()
        .filter_map(|s| s.ksef_number.clone())
        .collect();
    expected.sort();
    assert_eq!(numbers, expected);
    assert!(
        all.iter()
            .all(|s| s.status == InvoiceStatus::Received.as_str())
    );
    emu.shutdown().await;
}
