//! UPO v4-3 documents (digest §10.4) of sessions (rendered once, when the session reaches 200,
//! and stored) and of single invoices (rendered on request from the stored, immutable data, so
//! every download is byte-identical).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ksef_core::{ReferenceKind, ReferenceNumber};
use ksef_invoice::upo::{Upo, UpoAuthentication, UpoContext, UpoDocument, UpoPage};
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::model::{self, SessionRow};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::from_ms;

/// `Uwierzytelnienie` of a session: its context and how it was authenticated (KSeF token
/// reference, else the Base64 SHA-256 of the signed AuthTokenRequest as received).
async fn header(state: &AppState, s: &SessionRow) -> ApiResult<(UpoContext, UpoAuthentication)> {
    let v = s.context_value.clone();
    let context = match s.context_type.as_str() {
        "InternalId" => UpoContext::InternalId(v),
        "NipVatUe" => UpoContext::NipVatUe(v),
        "PeppolId" => UpoContext::PeppolId(v),
        _ => UpoContext::Nip(v),
    };
    let auth = match &s.ksef_token_ref {
        Some(t) => UpoAuthentication::KsefTokenReference(t.clone()),
        None => {
            let doc: Option<Vec<u8>> = sqlx::query_scalar(
                "SELECT signed_document FROM auth_operations WHERE reference_number = ?",
            )
            .bind(&s.auth_reference)
            .fetch_optional(state.pool())
            .await?
            .flatten();
            UpoAuthentication::SignedDocumentHash(
                STANDARD.encode(Sha256::digest(doc.unwrap_or_default())),
            )
        }
    };
    Ok((context, auth))
}

const DOCUMENT_COLUMNS: &str = "i.seller_nip, i.ksef_number, i.invoice_number, i.issue_date, \
     i.invoicing_ms, i.acquisition_ms, i.invoice_hash, i.invoicing_mode";

fn document(r: &SqliteRow) -> ApiResult<UpoDocument> {
    let issue: String = r.get("issue_date");
    let issue_date = time::Date::parse(
        &issue,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|e| ApiError::internal(format!("stored issue date {issue:?}: {e}")))?;
    Ok(UpoDocument {
        seller_nip: r.get("seller_nip"),
        ksef_number: r.get("ksef_number"),
        invoice_number: r.get("invoice_number"),
        issue_date,
        sent_at: from_ms(r.get("invoicing_ms")),
        ksef_number_assigned_at: from_ms(r.get("acquisition_ms")),
        invoice_hash: r.get("invoice_hash"),
        invoicing_mode: if r.get::<String, _>("invoicing_mode") == "Offline" {
            "Offline"
        } else {
            "Online"
        },
    })
}

/// Renders the session UPO (one page: a session holds at most 10 000 invoices). Returns the
/// page's reference number and the XML. `known`: the entries of all accepted invoices with
/// their ordinals, when the caller has them (else they are read from the stored invoices, whose
/// rows carry the invoice bytes: slow for 10 000 of them).
pub async fn render_session(
    state: &AppState,
    s: &SessionRow,
    known: Option<Vec<(i64, UpoDocument)>>,
) -> ApiResult<(String, String)> {
    let documents = match known {
        Some(mut d) => {
            d.sort_by_key(|(ordinal, _)| *ordinal);
            d.into_iter().map(|(_, doc)| doc).collect()
        }
        None => {
            let sql = format!(
                "SELECT {DOCUMENT_COLUMNS} FROM session_invoices si JOIN invoices i ON i.ksef_number = si.ksef_number \
                 WHERE si.session_ref = ? AND si.status_code = 200 ORDER BY si.ordinal"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&s.reference)
                .fetch_all(state.pool())
                .await?;
            rows.iter().map(document).collect::<ApiResult<Vec<_>>>()?
        }
    };
    let (context, authentication) = header(state, s).await?;
    let n = u32::try_from(documents.len()).unwrap_or(u32::MAX);
    let upo = Upo {
        receiver_name: state.config().upo_receiver_name.clone(),
        session_reference: s.reference.clone(),
        context,
        authentication,
        page: Some(UpoPage {
            page: 1,
            page_count: 1,
            range_from: 1,
            range_to: n,
            total: n,
        }),
        form_code: s.form,
        documents,
    };
    let reference = ReferenceNumber::generate(ReferenceKind::UpoPage, state.now()).to_string();
    // Up to 10 000 documents: rendered off the async workers.
    let xml = tokio::task::spawn_blocking(move || ksef_invoice::upo::render(&upo))
        .await
        .map_err(ApiError::internal)?;
    Ok((reference, xml))
}

/// The stored session UPO page.
pub async fn session_document(
    state: &AppState,
    session: &str,
    upo: &str,
) -> ApiResult<Option<Vec<u8>>> {
    Ok(sqlx::query_scalar::<_, Option<Vec<u8>>>(
        "SELECT upo_xml FROM sessions WHERE reference_number = ? AND upo_reference = ?",
    )
    .bind(session)
    .bind(upo)
    .fetch_optional(state.pool())
    .await?
    .flatten())
}

/// The UPO of one accepted invoice (by its reference number in the session).
pub async fn invoice_document(state: &AppState, invoice: &str) -> ApiResult<Option<Vec<u8>>> {
    let sql = format!(
        "SELECT si.session_ref, {DOCUMENT_COLUMNS} FROM session_invoices si \
         JOIN invoices i ON i.ksef_number = si.ksef_number \
         WHERE si.reference_number = ? AND si.status_code = 200"
    );
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(invoice)
        .fetch_optional(state.pool())
        .await?
    else {
        return Ok(None);
    };
    let session_ref: String = row.get("session_ref");
    let Some(s) = model::load(state, &session_ref).await? else {
        return Ok(None);
    };
    let (context, authentication) = header(state, &s).await?;
    let upo = Upo {
        receiver_name: state.config().upo_receiver_name.clone(),
        session_reference: s.reference.clone(),
        context,
        authentication,
        page: None,
        form_code: s.form,
        documents: vec![document(&row)?],
    };
    Ok(Some(ksef_invoice::upo::render(&upo).into_bytes()))
}
