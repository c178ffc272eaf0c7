//! Invoice retrieval (digest §12): `GET /invoices/ksef/{ksefNumber}` (XML, no JSON body),
//! `POST /invoices/query/metadata`, `POST /invoices/exports`,
//! `GET /invoices/exports/{referenceNumber}`, and the `_metadata.json` file of an export
//! package ([`ExportMetadataFile`]).
//!
//! Dates in the query filters ([`InvoiceQueryDateRange`]) follow the API's own rule: a
//! value without an offset is local time of Europe/Warsaw ([`warsaw`]), and a bare date
//! (`2026-12-06`) is its midnight in Warsaw. Every other `date-time` request field read by
//! the emulator follows the same rule (the real service is a .NET service in Poland).

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::common::{
    OpenEnum, StatusInfo, Validate, ValidationError, check_length, check_range, wire_enum,
};
use crate::ksef_time;
use crate::sessions::{CompressionType, EncryptionInfo, FormCode, InvoicingMode, invalid};

wire_enum! {
    /// `SortOrder` (query parameter of `POST /invoices/query/metadata`).
    pub enum SortOrder {
        /// Ascending (the default).
        Asc = "Asc",
        /// Descending.
        Desc = "Desc",
    }
}

wire_enum! {
    /// `InvoiceQuerySubjectType`: which role of the context the query is about.
    pub enum InvoiceQuerySubjectType {
        /// Seller (Podmiot1).
        Subject1 = "Subject1",
        /// Buyer (Podmiot2).
        Subject2 = "Subject2",
        /// Third party (Podmiot3).
        Subject3 = "Subject3",
        /// Authorised entity (PodmiotUpowazniony).
        SubjectAuthorized = "SubjectAuthorized",
    }
}

wire_enum! {
    /// `InvoiceQueryDateType`: the date a range applies to.
    pub enum InvoiceQueryDateType {
        /// Issue date (`P_1`).
        Issue = "Issue",
        /// Accepted by KSeF for processing.
        Invoicing = "Invoicing",
        /// Durably stored.
        PermanentStorage = "PermanentStorage",
    }
}

wire_enum! {
    /// `AmountType`: which total an amount filter applies to.
    pub enum AmountType {
        /// Gross.
        Brutto = "Brutto",
        /// Net.
        Netto = "Netto",
        /// VAT.
        Vat = "Vat",
    }
}

wire_enum! {
    /// `BuyerIdentifierType`.
    pub enum BuyerIdentifierType {
        /// Polish NIP.
        Nip = "Nip",
        /// EU VAT number.
        VatUe = "VatUe",
        /// Another identifier.
        Other = "Other",
        /// No identifier.
        None = "None",
    }
}

wire_enum! {
    /// `ThirdSubjectIdentifierType`.
    pub enum ThirdSubjectIdentifierType {
        /// Polish NIP.
        Nip = "Nip",
        /// Internal identifier (NIP + 5 digits).
        InternalId = "InternalId",
        /// EU VAT number.
        VatUe = "VatUe",
        /// Another identifier.
        Other = "Other",
        /// No identifier.
        None = "None",
    }
}

wire_enum! {
    /// `InvoiceQueryFormType`: the document family (the `value` of a [`FormCode`]).
    pub enum InvoiceQueryFormType {
        /// FA (2) / FA (3).
        Fa = "FA",
        /// PEF (3) / PEF_KOR (3).
        Pef = "PEF",
        /// FA_RR (1).
        FaRr = "FA_RR",
    }
}

wire_enum! {
    /// `InvoiceType`: the kind of invoice.
    pub enum InvoiceType {
        /// (FA) basic.
        Vat = "Vat",
        /// (FA) advance.
        Zal = "Zal",
        /// (FA) correction.
        Kor = "Kor",
        /// (FA) settlement.
        Roz = "Roz",
        /// (FA) simplified.
        Upr = "Upr",
        /// (FA) correction of an advance invoice.
        KorZal = "KorZal",
        /// (FA) correction of a settlement invoice.
        KorRoz = "KorRoz",
        /// (PEF) basic.
        VatPef = "VatPef",
        /// (PEF) special.
        VatPefSp = "VatPefSp",
        /// (PEF) correction.
        KorPef = "KorPef",
        /// (FA_RR) basic.
        VatRr = "VatRr",
        /// (FA_RR) correction.
        KorVatRr = "KorVatRr",
    }
}

