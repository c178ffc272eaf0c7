//! The processing engine: verification of invoices on blocking threads, duplicate detection,
//! KSeF numbers, the transactional commit of results, the online processor loop and the final
//! statuses of sessions (digest §10.3, §11, §20).
//!
//! Verification ([`verify_all`]) fans a chunk of invoices out over
//! `std::thread::available_parallelism()` blocking tasks (`ksef_invoice::verify` keeps its
//! compiled schemas per thread). A chunk is then committed ([`commit`]) in ONE transaction
//! while holding [`AppState::storage_writer`]: one query finds duplicates already stored, the
//! KSeF numbers and dates are assigned (`invoicingDate ≤ acquisitionDate <
//! permanentStorageDate`, the latter read under the lock), and every row is written with
//! multi-row `INSERT`s.
//!
//! A chunk is bounded by count ([`CHUNK`], `processing_chunk_size` for batches) AND by the total
//! size of its invoices (`processing_chunk_bytes`, [`crate::config::PROCESSING_CHUNK_BYTES`] by default; see
//! [`Chunker`]), so memory and the size of one transaction stay bounded even for 3 MB invoices.
//!
//! When the verifier itself fails ([`ksef_invoice::InvoiceError::Internal`]: the XSDs could not
//! be materialised or compiled), the invoice gets no verdict: it is [`Outcome::Deferred`], the
//! chunk is committed only up to the first deferred invoice ([`split_deferred`]) and the rest
//! is retried later — online invoices stay in status 100 for a later pass, a batch session stays
//! in 150 and is resumed (see [`super::batch::process`]).
//!
//! The online pass ([`online_loop`]) isolates sessions: a session whose invoices cannot be
//! processed (its row unreadable, its chunk failing to commit) is logged with its reference and
//! skipped for the rest of the pass, and the other sessions go on.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use ksef_core::{ContextIdentifier, KsefNumber, Nip};
use ksef_invoice::{FormCode, InvoiceError, InvoiceFacts};
use ksef_wire as wire;
use sha2::{Digest, Sha256};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::model::{self, Kind};
use super::upo;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{from_ms, ms};

/// Invoices per chunk by default (see [`crate::config::PROCESSING_CHUNK`]).
pub const CHUNK: usize = crate::config::PROCESSING_CHUNK;
/// Largest invoice without an attachment (digest §11).
#[cfg(test)]
const MAX_PLAIN_INVOICE: usize = 1_000_000;
/// Largest invoice with an attachment.
#[cfg(test)]
const MAX_INVOICE_WITH_ATTACHMENT: usize = 3_000_000;

/// What the invoices of one session are checked against.
#[derive(Debug)]
pub struct Rules {
    pub session_ref: String,
    pub kind: Kind,
    pub form: FormCode,
    pub context_type: String,
    pub context_value: String,
    /// The NIP of the context (Podmiot1 must carry it, else 410).
    pub context_nip: Option<String>,
    /// The context's NIP has the attachment consent (§11).
    pub attachment_consent: bool,
    /// Largest invoice without / with an attachment in this session (the context's limits,
    /// digest §15.3; 1 MB and 3 MB by default).
    pub max_plain_invoice: usize,
    pub max_invoice_with_attachment: usize,
}

impl Rules {
    pub async fn for_session(state: &AppState, s: &model::SessionRow) -> ApiResult<Rules> {
        let context_nip = s
            .context_type
            .parse()
            .ok()
            .and_then(|t| ContextIdentifier::parse(t, &s.context_value).ok())
            .and_then(|c| c.nip())
            .map(|n: Nip| n.as_str().to_string());
        let attachment_consent = match &context_nip {
            Some(nip) => sqlx::query_scalar::<_, i64>(
                "SELECT allowed FROM attachment_consents WHERE nip = ?",
            )
            .bind(nip)
            .fetch_optional(state.pool())
            .await?
            .is_some_and(|a| a != 0),
            None => false,
        };
        let limits =
            crate::limits::session_limits(state, &s.context_type, &s.context_value, s.kind.into())
                .await?;
        Ok(Rules {
            session_ref: s.reference.clone(),
            kind: s.kind,
            form: s.form,
            context_type: s.context_type.clone(),
            context_value: s.context_value.clone(),
            context_nip,
            attachment_consent,
            max_plain_invoice: crate::limits::mb_bytes(limits.max_invoice_size_in_mb),
            max_invoice_with_attachment: crate::limits::mb_bytes(
                limits.max_invoice_with_attachment_size_in_mb,
            ),
        })
    }
}

/// Why an invoice was rejected.
#[derive(Debug, Clone)]
pub struct Rejection {
    pub code: i64,
    pub details: Vec<String>,
    pub extensions: Option<BTreeMap<String, String>>,
    /// P_2, when it could be read.
    pub invoice_number: Option<String>,
}

impl Rejection {
    pub fn new(code: i64, detail: impl Into<String>) -> Self {
        Rejection {
            code,
            details: vec![detail.into()],
            extensions: None,
            invoice_number: None,
        }
    }
}

/// The bytes of one invoice to verify.
pub enum Input {
    /// Plaintext (batch: unpacked from the archive).
    Plain(Vec<u8>),
    /// Online: the queued ciphertext and the session key (`None` = key unusable).
    Encrypted {
        ciphertext: Vec<u8>,
        key: Option<[u8; 32]>,
        iv: [u8; 16],
    },
    /// Could not even be read (e.g. a damaged archive entry), with what was read.
    Failed(Rejection, Vec<u8>),
}

/// One invoice entering verification.
pub struct Work {
    pub rules: Arc<Rules>,
    pub reference: String,
    pub ordinal: i64,
    pub file_name: Option<String>,
    pub invoicing_ms: i64,
    pub offline: bool,
    pub hash_of_corrected: Option<String>,
    /// Online: the declared (and, where possible, already checked) hash and size.
    pub declared: Option<(String, i64)>,
    pub input: Input,
}

/// The verdict on one invoice.
pub enum Outcome {
    Accepted {
        facts: Box<InvoiceFacts>,
        content: Vec<u8>,
    },
    Rejected(Rejection),
    /// No verdict: the verifier failed (not the invoice). Never committed; retried later.
    Deferred(String),
}

/// One verified invoice, ready to commit.
pub struct Judged {
    pub rules: Arc<Rules>,
    pub reference: String,
    pub ordinal: i64,
    pub file_name: Option<String>,
    pub invoicing_ms: i64,
    pub offline: bool,
    pub hash_of_corrected: Option<String>,
    pub hash: String,
    pub size: i64,
    pub outcome: Outcome,
}

