//! `_metadata.json` of an export package (`{"invoices": [InvoiceMetadata…]}`, digest §12.3),
//! read so that memory does not grow with the package: the document is parsed as a stream,
//! one entry at a time; each entry is written (compact JSON) to an anonymous temporary file and
//! only an index — KSeF number → where its entry is — stays in memory. An invoice's entry is
//! read back when the invoice is unpacked ([`PackageMetadata::take`]).
//!
//! (A package holds up to 10 000 invoices; parsed whole into `serde_json::Value`s its metadata
//! took ~5 KB per invoice, ~50 MB for a full package. The index takes ~100 bytes per invoice.)
//!
//! Leniency as before: every entry needs its `ksefNumber`; its `invoiceHash` and the full
//! [`InvoiceMetadata`] are taken when readable.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use ksef_wire::{EXPORT_METADATA_FILE_NAME, InvoiceMetadata};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::io_error;
use crate::error::KsefError;

/// Where one entry is in the spill file.
#[derive(Debug, Clone, Copy)]
struct Span {
    offset: u64,
    len: usize,
}

/// The metadata of one package (see the module docs).
#[derive(Debug, Default)]
pub(super) struct PackageMetadata {
    /// The entries, one after another (`None`: the package has no `_metadata.json`).
    file: Option<File>,
    index: HashMap<String, Span>,
}

/// What the metadata says about one invoice.
#[derive(Debug, Default)]
pub(super) struct InvoiceEntry {
    /// `invoiceHash` (SHA-256, Base64).
    pub(super) hash: Option<String>,
    /// The whole entry, when it reads as [`InvoiceMetadata`].
    pub(super) metadata: Option<InvoiceMetadata>,
}

fn decode_error(message: impl fmt::Display) -> KsefError {
    KsefError::Decode {
        what: format!("{EXPORT_METADATA_FILE_NAME} of an export package"),
        message: message.to_string(),
    }
}

impl PackageMetadata {
    /// Reads `_metadata.json` from `reader`, spilling the entries into a temporary file in
    /// `temp_dir` (removed when this is dropped, or by the OS if the process dies).
    pub(super) fn read(reader: impl Read, temp_dir: &Path) -> Result<Self, KsefError> {
        let file = tempfile::tempfile_in(temp_dir).map_err(|e| {
            io_error(
                format!("cannot create a temporary file in {}", temp_dir.display()),
                e,
            )
        })?;
        let mut spill = Spill {
            out: BufWriter::new(file),
            offset: 0,
            index: HashMap::new(),
            failure: None,
        };
        let mut de = serde_json::Deserializer::from_reader(io::BufReader::new(reader));
        let parsed = DocumentSeed { spill: &mut spill }
            .deserialize(&mut de)
            .and_then(|()| de.end());
        if let Some(e) = spill.failure.take() {
            return Err(e);
        }
        parsed.map_err(decode_error)?;
        let file = spill
            .out
            .into_inner()
            .map_err(|e| io_error("temporary metadata file", e.error()))?;
        Ok(PackageMetadata {
            file: Some(file),
            index: spill.index,
        })
    }

    /// The entry of `ksef_number`, taken out of the index (a second call gives nothing);
    /// empty when the metadata has no entry for it.
    pub(super) fn take(&mut self, ksef_number: &str) -> Result<InvoiceEntry, KsefError> {
        let (Some(file), Some(span)) = (self.file.as_mut(), self.index.remove(ksef_number)) else {
            return Ok(InvoiceEntry::default());
        };
        let mut bytes = vec![0; span.len];
        file.seek(SeekFrom::Start(span.offset))
            .and_then(|_| file.read_exact(&mut bytes))
            .map_err(|e| io_error("temporary metadata file", e))?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(decode_error)?;
        let hash = value
            .get("invoiceHash")
            .and_then(|h| h.as_str())
            .map(str::to_string);
        let metadata = serde_json::from_value::<InvoiceMetadata>(value).ok();
        Ok(InvoiceEntry { hash, metadata })
    }
}

/// The spill file being written and the index of what is in it.
struct Spill {
    out: BufWriter<File>,
    offset: u64,
    index: HashMap<String, Span>,
    /// A write failure (reported as such, not as a JSON error).
    failure: Option<KsefError>,
}

impl Spill {
    fn push<E: de::Error>(&mut self, entry: serde_json::Value) -> Result<(), E> {
        let Some(number) = entry.get("ksefNumber").and_then(|n| n.as_str()) else {
            return Err(E::custom("an entry has no ksefNumber"));
        };
        let number = number.to_string();
        let bytes = serde_json::to_vec(&entry).map_err(E::custom)?;
        if let Err(e) = self.out.write_all(&bytes) {
            self.failure = Some(io_error("temporary metadata file", e));
            return Err(E::custom("cannot write the temporary metadata file"));
        }
        let span = Span {
            offset: self.offset,
            len: bytes.len(),
        };
        self.offset += bytes.len() as u64;
        // A number listed twice: the later entry counts (as a map built from the list would).
        self.index.insert(number, span);
        Ok(())
    }
}

