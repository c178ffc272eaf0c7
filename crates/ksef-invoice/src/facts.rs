//! [`InvoiceFacts`] extraction with roxmltree: the metadata KSeF derives from an invoice
//! (seller, buyer, third subjects, amounts, type…), for FA(2), FA(3), FA_RR(1) and — best
//! effort — PEF (UBL Invoice / CreditNote).

use roxmltree::{Document, Node};
use time::Date;

use crate::{FormCode, InvoiceError};

/// What KSeF derives from an accepted invoice (metadata of digest §12.2).
#[derive(Debug, Clone, PartialEq)]
pub struct InvoiceFacts {
    pub form_code: FormCode,
    /// `Podmiot1/DaneIdentyfikacyjne/NIP` (PEF: supplier's Polish VAT id without "PL").
    pub seller_nip: String,
    pub seller_name: Option<String>,
    /// `Fa/P_2` (FA_RR: `FakturaRR/P_4C`, PEF: `cbc:ID`).
    pub invoice_number: String,
    /// `Fa/P_1` (FA_RR: `FakturaRR/P_4B`, PEF: `cbc:IssueDate`).
    pub issue_date: Date,
    /// `RodzajFaktury` as in the XML: VAT, KOR, ZAL, ROZ, UPR, KOR_ZAL, KOR_ROZ, VAT_RR,
    /// KOR_VAT_RR; PEF: the UBL type code (`cbc:InvoiceTypeCode` / `cbc:CreditNoteTypeCode`).
    pub rodzaj_faktury: String,
    /// API name: Vat, Kor, Zal, Roz, Upr, KorZal, KorRoz, VatPef, KorPef, VatRr, KorVatRr.
    pub invoice_type: &'static str,
    /// `KodWaluty` (PEF: `cbc:DocumentCurrencyCode`).
    pub currency: String,
    /// FA: sum of `P_13_*`; FA_RR: `P_11_1`; PEF: `TaxExclusiveAmount`.
    pub net_amount: Option<f64>,
    /// FA: `P_15`; FA_RR: `P_12_1`; PEF: `TaxInclusiveAmount`.
    pub gross_amount: Option<f64>,
    /// FA: sum of `P_14_1`…`P_14_5` (invoice currency, not the `…W` PLN fields);
    /// FA_RR: `P_11_2`; PEF: `TaxTotal/TaxAmount` in the document currency.
    pub vat_amount: Option<f64>,
    /// `Podmiot2`.
    pub buyer: Party,
    /// `Podmiot3` elements in document order.
    pub third_subjects: Vec<ThirdSubject>,
    /// `PodmiotUpowazniony`.
    pub authorized_subject: Option<AuthorizedSubject>,
    /// `Fa/Adnotacje/P_17 == 1` (self-billing).
    pub is_self_invoicing: bool,
    /// `Zalacznik` present (FA(3) only).
    pub has_attachment: bool,
}

/// The buyer (`Podmiot2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    /// `Nip` (NIP), `VatUe` (KodUE + NrVatUE, value = both joined, e.g. `DE123456789`),
    /// `Other` (NrID, value = NrID), `None` (BrakID).
    pub identifier_type: &'static str,
    pub identifier: Option<String>,
    pub name: Option<String>,
}

/// A third subject (`Podmiot3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThirdSubject {
    /// `Nip`, `InternalId` (IDWew), `VatUe`, `Other`, `None`.
    pub identifier_type: &'static str,
    pub identifier: Option<String>,
    pub name: Option<String>,
    /// `Rola` 1–11; 0 for `RolaInna` (other).
    pub role: i32,
}

/// The authorised subject (`PodmiotUpowazniony`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizedSubject {
    pub nip: String,
    pub name: Option<String>,
    /// `RolaPU`: 1 enforcement authority, 2 court bailiff, 3 tax representative.
    pub role: i32,
}

/// Extracts facts from already checked text (byte rules done by the caller) with roxmltree.
pub fn extract(form: FormCode, text: &str) -> Result<InvoiceFacts, InvoiceError> {
    let doc = Document::parse(text).map_err(|e| InvoiceError::NotWellFormed(format!("{e}")))?;
    extract_from(form, doc.root_element())
}

