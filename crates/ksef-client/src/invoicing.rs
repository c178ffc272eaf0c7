//! Typed calls of the session, invoice, UPO, retrieval, export and context-limit endpoints
//! (digest §8–§12, §15.3) on [`KsefClient`], one method per endpoint, plus the two calls to
//! pre-signed storage links ([`KsefClient::upload_batch_part`],
//! [`KsefClient::download_presigned`]), which carry no access token.
//!
//! XML answers (invoices, UPOs, storage downloads) come back as [`Downloaded`]: the raw bytes
//! exactly as received plus the `x-ms-meta-hash` header (Base64 SHA-256), which
//! [`Downloaded::verify_hash`] checks. Requests are sent as given (no local validation), so
//! the server's verdict is what the caller sees; `ksef_wire` has `validate()` methods for
//! callers that want to check first.
//!
//! Pre-signed URLs carry their signature in the query; error messages and logs name them
//! without the query.

use std::io::Write as _;
use std::time::Duration;

use ksef_wire::Operation;
use ksef_wire::{
    EffectiveApiRateLimits, EffectiveContextLimits, EffectiveSubjectLimits, ExportInvoicesResponse,
    InvoiceExportRequest, InvoiceExportStatusResponse, InvoiceMetadataQuery, InvoiceQueryFilters,
    OpenBatchSessionRequest, OpenBatchSessionResponse, OpenOnlineSessionRequest,
    OpenOnlineSessionResponse, PartUploadRequest, QueryInvoicesMetadataResponse,
    SendInvoiceRequest, SendInvoiceResponse, SessionInvoiceStatusResponse, SessionInvoicesResponse,
    SessionStatusResponse, SessionsQuery, SessionsQueryResponse, SortOrder, X_MS_META_HASH,
};
use reqwest::header::{CONTENT_LENGTH, HeaderMap};
use reqwest::{Method, StatusCode, Url};

use crate::client::{Call, KsefClient, chain, is_connection_reset, to_json};
use crate::error::KsefError;

/// `Accept` of the XML downloads (KSeF answers errors as JSON regardless).
const ACCEPT_XML: &str = "application/xml, application/json;q=0.9, */*;q=0.1";
/// Whole-request timeout of one pre-signed upload or download (a 100 MB part on a slow line).
const STORAGE_TIMEOUT: Duration = Duration::from_secs(3600);
/// How many characters of a storage error body are kept.
const STORAGE_ERROR_BODY_CHARS: usize = 200;

/// A downloaded document (invoice XML, UPO XML, export part): the bytes as received and the
/// `x-ms-meta-hash` header, when the server sent one.
#[derive(Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// The body, unmodified.
    pub bytes: Vec<u8>,
    /// `x-ms-meta-hash`: Base64 SHA-256 of the document, per KSeF.
    pub hash: Option<String>,
}

impl std::fmt::Debug for Downloaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Downloaded")
            .field("len", &self.bytes.len())
            .field("hash", &self.hash)
            .finish()
    }
}

impl Downloaded {
    fn from_answer(headers: &HeaderMap, bytes: Vec<u8>) -> Self {
        let hash = headers
            .get(X_MS_META_HASH)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        Downloaded { bytes, hash }
    }

    /// Base64 SHA-256 of the bytes.
    pub fn computed_hash(&self) -> String {
        ksef_crypto::envelope::sha256_base64(&self.bytes)
    }

    /// Checks the bytes against `x-ms-meta-hash`. `Ok(true)` = checked and equal, `Ok(false)`
    /// = no header to check against; a mismatch is a [`KsefError::Decode`] naming `what`.
    pub fn verify_hash(&self, what: &str) -> Result<bool, KsefError> {
        let Some(expected) = &self.hash else {
            return Ok(false);
        };
        let actual = self.computed_hash();
        if &actual == expected {
            Ok(true)
        } else {
            Err(KsefError::Decode {
                what: what.to_owned(),
                message: format!(
                    "the {} bytes received hash to {actual}, but {X_MS_META_HASH} says {expected}",
                    self.bytes.len()
                ),
            })
        }
    }