/// The document: an object whose `invoices` (optional) is the list of entries; other members
/// are skipped.
struct DocumentSeed<'a> {
    spill: &'a mut Spill,
}

impl<'de> DeserializeSeed<'de> for DocumentSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DocumentSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with an `invoices` list")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen_invoices = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "invoices" {
                if seen_invoices {
                    return Err(de::Error::duplicate_field("invoices"));
                }
                seen_invoices = true;
                map.next_value_seed(EntriesSeed {
                    spill: &mut *self.spill,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// The `invoices` list, entry by entry into the spill file.
struct EntriesSeed<'a> {
    spill: &'a mut Spill,
}

impl<'de> DeserializeSeed<'de> for EntriesSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EntriesSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of invoice metadata")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(entry) = seq.next_element::<serde_json::Value>()? {
            self.spill.push(entry)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Result<PackageMetadata, KsefError> {
        let dir = tempfile::tempdir().unwrap();
        PackageMetadata::read(json.as_bytes(), dir.path())
    }

    #[test]
    fn entries_come_back_by_number_once() {
        let full = serde_json::json!({
            "ksefNumber": "5265877635-20250826-0100001AF629-AF",
            "invoiceNumber": "FV/1",
            "issueDate": "2025-08-26",
            "invoicingDate": "2025-08-26T10:00:00+00:00",
            "acquisitionDate": "2025-08-26T10:00:01+00:00",
            "permanentStorageDate": "2025-08-26T10:00:02+00:00",
            "seller": {"nip": "5265877635", "name": "A"},
            "buyer": {"identifier": {"type": "Nip", "value": "7352765225"}, "name": "B"},
            "netAmount": 100.0, "grossAmount": 123.0, "vatAmount": 23.0,
            "currency": "PLN",
            "invoicingMode": "Online",
            "invoiceType": "Vat",
            "formCode": {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"},
            "isSelfInvoicing": false,
            "hasAttachment": false,
            "invoiceHash": "AAAA",
        });
        let doc = serde_json::json!({
            "version": 1,
            "invoices": [full, {"ksefNumber": "N-2", "invoiceHash": "BBBB"}, {"ksefNumber": "N-3"}],
            "trailer": {"ignored": [1, 2]},
        });
        let mut m = read(&doc.to_string()).unwrap();
        let first = m.take("5265877635-20250826-0100001AF629-AF").unwrap();
        assert_eq!(first.hash.as_deref(), Some("AAAA"));
        let meta = first
            .metadata
            .expect("a full entry reads as InvoiceMetadata");
        assert_eq!(meta.invoice_number, "FV/1");
        assert_eq!(meta.seller.nip, "5265877635");
        let second = m.take("N-2").unwrap();
        assert_eq!(second.hash.as_deref(), Some("BBBB"));
        assert!(second.metadata.is_none(), "a partial entry has no metadata");
        let third = m.take("N-3").unwrap();
        assert!(third.hash.is_none() && third.metadata.is_none());
        // Taken once; unknown numbers have nothing.
        let again = m.take("N-2").unwrap();
        assert!(again.hash.is_none());
        assert!(m.take("N-9").unwrap().hash.is_none());
        assert!(m.index.is_empty());
    }

    #[test]
    fn the_later_of_two_entries_counts() {
        let mut m = read(
            r#"{"invoices": [{"ksefNumber": "N-1", "invoiceHash": "old"},
                             {"ksefNumber": "N-1", "invoiceHash": "new"}]}"#,
        )
        .unwrap();
        assert_eq!(m.take("N-1").unwrap().hash.as_deref(), Some("new"));
    }

    #[test]
    fn bad_documents_are_decode_errors() {
        for (json, needle) in [
            (r#"{"invoices": [{"invoiceHash": "x"}]}"#, "no ksefNumber"),
            (r#"{"invoices": [], "invoices": []}"#, "duplicate field"),
            (r#"{"invoices": null}"#, "invalid type"),
            (r#"[{"ksefNumber": "N-1"}]"#, "invalid type"),
            (r#"{"invoices": [{"ksefNumber": "N-1"}"#, "EOF"),
            (r#"{"invoices": []} trailing"#, "trailing"),
        ] {
            match read(json) {
                Err(KsefError::Decode { what, message }) => {
                    assert!(what.contains(EXPORT_METADATA_FILE_NAME), "{what}");
                    assert!(message.contains(needle), "{json}: {message}");
                }
                other => panic!("{json}: {other:?}"),
            }
        }
        let mut empty = read("{}").unwrap();
        assert!(empty.take("N-1").unwrap().hash.is_none());
    }
}
