//! Canonical XML over a `roxmltree` document.
//!
//! Hand-written on purpose: none of the pure-Rust crates this workspace keeps canonicalises a
//! parsed tree (the XML-DSig library we used before brought its own DOM and a second
//! RustCrypto generation), and XML-DSig needs only a small, well-specified part of C14N — the
//! document subsets produced by same-document references. The rules implemented here are
//! those of:
//!
//! * Canonical XML 1.0, W3C Recommendation 15 March 2001
//!   (<https://www.w3.org/TR/2001/REC-xml-c14n-20010315>), §2 (data model, document
//!   order, namespace and attribute axes, document subsets) and §4 (processing model);
//! * Canonical XML 1.1, W3C Recommendation 2 May 2008
//!   (<https://www.w3.org/TR/2008/REC-xml-c14n11-20080502/>), §2.4 (which `xml:*`
//!   attributes a document subset inherits, `xml:base` fix-up);
//! * Exclusive XML Canonicalization 1.0, W3C Recommendation 18 July 2002
//!   (<https://www.w3.org/TR/2002/REC-xml-exc-c14n-20020718/>), §3 (visibly utilised
//!   namespaces, `InclusiveNamespaces PrefixList`).
//!
//! The input is the XPath data model as `roxmltree` builds it: line ends normalised, attribute
//! values normalised (XML 1.0 §3.3.3, literal TAB/LF/CR become spaces), character and entity
//! references replaced, CDATA sections merged into text. Documents with a DTD are refused
//! before they get here, so there are no defaulted attributes to add.
//!
//! The node-sets are the ones XML-DSig reference processing produces here: a whole document
//! or the subtree of one element (the *apex*), minus the subtrees of some elements (the
//! enveloped signature), with or without comments. Every element in such a set has its
//! parent in the set, except the apex; all attributes and namespace nodes of an element
//! in the set are in the set. This lets the namespace rules be written over the namespaces
//! in scope (what `roxmltree` exposes) instead of over explicit namespace nodes.
//!
//! The output is produced without recursion, so deeply nested input cannot exhaust the stack.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use roxmltree::{Node, NodeId, NodeType};

/// The XML namespace (`xml:` prefix).
pub(crate) const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

/// Which canonicalization algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Canonical XML 1.0 (inclusive).
    Inclusive10,
    /// Canonical XML 1.1 (inclusive; differs from 1.0 only for `xml:*` attributes of
    /// document subsets).
    Inclusive11,
    /// Exclusive XML Canonicalization 1.0.
    Exclusive,
}

/// A canonicalization algorithm and whether it keeps comments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Method {
    /// The algorithm.
    pub mode: Mode,
    /// The `#WithComments` variant.
    pub with_comments: bool,
}

/// Canonical XML 1.0.
pub(crate) const URI_C14N: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
/// Canonical XML 1.0 with comments.
pub(crate) const URI_C14N_WITH_COMMENTS: &str =
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments";
/// Canonical XML 1.1.
pub(crate) const URI_C14N11: &str = "http://www.w3.org/2006/12/xml-c14n11";
/// Canonical XML 1.1 with comments.
pub(crate) const URI_C14N11_WITH_COMMENTS: &str =
    "http://www.w3.org/2006/12/xml-c14n11#WithComments";
/// Exclusive XML Canonicalization 1.0.
pub(crate) const URI_EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// Exclusive XML Canonicalization 1.0 with comments.
pub(crate) const URI_EXC_C14N_WITH_COMMENTS: &str =
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";

impl Method {
    /// The method named by an algorithm URI.
    pub(crate) fn from_uri(uri: &str) -> Option<Method> {
        let (mode, with_comments) = match uri {
            URI_C14N => (Mode::Inclusive10, false),
            URI_C14N_WITH_COMMENTS => (Mode::Inclusive10, true),
            URI_C14N11 => (Mode::Inclusive11, false),
            URI_C14N11_WITH_COMMENTS => (Mode::Inclusive11, true),
            URI_EXC_C14N => (Mode::Exclusive, false),
            URI_EXC_C14N_WITH_COMMENTS => (Mode::Exclusive, true),
            _ => return None,
        };
        Some(Method {
            mode,
            with_comments,
        })
    }
}

