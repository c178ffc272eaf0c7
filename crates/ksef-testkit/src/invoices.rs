//! Invoice test data built from the official C# client templates vendored under
//! `spec/ksef-client-csharp/KSeF.Client.Tests.Core/Templates/` in this repository (see
//! [`crate::spec_dir`]).
//!
//! [`fa3`], [`fa2`], [`fa_rr1`], [`pef3`], [`pef_kor3`] fill the seller NIP and the invoice
//! number; the `broken_*` helpers return documents that KSeF rejects for a known reason
//! (see [`broken_all`] for the whole set with the expected invoice status code).
//! These are test helpers: a missing template panics with the path in the message.

use std::path::{Path, PathBuf};

/// Template file names.
pub const FA3: &str = "invoice-template-fa-3.xml";
pub const FA2: &str = "invoice-template-fa-2.xml";
pub const FA_RR1: &str = "invoice-template-fa-rr-1.xml";
pub const PEF3: &str = "invoice-template-fa-3-pef.xml";
pub const PEF_KOR3: &str = "invoice-template-fa-3-pef-correction.xml";
pub const FA3_WITH_ATTACHMENT: &str = "invoice-template-fa-3-with-attachment.xml";
pub const FA3_CUSTOM_SUBJECT2: &str = "invoice-template-fa-3-with-custom-Subject2.xml";
pub const FA3_CUSTOM_SUBJECT3: &str = "invoice-template-fa-3-with-custom-Subject3.xml";
pub const FA3_MULTIPLE_SUBJECT3: &str = "invoice-template-fa-3-with-multiple-Subject3.xml";

/// Buyer NIP used for `#buyer_nip#` / `#nipOdbiorca#` (valid checksum; the FA(2) template's buyer).
pub const DEFAULT_BUYER_NIP: &str = "7352765225";
/// Date used for `#issue_date#` (PEF templates).
pub const DEFAULT_ISSUE_DATE: &str = "2025-09-01";
/// Date used for `#due_date#` (PEF templates).
pub const DEFAULT_DUE_DATE: &str = "2025-10-01";
/// KSeF number used for `#ksef_number#` (PEF correction template).
pub const DEFAULT_KSEF_NUMBER: &str = "5265877635-20250916-0200A0D6723E-C2";

/// Directory of the C# client's invoice templates.
pub fn templates_dir() -> PathBuf {
    crate::spec_dir().join("ksef-client-csharp/KSeF.Client.Tests.Core/Templates")
}

/// Path of one template by file name.
pub fn template_path(name: &str) -> PathBuf {
    templates_dir().join(name)
}

/// Reads a template and fills its placeholders: `#nip#` and `#supplier_nip#` with `nip`,
/// `#invoice_number#` with `number`, the others with the `DEFAULT_*` values (`#compliant#` and
/// `#extended#` in the PEF templates are literal parts of the Peppol customisation ids).
pub fn from_template(path: impl AsRef<Path>, nip: &str, number: &str) -> Vec<u8> {
    from_template_with(path, &[("#nip#", nip), ("#invoice_number#", number)])
}

/// Like [`from_template`] with explicit placeholder values (`("#buyer_nip#", "…")` …);
/// placeholders not given get the defaults.
pub fn from_template_with(path: impl AsRef<Path>, values: &[(&str, &str)]) -> Vec<u8> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read invoice template {}: {e}", path.display()));
    let nip = values
        .iter()
        .find(|(k, _)| *k == "#nip#")
        .map_or("5265877635", |(_, v)| *v);
    let defaults: [(&str, &str); 8] = [
        ("#supplier_nip#", nip),
        ("#buyer_nip#", DEFAULT_BUYER_NIP),
        ("#nipOdbiorca#", DEFAULT_BUYER_NIP),
        ("#issue_date#", DEFAULT_ISSUE_DATE),
        ("#due_date#", DEFAULT_DUE_DATE),
        ("#ksef_number#", DEFAULT_KSEF_NUMBER),
        ("#buyer_reference#", "REF-1"),
        ("#iban#", "PL61109010140000071219812874"),
    ];
    let mut out = text;
    for (k, v) in values {
        out = out.replace(k, v);
    }
    for (k, v) in defaults {
        if !values.iter().any(|(given, _)| *given == k) {
            out = out.replace(k, v);
        }
    }
    out.into_bytes()
}

/// FA(3) invoice (~3.3 KB) of seller `nip`; `P_2` = `FA/GRQMB-{number}/05/2025`.
pub fn fa3(nip: &str, number: &str) -> Vec<u8> {
    from_template(template_path(FA3), nip, number)
}

/// FA(2) invoice of seller `nip`.
pub fn fa2(nip: &str, number: &str) -> Vec<u8> {
    from_template(template_path(FA2), nip, number)
}