fn b64_sha256(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(data))
}

/// Verifies one invoice (CPU only; runs on a blocking thread).
pub fn judge(work: Work, today: time::Date) -> Judged {
    let Work {
        rules,
        reference,
        ordinal,
        file_name,
        invoicing_ms,
        offline,
        hash_of_corrected,
        declared,
        input,
    } = work;
    let (bytes, early) = match input {
        Input::Plain(b) => (b, None),
        Input::Failed(r, b) => (b, Some(r)),
        Input::Encrypted {
            ciphertext,
            key,
            iv,
        } => match key {
            None => (
                Vec::new(),
                Some(Rejection::new(
                    405,
                    "Klucz symetryczny sesji jest nieczytelny; faktury nie można odszyfrować.",
                )),
            ),
            Some(key) => match ksef_crypto::envelope::aes256_cbc_decrypt(&key, &iv, &ciphertext) {
                Ok(plain) => (plain, None),
                Err(_) => (
                    Vec::new(),
                    Some(Rejection::new(
                        435,
                        "Nie można odszyfrować faktury kluczem i wektorem IV sesji (AES-256-CBC, PKCS#7).",
                    )),
                ),
            },
        },
    };
    let (hash, size) = match (&declared, &early) {
        // The declared values were checked when the ciphertext could be decrypted; when it
        // cannot, they are all there is.
        (Some((h, s)), Some(_)) => (h.clone(), *s),
        _ => (b64_sha256(&bytes), bytes.len() as i64),
    };
    let outcome = match early {
        Some(r) => Outcome::Rejected(r),
        None => check(&rules, &bytes, hash_of_corrected.is_some(), today),
    };
    let outcome = match outcome {
        Outcome::Accepted { facts, .. } => Outcome::Accepted {
            facts,
            content: bytes,
        },
        r => r,
    };
    Judged {
        rules,
        reference,
        ordinal,
        file_name,
        invoicing_ms,
        offline,
        hash_of_corrected,
        hash,
        size,
        outcome,
    }
}

/// The rules of digest §11 for one invoice's bytes (except duplicates, checked at commit).
fn check(rules: &Rules, bytes: &[u8], technical_correction: bool, today: time::Date) -> Outcome {
    check_with(
        rules,
        bytes,
        technical_correction,
        today,
        ksef_invoice::verify,
    )
}

/// [`check`] with the verifier as a parameter (tests inject verifier failures).
fn check_with(
    rules: &Rules,
    bytes: &[u8],
    technical_correction: bool,
    today: time::Date,
    verify: impl FnOnce(FormCode, &[u8]) -> Result<InvoiceFacts, InvoiceError>,
) -> Outcome {
    let reject = |code: i64, detail: String, number: Option<String>| {
        Outcome::Rejected(Rejection {
            code,
            details: vec![detail],
            extensions: None,
            invoice_number: number,
        })
    };
    if bytes.len() > rules.max_invoice_with_attachment {
        return reject(
            430,
            format!(
                "Rozmiar faktury ({} B) przekracza dopuszczalne {} B.",
                bytes.len(),
                rules.max_invoice_with_attachment
            ),
            None,
        );
    }
    let facts = match verify(rules.form, bytes) {
        Ok(f) => f,
        // The XSD engine broke: no verdict on this invoice (logged by whoever handles the
        // deferral, once per chunk).
        Err(e) if e.is_internal() => return Outcome::Deferred(e.to_string()),
        Err(e) => {
            let number = ksef_invoice::extract_facts(rules.form, bytes)
                .ok()
                .map(|f| f.invoice_number);
            return Outcome::Rejected(Rejection {
                code: i64::from(e.status_code()),
                details: e.details(),
                extensions: None,
                invoice_number: number,
            });
        }
    };
    let number = Some(facts.invoice_number.clone());
    if bytes.len() > rules.max_plain_invoice && !facts.has_attachment {
        return reject(
            430,
            format!(
                "Rozmiar faktury bez załącznika ({} B) przekracza dopuszczalne {} B.",
                bytes.len(),
                rules.max_plain_invoice
            ),
            number,
        );
    }
    if rules.context_nip.as_deref() != Some(facts.seller_nip.as_str()) {
        return reject(
            410,
            format!(
                "Podmiot uwierzytelniony w kontekście {}:{} nie jest uprawniony do wystawienia faktury w imieniu sprzedawcy o NIP {} (Podmiot1).",
                rules.context_type, rules.context_value, facts.seller_nip
            ),
            number,
        );
    }
    if facts.issue_date > today {
        return reject(
            450,
            format!(
                "Data wystawienia faktury (P_1) {} jest późniejsza niż data jej przyjęcia {}.",
                facts.issue_date, today
            ),
            number,
        );
    }
    if facts.has_attachment {
        if rules.kind == Kind::Online && !technical_correction {
            return reject(
                415,
                "Faktura z załącznikiem może zostać przesłana tylko w sesji wsadowej (poza korektą techniczną).".into(),
                number,
            );
        }
        if !rules.attachment_consent {
            return reject(
                415,
                "Podmiot nie ma zgody na wystawianie faktur z załącznikiem.".into(),
                number,
            );
        }
    }
    Outcome::Accepted {
        facts: Box::new(facts),
        content: Vec::new(),
    }
}

/// An invoice left unverified (the verifier failed earlier on the same thread).
fn deferred(work: Work, error: String) -> Judged {
    Judged {
        rules: work.rules,
        reference: work.reference,
        ordinal: work.ordinal,
        file_name: work.file_name,
        invoicing_ms: work.invoicing_ms,
        offline: work.offline,
        hash_of_corrected: work.hash_of_corrected,
        hash: String::new(),
        size: 0,
        outcome: Outcome::Deferred(error),
    }
}

/// Invoices of a chunk left without a verdict (the verifier failed), from the first one on.
#[derive(Debug)]
pub struct Deferral {
    /// The session and the invoice (reference, ordinal) of the first deferred invoice.
    pub session_ref: String,
    pub invoice_ref: String,
    pub ordinal: i64,
    /// How many invoices of the chunk were deferred (the first one and all after it).
    pub count: usize,
    pub error: String,
}

