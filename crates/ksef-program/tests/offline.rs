//! Offline invoicing through the program layer against a real in-process emulator: invoices
//! issued offline in each mode get their deadlines (holidays and weekends counted) and wait in
//! the register, overdue ones flagged; sending fills the same rows with KSeF numbers and KSeF
//! records them as offline; a rejected offline invoice is corrected technically and linked to
//! its original; what §13.1 forbids is refused before KSeF is asked, and what only KSeF can know
//! (a correction accepted through another installation: 21166; the corrected file accepted:
//! 21167) comes back as the same typed error.

mod common;

use std::path::{Path, PathBuf};

use base64::Engine as _;
use ksef_core::Nip;
use ksef_program::invoices::{self, QueryRequest};
use ksef_program::offline::{
    self, CorrectionField, CorrectionRefusal, CorrectionRequest, IssueRequest, OfflineMode,
    OfflineModeKind, OfflineSelection, OfflineSendEvent, OfflineSendRequest,
};
use ksef_program::register::{self, ListRequest, ListedInvoice, OfflineList};
use ksef_program::{App, ProgramError};

use common::{emulator, logged_in};
use ksef_store::{InvoiceKey, InvoiceStatus};
use ksef_wire::{InvoiceQueryDateType, InvoiceQuerySubjectType, InvoicingMode};
use time::macros::date;
use time::{Date, OffsetDateTime};

/// An FA(3) of seller `nip`, `P_2` = `FA/GRQMB-{number}/05/2025`, issued on `issued`.
fn fa3(nip: &Nip, number: &str, issued: Date) -> Vec<u8> {
    ksef_testkit::invoices::with_element_text(
        &ksef_testkit::invoices::fa3(nip.as_str(), number),
        "P_1",
        &issued.to_string(),
    )
}