/// FA_RR(1) invoice of supplier `nip` (`P_4C` = `number`), buyer [`DEFAULT_BUYER_NIP`].
pub fn fa_rr1(nip: &str, number: &str) -> Vec<u8> {
    from_template(template_path(FA_RR1), nip, number)
}

/// PEF(3) UBL Invoice of supplier `nip` (`cbc:ID` = `number`).
pub fn pef3(nip: &str, number: &str) -> Vec<u8> {
    from_template(template_path(PEF3), nip, number)
}

/// PEF_KOR(3) UBL CreditNote of supplier `nip` (`cbc:ID` = `number`).
pub fn pef_kor3(nip: &str, number: &str) -> Vec<u8> {
    from_template(template_path(PEF_KOR3), nip, number)
}

/// FA(3) invoice with a `Zalacznik` (attachment; batch sessions only).
pub fn fa3_with_attachment(nip: &str, number: &str) -> Vec<u8> {
    from_template(template_path(FA3_WITH_ATTACHMENT), nip, number)
}

/// FA(3) with one third subject (`Podmiot3`, NIP [`DEFAULT_BUYER_NIP`], role 8 — JST recipient
/// style template); `P_2` = `number`.
pub fn fa3_with_subject3(nip: &str, number: &str) -> Vec<u8> {
    let xml = from_template(template_path(FA3_CUSTOM_SUBJECT3), nip, number);
    with_element_text(&xml, "P_2", number)
}

/// FA(3) with two third subjects identified by internal ids `{nip}-00001` / `{nip}-00002`
/// (the template offers NIP or IDWew; the NIP lines are dropped); buyer
/// [`DEFAULT_BUYER_NIP`]; `P_2` = `number`.
pub fn fa3_with_multiple_subject3(nip: &str, number: &str) -> Vec<u8> {
    let id1 = format!("{nip}-00001");
    let id2 = format!("{nip}-00002");
    let xml = from_template_with(
        template_path(FA3_MULTIPLE_SUBJECT3),
        &[
            ("#nip_podmiot1#", nip),
            ("#nip_podmiot2#", DEFAULT_BUYER_NIP),
            ("#idwew1_podmiot3#", &id1),
            ("#idwew2_podmiot3#", &id2),
        ],
    );
    let text = String::from_utf8_lossy(&xml)
        .lines()
        .filter(|l| !l.contains("_podmiot3#</NIP>"))
        .collect::<Vec<_>>()
        .join("\n");
    with_element_text(text.as_bytes(), "P_2", number)
}

/// Replaces the text of the first element with local name `element` (e.g. `"P_2"`).
/// Panics if there is no such element (test helper).
pub fn with_element_text(xml: &[u8], element: &str, new_text: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(xml);
    let open = format!("<{element}>");
    let close = format!("</{element}>");
    let start = text
        .find(&open)
        .unwrap_or_else(|| panic!("no <{element}> in the document"))
        + open.len();
    let end = start
        + text[start..]
            .find(&close)
            .unwrap_or_else(|| panic!("no </{element}> in the document"));
    format!("{}{}{}", &text[..start], new_text, &text[end..]).into_bytes()
}

fn replace_once(xml: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(xml);
    assert!(text.contains(from), "'{from}' not found in the document");
    text.replacen(from, to, 1).into_bytes()
}

/// Well-formed FA(3) that fails the XSD: `P_1` with month 13. Status 430.
pub fn broken_schema(nip: &str, number: &str) -> Vec<u8> {
    with_element_text(&fa3(nip, number), "P_1", "2025-13-01")
}

/// Well-formed FA(3) without the mandatory `P_2`. Status 430.
pub fn broken_missing_p2(nip: &str, number: &str) -> Vec<u8> {
    let xml = fa3(nip, number);
    let text = String::from_utf8_lossy(&xml);
    let start = text.find("<P_2>").expect("template has P_2");
    let end = text.find("</P_2>").expect("template has P_2") + "</P_2>".len();
    format!("{}{}", &text[..start], &text[end..]).into_bytes()
}

/// Not well-formed FA(3): `</Fa>` closed as `</Fx>`. Status 430.
pub fn broken_not_well_formed(nip: &str, number: &str) -> Vec<u8> {
    replace_once(&fa3(nip, number), "</Fa>", "</Fx>")
}

/// FA(3) with a UTF-8 BOM in front. Status 430.
pub fn broken_bom(nip: &str, number: &str) -> Vec<u8> {
    let mut out = vec![0xEF, 0xBB, 0xBF];
    out.extend(fa3(nip, number));
    out
}

