//! A [`Verdict`] as a Polish HTML page or, when the client asks for `application/json`, as a
//! JSON object; the Polish texts of every finding.
//!
//! JSON (fields left out when they do not apply):
//! `{"valid": bool, "code": "InvoiceInKsef"…, "reason": "…", "kind": "invoice"|"certificate",
//! "linkError": "InvoiceHash"…, "ksefNumber", "acquisitionDate", "sellerNip", "issueDate"
//! (YYYY-MM-DD), "invoiceHash" (Base64URL), "contextIdentifier": {"type", "value"},
//! "certificateSerialNumber", "certificateValidTo", "issuingBasis"}`.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ksef_core::qr::LinkKind;
use ksef_core::warsaw;
use serde::Serialize;
use time::{Date, OffsetDateTime};

use super::verdict::{Facts, Finding, LinkProblem, Verdict};
use crate::html::{escape, page};
use crate::permissions::IssuingBasis;

/// Whether the client asked for JSON: its `Accept` header names `application/json` with a
/// non-zero quality at least as high as that of `text/html`. Hand-rolled (no crate in the tree
/// negotiates content): media ranges split on `,`, parameters on `;`, only `q` read.
pub fn wants_json(headers: &HeaderMap) -> bool {
    let mut json: f32 = 0.0;
    let mut html: f32 = 0.0;
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for range in value.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .filter_map(|q| q.trim().parse::<f32>().ok())
                .find(|q| q.is_finite())
                .map_or(1.0, |q| q.clamp(0.0, 1.0));
            match media.as_str() {
                "application/json" => json = json.max(q),
                "text/html" => html = html.max(q),
                _ => {}
            }
        }
    }
    json > 0.0 && json >= html
}