/// A document subset: the subtree of `top` (the document root or an element) without the
/// subtrees of the `excluded` elements; comment nodes only when `comments` is true.
#[derive(Debug, Clone)]
pub(crate) struct NodeSet<'a, 'input> {
    /// The document root (whole document) or the apex element.
    pub top: Node<'a, 'input>,
    /// Elements whose subtrees (the element included) are not in the set.
    pub excluded: Vec<NodeId>,
    /// Whether comment nodes are in the set.
    pub comments: bool,
}

impl<'a, 'input> NodeSet<'a, 'input> {
    /// The subtree of `top`, nothing excluded.
    pub(crate) fn tree(top: Node<'a, 'input>, comments: bool) -> Self {
        NodeSet {
            top,
            excluded: Vec::new(),
            comments,
        }
    }
}

/// Canonicalize `set` with `method`. `inclusive_prefixes` is the `PrefixList` of an
/// exclusive canonicalization's `InclusiveNamespaces` (`#default` = the default
/// namespace); it is ignored by the inclusive algorithms.
pub(crate) fn canonicalize(
    set: &NodeSet<'_, '_>,
    method: Method,
    inclusive_prefixes: &[String],
) -> String {
    let mut excluded: Vec<u32> = set.excluded.iter().map(|id| id.get()).collect();
    excluded.sort_unstable();
    excluded.dedup();
    let mut w = Writer {
        out: String::with_capacity(set.top.range().len() + 256),
        mode: method.mode,
        comments: method.with_comments && set.comments,
        excluded,
        inclusive_prefixes: inclusive_prefixes
            .iter()
            .map(|p| if p == "#default" { "" } else { p.as_str() })
            .collect(),
        in_scope: HashMap::new(),
        rendered: HashMap::new(),
        frames: Vec::new(),
        after_document_element: false,
    };
    w.run(set.top);
    w.out
}

/// A scoped prefix → URI map (`""` = default namespace): a stack of values per prefix,
/// innermost last.
type Scope<'a> = HashMap<&'a str, Vec<&'a str>>;

fn scope_get<'a>(scope: &Scope<'a>, prefix: &str) -> Option<&'a str> {
    scope.get(prefix).and_then(|s| s.last().copied())
}

/// What an open element pushed onto the scopes (undone when it closes).
struct Frame<'a> {
    in_scope: Vec<&'a str>,
    rendered: Vec<&'a str>,
}

/// Output state of one canonicalization.
struct Writer<'s, 'a> {
    out: String,
    mode: Mode,
    comments: bool,
    /// Ids (`NodeId::get`) of the excluded elements, sorted.
    excluded: Vec<u32>,
    inclusive_prefixes: Vec<&'s str>,
    /// Namespaces in scope at the current element, maintained here so that elements
    /// declaring no namespace cost nothing (roxmltree answers lookups by a linear scan).
    in_scope: Scope<'a>,
    /// Namespace declarations rendered by the open output ancestors.
    rendered: Scope<'a>,
    frames: Vec<Frame<'a>>,
    /// A document-level comment or PI comes after the document element.
    after_document_element: bool,
}

