//! Peppol service providers (digest §18):
//!
//! * `GET /peppol/query` (tag "Usługi Peppol").

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ksef_time;

/// `PeppolProvider`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeppolProvider {
    /// Peppol id (`P` + 2 letters + 6 digits).
    pub id: String,
    /// Name (≤ 256 characters).
    pub name: String,
    /// When the provider was registered.
    #[serde(with = "ksef_time")]
    pub date_created: OffsetDateTime,
}

/// `QueryPeppolProvidersResponse` (`GET /peppol/query`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryPeppolProvidersResponse {
    /// One page, `dateCreated` descending, then `id` ascending.
    pub peppol_providers: Vec<PeppolProvider>,
    /// Whether a next page exists.
    pub has_more: bool,
}
