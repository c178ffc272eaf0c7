//! The vendored XSDs are verbatim copies of the official ones in `spec/` (the vendored official documentation files), the embedded
//! list covers exactly the vendored files, and the materialised copy differs only in the
//! base-types import location.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ksef_invoice::FormCode;
use ksef_invoice::schema::{self, BASE_TYPES_URL, SCHEMA_FILES, SchemaKind};

fn crate_schemas() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

fn shared_faktury() -> PathBuf {
    ksef_testkit::spec_dir().join("ksef-docs/faktury")
}

/// Source of a vendored file in the official documentation tree.
fn source_of(rel: &str) -> PathBuf {
    if rel == "upo-v4-3.xsd" {
        shared_faktury().join("upo/schemy/upo-v4-3.xsd")
    } else {
        shared_faktury().join("schemy").join(rel)
    }
}

fn files_under(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            files_under(&p, base, out);
        } else {
            let rel = p.strip_prefix(base).expect("under base");
            out.insert(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

#[test]
fn vendored_files_are_byte_identical_to_the_official_ones() {
    assert!(
        shared_faktury().is_dir(),
        "{} is missing: the repository's spec/ folder is part of every clone",
        shared_faktury().display()
    );
    for (rel, _) in SCHEMA_FILES {
        let ours = std::fs::read(crate_schemas().join(rel)).expect("vendored file");
        let theirs = std::fs::read(source_of(rel)).expect("official file");
        assert!(
            ours == theirs,
            "{rel} differs from {}: run scripts/vendor-schemas.sh",
            source_of(rel).display()
        );
    }
    // Nothing official left out.
    let mut official = BTreeSet::new();
    for d in ["FA", "RR", "PEF"] {
        let base = shared_faktury().join("schemy");
        files_under(&base.join(d), &base, &mut official);
    }
    official.insert("upo-v4-3.xsd".to_string());
    let embedded: BTreeSet<String> = SCHEMA_FILES.iter().map(|(p, _)| p.to_string()).collect();
    assert_eq!(official, embedded);
}

#[test]
fn embedded_list_matches_the_schemas_directory() {
    let mut on_disk = BTreeSet::new();
    files_under(&crate_schemas(), &crate_schemas(), &mut on_disk);
    let embedded: BTreeSet<String> = SCHEMA_FILES.iter().map(|(p, _)| p.to_string()).collect();
    assert_eq!(on_disk, embedded);
    for (rel, bytes) in SCHEMA_FILES {
        let disk = std::fs::read(crate_schemas().join(rel)).expect("file");
        assert!(disk == *bytes, "{rel}: embedded bytes are stale");
    }
}

#[test]
fn materialised_copy_maps_only_the_import_url() {
    let dir = schema::schema_dir().expect("materialised");
    let mut rewritten = Vec::new();
    for (rel, bytes) in SCHEMA_FILES {
        let written = std::fs::read(dir.join(rel)).expect("materialised file");
        if written != *bytes {
            rewritten.push(*rel);
            let text = String::from_utf8(written).expect("utf-8");
            assert!(
                !text.contains(&format!("schemaLocation=\"{BASE_TYPES_URL}")),
                "{rel}"
            );
            let original = std::str::from_utf8(bytes).expect("utf-8");
            let local = if rel.starts_with("RR/") {
                "../FA/bazowe/"
            } else {
                "bazowe/"
            };
            assert_eq!(
                text,
                original.replace(
                    &format!("schemaLocation=\"{BASE_TYPES_URL}"),
                    &format!("schemaLocation=\"{local}")
                )
            );
        }
    }
    assert_eq!(
        rewritten,
        [
            "FA/schemat_FA(2)_v1-0E.xsd",
            "FA/schemat_FA(3)_v1-0E.xsd",
            "RR/schemat_FA_RR(1)_v1-1E.xsd"
        ]
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir).expect("dir").permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "materialised dir must be private: {mode:o}"
        );
    }
    // Every schema compiles from the materialised files, without network.
    for form in FormCode::ALL {
        schema::warm_up(SchemaKind::Form(form)).unwrap_or_else(|e| panic!("{form}: {e}"));
    }
    schema::warm_up(SchemaKind::Upo).expect("upo schema");
}
