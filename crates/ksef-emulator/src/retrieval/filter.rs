//! The validated form of `InvoiceQueryFilters` (digest §12.2) shared by the metadata query and
//! exports, and its SQL. Dates without an offset are Europe/Warsaw time (parsed by
//! `ksef_wire::warsaw`); a range may span at most 3 months (in UTC or in Europe/Warsaw); `to`
//! defaults to the time of the request.

use ksef_wire as wire;
use serde::{Deserialize, Serialize};
use sqlx::{QueryBuilder, Sqlite};
use time::{Date, OffsetDateTime};

use crate::error::{ApiError, ApiResult};
use crate::store::ms;

/// Most records one filter set can reach (digest §2.2, §12.2–§12.3).
pub const MAX_RESULTS: i64 = 10_000;

/// Which date a range applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DateType {
    Issue,
    Invoicing,
    PermanentStorage,
}

impl DateType {
    fn from_wire(t: wire::InvoiceQueryDateType) -> DateType {
        match t {
            wire::InvoiceQueryDateType::Issue => DateType::Issue,
            wire::InvoiceQueryDateType::Invoicing => DateType::Invoicing,
            wire::InvoiceQueryDateType::PermanentStorage => DateType::PermanentStorage,
        }
    }

    /// The `invoices` column the range applies to and results are sorted by.
    pub fn column(self) -> &'static str {
        match self {
            DateType::Issue => "i.issue_date",
            DateType::Invoicing => "i.invoicing_ms",
            DateType::PermanentStorage => "i.permanent_storage_ms",
        }
    }
}

/// `amount`: which total (`Brutto`/`Netto`/`Vat`) and inclusive bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AmountFilter {
    pub kind: String,
    pub from: Option<f64>,
    pub to: Option<f64>,
}

/// `buyerIdentifier`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuyerFilter {
    pub kind: String,
    pub value: Option<String>,
}

/// A validated filter set. Instants are resolved (`to` defaults to the time of the request),
/// so an export rebuilt after a restart selects the same range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    pub subject_type: String,
    pub date_type: DateType,
    /// Range of `invoicing_ms` / `permanent_storage_ms`, inclusive.
    pub from_ms: i64,
    pub to_ms: i64,
    /// Range of `issue_date`: the Europe/Warsaw calendar dates of `from`/`to`, inclusive.
    pub from_date: String,
    pub to_date: String,
    /// `restrictToPermanentStorageHwmDate` (only meaningful for `PermanentStorage`).
    pub restrict_to_hwm: bool,
    pub ksef_number: Option<String>,
    pub invoice_number: Option<String>,
    pub seller_nip: Option<String>,
    pub amount: Option<AmountFilter>,
    pub buyer: Option<BuyerFilter>,
    pub currency_codes: Vec<String>,
    pub invoicing_mode: Option<String>,
    pub is_self_invoicing: Option<bool>,
    pub form_type: Option<String>,
    pub invoice_types: Vec<String>,
    pub has_attachment: Option<bool>,
}

/// The Europe/Warsaw calendar date of an instant, `YYYY-MM-DD`.
fn warsaw_date(t: OffsetDateTime) -> String {
    date_text(ksef_core::warsaw::to_warsaw(t).date())
}

