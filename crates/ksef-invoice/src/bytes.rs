//! Byte-level rules applied before any XML parsing (digest §11): UTF-8 without BOM, an XML
//! declaration may only declare UTF-8, no processing instructions, no W3C "discouraged"
//! characters. DTDs (`<!DOCTYPE`) are refused as well: an invoice has no use for them and they
//! only open the door to entity tricks.

use crate::InvoiceError;

/// Checks the byte rules and returns the document as text.
pub fn check(xml: &[u8]) -> Result<&str, InvoiceError> {
    // First, in whatever encoding: the workspace's one DTD guard.
    if let Some(found) = ksef_core::xml::find_doctype(xml) {
        return Err(InvoiceError::NotWellFormed(found.to_string()));
    }
    if xml.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err(enc(
            "dokument zaczyna się od znacznika BOM (EF BB BF) / the document starts with a UTF-8 byte order mark; KSeF requires UTF-8 without BOM",
        ));
    }
    if xml.starts_with(&[0xFE, 0xFF]) || xml.starts_with(&[0xFF, 0xFE]) {
        return Err(enc(
            "dokument w kodowaniu UTF-16 (BOM FE FF / FF FE) / the document is UTF-16; KSeF requires UTF-8 without BOM",
        ));
    }
    let text = match std::str::from_utf8(xml) {
        Ok(t) => t,
        Err(e) => {
            let at = e.valid_up_to();
            let (line, col) = line_col(xml, at);
            let bad: Vec<String> = xml[at..]
                .iter()
                .take(e.error_len().unwrap_or(xml.len() - at).clamp(1, 4))
                .map(|b| format!("{b:02X}"))
                .collect();
            return Err(enc(&format!(
                "line {line}, column {col}: niepoprawna sekwencja UTF-8 / invalid UTF-8 byte sequence {} at byte offset {at}",
                bad.join(" ")
            )));
        }
    };
    check_declaration(text)?;
    scan_markup(text)?;
    check_characters(text)?;
    Ok(text)
}

fn enc(detail: &str) -> InvoiceError {
    InvoiceError::Encoding(detail.to_string())
}

/// 1-based line and column (in characters) of byte offset `at`.
fn line_col(bytes: &[u8], at: usize) -> (usize, usize) {
    let before = &bytes[..at.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let col = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, col)
}

/// `<?xml version="1.0" encoding="…"?>` at offset 0: the encoding, when given, must be UTF-8.
fn check_declaration(text: &str) -> Result<(), InvoiceError> {
    let Some(rest) = text.strip_prefix("<?xml") else {
        return Ok(());
    };
    if !rest.starts_with([' ', '\t', '\r', '\n']) {
        return Ok(()); // `<?xml-stylesheet …?>` and the like: a PI, reported by scan_markup
    }
    let Some(end) = rest.find("?>") else {
        return Ok(()); // unterminated: the parser reports it as not well-formed
    };
    let decl = &rest[..end];
    if let Some(value) = pseudo_attribute(decl, "encoding")
        && !value.eq_ignore_ascii_case("UTF-8")
    {
        return Err(enc(&format!(
            "line 1: deklaracja XML wskazuje kodowanie '{value}' / the XML declaration declares encoding '{value}'; only UTF-8 is accepted"
        )));
    }
    Ok(())
}

/// The value of `name="…"` / `name='…'` in an XML declaration.
fn pseudo_attribute<'a>(decl: &'a str, name: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(pos) = decl[from..].find(name) {
        let start = from + pos;
        from = start + name.len();
        let preceded_ok = decl[..start].ends_with([' ', '\t', '\r', '\n']);
        let after = decl[from..].trim_start_matches([' ', '\t', '\r', '\n']);
        if !preceded_ok || !after.starts_with('=') {
            continue;
        }
        let after = after[1..].trim_start_matches([' ', '\t', '\r', '\n']);
        let quote = after.chars().next()?;
        if quote != '"' && quote != '\'' {
            return None;
        }
        let body = &after[1..];
        return body.find(quote).map(|end| &body[..end]);
    }
    None
}

/// Finds processing instructions (other than the XML declaration at offset 0) outside comments
/// and CDATA sections (DOCTYPEs are found earlier, by [`ksef_core::xml::find_doctype`]).
fn scan_markup(text: &str) -> Result<(), InvoiceError> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = memchr_lt(&bytes[i..]) {
        let at = i + pos;
        let rest = &text[at..];
        if let Some(body) = rest.strip_prefix("<!--") {
            match body.find("-->") {
                Some(end) => i = at + 4 + end + 3,
                None => return Ok(()), // unterminated comment: not well-formed, parser reports
            }
        } else if let Some(body) = rest.strip_prefix("<![CDATA[") {
            match body.find("]]>") {
                Some(end) => i = at + 9 + end + 3,
                None => return Ok(()),
            }
        } else if let Some(body) = rest.strip_prefix("<?") {
            let target_len = body
                .find(|c: char| c.is_whitespace() || c == '?')
                .unwrap_or(body.len());
            let target = &body[..target_len];
            if target == "xml" {
                // The XML declaration (checked by check_declaration); a misplaced one is a
                // well-formedness error left to the parser.
                i = at + 2;
                continue;
            }
            let shown: String = target.chars().take(40).collect();
            let (line, col) = line_col(bytes, at);
            return Err(enc(&format!(
                "line {line}, column {col}: instrukcja przetwarzania <?{shown} …?> jest niedozwolona / processing instructions are not allowed"
            )));
        } else {
            i = at + 1;
        }
    }
    Ok(())
}

