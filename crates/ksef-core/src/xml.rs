//! The one DTD guard of the workspace: every XML document that comes from outside (signed
//! `AuthTokenRequest`s, invoices, UPOs) is refused when it carries a document type declaration,
//! before any parser sees it. KSeF documents have no use for DTDs, and DTDs are what entity
//! tricks (expansion bombs, external entities) need.
//!
//! The guard walks the markup the way an XML tokenizer does (comments, CDATA sections and
//! processing instructions, the XML declaration included, are skipped as units), so a
//! `<!DOCTYPE` that a parser would read is found wherever it stands, whatever precedes it, and
//! text that only looks like one (inside a comment, a CDATA section or a PI) is not. Anything
//! else starting with `<!DOCTYPE` (ASCII case ignored) counts: outside the prolog it cannot be
//! well-formed anyway, so refusing it loses nothing.
//!
//! Encodings: the bytes are read as UTF-8 (with or without BOM; invalid sequences cannot hide
//! ASCII markup) or, when a byte order mark or the `<?` pattern says so, as UTF-16 or UTF-32,
//! so a DTD is found even in a document some parser would decode differently.

/// A document type declaration found by [`find_doctype`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "line {line}, column {column}: deklaracja DOCTYPE jest niedozwolona / DOCTYPE declarations (DTDs) are not accepted"
)]
pub struct DoctypeFound {
    /// 1-based line of the `<!DOCTYPE`.
    pub line: usize,
    /// 1-based column (in characters) of the `<!DOCTYPE`.
    pub column: usize,
}

/// Finds a document type declaration in `xml` (see the module docs). `None` = no DTD.
pub fn find_doctype(xml: &[u8]) -> Option<DoctypeFound> {
    match detect(xml) {
        Encoding::Utf8 => {
            let bytes = xml.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(xml);
            find_doctype_in(&String::from_utf8_lossy(bytes))
        }
        Encoding::Utf16 { big_endian, bom } => {
            let body = &xml[if bom { 2 } else { 0 }..];
            let units = body.chunks_exact(2).map(|c| {
                let pair = [c[0], c[1]];
                if big_endian {
                    u16::from_be_bytes(pair)
                } else {
                    u16::from_le_bytes(pair)
                }
            });
            let text: String = char::decode_utf16(units)
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect();
            find_doctype_in(&text)
        }
        Encoding::Utf32 { big_endian, bom } => {
            let body = &xml[if bom { 4 } else { 0 }..];
            let text: String = body
                .chunks_exact(4)
                .map(|c| {
                    let quad = [c[0], c[1], c[2], c[3]];
                    let v = if big_endian {
                        u32::from_be_bytes(quad)
                    } else {
                        u32::from_le_bytes(quad)
                    };
                    char::from_u32(v).unwrap_or(char::REPLACEMENT_CHARACTER)
                })
                .collect();
            find_doctype_in(&text)
        }
    }
}

/// [`find_doctype`] for a document already decoded to text.
pub fn find_doctype_in(text: &str) -> Option<DoctypeFound> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = bytes[i..].iter().position(|&b| b == b'<') {
        let at = i + pos;
        let rest = &bytes[at..];
        // Comments, CDATA sections and processing instructions (the XML declaration too) end
        // at their first terminator, exactly as for a parser. An unterminated one is not
        // well-formed: no parser reads past it, so there is nothing further to find.
        let unit = if rest.starts_with(b"<!--") {
            Some((4, &b"-->"[..]))
        } else if rest.starts_with(b"<![CDATA[") {
            Some((9, &b"]]>"[..]))
        } else if rest.starts_with(b"<?") {
            Some((2, &b"?>"[..]))
        } else {
            None
        };
        match unit {
            Some((open, close)) => match find(&rest[open..], close) {
                Some(end) => i = at + open + end + close.len(),
                None => return None,
            },
            None if rest.len() >= 9 && rest[..9].eq_ignore_ascii_case(b"<!DOCTYPE") => {
                let (line, column) = line_col(text, at);
                return Some(DoctypeFound { line, column });
            }
            None => i = at + 1,
        }
    }
    None
}

enum Encoding {
    Utf8,
    Utf16 { big_endian: bool, bom: bool },
    Utf32 { big_endian: bool, bom: bool },
}