/// Extracts facts from a document already parsed (and usually XSD-validated) by libxml2, so
/// `verify` reads the bytes once.
pub fn extract_libxml(
    form: FormCode,
    doc: &libxml::tree::Document,
) -> Result<InvoiceFacts, InvoiceError> {
    let root = doc
        .get_root_readonly()
        .ok_or_else(|| InvoiceError::NotWellFormed("no root element".to_string()))?;
    extract_from(form, LibxmlNode(root))
}

/// The form code a document declares in `Naglowek/KodFormularza`, else the one whose root
/// element it is (PEF has no header) — over either tree.
fn detect_in<N: XNode>(root: N) -> Option<FormCode> {
    let ns = root.with_name(|ns, _| ns.unwrap_or("").to_string());
    let cx = Cx { ns: &ns };
    cx.path(root, &["Naglowek", "KodFormularza"])
        .and_then(|k| {
            FormCode::from_parts(
                &k.attribute("kodSystemowy")?,
                &k.attribute("wersjaSchemy")?,
                &k.text()?,
            )
        })
        .or_else(|| {
            FormCode::ALL.into_iter().find(|f| {
                root.with_name(|rns, local| {
                    rns.unwrap_or("") == f.namespace() && local == f.root_element()
                })
            })
        })
}

/// [`detect_in`] of a roxmltree document (see [`FormCode::detect`]).
pub(crate) fn detect_roxml(doc: &Document) -> Option<FormCode> {
    detect_in(doc.root_element())
}

/// [`detect_in`] of a libxml2 document: the form of a file already parsed for validation.
pub(crate) fn detect_libxml(doc: &libxml::tree::Document) -> Option<FormCode> {
    detect_in(LibxmlNode(doc.get_root_readonly()?))
}

fn extract_from<N: XNode>(form: FormCode, root: N) -> Result<InvoiceFacts, InvoiceError> {
    let ns = form.namespace();
    if !root.is(ns, form.root_element()) {
        let found = root.with_name(|rns, name| format!("{{{}}}{name}", rns.unwrap_or("")));
        return Err(InvoiceError::Semantic(format!(
            "element główny {found} nie pasuje do formularza {} / root element does not match the form, expected {{{ns}}}{}",
            form.system_code(),
            form.root_element()
        )));
    }
    match form {
        FormCode::Fa2 | FormCode::Fa3 | FormCode::FaRr1 => fa(form, root),
        FormCode::Pef3 | FormCode::PefKor3 => pef(form, root),
    }
}

/// The little a facts extractor needs from an element, implemented for roxmltree and for
/// libxml2's read-only nodes.
trait XNode: Copy {
    fn first_element_child(self) -> Option<Self>;
    fn next_element_sibling(self) -> Option<Self>;
    /// Calls `f(namespace, local name)`.
    fn with_name<R>(self, f: impl FnOnce(Option<&str>, &str) -> R) -> R;
    /// Concatenated descendant text, trimmed; `None` when empty.
    fn text(self) -> Option<String>;
    /// Unqualified attribute.
    fn attribute(self, name: &str) -> Option<String>;

    fn is(self, ns: &str, local: &str) -> bool {
        self.with_name(|n, l| n == Some(ns) && l == local)
    }
    fn element_children(self) -> Children<Self> {
        Children {
            next: self.first_element_child(),
        }
    }
}

struct Children<N> {
    next: Option<N>,
}

impl<N: XNode> Iterator for Children<N> {
    type Item = N;
    fn next(&mut self) -> Option<N> {
        let cur = self.next?;
        self.next = cur.next_element_sibling();
        Some(cur)
    }
}