fn memchr_lt(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'<')
}

/// W3C XML 1.0 §2.2 "discouraged" characters: #x7F–#x84, #x86–#x9F, #xFDD0–#xFDEF and the
/// last two code points of every plane (U+FFFE/U+FFFF are not XML characters at all).
pub fn is_discouraged(c: char) -> bool {
    let u = c as u32;
    matches!(u, 0x7F..=0x84 | 0x86..=0x9F | 0xFDD0..=0xFDEF) || (u & 0xFFFE) == 0xFFFE
}

fn check_characters(text: &str) -> Result<(), InvoiceError> {
    let bytes = text.as_bytes();
    // In ASCII only DEL (0x7F) is discouraged; every other candidate is a multi-byte sequence,
    // decoded only where one starts (the text is valid UTF-8 already).
    let mut i = 0;
    while let Some(pos) = bytes[i..].iter().position(|&b| b >= 0x7F) {
        let at = i + pos;
        let c = text[at..].chars().next().unwrap_or('\0');
        if is_discouraged(c) {
            let (line, col) = line_col(bytes, at);
            return Err(enc(&format!(
                "line {line}, column {col}: znak U+{:04X} jest niedozwolony (W3C discouraged) / discouraged character U+{:04X}",
                c as u32, c as u32
            )));
        }
        i = at + c.len_utf8().max(1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(r: Result<&str, InvoiceError>) -> String {
        match r {
            Err(InvoiceError::Encoding(d)) | Err(InvoiceError::NotWellFormed(d)) => d,
            other => panic!("expected a byte-rule error, got {other:?}"),
        }
    }

    #[test]
    fn accepts_plain_utf8_with_and_without_declaration() {
        assert!(check(b"<a>\xC5\xBC\xC3\xB3\xC5\x82w</a>").is_ok());
        assert!(check(b"<?xml version=\"1.0\" encoding=\"utf-8\"?><a/>").is_ok());
        assert!(check(b"<?xml version='1.0' encoding='UTF-8' standalone='yes'?><a/>").is_ok());
        assert!(check(b"<?xml version=\"1.0\"?><a/>").is_ok());
        assert!(check(b"<a><!-- <?pi in comment?> --><![CDATA[<?x?>]]></a>").is_ok());
    }

    #[test]
    fn rejects_bom() {
        assert!(detail(check(b"\xEF\xBB\xBF<a/>")).contains("BOM"));
        assert!(detail(check(b"\xFF\xFE<\x00a\x00/\x00>\x00")).contains("UTF-16"));
    }

    #[test]
    fn rejects_other_declared_encodings() {
        let d = detail(check(
            b"<?xml version=\"1.0\" encoding=\"ISO-8859-2\"?><a/>",
        ));
        assert!(d.contains("ISO-8859-2"), "{d}");
        let d = detail(check(
            b"<?xml version=\"1.0\" encoding = 'windows-1250' ?><a/>",
        ));
        assert!(d.contains("windows-1250"), "{d}");
    }

    #[test]
    fn rejects_invalid_utf8_with_position() {
        let d = detail(check(b"<a>\n<b>\xE6</b></a>"));
        assert!(d.contains("line 2") && d.contains("E6"), "{d}");
    }

    #[test]
    fn rejects_processing_instructions() {
        let d = detail(check(
            b"<?xml version=\"1.0\"?>\n<?xml-stylesheet href=\"a.xsl\"?><a/>",
        ));
        assert!(d.contains("xml-stylesheet") && d.contains("line 2"), "{d}");
        let d = detail(check(b"<a><?php echo 1; ?></a>"));
        assert!(d.contains("php"), "{d}");
    }

    #[test]
    fn rejects_discouraged_characters() {
        for c in [
            '\u{7F}',
            '\u{80}',
            '\u{9F}',
            '\u{FDD0}',
            '\u{FDEF}',
            '\u{1FFFE}',
            '\u{10FFFF}',
        ] {
            let doc = format!("<a>x{c}</a>");
            let d = detail(check(doc.as_bytes()));
            assert!(d.contains(&format!("U+{:04X}", c as u32)), "{d}");
        }
        // NEL (U+0085) and ordinary non-ASCII are fine.
        assert!(check("<a>\u{85}\u{A0}ąę€\u{1F600}</a>".as_bytes()).is_ok());
    }

    #[test]
    fn rejects_doctype() {
        for doc in [
            &b"<!DOCTYPE a [<!ENTITY e \"x\">]><a>&e;</a>"[..],
            b"<?xml version=\"1.0\"?><!-- <a> --><!DOCTYPE a [<!ENTITY e \"x\">]><a>&e;</a>",
            // UTF-16 with a DTD: the DTD is what is reported.
            b"\xFF\xFE<\x00!\x00D\x00O\x00C\x00T\x00Y\x00P\x00E\x00 \x00a\x00>\x00<\x00a\x00/\x00>\x00",
        ] {
            let d = detail(check(doc));
            assert!(d.contains("DOCTYPE"), "{d}");
        }
    }
}