/// `YYYY-MM-DD`.
pub fn date_text(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

impl Filter {
    /// Validates wire filters (400/21405 naming the field) and resolves `to` (default `now`).
    /// `field` prefixes the JSON paths in messages (`"filters"` for exports, `""` otherwise).
    pub fn from_wire(
        f: &wire::InvoiceQueryFilters,
        field: &str,
        now: OffsetDateTime,
    ) -> ApiResult<Filter> {
        f.validate(field)
            .map_err(|e| ApiError::validation(e.to_string()))?;
        let p = |name: &str| {
            if field.is_empty() {
                name.to_string()
            } else {
                format!("{field}.{name}")
            }
        };
        let bad = |e: wire::ValidationError| ApiError::validation(e.to_string());
        let subject_type = f.subject_type.require(&p("subjectType")).map_err(bad)?;
        let date_type = DateType::from_wire(
            f.date_range
                .date_type
                .require(&p("dateRange.dateType"))
                .map_err(bad)?,
        );
        let from = f.date_range.from;
        let to = f.date_range.to.unwrap_or(now);
        // `to` omitted and `from` in the future: an empty range (or 21183 with the HWM rule),
        // not a validation error.
        if f.date_range.to.is_some() && to < from {
            return Err(ApiError::validation(format!(
                "{}: data końcowa jest wcześniejsza niż data początkowa.",
                p("dateRange.to")
            )));
        }
        if !wire::within_three_months(from, to) {
            return Err(ApiError::validation(format!(
                "{}: maksymalny dozwolony okres wynosi 3 miesiące (w strefie UTC lub Europe/Warsaw).",
                p("dateRange")
            )));
        }
        if let Some(k) = &f.ksef_number {
            k.parse::<ksef_core::KsefNumber>()
                .map_err(|e| ApiError::validation(format!("{}: {e}", p("ksefNumber"))))?;
        }
        Ok(Filter {
            subject_type: subject_type.as_str().to_string(),
            date_type,
            from_ms: ms(from),
            to_ms: ms(to),
            from_date: warsaw_date(from),
            to_date: warsaw_date(to),
            restrict_to_hwm: f.date_range.restrict_to_permanent_storage_hwm_date == Some(true),
            ksef_number: f.ksef_number.clone(),
            invoice_number: f.invoice_number.clone(),
            seller_nip: f.seller_nip.clone(),
            amount: f.amount.as_ref().map(|a| AmountFilter {
                kind: a.r#type.as_str().to_string(),
                from: a.from,
                to: a.to,
            }),
            buyer: f.buyer_identifier.as_ref().map(|b| BuyerFilter {
                kind: b.r#type.as_str().to_string(),
                value: b.value.clone(),
            }),
            currency_codes: f.currency_codes.clone().unwrap_or_default(),
            invoicing_mode: f.invoicing_mode.as_ref().map(|m| m.as_str().to_string()),
            is_self_invoicing: f.is_self_invoicing,
            form_type: f.form_type.as_ref().map(|m| m.as_str().to_string()),
            invoice_types: f
                .invoice_types
                .iter()
                .flatten()
                .map(|t| t.as_str().to_string())
                .collect(),
            has_attachment: f.has_attachment,
        })
    }

    /// Whether the upper bound is capped by the HWM (`restrictToPermanentStorageHwmDate`).
    pub fn restricts_to_hwm(&self) -> bool {
        self.restrict_to_hwm && self.date_type == DateType::PermanentStorage
    }

    /// `FROM … WHERE …` for the caller's identifier, with `to_ms` lowered to `upper_ms`.
    pub fn push_from_where(&self, qb: &mut QueryBuilder<Sqlite>, identifier: &str, upper_ms: i64) {
        qb.push(
            " FROM invoice_parties p JOIN invoices i ON i.ksef_number = p.ksef_number \
             WHERE p.subject_type = ",
        );
        qb.push_bind(self.subject_type.clone());
        qb.push(" AND p.identifier = ");
        qb.push_bind(identifier.to_string());
        match self.date_type {
            DateType::Issue => {
                qb.push(" AND i.issue_date >= ");
                qb.push_bind(self.from_date.clone());
                qb.push(" AND i.issue_date <= ");
                qb.push_bind(self.to_date.clone());
            }
            other => {
                qb.push(format_args!(" AND {} >= ", other.column()));
                qb.push_bind(self.from_ms);
                qb.push(format_args!(" AND {} <= ", other.column()));
                qb.push_bind(self.to_ms.min(upper_ms));
            }
        }
        if let Some(n) = &self.ksef_number {
            qb.push(" AND i.ksef_number = ");
            qb.push_bind(n.clone());
        }
        if let Some(n) = &self.invoice_number {
            qb.push(" AND i.invoice_number = ");
            qb.push_bind(n.clone());
        }
        if let Some(n) = &self.seller_nip {
            qb.push(" AND i.seller_nip = ");
            qb.push_bind(n.clone());
        }
        if let Some(a) = &self.amount {
            let col = match a.kind.as_str() {
                "Netto" => "i.net_amount",
                "Vat" => "i.vat_amount",
                _ => "i.gross_amount",
            };
            if let Some(from) = a.from {
                qb.push(format_args!(" AND {col} >= "));
                qb.push_bind(from);
            }
            if let Some(to) = a.to {
                qb.push(format_args!(" AND {col} <= "));
                qb.push_bind(to);
            }
        }
        if let Some(b) = &self.buyer {
            qb.push(" AND i.buyer_id_type = ");
            qb.push_bind(b.kind.clone());
            if let Some(v) = &b.value {
                qb.push(" AND i.buyer_id_value = ");
                qb.push_bind(v.clone());
            }
        }
        push_in(qb, "i.currency", &self.currency_codes);
        if let Some(m) = &self.invoicing_mode {
            qb.push(" AND i.invoicing_mode = ");
            qb.push_bind(m.clone());
        }
        if let Some(v) = self.is_self_invoicing {
            qb.push(" AND i.is_self_invoicing = ");
            qb.push_bind(i64::from(v));
        }
        if let Some(f) = &self.form_type {
            qb.push(" AND i.form_value = ");
            qb.push_bind(f.clone());
        }
        push_in(qb, "i.invoice_type", &self.invoice_types);
        if let Some(v) = self.has_attachment {
            qb.push(" AND i.has_attachment = ");
            qb.push_bind(i64::from(v));
        }
    }

    /// `ORDER BY` the date type, ties broken by KSeF number.
    pub fn push_order(&self, qb: &mut QueryBuilder<Sqlite>, descending: bool) {
        let dir = if descending { "DESC" } else { "ASC" };
        qb.push(format_args!(
            " ORDER BY {} {dir}, i.ksef_number {dir}",
            self.date_type.column()
        ));
    }
}

fn push_in(qb: &mut QueryBuilder<Sqlite>, column: &str, values: &[String]) {
    if values.is_empty() {
        return;
    }
    qb.push(format_args!(" AND {column} IN ("));
    let mut sep = qb.separated(", ");
    for v in values {
        sep.push_bind(v.clone());
    }
    qb.push(")");
}