fn trimmed(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

impl XNode for Node<'_, '_> {
    fn first_element_child(self) -> Option<Self> {
        Node::first_element_child(&self)
    }
    fn next_element_sibling(self) -> Option<Self> {
        Node::next_sibling_element(&self)
    }
    fn with_name<R>(self, f: impl FnOnce(Option<&str>, &str) -> R) -> R {
        let tag = self.tag_name();
        f(tag.namespace(), tag.name())
    }
    fn text(self) -> Option<String> {
        match (self.first_child(), self.last_child()) {
            (Some(only), Some(last)) if only == last && only.is_text() => {
                trimmed(Node::text(&only)?)
            }
            _ => {
                let all: String = self
                    .descendants()
                    .filter(|d| d.is_text())
                    .filter_map(|d| Node::text(&d))
                    .collect();
                trimmed(&all)
            }
        }
    }
    fn attribute(self, name: &str) -> Option<String> {
        Node::attribute(&self, name).map(str::to_string)
    }
}

#[derive(Clone, Copy)]
struct LibxmlNode(libxml::readonly::RoNode);

impl XNode for LibxmlNode {
    fn first_element_child(self) -> Option<Self> {
        self.0.get_first_element_child().map(LibxmlNode)
    }
    fn next_element_sibling(self) -> Option<Self> {
        self.0.get_next_element_sibling().map(LibxmlNode)
    }
    fn with_name<R>(self, f: impl FnOnce(Option<&str>, &str) -> R) -> R {
        let p = self.0.node_ptr();
        // SAFETY: `p` is an element node of a libxml2 document that the caller
        // (`extract_libxml`) borrows for the whole extraction; `name` and `ns->href` are
        // NUL-terminated strings owned by that document (or its dictionary), never mutated
        // while it is borrowed. The borrowed `&str`s do not escape `f`.
        let (ns, name) = unsafe {
            let name = if p.is_null() || (*p).name.is_null() {
                ""
            } else {
                std::ffi::CStr::from_ptr((*p).name.cast())
                    .to_str()
                    .unwrap_or("")
            };
            let ns_ptr = if p.is_null() {
                std::ptr::null_mut()
            } else {
                (*p).ns
            };
            let ns = if ns_ptr.is_null() || (*ns_ptr).href.is_null() {
                None
            } else {
                std::ffi::CStr::from_ptr((*ns_ptr).href.cast())
                    .to_str()
                    .ok()
            };
            (ns, name)
        };
        f(ns, name)
    }
    fn text(self) -> Option<String> {
        trimmed(&self.0.get_content())
    }
    fn attribute(self, name: &str) -> Option<String> {
        self.0.get_property_no_ns(name)
    }
}

struct Cx<'n> {
    ns: &'n str,
}

impl Cx<'_> {
    fn child<N: XNode>(&self, n: N, name: &str) -> Option<N> {
        n.element_children().find(|c| c.is(self.ns, name))
    }
    fn children<'a, N: XNode + 'a>(&'a self, n: N, name: &'a str) -> impl Iterator<Item = N> + 'a {
        n.element_children().filter(move |c| c.is(self.ns, name))
    }
    fn path<N: XNode>(&self, n: N, names: &[&str]) -> Option<N> {
        names.iter().try_fold(n, |cur, name| self.child(cur, name))
    }
    fn text<N: XNode>(&self, n: N, names: &[&str]) -> Option<String> {
        self.path(n, names).and_then(XNode::text)
    }
}

fn missing(what: &str) -> InvoiceError {
    InvoiceError::Semantic(format!(
        "brak elementu {what} / element {what} is missing or empty"
    ))
}

fn date(value: &str, what: &str) -> Result<Date, InvoiceError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    value
        .get(..10)
        .and_then(|d| Date::parse(d, &format).ok())
        .ok_or_else(|| {
            InvoiceError::Semantic(format!(
                "{what}: niepoprawna data '{value}' / invalid date '{value}'"
            ))
        })
}

fn amount(value: &str, what: &str) -> Result<f64, InvoiceError> {
    value.trim().parse::<f64>().map_err(|_| {
        InvoiceError::Semantic(format!(
            "{what}: niepoprawna kwota '{value}' / invalid amount '{value}'"
        ))
    })
}

fn int(value: &str, what: &str) -> Result<i32, InvoiceError> {
    value.trim().parse::<i32>().map_err(|_| {
        InvoiceError::Semantic(format!(
            "{what}: niepoprawna liczba '{value}' / invalid number '{value}'"
        ))
    })
}

