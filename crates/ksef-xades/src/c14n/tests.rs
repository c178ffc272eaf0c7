//! Canonical XML checked against libxml2 (`xmllint --c14n`, `--c14n11`, `--exc-c14n`) on
//! whole documents, and against hand-derived results (from the specifications' rules)
//! for document subsets and `InclusiveNamespaces`. Subsets are also checked end to end
//! against xmlsec1 in `tests/c14n_interop.rs`. These tests FAIL when xmllint is missing.

use std::path::Path;
use std::process::Command;

use super::*;

const INCLUSIVE: Method = Method {
    mode: Mode::Inclusive10,
    with_comments: false,
};

fn method(mode: Mode, with_comments: bool) -> Method {
    Method {
        mode,
        with_comments,
    }
}

/// `xmllint --<flag> file` (libxml2 keeps comments in all three modes).
fn xmllint(flag: &str, xml: &str) -> String {
    let dir = std::env::temp_dir().join(format!(
        "ksef-xades-c14n-{}-{}",
        std::process::id(),
        std::thread::current()
            .name()
            .unwrap_or("t")
            .replace("::", "-")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}.xml", flag.trim_start_matches('-')));
    std::fs::write(&path, xml).unwrap();
    let out = Command::new("xmllint")
        .arg(flag)
        .arg(&path)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "xmllint is required by the C14N tests ({e}); install it with \
                 `apt-get install -y libxml2-utils`"
            )
        });
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "xmllint {flag} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn ours(xml: &str, m: Method, prefixes: &[&str]) -> String {
    let doc = crate::dsig::parse_xml(xml).unwrap();
    let prefixes: Vec<String> = prefixes.iter().map(|p| p.to_string()).collect();
    canonicalize(&NodeSet::tree(doc.root(), true), m, &prefixes)
}

/// Our canonical form of the subtree of the first element named `local`.
fn ours_subtree(xml: &str, local: &str, m: Method, prefixes: &[&str]) -> String {
    let doc = crate::dsig::parse_xml(xml).unwrap();
    let el = doc
        .descendants()
        .find(|n| n.is_element() && n.tag_name().name() == local)
        .unwrap();
    let prefixes: Vec<String> = prefixes.iter().map(|p| p.to_string()).collect();
    canonicalize(&NodeSet::tree(el, false), m, &prefixes)
}

/// Remove `<!-- ... -->` comments from hand-written test input.
fn strip_comments(xml: &str) -> String {
    let mut out = String::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("-->").unwrap() + start + 3;
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// All six methods against libxml2: with comments directly, without comments against
/// libxml2's output for the same document with its comments removed.
fn assert_same_as_xmllint(xml: &str) {
    let no_comments = strip_comments(xml);
    for (mode, flag) in [
        (Mode::Inclusive10, "--c14n"),
        (Mode::Inclusive11, "--c14n11"),
        (Mode::Exclusive, "--exc-c14n"),
    ] {
        let expected = xmllint(flag, xml);
        let got = ours(xml, method(mode, true), &[]);
        assert_eq!(got, expected, "{flag} (with comments) differs");
        let expected = xmllint(flag, &no_comments);
        let got = ours(xml, method(mode, false), &[]);
        assert_eq!(got, expected, "{flag} (without comments) differs");
    }
}

/// Namespace-heavy input: default namespace, unused and redeclared prefixes, xmlns="",
/// xml:lang/xml:space, CDATA, PIs and comments inside and outside the document element,
/// attribute sorting and escaping (TAB/LF/CR literal and as references), Polish text.
const NAMESPACES: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<?xml-stylesheet href=\"doc.xsl\"   type=\"text/xsl\"?>\n\
<!-- Comment 1 -->\n\
<doc xmlns=\"http://example.com/default\" xmlns:a=\"http://example.com/a\" \
xmlns:unused=\"http://example.com/unused\" xml:lang=\"pl\" b:attr=\"x\" \
xmlns:b=\"http://example.com/b\" z=\"1\" a:z=\"2\" \
y=\"&quot;'&lt;&gt;&amp;&#9;&#10;&#13;tab\tlf\nx\r\ny\">\n\
   <e1   />\n\
   <e2 xmlns=\"\" a:q=\"v\"><e3 xmlns=\"http://example.com/default\" /><e3b/></e2>\n\
   <a:e4 xmlns:a=\"http://example.com/a\"><inner xmlns:c=\"http://example.com/c\" c:at=\"1\"/></a:e4>\n\
   <e5 xml:space=\"preserve\">  Zażółć gęślą jaźń &amp; &lt;tag&gt; \"quotes\" 'apos' &#13; </e5>\n\
   <![CDATA[ cdata <with> & ]]> stuff ]] > x\n\
   <?pi-in-doc   some data  ?>\n\
   <!-- inner comment with \"quotes\" & <angle> -->\n\
   <e6 a:attr=\"2\" attr=\"1\" b:attr=\"3\" xmlns:z=\"http://example.com/0\" z:attr=\"0\"/>\n\
   <e7 xmlns:a=\"http://example.com/other\"><a:x/><y xmlns=\"urn:y\"><z xmlns=\"\"/></y></e7>\n\
   <e8 xmlns:a=\"http://example.com/a\" xmlns:b=\"http://example.com/b2\" b:x=\"1\"/>\n\
</doc>\n\
<!-- Comment 2 -->\n\
<?trailing pi?>\n";

#[test]
fn namespace_heavy_document_matches_xmllint() {
    assert_same_as_xmllint(NAMESPACES);
}

#[test]
fn crlf_and_empty_elements_match_xmllint() {
    let xml = "<?xml version=\"1.0\"?>\r\n<!--a\r\nb-->\r\n<r a=\"1\r\n2\"><x/>\r\n<y></y>text\r\nmore\rend<?p a\r\nb?></r>\r\n";
    assert_same_as_xmllint(xml);
    let got = ours(xml, method(Mode::Inclusive10, true), &[]);
    assert_eq!(
        got,
        "<!--a\nb-->\n<r a=\"1 2\"><x></x>\n<y></y>text\nmore\nend<?p a\nb?></r>"
    );
}

#[test]
fn fa_invoices_from_the_spec_match_xmllint() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../spec/ksef-client-csharp/KSeF.Client.Tests.Core/Templates");
    for name in [
        "invoice-template-fa-3-with-attachment.xml",
        "invoice-template-fa-3-pef.xml",
        "invoice-template-fa-2.xml",
    ] {
        let xml = std::fs::read_to_string(dir.join(name)).unwrap();
        assert!(xml.len() > 2_000, "{name}");
        assert_same_as_xmllint(&xml);
    }
}