/// Splits a verified chunk at its first [`Outcome::Deferred`] invoice: the part before it can
/// be committed; it and everything after it wait for a retry (so the invoices keep their order
/// — which matters for duplicates — when they are committed later).
pub fn split_deferred(mut judged: Vec<Judged>) -> (Vec<Judged>, Option<Deferral>) {
    let Some(i) = judged
        .iter()
        .position(|j| matches!(j.outcome, Outcome::Deferred(_)))
    else {
        return (judged, None);
    };
    let rest = judged.split_off(i);
    let deferral = rest.first().map(|j| Deferral {
        session_ref: j.rules.session_ref.clone(),
        invoice_ref: j.reference.clone(),
        ordinal: j.ordinal,
        count: rest.len(),
        error: match &j.outcome {
            Outcome::Deferred(e) => e.clone(),
            _ => String::new(),
        },
    });
    (judged, deferral)
}

/// Groups items into chunks of at most `max_count` items and `max_bytes` bytes in total; an
/// item larger than `max_bytes` forms a chunk alone.
pub struct Chunker<T> {
    max_count: usize,
    max_bytes: usize,
    items: Vec<T>,
    bytes: usize,
}

impl<T> Chunker<T> {
    pub fn new(max_count: usize, max_bytes: usize) -> Self {
        Chunker {
            max_count: max_count.max(1),
            max_bytes: max_bytes.max(1),
            items: Vec::new(),
            bytes: 0,
        }
    }

    /// Adds an item of `size` bytes; every chunk completed by it is handed to `emit` (at most
    /// two: the chunk the item did not fit into, and the item's own when it fills it). Returns
    /// `false` as soon as `emit` does (the consumer is gone).
    pub fn push(&mut self, item: T, size: usize, mut emit: impl FnMut(Vec<T>) -> bool) -> bool {
        if !self.items.is_empty() && self.bytes.saturating_add(size) > self.max_bytes {
            let full = self.take();
            if !emit(full) {
                return false;
            }
        }
        self.items.push(item);
        self.bytes = self.bytes.saturating_add(size);
        if self.items.len() >= self.max_count || self.bytes >= self.max_bytes {
            let full = self.take();
            return emit(full);
        }
        true
    }

    /// The last, incomplete chunk (`None` when empty).
    pub fn finish(mut self) -> Option<Vec<T>> {
        (!self.items.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> Vec<T> {
        self.bytes = 0;
        std::mem::take(&mut self.items)
    }
}

/// How many of `sizes` (in order) form the first chunk under the bounds of [`Chunker`].
pub fn first_chunk_len(sizes: &[usize], max_count: usize, max_bytes: usize) -> usize {
    let mut chunker = Chunker::new(max_count, max_bytes);
    let mut first = None;
    for &size in sizes {
        if !chunker.push((), size, |c| {
            first = Some(c.len());
            false
        }) {
            break;
        }
    }
    first.unwrap_or_else(|| chunker.finish().map_or(0, |c| c.len()))
}

/// Verifies a chunk on `available_parallelism()` blocking threads; results keep input order.
pub async fn verify_all(works: Vec<Work>, today: time::Date) -> ApiResult<Vec<Judged>> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(1);
    let per = works.len().div_ceil(threads).max(1);
    let mut handles = Vec::new();
    let mut works = works;
    while !works.is_empty() {
        let rest = works.split_off(per.min(works.len()));
        let slice = std::mem::replace(&mut works, rest);
        handles.push(tokio::task::spawn_blocking(move || {
            // Once the verifier failed on this thread the rest of the slice is deferred
            // without trying again (it would fail the same way, and each attempt may cost a
            // schema compilation); a later pass retries.
            let mut broken: Option<String> = None;
            slice
                .into_iter()
                .map(|w| match &broken {
                    Some(e) => deferred(w, e.clone()),
                    None => {
                        let j = judge(w, today);
                        if let Outcome::Deferred(e) = &j.outcome {
                            broken = Some(e.clone());
                        }
                        j
                    }
                })
                .collect::<Vec<_>>()
        }));
    }
    let mut out = Vec::new();
    for h in handles {
        out.extend(h.await.map_err(ApiError::internal)?);
    }
    Ok(out)
}

/// How the results are written: batch invoices get new `session_invoices` rows; online
/// invoices update the queued rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitMode {
    Insert,
    Update,
}

type DupKey = (String, String, String);

fn dup_key(f: &InvoiceFacts) -> DupKey {
    (
        f.seller_nip.clone(),
        f.rodzaj_faktury.clone(),
        f.invoice_number.clone(),
    )
}

fn duplicate(number: &str, original_session: &str, original_ksef: &str) -> Rejection {
    let mut ext = BTreeMap::new();
    ext.insert(
        "originalSessionReferenceNumber".to_string(),
        original_session.to_string(),
    );
    ext.insert("originalKsefNumber".to_string(), original_ksef.to_string());
    Rejection {
        code: 440,
        details: vec![format!(
            "Duplikat faktury. Faktura o numerze KSeF: {original_ksef} została już prawidłowo przesłana do systemu w sesji: {original_session}"
        )],
        extensions: Some(ext),
        invoice_number: Some(number.to_string()),
    }
}

/// Stored duplicates of `keys`: key → (KSeF number, session reference).
async fn stored_duplicates(
    conn: &mut sqlx::SqliteConnection,
    keys: &[DupKey],
) -> ApiResult<HashMap<DupKey, (String, String)>> {
    let mut found = HashMap::new();
    for part in keys.chunks(1000) {
        // `k CROSS JOIN invoices` keeps the keys as the outer loop, so each one is a lookup in
        // the unique index (a row-value `IN (VALUES …)` would scan the whole table).
        let mut qb = QueryBuilder::<Sqlite>::new("WITH k(a, b, c) AS (");
        qb.push_values(part, |mut b, k| {
            b.push_bind(k.0.clone())
                .push_bind(k.1.clone())
                .push_bind(k.2.clone());
        });
        qb.push(
            ") SELECT i.seller_nip, i.rodzaj_faktury, i.invoice_number, i.ksef_number, i.session_ref \
             FROM k CROSS JOIN invoices i \
             ON i.seller_nip = k.a AND i.rodzaj_faktury = k.b AND i.invoice_number = k.c",
        );
        for r in qb.build().fetch_all(&mut *conn).await? {
            found.insert(
                (r.get(0), r.get(1), r.get(2)),
                (r.get::<String, _>(3), r.get::<String, _>(4)),
            );
        }
    }
    Ok(found)
}