/// `CurrencyCode`: an ISO 4217 code; kept as a string (180 values), checked with
/// [`is_currency_code`].
pub type CurrencyCode = String;

/// The `CurrencyCode` enum of the OpenAPI.
pub const CURRENCY_CODES: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD",
    "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP",
    "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP",
    "GEL", "GGP", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HRK", "HTG", "HUF",
    "IDR", "ILS", "IMP", "INR", "IQD", "IRR", "ISK", "JEP", "JMD", "JOD", "JPY", "KES", "KGS",
    "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD",
    "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV",
    "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP",
    "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK",
    "SGD", "SHP", "SLL", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT",
    "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW",
    "UZS", "VES", "VND", "VUV", "WST", "XAF", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD",
    "XCG", "XDR", "XOF", "XPD", "XPF", "XPT", "XSU", "XUA", "XXX", "YER", "ZAR", "ZMW", "ZWL",
];

/// Whether `code` is one of [`CURRENCY_CODES`].
pub fn is_currency_code(code: &str) -> bool {
    CURRENCY_CODES.binary_search(&code).is_ok()
}

/// Maximum `pageSize` of `POST /invoices/query/metadata`.
pub const MAX_METADATA_PAGE_SIZE: u32 = 250;
/// Maximum rows one metadata filter set can reach (then `isTruncated`).
pub const MAX_METADATA_RESULTS: u32 = 10_000;

// ---------------------------------------------------------------------------------------------
// Europe/Warsaw time for query dates
// ---------------------------------------------------------------------------------------------

/// Europe/Warsaw local time for query dates without an offset and for the "3 months in UTC
/// or in Warsaw" range rule. The zone rule itself is [`ksef_core::warsaw`] (re-exported here
/// under the names this module has always used); what is specific to the wire format is
/// [`parse`](warsaw::parse) and the serde helpers.
pub mod warsaw {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::{OffsetDateTime, PrimitiveDateTime};

    use crate::ksef_time::{self, TimestampError};

    /// Interprets a local Warsaw wall-clock time ([`ksef_core::warsaw::from_warsaw`]): in the
    /// autumn overlap the first (summer) instant is taken; a time in the spring gap is read
    /// with +01:00.
    pub use ksef_core::warsaw::from_warsaw as from_local;
    /// The Warsaw offset at an instant ([`ksef_core::warsaw::offset_at`]).
    pub use ksef_core::warsaw::offset_at;
    /// The instant in Warsaw local time ([`ksef_core::warsaw::to_warsaw`]).
    pub use ksef_core::warsaw::to_warsaw as to_local;

    fn has_offset(s: &str) -> bool {
        s.split_once(['T', 't', ' '])
            .is_some_and(|(_, t)| t.contains(['Z', 'z', '+', '-']))
    }

    /// Parses a request date-time: with `Z` or an offset as given, without an offset as
    /// Warsaw local time, a bare date (`2026-12-06`) as its midnight in Warsaw.
    pub fn parse(s: &str) -> Result<OffsetDateTime, TimestampError> {
        let s = s.trim();
        if has_offset(s) {
            return ksef_time::parse(s);
        }
        // Without an offset ksef_time reads UTC; reinterpret the wall-clock fields.
        let naive = ksef_time::parse(s)?;
        Ok(from_local(PrimitiveDateTime::new(
            naive.date(),
            naive.time(),
        )))
    }

    /// Serializes like [`ksef_time`] (UTC, explicit offset).
    pub fn serialize<S: Serializer>(dt: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
        ksef_time::serialize(dt, serializer)
    }

    /// Deserializes with [`parse`].
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<OffsetDateTime, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        parse(&s).map_err(serde::de::Error::custom)
    }

    /// `Option` variant; pair with `#[serde(default)]`.
    pub mod option {
        use super::*;

        /// Serializes `Some` like [`ksef_time`], `None` as `null`.
        pub fn serialize<S: Serializer>(
            dt: &Option<OffsetDateTime>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            ksef_time::option::serialize(dt, serializer)
        }

        /// Accepts `null` or a query date.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<OffsetDateTime>, D::Error> {
            match Option::<std::borrow::Cow<'de, str>>::deserialize(deserializer)? {
                Some(s) => parse(&s).map(Some).map_err(serde::de::Error::custom),
                None => Ok(None),
            }
        }
    }
}

