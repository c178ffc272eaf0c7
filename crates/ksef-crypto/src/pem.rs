//! Minimal PEM helpers on top of `pem-rfc7468` (re-exported by `der`).
//!
//! `pem-rfc7468` decodes exactly one strict block; real files (e.g. `openssl pkcs12 -nodes`
//! output) carry "Bag Attributes" text and several blocks, so this module only splits the
//! input into `-----BEGIN …-----`/`-----END …-----` blocks and hands each to the decoder.

use der::pem::LineEnding;

use crate::error::{CryptoError, Result};

/// One decoded PEM block.
pub(crate) struct PemBlock {
    pub label: String,
    pub der: Vec<u8>,
}

/// All PEM blocks of `text`, in order. Text outside blocks is ignored.
pub(crate) fn parse_blocks(text: &str) -> Result<Vec<PemBlock>> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start..];
        let label_end = after[11..]
            .find("-----")
            .ok_or_else(|| CryptoError::BadPem("unterminated BEGIN line".into()))?;
        let label = &after[11..11 + label_end];
        let end_marker = format!("-----END {label}-----");
        let end = after
            .find(&end_marker)
            .ok_or_else(|| CryptoError::BadPem(format!("missing '{end_marker}'")))?;
        let block = &after[..end + end_marker.len()];
        // pem-rfc7468 wants clean LF/CRLF text; trim trailing spaces of lines.
        let normalized: String = block
            .lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n");
        let (decoded_label, der) = der::pem::decode_vec(normalized.as_bytes())
            .map_err(|e| CryptoError::BadPem(format!("{label}: {e}")))?;
        blocks.push(PemBlock {
            label: decoded_label.to_string(),
            der,
        });
        rest = &after[end + end_marker.len()..];
    }
    if blocks.is_empty() {
        return Err(CryptoError::BadPem("no PEM block found".into()));
    }
    Ok(blocks)
}

/// Encode DER bytes as a PEM block with LF line endings.
pub(crate) fn encode(label: &'static str, der: &[u8]) -> Result<String> {
    der::pem::encode_string(label, LineEnding::LF, der)
        .map_err(|e| CryptoError::BadPem(format!("encoding {label}: {e}")))
}