/// Counts of a committed chunk, and the UPO entries of its accepted invoices (with their
/// ordinals), exactly as [`upo::render_session`] would read them back from the tables.
#[derive(Debug, Default)]
pub struct Committed {
    pub accepted: usize,
    pub rejected: usize,
    pub documents: Vec<(i64, ksef_invoice::upo::UpoDocument)>,
}

/// A result ready to be written.
struct Final<'a> {
    j: &'a Judged,
    code: i64,
    details: Vec<String>,
    extensions: Option<String>,
    invoice_number: Option<String>,
    ksef: Option<String>,
}

/// Connection settings for the bulk commits: a page cache large enough for a whole chunk (no
/// spilling of dirty pages mid-transaction) and no automatic checkpoint inside the writer lock
/// ([`checkpoint`] runs after the work instead). Restored before the connection goes back to
/// the pool.
const BULK_PRAGMAS: [&str; 2] = [
    "PRAGMA cache_size = -65536",
    "PRAGMA wal_autocheckpoint = 0",
];
const DEFAULT_PRAGMAS: [&str; 2] = [
    "PRAGMA cache_size = -2000",
    "PRAGMA wal_autocheckpoint = 1000",
];

/// Commits one chunk of verified invoices (see the module documentation).
pub async fn commit(
    state: &AppState,
    judged: Vec<Judged>,
    mode: CommitMode,
) -> ApiResult<Committed> {
    if judged.is_empty() {
        return Ok(Committed::default());
    }
    let _writer = state.storage_writer().lock().await;
    let mut conn = state.pool().acquire().await?;
    for p in BULK_PRAGMAS {
        sqlx::query(p).execute(&mut *conn).await?;
    }
    let result = commit_locked(state, &mut conn, &judged, mode).await;
    for p in DEFAULT_PRAGMAS {
        if sqlx::query(p).execute(&mut *conn).await.is_err() {
            // Never hand a connection with the bulk settings back to the pool.
            conn.close_on_drop();
            break;
        }
    }
    result
}

/// Moves the write-ahead log into the database file (after bulk commits; outside the lock).
pub async fn checkpoint(state: &AppState) {
    if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
        .execute(state.pool())
        .await
    {
        tracing::warn!(error = %e, "WAL checkpoint failed");
    }
}

async fn commit_locked(
    state: &AppState,
    conn: &mut sqlx::SqliteConnection,
    judged: &[Judged],
    mode: CommitMode,
) -> ApiResult<Committed> {
    // IMMEDIATE: this transaction reads (duplicates) before it writes; a deferred one would fail
    // with SQLITE_BUSY_SNAPSHOT when another connection commits in between.
    let mut tx = sqlx::Connection::begin_with(conn, "BEGIN IMMEDIATE").await?;
    let keys: Vec<DupKey> = judged
        .iter()
        .filter_map(|j| match &j.outcome {
            Outcome::Accepted { facts, .. } => Some(dup_key(facts)),
            Outcome::Rejected(_) | Outcome::Deferred(_) => None,
        })
        .collect();
    let stored = stored_duplicates(&mut tx, &keys).await?;

    let acquisition = ms(state.now());
    let mut seen: HashMap<DupKey, (String, String)> = HashMap::new();
    let mut finals: Vec<Final<'_>> = Vec::with_capacity(judged.len());
    let mut counts = Committed::default();
    for j in judged {
        match &j.outcome {
            // No verdict is ever written for it (callers commit only up to the first one, see
            // [`split_deferred`]; skipping here keeps that true whatever they pass).
            Outcome::Deferred(_) => {}
            Outcome::Rejected(r) => {
                counts.rejected += 1;
                finals.push(rejected(j, r));
            }
            Outcome::Accepted { facts, .. } => {
                let key = dup_key(facts);
                if let Some((ksef, session)) = stored.get(&key).or_else(|| seen.get(&key)) {
                    counts.rejected += 1;
                    let r = duplicate(&facts.invoice_number, session, ksef);
                    finals.push(rejected(j, &r));
                    continue;
                }
                let nip: Nip = facts.seller_nip.parse().map_err(|e| {
                    ApiError::internal(format!(
                        "accepted invoice with seller NIP {:?}: {e}",
                        facts.seller_nip
                    ))
                })?;
                let date = model::warsaw_date(from_ms(j.invoicing_ms));
                let ksef = KsefNumber::generate(&nip, date).to_string();
                seen.insert(key, (ksef.clone(), j.rules.session_ref.clone()));
                counts.accepted += 1;
                counts.documents.push((
                    j.ordinal,
                    ksef_invoice::upo::UpoDocument {
                        seller_nip: facts.seller_nip.clone(),
                        ksef_number: ksef.clone(),
                        invoice_number: facts.invoice_number.clone(),
                        issue_date: facts.issue_date,
                        sent_at: from_ms(j.invoicing_ms),
                        ksef_number_assigned_at: from_ms(acquisition),
                        invoice_hash: j.hash.clone(),
                        invoicing_mode: if j.offline { "Offline" } else { "Online" },
                    },
                ));
                finals.push(Final {
                    j,
                    code: 200,
                    details: Vec::new(),
                    extensions: None,
                    invoice_number: Some(facts.invoice_number.clone()),
                    ksef: Some(ksef),
                });
            }
        }
    }
    // Permanent storage: now, under the writer lock, and strictly after the acquisition.
    let permanent = state.next_permanent_storage_ms(acquisition);
    match mode {
        CommitMode::Insert => {
            insert_session_invoices(&mut tx, &finals, acquisition, permanent).await?
        }
        CommitMode::Update => {
            update_session_invoices(&mut tx, &finals, acquisition, permanent).await?
        }
    }
    insert_invoices(&mut tx, &finals, acquisition, permanent).await?;
    tx.commit().await?;
    Ok(counts)
}

fn rejected<'a>(j: &'a Judged, r: &Rejection) -> Final<'a> {
    Final {
        j,
        code: r.code,
        details: r.details.clone(),
        extensions: r
            .extensions
            .as_ref()
            .and_then(|e| serde_json::to_string(e).ok()),
        invoice_number: r.invoice_number.clone(),
        ksef: None,
    }
}