/// Adds calendar months, clamping the day (31 Jan + 1 month = 28/29 Feb).
fn add_months(dt: OffsetDateTime, months: u8) -> Option<OffsetDateTime> {
    let total = i32::from(u8::from(dt.month())) - 1 + i32::from(months);
    let year = dt.year() + total / 12;
    let month = time::Month::try_from(u8::try_from(total % 12 + 1).ok()?).ok()?;
    let day = dt.day().min(time::util::days_in_month(month, year));
    let date = Date::from_calendar_date(year, month, day).ok()?;
    Some(dt.replace_date(date))
}

/// The "at most 3 months" rule of query/export date ranges: `to` ≤ `from` + 3 calendar
/// months, in UTC or in Europe/Warsaw local time (either suffices).
pub fn within_three_months(from: OffsetDateTime, to: OffsetDateTime) -> bool {
    let utc_ok = add_months(from.to_offset(time::UtcOffset::UTC), 3)
        .is_some_and(|limit| to.to_offset(time::UtcOffset::UTC) <= limit);
    let from_local = warsaw::to_local(from);
    let to_local = warsaw::to_local(to);
    let local_ok = add_months(from_local, 3).is_some_and(|limit| {
        let limit_naive = time::PrimitiveDateTime::new(limit.date(), limit.time());
        let to_naive = time::PrimitiveDateTime::new(to_local.date(), to_local.time());
        to_naive <= limit_naive
    });
    utc_ok || local_ok
}

// ---------------------------------------------------------------------------------------------
// Query filters
// ---------------------------------------------------------------------------------------------

/// `InvoiceQueryDateRange`. `from`/`to` without an offset are Europe/Warsaw local time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceQueryDateRange {
    /// Which date the range applies to.
    pub date_type: OpenEnum<InvoiceQueryDateType>,
    /// Start of the range.
    #[serde(with = "warsaw")]
    pub from: OffsetDateTime,
    /// End of the range; `None` = now.
    #[serde(
        default,
        with = "warsaw::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub to: Option<OffsetDateTime>,
    /// Clamp `to` to the permanent-storage HWM (only with `PermanentStorage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restrict_to_permanent_storage_hwm_date: Option<bool>,
}

impl InvoiceQueryDateRange {
    /// A range of one date type.
    pub fn new(
        date_type: InvoiceQueryDateType,
        from: OffsetDateTime,
        to: Option<OffsetDateTime>,
    ) -> Self {
        InvoiceQueryDateRange {
            date_type: date_type.into(),
            from,
            to,
            restrict_to_permanent_storage_hwm_date: None,
        }
    }
}

/// `InvoiceQueryAmount`: an amount filter (negative bounds allowed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceQueryAmount {
    /// Which total.
    #[serde(rename = "type")]
    pub r#type: OpenEnum<AmountType>,
    /// Lower bound (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<f64>,
    /// Upper bound (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<f64>,
}

/// `InvoiceMetadataBuyerIdentifier`: `{type, value?}` of a buyer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceMetadataBuyerIdentifier {
    /// Identifier type.
    #[serde(rename = "type")]
    pub r#type: OpenEnum<BuyerIdentifierType>,
    /// Identifier value (≤ 50 chars); absent for `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl InvoiceMetadataBuyerIdentifier {
    /// An identifier with a known type.
    pub fn new(r#type: BuyerIdentifierType, value: Option<String>) -> Self {
        InvoiceMetadataBuyerIdentifier {
            r#type: r#type.into(),
            value,
        }
    }
}

/// `InvoiceQueryBuyerIdentifier`: the same shape as [`InvoiceMetadataBuyerIdentifier`].
pub type InvoiceQueryBuyerIdentifier = InvoiceMetadataBuyerIdentifier;

