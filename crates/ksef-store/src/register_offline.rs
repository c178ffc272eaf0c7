//! The offline part of the invoice register (digest §13): invoices issued offline and not yet
//! sent, their sending, technical corrections, and the KOD II link.
//!
//! An invoice issued offline gets a row at once — status `issued`, no KSeF number and no
//! reference, its [`OfflineIssue`] (mode and sending deadline) — identified by its row id and,
//! for idempotency, by its file: issuing the same file again finds the same row. Sending fills
//! that row ([`Store::record_offline_sent`]), never a second one. A technical correction is a
//! row of its own linked to the rejected original ([`CorrectionOf`]).

use ksef_core::offline::{OfflineMode, OfflineModeKind};
use sqlx::{Row, Sqlite, SqliteConnection, Transaction};
use time::{Date, OffsetDateTime};

use crate::error::{Result, StoreError};
use crate::register::{
    COLUMNS, FirmId, InvoiceKey, InvoiceRecord, InvoiceStatus, RegisteredInvoice, find_id,
    opt_time, parse_date, read_row, upsert,
};
use crate::{Store, now_text};

/// How an invoice issued offline is to reach KSeF: the mode it was issued in and the last day
/// on which sending it is on time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfflineIssue {
    /// The mode, with the end of the announced unavailability or failure where it has one.
    pub mode: OfflineMode,
    /// The last day (in Poland) on which sending is on time.
    pub send_deadline: Date,
}

/// The invoice a technical correction corrects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorrectionOf {
    /// The original's row id.
    pub id: i64,
    /// SHA-256 of the original (rejected) file — what `hashOfCorrectedInvoice` carried.
    pub sha256: [u8; 32],
}

/// What [`Store::record_issued_offline`] did with one invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuedOffline {
    /// A new row, status [`InvoiceStatus::Issued`].
    New(i64),
    /// The register holds this file already (as it is: nothing was changed).
    Existing(Box<RegisteredInvoice>),
}

/// What KSeF said about an offline invoice that was sent ([`Store::record_offline_sent`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendingOutcome {
    /// KSeF number, once accepted.
    pub ksef_number: Option<String>,
    /// The invoice's reference number in its sending session.
    pub invoice_reference: Option<String>,
    /// The sending session's reference number.
    pub session_reference: Option<String>,
    /// [`InvoiceStatus::Sent`], [`Accepted`](InvoiceStatus::Accepted) or
    /// [`Rejected`](InvoiceStatus::Rejected).
    pub status: InvoiceStatus,
    pub status_code: Option<i32>,
    pub status_description: Option<String>,
    pub status_details: Vec<String>,
    /// When KSeF assigned the KSeF number.
    pub acquisition_date: Option<OffsetDateTime>,
}

impl Store {
    /// Records invoices issued offline, each with its file, in ONE transaction. A file the
    /// firm's register holds already is left as it is and reported as
    /// [`IssuedOffline::Existing`] (issuing the same file twice is one invoice); the others
    /// become rows of status [`InvoiceStatus::Issued`], offline, without KSeF number or
    /// reference (the record's status, keys and offline flag are not used).
    pub async fn record_issued_offline(
        &self,
        firm: FirmId,
        invoices: &[(InvoiceRecord, OfflineIssue, &[u8])],
    ) -> Result<Vec<IssuedOffline>> {
        let now = now_text()?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut out = Vec::with_capacity(invoices.len());
        for (r, issue, bytes) in invoices {
            let sha = ksef_crypto::sha256(bytes);
            if let Some(existing) = by_file(&mut tx, firm, &sha).await? {
                out.push(IssuedOffline::Existing(Box::new(existing)));
                continue;
            }
            let size = store_file(&mut tx, &sha, bytes).await?;
            let details = (!r.status_details.is_empty()).then(|| r.status_details.join("\n"));
            let id = sqlx::query(
                "INSERT INTO invoices (firm_id, direction, invoice_number, issue_date, \
                 seller_nip, seller_name, buyer_id_type, buyer_id, buyer_name, net, vat, gross, \
                 currency, form_code, invoice_type, offline, status, status_details, sha256, \
                 size, recorded_at, updated_at, offline_mode, offline_mode_ends, send_deadline) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 'issued', ?, ?, ?, ?, ?, \
                 ?, ?, ?)",
            )
            .bind(firm.0)
            .bind(r.direction.as_str())
            .bind(&r.invoice_number)
            .bind(r.issue_date.to_string())
            .bind(&r.seller_nip)
            .bind(&r.seller_name)
            .bind(&r.buyer_id_type)
            .bind(&r.buyer_id)
            .bind(&r.buyer_name)
            .bind(r.net)
            .bind(r.vat)
            .bind(r.gross)
            .bind(&r.currency)
            .bind(&r.form_code)
            .bind(&r.invoice_type)
            .bind(details)
            .bind(&sha[..])
            .bind(size)
            .bind(&now)
            .bind(&now)
            .bind(issue.mode.kind().as_str())
            .bind(issue.mode.ends().map(|d| d.to_string()))
            .bind(issue.send_deadline.to_string())
            .execute(&mut *tx)
            .await?
            .last_insert_rowid();
            out.push(IssuedOffline::New(id));
        }
        tx.commit().await?;
        Ok(out)
    }