async fn insert_session_invoices(
    tx: &mut sqlx::SqliteConnection,
    finals: &[Final<'_>],
    acquisition: i64,
    permanent: i64,
) -> ApiResult<()> {
    for part in finals.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO session_invoices(reference_number, session_ref, ordinal, file_name, invoice_hash, \
             invoice_size, offline_mode, hash_of_corrected_invoice, status_code, status_description, \
             status_details, status_extensions, invoice_number, ksef_number, invoicing_ms, acquisition_ms, \
             permanent_storage_ms) ",
        );
        qb.push_values(part, |mut b, f| {
            let ok = f.ksef.is_some();
            b.push_bind(f.j.reference.clone())
                .push_bind(f.j.rules.session_ref.clone())
                .push_bind(f.j.ordinal)
                .push_bind(f.j.file_name.clone())
                .push_bind(f.j.hash.clone())
                .push_bind(f.j.size)
                .push_bind(i64::from(f.j.offline))
                .push_bind(f.j.hash_of_corrected.clone())
                .push_bind(f.code)
                .push_bind(model::invoice_description(f.code))
                .push_bind(model::details_json(&f.details))
                .push_bind(f.extensions.clone())
                .push_bind(f.invoice_number.clone())
                .push_bind(f.ksef.clone())
                .push_bind(f.j.invoicing_ms)
                .push_bind(ok.then_some(acquisition))
                .push_bind(ok.then_some(permanent));
        });
        qb.build().execute(&mut *tx).await?;
    }
    Ok(())
}

/// The verdicts of queued online invoices, one `UPDATE … FROM (VALUES …)` per [`CHUNK`] rows.
async fn update_session_invoices(
    tx: &mut sqlx::SqliteConnection,
    finals: &[Final<'_>],
    acquisition: i64,
    permanent: i64,
) -> ApiResult<()> {
    for part in finals.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "UPDATE session_invoices SET status_code = v.column2, status_description = v.column3, \
             status_details = v.column4, status_extensions = v.column5, invoice_number = v.column6, \
             ksef_number = v.column7, acquisition_ms = v.column8, permanent_storage_ms = v.column9, \
             encrypted_content = NULL FROM (",
        );
        qb.push_values(part, |mut b, f| {
            let ok = f.ksef.is_some();
            b.push_bind(f.j.reference.clone())
                .push_bind(f.code)
                .push_bind(model::invoice_description(f.code))
                .push_bind(model::details_json(&f.details))
                .push_bind(f.extensions.clone())
                .push_bind(f.invoice_number.clone())
                .push_bind(f.ksef.clone())
                .push_bind(ok.then_some(acquisition))
                .push_bind(ok.then_some(permanent));
        });
        qb.push(
            ") AS v WHERE session_invoices.reference_number = v.column1 \
             AND session_invoices.status_code < 200",
        );
        qb.build().execute(&mut *tx).await?;
    }
    Ok(())
}

fn third_subjects_json(f: &InvoiceFacts) -> String {
    let list: Vec<wire::InvoiceMetadataThirdSubject> = f
        .third_subjects
        .iter()
        .map(|t| wire::InvoiceMetadataThirdSubject {
            identifier: wire::InvoiceMetadataThirdSubjectIdentifier {
                r#type: wire::OpenEnum::from_wire(t.identifier_type),
                value: t.identifier.clone(),
            },
            name: t.name.clone(),
            role: t.role,
        })
        .collect();
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".into())
}

fn authorized_subject_json(f: &InvoiceFacts) -> Option<String> {
    f.authorized_subject.as_ref().and_then(|a| {
        serde_json::to_string(&wire::InvoiceMetadataAuthorizedSubject {
            nip: a.nip.clone(),
            name: a.name.clone(),
            role: a.role,
        })
        .ok()
    })
}