fn fa_invoice_type(rodzaj: &str) -> Option<&'static str> {
    Some(match rodzaj {
        "VAT" => "Vat",
        "KOR" => "Kor",
        "ZAL" => "Zal",
        "ROZ" => "Roz",
        "UPR" => "Upr",
        "KOR_ZAL" => "KorZal",
        "KOR_ROZ" => "KorRoz",
        "VAT_RR" => "VatRr",
        "KOR_VAT_RR" => "KorVatRr",
        _ => return None,
    })
}

/// The identifier choice shared by `TPodmiot2`/`TPodmiot3` (NIP | IDWew | KodUE+NrVatUE |
/// [KodKraju]+NrID | BrakID).
fn identifier<N: XNode>(cx: &Cx, dane: N) -> (&'static str, Option<String>) {
    if let Some(nip) = cx.text(dane, &["NIP"]) {
        ("Nip", Some(nip))
    } else if let Some(id) = cx.text(dane, &["IDWew"]) {
        ("InternalId", Some(id))
    } else if let Some(nr) = cx.text(dane, &["NrVatUE"]) {
        let kod = cx.text(dane, &["KodUE"]).unwrap_or_default();
        ("VatUe", Some(format!("{kod}{nr}")))
    } else if let Some(nr) = cx.text(dane, &["NrID"]) {
        ("Other", Some(nr))
    } else {
        ("None", None)
    }
}