/// The answer: 200 for a verdict on a verification link (whatever it says), 400 for an address
/// that is not one.
pub fn verdict(v: &Verdict, json: bool) -> Response {
    let status = match v.finding {
        Finding::InvalidLink(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    if json {
        (status, axum::Json(JsonVerdict::of(v))).into_response()
    } else {
        page(status, html(v))
    }
}

/// A failure of the emulator itself (500), logged by the caller.
pub fn internal_error(json: bool) -> Response {
    const REASON: &str = "Wewnętrzny błąd emulatora KSeF: nie udało się zweryfikować kodu. \
                          Szczegóły są w dzienniku emulatora.";
    let status = StatusCode::INTERNAL_SERVER_ERROR;
    if json {
        let body = serde_json::json!({"valid": false, "code": "InternalError", "reason": REASON});
        (status, axum::Json(body)).into_response()
    } else {
        page(
            status,
            document(
                "Błąd weryfikacji",
                &format!("<p id=\"reason\">{}</p>\n", escape(REASON)),
            ),
        )
    }
}

// ---------------------------------------------------------------- texts

/// The Polish explanation of a finding.
fn reason(v: &Verdict) -> String {
    let f = &v.facts;
    let serial = f
        .certificate_serial
        .as_ref()
        .map_or(String::new(), |s| s.to_string());
    let context = f.context.as_ref().map_or(String::new(), context_text);
    let seller = f
        .seller_nip
        .as_ref()
        .map_or(String::new(), |n| n.to_string());
    match &v.finding {
        Finding::InvoiceInKsef => "Faktura znajduje się w KSeF: plik faktury o podanym skrócie \
             został przyjęty i otrzymał numer KSeF."
            .into(),
        Finding::TechnicallyCorrected => "Faktura o podanym skrócie została odrzucona przez KSeF \
             z przyczyn technicznych i zastąpiona korektą techniczną o tej samej treści, która \
             znajduje się w KSeF. Podany numer KSeF jest numerem poprawionej faktury."
            .into(),
        Finding::InvoiceNotFound => "W KSeF nie ma faktury o podanym skrócie. Faktura mogła nie \
             zostać jeszcze przesłana do KSeF (np. wystawiona w trybie offline), mogła zostać \
             odrzucona albo jej plik został zmieniony po wystawieniu."
            .into(),
        Finding::InvoiceDataMismatch {
            seller_nip,
            issue_date,
        } => {
            let what = match (seller_nip, issue_date) {
                (true, true) => "NIP sprzedawcy ani data wystawienia",
                (true, false) => "NIP sprzedawcy",
                _ => "data wystawienia",
            };
            let verb = if *seller_nip && *issue_date {
                "nie zgadzają się"
            } else {
                "nie zgadza się"
            };
            format!(
                "Faktura o podanym skrócie znajduje się w KSeF, ale {what} z linku {verb} z \
                 fakturą. Link nie opisuje tej faktury."
            )
        }
        Finding::CertificateConfirmed => format!(
            "Wystawca faktury potwierdzony: link jest podpisany ważnym certyfikatem KSeF typu \
             Offline ({serial}), jego właściciel ma uprawnienie do wystawiania faktur w \
             kontekście {context}, a ten kontekst może wystawiać faktury w imieniu sprzedawcy o \
             NIP {seller}."
        ),
        Finding::CertificateNotFound => {
            format!("W rejestrze certyfikatów KSeF nie ma certyfikatu o numerze seryjnym {serial}.")
        }
        Finding::NotOfflineCertificate => format!(
            "Certyfikat {serial} jest certyfikatem KSeF typu Authentication, przeznaczonym \
             wyłącznie do uwierzytelniania. KOD II może być podpisany tylko certyfikatem KSeF \
             typu Offline."
        ),
        Finding::CertificateRevoked { at } => format!(
            "Certyfikat {serial} został unieważniony {}.",
            warsaw::format_datetime(*at)
        ),
        Finding::CertificateExpired { at } => format!(
            "Certyfikat {serial} utracił ważność {}.",
            warsaw::format_datetime(*at)
        ),
        Finding::CertificateNotYetValid { from } => format!(
            "Certyfikat {serial} nie jest jeszcze ważny (ważny od {}).",
            warsaw::format_datetime(*from)
        ),
        Finding::SignatureInvalid { signed } => format!(
            "Podpis w linku nie jest prawidłowy: nie został złożony kluczem certyfikatu {serial} \
             nad danymi tego linku. Link mógł zostać zmieniony albo podpisany dla innego adresu \
             usługi weryfikacji (podpisywany tekst to „{signed}”)."
        ),
        Finding::NoInvoicingPermission => format!(
            "Właściciel certyfikatu {serial} nie ma uprawnienia do wystawiania faktur \
             (InvoiceWrite) w kontekście {context}."
        ),
        Finding::ContextMayNotIssueForSeller => format!(
            "Kontekst {context} nie może wystawiać faktur w imieniu sprzedawcy o NIP {seller}: \
             nie jest kontekstem sprzedawcy ani nie łączy go ze sprzedawcą samofakturowanie, \
             przedstawicielstwo podatkowe, jednostka podrzędna JST lub grupa VAT ani inne \
             uprawnienie."
        ),
        Finding::InvalidLink(problem) => invalid_link_text(*problem),
    }
}

fn invalid_link_text(problem: LinkProblem) -> String {
    let detail = match problem {
        LinkProblem::TooLong => {
            "Adres jest dłuższy niż jakikolwiek link weryfikacyjny KSeF.".to_string()
        }
        LinkProblem::Malformed => "Adres zawiera znaki lub części, których link weryfikacyjny \
             nie ma (dozwolone są litery, cyfry, „-”, „_” oraz „/” między częściami; bez znaków \
             kodowanych procentowo, zapytania ani pustych części)."
            .to_string(),
        LinkProblem::UnknownKind => "Oczekiwano adresu /invoice/… (KOD I) albo /certificate/… \
             (KOD II)."
            .to_string(),
        LinkProblem::SegmentCount { kind } => match kind {
            LinkKind::Invoice => "KOD I ma po /invoice/ trzy części: NIP sprzedawcy, datę \
                 wystawienia i skrót pliku faktury."
                .to_string(),
            LinkKind::Certificate => "KOD II ma po /certificate/ sześć części: typ i wartość \
                 identyfikatora kontekstu, NIP sprzedawcy, numer seryjny certyfikatu, skrót \
                 pliku faktury i podpis."
                .to_string(),
        },
        LinkProblem::SellerNip => "NIP sprzedawcy w linku jest nieprawidłowy.".to_string(),
        LinkProblem::ContextType => "Typ identyfikatora kontekstu musi być jednym z: Nip, \
             InternalId, NipVatUe, PeppolId."
            .to_string(),
        LinkProblem::Context => "Identyfikator kontekstu w linku jest nieprawidłowy.".to_string(),
        LinkProblem::IssueDate => "Data wystawienia musi być prawdziwą datą zapisaną jako \
             DD-MM-RRRR."
            .to_string(),
        LinkProblem::InvoiceHash => "Skrót pliku faktury musi być skrótem SHA-256 zapisanym w \
             Base64URL (43 znaki, bez dopełnienia „=”)."
            .to_string(),
        LinkProblem::CertificateSerial => "Numer seryjny certyfikatu KSeF to 16 cyfr \
             szesnastkowych (0–9, A–F)."
            .to_string(),
        LinkProblem::Signature => "Podpis musi być zapisany w Base64URL bez dopełnienia „=” \
             (najwyżej 512 bajtów)."
            .to_string(),
    };
    format!("Nieprawidłowy kod: ten adres nie jest linkiem weryfikacyjnym KSeF. {detail}")
}

fn basis_text(b: IssuingBasis) -> &'static str {
    match b {
        IssuingBasis::OwnContext => "faktura wystawiona w kontekście sprzedawcy",
        IssuingBasis::InternalUnit => "jednostka wewnętrzna sprzedawcy (InternalId)",
        IssuingBasis::EuEntity => "podmiot unijny w kontekście sprzedawcy (NipVatUe)",
        IssuingBasis::SelfInvoicing => "samofakturowanie (SelfInvoicing) nadane przez sprzedawcę",
        IssuingBasis::TaxRepresentative => {
            "przedstawiciel podatkowy sprzedawcy (TaxRepresentative)"
        }
        IssuingBasis::RrInvoicing => "faktury VAT RR (RRInvoicing) nadane przez sprzedawcę",
        IssuingBasis::PefInvoicing => {
            "faktury PEF dostawcy usług Peppol (PefInvoicing) nadane przez sprzedawcę"
        }
        IssuingBasis::LocalGovernmentSubUnit => "jednostka podrzędna JST sprzedawcy",
        IssuingBasis::VatGroupSubUnit => "członek grupy VAT sprzedawcy",
        IssuingBasis::Enforcement => "organ egzekucyjny lub komornik sądowy",
    }
}

fn context_text(c: &ksef_core::ContextIdentifier) -> String {
    format!("{} {}", c.kind(), c.value())
}

/// `DD.MM.RRRR`.
fn date_pl(d: Date) -> String {
    format!("{:02}.{:02}.{:04}", d.day(), u8::from(d.month()), d.year())
}

/// `YYYY-MM-DD`.
fn date_iso(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

// ---------------------------------------------------------------- HTML

fn title(v: &Verdict) -> &'static str {
    match v.facts.kind {
        _ if matches!(v.finding, Finding::InvalidLink(_)) => "Nieprawidłowy kod QR",
        Some(LinkKind::Invoice) => "Weryfikacja faktury w KSeF (KOD I)",
        Some(LinkKind::Certificate) => "Weryfikacja wystawcy faktury offline (KOD II)",
        None => "Weryfikacja kodu QR",
    }
}

fn headline(f: &Finding) -> &'static str {
    match f {
        Finding::InvoiceInKsef => "Faktura jest w KSeF",
        Finding::TechnicallyCorrected => "Faktura poprawiona korektą techniczną",
        Finding::CertificateConfirmed => "Wystawca potwierdzony",
        Finding::InvalidLink(_) => "Nieprawidłowy kod",
        Finding::InvoiceNotFound | Finding::InvoiceDataMismatch { .. } => {
            "Nie potwierdzono faktury"
        }
        _ => "Nie potwierdzono wystawcy",
    }
}