    /// The bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// A pre-signed URL for messages: scheme, host and path, without the query (the signature).
fn shown_url(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// Parses an absolute http(s) URL of a storage link.
fn storage_url(url: &str, what: &str) -> Result<Url, KsefError> {
    let parsed = Url::parse(url.trim()).map_err(|e| {
        let shown = url.split('?').next().unwrap_or(url);
        KsefError::InvalidInput(format!("{what}: invalid URL {shown:?}: {e}"))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(KsefError::InvalidInput(format!(
            "{what}: expected an http:// or https:// URL, got {}",
            shown_url(&parsed)
        )));
    }
    Ok(parsed)
}

/// A non-2xx answer of a storage link: KSeF error bodies are mapped as usual; anything else
/// (e.g. an Azure XML error) keeps the first characters of the body.
fn storage_error(status: StatusCode, body: &[u8], what: &str, shown: &str) -> KsefError {
    match KsefError::from_response(status.as_u16(), body) {
        KsefError::Api {
            code: Some(code),
            description,
            details,
            reason_code,
            ..
        } => KsefError::Api {
            status: status.as_u16(),
            code: Some(code),
            description,
            details,
            reason_code,
        },
        _ => {
            let text: String = String::from_utf8_lossy(body)
                .chars()
                .take(STORAGE_ERROR_BODY_CHARS)
                .collect();
            KsefError::Api {
                status: status.as_u16(),
                code: None,
                description: format!("{what}: {shown} answered {status}"),
                details: if text.trim().is_empty() {
                    Vec::new()
                } else {
                    vec![text]
                },
                reason_code: None,
            }
        }
    }
}

fn storage_transport_error(
    what: &str,
    method: &Method,
    shown: &str,
    e: reqwest::Error,
) -> KsefError {
    let e = e.without_url();
    if e.is_timeout() {
        return KsefError::Transport(format!(
            "{what}: {method} {shown}: no answer in time ({})",
            chain(&e)
        ));
    }
    KsefError::Transport(format!(
        "{what}: cannot reach {shown} ({method}): {}",
        chain(&e)
    ))
}

impl KsefClient {
    // -----------------------------------------------------------------------------------------
    // Online session (digest §8)
    // -----------------------------------------------------------------------------------------

    /// `POST /sessions/online` → session reference and `validUntil` (201).
    pub async fn open_online_session(
        &self,
        access_token: &str,
        request: &OpenOnlineSessionRequest,
    ) -> Result<OpenOnlineSessionResponse, KsefError> {
        let url = self.op_url(Operation::OpenOnlineSession, &[])?;
        self.send_json(
            &Operation::OpenOnlineSession.endpoint().response_label(),
            Call::op(Operation::OpenOnlineSession, url)
                .bearer(access_token)
                .json(to_json(request)?),
        )
        .await
    }

    /// `POST /sessions/online/{referenceNumber}/invoices` → invoice reference (202; the
    /// invoice is only queued, its status comes later).
    pub async fn send_invoice(
        &self,
        access_token: &str,
        session_reference: &str,
        request: &SendInvoiceRequest,
    ) -> Result<SendInvoiceResponse, KsefError> {
        let url = self.op_url(Operation::SendInvoice, &[session_reference])?;
        self.send_json(
            &Operation::SendInvoice.endpoint().response_label(),
            Call::op(Operation::SendInvoice, url)
                .bearer(access_token)
                .json(to_json(request)?),
        )
        .await
    }

    /// `POST /sessions/online/{referenceNumber}/close` (204): starts the session UPO.
    pub async fn close_online_session(
        &self,
        access_token: &str,
        session_reference: &str,
    ) -> Result<(), KsefError> {
        let url = self.op_url(Operation::CloseOnlineSession, &[session_reference])?;
        self.send(Call::op(Operation::CloseOnlineSession, url).bearer(access_token))
            .await
            .map(drop)
    }

    // -----------------------------------------------------------------------------------------
    // Batch session (digest §9)
    // -----------------------------------------------------------------------------------------

    /// `POST /sessions/batch` → session reference and one upload instruction per part (201).
    pub async fn open_batch_session(
        &self,
        access_token: &str,
        request: &OpenBatchSessionRequest,
    ) -> Result<OpenBatchSessionResponse, KsefError> {
        let url = self.op_url(Operation::OpenBatchSession, &[])?;
        self.send_json(
            &Operation::OpenBatchSession.endpoint().response_label(),
            Call::op(Operation::OpenBatchSession, url)
                .bearer(access_token)
                .json(to_json(request)?),
        )
        .await
    }

    /// Uploads one encrypted part to its pre-signed URL: the request's `method` and
    /// `headers`, the exact `content_length`, NO access token; success is 201 (any other 2xx
    /// is accepted too). The body may be a stream (`reqwest::Body::wrap_stream`, a
    /// `tokio::fs::File`); it is sent once, never retried.
    pub async fn upload_batch_part(
        &self,
        request: &PartUploadRequest,
        body: reqwest::Body,
        content_length: u64,
    ) -> Result<(), KsefError> {
        let what = format!("upload of batch part {}", request.ordinal_number);
        let url = storage_url(&request.url, &what)?;
        let method = Method::from_bytes(request.method.trim().as_bytes()).map_err(|_| {
            KsefError::Decode {
                what: Operation::OpenBatchSession.endpoint().response_label(),
                message: format!(
                    "part {}: invalid HTTP method {:?}",
                    request.ordinal_number, request.method
                ),
            }
        })?;
        let shown = shown_url(&url);
        let mut builder = self
            .http()
            .request(method.clone(), url)
            .timeout(STORAGE_TIMEOUT);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let resp = builder
            .header(CONTENT_LENGTH, content_length)
            .body(body)
            .send()
            .await
            .map_err(|e| storage_transport_error(&what, &method, &shown, e))?;
        let status = resp.status();
        tracing::debug!(
            part = request.ordinal_number,
            status = status.as_u16(),
            "batch part upload"
        );
        if status.is_success() {
            return Ok(());
        }
        let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        Err(storage_error(status, &body, &what, &shown))
    }

    /// `POST /sessions/batch/{referenceNumber}/close` (204): starts processing.
    pub async fn close_batch_session(
        &self,
        access_token: &str,
        session_reference: &str,
    ) -> Result<(), KsefError> {
        let url = self.op_url(Operation::CloseBatchSession, &[session_reference])?;
        self.send(Call::op(Operation::CloseBatchSession, url).bearer(access_token))
            .await
            .map(drop)
    }

    // -----------------------------------------------------------------------------------------
    // Sessions, invoice statuses (digest §10)
    // -----------------------------------------------------------------------------------------

    /// `GET /sessions`: one page of sessions matching `query` (newest first).
    pub async fn list_sessions(
        &self,
        access_token: &str,
        query: &SessionsQuery,
        continuation: Option<&str>,
    ) -> Result<SessionsQueryResponse, KsefError> {
        let url = self.sessions_list_url(query)?;
        self.send_json(
            &Operation::ListSessions.endpoint().response_label(),
            Call::op(Operation::ListSessions, url)
                .bearer(access_token)
                .continuation(continuation),
        )
        .await
    }

    pub(crate) fn sessions_list_url(&self, query: &SessionsQuery) -> Result<Url, KsefError> {
        let mut url = self.op_url(Operation::ListSessions, &[])?;
        url.query_pairs_mut().extend_pairs(query.to_query_pairs());
        Ok(url)
    }

    /// `GET /sessions/{referenceNumber}`: status, counters and (once generated) the UPO pages.
    pub async fn session_status(
        &self,
        access_token: &str,
        session_reference: &str,
    ) -> Result<SessionStatusResponse, KsefError> {
        let url = self.op_url(Operation::SessionStatus, &[session_reference])?;
        self.send_json(
            &Operation::SessionStatus.endpoint().response_label(),
            Call::op(Operation::SessionStatus, url).bearer(access_token),
        )
        .await
    }

    fn page_url(
        &self,
        op: Operation,
        params: &[&str],
        page_size: Option<u32>,
    ) -> Result<Url, KsefError> {
        let mut url = self.op_url(op, params)?;
        if let Some(n) = page_size {
            url.query_pairs_mut()
                .append_pair("pageSize", &n.to_string());
        }
        Ok(url)
    }

    /// `GET /sessions/{referenceNumber}/invoices`: one page (`page_size` 10–1000) of the
    /// session's invoices.
    pub async fn session_invoices(
        &self,
        access_token: &str,
        session_reference: &str,
        page_size: Option<u32>,
        continuation: Option<&str>,
    ) -> Result<SessionInvoicesResponse, KsefError> {
        let url = self.page_url(Operation::SessionInvoices, &[session_reference], page_size)?;
        self.send_json(
            &Operation::SessionInvoices.endpoint().response_label(),
            Call::op(Operation::SessionInvoices, url)
                .bearer(access_token)
                .continuation(continuation),
        )
        .await
    }

    /// `GET /sessions/{referenceNumber}/invoices/failed`: one page of the rejected invoices.
    pub async fn session_failed_invoices(
        &self,
        access_token: &str,
        session_reference: &str,
        page_size: Option<u32>,
        continuation: Option<&str>,
    ) -> Result<SessionInvoicesResponse, KsefError> {
        let url = self.page_url(
            Operation::FailedSessionInvoices,
            &[session_reference],
            page_size,
        )?;
        self.send_json(
            &Operation::FailedSessionInvoices.endpoint().response_label(),
            Call::op(Operation::FailedSessionInvoices, url)
                .bearer(access_token)
                .continuation(continuation),
        )
        .await
    }

    /// `GET /sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}`: one invoice's
    /// status.
    pub async fn session_invoice(
        &self,
        access_token: &str,
        session_reference: &str,
        invoice_reference: &str,
    ) -> Result<SessionInvoiceStatusResponse, KsefError> {
        let url = self.op_url(
            Operation::SessionInvoiceStatus,
            &[session_reference, invoice_reference],
        )?;
        self.send_json(
            &Operation::SessionInvoiceStatus.endpoint().response_label(),
            Call::op(Operation::SessionInvoiceStatus, url).bearer(access_token),
        )
        .await
    }

    async fn download_xml(
        &self,
        op: Operation,
        access_token: &str,
        url: Url,
    ) -> Result<Downloaded, KsefError> {
        let answer = self
            .send(Call::op(op, url).bearer(access_token).accept(ACCEPT_XML))
            .await?;
        Ok(Downloaded::from_answer(&answer.headers, answer.body))
    }

    /// `GET /sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}/upo`: the invoice
    /// UPO (XML).
    pub async fn invoice_upo_by_reference(
        &self,
        access_token: &str,
        session_reference: &str,
        invoice_reference: &str,
    ) -> Result<Downloaded, KsefError> {
        let url = self.op_url(
            Operation::InvoiceUpoByReference,
            &[session_reference, invoice_reference],
        )?;
        self.download_xml(Operation::InvoiceUpoByReference, access_token, url)
            .await
    }

    /// `GET /sessions/{referenceNumber}/invoices/ksef/{ksefNumber}/upo`: the invoice UPO
    /// (XML) by KSeF number.
    pub async fn invoice_upo_by_ksef_number(
        &self,
        access_token: &str,
        session_reference: &str,
        ksef_number: &str,
    ) -> Result<Downloaded, KsefError> {
        let url = self.op_url(
            Operation::InvoiceUpoByKsefNumber,
            &[session_reference, ksef_number],
        )?;
        self.download_xml(Operation::InvoiceUpoByKsefNumber, access_token, url)
            .await
    }

    /// `GET` of an XML document streamed into `out` (constant memory), hashed on the way and
    /// checked against `x-ms-meta-hash` when the server sent one (`what` names the document in
    /// the error). Returns the number of bytes written.
    pub(crate) async fn download_xml_to(
        &self,
        op: Operation,
        access_token: &str,
        url: Url,
        what: &str,
        out: &mut (dyn std::io::Write + Send),
    ) -> Result<u64, KsefError> {
        // Named in mid-body errors too (the URL holds no secret: tokens travel in headers).
        let shown = url.to_string();
        let mut resp = self
            .send_streaming(Call::op(op, url).bearer(access_token).accept(ACCEPT_XML))
            .await?;
        let expected = resp
            .headers()
            .get(X_MS_META_HASH)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        let mut hashing = ksef_crypto::stream::HashingWriter::new(out);
        while let Some(chunk) = resp.chunk().await.map_err(|e| {
            KsefError::Transport(format!(
                "downloading the {what} from {shown} (GET) broke off: {}",
                crate::client::chain(&e.without_url())
            ))
        })? {
            hashing
                .write_all(&chunk)
                .map_err(|e| KsefError::InvalidInput(format!("cannot write the {what}: {e}")))?;
        }
        let (_, digest) = hashing.finish();
        if let Some(expected) = expected
            && digest.sha256_base64() != expected
        {
            return Err(KsefError::Decode {
                what: what.to_owned(),
                message: format!(
                    "the {} bytes received hash to {}, but {X_MS_META_HASH} says {expected}",
                    digest.size,
                    digest.sha256_base64()
                ),
            });
        }
        Ok(digest.size)
    }

    /// [`session_upo`](Self::session_upo) streamed into `out`; see
    /// `download_xml_to`.
    pub async fn session_upo_to(
        &self,
        access_token: &str,
        session_reference: &str,
        upo_reference: &str,
        out: &mut (dyn std::io::Write + Send),
    ) -> Result<u64, KsefError> {
        let url = self.op_url(Operation::SessionUpo, &[session_reference, upo_reference])?;
        self.download_xml_to(Operation::SessionUpo, access_token, url, "session UPO", out)
            .await
    }

    /// `GET /sessions/{referenceNumber}/upo/{upoReferenceNumber}`: one session UPO page (XML).
    pub async fn session_upo(
        &self,
        access_token: &str,
        session_reference: &str,
        upo_reference: &str,
    ) -> Result<Downloaded, KsefError> {
        let url = self.op_url(Operation::SessionUpo, &[session_reference, upo_reference])?;
        self.download_xml(Operation::SessionUpo, access_token, url)
            .await
    }

    /// `GET` of a pre-signed link (UPO `downloadUrl`/`upoDownloadUrl`, export part `url`): NO
    /// access token, not rate limited. A reset connection is retried once.
    pub async fn download_presigned(&self, url: &str) -> Result<Downloaded, KsefError> {
        let what = "pre-signed download";
        let url = storage_url(url, what)?;
        let shown = shown_url(&url);
        let mut retried = false;
        loop {
            let result = async {
                let resp = self
                    .http()
                    .get(url.clone())
                    .timeout(STORAGE_TIMEOUT)
                    .send()
                    .await?;
                let status = resp.status();
                let headers = resp.headers().clone();
                let body = resp.bytes().await?.to_vec();
                Ok::<_, reqwest::Error>((status, headers, body))
            }
            .await;
            let (status, headers, body) = match result {
                Ok(a) => a,
                Err(e) if !retried && is_connection_reset(&e) => {
                    retried = true;
                    tracing::debug!(url = %shown, "connection reset, retrying once");
                    continue;
                }
                Err(e) => return Err(storage_transport_error(what, &Method::GET, &shown, e)),
            };
            tracing::debug!(url = %shown, status = status.as_u16(), "pre-signed download");
            if !status.is_success() {
                return Err(storage_error(status, &body, what, &shown));
            }
            return Ok(Downloaded::from_answer(&headers, body));
        }
    }

    // -----------------------------------------------------------------------------------------
    // Retrieval (digest §12)
    // -----------------------------------------------------------------------------------------

    /// `GET /invoices/ksef/{ksefNumber}`: the invoice XML exactly as stored.
    pub async fn get_invoice(
        &self,
        access_token: &str,
        ksef_number: &str,
    ) -> Result<Downloaded, KsefError> {
        let url = self.op_url(Operation::DownloadInvoice, &[ksef_number])?;
        self.download_xml(Operation::DownloadInvoice, access_token, url)
            .await
    }

    pub(crate) fn metadata_query_url(
        &self,
        sort: SortOrder,
        page_offset: u32,
        page_size: u32,
    ) -> Result<Url, KsefError> {
        let mut url = self.op_url(Operation::QueryInvoiceMetadata, &[])?;
        let query = InvoiceMetadataQuery {
            sort_order: Some(sort),
            page_offset: Some(page_offset),
            page_size: Some(page_size),
        };
        url.query_pairs_mut().extend_pairs(query.to_query_pairs());
        Ok(url)
    }

    /// `POST /invoices/query/metadata`: one page (0-based `page_offset`, `page_size` 10–250)
    /// of invoice metadata, sorted by the filter's date type.
    pub async fn query_invoice_metadata(
        &self,
        access_token: &str,
        filters: &InvoiceQueryFilters,
        sort: SortOrder,
        page_offset: u32,
        page_size: u32,
    ) -> Result<QueryInvoicesMetadataResponse, KsefError> {
        let url = self.metadata_query_url(sort, page_offset, page_size)?;
        self.send_json(
            &Operation::QueryInvoiceMetadata.endpoint().response_label(),
            Call::op(Operation::QueryInvoiceMetadata, url)
                .bearer(access_token)
                .json(to_json(filters)?),
        )
        .await
    }

    /// `POST /invoices/exports` → export reference (201; the package is built
    /// asynchronously).
    pub async fn start_export(
        &self,
        access_token: &str,
        request: &InvoiceExportRequest,
    ) -> Result<ExportInvoicesResponse, KsefError> {
        let url = self.op_url(Operation::ExportInvoices, &[])?;
        self.send_json(
            &Operation::ExportInvoices.endpoint().response_label(),
            Call::op(Operation::ExportInvoices, url)
                .bearer(access_token)
                .json(to_json(request)?),
        )
        .await
    }

    /// `GET /invoices/exports/{referenceNumber}`: status and, when done, the package parts.
    pub async fn export_status(
        &self,
        access_token: &str,
        export_reference: &str,
    ) -> Result<InvoiceExportStatusResponse, KsefError> {
        let url = self.op_url(Operation::ExportStatus, &[export_reference])?;
        self.send_json(
            &Operation::ExportStatus.endpoint().response_label(),
            Call::op(Operation::ExportStatus, url).bearer(access_token),
        )
        .await
    }

    // -----------------------------------------------------------------------------------------
    // Limits (digest §15.3)
    // -----------------------------------------------------------------------------------------

    /// `GET /limits/context`: the session limits in force for the current context.
    pub async fn context_limits(
        &self,
        access_token: &str,
    ) -> Result<EffectiveContextLimits, KsefError> {
        let url = self.op_url(Operation::ContextLimits, &[])?;
        self.send_json(
            &Operation::ContextLimits.endpoint().response_label(),
            Call::op(Operation::ContextLimits, url).bearer(access_token),
        )
        .await
    }

    /// `GET /limits/subject`: the certificate limits of the authenticated subject.
    pub async fn subject_limits(
        &self,
        access_token: &str,
    ) -> Result<EffectiveSubjectLimits, KsefError> {
        let url = self.op_url(Operation::SubjectLimits, &[])?;
        self.send_json(
            &Operation::SubjectLimits.endpoint().response_label(),
            Call::op(Operation::SubjectLimits, url).bearer(access_token),
        )
        .await
    }

    /// `GET /rate-limits`: the API rate limits in force for the current context (digest
    /// §15.1), per endpoint group.
    pub async fn rate_limits(
        &self,
        access_token: &str,
    ) -> Result<EffectiveApiRateLimits, KsefError> {
        let url = self.op_url(Operation::RateLimits, &[])?;
        self.send_json(
            &Operation::RateLimits.endpoint().response_label(),
            Call::op(Operation::RateLimits, url).bearer(access_token),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::body::{Body, to_bytes};
    use axum::extract::{Request, State};
    use axum::http::{HeaderValue, StatusCode as AxStatus};
    use axum::response::Response;
    use ksef_wire::{CommonSessionStatus, SessionType};
    use time::macros::datetime;

    use super::*;

    #[test]
    fn session_list_url_encodes_the_query() {
        let c = KsefClient::new("http://127.0.0.1:1/v2").unwrap();
        let mut q = SessionsQuery::new(SessionType::Online);
        q.reference_number = Some("20250925-SO-2F67776000-97273B191A-65".into());
        q.date_created_from = Some(datetime!(2025-09-01 10:00 +02:00));
        q.statuses = vec![CommonSessionStatus::InProgress, CommonSessionStatus::Failed];
        q.page_size = Some(100);
        let url = c.sessions_list_url(&q).unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:1/v2/sessions?sessionType=Online\
             &referenceNumber=20250925-SO-2F67776000-97273B191A-65\
             &dateCreatedFrom=2025-09-01T08%3A00%3A00.0000000%2B00%3A00\
             &statuses=InProgress&statuses=Failed&pageSize=100"
        );
        // The server side parses the same pairs back.
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let back =
            SessionsQuery::from_query_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .unwrap();
        assert_eq!(back, q);
    }

    #[test]
    fn metadata_and_page_urls() {
        let c = KsefClient::new("https://ksef-test.mf.gov.pl/api/v2/").unwrap();
        let url = c.metadata_query_url(SortOrder::Desc, 2, 250).unwrap();
        assert_eq!(
            url.as_str(),
            "https://ksef-test.mf.gov.pl/api/v2/invoices/query/metadata?sortOrder=Desc&pageOffset=2&pageSize=250"
        );
        let url = c
            .page_url(Operation::FailedSessionInvoices, &["a/b"], Some(10))
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://ksef-test.mf.gov.pl/api/v2/sessions/a%2Fb/invoices/failed?pageSize=10"
        );
        let url = c
            .page_url(Operation::SessionInvoices, &["x"], None)
            .unwrap();
        assert_eq!(url.query(), None);
        let url = c
            .url(&[
                "sessions",
                "S",
                "invoices",
                "ksef",
                "5265877635-20250626-010080DD2B5E-26",
                "upo",
            ])
            .unwrap();
        assert_eq!(
            url.path(),
            "/api/v2/sessions/S/invoices/ksef/5265877635-20250626-010080DD2B5E-26/upo"
        );
    }

    #[test]
    fn storage_urls_hide_the_signature() {
        let u = storage_url("https://h/storage/x/1?sig=SECRET&se=1", "t").unwrap();
        assert_eq!(shown_url(&u), "https://h/storage/x/1");
        let err = storage_url("ftp://h/x?sig=SECRET", "t").unwrap_err();
        assert!(!err.to_string().contains("SECRET"), "{err}");
        let err = storage_url("/relative?sig=SECRET", "t").unwrap_err();
        assert!(!err.to_string().contains("SECRET"), "{err}");
    }

    #[test]
    fn downloaded_hash_check() {
        let bytes = b"<Faktura/>".to_vec();
        let good = ksef_crypto::envelope::sha256_base64(&bytes);
        let d = Downloaded {
            bytes: bytes.clone(),
            hash: Some(good),
        };
        assert!(d.verify_hash("invoice").unwrap());
        let d = Downloaded {
            bytes: bytes.clone(),
            hash: None,
        };
        assert!(!d.verify_hash("invoice").unwrap());
        let d = Downloaded {
            bytes,
            hash: Some("mkht+3m5trnfxlTYhq3QFn74LkEO69MFNlsMAkCDSPA=".into()),
        };
        let err = d.verify_hash("invoice").unwrap_err();
        assert!(err.to_string().contains("x-ms-meta-hash"), "{err}");
    }

    /// What the test server saw.
    #[derive(Debug, Clone)]
    struct Seen {
        method: String,
        uri: String,
        headers: axum::http::HeaderMap,
        body: Vec<u8>,
    }

    #[derive(Clone)]
    struct Server {
        seen: Arc<Mutex<Vec<Seen>>>,
        status: AxStatus,
        body: &'static [u8],
        hash: Option<&'static str>,
    }

    async fn record(State(s): State<Server>, req: Request) -> Response {
        let (parts, body) = req.into_parts();
        let body = to_bytes(body, usize::MAX).await.unwrap().to_vec();
        s.seen.lock().unwrap().push(Seen {
            method: parts.method.to_string(),
            uri: parts.uri.to_string(),
            headers: parts.headers,
            body,
        });
        let mut resp = Response::new(Body::from(s.body));
        *resp.status_mut() = s.status;
        if let Some(h) = s.hash {
            resp.headers_mut()
                .insert(X_MS_META_HASH, HeaderValue::from_static(h));
        }
        resp
    }

    /// A recording HTTP server on 127.0.0.1 (random port) answering every request alike.
    async fn serve(
        status: AxStatus,
        body: &'static [u8],
        hash: Option<&'static str>,
    ) -> (String, Arc<Mutex<Vec<Seen>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let state = Server {
            seen: seen.clone(),
            status,
            body,
            hash,
        };
        let app = axum::Router::new().fallback(record).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), seen)
    }

    #[tokio::test]
    async fn part_upload_sends_headers_and_no_token() {
        let (base, seen) = serve(AxStatus::CREATED, b"", None).await;
        let c = KsefClient::new(&format!("{base}/v2")).unwrap();
        let req = PartUploadRequest {
            ordinal_number: 3,
            method: "PUT".into(),
            url: format!("{base}/storage/batch/3?exp=1&sig=abc"),
            headers: [("x-ms-blob-type".to_owned(), "BlockBlob".to_owned())].into(),
        };
        // A streamed body: an open file (chunked reads, no length known to reqwest).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part.aes");
        std::fs::write(&path, b"part-bytes").unwrap();
        let body = reqwest::Body::from(tokio::fs::File::open(&path).await.unwrap());
        c.upload_batch_part(&req, body, 10).await.unwrap();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1);
        let s = &seen[0];
        assert_eq!(s.method, "PUT");
        assert_eq!(s.uri, "/storage/batch/3?exp=1&sig=abc");
        assert_eq!(s.headers["x-ms-blob-type"], "BlockBlob");
        assert_eq!(s.headers["content-length"], "10");
        assert!(s.headers.get("authorization").is_none());
        assert_eq!(s.body, b"part-bytes");
    }