/// `InvoiceQueryFilters` (body of `POST /invoices/query/metadata`, `filters` of an export).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceQueryFilters {
    /// The context's role in the invoices.
    pub subject_type: OpenEnum<InvoiceQuerySubjectType>,
    /// Date type and range (≤ 3 months).
    pub date_range: InvoiceQueryDateRange,
    /// Exact KSeF number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ksef_number: Option<String>,
    /// Exact invoice number (`P_2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_number: Option<String>,
    /// Amount filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<InvoiceQueryAmount>,
    /// Exact seller NIP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seller_nip: Option<String>,
    /// Buyer identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_identifier: Option<InvoiceQueryBuyerIdentifier>,
    /// Currencies (ISO 4217).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency_codes: Option<Vec<CurrencyCode>>,
    /// Online / offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoicing_mode: Option<OpenEnum<InvoicingMode>>,
    /// Self-invoicing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_self_invoicing: Option<bool>,
    /// Document family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form_type: Option<OpenEnum<InvoiceQueryFormType>>,
    /// Invoice kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_types: Option<Vec<OpenEnum<InvoiceType>>>,
    /// Has an attachment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_attachment: Option<bool>,
}

fn check_nip_pattern(field: &str, value: &str) -> Result<(), ValidationError> {
    let b = value.as_bytes();
    let ok = b.len() == 10
        && b.iter().all(u8::is_ascii_digit)
        && b[0] != b'0'
        && !(b[1] == b'0' && b[2] == b'0');
    if ok {
        Ok(())
    } else {
        Err(invalid(field, format!("{value:?} is not a 10-digit NIP")))
    }
}

impl InvoiceQueryFilters {
    /// Filters of one subject type over one date range, nothing else.
    pub fn new(subject_type: InvoiceQuerySubjectType, date_range: InvoiceQueryDateRange) -> Self {
        InvoiceQueryFilters {
            subject_type: subject_type.into(),
            date_range,
            ksef_number: None,
            invoice_number: None,
            amount: None,
            seller_nip: None,
            buyer_identifier: None,
            currency_codes: None,
            invoicing_mode: None,
            is_self_invoicing: None,
            form_type: None,
            invoice_types: None,
            has_attachment: None,
        }
    }

    /// Checks the schema rules: every enum value known, lengths, NIP pattern, currency
    /// codes, `to` not before `from`, `restrictToPermanentStorageHwmDate` only with
    /// `PermanentStorage`. (`field` prefixes the paths, e.g. `"filters"`; `""` for the
    /// top level.) The 3-month rule is [`within_three_months`].
    pub fn validate(&self, field: &str) -> Result<(), ValidationError> {
        let p = |name: &str| {
            if field.is_empty() {
                name.to_owned()
            } else {
                format!("{field}.{name}")
            }
        };
        self.subject_type.require(&p("subjectType"))?;
        let dt = self
            .date_range
            .date_type
            .require(&p("dateRange.dateType"))?;
        if let Some(to) = self.date_range.to
            && to < self.date_range.from
        {
            return Err(invalid(
                p("dateRange.to"),
                "must not be earlier than dateRange.from",
            ));
        }
        if self.date_range.restrict_to_permanent_storage_hwm_date == Some(true)
            && dt != InvoiceQueryDateType::PermanentStorage
        {
            return Err(invalid(
                p("dateRange.restrictToPermanentStorageHwmDate"),
                "allowed only with dateType PermanentStorage",
            ));
        }
        if let Some(k) = &self.ksef_number {
            check_length(&p("ksefNumber"), k, 35, 36)?;
        }
        if let Some(n) = &self.invoice_number {
            check_length(&p("invoiceNumber"), n, 0, 256)?;
        }
        if let Some(a) = &self.amount {
            a.r#type.require(&p("amount.type"))?;
            if let (Some(from), Some(to)) = (a.from, a.to)
                && from > to
            {
                return Err(invalid(p("amount.to"), "must not be less than amount.from"));
            }
        }
        if let Some(nip) = &self.seller_nip {
            check_nip_pattern(&p("sellerNip"), nip)?;
        }
        if let Some(b) = &self.buyer_identifier {
            b.r#type.require(&p("buyerIdentifier.type"))?;
            if let Some(v) = &b.value {
                check_length(&p("buyerIdentifier.value"), v, 0, 50)?;
            }
        }
        // Each value becomes one SQL parameter on the emulator side; a list longer than the
        // set of distinct values it may contain can only be a mistake (or an attack).
        if let Some(codes) = &self.currency_codes
            && codes.len() > CURRENCY_CODES.len()
        {
            return Err(invalid(
                p("currencyCodes"),
                format!("at most {} values", CURRENCY_CODES.len()),
            ));
        }
        if let Some(types) = &self.invoice_types
            && types.len() > 32
        {
            return Err(invalid(p("invoiceTypes"), "at most 32 values"));
        }
        if let Some(codes) = &self.currency_codes {
            for (i, c) in codes.iter().enumerate() {
                if !is_currency_code(c) {
                    return Err(invalid(
                        p(&format!("currencyCodes[{i}]")),
                        format!("{c:?} is not an ISO 4217 currency code"),
                    ));
                }
            }
        }
        if let Some(m) = &self.invoicing_mode {
            m.require(&p("invoicingMode"))?;
        }
        if let Some(f) = &self.form_type {
            f.require(&p("formType"))?;
        }
        if let Some(types) = &self.invoice_types {
            crate::common::require_all(types, &p("invoiceTypes"))?;
        }
        Ok(())
    }
}