/// Rows of `invoices` (33 columns: at most ~990 rows per statement) and `invoice_parties`.
async fn insert_invoices(
    tx: &mut sqlx::SqliteConnection,
    finals: &[Final<'_>],
    acquisition: i64,
    permanent: i64,
) -> ApiResult<()> {
    let accepted: Vec<(&Final<'_>, &InvoiceFacts, &Vec<u8>, &str)> = finals
        .iter()
        .filter_map(|f| match (&f.j.outcome, &f.ksef) {
            (Outcome::Accepted { facts, content }, Some(k)) => {
                Some((f, facts.as_ref(), content, k.as_str()))
            }
            _ => None,
        })
        .collect();
    for part in accepted.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO invoices(ksef_number, session_ref, invoice_ref, context_type, context_value, content, \
             invoice_hash, invoice_size, form_system_code, form_schema_version, form_value, invoice_number, \
             invoice_type, rodzaj_faktury, issue_date, invoicing_ms, acquisition_ms, permanent_storage_ms, \
             seller_nip, seller_name, buyer_id_type, buyer_id_value, buyer_name, net_amount, gross_amount, \
             vat_amount, currency, invoicing_mode, is_self_invoicing, has_attachment, \
             hash_of_corrected_invoice, third_subjects, authorized_subject) ",
        );
        qb.push_values(part, |mut b, (f, facts, content, ksef)| {
            let r = &f.j.rules;
            b.push_bind(ksef.to_string())
                .push_bind(r.session_ref.clone())
                .push_bind(f.j.reference.clone())
                .push_bind(r.context_type.clone())
                .push_bind(r.context_value.clone())
                .push_bind(content.as_slice().to_vec())
                .push_bind(f.j.hash.clone())
                .push_bind(f.j.size)
                .push_bind(r.form.system_code())
                .push_bind(r.form.schema_version())
                .push_bind(r.form.value())
                .push_bind(facts.invoice_number.clone())
                .push_bind(facts.invoice_type)
                .push_bind(facts.rodzaj_faktury.clone())
                .push_bind(facts.issue_date.to_string())
                .push_bind(f.j.invoicing_ms)
                .push_bind(acquisition)
                .push_bind(permanent)
                .push_bind(facts.seller_nip.clone())
                .push_bind(facts.seller_name.clone())
                .push_bind(facts.buyer.identifier_type)
                .push_bind(facts.buyer.identifier.clone())
                .push_bind(facts.buyer.name.clone())
                .push_bind(facts.net_amount)
                .push_bind(facts.gross_amount)
                .push_bind(facts.vat_amount)
                .push_bind(facts.currency.clone())
                .push_bind(if f.j.offline { "Offline" } else { "Online" })
                .push_bind(i64::from(facts.is_self_invoicing))
                .push_bind(i64::from(facts.has_attachment))
                .push_bind(f.j.hash_of_corrected.clone())
                .push_bind(third_subjects_json(facts))
                .push_bind(authorized_subject_json(facts));
        });
        qb.build().execute(&mut *tx).await?;
    }

    let mut parties: Vec<(&str, &'static str, &str)> = Vec::new();
    for (_, facts, _, ksef) in &accepted {
        parties.push((ksef, "Subject1", facts.seller_nip.as_str()));
        if facts.buyer.identifier_type == "Nip"
            && let Some(n) = &facts.buyer.identifier
        {
            parties.push((ksef, "Subject2", n.as_str()));
        }
        for t in &facts.third_subjects {
            if let Some(id) = &t.identifier {
                parties.push((ksef, "Subject3", id.as_str()));
            }
        }
        if let Some(a) = &facts.authorized_subject {
            parties.push((ksef, "SubjectAuthorized", a.nip.as_str()));
        }
    }
    for part in parties.chunks(3000) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT OR IGNORE INTO invoice_parties(ksef_number, subject_type, identifier) ",
        );
        qb.push_values(part, |mut b, (k, t, id)| {
            b.push_bind(k.to_string())
                .push_bind(*t)
                .push_bind(id.to_string());
        });
        qb.build().execute(&mut *tx).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------- online processing

/// The online processor: verifies queued invoices, closes expired sessions and finalises
/// closed ones. Woken by sends and closes; also ticks once a second.
pub async fn online_loop(state: AppState) {
    let mut last_checkpoint = std::time::Instant::now();
    loop {
        match online_pass(&state, &mut last_checkpoint).await {
            // Under a steady stream of sends, a short pause lets the next pass take a larger
            // chunk: its fixed costs (reading the sessions' rules, the checkpoint) are paid
            // once per chunk instead of once per handful of invoices.
            Ok(true) => tokio::time::sleep(PASS_GAP).await,
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "online session processing failed; retrying"),
        }
        let engine = state.sessions();
        tokio::select! {
            _ = engine.woken() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Per session: its rules, AES key and IV.
type SessionCrypto = (Arc<Rules>, Option<[u8; 32]>, [u8; 16]);

/// What one verified-and-committed group of online invoices did.
#[derive(Debug, Default, Clone, Copy)]
struct Step {
    committed: usize,
    /// The verifier failed: the rest waits (in status 100) for a later pass.
    deferred: bool,
}

/// The least time between two checkpoints of the online processor.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// The pause after a pass that committed invoices (see [`online_loop`]).
const PASS_GAP: Duration = Duration::from_millis(20);

/// One pass over the queued online invoices; whether it committed any. Only the global queries
/// end it with an error; a failing session is logged and skipped for the rest of the pass (see
/// the module docs).
async fn online_pass(
    state: &AppState,
    last_checkpoint: &mut std::time::Instant,
) -> ApiResult<bool> {
    if let Err(e) = model::expire_due(state, None).await {
        tracing::error!(error = %e, "closing expired sessions failed; continuing");
    }
    let mut sessions: HashMap<String, SessionCrypto> = HashMap::new();
    let mut skipped: HashSet<String> = HashSet::new();
    let mut processed = false;
    loop {
        let rows = next_online_chunk(state, &skipped).await?;
        if rows.is_empty() {
            break;
        }
        let mut order: Vec<String> = Vec::new();
        for r in &rows {
            let session_ref: String = r.get("session_ref");
            if !order.contains(&session_ref) {
                order.push(session_ref);
            }
        }
        for session_ref in &order {
            if sessions.contains_key(session_ref) {
                continue;
            }
            match session_crypto(state, session_ref).await {
                Ok(c) => {
                    sessions.insert(session_ref.clone(), c);
                }
                Err(e) => {
                    tracing::error!(session = %session_ref, error = %e,
                        "cannot load the online session of queued invoices; skipped in this pass");
                    skipped.insert(session_ref.clone());
                }
            }
        }
        order.retain(|s| !skipped.contains(s));
        let rows: Vec<&SqliteRow> = rows
            .iter()
            .filter(|r| !skipped.contains(&r.get::<String, _>("session_ref")))
            .collect();
        if rows.is_empty() {
            continue; // the next query leaves the skipped sessions out
        }
        let step = match online_step(state, &rows, &sessions).await {
            Ok(step) => step,
            Err(e) if order.len() == 1 => {
                tracing::error!(session = %order[0], error = %e,
                    "online session processing failed; skipped in this pass");
                skipped.extend(order);
                Step::default()
            }
            Err(e) => {
                // Nothing of the chunk was written (one transaction): retry it session by
                // session, so only the failing session is left behind.
                tracing::warn!(error = %e, sessions = order.len(),
                    "online chunk failed; processing its sessions one by one");
                let mut total = Step::default();
                for session_ref in order {
                    let part: Vec<&SqliteRow> = rows
                        .iter()
                        .copied()
                        .filter(|r| r.get::<String, _>("session_ref") == session_ref)
                        .collect();
                    match online_step(state, &part, &sessions).await {
                        Ok(step) => {
                            total.committed += step.committed;
                            total.deferred |= step.deferred;
                        }
                        Err(e) => {
                            tracing::error!(session = %session_ref, error = %e,
                                "online session processing failed; skipped in this pass");
                            skipped.insert(session_ref);
                        }
                    }
                    if total.deferred {
                        break;
                    }
                }
                total
            }
        };
        processed |= step.committed > 0;
        if step.deferred {
            // The verifier is broken (logged by `online_step`): stop here; the invoices stay
            // queued (100) and the next pass, a second from now, tries again.
            break;
        }
    }
    // At most one checkpoint per CHECKPOINT_EVERY under a steady stream (each one writes pages
    // to the database file and syncs it, competing with the commits for the disk).
    if processed && last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
        checkpoint(state).await;
        *last_checkpoint = std::time::Instant::now();
    }
    finalize_closed_online(state).await?;
    Ok(processed)
}

/// The next queued online invoices (oldest first, sessions in `skipped` left out), at most
/// [`CHUNK`] of them and `processing_chunk_bytes` of ciphertext (at least one).
async fn next_online_chunk(
    state: &AppState,
    skipped: &HashSet<String>,
) -> ApiResult<Vec<SqliteRow>> {
    let pending = |columns: &str| {
        let mut qb = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {columns} FROM session_invoices WHERE status_code < 200"
        ));
        if !skipped.is_empty() {
            qb.push(" AND session_ref NOT IN (");
            let mut list = qb.separated(", ");
            for s in skipped {
                list.push_bind(s.clone());
            }
            qb.push(")");
        }
        qb
    };
    // Sizes first (length() of a BLOB does not read it), then the content of the chunk only.
    let mut qb = pending("reference_number, COALESCE(length(encrypted_content), 0)");
    qb.push(" ORDER BY invoicing_ms, reference_number LIMIT ")
        .push_bind(CHUNK as i64);
    let sizes: Vec<(String, i64)> = qb.build_query_as().fetch_all(state.pool()).await?;
    let bytes: Vec<usize> = sizes
        .iter()
        .map(|(_, n)| usize::try_from(*n).unwrap_or(usize::MAX))
        .collect();
    let take = first_chunk_len(&bytes, CHUNK, state.config().processing_chunk_bytes);
    if take == 0 {
        return Ok(Vec::new());
    }
    let mut qb = pending(
        "reference_number, session_ref, ordinal, invoice_hash, invoice_size, encrypted_content, \
         offline_mode, hash_of_corrected_invoice, invoicing_ms",
    );
    qb.push(" AND reference_number IN (");
    let mut list = qb.separated(", ");
    for (r, _) in &sizes[..take] {
        list.push_bind(r.clone());
    }
    qb.push(") ORDER BY invoicing_ms, reference_number");
    Ok(qb.build().fetch_all(state.pool()).await?)
}