    #[tokio::test]
    async fn part_upload_refusal_hides_the_signature() {
        let (base, _seen) = serve(
            AxStatus::FORBIDDEN,
            b"<Error><Code>AuthenticationFailed</Code></Error>",
            None,
        )
        .await;
        let c = KsefClient::new(&format!("{base}/v2")).unwrap();
        let req = PartUploadRequest {
            ordinal_number: 1,
            method: "PUT".into(),
            url: format!("{base}/storage/batch/1?sig=SECRET"),
            headers: Default::default(),
        };
        let err = c
            .upload_batch_part(&req, reqwest::Body::from(vec![1u8, 2, 3]), 3)
            .await
            .unwrap_err();
        assert_eq!(err.http_status(), Some(403));
        let msg = err.to_string();
        assert!(!msg.contains("SECRET"), "{msg}");
        assert!(msg.contains("AuthenticationFailed"), "{msg}");
    }

    #[tokio::test]
    async fn presigned_download_returns_bytes_and_hash_without_token() {
        let (base, seen) = serve(
            AxStatus::OK,
            b"<Potwierdzenie/>",
            Some("mkht+3m5trnfxlTYhq3QFn74LkEO69MFNlsMAkCDSPA="),
        )
        .await;
        let c = KsefClient::new(&format!("{base}/v2")).unwrap();
        let d = c
            .download_presigned(&format!("{base}/storage/upo/1?sig=x"))
            .await
            .unwrap();
        assert_eq!(d.bytes, b"<Potwierdzenie/>");
        assert_eq!(
            d.hash.as_deref(),
            Some("mkht+3m5trnfxlTYhq3QFn74LkEO69MFNlsMAkCDSPA=")
        );
        assert!(d.verify_hash("UPO").is_err(), "the header does not match");
        let seen = seen.lock().unwrap().clone();
        assert!(seen[0].headers.get("authorization").is_none());
        assert_eq!(seen[0].uri, "/storage/upo/1?sig=x");
    }