impl<'s, 'a> Writer<'s, 'a> {
    /// Depth-first walk of the subtree of `top`, without recursion.
    fn run<'input>(&mut self, top: Node<'a, 'input>) {
        let mut node = top;
        'walk: loop {
            if self.enter(node, top) {
                if let Some(child) = node.first_child() {
                    node = child;
                    continue 'walk;
                }
                self.leave(node);
            }
            loop {
                if node == top {
                    break 'walk;
                }
                if let Some(next) = node.next_sibling() {
                    node = next;
                    continue 'walk;
                }
                match node.parent() {
                    Some(parent) => {
                        node = parent;
                        self.leave(node);
                    }
                    None => break 'walk,
                }
            }
        }
    }

    /// Output what comes before the children of `node`; true = visit its children (and
    /// call [`Self::leave`] afterwards).
    fn enter<'input>(&mut self, node: Node<'a, 'input>, top: Node<'a, 'input>) -> bool {
        match node.node_type() {
            NodeType::Root => true,
            NodeType::Element => {
                if self.excluded.binary_search(&node.id().get()).is_ok() {
                    return false;
                }
                self.start_tag(node, node == top);
                true
            }
            NodeType::Text => {
                // Whitespace outside the document element is not part of the data model.
                if node.parent().is_some_and(|p| p.is_element()) {
                    escape_text(&mut self.out, node.text().unwrap_or(""));
                }
                false
            }
            NodeType::Comment => {
                if self.comments {
                    let text = node.text().unwrap_or("");
                    self.document_level(node, |out| {
                        out.push_str("<!--");
                        push_normalized_newlines(out, text);
                        out.push_str("-->");
                    });
                }
                false
            }
            NodeType::PI => {
                if let Some(pi) = node.pi() {
                    self.document_level(node, |out| {
                        out.push_str("<?");
                        out.push_str(pi.target);
                        if let Some(value) = pi.value.filter(|v| !v.is_empty()) {
                            out.push(' ');
                            push_normalized_newlines(out, value);
                        }
                        out.push_str("?>");
                    });
                }
                false
            }
        }
    }

    /// Write a comment or PI; at document level, separate it from the document element
    /// with a line feed (C14N 1.0 §2.1, processing model for the root node).
    fn document_level(&mut self, node: Node<'_, '_>, write: impl FnOnce(&mut String)) {
        let at_document_level = node.parent().is_some_and(|p| p.is_root());
        if at_document_level && self.after_document_element {
            self.out.push('\n');
        }
        write(&mut self.out);
        if at_document_level && !self.after_document_element {
            self.out.push('\n');
        }
    }

    fn leave<'input>(&mut self, node: Node<'a, 'input>) {
        if !node.is_element() {
            return;
        }
        self.out.push_str("</");
        self.out.push_str(&element_qname(node));
        self.out.push('>');
        if let Some(frame) = self.frames.pop() {
            for prefix in frame.in_scope {
                if let Some(stack) = self.in_scope.get_mut(prefix) {
                    stack.pop();
                }
            }
            for prefix in frame.rendered {
                if let Some(stack) = self.rendered.get_mut(prefix) {
                    stack.pop();
                }
            }
        }
        if node.parent().is_some_and(|p| p.is_root()) {
            self.after_document_element = true;
        }
    }

    fn start_tag<'input>(&mut self, e: Node<'a, 'input>, is_top: bool) {
        // An apex with element ancestors: the ancestors are not in the node-set.
        let is_apex = is_top && e.parent().is_some_and(|p| p.is_element());
        let qname = element_qname(e);

        // Namespaces that differ from the parent's (all of them at the top element).
        // Only an element whose start tag declares a namespace can differ.
        let mut changed: Vec<(&'a str, &'a str)> = Vec::new();
        if is_top || start_tag_declares_namespace(e) {
            for ns in e.namespaces() {
                let prefix = ns.name().unwrap_or("");
                let uri = ns_uri(ns);
                if is_top || scope_get(&self.in_scope, prefix) != Some(uri) {
                    changed.push((prefix, uri));
                }
            }
        }
        let mut frame = Frame {
            in_scope: Vec::with_capacity(changed.len()),
            rendered: Vec::new(),
        };
        for &(prefix, uri) in &changed {
            self.in_scope.entry(prefix).or_default().push(uri);
            frame.in_scope.push(prefix);
        }

        // Namespace nodes to render, as (prefix, URI); "" = default namespace.
        let mut ns_out: Vec<(&'a str, &'a str)> = Vec::new();
        let rendered_default = scope_get(&self.rendered, "").unwrap_or("");
        match self.mode {
            Mode::Inclusive10 | Mode::Inclusive11 => {
                // C14N 1.0 §2.3/§4: a namespace node is rendered unless the nearest output
                // ancestor has the same one; an element without a default namespace under
                // one that rendered a non-empty default gets xmlns="". In the node-sets
                // used here the output parent has rendered (or inherited) exactly its
                // in-scope namespaces, so only the changed ones need a look.
                for &(prefix, uri) in &changed {
                    if prefix.is_empty() {
                        if uri != rendered_default {
                            ns_out.push(("", uri));
                        }
                    } else if scope_get(&self.rendered, prefix) != Some(uri) {
                        ns_out.push((prefix, uri));
                    }
                }
            }
            Mode::Exclusive => {
                // Exc-C14N §3: only visibly utilised prefixes (the element's own and its
                // attributes'), plus those of the InclusiveNamespaces PrefixList.
                let mut used: Vec<&str> = vec![element_prefix(e)];
                for a in e.attributes() {
                    if a.namespace().is_some_and(|u| u != NS_XML) {
                        used.push(attribute_prefix(e, &a));
                    }
                }
                used.extend(self.inclusive_prefixes.iter().copied());
                used.sort_unstable();
                used.dedup();
                for p in used {
                    if p.is_empty() {
                        let uri = scope_get(&self.in_scope, "").unwrap_or("");
                        if uri != rendered_default {
                            ns_out.push(("", uri));
                        }
                    } else if let Some((prefix, stack)) = self.in_scope.get_key_value(p)
                        && let Some(&uri) = stack.last()
                        && scope_get(&self.rendered, prefix) != Some(uri)
                    {
                        ns_out.push((prefix, uri));
                    }
                }
            }
        }
        ns_out.sort_unstable_by(|a, b| a.0.cmp(b.0));

        // Attributes, sorted by (namespace URI, local name) (C14N 1.0 §2.2).
        let mut attrs: Vec<Attr<'a>> = e
            .attributes()
            .map(|a| Attr {
                ns: a.namespace().unwrap_or(""),
                local: a.name(),
                qname: attribute_qname(e, &a),
                value: Cow::Borrowed(a.value()),
            })
            .collect();
        if is_apex && self.mode != Mode::Exclusive {
            self.inherit_xml_attributes(e, &mut attrs);
        }
        attrs.sort_unstable_by(|a, b| (a.ns, a.local).cmp(&(b.ns, b.local)));

        let out = &mut self.out;
        out.push('<');
        out.push_str(&qname);
        for (prefix, uri) in &ns_out {
            if prefix.is_empty() {
                out.push_str(" xmlns=\"");
            } else {
                out.push_str(" xmlns:");
                out.push_str(prefix);
                out.push_str("=\"");
            }
            escape_attribute(out, uri);
            out.push('"');
        }
        for a in &attrs {
            out.push(' ');
            out.push_str(&a.qname);
            out.push_str("=\"");
            escape_attribute(out, &a.value);
            out.push('"');
        }
        out.push('>');

        for (prefix, uri) in ns_out {
            self.rendered.entry(prefix).or_default().push(uri);
            frame.rendered.push(prefix);
        }
        self.frames.push(frame);
    }

    /// C14N 1.0 §2.4 / C14N 1.1 §2.4: the apex of a document subset carries the `xml:*`
    /// attributes of its (omitted) ancestors that it does not have itself, the nearest
    /// ancestor's value winning. C14N 1.1 inherits only `xml:lang` and `xml:space`, and
    /// joins `xml:base` values instead.
    fn inherit_xml_attributes<'input>(&self, e: Node<'a, 'input>, attrs: &mut Vec<Attr<'a>>) {
        let c14n11 = self.mode == Mode::Inclusive11;
        let mut present: HashSet<&str> = attrs
            .iter()
            .filter(|a| a.ns == NS_XML)
            .map(|a| a.local)
            .collect();
        let mut bases: Vec<&'a str> = Vec::new();
        let mut ancestor = e.parent();
        while let Some(anc) = ancestor.filter(|n| n.is_element()) {
            for a in anc.attributes() {
                if a.namespace() != Some(NS_XML) {
                    continue;
                }
                let local = a.name();
                if c14n11 {
                    if local == "base" {
                        bases.push(a.value());
                        continue;
                    }
                    if local != "lang" && local != "space" {
                        continue;
                    }
                }
                if present.insert(local) {
                    attrs.push(Attr {
                        ns: NS_XML,
                        local,
                        qname: Cow::Owned(format!("xml:{local}")),
                        value: Cow::Borrowed(a.value()),
                    });
                }
            }
            ancestor = anc.parent();
        }
        if c14n11 && !bases.is_empty() {
            // Outermost first, then the element's own value.
            bases.reverse();
            let own = attrs
                .iter()
                .position(|x| x.ns == NS_XML && x.local == "base");
            let mut value = String::from(bases[0]);
            for b in &bases[1..] {
                value = join_uri_references(&value, b);
            }
            if let Some(i) = own {
                value = join_uri_references(&value, &attrs[i].value);
                attrs[i].value = Cow::Owned(value);
            } else if !value.is_empty() {
                attrs.push(Attr {
                    ns: NS_XML,
                    local: "base",
                    qname: Cow::Borrowed("xml:base"),
                    value: Cow::Owned(value),
                });
            }
        }
    }
}