/// Query parameters of `POST /invoices/query/metadata` (not an OpenAPI schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InvoiceMetadataQuery {
    /// `sortOrder` (server default `Asc`).
    pub sort_order: Option<SortOrder>,
    /// `pageOffset`: page index (server default 0).
    pub page_offset: Option<u32>,
    /// `pageSize` 10–250 (server default 10).
    pub page_size: Option<u32>,
}

impl InvoiceMetadataQuery {
    /// The query parameters that are set.
    pub fn to_query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(s) = self.sort_order {
            out.push(("sortOrder", s.as_str().to_owned()));
        }
        if let Some(o) = self.page_offset {
            out.push(("pageOffset", o.to_string()));
        }
        if let Some(s) = self.page_size {
            out.push(("pageSize", s.to_string()));
        }
        out
    }

    /// Parses decoded query pairs (emulator side); unknown parameters are ignored.
    pub fn from_query_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ValidationError> {
        let mut q = InvoiceMetadataQuery::default();
        let int = |k: &str, v: &str| -> Result<i64, ValidationError> {
            v.parse()
                .map_err(|_| invalid(k, format!("{v:?} is not an integer")))
        };
        for (k, v) in pairs {
            match k {
                "sortOrder" => {
                    q.sort_order = Some(OpenEnum::<SortOrder>::from_wire(v).require(k)?);
                }
                "pageOffset" => {
                    let n = int(k, v)?;
                    check_range(k, n, 0, i64::from(i32::MAX))?;
                    q.page_offset = u32::try_from(n).ok();
                }
                "pageSize" => {
                    let n = int(k, v)?;
                    check_range(k, n, 10, i64::from(MAX_METADATA_PAGE_SIZE))?;
                    q.page_size = u32::try_from(n).ok();
                }
                _ => {}
            }
        }
        Ok(q)
    }
}

// ---------------------------------------------------------------------------------------------
// Metadata
// ---------------------------------------------------------------------------------------------

/// `InvoiceMetadataSeller`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceMetadataSeller {
    /// Seller NIP.
    pub nip: String,
    /// Seller name (≤ 512 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `InvoiceMetadataBuyer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceMetadataBuyer {
    /// Buyer identifier.
    pub identifier: InvoiceMetadataBuyerIdentifier,
    /// Buyer name (≤ 512 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `InvoiceMetadataThirdSubjectIdentifier`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceMetadataThirdSubjectIdentifier {
    /// Identifier type.
    #[serde(rename = "type")]
    pub r#type: OpenEnum<ThirdSubjectIdentifierType>,
    /// Identifier value (≤ 50 chars); absent for `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `InvoiceMetadataThirdSubject` (Podmiot3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceMetadataThirdSubject {
    /// Identifier.
    pub identifier: InvoiceMetadataThirdSubjectIdentifier,
    /// Name (≤ 512 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Role (0 other, 1 factor, 2 recipient, … 11 employee; digest §12.2).
    pub role: i32,
}

/// `InvoiceMetadataAuthorizedSubject` (PodmiotUpowazniony).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceMetadataAuthorizedSubject {
    /// NIP.
    pub nip: String,
    /// Name (≤ 512 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Role (1 enforcement authority, 2 court bailiff, 3 tax representative).
    pub role: i32,
}

