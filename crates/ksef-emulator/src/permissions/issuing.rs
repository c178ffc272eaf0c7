//! Whether a context may issue invoices for a seller NIP (`Podmiot1`), the fourth check of a
//! KOD II (`kody-qr.md`: "Zgodność kontekstu i NIP sprzedawcy"), as far as the emulator's
//! permission model expresses the relations the Ministry lists:
//!
//! 1. the context belongs to the seller: its `Nip`, an `InternalId` (internal unit) of the
//!    seller's NIP, or a `NipVatUe` (EU entity) context of the seller's NIP;
//! 2. the seller gave the context's entity an entity-level authorization
//!    (`POST /permissions/authorizations/grants`): `SelfInvoicing`, `TaxRepresentative` or
//!    `RRInvoicing` to a `Nip` context, `PefInvoicing` to a `PeppolId` context (any of the four
//!    counts for either identifier type, as stored);
//! 3. the context's NIP is a subordinate entity of the seller — a JST unit or a VAT-group
//!    member whose parent (`/testdata/subject`) is the seller;
//! 4. the context's NIP is a court bailiff or an enforcement authority, who issue invoices in
//!    the name of any debtor.
//!
//! Anything else (e.g. a subunit of an entity the seller authorized) is not modelled and is
//! refused.

use ksef_core::{ContextIdentifier, Nip};
use sqlx::SqlitePool;

/// Why a context may issue invoices for a seller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuingBasis {
    /// The context is the seller's own `Nip` context.
    OwnContext,
    /// An `InternalId` context of the seller's NIP.
    InternalUnit,
    /// A `NipVatUe` context of the seller's NIP.
    EuEntity,
    /// The seller authorized the context's entity to self-bill.
    SelfInvoicing,
    /// The context's entity is the seller's tax representative.
    TaxRepresentative,
    /// The seller authorized the context's entity to issue VAT RR invoices.
    RrInvoicing,
    /// The seller authorized the context (a Peppol provider) to issue PEF invoices.
    PefInvoicing,
    /// The context's NIP is a JST unit whose parent is the seller.
    LocalGovernmentSubUnit,
    /// The context's NIP is a member of the seller's VAT group.
    VatGroupSubUnit,
    /// The context is a court bailiff or an enforcement authority.
    Enforcement,
}

impl IssuingBasis {
    /// A stable name (the API's vocabulary where it has one).
    pub const fn as_str(self) -> &'static str {
        match self {
            IssuingBasis::OwnContext => "OwnContext",
            IssuingBasis::InternalUnit => "InternalUnit",
            IssuingBasis::EuEntity => "EuEntity",
            IssuingBasis::SelfInvoicing => "SelfInvoicing",
            IssuingBasis::TaxRepresentative => "TaxRepresentative",
            IssuingBasis::RrInvoicing => "RRInvoicing",
            IssuingBasis::PefInvoicing => "PefInvoicing",
            IssuingBasis::LocalGovernmentSubUnit => "LocalGovernmentSubUnit",
            IssuingBasis::VatGroupSubUnit => "VatGroupSubUnit",
            IssuingBasis::Enforcement => "Enforcement",
        }
    }
}

/// On what basis `context` may issue invoices whose seller is `seller` (see the module docs);
/// `None` when it may not.
pub async fn issuing_basis(
    pool: &SqlitePool,
    context: &ContextIdentifier,
    seller: &Nip,
) -> Result<Option<IssuingBasis>, sqlx::Error> {
    if context.nip().as_ref() == Some(seller) {
        return Ok(Some(match context {
            ContextIdentifier::InternalId(_) => IssuingBasis::InternalUnit,
            ContextIdentifier::NipVatUe(_) => IssuingBasis::EuEntity,
            _ => IssuingBasis::OwnContext,
        }));
    }
    if matches!(
        context,
        ContextIdentifier::Nip(_) | ContextIdentifier::PeppolId(_)
    ) {
        let granted: Vec<String> = sqlx::query_scalar(
            "SELECT permission FROM authorization_grants WHERE authorizing_nip = ? \
             AND authorized_type = ? AND authorized_value = ? ORDER BY created_ms",
        )
        .bind(seller.as_str())
        .bind(context.kind().as_str())
        .bind(context.value())
        .fetch_all(pool)
        .await?;
        if let Some(basis) = granted.iter().find_map(|p| match p.as_str() {
            "SelfInvoicing" => Some(IssuingBasis::SelfInvoicing),
            "TaxRepresentative" => Some(IssuingBasis::TaxRepresentative),
            "RRInvoicing" => Some(IssuingBasis::RrInvoicing),
            "PefInvoicing" => Some(IssuingBasis::PefInvoicing),
            _ => None,
        }) {
            return Ok(Some(basis));
        }
    }
    let ContextIdentifier::Nip(context_nip) = context else {
        return Ok(None);
    };
    let role: Option<String> =
        sqlx::query_scalar("SELECT subject_type FROM subjects WHERE nip = ? AND parent_nip = ?")
            .bind(context_nip.as_str())
            .bind(seller.as_str())
            .fetch_optional(pool)
            .await?;
    match role.as_deref() {
        Some("JSTMember") => return Ok(Some(IssuingBasis::LocalGovernmentSubUnit)),
        Some("VatGroupMember") => return Ok(Some(IssuingBasis::VatGroupSubUnit)),
        _ => {}
    }
    if super::owner_has_enforcement(pool, context).await? {
        return Ok(Some(IssuingBasis::Enforcement));
    }
    Ok(None)
}