/// Whether the start tag of `e` may declare a namespace (it contains `xmlns`; a false
/// positive, e.g. inside an attribute value, only costs a full look at the namespaces).
fn start_tag_declares_namespace(e: Node<'_, '_>) -> bool {
    let text = e.document().input_text();
    let Some(src) = text.get(e.range()) else {
        return true;
    };
    let tag = match start_tag_len(src) {
        Some(n) => &src[..n],
        None => src,
    };
    tag.contains("xmlns")
}

/// Length of the start tag at the beginning of `src` (through its `>`), quotes respected.
pub(crate) fn start_tag_len(src: &str) -> Option<usize> {
    let mut quote: Option<u8> = None;
    for (i, &c) in src.as_bytes().iter().enumerate() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(c),
            (None, b'>') => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// The text nodes of a node-set, concatenated in document order (the input of the
/// base64 transform, XML-DSig 1.1 §6.6.2).
pub(crate) fn text_of_set(set: &NodeSet<'_, '_>) -> String {
    let mut excluded: Vec<u32> = set.excluded.iter().map(|id| id.get()).collect();
    excluded.sort_unstable();
    let mut out = String::new();
    let top = set.top;
    let mut node = top;
    'walk: loop {
        let descend = match node.node_type() {
            NodeType::Root => true,
            NodeType::Element => excluded.binary_search(&node.id().get()).is_err(),
            NodeType::Text => {
                if node.parent().is_some_and(|p| p.is_element()) {
                    out.push_str(node.text().unwrap_or(""));
                }
                false
            }
            _ => false,
        };
        if descend && let Some(child) = node.first_child() {
            node = child;
            continue;
        }
        loop {
            if node == top {
                break 'walk;
            }
            if let Some(next) = node.next_sibling() {
                node = next;
                continue 'walk;
            }
            match node.parent() {
                Some(parent) => node = parent,
                None => break 'walk,
            }
        }
    }
    out
}

