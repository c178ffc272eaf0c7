//! Reading the app's server-rendered pages as text (the HTTP tests have no DOM): the CSRF field,
//! an element's text, a table row and its cells, attributes. Each helper names what it looked
//! for when it is not there.

/// The value of the first `name="csrf"` hidden input.
pub fn csrf(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a CSRF field on the page") + marker.len();
    let end = html[start..].find('"').unwrap();
    html[start..start + end].to_string()
}

/// The text of the element with `id` (tags and folded `<details>` inside stripped, a few
/// entities decoded).
pub fn element_text(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let open = html[..at].rfind('<')?;
    let tag: String = html[open + 1..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    let body = at + html[at..].find('>')? + 1;
    let close = body + html[body..].find(&format!("</{tag}>"))?;
    // Folded technical details (`<details>` of an error) are not the message.
    let mut inner = html[body..close].to_string();
    while let Some(d) = inner.find("<details") {
        let end = inner[d..]
            .find("</details>")
            .map_or(inner.len(), |e| d + e + "</details>".len());
        inner.replace_range(d..end, "");
    }
    let mut text = String::new();
    let mut in_tag = false;
    for c in inner.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    Some(text.trim().to_string())
}

/// The `<tr>` of a table row carrying `attr="value"`.
pub fn row<'a>(html: &'a str, attr: &str, value: &str) -> Option<&'a str> {
    let at = html.find(&format!("{attr}=\"{value}\""))?;
    let start = html[..at].rfind("<tr")?;
    let end = at + html[at..].find("</tr>")?;
    Some(&html[start..end])
}

/// [`row`], or a panic showing the page.
pub fn expect_row<'a>(html: &'a str, attr: &str, value: &str) -> &'a str {
    row(html, attr, value).unwrap_or_else(|| panic!("no row {attr}={value} in {html}"))
}

/// The text of a row's `<td class="{class}…">`.
pub fn cell(row: &str, class: &str) -> String {
    inner_of(row, "td", class)
}

/// The text of the first `<span class="{class}…">` in a piece of a page (e.g. a user's row).
pub fn span(piece: &str, class: &str) -> String {
    inner_of(piece, "span", class)
}

/// The trimmed inside of the first `<{tag} class="{class}…">` in `piece` (panics if none).
fn inner_of(piece: &str, tag: &str, class: &str) -> String {
    let at = piece
        .find(&format!("<{tag} class=\"{class}"))
        .unwrap_or_else(|| panic!("no {tag}.{class} in {piece}"));
    let body = at + piece[at..].find('>').unwrap() + 1;
    let end = body + piece[body..].find(&format!("</{tag}>")).unwrap();
    piece[body..end].trim().to_string()
}

/// The value of the first attribute `name="…"` in a piece of a page.
pub fn attr(piece: &str, name: &str) -> Option<String> {
    let marker = format!("{name}=\"");
    let at = piece.find(&marker)? + marker.len();
    let end = at + piece[at..].find('"')?;
    Some(piece[at..end].to_string())
}

/// The `<input ...>` tag of a permission checkbox.
pub fn permission_input<'a>(html: &'a str, permission: &str) -> &'a str {
    let at = html
        .find(&format!("name=\"permission\" value=\"{permission}\""))
        .unwrap_or_else(|| panic!("no checkbox for {permission}"));
    let start = html[..at].rfind('<').unwrap();
    let end = at + html[at..].find('>').unwrap();
    &html[start..=end]
}