/// The facts as `(id, label, value)` rows, in display order.
fn fact_rows(f: &Facts) -> Vec<(&'static str, &'static str, String)> {
    let mut rows = Vec::new();
    if let Some(n) = &f.ksef_number {
        rows.push(("ksef-number", "Numer KSeF", n.to_string()));
    }
    if let Some(t) = f.acquired {
        rows.push((
            "acquisition-date",
            "Data nadania numeru KSeF",
            warsaw::format_datetime(t),
        ));
    }
    if let Some(c) = &f.context {
        rows.push(("context", "Kontekst", context_text(c)));
    }
    if let Some(n) = &f.seller_nip {
        rows.push(("seller-nip", "NIP sprzedawcy", n.to_string()));
    }
    if let Some(d) = f.issue_date {
        rows.push(("issue-date", "Data wystawienia", date_pl(d)));
    }
    if let Some(h) = &f.invoice_hash {
        rows.push((
            "invoice-hash",
            "Skrót pliku faktury (SHA-256)",
            h.to_string(),
        ));
    }
    if let Some(s) = &f.certificate_serial {
        rows.push((
            "certificate-serial",
            "Numer seryjny certyfikatu KSeF",
            s.to_string(),
        ));
    }
    if let Some(h) = &f.certificate_holder {
        rows.push(("certificate-holder", "Certyfikat wydany dla", h.clone()));
    }
    if let Some(t) = f.certificate_valid_to {
        rows.push((
            "certificate-valid-to",
            "Certyfikat ważny do",
            warsaw::format_datetime(t),
        ));
    }
    if let Some(b) = f.issuing_basis {
        rows.push((
            "issuing-basis",
            "Podstawa wystawienia w imieniu sprzedawcy",
            basis_text(b).to_string(),
        ));
    }
    rows
}