/// FA(3) declaring `encoding="ISO-8859-2"`. Status 430.
pub fn broken_encoding_declaration(nip: &str, number: &str) -> Vec<u8> {
    replace_once(
        &fa3(nip, number),
        "encoding=\"UTF-8\"",
        "encoding=\"ISO-8859-2\"",
    )
}

/// FA(3) with a processing instruction (`<?xml-stylesheet …?>`). Status 430.
pub fn broken_processing_instruction(nip: &str, number: &str) -> Vec<u8> {
    replace_once(
        &fa3(nip, number),
        "?>\n",
        "?>\n<?xml-stylesheet type=\"text/xsl\" href=\"faktura.xsl\"?>\n",
    )
}

/// FA(3) with a W3C-discouraged character (U+0086) in the seller name. Status 430.
pub fn broken_discouraged_char(nip: &str, number: &str) -> Vec<u8> {
    replace_once(
        &fa3(nip, number),
        "Elektrownia S.A.",
        "Elektrownia\u{86} S.A.",
    )
}

/// FA(3) in a wrong namespace (FA(2)'s) — fails the FA(3) XSD. Status 430.
pub fn broken_namespace(nip: &str, number: &str) -> Vec<u8> {
    replace_once(
        &fa3(nip, number),
        "http://crd.gov.pl/wzor/2025/06/25/13775/",
        "http://crd.gov.pl/wzor/2023/06/29/12648/",
    )
}

/// Every broken variant: (name, bytes, expected KSeF invoice status code) — all FA(3).
pub fn broken_all(nip: &str, number: &str) -> Vec<(&'static str, Vec<u8>, u16)> {
    vec![
        ("schema", broken_schema(nip, number), 430),
        ("missing_p2", broken_missing_p2(nip, number), 430),
        ("not_well_formed", broken_not_well_formed(nip, number), 430),
        ("bom", broken_bom(nip, number), 430),
        (
            "encoding_declaration",
            broken_encoding_declaration(nip, number),
            430,
        ),
        (
            "processing_instruction",
            broken_processing_instruction(nip, number),
            430,
        ),
        (
            "discouraged_char",
            broken_discouraged_char(nip, number),
            430,
        ),
        ("namespace", broken_namespace(nip, number), 430),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(xml: &[u8]) -> String {
        String::from_utf8(xml.to_vec()).expect("UTF-8")
    }

    /// Placeholders left after filling (the Peppol ids legitimately contain `#compliant#`).
    fn leftover_placeholders(xml: &[u8]) -> Vec<String> {
        let t = text(xml)
            .replace("#compliant#", "")
            .replace("#extended#", "");
        let mut out = Vec::new();
        let mut rest = t.as_str();
        while let Some(start) = rest.find('#') {
            let after = &rest[start + 1..];
            match after.find('#') {
                Some(end)
                    if end > 0
                        && after[..end]
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
                {
                    out.push(after[..end].to_string());
                    rest = &after[end + 1..];
                }
                _ => rest = after,
            }
        }
        out
    }

    #[test]
    fn every_helper_fills_every_placeholder() {
        let nip = "5265877635";
        let docs = [
            ("fa3", fa3(nip, "N1")),
            ("fa2", fa2(nip, "N1")),
            ("fa_rr1", fa_rr1(nip, "N1")),
            ("pef3", pef3(nip, "N1")),
            ("pef_kor3", pef_kor3(nip, "N1")),
            ("fa3_with_attachment", fa3_with_attachment(nip, "N1")),
            ("fa3_with_subject3", fa3_with_subject3(nip, "N1")),
            (
                "fa3_with_multiple_subject3",
                fa3_with_multiple_subject3(nip, "N1"),
            ),
        ];
        for (name, xml) in docs {
            assert_eq!(leftover_placeholders(&xml), Vec::<String>::new(), "{name}");
            let t = text(&xml);
            assert!(t.contains(nip), "{name}: seller NIP missing");
            assert!(t.contains("N1"), "{name}: invoice number missing");
        }
    }

    #[test]
    fn broken_variants_differ_from_the_good_invoice() {
        let good = fa3("5265877635", "B1");
        let all = broken_all("5265877635", "B1");
        assert_eq!(all.len(), 8);
        for (name, xml, status) in all {
            assert_ne!(xml, good, "{name}");
            assert_eq!(status, 430, "{name}");
        }
        assert!(broken_bom("5265877635", "B1").starts_with(&[0xEF, 0xBB, 0xBF]));
        assert!(!text(&broken_missing_p2("5265877635", "B1")).contains("<P_2>"));
    }

    #[test]
    fn with_element_text_replaces_the_first_element() {
        let xml = with_element_text(b"<a><P_2>x</P_2><P_2>y</P_2></a>", "P_2", "z");
        assert_eq!(xml, b"<a><P_2>z</P_2><P_2>y</P_2></a>");
    }
}