    #[tokio::test]
    async fn xml_download_uses_bearer_and_maps_errors() {
        let (base, seen) = serve(AxStatus::OK, b"<Faktura/>", None).await;
        let c = KsefClient::new(&format!("{base}/v2")).unwrap();
        let d = c
            .get_invoice("tok", "5265877635-20250626-010080DD2B5E-26")
            .await
            .unwrap();
        assert_eq!(d.bytes, b"<Faktura/>");
        assert_eq!(d.hash, None);
        let s = seen.lock().unwrap()[0].clone();
        assert_eq!(
            s.uri,
            "/v2/invoices/ksef/5265877635-20250626-010080DD2B5E-26"
        );
        assert_eq!(s.headers["authorization"], "Bearer tok");
        assert!(
            s.headers["accept"]
                .to_str()
                .unwrap()
                .starts_with("application/xml")
        );

        let (base, _) = serve(
            AxStatus::BAD_REQUEST,
            br#"{"exception":{"exceptionDetailList":[{"exceptionCode":21164,"exceptionDescription":"Faktura o podanym identyfikatorze nie istnieje.","details":[]}]}}"#,
            None,
        )
        .await;
        let c = KsefClient::new(&format!("{base}/v2")).unwrap();
        let err = c.get_invoice("tok", "x").await.unwrap_err();
        assert_eq!(err.code(), Some(21164));
    }

