//! The emulator's module layout stays what `src/lib.rs` says it is: infrastructure modules
//! import no feature, features do not import each other in a cycle, and only `server` (the
//! router and accept loop) may know every feature.
//!
//! A string scan of `src/**/*.rs` with comments removed: every `crate::NAME` (also inside
//! `crate::{A, B::…}` groups) and every `super::…::NAME` that climbs out of a top-level module
//! is an edge from the file's top-level module to `NAME` when `NAME` is a top-level module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Infrastructure: may import each other (without cycles), never a feature.
const INFRASTRUCTURE: &[&str] = &[
    "clock",
    "config",
    "datadir",
    "endpoint",
    "error",
    "extract",
    "html",
    "jwt",
    "keys",
    "ratelimit",
    "state",
    "storage",
    "store",
];

/// Features: infrastructure and, one way only, other features' small public APIs.
const FEATURES: &[&str] = &[
    "auth",
    "certificates",
    "limits",
    "login",
    "permissions",
    "retrieval",
    "sessions",
    "signing_service",
    "testdata",
    "tokens",
    "verification",
];

/// Assembly: knows every feature.
const ASSEMBLY: &[&str] = &["server"];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file below `src/` (`a.rs`, `a/mod.rs` → `[a]`; `a/b.rs` → `[a, b]`).
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" {
        parts.push(stem.to_string());
    }
    parts
}

/// The code of a Rust file without `//` and `/* */` comments. String and char literals are
/// copied as they are, so a `/*` or `//` inside one (`"*/*"`, `"http://"`) does not swallow
/// the code after it; raw strings (`r"…"`, `r#"…"#`) likewise.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("/*") {
            rest = after.find("*/").map_or("", |end| &after[end + 2..]);
        } else if rest.starts_with("//") {
            rest = rest.find('\n').map_or("", |end| &rest[end..]);
        } else if let Some(len) = literal_len(rest) {
            out.push_str(&rest[..len]);
            rest = &rest[len..];
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// The length of the string, raw string or char literal `s` starts with, if it starts with one.
fn literal_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    // Raw strings: r"…", r#"…"#, br"…".
    let raw_at = if s.starts_with("br") {
        2
    } else if s.starts_with('r') {
        1
    } else {
        0
    };
    if raw_at > 0 {
        let hashes = s[raw_at..].bytes().take_while(|&c| c == b'#').count();
        if s[raw_at + hashes..].starts_with('"') {
            let close = format!("\"{}", "#".repeat(hashes));
            let body = raw_at + hashes + 1;
            return Some(
                s[body..]
                    .find(&close)
                    .map_or(s.len(), |end| body + end + close.len()),
            );
        }
        return None;
    }
    match b.first() {
        Some(b'"') => {
            let mut i = 1;
            while i < b.len() {
                match b[i] {
                    b'\\' => i += 2,
                    b'"' => return Some(i + 1),
                    _ => i += 1,
                }
            }
            Some(b.len())
        }
        // A char literal ('x', '\n', '\u{..}'), not a lifetime ('a).
        Some(b'\'') => {
            if b.get(1) == Some(&b'\\') {
                s.get(3..)?.find('\'').map(|e| e + 4)
            } else {
                let c = s[1..].chars().next()?;
                (s[1 + c.len_utf8()..].starts_with('\'')).then_some(2 + c.len_utf8())
            }
        }
        _ => None,
    }
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

fn is_ident_boundary(code: &str, at: usize) -> bool {
    code[..at]
        .chars()
        .next_back()
        .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'))
}

/// The top-level modules a file's code names: `crate::NAME`, `crate::{NAME, …}` and
/// `super::…` climbing to the crate root.
fn referenced_modules(code: &str, module: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        if !is_ident_boundary(code, at) {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // One level of grouping: the leading identifier of every top-level item.
            let mut depth = 0usize;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if c.is_whitespace() => {}
                    _ if item_start && depth == 0 => {
                        out.insert(ident_at(&group[i..]).to_string());
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident_at(rest).to_string());
        }
    }
    for (at, _) in code.match_indices("super::") {
        if !is_ident_boundary(code, at) || code[..at].ends_with("super::") {
            continue;
        }
        let mut rest = &code[at..];
        let mut ups = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            ups += 1;
            rest = r;
        }
        // Inline modules (`mod tests`) are not tracked, so `super` may be counted one level
        // too high; only names of top-level modules are kept below, which keeps this harmless.
        if ups >= module.len() {
            out.insert(ident_at(rest).to_string());
        }
    }
    out
}