/// One attribute to output.
struct Attr<'a> {
    ns: &'a str,
    local: &'a str,
    qname: Cow<'a, str>,
    value: Cow<'a, str>,
}

/// A namespace URI with the lifetime of the document.
fn ns_uri<'a>(ns: &'a roxmltree::Namespace<'_>) -> &'a str {
    ns.uri()
}

/// The prefix of a qualified name (`""` when unprefixed).
fn prefix_of(qname: &str) -> &str {
    qname.split_once(':').map(|(p, _)| p).unwrap_or("")
}

/// The prefix the element was written with (`""` when unprefixed).
fn element_prefix<'a>(e: Node<'a, '_>) -> &'a str {
    match element_qname(e) {
        Cow::Borrowed(q) => prefix_of(q),
        Cow::Owned(_) => e
            .tag_name()
            .namespace()
            .and_then(|uri| e.lookup_prefix(uri))
            .unwrap_or(""),
    }
}

/// The prefix a namespaced attribute was written with.
fn attribute_prefix<'a>(e: Node<'a, '_>, a: &roxmltree::Attribute<'a, '_>) -> &'a str {
    match attribute_qname(e, a) {
        Cow::Borrowed(q) => prefix_of(q),
        Cow::Owned(_) => a
            .namespace()
            .and_then(|uri| {
                e.namespaces()
                    .find(|ns| ns.name().is_some() && ns.uri() == uri)
                    .and_then(|ns| ns.name())
            })
            .unwrap_or(""),
    }
}