fn html(v: &Verdict) -> String {
    let valid = v.finding.is_valid();
    let mut body = format!(
        "<div id=\"verdict\" class=\"{class}\" role=\"status\" data-valid=\"{valid}\" \
         data-code=\"{code}\">\n<p id=\"headline\">{mark} {headline}</p>\n\
         <p id=\"reason\">{reason}</p>\n</div>\n",
        class = if valid { "valid" } else { "invalid" },
        code = v.finding.code(),
        mark = if valid { "✔" } else { "✘" },
        headline = escape(headline(&v.finding)),
        reason = escape(&reason(v)),
    );
    let rows = fact_rows(&v.facts);
    if !rows.is_empty() {
        body.push_str("<dl id=\"facts\">\n");
        for (id, label, value) in rows {
            body.push_str(&format!(
                "<dt>{}</dt><dd id=\"{id}\">{}</dd>\n",
                escape(label),
                escape(&value)
            ));
        }
        body.push_str("</dl>\n");
    }
    document(title(v), &body)
}

fn document(title: &str, body: &str) -> String {
    format!(
        r#"<!DOCTYPE html>
<html lang="pl">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — emulator KSeF</title>
<style>
body {{ font-family: sans-serif; max-width: 44rem; margin: 2rem auto; padding: 0 1rem; }}
#emulator-notice {{ border: 2px solid #999; background: #f4f4f4; padding: .5rem 1rem; font-size: .9em; }}
#verdict {{ border: 3px solid; padding: .5rem 1rem; margin: 1rem 0; }}
#verdict.valid {{ border-color: #2a7a2a; background: #eef8ee; }}
#verdict.invalid {{ border-color: #b00; background: #fee; }}
#headline {{ font-weight: bold; font-size: 1.2em; }}
dl {{ display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }}
dt {{ font-weight: bold; }}
dd {{ margin: 0; overflow-wrap: anywhere; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p id="emulator-notice">Emulator KSeF — lokalna symulacja usługi weryfikacji kodów QR
Ministerstwa Finansów. To nie jest serwis Ministerstwa Finansów; wynik dotyczy wyłącznie danych
tego emulatora.</p>
{body}</body>
</html>
"#,
        title = escape(title),
    )
}

// ---------------------------------------------------------------- JSON

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonVerdict {
    valid: bool,
    code: &'static str,
    reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    link_error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ksef_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    acquisition_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seller_nip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    issue_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    invoice_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", rename = "contextIdentifier")]
    context: Option<ksef_core::ContextIdentifier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate_serial_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate_valid_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    issuing_basis: Option<&'static str>,
}

fn api_time(t: OffsetDateTime) -> String {
    ksef_wire::ksef_time::format(t)
}

impl JsonVerdict {
    fn of(v: &Verdict) -> JsonVerdict {
        let f = &v.facts;
        JsonVerdict {
            valid: v.finding.is_valid(),
            code: v.finding.code(),
            reason: reason(v),
            kind: f.kind.map(LinkKind::path_segment),
            link_error: match v.finding {
                Finding::InvalidLink(p) => Some(p.code()),
                _ => None,
            },
            ksef_number: f.ksef_number.as_ref().map(|n| n.to_string()),
            acquisition_date: f.acquired.map(api_time),
            seller_nip: f.seller_nip.as_ref().map(|n| n.to_string()),
            issue_date: f.issue_date.map(date_iso),
            invoice_hash: f.invoice_hash.as_ref().map(|h| h.to_base64url()),
            context: f.context.clone(),
            certificate_serial_number: f.certificate_serial.as_ref().map(|s| s.to_string()),
            certificate_valid_to: f.certificate_valid_to.map(api_time),
            issuing_basis: f.issuing_basis.map(IssuingBasis::as_str),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn negotiation() {
        assert!(!wants_json(&HeaderMap::new()));
        assert!(!wants_json(&accept("*/*")));
        assert!(wants_json(&accept("application/json")));
        assert!(wants_json(&accept("Application/JSON; charset=utf-8")));
        assert!(!wants_json(&accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(!wants_json(&accept("application/json;q=0.5, text/html")));
        assert!(wants_json(&accept("text/html;q=0.5, application/json")));
        assert!(!wants_json(&accept("application/json;q=0")));
        assert!(wants_json(&accept("application/json;q=nan")));
    }
}