fn fa<N: XNode>(form: FormCode, root: N) -> Result<InvoiceFacts, InvoiceError> {
    let cx = Cx {
        ns: form.namespace(),
    };
    let rr = form == FormCode::FaRr1;
    let body_name = if rr { "FakturaRR" } else { "Fa" };
    let seller_nip = cx
        .text(root, &["Podmiot1", "DaneIdentyfikacyjne", "NIP"])
        .ok_or_else(|| missing("Podmiot1/DaneIdentyfikacyjne/NIP"))?;
    let seller_name = cx.text(root, &["Podmiot1", "DaneIdentyfikacyjne", "Nazwa"]);
    let body = cx
        .child(root, body_name)
        .ok_or_else(|| missing(body_name))?;
    let (number_el, date_el) = if rr { ("P_4C", "P_4B") } else { ("P_2", "P_1") };
    let invoice_number = cx
        .text(body, &[number_el])
        .ok_or_else(|| missing(&format!("{body_name}/{number_el}")))?;
    let issue_date = date(
        &cx.text(body, &[date_el])
            .ok_or_else(|| missing(&format!("{body_name}/{date_el}")))?,
        date_el,
    )?;
    let rodzaj_faktury = cx
        .text(body, &["RodzajFaktury"])
        .ok_or_else(|| missing(&format!("{body_name}/RodzajFaktury")))?;
    let invoice_type = fa_invoice_type(&rodzaj_faktury)
        .filter(|t| rr == t.ends_with("Rr"))
        .ok_or_else(|| {
            InvoiceError::Semantic(format!(
                "nieznany RodzajFaktury '{rodzaj_faktury}' / unknown RodzajFaktury '{rodzaj_faktury}'"
            ))
        })?;
    let currency = cx
        .text(body, &["KodWaluty"])
        .ok_or_else(|| missing(&format!("{body_name}/KodWaluty")))?;

    let (net_amount, vat_amount, gross_amount) = if rr {
        let get = |name: &str| -> Result<Option<f64>, InvoiceError> {
            cx.text(body, &[name]).map(|v| amount(&v, name)).transpose()
        };
        (get("P_11_1")?, get("P_11_2")?, get("P_12_1")?)
    } else {
        let mut net: Option<f64> = None;
        let mut vat: Option<f64> = None;
        let mut gross: Option<f64> = None;
        for c in body.element_children() {
            let (is_net, is_vat, is_gross) = c.with_name(|_, name| {
                (
                    name.starts_with("P_13_"),
                    name.starts_with("P_14_") && !name.ends_with('W'),
                    name == "P_15",
                )
            });
            if !(is_net || is_vat || is_gross) {
                continue;
            }
            let Some(v) = c.text() else { continue };
            let v = c.with_name(|_, name| amount(&v, name))?;
            if is_net {
                *net.get_or_insert(0.0) += v;
            } else if is_vat {
                *vat.get_or_insert(0.0) += v;
            } else {
                gross = Some(v);
            }
        }
        if net.is_some() && vat.is_none() {
            vat = Some(0.0); // only exempt / 0 % / np bases: no tax
        }
        (net.map(round2), vat.map(round2), gross)
    };

    let buyer = match cx.path(root, &["Podmiot2", "DaneIdentyfikacyjne"]) {
        Some(dane) => {
            let (identifier_type, identifier) = identifier(&cx, dane);
            Party {
                identifier_type,
                identifier,
                name: cx.text(dane, &["Nazwa"]),
            }
        }
        None => return Err(missing("Podmiot2/DaneIdentyfikacyjne")),
    };

    let mut third_subjects = Vec::new();
    for p3 in cx.children(root, "Podmiot3") {
        let dane = cx
            .child(p3, "DaneIdentyfikacyjne")
            .ok_or_else(|| missing("Podmiot3/DaneIdentyfikacyjne"))?;
        let (identifier_type, identifier) = identifier(&cx, dane);
        let role = match cx.text(p3, &["Rola"]) {
            Some(r) => int(&r, "Podmiot3/Rola")?,
            None => 0, // RolaInna
        };
        third_subjects.push(ThirdSubject {
            identifier_type,
            identifier,
            name: cx.text(dane, &["Nazwa"]),
            role,
        });
    }

    let authorized_subject = match cx.child(root, "PodmiotUpowazniony") {
        Some(pu) => Some(AuthorizedSubject {
            nip: cx
                .text(pu, &["DaneIdentyfikacyjne", "NIP"])
                .ok_or_else(|| missing("PodmiotUpowazniony/DaneIdentyfikacyjne/NIP"))?,
            name: cx.text(pu, &["DaneIdentyfikacyjne", "Nazwa"]),
            role: int(
                &cx.text(pu, &["RolaPU"])
                    .ok_or_else(|| missing("PodmiotUpowazniony/RolaPU"))?,
                "PodmiotUpowazniony/RolaPU",
            )?,
        }),
        None => None,
    };

    let is_self_invoicing = cx.text(body, &["Adnotacje", "P_17"]).as_deref() == Some("1");
    let has_attachment = cx.child(root, "Zalacznik").is_some();

    Ok(InvoiceFacts {
        form_code: form,
        seller_nip,
        seller_name,
        invoice_number,
        issue_date,
        rodzaj_faktury,
        invoice_type,
        currency,
        net_amount,
        gross_amount,
        vat_amount,
        buyer,
        third_subjects,
        authorized_subject,
        is_self_invoicing,
        has_attachment,
    })
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

const CAC: &str = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2";
const CBC: &str = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2";

/// EU VAT prefixes (VIES; EL for Greece, XI for Northern Ireland).
const EU_PREFIXES: [&str; 28] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PT", "RO", "SE", "SI", "SK", "XI", "PL",
];

/// A Polish NIP out of a UBL identifier: `1234567890` or `PL1234567890`.
fn polish_nip(value: &str) -> Option<String> {
    let v = value.trim();
    let v = v.strip_prefix("PL").unwrap_or(v);
    (v.len() == 10 && v.bytes().all(|b| b.is_ascii_digit())).then(|| v.to_string())
}

