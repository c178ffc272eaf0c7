//! Reading submitted forms: URL-encoded fields (repeated names allowed) and multipart uploads
//! with a per-file size cap, kept in memory only (zeroized on drop).

use axum::extract::Multipart;
use ksef_crypto::Zeroizing;

/// URL-encoded form fields in order.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed, or "".
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or("").trim().to_string()
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Parts one form may carry (many small invoice files at most; each part costs a little
/// memory beyond its bytes).
pub const MAX_PARTS: usize = 10_000;

/// A multipart form read into memory.
#[derive(Default)]
pub struct Upload {
    parts: Vec<(String, Option<String>, Zeroizing<Vec<u8>>)>,
    /// The first field that exceeded the cap (its data was discarded).
    pub too_large: Option<String>,
    /// Every part that exceeded the cap: (field name, file name).
    pub oversized: Vec<(String, Option<String>)>,
}

/// Why a multipart body could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UploadError(pub String);

impl Upload {
    /// Reads every part; a part longer than `max` bytes is drained and discarded (so the client
    /// still gets our answer) and named in `too_large`.
    pub async fn read(mut mp: Multipart, max: usize) -> Result<Upload, UploadError> {
        let mut up = Upload::default();
        loop {
            let field = match mp.next_field().await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => return Err(UploadError(e.body_text())),
            };
            if up.parts.len() >= MAX_PARTS {
                return Err(UploadError(format!("more than {MAX_PARTS} form parts")));
            }
            let name = field.name().unwrap_or("").to_string();
            let file_name = field.file_name().map(str::to_string);
            let mut field = field;
            let mut data = Zeroizing::new(Vec::new());
            let mut oversized = false;
            loop {
                match field.chunk().await {
                    Ok(Some(chunk)) => {
                        if oversized || data.len() + chunk.len() > max {
                            oversized = true;
                            data.clear();
                        } else {
                            data.extend_from_slice(&chunk);
                        }
                    }
                    Ok(None) => break,
                    Err(e) => return Err(UploadError(e.body_text())),
                }
            }
            if oversized {
                if up.too_large.is_none() {
                    up.too_large = Some(name.clone());
                }
                up.oversized.push((name.clone(), file_name.clone()));
            }
            up.parts.push((name, file_name, data));
        }
        Ok(up)
    }

    /// The bytes of part `name` (`None` when missing or empty).
    pub fn bytes(&self, name: &str) -> Option<&[u8]> {
        self.parts
            .iter()
            .find(|(n, _, d)| n == name && !d.is_empty())
            .map(|(_, _, d)| d.as_slice())
    }

    /// Every non-empty part `name` (a `multiple` file input): (file name, bytes).
    pub fn files(&self, name: &str) -> Vec<(Option<&str>, &[u8])> {
        self.parts
            .iter()
            .filter(|(n, _, d)| n == name && !d.is_empty())
            .map(|(_, f, d)| (f.as_deref(), d.as_slice()))
            .collect()
    }

    /// The file names of the parts `name` that exceeded the cap.
    pub fn oversized(&self, name: &str) -> Vec<Option<&str>> {
        self.oversized
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, f)| f.as_deref())
            .collect()
    }

    /// The text of part `name`, trimmed (lossy UTF-8), or "".
    pub fn text(&self, name: &str) -> String {
        self.bytes(name)
            .map(|b| String::from_utf8_lossy(b).trim().to_string())
            .unwrap_or_default()
    }

    /// The text of a secret part (e.g. a password), not trimmed, zeroized on drop.
    pub fn secret(&self, name: &str) -> Zeroizing<String> {
        Zeroizing::new(
            self.bytes(name)
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default(),
        )
    }
}

/// A local path for `return_to`: only our own pages (no scheme, no `//`).
pub fn safe_return_to(s: &str) -> String {
    const ALLOWED: [&str; 9] = [
        "/",
        "/generuj",
        "/tokeny",
        "/uzytkownicy",
        "/ustawienia",
        "/faktury/zakupu",
        "/faktury/sprzedazy",
        "/faktury/offline",
        "/sesje",
    ];
    let path = s.split(['?', '#']).next().unwrap_or("");
    if ALLOWED.contains(&path) || path.starts_with("/uzytkownicy/") && !path.contains("//") {
        path.to_string()
    } else if path.starts_with("/faktury/offline/") {
        "/faktury/offline".to_string()
    } else if path.starts_with("/faktury/sprzedazy/") {
        // A sending job or an invoice belongs to one firm: back to its list.
        "/faktury/sprzedazy".to_string()
    } else if path.starts_with("/faktury/") {
        "/faktury/zakupu".to_string()
    } else {
        "/generuj".to_string()
    }
}

/// Percent-encodes one URL path segment (user names may hold spaces and Polish letters).
/// Hand-rolled: the few lines beat a new dependency, and `form_urlencoded` writes `+` for spaces,
/// which is wrong in a path.
pub fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_stays_local() {
        assert_eq!(safe_return_to("/tokeny?status=Active"), "/tokeny");
        assert_eq!(safe_return_to("https://evil.example/"), "/generuj");
        assert_eq!(safe_return_to("//evil.example/x"), "/generuj");
        assert_eq!(
            safe_return_to("/uzytkownicy/Ksi%C4%99gowa"),
            "/uzytkownicy/Ksi%C4%99gowa"
        );
        // The invoice screens come back to their list (an invoice or a job is one firm's).
        assert_eq!(
            safe_return_to("/faktury/zakupu?strona=2"),
            "/faktury/zakupu"
        );
        assert_eq!(safe_return_to("/sesje"), "/sesje");
        assert_eq!(safe_return_to("/faktury/offline"), "/faktury/offline");
        assert_eq!(safe_return_to("/faktury/17"), "/faktury/zakupu");
        assert_eq!(
            safe_return_to("/faktury/zakupu/pobieranie"),
            "/faktury/zakupu"
        );
        assert_eq!(
            safe_return_to("/faktury/sprzedazy/wysylka/ab12"),
            "/faktury/sprzedazy"
        );
        assert_eq!(safe_return_to("/faktury//evil.example"), "/faktury/zakupu");
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(path_segment("Księgowa Anna"), "Ksi%C4%99gowa%20Anna");
        assert_eq!(path_segment("a/b"), "a%2Fb");
    }
}