    #[tokio::test]
    async fn json_calls_send_body_query_and_continuation() {
        let (base, seen) = serve(
            AxStatus::OK,
            br#"{"continuationToken":null,"invoices":[]}"#,
            None,
        )
        .await;
        let c = KsefClient::new(&format!("{base}/v2")).unwrap();
        let r = c
            .session_failed_invoices(
                "tok",
                "20250625-SO-2C3E6C8000-B675CF5D68-07",
                Some(50),
                Some("W3si"),
            )
            .await
            .unwrap();
        assert!(r.invoices.is_empty());
        let s = seen.lock().unwrap()[0].clone();
        assert_eq!(
            s.uri,
            "/v2/sessions/20250625-SO-2C3E6C8000-B675CF5D68-07/invoices/failed?pageSize=50"
        );
        assert_eq!(s.headers["x-continuation-token"], "W3si");

        let (base, seen) = serve(
            AxStatus::OK,
            br#"{"hasMore":false,"isTruncated":false,"invoices":[]}"#,
            None,
        )
        .await;
        let c = KsefClient::new(&format!("{base}/v2")).unwrap();
        let filters = InvoiceQueryFilters::new(
            ksef_wire::InvoiceQuerySubjectType::Subject2,
            ksef_wire::InvoiceQueryDateRange::new(
                ksef_wire::InvoiceQueryDateType::PermanentStorage,
                datetime!(2025-08-28 09:22:13 UTC),
                None,
            ),
        );
        let r = c
            .query_invoice_metadata("tok", &filters, SortOrder::Asc, 0, 100)
            .await
            .unwrap();
        assert!(!r.has_more);
        let s = seen.lock().unwrap()[0].clone();
        assert_eq!(s.method, "POST");
        assert_eq!(
            s.uri,
            "/v2/invoices/query/metadata?sortOrder=Asc&pageOffset=0&pageSize=100"
        );
        assert_eq!(s.headers["content-type"], "application/json");
        let sent: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
        assert_eq!(sent["subjectType"], "Subject2");
        assert_eq!(
            sent["dateRange"]["from"],
            "2025-08-28T09:22:13.0000000+00:00"
        );
        assert!(sent.get("ksefNumber").is_none());
    }
}