#[test]
fn document_subsets_follow_the_specifications() {
    let xml = "<r xmlns=\"urn:d\" xmlns:p=\"urn:p\" xmlns:q=\"urn:q\" xml:lang=\"pl\" \
               xml:space=\"preserve\" xml:id=\"r1\" xml:base=\"http://example.com/a/b/\">\
               <m xml:lang=\"en\" xml:base=\"c/d/\"><p:s a=\"1\" q:b=\"2\" xml:base=\"../e\">\
               <t xmlns=\"\"/><!--c--></p:s></m></r>";
    // Inclusive 1.0: the apex carries every namespace in scope and every xml:* attribute
    // of its ancestors (nearest value), sorted with the other attributes.
    assert_eq!(
        ours_subtree(xml, "s", INCLUSIVE, &[]),
        "<p:s xmlns=\"urn:d\" xmlns:p=\"urn:p\" xmlns:q=\"urn:q\" a=\"1\" \
         xml:base=\"../e\" xml:id=\"r1\" xml:lang=\"en\" xml:space=\"preserve\" q:b=\"2\">\
         <t xmlns=\"\"></t></p:s>"
    );
    // Inclusive 1.1: no xml:id, xml:base joined from the omitted ancestors.
    assert_eq!(
        ours_subtree(xml, "s", method(Mode::Inclusive11, false), &[]),
        "<p:s xmlns=\"urn:d\" xmlns:p=\"urn:p\" xmlns:q=\"urn:q\" a=\"1\" \
         xml:base=\"http://example.com/a/b/c/e\" xml:lang=\"en\" xml:space=\"preserve\" \
         q:b=\"2\"><t xmlns=\"\"></t></p:s>"
    );
    // Exclusive: only the visibly utilised namespaces, no inherited xml:* attributes;
    // the default namespace is not utilised by p:s, so t needs no xmlns="".
    assert_eq!(
        ours_subtree(xml, "s", method(Mode::Exclusive, false), &[]),
        "<p:s xmlns:p=\"urn:p\" xmlns:q=\"urn:q\" a=\"1\" xml:base=\"../e\" q:b=\"2\"><t></t></p:s>"
    );
    // Exclusive with an InclusiveNamespaces PrefixList: listed prefixes in scope are
    // rendered as inclusive C14N would.
    assert_eq!(
        ours_subtree(
            xml,
            "s",
            method(Mode::Exclusive, false),
            &["#default", "q", "nope"]
        ),
        "<p:s xmlns=\"urn:d\" xmlns:p=\"urn:p\" xmlns:q=\"urn:q\" a=\"1\" \
         xml:base=\"../e\" q:b=\"2\"><t xmlns=\"\"></t></p:s>"
    );
    // Comments of a subtree are kept only when both the node-set and the method keep them.
    let doc = crate::dsig::parse_xml(xml).unwrap();
    let s = doc
        .descendants()
        .find(|n| n.tag_name().name() == "s")
        .unwrap();
    let with = canonicalize(&NodeSet::tree(s, true), method(Mode::Exclusive, true), &[]);
    assert!(with.ends_with("<t></t><!--c--></p:s>"), "{with}");
    let without = canonicalize(&NodeSet::tree(s, false), method(Mode::Exclusive, true), &[]);
    assert!(without.ends_with("<t></t></p:s>"), "{without}");
}