/// The encoding of an XML entity from its first bytes (XML 1.0 Appendix F).
fn detect(xml: &[u8]) -> Encoding {
    match xml {
        [0x00, 0x00, 0xFE, 0xFF, ..] => Encoding::Utf32 {
            big_endian: true,
            bom: true,
        },
        [0xFF, 0xFE, 0x00, 0x00, ..] => Encoding::Utf32 {
            big_endian: false,
            bom: true,
        },
        [0x00, 0x00, 0x00, 0x3C, ..] => Encoding::Utf32 {
            big_endian: true,
            bom: false,
        },
        [0x3C, 0x00, 0x00, 0x00, ..] => Encoding::Utf32 {
            big_endian: false,
            bom: false,
        },
        [0xFE, 0xFF, ..] => Encoding::Utf16 {
            big_endian: true,
            bom: true,
        },
        [0xFF, 0xFE, ..] => Encoding::Utf16 {
            big_endian: false,
            bom: true,
        },
        [0x00, 0x3C, 0x00, 0x3F, ..] => Encoding::Utf16 {
            big_endian: true,
            bom: false,
        },
        [0x3C, 0x00, 0x3F, 0x00, ..] => Encoding::Utf16 {
            big_endian: false,
            bom: false,
        },
        _ => Encoding::Utf8,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// 1-based line and column (in characters) of byte offset `at` of `text`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = text.get(..at).unwrap_or(text);
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |p| p + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DTD: &str = "<!DOCTYPE r [<!ENTITY e \"x\">]>";

    fn utf16(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if bom {
            out.extend(if big_endian {
                [0xFE, 0xFF]
            } else {
                [0xFF, 0xFE]
            });
        }
        for u in text.encode_utf16() {
            out.extend(if big_endian {
                u.to_be_bytes()
            } else {
                u.to_le_bytes()
            });
        }
        out
    }

    #[test]
    fn finds_a_doctype_after_any_prolog() {
        for doc in [
            format!("{DTD}<r>&e;</r>"),
            format!("<?xml version=\"1.0\"?>{DTD}<r/>"),
            format!("<?xml version=\"1.0\"?><!-- x -->{DTD}<r/>"),
            // A comment that looks like the root element start (fooled the old scan).
            format!("<?xml version=\"1.0\"?><!-- <r> -->{DTD}<r/>"),
            format!("<?xml version=\"1.0\"?><?pi <r/> ?>{DTD}<r/>"),
            format!("<?pi <!-- ?>{DTD}<r/><!-- -->"),
            format!("\u{FEFF}<?xml version=\"1.0\"?>\r\n\t {DTD}\n<r/>"),
            format!("<?xml version='1.0' encoding='<!--'?>{DTD}<r/><!-- -->"),
            "<!doctype r><r/>".to_string(),
            format!("<r/>{DTD}"),
        ] {
            assert!(find_doctype(doc.as_bytes()).is_some(), "{doc}");
        }
        let found =
            find_doctype(format!("<?xml version=\"1.0\"?>\n<!-- a -->{DTD}<r/>").as_bytes());
        assert_eq!(
            found,
            Some(DoctypeFound {
                line: 2,
                column: 11
            })
        );
    }

    #[test]
    fn finds_a_doctype_in_other_encodings() {
        let doc = format!("<?xml version=\"1.0\"?><!-- x -->{DTD}<r/>");
        for (be, bom) in [(true, true), (false, true), (true, false), (false, false)] {
            assert!(find_doctype(&utf16(&doc, be, bom)).is_some(), "{be} {bom}");
        }
        let utf32le: Vec<u8> = "\u{FEFF}"
            .chars()
            .chain(doc.chars())
            .flat_map(|c| (c as u32).to_le_bytes())
            .collect();
        assert!(find_doctype(&utf32le).is_some());
        // Invalid UTF-8 does not hide it.
        let mut bytes = b"<?xml version=\"1.0\"?><!-- \xFF -->".to_vec();
        bytes.extend(DTD.as_bytes());
        assert!(find_doctype(&bytes).is_some());
    }

    #[test]
    fn ignores_lookalikes_and_plain_documents() {
        for doc in [
            "<r/>",
            "<?xml version=\"1.0\"?><r a=\"1\">t</r>",
            "<r><!-- <!DOCTYPE x> --></r>",
            "<r><![CDATA[<!DOCTYPE x>]]></r>",
            "<?pi <!DOCTYPE x> ?><r/>",
            "<!-- unterminated <!DOCTYPE x>",
            "",
        ] {
            assert_eq!(find_doctype(doc.as_bytes()), None, "{doc}");
        }
    }
}

/// Escapes text for XML and HTML, in content and in (double- or single-quoted) attribute
/// values alike: `&`, `<`, `>`, `"` and `'`. The workspace's one such escape for documents
/// it writes (UPOs, QR code SVGs, the emulator's pages).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod escape_tests {
    #[test]
    fn markup_and_quotes_are_escaped_and_the_rest_kept() {
        assert_eq!(
            super::escape(r#"<a href="x">Kowalski & 'Syn'</a> – zł"#),
            "&lt;a href=&quot;x&quot;&gt;Kowalski &amp; &#39;Syn&#39;&lt;/a&gt; – zł"
        );
    }
}