/// Top-level module → the other top-level modules it names.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = src_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let module = module_path(relative);
        if module.is_empty() || module == ["lib"] {
            continue; // the crate root declares and re-exports modules
        }
        graph.entry(module[0].clone()).or_default();
    }
    let top: BTreeSet<String> = graph.keys().cloned().collect();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let module = module_path(relative);
        if module.is_empty() || module == ["lib"] {
            continue;
        }
        let code = strip_comments(&std::fs::read_to_string(file).unwrap());
        let edges = graph.get_mut(&module[0]).unwrap();
        for name in referenced_modules(&code, &module) {
            if name != module[0] && top.contains(&name) {
                edges.insert(name);
            }
        }
    }
    graph
}

/// A cycle of the graph, if it has one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(node.to_string(), Mark::Open);
        stack.push(node.to_string());
        for next in &graph[node] {
            match marks[next.as_str()] {
                Mark::Open => {
                    let from = stack.iter().position(|n| n == next).unwrap();
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(next, graph, marks, stack) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks.insert(node.to_string(), Mark::Done);
        None
    }
    let mut marks: BTreeMap<String, Mark> = graph.keys().map(|k| (k.clone(), Mark::New)).collect();
    for node in graph.keys() {
        if marks[node.as_str()] == Mark::New
            && let Some(c) = visit(node, graph, &mut marks, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn every_module_is_classified() {
    let graph = module_graph();
    let known: BTreeSet<&str> = INFRASTRUCTURE
        .iter()
        .chain(FEATURES)
        .chain(ASSEMBLY)
        .copied()
        .collect();
    let actual: BTreeSet<&str> = graph.keys().map(String::as_str).collect();
    assert_eq!(
        actual, known,
        "classify new top-level modules in tests/module_graph.rs (and remove gone ones)"
    );
}

#[test]
fn infrastructure_imports_no_feature() {
    let graph = module_graph();
    let mut bad = Vec::new();
    for infra in INFRASTRUCTURE {
        for dep in &graph[*infra] {
            if !INFRASTRUCTURE.contains(&dep.as_str()) {
                bad.push(format!("{infra} → {dep}"));
            }
        }
    }
    assert!(bad.is_empty(), "infrastructure imports features: {bad:?}");
}

#[test]
fn only_the_assembly_imports_it() {
    let graph = module_graph();
    let bad: Vec<String> = graph
        .iter()
        .flat_map(|(from, deps)| deps.iter().map(move |to| (from, to)))
        .filter(|(_, to)| ASSEMBLY.contains(&to.as_str()))
        .map(|(from, to)| format!("{from} → {to}"))
        .collect();
    assert!(bad.is_empty(), "modules import the assembly: {bad:?}");
}

#[test]
fn top_level_modules_form_no_cycle() {
    let graph = module_graph();
    if let Some(cycle) = find_cycle(&graph) {
        panic!("module cycle: {}", cycle.join(" → "));
    }
}

#[test]
fn the_scan_sees_paths_groups_and_super() {
    let module = vec!["a".to_string(), "b".to_string()];
    let code = strip_comments(
        "use crate::x::Y;\n// use crate::commented;\n/* crate::blocked */\n\
         use crate::{p, q::{R, S}};\nfn f() { super::super::z::g(); super::local(); }\n\
         let _ = mycrate::nope;",
    );
    let found = referenced_modules(&code, &module);
    let expected: BTreeSet<String> = ["p", "q", "x", "z"].iter().map(|s| s.to_string()).collect();
    assert_eq!(found, expected);
}

#[test]
fn comment_markers_inside_literals_do_not_hide_code() {
    let module = vec!["a".to_string()];
    let code = strip_comments(
        "let accept = \"*/*\"; let open = \"/*\"; use crate::after_string;\n\
         let url = r#\"http://x/*\"#; use crate::after_raw;\n\
         let c = '\\''; let q = '\"'; fn f<'a>(_: &'a str) {} use crate::after_chars;\n\
         // use crate::commented;",
    );
    let found = referenced_modules(&code, &module);
    let expected: BTreeSet<String> = ["after_chars", "after_raw", "after_string"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(found, expected);
}