/// The element's qualified name as written in the document (roxmltree keeps only the
/// namespace URI; C14N needs the prefix the author used).
pub(crate) fn element_qname<'a>(e: Node<'a, '_>) -> Cow<'a, str> {
    let local = e.tag_name().name();
    let text: &'a str = e.document().input_text();
    let written = text
        .get(e.range().start..)
        .and_then(|s| s.strip_prefix('<'))
        .map(|s| {
            let end = s
                .find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
                .unwrap_or(s.len());
            &s[..end]
        });
    if let Some(q) = written
        && (q == local || q.strip_suffix(local).is_some_and(|p| p.ends_with(':')))
    {
        return Cow::Borrowed(q);
    }
    // Not reachable for documents roxmltree parsed; a safe reconstruction anyway.
    match e
        .tag_name()
        .namespace()
        .and_then(|uri| e.lookup_prefix(uri))
    {
        Some(p) if !p.is_empty() => Cow::Owned(format!("{p}:{local}")),
        _ => Cow::Borrowed(local),
    }
}

/// The attribute's qualified name as written in the document.
fn attribute_qname<'a>(e: Node<'a, '_>, a: &roxmltree::Attribute<'a, '_>) -> Cow<'a, str> {
    let local = a.name();
    let text: &'a str = e.document().input_text();
    if let Some(q) = text.get(a.range_qname())
        && (q == local || q.strip_suffix(local).is_some_and(|p| p.ends_with(':')))
    {
        return Cow::Borrowed(q);
    }
    // The recorded name range is limited to 65535 bytes; reconstruct longer names.
    match a.namespace() {
        None => Cow::Borrowed(local),
        Some(NS_XML) => Cow::Owned(format!("xml:{local}")),
        Some(uri) => match e
            .namespaces()
            .find(|ns| ns.name().is_some() && ns.uri() == uri)
            .and_then(|ns| ns.name())
        {
            Some(p) => Cow::Owned(format!("{p}:{local}")),
            None => Cow::Borrowed(local),
        },
    }
}

/// Text node escaping (C14N 1.0 §2.3): `&`, `<`, `>`, CR.
fn escape_text(out: &mut String, s: &str) {
    let mut last = 0;
    for (i, c) in s.char_indices() {
        let rep = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '\r' => "&#xD;",
            _ => continue,
        };
        out.push_str(&s[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&s[last..]);
}

/// Attribute value escaping (C14N 1.0 §2.3): `&`, `<`, `"`, TAB, LF, CR.
fn escape_attribute(out: &mut String, s: &str) {
    let mut last = 0;
    for (i, c) in s.char_indices() {
        let rep = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '"' => "&quot;",
            '\t' => "&#x9;",
            '\n' => "&#xA;",
            '\r' => "&#xD;",
            _ => continue,
        };
        out.push_str(&s[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&s[last..]);
}

/// Comment and PI text with CR LF / CR turned into LF (XML 1.0 §2.11; the parser leaves
/// these two node kinds as written).
fn push_normalized_newlines(out: &mut String, s: &str) {
    if !s.contains('\r') {
        out.push_str(s);
        return;
    }
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' {
            if chars.peek() == Some(&'\n') {
                chars.next();
            }
            out.push('\n');
        } else {
            out.push(c);
        }
    }
}