/// `InvoiceMetadata`: one invoice in query results and in an export's `_metadata.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceMetadata {
    /// KSeF number.
    pub ksef_number: String,
    /// Invoice number (`P_2`).
    pub invoice_number: String,
    /// Issue date (`P_1`).
    #[serde(with = "ksef_time::date")]
    pub issue_date: Date,
    /// Accepted by KSeF for processing.
    #[serde(with = "ksef_time")]
    pub invoicing_date: OffsetDateTime,
    /// KSeF number assigned.
    #[serde(with = "ksef_time")]
    pub acquisition_date: OffsetDateTime,
    /// Durably stored.
    #[serde(with = "ksef_time")]
    pub permanent_storage_date: OffsetDateTime,
    /// Seller.
    pub seller: InvoiceMetadataSeller,
    /// Buyer.
    pub buyer: InvoiceMetadataBuyer,
    /// Net total.
    pub net_amount: f64,
    /// Gross total.
    pub gross_amount: f64,
    /// VAT total (in PLN).
    pub vat_amount: f64,
    /// Currency (ISO 4217).
    pub currency: String,
    /// Online / offline.
    pub invoicing_mode: OpenEnum<InvoicingMode>,
    /// Invoice kind.
    pub invoice_type: OpenEnum<InvoiceType>,
    /// Schema of the document.
    pub form_code: FormCode,
    /// Self-invoicing.
    pub is_self_invoicing: bool,
    /// Has an attachment.
    pub has_attachment: bool,
    /// Base64 SHA-256 of the invoice.
    pub invoice_hash: String,
    /// Base64 SHA-256 of the corrected invoice (technical correction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_of_corrected_invoice: Option<String>,
    /// Third parties (Podmiot3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub third_subjects: Option<Vec<InvoiceMetadataThirdSubject>>,
    /// Authorised entity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorized_subject: Option<InvoiceMetadataAuthorizedSubject>,
}

/// `QueryInvoicesMetadataResponse` (`POST /invoices/query/metadata`, 200).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryInvoicesMetadataResponse {
    /// More results exist (next `pageOffset`, or move `from` when truncated).
    pub has_more: bool,
    /// The 10 000-row limit of this filter set was reached.
    pub is_truncated: bool,
    /// Permanent-storage HWM (only for `PermanentStorage` queries).
    #[serde(
        default,
        with = "ksef_time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub permanent_storage_hwm_date: Option<OffsetDateTime>,
    /// Matching invoices.
    pub invoices: Vec<InvoiceMetadata>,
}

// ---------------------------------------------------------------------------------------------
// Exports
// ---------------------------------------------------------------------------------------------

/// `InvoiceExportRequest` (`POST /invoices/exports`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceExportRequest {
    /// The key the package parts are encrypted with.
    pub encryption: EncryptionInfo,
    /// Only `_metadata.json`, no invoices (default `false`; always written).
    #[serde(default)]
    pub only_metadata: bool,
    /// Filters.
    pub filters: InvoiceQueryFilters,
    /// Archive format; `None` means ZIP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression_type: Option<OpenEnum<CompressionType>>,
}

impl Validate for InvoiceExportRequest {
    type Valid = CompressionType;

    /// Checks the encryption block, the filters and the compression type; returns the
    /// compression type (default ZIP).
    fn validate(&self) -> Result<CompressionType, ValidationError> {
        self.encryption.validate("encryption")?;
        self.filters.validate("filters")?;
        match &self.compression_type {
            Some(c) => c.require("compressionType"),
            None => Ok(CompressionType::Zip),
        }
    }
}

/// `ExportInvoicesResponse` (`POST /invoices/exports`, 201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportInvoicesResponse {
    /// Export reference number (`…-EH-…`).
    pub reference_number: String,
}

/// `InvoicePackagePart`: one encrypted part of an export package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoicePackagePart {
    /// Sequence number (≥ 1); concatenate decrypted parts in this order.
    pub ordinal_number: u32,
    /// File name, e.g. `…-EH-…-001.zip.aes`.
    pub part_name: String,
    /// HTTP method (`GET`).
    pub method: String,
    /// Pre-signed URL (no access token).
    pub url: String,
    /// Size of the decrypted part.
    pub part_size: u64,
    /// Base64 SHA-256 of the decrypted part.
    pub part_hash: String,
    /// Size of the encrypted part.
    pub encrypted_part_size: u64,
    /// Base64 SHA-256 of the encrypted part.
    pub encrypted_part_hash: String,
    /// Expiry of `url`.
    #[serde(with = "ksef_time")]
    pub expiration_date: OffsetDateTime,
}