async fn session_crypto(state: &AppState, session_ref: &str) -> ApiResult<SessionCrypto> {
    let s = model::load(state, session_ref)
        .await?
        .ok_or_else(|| ApiError::internal(format!("invoice of unknown session {session_ref}")))?;
    let r = Rules::for_session(state, &s).await?;
    Ok((Arc::new(r), s.symmetric_key, s.iv))
}

/// Verifies and commits queued online invoices (in one transaction); a deferral is logged.
async fn online_step(
    state: &AppState,
    rows: &[&SqliteRow],
    sessions: &HashMap<String, SessionCrypto>,
) -> ApiResult<Step> {
    let mut works = Vec::with_capacity(rows.len());
    for r in rows {
        let session_ref: String = r.get("session_ref");
        let (rule, key, iv) = sessions
            .get(&session_ref)
            .ok_or_else(|| ApiError::internal(format!("session {session_ref} not loaded")))?;
        works.push(Work {
            rules: rule.clone(),
            reference: r.get("reference_number"),
            ordinal: r.get("ordinal"),
            file_name: None,
            invoicing_ms: r.get("invoicing_ms"),
            offline: r.get::<i64, _>("offline_mode") != 0,
            hash_of_corrected: r.get("hash_of_corrected_invoice"),
            declared: Some((r.get("invoice_hash"), r.get("invoice_size"))),
            input: Input::Encrypted {
                ciphertext: r
                    .get::<Option<Vec<u8>>, _>("encrypted_content")
                    .unwrap_or_default(),
                key: *key,
                iv: *iv,
            },
        });
    }
    let today = model::warsaw_date(state.now());
    let judged = verify_all(works, today).await?;
    let (ready, deferral) = split_deferred(judged);
    let committed = ready.len();
    commit(state, ready, CommitMode::Update).await?;
    if let Some(d) = &deferral {
        tracing::error!(session = %d.session_ref, invoice = %d.invoice_ref, deferred = d.count,
            error = %d.error,
            "invoice verification failed inside the emulator (XSD engine), not because of the \
             invoice: no verdict given, the invoices stay queued (100) and are retried");
    }
    Ok(Step {
        committed,
        deferred: deferral.is_some(),
    })
}

/// Online sessions in 170 whose invoices are all final get their final status and UPO; a
/// session that fails is logged and left in 170 for the next pass.
async fn finalize_closed_online(state: &AppState) -> ApiResult<()> {
    let refs: Vec<String> = sqlx::query_scalar(
        "SELECT s.reference_number FROM sessions s WHERE s.session_type = 'Online' AND s.status_code = 170 \
         AND NOT EXISTS (SELECT 1 FROM session_invoices si WHERE si.session_ref = s.reference_number AND si.status_code < 200)",
    )
    .fetch_all(state.pool())
    .await?;
    for r in refs {
        if let Err(e) = finalize(state, &r, Kind::Online, 170).await {
            tracing::error!(session = %r, error = %e, "cannot finalise the online session; retrying in a later pass");
        }
    }
    Ok(())
}

/// Invoice counts of a session: (total, accepted, rejected).
pub async fn counts(state: &AppState, session: &str) -> ApiResult<(i64, i64, i64)> {
    let r = sqlx::query(
        "SELECT COUNT(*), COALESCE(SUM(status_code = 200), 0), COALESCE(SUM(status_code >= 300), 0) \
         FROM session_invoices WHERE session_ref = ?",
    )
    .bind(session)
    .fetch_one(state.pool())
    .await?;
    Ok((r.get(0), r.get(1), r.get(2)))
}

/// Final status of a session whose invoices are all processed: 200 with the session UPO when
/// at least one invoice was accepted, 445 when none was, 440 when nothing was sent.
pub async fn finalize(state: &AppState, reference: &str, kind: Kind, from: i64) -> ApiResult<()> {
    finalize_with(state, reference, kind, from, None).await
}

