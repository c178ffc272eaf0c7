//! Form codes (`formCode` triples of the API, digest §8.1) and their detection from an XML header.

use std::fmt;

/// Namespace of FA(2) invoices.
pub const NS_FA2: &str = "http://crd.gov.pl/wzor/2023/06/29/12648/";
/// Namespace of FA(3) invoices.
pub const NS_FA3: &str = "http://crd.gov.pl/wzor/2025/06/25/13775/";
/// Namespace of FA_RR(1) invoices.
pub const NS_FA_RR1: &str = "http://crd.gov.pl/wzor/2026/03/06/14189/";
/// Namespace of a UBL 2.1 `Invoice` (PEF (3)).
pub const NS_UBL_INVOICE: &str = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2";
/// Namespace of a UBL 2.1 `CreditNote` (PEF_KOR (3)).
pub const NS_UBL_CREDIT_NOTE: &str = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2";

/// One of the five invoice structures KSeF accepts (`formCode` of a session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FormCode {
    /// `FA (2)` / `1-0E` / `FA` (TEST only since FA(3) became mandatory).
    Fa2,
    /// `FA (3)` / `1-0E` / `FA`.
    Fa3,
    /// `PEF (3)` / `2-1` / `PEF` — Peppol UBL Invoice.
    Pef3,
    /// `PEF_KOR (3)` / `2-1` / `PEF` — Peppol UBL CreditNote.
    PefKor3,
    /// `FA_RR (1)` / `1-1E` / `FA_RR` — VAT RR invoice (flat-rate farmers).
    FaRr1,
}

impl FormCode {
    /// All supported form codes.
    pub const ALL: [FormCode; 5] = [
        FormCode::Fa2,
        FormCode::Fa3,
        FormCode::Pef3,
        FormCode::PefKor3,
        FormCode::FaRr1,
    ];

    /// `systemCode`, e.g. `"FA (3)"` (note the space).
    pub fn system_code(self) -> &'static str {
        match self {
            FormCode::Fa2 => "FA (2)",
            FormCode::Fa3 => "FA (3)",
            FormCode::Pef3 => "PEF (3)",
            FormCode::PefKor3 => "PEF_KOR (3)",
            FormCode::FaRr1 => "FA_RR (1)",
        }
    }

    /// `schemaVersion`, e.g. `"1-0E"`.
    pub fn schema_version(self) -> &'static str {
        match self {
            FormCode::Fa2 | FormCode::Fa3 => "1-0E",
            FormCode::Pef3 | FormCode::PefKor3 => "2-1",
            FormCode::FaRr1 => "1-1E",
        }
    }

    /// `value`, e.g. `"FA"`.
    pub fn value(self) -> &'static str {
        match self {
            FormCode::Fa2 | FormCode::Fa3 => "FA",
            FormCode::Pef3 | FormCode::PefKor3 => "PEF",
            FormCode::FaRr1 => "FA_RR",
        }
    }

    /// The form code of an API triple (exact match, as KSeF compares them).
    pub fn from_parts(system_code: &str, schema_version: &str, value: &str) -> Option<FormCode> {
        FormCode::ALL.into_iter().find(|f| {
            f.system_code() == system_code
                && f.schema_version() == schema_version
                && f.value() == value
        })
    }

    /// Whether the form may be sent in a batch session (FA (2), FA (3), FA_RR (1)).
    pub fn allowed_in_batch(self) -> bool {
        matches!(self, FormCode::Fa2 | FormCode::Fa3 | FormCode::FaRr1)
    }

    /// UPO `NazwaStrukturyLogicznej`: `Schemat_{systemCode without space}_v{schemaVersion}.xsd`,
    /// e.g. `Schemat_FA(3)_v1-0E.xsd`.
    pub fn structure_name(self) -> String {
        format!(
            "Schemat_{}_v{}.xsd",
            self.system_code().replace(' ', ""),
            self.schema_version()
        )
    }

    /// Namespace of the document root element.
    pub fn namespace(self) -> &'static str {
        match self {
            FormCode::Fa2 => NS_FA2,
            FormCode::Fa3 => NS_FA3,
            FormCode::FaRr1 => NS_FA_RR1,
            FormCode::Pef3 => NS_UBL_INVOICE,
            FormCode::PefKor3 => NS_UBL_CREDIT_NOTE,
        }
    }

    /// Local name of the document root element.
    pub fn root_element(self) -> &'static str {
        match self {
            FormCode::Fa2 | FormCode::Fa3 | FormCode::FaRr1 => "Faktura",
            FormCode::Pef3 => "Invoice",
            FormCode::PefKor3 => "CreditNote",
        }
    }

    /// Detects the form of an invoice document: from
    /// `<Naglowek><KodFormularza kodSystemowy=… wersjaSchemy=…>value</KodFormularza>` when
    /// present and known, else from the root element's namespace (PEF documents carry no
    /// `KodFormularza`). `None` when the bytes are not readable XML or match no form.
    pub fn detect(xml: &[u8]) -> Option<FormCode> {
        let text = std::str::from_utf8(xml).ok()?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let doc = roxmltree::Document::parse(text).ok()?;
        crate::facts::detect_roxml(&doc)
    }
}