#[test]
fn excluded_subtrees_are_left_out_with_their_namespaces() {
    let xml = "<r xmlns:ds=\"urn:ds\"><a>1</a><ds:Signature xmlns:x=\"urn:x\"><x:b/></ds:Signature><c/></r>";
    let doc = crate::dsig::parse_xml(xml).unwrap();
    let sig = doc
        .descendants()
        .find(|n| n.tag_name().name() == "Signature")
        .unwrap();
    let set = NodeSet {
        top: doc.root(),
        excluded: vec![sig.id()],
        comments: false,
    };
    assert_eq!(
        canonicalize(&set, INCLUSIVE, &[]),
        "<r xmlns:ds=\"urn:ds\"><a>1</a><c></c></r>"
    );
    assert_eq!(
        canonicalize(&set, method(Mode::Exclusive, false), &[]),
        "<r><a>1</a><c></c></r>"
    );
}

#[test]
fn xml_base_joining() {
    for (base, reference, joined) in [
        ("http://a/b/c/d;p?q", "g", "http://a/b/c/g"),
        ("http://a/b/c/d;p?q", "../g", "http://a/b/g"),
        ("http://a/b/c/d;p?q", "/./g", "http://a/g"),
        ("http://a/b/c/d;p?q", "g?y#s", "http://a/b/c/g?y#s"),
        ("http://a/b/c/d;p?q", "", "http://a/b/c/d;p?q"),
        ("a/b/", "../../../c", "../c"),
        ("a/", "b/./c/..", "a/b/"),
        ("", "x", "x"),
    ] {
        assert_eq!(
            join_uri_references(base, reference),
            joined,
            "{base} + {reference}"
        );
    }
}

#[test]
fn hostile_input_does_not_panic_or_recurse() {
    // 100 000 nested elements: the walk is iterative.
    let depth = 100_000;
    let mut xml = String::with_capacity(depth * 8);
    for _ in 0..depth {
        xml.push_str("<a>");
    }
    for _ in 0..depth {
        xml.push_str("</a>");
    }
    for mode in [Mode::Inclusive10, Mode::Inclusive11, Mode::Exclusive] {
        assert_eq!(ours(&xml, method(mode, true), &[]), xml);
    }
    // 20 000 attributes and 1 000 namespace declarations (below the parser's cap) on one element, and a
    // thousand children under them that declare nothing.
    let mut xml = String::from("<r");
    for i in 0..1_000 {
        xml.push_str(&format!(" xmlns:p{i}=\"urn:{i}\""));
    }
    for i in 0..20_000 {
        xml.push_str(&format!(" a{i}=\"{i}\""));
    }
    xml.push_str(" p7:x=\"&#9;\">");
    for _ in 0..1_000 {
        xml.push_str("<p3:c p5:y=\"1\"/>");
    }
    xml.push_str("</r>");
    let inclusive = ours(&xml, INCLUSIVE, &[]);
    assert!(inclusive.starts_with("<r xmlns:p0=\"urn:0\" xmlns:p1=\"urn:1\" xmlns:p10=\"urn:10\""));
    assert!(inclusive.contains(" a0=\"0\" a1=\"1\" a10=\"10\""));
    assert!(inclusive.contains(" p7:x=\"&#x9;\"><p3:c p5:y=\"1\"></p3:c>"));
    let exclusive = ours(&xml, method(Mode::Exclusive, false), &[]);
    assert!(
        exclusive.starts_with("<r xmlns:p7=\"urn:7\" a0=\"0\""),
        "{}",
        &exclusive[..80]
    );
    assert!(exclusive.contains("<p3:c xmlns:p3=\"urn:3\" xmlns:p5=\"urn:5\" p5:y=\"1\"></p3:c>"));
}