/// The `join-URI-References` function of C14N 1.1 §2.4: RFC 3986 §5.2.2 reference
/// resolution of `reference` against `base`, with `remove_dot_segments` keeping the
/// leading `..` segments it cannot resolve (a relative base stays relative).
fn join_uri_references(base: &str, reference: &str) -> String {
    struct Parts<'u> {
        scheme: Option<&'u str>,
        authority: Option<&'u str>,
        path: &'u str,
        query: Option<&'u str>,
        fragment: Option<&'u str>,
    }
    fn split(u: &str) -> Parts<'_> {
        let (rest, fragment) = match u.split_once('#') {
            Some((r, f)) => (r, Some(f)),
            None => (u, None),
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (scheme, rest) = match rest.find(':') {
            Some(i)
                if i > 0
                    && rest[..i].starts_with(|c: char| c.is_ascii_alphabetic())
                    && rest[..i]
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                    && !rest[..i].contains('/') =>
            {
                (Some(&rest[..i]), &rest[i + 1..])
            }
            _ => (None, rest),
        };
        let (authority, path) = match rest.strip_prefix("//") {
            Some(r) => {
                let end = r.find('/').unwrap_or(r.len());
                (Some(&r[..end]), &r[end..])
            }
            None => (None, rest),
        };
        Parts {
            scheme,
            authority,
            path,
            query,
            fragment,
        }
    }
    fn remove_dot_segments(path: &str) -> String {
        let absolute = path.starts_with('/');
        let mut out: Vec<&str> = Vec::new();
        let segments: Vec<&str> = path.split('/').collect();
        let last = segments.len().saturating_sub(1);
        let mut trailing_slash = false;
        for (i, seg) in segments.iter().enumerate() {
            if i == 0 && absolute {
                continue;
            }
            match *seg {
                "." => trailing_slash = i == last,
                ".." => {
                    match out.last() {
                        Some(&prev) if prev != ".." => {
                            out.pop();
                        }
                        _ if !absolute => out.push(".."),
                        _ => {}
                    }
                    trailing_slash = i == last;
                }
                s => {
                    out.push(s);
                    trailing_slash = false;
                }
            }
        }
        let mut s = String::new();
        if absolute {
            s.push('/');
        }
        s.push_str(&out.join("/"));
        if trailing_slash && !s.is_empty() && !s.ends_with('/') {
            s.push('/');
        }
        s
    }
    fn merge(base: &Parts<'_>, rel: &str) -> String {
        if base.authority.is_some() && base.path.is_empty() {
            return format!("/{rel}");
        }
        match base.path.rfind('/') {
            Some(i) => format!("{}{rel}", &base.path[..=i]),
            None => rel.to_string(),
        }
    }
    if reference.is_empty() {
        return base.split('#').next().unwrap_or("").to_string();
    }
    let b = split(base);
    let r = split(reference);
    let (scheme, authority, path, query);
    if r.scheme.is_some() {
        scheme = r.scheme;
        authority = r.authority;
        path = remove_dot_segments(r.path);
        query = r.query;
    } else {
        scheme = b.scheme;
        if r.authority.is_some() {
            authority = r.authority;
            path = remove_dot_segments(r.path);
            query = r.query;
        } else {
            authority = b.authority;
            if r.path.is_empty() {
                path = b.path.to_string();
                query = r.query.or(b.query);
            } else {
                path = if r.path.starts_with('/') {
                    remove_dot_segments(r.path)
                } else {
                    remove_dot_segments(&merge(&b, r.path))
                };
                query = r.query;
            }
        }
    }
    let mut s = String::new();
    if let Some(sc) = scheme {
        s.push_str(sc);
        s.push(':');
    }
    if let Some(a) = authority {
        s.push_str("//");
        s.push_str(a);
    }
    s.push_str(&path);
    if let Some(q) = query {
        s.push('?');
        s.push_str(q);
    }
    if let Some(f) = r.fragment {
        s.push('#');
        s.push_str(f);
    }
    s
}

#[cfg(test)]
mod tests;