/// [`finalize`] with the UPO entries of every accepted invoice of the session already at hand
/// (`documents`, with their ordinals: a batch processed in one go collects them from its
/// commits), which spares reading them back from the stored invoices.
pub async fn finalize_with(
    state: &AppState,
    reference: &str,
    kind: Kind,
    from: i64,
    documents: Option<Vec<(i64, ksef_invoice::upo::UpoDocument)>>,
) -> ApiResult<()> {
    let (total, accepted, _) = counts(state, reference).await?;
    if total == 0 {
        model::set_status(
            state,
            reference,
            kind,
            &[from],
            440,
            &[model::DETAIL_NO_INVOICES],
        )
        .await?;
        return Ok(());
    }
    if accepted == 0 {
        model::set_status(state, reference, kind, &[from], 445, &[]).await?;
        return Ok(());
    }
    let Some(session) = model::load(state, reference).await? else {
        return Ok(());
    };
    // The collected entries are used only when they are all of them.
    let documents = documents.filter(|d| i64::try_from(d.len()).ok() == Some(accepted));
    let (upo_ref, xml) = upo::render_session(state, &session, documents).await?;
    let now = ms(state.now());
    // After a bulk of commits the write-ahead log is long; an automatic checkpoint inside this
    // commit would copy all of it before the final status shows. It is left to the caller's
    // [`checkpoint`] after the status is committed.
    let mut conn = state.pool().acquire().await?;
    sqlx::query("PRAGMA wal_autocheckpoint = 0")
        .execute(&mut *conn)
        .await?;
    let updated = sqlx::query(
        "UPDATE sessions SET status_code = 200, status_description = ?, status_details = '[]', \
         updated_ms = ?, closed_ms = COALESCE(closed_ms, ?), upo_reference = ?, upo_xml = ? \
         WHERE reference_number = ? AND status_code = ?",
    )
    .bind(model::session_description(kind, 200))
    .bind(now)
    .bind(now)
    .bind(upo_ref)
    .bind(xml.into_bytes())
    .bind(reference)
    .bind(from)
    .execute(&mut *conn)
    .await;
    if sqlx::query(DEFAULT_PRAGMAS[1])
        .execute(&mut *conn)
        .await
        .is_err()
    {
        conn.close_on_drop();
    }
    updated?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Arc<Rules> {
        Arc::new(Rules {
            session_ref: "S-1".into(),
            kind: Kind::Online,
            form: FormCode::Fa3,
            context_type: "Nip".into(),
            context_value: "5265877635".into(),
            context_nip: Some("5265877635".into()),
            attachment_consent: false,
            max_plain_invoice: MAX_PLAIN_INVOICE,
            max_invoice_with_attachment: MAX_INVOICE_WITH_ATTACHMENT,
        })
    }

    fn today() -> time::Date {
        time::Date::from_calendar_date(2025, time::Month::January, 1).unwrap()
    }

    #[test]
    fn verifier_failure_is_no_verdict() {
        let internal = |_: FormCode, _: &[u8]| {
            Err(InvoiceError::Internal(
                "the XSD could not be loaded".to_string(),
            ))
        };
        match check_with(&rules(), b"<Faktura/>", false, today(), internal) {
            Outcome::Deferred(e) => assert!(e.contains("could not be loaded"), "{e}"),
            Outcome::Rejected(r) => panic!("a verdict: {r:?}"),
            Outcome::Accepted { .. } => panic!("accepted"),
        }
        // An invalid invoice still is a verdict (430).
        let invalid =
            |_: FormCode, _: &[u8]| Err(InvoiceError::Schema(vec!["line 1: bad".to_string()]));
        match check_with(&rules(), b"<Faktura/>", false, today(), invalid) {
            Outcome::Rejected(r) => {
                assert_eq!(r.code, 430);
                assert_eq!(r.details, vec!["line 1: bad".to_string()]);
            }
            _ => panic!("not rejected"),
        }
    }

    fn judged(ordinal: i64, outcome: Outcome) -> Judged {
        Judged {
            rules: rules(),
            reference: format!("I-{ordinal}"),
            ordinal,
            file_name: None,
            invoicing_ms: 0,
            offline: false,
            hash_of_corrected: None,
            hash: String::new(),
            size: 0,
            outcome,
        }
    }

    #[test]
    fn chunk_is_committed_up_to_the_first_deferred_invoice() {
        let rejected = || Outcome::Rejected(Rejection::new(430, "bad"));
        let (ready, none) = split_deferred(vec![judged(1, rejected()), judged(2, rejected())]);
        assert_eq!(ready.len(), 2);
        assert!(none.is_none());

        let chunk = vec![
            judged(1, rejected()),
            judged(2, Outcome::Deferred("engine broke".into())),
            judged(3, rejected()),
            judged(4, Outcome::Deferred("engine broke".into())),
        ];
        let (ready, deferral) = split_deferred(chunk);
        assert_eq!(ready.iter().map(|j| j.ordinal).collect::<Vec<_>>(), [1]);
        let d = deferral.expect("deferral");
        assert_eq!((d.ordinal, d.count), (2, 3));
        assert_eq!(d.invoice_ref, "I-2");
        assert_eq!(d.session_ref, "S-1");
        assert_eq!(d.error, "engine broke");
    }

    /// The chunks `sizes` form under the bounds (item = its index).
    fn chunks(sizes: &[usize], max_count: usize, max_bytes: usize) -> Vec<Vec<usize>> {
        let mut out = Vec::new();
        let mut c = Chunker::new(max_count, max_bytes);
        for (i, &size) in sizes.iter().enumerate() {
            assert!(c.push(i, size, |chunk| {
                out.push(chunk);
                true
            }));
        }
        out.extend(c.finish());
        out
    }

    #[test]
    fn chunks_are_bounded_by_count_and_bytes() {
        // Count only.
        assert_eq!(
            chunks(&[1, 1, 1, 1, 1], 2, 100),
            vec![vec![0, 1], vec![2, 3], vec![4]]
        );
        // Bytes: 40 + 40 fit in 100, the third would not.
        assert_eq!(
            chunks(&[40, 40, 40, 40, 40], 10, 100),
            vec![vec![0, 1], vec![2, 3], vec![4]]
        );
        // Exactly the bound closes a chunk.
        assert_eq!(chunks(&[50, 50, 10], 10, 100), vec![vec![0, 1], vec![2]]);
        // An item larger than the bound forms a chunk alone.
        assert_eq!(
            chunks(&[10, 250, 10, 10], 10, 100),
            vec![vec![0], vec![1], vec![2, 3]]
        );
        assert_eq!(chunks(&[250], 10, 100), vec![vec![0]]);
        assert_eq!(chunks(&[], 10, 100), Vec::<Vec<usize>>::new());
        // No chunk over either bound, nothing lost, order kept.
        let sizes: Vec<usize> = (0..1000).map(|i| (i * 37) % 101).collect();
        let all = chunks(&sizes, 7, 300);
        assert!(all.iter().all(|c| !c.is_empty() && c.len() <= 7));
        assert!(
            all.iter()
                .all(|c| c.len() == 1 || c.iter().map(|&i| sizes[i]).sum::<usize>() <= 300)
        );
        assert_eq!(
            all.into_iter().flatten().collect::<Vec<_>>(),
            (0..1000).collect::<Vec<_>>()
        );
    }

    #[test]
    fn first_chunk_of_queued_invoices() {
        assert_eq!(first_chunk_len(&[], 500, 100), 0);
        assert_eq!(first_chunk_len(&[10, 10], 500, 100), 2);
        assert_eq!(first_chunk_len(&[60, 60, 60], 500, 100), 1);
        assert_eq!(first_chunk_len(&[500, 1], 500, 100), 1);
        assert_eq!(first_chunk_len(&[1; 10], 3, 100), 3);
    }
}
