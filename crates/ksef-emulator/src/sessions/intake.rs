//! Group commit of online sends (issue 16): `POST /sessions/online/{ref}/invoices` hands its
//! checked, decoded row to ONE writer task, which commits whatever rows are queued in one
//! transaction (one fsync under `synchronous=FULL`) and then answers each waiting request. A
//! 202 is given only after the commit that holds its row, so it keeps meaning "survives a
//! `kill -9` and a machine crash".
//!
//! Per row, inside the group's transaction (the sessions read under the write lock) and in queue
//! order, the session's counter is taken exactly as a lone send would take it: `next_ordinal`
//! only while the session is still open (100) and below its `maxInvoices` limit. A row refused
//! there (the session was closed meanwhile, the limit is reached) gets its own error; the others
//! go on. The counters are then stored with one `UPDATE … FROM (VALUES …)` and the rows with
//! multi-row `INSERT`s: a handful of statements per group, whatever its size (every statement
//! is a round trip to the connection's thread). If any statement of the group fails, the whole
//! transaction is rolled back and the group is committed again row by row, each row inside its
//! own `SAVEPOINT`, so only the row that fails gets the error.
//!
//! The writer holds [`AppState::storage_writer`] while it commits, like the processor's commits
//! (a fair FIFO lock: neither starves the other), and works on a connection of its own (detached
//! from the pool, so it never waits behind readers for one).

use std::collections::{HashMap, HashSet};

use sqlx::{Connection as _, QueryBuilder, Sqlite, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use super::model;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::ms;

/// Most rows one group commits.
const MAX_GROUP: usize = 512;
/// Most ciphertext bytes one group commits (a row larger than this forms a group alone).
const MAX_GROUP_BYTES: usize = 32 << 20;
/// Rows per multi-row `INSERT` (10 parameters each, well under SQLite's parameter limit).
const INSERT_ROWS: usize = 256;

/// One checked invoice to queue in its session (status 100).
pub struct NewInvoice {
    pub session_ref: String,
    /// The session's `maxInvoices` (the context's online-session limit).
    pub max_invoices: i64,
    pub reference: String,
    pub invoice_hash: String,
    pub invoice_size: i64,
    pub ciphertext: Vec<u8>,
    pub offline_mode: bool,
    pub hash_of_corrected: Option<String>,
    pub invoicing_ms: i64,
}

/// Why a row was not queued although nothing failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The session is no longer open (its current status code).
    SessionStatus(i64),
    /// The session already holds `maxInvoices` invoices.
    InvoiceLimit,
    /// The session row is gone.
    SessionGone,
}

/// The answer to one row: its ordinal in the session, a refusal, or an error of its own.
pub type Outcome = ApiResult<Result<i64, Refused>>;

struct Pending {
    row: NewInvoice,
    reply: oneshot::Sender<Outcome>,
}

/// The queue of the writer: the sending side (used by the handlers) and the receiving side
/// until [`Intake::take_receiver`] hands it to the writer task.
pub struct Intake {
    tx: mpsc::UnboundedSender<Pending>,
    rx: std::sync::Mutex<Option<mpsc::UnboundedReceiver<Pending>>>,
}

impl Default for Intake {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Intake {
            tx,
            rx: std::sync::Mutex::new(Some(rx)),
        }
    }
}

/// The queue's receiving side, for [`writer`].
pub struct Receiver(mpsc::UnboundedReceiver<Pending>);

impl Intake {
    /// The receiving side, once (the writer task takes it when the engine starts).
    pub fn take_receiver(&self) -> Option<Receiver> {
        self.rx.lock().ok().and_then(|mut r| r.take()).map(Receiver)
    }

