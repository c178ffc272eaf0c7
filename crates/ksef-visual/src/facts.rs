//! The key strings of an invoice as every rendering (HTML, PDF) must show them, so tests of
//! any renderer can assert the same things. Values are plain text (not HTML-escaped).

use crate::decimal::{Decimal, money};
use crate::layout::{date, rate_label};
use crate::model::{InvoiceView, PartyId, SaleDate};

/// One row of the VAT summary as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VatFact {
    /// E.g. `23% lub 22%`.
    pub label: String,
    /// `1 234,56` (no currency, as in the table).
    pub net: Option<String>,
    pub vat: Option<String>,
    pub gross: Option<String>,
}

/// The key strings of an invoice (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub seller_nip: String,
    pub seller_name: Option<String>,
    /// The buyer's identifier as shown (NIP, `DE123…`, …), `None` for `BrakID`.
    pub buyer_id: Option<String>,
    pub buyer_name: Option<String>,
    /// Names of the third parties.
    pub third_party_names: Vec<String>,
    pub number: String,
    /// `DD.MM.RRRR`.
    pub issue_date: String,
    /// `DD.MM.RRRR` of `P_6` / the period's ends / FA_RR `P_4A`.
    pub sale_dates: Vec<String>,
    /// Each line's name, in order.
    pub line_names: Vec<String>,
    /// Each line's rate label (`23%`, `zw`, `0% KR`…).
    pub line_rates: Vec<String>,
    pub vat_summary: Vec<VatFact>,
    /// `P_15` (FA_RR `P_12_1`) with currency: `1 234,56 zł`.
    pub total: Option<String>,
    /// FA_RR `P_12_2`.
    pub total_in_words: Option<String>,
}

impl Facts {
    /// Reads the facts of a view.
    pub fn of(view: &InvoiceView) -> Facts {
        let buyer_id = match &view.buyer.id {
            PartyId::Nip(n) | PartyId::Internal(n) => Some(n.clone()),
            PartyId::VatUe { country, number } => Some(format!("{country}{number}")),
            PartyId::Other { number, .. } => Some(number.clone()),
            PartyId::None => None,
        };
        let sale_dates = match &view.sale_date {
            Some(SaleDate::Date(d)) => vec![date(*d)],
            Some(SaleDate::Period { from, to }) => {
                from.iter().chain(to).map(|d| date(*d)).collect()
            }
            None => Vec::new(),
        };
        let amount = |d: &Option<Decimal>| d.as_ref().map(Decimal::amount);
        Facts {
            seller_nip: view.seller_nip().to_string(),
            seller_name: view.seller.name.clone(),
            buyer_id,
            buyer_name: view.buyer.name.clone(),
            third_party_names: view
                .third_parties
                .iter()
                .filter_map(|t| t.party.name.clone())
                .collect(),
            number: view.number.clone(),
            issue_date: date(view.issue_date),
            sale_dates,
            line_names: view.lines.iter().filter_map(|l| l.name.clone()).collect(),
            line_rates: view
                .lines
                .iter()
                .filter_map(|l| l.rate.as_deref().map(rate_label))
                .collect(),
            vat_summary: view
                .vat_summary
                .iter()
                .map(|r| VatFact {
                    label: r.label.to_string(),
                    net: amount(&r.net),
                    vat: amount(&r.vat),
                    gross: r.gross().as_ref().map(Decimal::amount),
                })
                .collect(),
            total: view.total.as_ref().map(|t| money(t, &view.currency)),
            total_in_words: view
                .rr_totals
                .as_ref()
                .and_then(|r| r.total_in_words.clone()),
        }
    }

    /// Every fact as one flat list of strings, each of which must appear in a rendering.
    pub fn all(&self) -> Vec<String> {
        let mut out = vec![
            self.seller_nip.clone(),
            self.number.clone(),
            self.issue_date.clone(),
        ];
        out.extend(self.seller_name.clone());
        out.extend(self.buyer_id.clone());
        out.extend(self.buyer_name.clone());
        out.extend(self.third_party_names.iter().cloned());
        out.extend(self.sale_dates.iter().cloned());
        out.extend(self.line_names.iter().cloned());
        out.extend(self.line_rates.iter().cloned());
        for v in &self.vat_summary {
            out.push(v.label.clone());
            out.extend(v.net.clone());
            out.extend(v.vat.clone());
            out.extend(v.gross.clone());
        }
        out.extend(self.total.clone());
        out.extend(self.total_in_words.clone());
        out
    }
}