/// `InvoicePackage`: a finished export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoicePackage {
    /// Number of invoices (0–10 000).
    pub invoice_count: u64,
    /// Package size in bytes.
    pub size: u64,
    /// Parts to download.
    pub parts: Vec<InvoicePackagePart>,
    /// Cut at 10 000 invoices or 1 GB.
    pub is_truncated: bool,
    /// Last issue date in the package (truncated `Issue` exports).
    #[serde(
        default,
        with = "ksef_time::date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_issue_date: Option<Date>,
    /// Last invoicing date (truncated `Invoicing` exports).
    #[serde(
        default,
        with = "ksef_time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_invoicing_date: Option<OffsetDateTime>,
    /// Last permanent-storage date (truncated `PermanentStorage` exports).
    #[serde(
        default,
        with = "ksef_time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_permanent_storage_date: Option<OffsetDateTime>,
    /// Permanent-storage HWM (`PermanentStorage` exports).
    #[serde(
        default,
        with = "ksef_time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub permanent_storage_hwm_date: Option<OffsetDateTime>,
}

/// `InvoiceExportStatusResponse` (`GET /invoices/exports/{referenceNumber}`, 200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceExportStatusResponse {
    /// Status: 100 in progress, 200 done, 210 expired, 415, 420, 500, 550.
    pub status: StatusInfo,
    /// When processing finished.
    #[serde(
        default,
        with = "ksef_time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub completed_date: Option<OffsetDateTime>,
    /// When the package stops being downloadable.
    #[serde(
        default,
        with = "ksef_time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub package_expiration_date: Option<OffsetDateTime>,
    /// The package (status 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<InvoicePackage>,
}

/// The `_metadata.json` file inside an export package: `{"invoices": [InvoiceMetadata…]}`
/// (not an OpenAPI schema; digest §12.3).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportMetadataFile {
    /// Metadata of every invoice in the package.
    pub invoices: Vec<InvoiceMetadata>,
}

