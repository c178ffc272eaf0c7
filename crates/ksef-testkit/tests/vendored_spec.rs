//! The vendored official files under `spec/` are unchanged: each matches its SHA-256 in
//! `spec/SHA256SUMS`, and no file is present that the list does not name.

use std::collections::BTreeSet;
use std::path::Path;

use sha2::{Digest, Sha256};

fn files_under(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).expect("read spec dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            files_under(&path, base, out);
        } else {
            let rel = path.strip_prefix(base).expect("under base");
            out.insert(rel.to_string_lossy().into_owned());
        }
    }
}

#[test]
fn vendored_spec_files_match_their_hashes() {
    let dir = ksef_testkit::spec_dir();
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).expect("spec/SHA256SUMS");
    let mut listed = BTreeSet::new();
    for line in sums.lines().filter(|l| !l.trim().is_empty()) {
        let (hash, name) = line.split_once("  ").expect("`HASH  ./path` lines");
        let name = name.trim_start_matches("./");
        let bytes = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(hex::encode(Sha256::digest(&bytes)), hash, "{name} changed");
        listed.insert(name.to_string());
    }
    assert!(listed.len() > 50, "the list names {} files", listed.len());
    let mut present = BTreeSet::new();
    files_under(&dir, &dir, &mut present);
    for own in ["SHA256SUMS", "SOURCES.md", "README.md"] {
        present.remove(own);
    }
    let unlisted: Vec<_> = present.difference(&listed).collect();
    assert!(unlisted.is_empty(), "files not in SHA256SUMS: {unlisted:?}");
}