/// [`fa3`] that fails the XSD (a creation timestamp that is not one) but reads as an invoice:
/// KSeF rejects it for a technical reason after the program's check was skipped.
fn fa3_broken(nip: &Nip, number: &str, issued: Date) -> Vec<u8> {
    ksef_testkit::invoices::with_element_text(
        &fa3(nip, number, issued),
        "DataWytworzeniaFa",
        "wczoraj",
    )
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

async fn listed(app: &mut App, offline: Option<OfflineList>) -> Vec<ListedInvoice> {
    let page = register::list(
        app,
        &ListRequest {
            offline,
            page: 1,
            page_size: 1000,
            ..ListRequest::default()
        },
    )
    .await
    .unwrap();
    page.invoices.iter().map(ListedInvoice::from).collect()
}

async fn send(app: &mut App, ids: Vec<i64>) -> (offline::OfflineSendTotals, Vec<String>) {
    let mut kinds = Vec::new();
    let mut req = OfflineSendRequest::pending();
    req.selection = OfflineSelection::Ids(ids);
    let totals = offline::send_offline(app, req, &mut |e| {
        if let OfflineSendEvent::SessionPlanned { kind, .. } = e {
            kinds.push(kind.to_string());
        }
    })
    .await
    .unwrap();
    (totals, kinds)
}

async fn metadata(app: &mut App) -> Vec<ksef_wire::InvoiceMetadata> {
    invoices::query(
        app,
        &QueryRequest {
            subject_type: InvoiceQuerySubjectType::Subject1,
            date_type: InvoiceQueryDateType::PermanentStorage,
            from: OffsetDateTime::now_utc() - time::Duration::hours(1),
            to: None,
            page_size: 100,
            limit: 1000,
        },
    )
    .await
    .unwrap()
    .invoices
}

fn refusal(e: ProgramError) -> (CorrectionRefusal, Option<u32>) {
    match e {
        ProgramError::TechnicalCorrectionRefused {
            reason, ksef_code, ..
        } => (reason, ksef_code),
        other => panic!("not a correction refusal: {other:?}"),
    }
}

#[tokio::test]
async fn offline_invoices_are_issued_sent_and_corrected_technically() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path()).await;
    let nip = Nip::random();
    let mut app = logged_in(emu.base_url(), dir.path().join("program"), &nip).await;
    let files = dir.path().join("faktury");
    std::fs::create_dir(&files).unwrap();
    let today = offline::today();
    // Sent today: issued yesterday (in any time zone the emulator may judge P_1 by).
    let yesterday = today - time::Duration::days(1);

    // --- Issue in each mode. 23 Dec 2026: offline24 is due on the 28th (24–26 Dec are public
    // holidays — 24 Dec from 2025 —, the 27th a Sunday); an unavailability ending on 31 Dec is
    // due on 4 Jan (New Year, a weekend); a failure ending on 4 Jan is due 7 business days
    // later, on 14 Jan (Epiphany on the 6th).
    let christmas = [
        ("OFF-24", OfflineMode::Offline24, date!(2026 - 12 - 28)),
        (
            "OFF-UNAV",
            OfflineMode::Unavailability {
                ends: date!(2026 - 12 - 31),
            },
            date!(2027 - 01 - 04),
        ),
        (
            "OFF-EMERG",
            OfflineMode::Emergency {
                ends: date!(2027 - 01 - 04),
            },
            date!(2027 - 01 - 14),
        ),
    ];
    let mut christmas_ids = Vec::new();
    for (number, mode, due) in christmas {
        let f = write(
            &files,
            &format!("{number}.xml"),
            &fa3(&nip, number, date!(2026 - 12 - 23)),
        );
        let issued = offline::issue_offline(&mut app, IssueRequest::new(vec![f], mode))
            .await
            .unwrap();
        assert_eq!(issued.len(), 1);
        let i = &issued[0];
        assert_eq!(i.send_deadline, due, "{number}");
        assert_eq!(i.mode, mode.kind());
        assert_eq!(i.mode_ends, mode.ends());
        assert_eq!(i.status, InvoiceStatus::Issued);
        assert!(!i.already_issued);
        assert_eq!(i.overdue, today > due);
        christmas_ids.push(i.id);
    }
    // Two to send: one long overdue, one issued yesterday (due today at the earliest).
    let late = write(
        &files,
        "late.xml",
        &fa3(&nip, "OFF-LATE", date!(2026 - 12 - 01)),
    );
    let fresh = write(&files, "fresh.xml", &fa3(&nip, "OFF-FRESH", yesterday));
    let issued = offline::issue_offline(
        &mut app,
        IssueRequest::new(vec![late.clone(), fresh.clone()], OfflineMode::Offline24),
    )
    .await
    .unwrap();
    assert_eq!(issued[0].send_deadline, date!(2026 - 12 - 02));
    assert!(issued[0].overdue);
    assert!(!issued[1].overdue && issued[1].send_deadline >= today);
    let (late_id, fresh_id) = (issued[0].id, issued[1].id);
    // The same file again is the same invoice (even named in another mode).
    let again = offline::issue_offline(
        &mut app,
        IssueRequest::new(
            vec![late.clone()],
            OfflineMode::Emergency {
                ends: date!(2026 - 12 - 05),
            },
        ),
    )
    .await
    .unwrap();
    assert!(again[0].already_issued);
    assert_eq!(again[0].id, late_id);
    assert_eq!(again[0].mode, OfflineModeKind::Offline24);

    // Refused before anything is recorded: another seller, a failure over before P_1, a file
    // failing the XSD.
    let before = listed(&mut app, None).await;
    let other = write(
        &files,
        "other.xml",
        &fa3(&Nip::random(), "OFF-OTHER", yesterday),
    );
    let err = offline::issue_offline(
        &mut app,
        IssueRequest::new(vec![fresh.clone(), other], OfflineMode::Offline24),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, ProgramError::SellerNotFirm { firm, .. } if *firm == format!("Nip:{nip}")),
        "{err:?}"
    );
    let err = offline::issue_offline(
        &mut app,
        IssueRequest::new(
            vec![late.clone()],
            OfflineMode::Emergency {
                ends: date!(2026 - 11 - 30),
            },
        ),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, ProgramError::OfflineDeadline { .. }),
        "{err:?}"
    );
    let broken = write(
        &files,
        "broken.xml",
        &fa3_broken(&nip, "OFF-BROKEN", date!(2026 - 12 - 01)),
    );
    let err = offline::issue_offline(
        &mut app,
        IssueRequest::new(vec![broken.clone()], OfflineMode::Offline24),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, ProgramError::LocalCheckFailed { .. }),
        "{err:?}"
    );
    assert_eq!(listed(&mut app, None).await, before);

    // A file sent online before cannot be issued offline as well.
    let online = write(&files, "online.xml", &fa3(&nip, "ON-1", yesterday));
    let totals = invoices::send(
        &mut app,
        invoices::SendRequest::new(vec![online.clone()]),
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!(totals.accepted, 1);
    let err = offline::issue_offline(
        &mut app,
        IssueRequest::new(vec![online], OfflineMode::Offline24),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            ProgramError::AlreadyInRegister {
                status: InvoiceStatus::Accepted,
                ksef_number: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
    let rows_before_sending = listed(&mut app, None).await;

    // --- The register: five waiting, the 1 Dec one overdue.
    let pending = listed(&mut app, Some(OfflineList::Pending)).await;
    assert_eq!(pending.len(), 5);
    assert!(pending.iter().all(|p| p.status == "issued"
        && p.offline
        && p.send_deadline.is_some()
        && p.ksef_number.is_none()));
    let overdue: Vec<i64> = listed(&mut app, Some(OfflineList::Overdue))
        .await
        .iter()
        .map(|p| p.id)
        .collect();
    let mut expected = vec![late_id];
    expected.extend(
        christmas_ids
            .iter()
            .zip(christmas)
            .filter(|(_, (_, _, due))| today > *due)
            .map(|(id, _)| *id),
    );
    let mut overdue_sorted = overdue.clone();
    overdue_sorted.sort();
    expected.sort();
    assert_eq!(overdue_sorted, expected);
    let json = serde_json::to_value(pending.iter().find(|p| p.id == christmas_ids[1])).unwrap();
    assert_eq!(json["offlineMode"], "unavailability", "{json}");
    assert_eq!(json["offlineModeEnds"], "2026-12-31");
    assert_eq!(json["sendDeadline"], "2027-01-04");
    assert_eq!(json["status"], "issued");
    assert!(json["overdue"].is_boolean());

    // --- Send the two dated in the past (the Christmas ones would be refused for a future
    // P_1): offlineMode, the same rows.
    let (totals, kinds) = send(&mut app, vec![late_id, fresh_id]).await;
    assert_eq!((totals.accepted, totals.failed), (2, 0), "{totals:?}");
    assert_eq!(kinds, ["Online"]);
    let all = listed(&mut app, None).await;
    assert_eq!(
        all.len(),
        rows_before_sending.len(),
        "no second row: {all:#?}"
    );
    let sent_late = all.iter().find(|i| i.id == late_id).unwrap();
    assert_eq!(sent_late.status, "accepted");
    assert!(sent_late.offline && !sent_late.overdue);
    assert_eq!(sent_late.send_deadline.as_deref(), Some("2026-12-02"));
    let late_ksef = sent_late.ksef_number.clone().unwrap();
    assert!(late_ksef.starts_with(nip.as_str()));
    assert_eq!(listed(&mut app, Some(OfflineList::Pending)).await.len(), 3);
    // One issued offline and sent with the ordinary `invoice send --offline` is that invoice
    // too: its own row is filled.
    let via_send = write(
        &files,
        "via-send.xml",
        &fa3(&nip, "OFF-VIA-SEND", yesterday),
    );
    let via_id = offline::issue_offline(
        &mut app,
        IssueRequest::new(vec![via_send.clone()], OfflineMode::Offline24),
    )
    .await
    .unwrap()[0]
        .id;
    let mut req = invoices::SendRequest::new(vec![via_send]);
    req.offline = true;
    let totals = invoices::send(&mut app, req, &mut |_| {}).await.unwrap();
    assert_eq!(totals.accepted, 1);
    let rows = listed(&mut app, None).await;
    assert_eq!(rows.len(), rows_before_sending.len() + 1, "{rows:#?}");
    let via = rows.iter().find(|r| r.id == via_id).unwrap();
    assert_eq!(via.status, "accepted");
    assert!(via.ksef_number.is_some() && via.offline_mode == Some("offline24"));
    // Sending a sent one again is refused.
    let mut req = OfflineSendRequest::pending();
    req.selection = OfflineSelection::Ids(vec![late_id]);
    let err = offline::send_offline(&mut app, req, &mut |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ProgramError::NotPendingOffline {
                status: InvoiceStatus::Accepted,
                ..
            }
        ),
        "{err:?}"
    );
    // KSeF's metadata: invoicing mode Offline.
    let meta = metadata(&mut app).await;
    let m = meta.iter().find(|m| m.ksef_number == late_ksef).unwrap();
    assert_eq!(m.invoicing_mode.known(), Some(InvoicingMode::Offline));

    // --- Technical correction. An offline invoice KSeF rejects for a technical reason (the
    // program's XSD check skipped, as for a file made elsewhere).
    let mut req = IssueRequest::new(vec![broken.clone()], OfflineMode::Offline24);
    req.validate = false;
    let broken_id = offline::issue_offline(&mut app, req).await.unwrap()[0].id;
    let (totals, _) = send(&mut app, vec![broken_id]).await;
    assert_eq!((totals.accepted, totals.failed), (0, 1));
    let rejected = listed(&mut app, None)
        .await
        .into_iter()
        .find(|i| i.id == broken_id)
        .unwrap();
    assert_eq!(rejected.status, "rejected", "{rejected:#?}");
    let broken_ref = rejected.invoice_reference.clone().unwrap();

    // Refused locally: another invoice number, the rejected file itself, an accepted original,
    // an invoice not sent yet.
    let other_number = write(
        &files,
        "other-number.xml",
        &fa3(&nip, "OFF-BROKEN-2", date!(2026 - 12 - 01)),
    );
    let err = offline::correct_technically(
        &mut app,
        CorrectionRequest::new(InvoiceKey::Id(broken_id), other_number),
    )
    .await
    .unwrap_err();
    assert!(matches!(
        refusal(err),
        (
            CorrectionRefusal::DifferentInvoice {
                field: CorrectionField::InvoiceNumber,
                ..
            },
            None
        )
    ),);
    let mut same = CorrectionRequest::new(InvoiceKey::Id(broken_id), broken.clone());
    same.validate = false;
    let err = offline::correct_technically(&mut app, same)
        .await
        .unwrap_err();
    assert_eq!(refusal(err), (CorrectionRefusal::SameFile, None));
    let err = offline::correct_technically(
        &mut app,
        CorrectionRequest::new(InvoiceKey::KsefNumber(late_ksef.clone()), late.clone()),
    )
    .await
    .unwrap_err();
    assert_eq!(
        refusal(err),
        (
            CorrectionRefusal::OriginalAccepted {
                ksef_number: Some(late_ksef.clone())
            },
            None
        )
    );
    let err = offline::correct_technically(
        &mut app,
        CorrectionRequest::new(InvoiceKey::Id(christmas_ids[0]), late.clone()),
    )
    .await
    .unwrap_err();
    assert_eq!(refusal(err), (CorrectionRefusal::NotSent, None));

    // The correction: the same invoice in a valid file, by the rejected one's reference.
    let fixed_bytes = fa3(&nip, "OFF-BROKEN", date!(2026 - 12 - 01));
    let fixed = write(&files, "fixed.xml", &fixed_bytes);
    let done = offline::correct_technically(
        &mut app,
        CorrectionRequest::new(InvoiceKey::Reference(broken_ref.clone()), fixed.clone()),
    )
    .await
    .unwrap();
    assert!(done.accepted(), "{done:#?}");
    assert_eq!(done.original_id, broken_id);
    let broken_sha = ksef_crypto::sha256(&std::fs::read(&broken).unwrap());
    let expected_hash = base64::engine::general_purpose::STANDARD.encode(broken_sha);
    assert_eq!(done.hash_of_corrected_invoice, expected_hash);
    assert_eq!(done.hash_of_corrected_invoice.len(), 44);
    let correction = listed(&mut app, None)
        .await
        .into_iter()
        .find(|i| i.id == done.correction_id.unwrap())
        .unwrap();
    assert_eq!(correction.corrects, Some(broken_id));
    assert_eq!(correction.status, "accepted");
    assert!(correction.offline);
    let correction_ksef = correction.ksef_number.clone().unwrap();
    let corrections = offline::corrections_of(&mut app, None, &InvoiceKey::Id(broken_id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(corrections, std::slice::from_ref(&correction));
    assert!(
        offline::corrections_of(&mut app, None, &InvoiceKey::Id(999_999))
            .await
            .unwrap()
            .is_none()
    );
    let firm = register::current_firm(&mut app).await.unwrap();
    let (_, stored) = app
        .store()
        .await
        .unwrap()
        .invoice(firm, &InvoiceKey::Id(done.correction_id.unwrap()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, fixed_bytes);
    // KSeF: an offline invoice naming the corrected file's hash.
    let meta = metadata(&mut app).await;
    let m = meta
        .iter()
        .find(|m| m.ksef_number == correction_ksef)
        .unwrap();
    assert_eq!(m.invoicing_mode.known(), Some(InvoicingMode::Offline));
    assert_eq!(
        m.hash_of_corrected_invoice.as_deref(),
        Some(expected_hash.as_str())
    );

    // A second correction: refused here (the register knows the first), naming it.
    let fixed_again = write(
        &files,
        "fixed-again.xml",
        &[fixed_bytes.as_slice(), b"\n"].concat(),
    );
    let err = offline::correct_technically(
        &mut app,
        CorrectionRequest::new(InvoiceKey::Id(broken_id), fixed_again.clone()),
    )
    .await
    .unwrap_err();
    assert_eq!(
        refusal(err),
        (
            CorrectionRefusal::AlreadyCorrected {
                correction: Some(correction_ksef.clone())
            },
            None
        )
    );
    // Correcting the correction: refused, pointing at the original.
    let err = offline::correct_technically(
        &mut app,
        CorrectionRequest::new(
            InvoiceKey::Id(done.correction_id.unwrap()),
            fixed_again.clone(),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(
        refusal(err),
        (
            CorrectionRefusal::IsACorrection {
                original: broken_id
            },
            None
        )
    );

    // --- What only KSeF knows: another installation of the program (its own register) for
    // the same firm sends the same broken file (rejected again) and corrects it → 21166; and
    // re-sends the accepted `late` file (a duplicate, rejected) and corrects that → 21167.
    let mut other = logged_in(emu.base_url(), dir.path().join("other"), &nip).await;
    let mut req = IssueRequest::new(vec![broken.clone(), late.clone()], OfflineMode::Offline24);
    req.validate = false;
    let ids: Vec<i64> = offline::issue_offline(&mut other, req)
        .await
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    let (totals, _) = send(&mut other, ids.clone()).await;
    assert_eq!((totals.accepted, totals.failed), (0, 2));
    let rows = listed(&mut other, None).await;
    let dup = rows.iter().find(|r| r.id == ids[1]).unwrap();
    assert_eq!((dup.status, dup.status_code), ("rejected", Some(440)));
    let err = offline::correct_technically(
        &mut other,
        CorrectionRequest::new(InvoiceKey::Id(ids[0]), fixed_again),
    )
    .await
    .unwrap_err();
    assert_eq!(
        refusal(err),
        (
            CorrectionRefusal::AlreadyCorrected { correction: None },
            Some(21166)
        )
    );
    let late_again = write(
        &files,
        "late-again.xml",
        &[std::fs::read(&late).unwrap().as_slice(), b"\n"].concat(),
    );
    let err = offline::correct_technically(
        &mut other,
        CorrectionRequest::new(InvoiceKey::Id(ids[1]), late_again),
    )
    .await
    .unwrap_err();
    assert_eq!(
        refusal(err),
        (
            CorrectionRefusal::OriginalAccepted { ksef_number: None },
            Some(21167)
        )
    );
    // Nothing of the refused corrections was recorded.
    assert_eq!(listed(&mut other, None).await.len(), 2);

    // --- An invoice dated after today is held back (KSeF would reject it), still waiting.
    let future = write(
        &files,
        "future.xml",
        &fa3(&nip, "OFF-FUTURE", today + time::Duration::days(30)),
    );
    let future_id = offline::issue_offline(
        &mut app,
        IssueRequest::new(vec![future], OfflineMode::Offline24),
    )
    .await
    .unwrap()[0]
        .id;
    let mut req = OfflineSendRequest::pending();
    req.selection = OfflineSelection::Ids(vec![future_id]);
    let mut held = Vec::new();
    let totals = offline::send_offline(&mut app, req, &mut |e| {
        if let OfflineSendEvent::HeldBack { id, .. } = e {
            held.push(id);
        }
    })
    .await
    .unwrap();
    assert_eq!(held, [future_id]);
    assert_eq!((totals.held_back, totals.sessions), (1, 0));
    assert!(
        listed(&mut app, Some(OfflineList::Pending))
            .await
            .iter()
            .any(|r| r.id == future_id)
    );

    // --- The KOD II link (filled by the QR code's maker) is kept on the row.
    let link = "https://qr-test.ksef.mf.gov.pl/certificate/Nip/x";
    assert!(
        offline::set_kod2_link(
            &mut app,
            None,
            &InvoiceKey::Id(christmas_ids[0]),
            Some(link)
        )
        .await
        .unwrap()
    );
    let row = listed(&mut app, Some(OfflineList::Pending))
        .await
        .into_iter()
        .find(|r| r.id == christmas_ids[0])
        .unwrap();
    assert_eq!(row.kod2_link.as_deref(), Some(link));
    emu.shutdown().await;
}

#[tokio::test]
async fn many_offline_invoices_go_in_a_batch_session() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path()).await;
    let nip = Nip::random();
    let mut app = logged_in(emu.base_url(), dir.path().join("program"), &nip).await;
    let limits = invoices::limits(&mut app).await.unwrap();
    let count = invoices::online_capacity(&limits) + 1;
    let files = dir.path().join("faktury");
    std::fs::create_dir(&files).unwrap();
    let yesterday = offline::today() - time::Duration::days(1);
    for n in 0..count {
        write(
            &files,
            &format!("b{n:03}.xml"),
            &fa3(&nip, &format!("OFF-B{n}"), yesterday),
        );
    }
    let issued = offline::issue_offline(
        &mut app,
        IssueRequest::new(
            vec![files.clone()],
            OfflineMode::Emergency { ends: yesterday },
        ),
    )
    .await
    .unwrap();
    assert_eq!(issued.len(), count);
    let mut kinds = Vec::new();
    let mut outcomes = 0;
    let totals = offline::send_offline(&mut app, OfflineSendRequest::pending(), &mut |e| match e {
        OfflineSendEvent::SessionPlanned { kind, .. } => kinds.push(kind),
        OfflineSendEvent::Outcome(_) => outcomes += 1,
        _ => {}
    })
    .await
    .unwrap();
    assert_eq!(kinds, ["Batch"], "more than an online session's worth");
    assert_eq!((totals.accepted, totals.failed), (count, 0));
    assert_eq!(outcomes, count);
    let all = listed(&mut app, None).await;
    assert_eq!(all.len(), count, "the same rows");
    assert!(all.iter().all(|r| r.status == "accepted"
        && r.offline_mode == Some("emergency")
        && r.ksef_number.is_some()));
    assert!(
        listed(&mut app, Some(OfflineList::Pending))
            .await
            .is_empty()
    );
    let meta = metadata(&mut app).await;
    assert_eq!(meta.len(), count);
    assert!(
        meta.iter()
            .all(|m| m.invoicing_mode.known() == Some(InvoicingMode::Offline))
    );
    // Nothing left in the data directory but the store (the outbox is gone).
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("program"))
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("offline-outbox")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    emu.shutdown().await;
}