/// Name of the metadata file inside an export package.
pub const EXPORT_METADATA_FILE_NAME: &str = "_metadata.json";

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn currency_list_is_sorted_and_complete() {
        assert!(CURRENCY_CODES.windows(2).all(|w| w[0] < w[1]));
        assert!(is_currency_code("PLN") && is_currency_code("EUR"));
        assert!(!is_currency_code("pln") && !is_currency_code("XYZ"));
    }

    #[test]
    fn query_dates_without_offset_are_warsaw_time() {
        // Summer: +02:00.
        assert_eq!(
            warsaw::parse("2025-08-28T09:22:13").unwrap(),
            datetime!(2025-08-28 07:22:13 UTC)
        );
        // Winter: +01:00.
        assert_eq!(
            warsaw::parse("2025-01-15T00:00:00").unwrap(),
            datetime!(2025-01-14 23:00 UTC)
        );
        // With Z / an offset: as given.
        assert_eq!(
            warsaw::parse("2025-08-28T09:22:13Z").unwrap(),
            datetime!(2025-08-28 09:22:13 UTC)
        );
        assert_eq!(
            warsaw::parse("2025-08-28T09:22:13.388+03:00").unwrap(),
            datetime!(2025-08-28 06:22:13.388 UTC)
        );
        // DST switches 2025: 30 March 01:00 UTC, 26 October 01:00 UTC.
        assert_eq!(
            warsaw::offset_at(datetime!(2025-03-30 00:59 UTC)).whole_hours(),
            1
        );
        assert_eq!(
            warsaw::offset_at(datetime!(2025-03-30 01:00 UTC)).whole_hours(),
            2
        );
        assert_eq!(
            warsaw::offset_at(datetime!(2025-10-26 00:59 UTC)).whole_hours(),
            2
        );
        assert_eq!(
            warsaw::offset_at(datetime!(2025-10-26 01:00 UTC)).whole_hours(),
            1
        );
        // Autumn overlap: the first (summer) instant.
        assert_eq!(
            warsaw::parse("2025-10-26T02:30:00").unwrap(),
            datetime!(2025-10-26 00:30 UTC)
        );
        assert!(warsaw::parse("yesterday").is_err());
        // A bare date (accepted by the real service) is its midnight in Warsaw.
        assert_eq!(
            warsaw::parse("2026-12-06").unwrap(),
            datetime!(2026-12-05 23:00 UTC)
        );
        assert_eq!(
            warsaw::parse("2026-07-06").unwrap(),
            datetime!(2026-07-05 22:00 UTC)
        );

        let r: InvoiceQueryDateRange =
            serde_json::from_str(r#"{"dateType":"Issue","from":"2025-01-01T00:00:00","to":null}"#)
                .unwrap();
        assert_eq!(r.from, datetime!(2024-12-31 23:00 UTC));
        assert_eq!(r.to, None);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["from"], "2024-12-31T23:00:00.0000000+00:00");
        assert!(json.get("to").is_none());
    }

    #[test]
    fn three_month_rule() {
        let from = datetime!(2025-01-31 00:00 UTC);
        assert!(within_three_months(from, datetime!(2025-04-30 00:00 UTC)));
        assert!(!within_three_months(from, datetime!(2025-05-01 00:00 UTC)));
        // 3 months in Warsaw time, but not in UTC: 1 Jan 00:00 CET .. 1 Apr 00:00 CEST.
        let from = datetime!(2024-12-31 23:00 UTC);
        let to = datetime!(2025-03-31 22:00 UTC);
        assert!(within_three_months(from, to));
        assert!(!within_three_months(from, datetime!(2025-04-01 00:00 UTC)));
    }

    #[test]
    fn filters_validation_names_the_path() {
        let base = InvoiceQueryFilters::new(
            InvoiceQuerySubjectType::Subject1,
            InvoiceQueryDateRange::new(
                InvoiceQueryDateType::PermanentStorage,
                datetime!(2025-08-01 00:00 UTC),
                None,
            ),
        );
        assert!(base.validate("").is_ok());
        assert!(base.validate("filters").is_ok());

        let mut f = base.clone();
        f.invoice_types = Some(vec![InvoiceType::Vat.into(), OpenEnum::from_wire("Xyz")]);
        assert_eq!(
            f.validate("filters").unwrap_err().field(),
            "filters.invoiceTypes[1]"
        );

        let mut f = base.clone();
        f.currency_codes = Some(vec!["PLN".into(), "ZZZ".into()]);
        assert_eq!(f.validate("").unwrap_err().field(), "currencyCodes[1]");

        let mut f = base.clone();
        f.seller_nip = Some("0123456789".into());
        assert_eq!(f.validate("").unwrap_err().field(), "sellerNip");

        let mut f = base.clone();
        f.date_range.date_type = InvoiceQueryDateType::Issue.into();
        f.date_range.restrict_to_permanent_storage_hwm_date = Some(true);
        assert_eq!(
            f.validate("").unwrap_err().field(),
            "dateRange.restrictToPermanentStorageHwmDate"
        );

        let mut f = base.clone();
        f.date_range.to = Some(datetime!(2025-07-01 00:00 UTC));
        assert_eq!(f.validate("").unwrap_err().field(), "dateRange.to");

        let mut f = base;
        f.subject_type = OpenEnum::from_wire("Subject4");
        assert_eq!(f.validate("").unwrap_err().field(), "subjectType");
    }

    #[test]
    fn metadata_query_pairs() {
        let q = InvoiceMetadataQuery {
            sort_order: Some(SortOrder::Desc),
            page_offset: Some(3),
            page_size: Some(250),
        };
        let pairs = q.to_query_pairs();
        assert_eq!(
            pairs,
            vec![
                ("sortOrder", "Desc".to_owned()),
                ("pageOffset", "3".to_owned()),
                ("pageSize", "250".to_owned())
            ]
        );
        let back =
            InvoiceMetadataQuery::from_query_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
                .unwrap();
        assert_eq!(back, q);
        assert!(InvoiceMetadataQuery::default().to_query_pairs().is_empty());
        assert_eq!(
            InvoiceMetadataQuery::from_query_pairs([("pageSize", "251")])
                .unwrap_err()
                .field(),
            "pageSize"
        );
        assert_eq!(
            InvoiceMetadataQuery::from_query_pairs([("sortOrder", "Up")])
                .unwrap_err()
                .field(),
            "sortOrder"
        );
    }
}