impl fmt::Display for FormCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} / {} / {}",
            self.system_code(),
            self.schema_version(),
            self.value()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triples_round_trip() {
        for f in FormCode::ALL {
            assert_eq!(
                FormCode::from_parts(f.system_code(), f.schema_version(), f.value()),
                Some(f)
            );
        }
        assert_eq!(FormCode::from_parts("FA(3)", "1-0E", "FA"), None);
        assert_eq!(FormCode::from_parts("FA (3)", "1-0F", "FA"), None);
        assert_eq!(FormCode::from_parts("FA (3)", "1-0E", "PEF"), None);
    }

    #[test]
    fn structure_names_and_batch() {
        assert_eq!(FormCode::Fa3.structure_name(), "Schemat_FA(3)_v1-0E.xsd");
        assert_eq!(FormCode::Fa2.structure_name(), "Schemat_FA(2)_v1-0E.xsd");
        assert_eq!(
            FormCode::FaRr1.structure_name(),
            "Schemat_FA_RR(1)_v1-1E.xsd"
        );
        assert_eq!(FormCode::Pef3.structure_name(), "Schemat_PEF(3)_v2-1.xsd");
        assert_eq!(
            FormCode::PefKor3.structure_name(),
            "Schemat_PEF_KOR(3)_v2-1.xsd"
        );
        let batch: Vec<_> = FormCode::ALL
            .into_iter()
            .filter(|f| f.allowed_in_batch())
            .collect();
        assert_eq!(batch, [FormCode::Fa2, FormCode::Fa3, FormCode::FaRr1]);
    }

    #[test]
    fn detect_prefers_header_then_namespace() {
        let fa3 = format!(
            "<Faktura xmlns=\"{NS_FA3}\"><Naglowek><KodFormularza kodSystemowy=\"FA (3)\" wersjaSchemy=\"1-0E\">FA</KodFormularza></Naglowek></Faktura>"
        );
        assert_eq!(FormCode::detect(fa3.as_bytes()), Some(FormCode::Fa3));
        let bare = format!("<Faktura xmlns=\"{NS_FA_RR1}\"/>");
        assert_eq!(FormCode::detect(bare.as_bytes()), Some(FormCode::FaRr1));
        let credit = format!("<cn:CreditNote xmlns:cn=\"{NS_UBL_CREDIT_NOTE}\"/>");
        assert_eq!(FormCode::detect(credit.as_bytes()), Some(FormCode::PefKor3));
        assert_eq!(FormCode::detect(b"<Invoice/>"), None);
    }
}