    /// Queues `row` and waits until the group holding it is committed (or refused it).
    pub async fn submit(&self, row: NewInvoice) -> Outcome {
        let (reply, answer) = oneshot::channel();
        let gone = || ApiError::internal("the invoice writer is not running");
        self.tx.send(Pending { row, reply }).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// The writer task: commits the queued rows group by group until the queue closes.
pub async fn writer(state: AppState, Receiver(mut rx): Receiver) {
    let mut conn: Option<SqliteConnection> = None;
    let mut group: Vec<Pending> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut bytes = first.row.ciphertext.len();
        group.push(first);
        while group.len() < MAX_GROUP && bytes < MAX_GROUP_BYTES {
            match rx.try_recv() {
                Ok(p) => {
                    bytes = bytes.saturating_add(p.row.ciphertext.len());
                    group.push(p);
                }
                Err(_) => break,
            }
        }
        let outcomes = commit_group(&state, &mut conn, &group).await;
        for (p, outcome) in group.drain(..).zip(outcomes) {
            // A request that went away meanwhile has nobody to answer; its row stays queued.
            let _ = p.reply.send(outcome);
        }
        state.sessions().wake();
    }
}

/// A dedicated connection for the writer, taken out of the pool.
async fn connection(state: &AppState) -> ApiResult<SqliteConnection> {
    let mut conn = state.pool().acquire().await?.detach();
    // Checkpoints run after the processor's passes (`engine::checkpoint`), never inside a
    // group's commit.
    sqlx::query("PRAGMA wal_autocheckpoint = 0")
        .execute(&mut conn)
        .await?;
    Ok(conn)
}

/// Commits one group; returns one outcome per row, in order.
async fn commit_group(
    state: &AppState,
    conn: &mut Option<SqliteConnection>,
    group: &[Pending],
) -> Vec<Outcome> {
    let _writer = state.storage_writer().lock().await;
    let c = match conn {
        Some(c) => c,
        None => match connection(state).await {
            Ok(c) => conn.insert(c),
            Err(e) => return group.iter().map(|_| Err(e.clone())).collect(),
        },
    };
    let now = ms(state.now());
    let rows: Vec<&NewInvoice> = group.iter().map(|p| &p.row).collect();
    match commit_together(c, &rows, now).await {
        Ok(outcomes) => outcomes,
        Err(e) => {
            if group.len() > 1 {
                tracing::warn!(error = %e, rows = group.len(),
                    "group commit of online invoices failed; committing its rows one by one");
            }
            match commit_row_by_row(c, &rows, now).await {
                Ok(outcomes) => outcomes,
                Err(e) => {
                    // Not a row's fault (e.g. the commit itself failed): every row gets the
                    // error, and the next group starts on a fresh connection.
                    tracing::error!(error = %e, rows = group.len(), "cannot commit online invoices");
                    *conn = None;
                    group.iter().map(|_| Err(e.clone())).collect()
                }
            }
        }
    }
}

/// Takes the next ordinal of the row's session (see the module docs).
async fn take_ordinal(
    conn: &mut SqliteConnection,
    row: &NewInvoice,
    now: i64,
) -> ApiResult<Result<i64, Refused>> {
    let ordinal: Option<i64> = sqlx::query_scalar(
        "UPDATE sessions SET next_ordinal = next_ordinal + 1, updated_ms = ? \
         WHERE reference_number = ? AND status_code = 100 AND next_ordinal <= ? \
         RETURNING next_ordinal - 1",
    )
    .bind(now)
    .bind(&row.session_ref)
    .bind(row.max_invoices)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(o) = ordinal {
        return Ok(Ok(o));
    }
    let status: Option<i64> =
        sqlx::query_scalar("SELECT status_code FROM sessions WHERE reference_number = ?")
            .bind(&row.session_ref)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(Err(match status {
        None => Refused::SessionGone,
        Some(100) => Refused::InvoiceLimit,
        Some(code) => Refused::SessionStatus(code),
    }))
}

/// The happy path, in a fixed handful of statements whatever the group's size: one transaction
/// reads the group's sessions under the write lock, gives out the ordinals in queue order (the
/// same rules as [`take_ordinal`]), stores the new counters in one `UPDATE` and the rows in
/// multi-row `INSERT`s. Any failure rolls the whole group back (the caller then goes row by row).
async fn commit_together(
    conn: &mut SqliteConnection,
    rows: &[&NewInvoice],
    now: i64,
) -> ApiResult<Vec<Outcome>> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let mut sessions: HashMap<&str, (i64, i64)> = HashMap::new();
    {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT reference_number, status_code, next_ordinal FROM sessions \
             WHERE reference_number IN (",
        );
        let mut list = qb.separated(", ");
        let mut asked = HashSet::new();
        for row in rows {
            if asked.insert(row.session_ref.as_str()) {
                list.push_bind(row.session_ref.clone());
            }
        }
        qb.push(")");
        let found: Vec<(String, i64, i64)> = qb.build_query_as().fetch_all(&mut *tx).await?;
        for (reference, status, next) in found {
            if let Some(r) = rows.iter().find(|r| r.session_ref == reference) {
                sessions.insert(r.session_ref.as_str(), (status, next));
            }
        }
    }
    let mut outcomes = Vec::with_capacity(rows.len());
    let mut queued: Vec<(&NewInvoice, i64)> = Vec::with_capacity(rows.len());
    for row in rows {
        let taken = match sessions.get_mut(row.session_ref.as_str()) {
            None => Err(Refused::SessionGone),
            Some((status, _)) if *status != 100 => Err(Refused::SessionStatus(*status)),
            Some((_, next)) if *next > row.max_invoices => Err(Refused::InvoiceLimit),
            Some((_, next)) => {
                let ordinal = *next;
                *next += 1;
                queued.push((row, ordinal));
                Ok(ordinal)
            }
        };
        outcomes.push(Ok(taken));
    }
    if !queued.is_empty() {
        let mut counters: Vec<(&str, i64)> = Vec::new();
        for (row, _) in &queued {
            let r = row.session_ref.as_str();
            if !counters.iter().any(|(c, _)| *c == r)
                && let Some((_, next)) = sessions.get(r)
            {
                counters.push((r, *next));
            }
        }
        let mut qb = QueryBuilder::<Sqlite>::new(
            "UPDATE sessions SET next_ordinal = v.column2, updated_ms = ",
        );
        qb.push_bind(now).push(" FROM (");
        qb.push_values(&counters, |mut b, (r, next)| {
            b.push_bind(r.to_string()).push_bind(*next);
        });
        qb.push(") AS v WHERE sessions.reference_number = v.column1");
        qb.build().execute(&mut *tx).await?;
        for part in queued.chunks(INSERT_ROWS) {
            insert(&mut tx, part).await?;
        }
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// The fallback: one transaction, each row in its own savepoint; a row that fails is rolled
/// back alone and answered with its error.
async fn commit_row_by_row(
    conn: &mut SqliteConnection,
    rows: &[&NewInvoice],
    now: i64,
) -> ApiResult<Vec<Outcome>> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let mut outcomes = Vec::with_capacity(rows.len());
    for row in rows {
        // A nested `begin` is a SAVEPOINT; dropping it uncommitted rolls back to it.
        let mut sp = tx.begin().await?;
        let result = async {
            let taken = take_ordinal(&mut sp, row, now).await?;
            if let Ok(ordinal) = taken {
                insert(&mut sp, &[(row, ordinal)]).await?;
            }
            ApiResult::Ok(taken)
        }
        .await;
        match result {
            Ok(taken) => {
                sp.commit().await?;
                outcomes.push(Ok(taken));
            }
            Err(e) => {
                sp.rollback().await?;
                tracing::warn!(invoice = %row.reference, session = %row.session_ref, error = %e,
                    "cannot queue an online invoice");
                outcomes.push(Err(e));
            }
        }
    }
    tx.commit().await?;
    Ok(outcomes)
}

async fn insert(conn: &mut SqliteConnection, rows: &[(&NewInvoice, i64)]) -> ApiResult<()> {
    let description = model::invoice_description(100);
    let mut qb = QueryBuilder::<Sqlite>::new(
        "INSERT INTO session_invoices(reference_number, session_ref, ordinal, invoice_hash, \
         invoice_size, encrypted_content, offline_mode, hash_of_corrected_invoice, status_code, \
         status_description, invoicing_ms) ",
    );
    qb.push_values(rows, |mut b, (row, ordinal)| {
        b.push_bind(row.reference.clone())
            .push_bind(row.session_ref.clone())
            .push_bind(*ordinal)
            .push_bind(row.invoice_hash.clone())
            .push_bind(row.invoice_size)
            .push_bind(row.ciphertext.clone())
            .push_bind(i64::from(row.offline_mode))
            .push_bind(row.hash_of_corrected.clone())
            .push("100")
            .push_bind(description.clone())
            .push_bind(row.invoicing_ms);
    });
    qb.build().execute(&mut *conn).await?;
    Ok(())
}