fn pef<N: XNode>(form: FormCode, root: N) -> Result<InvoiceFacts, InvoiceError> {
    let cac = Cx { ns: CAC };
    let cbc = Cx { ns: CBC };
    let credit = form == FormCode::PefKor3;
    let ubl_text = |n: N, path: &[(&Cx, &str)]| -> Option<String> {
        path.iter()
            .try_fold(n, |cur, (cx, name)| cx.child(cur, name))
            .and_then(XNode::text)
    };

    let supplier = cac
        .path(root, &["AccountingSupplierParty", "Party"])
        .ok_or_else(|| missing("cac:AccountingSupplierParty/cac:Party"))?;
    let seller_candidates = [
        ubl_text(supplier, &[(&cac, "PartyTaxScheme"), (&cbc, "CompanyID")]),
        ubl_text(supplier, &[(&cac, "PartyLegalEntity"), (&cbc, "CompanyID")]),
        ubl_text(supplier, &[(&cbc, "EndpointID")]),
        ubl_text(supplier, &[(&cac, "PartyIdentification"), (&cbc, "ID")]),
    ];
    let seller_nip = seller_candidates
        .iter()
        .flatten()
        .find_map(|v| polish_nip(v))
        .ok_or_else(|| {
            InvoiceError::Semantic(
                "brak polskiego NIP sprzedawcy w cac:AccountingSupplierParty / no Polish NIP of the supplier (PartyTaxScheme/CompanyID, PartyLegalEntity/CompanyID or EndpointID)".to_string(),
            )
        })?;
    let party_name = |p: N| {
        ubl_text(p, &[(&cac, "PartyName"), (&cbc, "Name")])
            .or_else(|| ubl_text(p, &[(&cac, "PartyLegalEntity"), (&cbc, "RegistrationName")]))
    };
    let seller_name = party_name(supplier);

    let buyer = match cac.path(root, &["AccountingCustomerParty", "Party"]) {
        Some(p) => {
            let tax = ubl_text(p, &[(&cac, "PartyTaxScheme"), (&cbc, "CompanyID")]);
            let legal = ubl_text(p, &[(&cac, "PartyLegalEntity"), (&cbc, "CompanyID")]);
            let (identifier_type, identifier) = if let Some(nip) = tax
                .as_deref()
                .and_then(polish_nip)
                .or_else(|| legal.as_deref().and_then(polish_nip))
            {
                ("Nip", Some(nip))
            } else if let Some(t) = tax.filter(|t| EU_PREFIXES.iter().any(|p| t.starts_with(p))) {
                ("VatUe", Some(t))
            } else if let Some(l) = legal {
                ("Other", Some(l))
            } else {
                ("None", None)
            };
            Party {
                identifier_type,
                identifier,
                name: party_name(p),
            }
        }
        None => Party {
            identifier_type: "None",
            identifier: None,
            name: None,
        },
    };

    let invoice_number = cbc.text(root, &["ID"]).ok_or_else(|| missing("cbc:ID"))?;
    let issue_date = date(
        &cbc.text(root, &["IssueDate"])
            .ok_or_else(|| missing("cbc:IssueDate"))?,
        "cbc:IssueDate",
    )?;
    let type_code_el = if credit {
        "CreditNoteTypeCode"
    } else {
        "InvoiceTypeCode"
    };
    let rodzaj_faktury = cbc
        .text(root, &[type_code_el])
        .unwrap_or_else(|| if credit { "381" } else { "380" }.to_string());
    let currency = cbc
        .text(root, &["DocumentCurrencyCode"])
        .ok_or_else(|| missing("cbc:DocumentCurrencyCode"))?;
    let totals = cac.child(root, "LegalMonetaryTotal");
    let total = |name: &str| -> Result<Option<f64>, InvoiceError> {
        totals
            .and_then(|t| cbc.text(t, &[name]))
            .map(|v| amount(&v, name))
            .transpose()
    };
    let net_amount = total("TaxExclusiveAmount")?;
    let gross_amount = total("TaxInclusiveAmount")?;
    let vat_amount = cac
        .children(root, "TaxTotal")
        .filter_map(|t| cbc.child(t, "TaxAmount"))
        .find(|a| a.attribute("currencyID").is_none_or(|c| c == currency))
        .and_then(XNode::text)
        .map(|v| amount(&v, "cbc:TaxAmount"))
        .transpose()?;

    Ok(InvoiceFacts {
        form_code: form,
        seller_nip,
        seller_name,
        invoice_number,
        issue_date,
        rodzaj_faktury,
        invoice_type: if credit { "KorPef" } else { "VatPef" },
        currency,
        net_amount,
        gross_amount,
        vat_amount,
        buyer,
        third_subjects: Vec::new(),
        authorized_subject: None,
        is_self_invoicing: false,
        has_attachment: false,
    })
}