    /// The firm's invoice whose file has this SHA-256 (an offline one first, else the oldest
    /// such row). Fast for offline invoices and for files the register does not hold; any
    /// other row is found by a scan of the firm's register.
    pub async fn invoice_by_file(
        &self,
        firm: FirmId,
        sha256: &[u8; 32],
    ) -> Result<Option<RegisteredInvoice>> {
        let mut conn = self.pool.acquire().await?;
        by_file(&mut conn, firm, sha256).await
    }

    /// Every invoice of the firm issued offline and not sent yet, the earliest deadline first.
    pub async fn pending_offline(&self, firm: FirmId) -> Result<Vec<RegisteredInvoice>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM invoices i INDEXED BY invoices_offline_pending \
             WHERE i.firm_id = ? AND i.status = 'issued' ORDER BY i.send_deadline, i.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(firm.0)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(read_row).collect()
    }

    /// Records what KSeF said about offline invoices that were sent (row id → outcome), in ONE
    /// transaction: the same rows get their reference, KSeF number and status. Should the
    /// register hold the KSeF number on another row already (a sync found the invoice in
    /// between), that row is merged into this one (its UPO and KSeF's dates kept).
    pub async fn record_offline_sent(
        &self,
        firm: FirmId,
        outcomes: &[(i64, SendingOutcome)],
    ) -> Result<()> {
        let now = now_text()?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for (id, o) in outcomes {
            if find_id(&mut tx, firm, &InvoiceKey::Id(*id))
                .await?
                .is_none()
            {
                return Err(StoreError::InvoiceNotFound { id: *id });
            }
            let keys = [
                o.ksef_number.clone().map(InvoiceKey::KsefNumber),
                o.invoice_reference.clone().map(InvoiceKey::Reference),
            ];
            for key in keys.into_iter().flatten() {
                if let Some(other) = find_id(&mut tx, firm, &key).await?
                    && other != *id
                {
                    absorb(&mut tx, *id, other).await?;
                }
            }
            let details = (!o.status_details.is_empty()).then(|| o.status_details.join("\n"));
            sqlx::query(
                "UPDATE invoices SET ksef_number = coalesce(?, ksef_number), \
                 invoice_reference = coalesce(?, invoice_reference), \
                 session_reference = coalesce(?, session_reference), status = ?, \
                 status_code = ?, status_description = ?, status_details = ?, \
                 acquisition_date = coalesce(?, acquisition_date), offline = 1, updated_at = ? \
                 WHERE id = ?",
            )
            .bind(&o.ksef_number)
            .bind(&o.invoice_reference)
            .bind(&o.session_reference)
            .bind(o.status.as_str())
            .bind(o.status_code)
            .bind(&o.status_description)
            .bind(details)
            .bind(opt_time(o.acquisition_date)?)
            .bind(&now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a technical correction sent to KSeF (it has an invoice reference, and a KSeF
    /// number once accepted) with its file, linked to the row `original` it corrects, in one
    /// transaction. Returns the correction's row id.
    pub async fn record_correction(
        &self,
        firm: FirmId,
        original: i64,
        record: &InvoiceRecord,
        bytes: &[u8],
    ) -> Result<i64> {
        if record.ksef_number.is_none() && record.invoice_reference.is_none() {
            return Err(StoreError::InvoiceUnidentified {
                invoice_number: record.invoice_number.clone(),
            });
        }
        let now = now_text()?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let corrected: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT sha256 FROM invoices WHERE firm_id = ? AND id = ?")
                .bind(firm.0)
                .bind(original)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(corrected) = corrected else {
            return Err(StoreError::InvoiceNotFound { id: original });
        };
        upsert(&mut tx, firm, record, bytes, &now).await?;
        let key = match (&record.ksef_number, &record.invoice_reference) {
            (Some(n), _) => InvoiceKey::KsefNumber(n.clone()),
            (None, Some(r)) => InvoiceKey::Reference(r.clone()),
            (None, None) => unreachable!("checked above"),
        };
        let id = find_id(&mut tx, firm, &key)
            .await?
            .ok_or_else(|| StoreError::Corrupt("the correction just recorded is gone".into()))?;
        sqlx::query(
            "UPDATE invoices SET corrects_id = ?, corrected_sha256 = ?, offline = 1 WHERE id = ?",
        )
        .bind(original)
        .bind(corrected)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The technical corrections recorded for the row `original`, oldest first.
    pub async fn corrections_of(
        &self,
        firm: FirmId,
        original: i64,
    ) -> Result<Vec<RegisteredInvoice>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM invoices i WHERE i.firm_id = ? AND i.corrects_id = ? \
             ORDER BY i.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(firm.0)
            .bind(original)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(read_row).collect()
    }

    /// Sets (or with `None` clears) the KOD II link of an invoice; `false` when the register
    /// has no such invoice.
    pub async fn set_kod2_link(
        &self,
        firm: FirmId,
        key: &InvoiceKey,
        link: Option<&str>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let Some(id) = find_id(&mut tx, firm, key).await? else {
            return Ok(false);
        };
        sqlx::query("UPDATE invoices SET kod2_link = ?, updated_at = ? WHERE id = ?")
            .bind(link)
            .bind(now_text()?)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }
}

async fn by_file(
    conn: &mut SqliteConnection,
    firm: FirmId,
    sha256: &[u8; 32],
) -> Result<Option<RegisteredInvoice>> {
    // Offline rows by their partial index; any other row only when the file is stored at all
    // (a primary-key probe), which for a file issued offline for the first time it is not.
    let offline = format!(
        "SELECT {COLUMNS} FROM invoices i INDEXED BY invoices_by_file \
         WHERE i.firm_id = ? AND i.sha256 = ? AND i.offline = 1 ORDER BY i.id LIMIT 1"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(offline))
        .bind(firm.0)
        .bind(&sha256[..])
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(row) = row {
        return read_row(&row).map(Some);
    }
    let stored: Option<i64> = sqlx::query_scalar("SELECT 1 FROM invoice_files WHERE sha256 = ?")
        .bind(&sha256[..])
        .fetch_optional(&mut *conn)
        .await?;
    if stored.is_none() {
        return Ok(None);
    }
    let any = format!(
        "SELECT {COLUMNS} FROM invoices i WHERE i.firm_id = ? AND i.sha256 = ? \
         ORDER BY i.id LIMIT 1"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(any))
        .bind(firm.0)
        .bind(&sha256[..])
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(read_row).transpose()
}

/// Stores a file (once per content); returns its size.
async fn store_file(
    tx: &mut Transaction<'static, Sqlite>,
    sha: &[u8; 32],
    bytes: &[u8],
) -> Result<i64> {
    crate::register::insert_files(tx, &[(sha, bytes)]).await?;
    Ok(i64::try_from(bytes.len()).unwrap_or(i64::MAX))
}

/// Before the row `from` is merged into `to` and deleted: what the offline workflow knows of
/// `from` (mode and deadline, KOD II link, the correction link) goes to `to` where `to` has
/// none, and corrections of `from` now correct `to`.
pub(crate) async fn carry_offline_columns(
    tx: &mut Transaction<'static, Sqlite>,
    from: i64,
    to: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE invoices AS t SET offline_mode = f.offline_mode, \
         offline_mode_ends = f.offline_mode_ends, send_deadline = f.send_deadline \
         FROM invoices AS f WHERE t.id = ?1 AND f.id = ?2 AND t.offline_mode IS NULL",
    )
    .bind(to)
    .bind(from)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE invoices AS t SET kod2_link = coalesce(t.kod2_link, f.kod2_link), \
         corrects_id = coalesce(t.corrects_id, f.corrects_id), \
         corrected_sha256 = CASE WHEN t.corrects_id IS NULL THEN f.corrected_sha256 \
             ELSE t.corrected_sha256 END \
         FROM invoices AS f WHERE t.id = ?1 AND f.id = ?2",
    )
    .bind(to)
    .bind(from)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE invoices SET corrects_id = ?1 WHERE corrects_id = ?2")
        .bind(to)
        .bind(from)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Merges the row `other` (the same invoice, found by KSeF number or reference) into `keep`
/// and deletes it: its UPO (unless `keep` has one), KSeF's dates where `keep` has none, its
/// offline columns and corrections.
async fn absorb(tx: &mut Transaction<'static, Sqlite>, keep: i64, other: i64) -> Result<()> {
    sqlx::query("UPDATE OR IGNORE invoice_upos SET invoice_id = ? WHERE invoice_id = ?")
        .bind(keep)
        .bind(other)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM invoice_upos WHERE invoice_id = ?")
        .bind(other)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "UPDATE invoices AS t SET \
         acquisition_date = coalesce(t.acquisition_date, f.acquisition_date), \
         invoicing_date = coalesce(t.invoicing_date, f.invoicing_date), \
         permanent_storage_date = coalesce(t.permanent_storage_date, f.permanent_storage_date), \
         invoice_type = coalesce(t.invoice_type, f.invoice_type) \
         FROM invoices AS f WHERE t.id = ?1 AND f.id = ?2",
    )
    .bind(keep)
    .bind(other)
    .execute(&mut **tx)
    .await?;
    carry_offline_columns(tx, other, keep).await?;
    // Its keys go first: `keep` takes them over in the caller's update.
    sqlx::query("DELETE FROM invoices WHERE id = ?")
        .bind(other)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The [`OfflineIssue`] columns of a row.
pub(crate) fn read_offline_issue(row: &sqlx::sqlite::SqliteRow) -> Result<Option<OfflineIssue>> {
    let Some(kind) = row.try_get::<Option<String>, _>("offline_mode")? else {
        return Ok(None);
    };
    let kind: OfflineModeKind = kind
        .parse()
        .map_err(|e| StoreError::Corrupt(format!("bad stored offline mode: {e}")))?;
    let ends = row
        .try_get::<Option<String>, _>("offline_mode_ends")?
        .as_deref()
        .map(|d| parse_date(d, "offline mode end"))
        .transpose()?;
    let mode = OfflineMode::new(kind, ends)
        .map_err(|e| StoreError::Corrupt(format!("bad stored offline mode: {e}")))?;
    let deadline: Option<String> = row.try_get("send_deadline")?;
    let deadline = deadline
        .ok_or_else(|| StoreError::Corrupt("an offline invoice without a deadline".into()))?;
    Ok(Some(OfflineIssue {
        mode,
        send_deadline: parse_date(&deadline, "sending deadline")?,
    }))
}

/// The [`CorrectionOf`] columns of a row.
pub(crate) fn read_correction(row: &sqlx::sqlite::SqliteRow) -> Result<Option<CorrectionOf>> {
    let Some(id) = row.try_get::<Option<i64>, _>("corrects_id")? else {
        return Ok(None);
    };
    let sha: Vec<u8> = row
        .try_get::<Option<Vec<u8>>, _>("corrected_sha256")?
        .ok_or_else(|| {
            StoreError::Corrupt("a technical correction without the corrected file's hash".into())
        })?;
    let sha256: [u8; 32] = sha
        .try_into()
        .map_err(|_| StoreError::Corrupt("a stored SHA-256 is not 32 bytes".into()))?;
    Ok(Some(CorrectionOf { id, sha256 }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::register::{Direction, InvoiceFilter, OfflineFilter};
    use time::macros::{date, datetime};

    fn sale(n: u32, issued: Date) -> InvoiceRecord {
        InvoiceRecord {
            direction: Direction::Sale,
            ksef_number: None,
            invoice_reference: None,
            session_reference: None,
            invoice_number: format!("OFF/{n}"),
            issue_date: issued,
            seller_nip: "5265877635".into(),
            seller_name: Some("Sprzedawca".into()),
            buyer_id_type: "Nip".into(),
            buyer_id: Some("1111111111".into()),
            buyer_name: Some("Nabywca".into()),
            net: Some(10_000),
            vat: Some(2_300),
            gross: Some(12_300),
            currency: "PLN".into(),
            form_code: "FA (3)".into(),
            invoice_type: Some("Vat".into()),
            acquisition_date: None,
            invoicing_date: None,
            permanent_storage_date: None,
            offline: true,
            status: InvoiceStatus::Issued,
            status_code: None,
            status_description: None,
            status_details: vec![],
        }
    }

    fn issue(mode: OfflineMode, issued: Date) -> OfflineIssue {
        OfflineIssue {
            mode,
            send_deadline: mode.sending_deadline(issued).unwrap(),
        }
    }

    async fn store() -> (tempfile::TempDir, Store, FirmId) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), None).await.unwrap();
        let firm = store
            .register_of("http://127.0.0.1:8080/v2", "Nip:5265877635")
            .await
            .unwrap();
        (dir, store, firm)
    }

    fn accepted(reference: &str, ksef: &str) -> SendingOutcome {
        SendingOutcome {
            ksef_number: Some(ksef.into()),
            invoice_reference: Some(reference.into()),
            session_reference: Some("20261208-SO-0000000001-01".into()),
            status: InvoiceStatus::Accepted,
            status_code: Some(200),
            status_description: Some("Sukces".into()),
            status_details: vec![],
            acquisition_date: Some(datetime!(2026-12-08 10:00 UTC)),
        }
    }

    async fn listed(store: &Store, filter: &InvoiceFilter) -> Vec<i64> {
        let page = store.list_invoices(filter, 1, 100).await.unwrap();
        assert_eq!(page.total as usize, page.invoices.len());
        page.invoices.iter().map(|i| i.id).collect()
    }

    #[tokio::test]
    async fn issued_offline_then_sent_is_one_row_and_lists_filter_pending_and_overdue() {
        let (_dir, store, firm) = store().await;
        let d23 = date!(2026 - 12 - 23);
        let files: Vec<Vec<u8>> = (0..3)
            .map(|n| format!("<F n='{n}'/>").into_bytes())
            .collect();
        let modes = [
            OfflineMode::Offline24,
            OfflineMode::Unavailability {
                ends: date!(2026 - 12 - 31),
            },
            OfflineMode::Emergency {
                ends: date!(2027 - 01 - 04),
            },
        ];
        let batch: Vec<_> = (0..3)
            .map(|n| {
                (
                    sale(n, d23),
                    issue(modes[n as usize], d23),
                    files[n as usize].as_slice(),
                )
            })
            .collect();
        let done = store.record_issued_offline(firm, &batch).await.unwrap();
        let ids: Vec<i64> = done
            .iter()
            .map(|d| match d {
                IssuedOffline::New(id) => *id,
                other => panic!("{other:?}"),
            })
            .collect();
        // The same file again is the same invoice, untouched (even with another mode).
        let again = store
            .record_issued_offline(
                firm,
                &[(sale(0, d23), issue(modes[2], d23), files[0].as_slice())],
            )
            .await
            .unwrap();
        let [IssuedOffline::Existing(existing)] = again.as_slice() else {
            panic!("{again:?}");
        };
        assert_eq!(existing.id, ids[0]);
        assert_eq!(existing.offline_issue, Some(issue(modes[0], d23)));
        assert_eq!(existing.record.status, InvoiceStatus::Issued);
        assert!(existing.record.offline);
        assert_eq!(existing.record.ksef_number, None);

        // The deadlines as stored: 28 Dec (24–26 Dec holidays, then a Sunday), 4 Jan, 14 Jan.
        let pending = store.pending_offline(firm).await.unwrap();
        let deadlines: Vec<_> = pending
            .iter()
            .map(|p| p.offline_issue.unwrap().send_deadline)
            .collect();
        assert_eq!(
            deadlines,
            [
                date!(2026 - 12 - 28),
                date!(2027 - 01 - 04),
                date!(2027 - 01 - 14)
            ]
        );
        assert_eq!(
            pending[1].offline_issue.unwrap().mode.ends(),
            Some(date!(2026 - 12 - 31))
        );

        let filter = |offline| InvoiceFilter {
            offline: Some(offline),
            ..InvoiceFilter::new(firm)
        };
        let mut all_pending = listed(&store, &filter(OfflineFilter::Pending)).await;
        all_pending.sort();
        assert_eq!(all_pending, ids);
        // Overdue the day after the deadline, not on it.
        assert!(
            listed(
                &store,
                &filter(OfflineFilter::OverdueOn(date!(2026 - 12 - 28)))
            )
            .await
            .is_empty()
        );
        assert_eq!(
            listed(
                &store,
                &filter(OfflineFilter::OverdueOn(date!(2026 - 12 - 29)))
            )
            .await,
            [ids[0]]
        );
        assert_eq!(
            listed(
                &store,
                &filter(OfflineFilter::OverdueOn(date!(2027 - 01 - 15)))
            )
            .await
            .len(),
            3
        );

        // Sent: the same rows get the KSeF numbers; no second row, nothing pending.
        store
            .record_offline_sent(
                firm,
                &[
                    (
                        ids[0],
                        accepted(
                            "20261208-EE-0000000001-01",
                            "5265877635-20261208-0100001AF629-AF",
                        ),
                    ),
                    (
                        ids[1],
                        SendingOutcome {
                            ksef_number: None,
                            status: InvoiceStatus::Rejected,
                            status_code: Some(450),
                            status_description: Some("Błąd weryfikacji".into()),
                            status_details: vec!["linia 3".into()],
                            acquisition_date: None,
                            ..accepted("20261208-EE-0000000002-01", "-")
                        },
                    ),
                ],
            )
            .await
            .unwrap();
        let all = store
            .list_invoices(&InvoiceFilter::new(firm), 1, 100)
            .await
            .unwrap();
        assert_eq!(all.total, 3);
        assert_eq!(
            listed(&store, &filter(OfflineFilter::Pending)).await,
            [ids[2]]
        );
        let (sent, bytes) = store
            .invoice(
                firm,
                &InvoiceKey::KsefNumber("5265877635-20261208-0100001AF629-AF".into()),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(sent.id, ids[0]);
        assert_eq!(bytes, files[0]);
        assert_eq!(sent.record.status, InvoiceStatus::Accepted);
        assert_eq!(
            sent.offline_issue,
            Some(issue(modes[0], d23)),
            "the deadline stays"
        );
        let rejected = all.invoices.iter().find(|i| i.id == ids[1]).unwrap();
        assert_eq!(rejected.record.status, InvoiceStatus::Rejected);
        assert_eq!(rejected.record.ksef_number, None);
        assert_eq!(rejected.record.status_details, ["linia 3"]);
        // A row of another firm is not this firm's to update.
        let other = store
            .register_of("http://127.0.0.1:8080/v2", "Nip:1111111111")
            .await
            .unwrap();
        let err = store
            .record_offline_sent(other, &[(ids[2], accepted("R", "K"))])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::InvoiceNotFound { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn a_sync_row_found_meanwhile_is_merged_into_the_offline_row() {
        let (_dir, store, firm) = store().await;
        let d = date!(2026 - 12 - 01);
        let file = b"<F offline/>".as_slice();
        let [IssuedOffline::New(id)] = store
            .record_issued_offline(
                firm,
                &[(sale(1, d), issue(OfflineMode::Offline24, d), file)],
            )
            .await
            .unwrap()[..]
        else {
            panic!()
        };
        store
            .set_kod2_link(
                firm,
                &InvoiceKey::Id(id),
                Some("https://qr-test.ksef.mf.gov.pl/certificate/x"),
            )
            .await
            .unwrap();
        // The sync stored the accepted invoice (KSeF metadata) before the sender recorded it.
        let ksef = "5265877635-20261208-0100001AF629-AF";
        let mut synced = sale(1, d);
        synced.ksef_number = Some(ksef.into());
        synced.status = InvoiceStatus::Received;
        synced.permanent_storage_date = Some(datetime!(2026-12-08 10:05 UTC));
        store
            .record_invoices(firm, &[(synced, file)], None)
            .await
            .unwrap();
        assert!(
            store
                .attach_upo(firm, &InvoiceKey::KsefNumber(ksef.into()), b"<UPO/>")
                .await
                .unwrap()
        );
        store
            .record_offline_sent(firm, &[(id, accepted("20261208-EE-0000000009-01", ksef))])
            .await
            .unwrap();
        let page = store
            .list_invoices(&InvoiceFilter::new(firm), 1, 10)
            .await
            .unwrap();
        assert_eq!(page.total, 1, "{:#?}", page.invoices);
        let row = &page.invoices[0];
        assert_eq!(row.id, id);
        assert!(row.has_upo, "the sync row's UPO moved");
        assert_eq!(
            row.record.permanent_storage_date,
            Some(datetime!(2026-12-08 10:05 UTC))
        );
        assert_eq!(row.record.status, InvoiceStatus::Accepted);
        assert_eq!(
            row.kod2_link.as_deref(),
            Some("https://qr-test.ksef.mf.gov.pl/certificate/x")
        );
        assert!(row.offline_issue.is_some());
    }

    #[tokio::test]
    async fn a_file_sent_online_is_found_by_its_hash_and_not_issued_again() {
        let (_dir, store, firm) = store().await;
        let d = date!(2026 - 12 - 01);
        let mut online = sale(1, d);
        online.offline = false;
        online.status = InvoiceStatus::Accepted;
        online.ksef_number = Some("5265877635-20261208-0100001AF629-AF".into());
        let file = b"<F online/>".as_slice();
        store
            .record_invoices(firm, &[(online, file)], None)
            .await
            .unwrap();
        let sha = ksef_crypto::sha256(file);
        let found = store.invoice_by_file(firm, &sha).await.unwrap().unwrap();
        assert!(!found.record.offline && found.offline_issue.is_none());
        // Another firm's register does not hold it (the file table is shared).
        let other = store
            .register_of("http://127.0.0.1:8080/v2", "Nip:1111111111")
            .await
            .unwrap();
        assert!(store.invoice_by_file(other, &sha).await.unwrap().is_none());
        // Issuing it offline finds the row as it is.
        let done = store
            .record_issued_offline(
                firm,
                &[(sale(1, d), issue(OfflineMode::Offline24, d), file)],
            )
            .await
            .unwrap();
        assert!(
            matches!(&done[..], [IssuedOffline::Existing(e)] if e.id == found.id && e.offline_issue.is_none()),
            "{done:?}"
        );
        let page = store
            .list_invoices(&InvoiceFilter::new(firm), 1, 10)
            .await
            .unwrap();
        assert_eq!(page.total, 1);
    }

    #[tokio::test]
    async fn a_technical_correction_is_linked_to_its_original() {
        let (_dir, store, firm) = store().await;
        let d = date!(2026 - 12 - 01);
        let original_file = b"<F broken/>".as_slice();
        let [IssuedOffline::New(original)] = store
            .record_issued_offline(
                firm,
                &[(sale(1, d), issue(OfflineMode::Offline24, d), original_file)],
            )
            .await
            .unwrap()[..]
        else {
            panic!()
        };
        assert!(
            store
                .corrections_of(firm, original)
                .await
                .unwrap()
                .is_empty()
        );
        let mut correction = sale(1, d);
        correction.invoice_reference = Some("20261208-EE-0000000005-01".into());
        correction.ksef_number = Some("5265877635-20261208-0100001AF62A-BB".into());
        correction.status = InvoiceStatus::Accepted;
        let id = store
            .record_correction(firm, original, &correction, b"<F fixed/>")
            .await
            .unwrap();
        let found = store.corrections_of(firm, original).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id, id);
        assert_eq!(
            found[0].corrects,
            Some(CorrectionOf {
                id: original,
                sha256: ksef_crypto::sha256(original_file)
            })
        );
        assert!(found[0].record.offline);
        assert_eq!(
            store
                .invoice_by_file(firm, &ksef_crypto::sha256(b"<F fixed/>"))
                .await
                .unwrap()
                .map(|i| i.id),
            Some(id)
        );
        // Unknown originals and unidentified corrections are refused.
        let err = store
            .record_correction(firm, 9999, &correction, b"x")
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::InvoiceNotFound { id: 9999 }),
            "{err:?}"
        );
        let err = store
            .record_correction(firm, original, &sale(2, d), b"y")
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::InvoiceUnidentified { .. }),
            "{err:?}"
        );
        assert!(
            !store
                .set_kod2_link(firm, &InvoiceKey::Id(9999), Some("x"))
                .await
                .unwrap()
        );
    }
}
