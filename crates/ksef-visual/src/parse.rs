//! Reading FA(2), FA(3) and FA_RR(1) documents into an [`InvoiceView`] with roxmltree.
//!
//! Lenient for display: a missing optional element is simply absent, a value that is not a
//! number or a date is left out with a warning. Only what the header, the parties and KOD I
//! cannot do without is required: the seller's NIP, the buyer, the issue date, the number and
//! the kind of the invoice. Every byte is treated as hostile: the size, the number of nodes and
//! the nesting are bounded before anything is read, DTDs are refused (the workspace's guard),
//! and nothing here can panic on input.

use roxmltree::{Document, Node, ParsingOptions};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use ksef_invoice::FormCode;

use crate::ViewError;
use crate::decimal::Decimal;
use crate::model::*;

/// Largest document accepted (bytes). KSeF takes invoices up to 1 MB, 3 MB with attachments.
pub const MAX_INPUT_BYTES: usize = 4 * 1024 * 1024;
/// Deepest element nesting accepted. The deepest path of the schemas is about 8 levels.
pub const MAX_DEPTH: usize = 32;
/// Most XML nodes accepted (elements, texts, attributes…).
pub const MAX_NODES: u32 = 500_000;

/// Reads an invoice document for display. See the module docs.
pub fn parse(xml: &[u8]) -> Result<InvoiceView, ViewError> {
    if xml.len() > MAX_INPUT_BYTES {
        return Err(ViewError::TooLarge {
            size: xml.len(),
            limit: MAX_INPUT_BYTES,
        });
    }
    if let Some(found) = ksef_core::xml::find_doctype(xml) {
        return Err(ViewError::Doctype(found.to_string()));
    }
    let bytes = xml.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(xml);
    let text = std::str::from_utf8(bytes).map_err(|e| ViewError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let opts = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(text, opts).map_err(|e| match e {
        roxmltree::Error::NodesLimitReached => ViewError::TooManyNodes { limit: MAX_NODES },
        other => ViewError::NotXml(other.to_string()),
    })?;
    check_depth(&doc)?;
    let root = doc.root_element();
    let form = detect(root)?;
    let mut cx = Cx {
        ns: form.form_code().namespace(),
        warnings: Vec::new(),
    };
    match form {
        Form::Fa2 | Form::Fa3 => fa(&mut cx, form, root),
        Form::FaRr1 => rr(&mut cx, root),
    }
}

fn check_depth(doc: &Document) -> Result<(), ViewError> {
    // Nodes come in document order, parents before children; node ids index the arena.
    let mut depths: Vec<usize> = Vec::new();
    for n in doc.descendants() {
        let depth = n
            .parent()
            .and_then(|p| depths.get(p.id().get_usize()).copied())
            .map_or(0, |d| d + 1);
        if depth > MAX_DEPTH {
            return Err(ViewError::TooDeep { limit: MAX_DEPTH });
        }
        let id = n.id().get_usize();
        if depths.len() <= id {
            depths.resize(id + 1, 0);
        }
        if let Some(slot) = depths.get_mut(id) {
            *slot = depth;
        }
    }
    Ok(())
}

/// The form of the document: the root namespace decides (it fixes the structure); a
/// `KodFormularza` naming another form is refused.
fn detect(root: Node) -> Result<Form, ViewError> {
    let ns = root.tag_name().namespace().unwrap_or("");
    let name = root.tag_name().name();
    let by_ns = FormCode::ALL
        .into_iter()
        .find(|f| f.namespace() == ns && f.root_element() == name);
    let header = root
        .children()
        .find(|n| n.has_tag_name((ns, "Naglowek")))
        .and_then(|h| h.children().find(|n| n.has_tag_name((ns, "KodFormularza"))));
    let declared = header.map(|k| {
        (
            k.attribute("kodSystemowy").unwrap_or("").to_string(),
            k.attribute("wersjaSchemy").unwrap_or("").to_string(),
            k.text().unwrap_or("").trim().to_string(),
        )
    });
    let from_header = declared
        .as_ref()
        .and_then(|(s, v, val)| FormCode::from_parts(s, v, val));
    match by_ns {
        Some(code @ (FormCode::Pef3 | FormCode::PefKor3)) => {
            Err(ViewError::UnsupportedForm(code.system_code().to_string()))
        }
        Some(code) => {
            if let Some((s, v, val)) = &declared
                && from_header != Some(code)
            {
                return Err(ViewError::UnsupportedForm(format!(
                    "{s} / {v} / {val} w przestrzeni nazw {ns} (oczekiwano {code})"
                )));
            }
            Ok(match code {
                FormCode::Fa2 => Form::Fa2,
                FormCode::Fa3 => Form::Fa3,
                _ => Form::FaRr1,
            })
        }
        None if name == "Faktura" => Err(ViewError::UnsupportedForm(match declared {
            Some((s, v, val)) => format!("{s} / {v} / {val} ({{{ns}}}Faktura)"),
            None => format!("{{{ns}}}Faktura"),
        })),
        None => Err(ViewError::NotAnInvoice(format!("{{{ns}}}{name}"))),
    }
}

/// Reading context: the document namespace and the warnings collected.
struct Cx {
    ns: &'static str,
    warnings: Vec<String>,
}

impl Cx {
    fn child<'a, 'i>(&self, n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
        n.children().find(|c| c.has_tag_name((self.ns, name)))
    }

    fn children<'a, 'i: 'a>(
        &self,
        n: Node<'a, 'i>,
        name: &'a str,
    ) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
        let ns = self.ns;
        n.children().filter(move |c| c.has_tag_name((ns, name)))
    }

    /// Trimmed text of a child, `None` when absent or blank.
    fn text(&self, n: Node, name: &str) -> Option<String> {
        self.child(n, name).and_then(node_text)
    }

    fn texts(&self, n: Node, name: &str) -> Vec<String> {
        n.children()
            .filter(|c| c.has_tag_name((self.ns, name)))
            .filter_map(node_text)
            .collect()
    }

    fn flag(&self, n: Node, name: &str) -> bool {
        self.text(n, name).as_deref() == Some("1")
    }

    fn dec(&mut self, n: Node, name: &str) -> Option<Decimal> {
        let raw = self.text(n, name)?;
        let value = Decimal::parse(&raw);
        if value.is_none() {
            self.warn(n, name, &raw, "to nie liczba");
        }
        value
    }

    fn date(&mut self, n: Node, name: &str) -> Option<Date> {
        let raw = self.text(n, name)?;
        let value = parse_date(&raw);
        if value.is_none() {
            self.warn(n, name, &raw, "to nie data RRRR-MM-DD");
        }
        value
    }

    fn warn(&mut self, n: Node, name: &str, raw: &str, why: &str) {
        let mut shown: String = raw.chars().take(40).collect();
        if raw.chars().count() > 40 {
            shown.push('…');
        }
        self.warnings
            .push(format!("{}/{name}: „{shown}” — {why}", path(n)));
    }
}

/// `Fa/Platnosc`-style path of an element (local names, root excluded).
fn path(n: Node) -> String {
    let mut names: Vec<&str> = n
        .ancestors()
        .filter(|a| a.is_element())
        .map(|a| a.tag_name().name())
        .collect();
    names.pop(); // the root element
    names.reverse();
    names.join("/")
}

fn node_text(n: Node) -> Option<String> {
    let all: String = n
        .descendants()
        .filter(|d| d.is_text())
        .filter_map(|d| d.text())
        .collect();
    let t = all.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn parse_date(raw: &str) -> Option<Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    // `xsd:date` may carry a zone (`2025-01-01Z`); the calendar date is what is shown.
    let head = raw.get(..10)?;
    Date::parse(head, &fmt).ok()
}

fn parse_datetime(raw: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(raw, &Rfc3339).ok()
}

fn required<T>(v: Option<T>, what: &'static str) -> Result<T, ViewError> {
    v.ok_or(ViewError::MissingElement(what))
}

fn header(cx: &mut Cx, root: Node) -> Header {
    let Some(h) = cx.child(root, "Naglowek") else {
        return Header::default();
    };
    let created_raw = cx.text(h, "DataWytworzeniaFa");
    let created_at = created_raw.as_deref().and_then(parse_datetime);
    if let (Some(raw), None) = (&created_raw, created_at) {
        cx.warn(h, "DataWytworzeniaFa", raw, "to nie data i czas");
    }
    Header {
        variant: cx.text(h, "WariantFormularza"),
        created_at,
        system_info: cx.text(h, "SystemInfo"),
    }
}

fn address(cx: &Cx, n: Option<Node>) -> Option<Address> {
    let n = n?;
    Some(Address {
        country: cx.text(n, "KodKraju"),
        line1: cx.text(n, "AdresL1"),
        line2: cx.text(n, "AdresL2"),
        gln: cx.text(n, "GLN"),
    })
}

fn party_id(cx: &Cx, d: Option<Node>) -> PartyId {
    let Some(d) = d else {
        return PartyId::None;
    };
    if let Some(nip) = cx.text(d, "NIP") {
        PartyId::Nip(nip)
    } else if let Some(id) = cx.text(d, "IDWew") {
        PartyId::Internal(id)
    } else if let Some(number) = cx.text(d, "NrVatUE") {
        PartyId::VatUe {
            country: cx.text(d, "KodUE").unwrap_or_default(),
            number,
        }
    } else if let Some(number) = cx.text(d, "NrID") {
        PartyId::Other {
            country: cx.text(d, "KodKraju"),
            number,
        }
    } else {
        PartyId::None
    }
}

fn party(cx: &Cx, n: Node) -> Party {
    let ids = cx.child(n, "DaneIdentyfikacyjne");
    let mut contacts: Vec<Contact> = cx
        .children(n, "DaneKontaktowe")
        .map(|c| Contact {
            email: cx.text(c, "Email"),
            phone: cx.text(c, "Telefon"),
        })
        .collect();
    // PodmiotUpowazniony: EmailPU / TelefonPU.
    for c in cx.children(n, "DaneKontaktowe") {
        let (email, phone) = (cx.text(c, "EmailPU"), cx.text(c, "TelefonPU"));
        if email.is_some() || phone.is_some() {
            contacts.push(Contact { email, phone });
        }
    }
    contacts.retain(|c| c.email.is_some() || c.phone.is_some());
    let yes_no = |name| cx.text(n, name).map(|v| v == "1");
    Party {
        id: party_id(cx, ids),
        name: ids.and_then(|d| cx.text(d, "Nazwa")),
        vat_prefix: cx.text(n, "PrefiksPodatnika"),
        eori: cx.text(n, "NrEORI"),
        address: address(cx, cx.child(n, "Adres")),
        correspondence_address: address(cx, cx.child(n, "AdresKoresp")),
        contacts,
        taxpayer_status: cx.text(n, "StatusInfoPodatnika"),
        customer_number: cx
            .text(n, "NrKlienta")
            .or_else(|| cx.text(n, "NrKontrahenta")),
        buyer_id: cx.text(n, "IDNabywcy"),
        jst: yes_no("JST"),
        gv: yes_no("GV"),
    }
}

fn third_parties(cx: &mut Cx, root: Node) -> Vec<ThirdParty> {
    let nodes: Vec<Node> = cx.children(root, "Podmiot3").collect();
    nodes
        .into_iter()
        .map(|n| ThirdParty {
            party: party(cx, n),
            role: cx.text(n, "Rola"),
            other_role: cx
                .flag(n, "RolaInna")
                .then(|| cx.text(n, "OpisRoli").unwrap_or_default()),
            share: cx.dec(n, "Udzial"),
        })
        .collect()
}

/// The seller and buyer, required for a view.
fn main_parties(cx: &Cx, root: Node) -> Result<(Party, Party), ViewError> {
    let p1 = required(cx.child(root, "Podmiot1"), "Podmiot1")?;
    let seller = party(cx, p1);
    if seller.id.nip().is_none() {
        return Err(ViewError::MissingElement(
            "Podmiot1/DaneIdentyfikacyjne/NIP",
        ));
    }
    let p2 = required(cx.child(root, "Podmiot2"), "Podmiot2")?;
    let buyer = party(cx, p2);
    Ok((seller, buyer))
}

fn correction(cx: &mut Cx, fa: Node) -> Option<Correction> {
    let corrected: Vec<CorrectedInvoice> = {
        let nodes: Vec<Node> = cx.children(fa, "DaneFaKorygowanej").collect();
        nodes
            .into_iter()
            .map(|d| CorrectedInvoice {
                issue_date: cx.date(d, "DataWystFaKorygowanej"),
                number: cx.text(d, "NrFaKorygowanej"),
                ksef_number: cx.text(d, "NrKSeFFaKorygowanej"),
                outside_ksef: cx.flag(d, "NrKSeFN"),
            })
            .collect()
    };
    let c = Correction {
        reason: cx.text(fa, "PrzyczynaKorekty"),
        effect: cx.text(fa, "TypKorekty"),
        corrected,
        period: cx.text(fa, "OkresFaKorygowanej"),
        correct_number: cx.text(fa, "NrFaKorygowany"),
        seller_before: cx.child(fa, "Podmiot1K").map(|n| party(cx, n)),
        buyers_before: cx.children(fa, "Podmiot2K").map(|n| party(cx, n)).collect(),
        advance_before: cx.dec(fa, "P_15ZK"),
        exchange_rate_before: cx.dec(fa, "KursWalutyZK"),
    };
    (c != Correction::default()).then_some(c)
}

fn key_values(cx: &Cx, parent: Node) -> Vec<KeyValue> {
    cx.children(parent, "DodatkowyOpis")
        .map(|d| KeyValue {
            line: cx.text(d, "NrWiersza"),
            key: cx.text(d, "Klucz").unwrap_or_default(),
            value: cx.text(d, "Wartosc").unwrap_or_default(),
        })
        .collect()
}

fn settlement(cx: &mut Cx, parent: Node) -> Option<Settlement> {
    let r = cx.child(parent, "Rozliczenie")?;
    let mut items = |name: &str| -> Vec<(Option<Decimal>, String)> {
        let nodes: Vec<Node> = r
            .children()
            .filter(|c| c.has_tag_name((cx.ns, name)))
            .collect();
        nodes
            .into_iter()
            .map(|o| (cx.dec(o, "Kwota"), cx.text(o, "Powod").unwrap_or_default()))
            .collect()
    };
    let charges = items("Obciazenia");
    let deductions = items("Odliczenia");
    Some(Settlement {
        charges,
        charges_total: cx.dec(r, "SumaObciazen"),
        deductions,
        deductions_total: cx.dec(r, "SumaOdliczen"),
        to_pay: cx.dec(r, "DoZaplaty"),
        to_settle: cx.dec(r, "DoRozliczenia"),
    })
}

fn bank_account(cx: &Cx, n: Node, title: &'static str) -> BankAccount {
    BankAccount {
        title,
        number: cx.text(n, "NrRB").unwrap_or_default(),
        swift: cx.text(n, "SWIFT"),
        bank_own: cx.text(n, "RachunekWlasnyBanku"),
        bank_name: cx.text(n, "NazwaBanku"),
        description: cx.text(n, "OpisRachunku"),
    }
}

/// Polish name of a `FormaPlatnosci` code (FA).
pub(crate) fn payment_form(code: &str) -> String {
    match code {
        "1" => "Gotówka",
        "2" => "Karta",
        "3" => "Bon",
        "4" => "Czek",
        "5" => "Kredyt",
        "6" => "Przelew",
        "7" => "Mobilna",
        other => return other.to_string(),
    }
    .to_string()
}

fn payment(cx: &mut Cx, parent: Node, rr: bool) -> Option<Payment> {
    let p = cx.child(parent, "Platnosc")?;
    let mut out = Payment {
        paid: cx.flag(p, "Zaplacono"),
        paid_date: cx.date(p, "DataZaplaty"),
        partial_flag: cx.text(p, "ZnacznikZaplatyCzesciowej"),
        ..Payment::default()
    };
    let partials: Vec<Node> = cx.children(p, "ZaplataCzesciowa").collect();
    for z in partials {
        let form = cx
            .text(z, "FormaPlatnosci")
            .map(|c| payment_form(&c))
            .or_else(|| {
                cx.flag(z, "PlatnoscInna")
                    .then(|| cx.text(z, "OpisPlatnosci").unwrap_or_default())
            });
        out.partial_payments.push(PartialPayment {
            amount: cx.dec(z, "KwotaZaplatyCzesciowej"),
            date: cx.date(z, "DataZaplatyCzesciowej"),
            form,
        });
    }
    let terms: Vec<Node> = cx.children(p, "TerminPlatnosci").collect();
    for t in terms {
        let description = cx.child(t, "TerminOpis").and_then(|o| {
            // FA(3): Ilosc + Jednostka + ZdarzeniePoczatkowe; FA(2): plain text.
            let parts: Vec<String> = ["Ilosc", "Jednostka", "ZdarzeniePoczatkowe"]
                .iter()
                .filter_map(|n| cx.text(o, n))
                .collect();
            if parts.is_empty() {
                node_text(o)
            } else {
                Some(parts.join(" "))
            }
        });
        out.due.push(DueDate {
            date: cx.date(t, "Termin"),
            description,
        });
    }
    out.form = cx.text(p, "FormaPlatnosci").map(|c| {
        if rr && c == "1" {
            "Przelew".to_string()
        } else if rr {
            c
        } else {
            payment_form(&c)
        }
    });
    if cx.flag(p, "PlatnoscInna") {
        out.other_form = Some(cx.text(p, "OpisPlatnosci").unwrap_or_default());
    }
    if rr {
        out.accounts.extend(
            cx.children(p, "RachunekBankowy1")
                .map(|n| bank_account(cx, n, "Rachunek bankowy rolnika")),
        );
        out.accounts.extend(
            cx.children(p, "RachunekBankowy2")
                .map(|n| bank_account(cx, n, "Rachunek bankowy nabywcy")),
        );
    } else {
        out.accounts.extend(
            cx.children(p, "RachunekBankowy")
                .map(|n| bank_account(cx, n, "Numer rachunku bankowego")),
        );
        out.accounts.extend(
            cx.children(p, "RachunekBankowyFaktora")
                .map(|n| bank_account(cx, n, "Numer rachunku bankowego faktora")),
        );
    }
    out.discount = cx.child(p, "Skonto").map(|s| {
        (
            cx.text(s, "WarunkiSkonta").unwrap_or_default(),
            cx.text(s, "WysokoscSkonta").unwrap_or_default(),
        )
    });
    out.link = cx.text(p, "LinkDoPlatnosci");
    out.ipksef = cx.text(p, "IPKSeF");
    Some(out)
}

fn annotations(cx: &Cx, fa: Node) -> Option<Annotations> {
    let a = cx.child(fa, "Adnotacje")?;
    let exemption = cx.child(a, "Zwolnienie").and_then(|z| {
        cx.flag(z, "P_19").then(|| Exemption {
            act: cx.text(z, "P_19A"),
            directive: cx.text(z, "P_19B"),
            other: cx.text(z, "P_19C"),
        })
    });
    let new_transport = cx.child(a, "NoweSrodkiTransportu").and_then(|n| {
        cx.flag(n, "P_22").then(|| NewTransport {
            vat22_required: cx.text(n, "P_42_5").map(|v| v == "1"),
            vehicles: cx
                .children(n, "NowySrodekTransportu")
                .map(|v| {
                    v.children()
                        .filter(|c| c.is_element())
                        .filter_map(|c| {
                            let label = vehicle_label(c.tag_name().name())?;
                            Some((label.to_string(), node_text(c)?))
                        })
                        .collect()
                })
                .collect(),
        })
    });
    let margin = cx.child(a, "PMarzy").and_then(|m| {
        cx.flag(m, "P_PMarzy").then(|| {
            if cx.flag(m, "P_PMarzy_2") {
                MarginScheme::TravelAgencies
            } else if cx.flag(m, "P_PMarzy_3_1") {
                MarginScheme::UsedGoods
            } else if cx.flag(m, "P_PMarzy_3_2") {
                MarginScheme::WorksOfArt
            } else if cx.flag(m, "P_PMarzy_3_3") {
                MarginScheme::Antiques
            } else {
                MarginScheme::Unspecified
            }
        })
    });
    Some(Annotations {
        cash_method: cx.flag(a, "P_16"),
        self_billing: cx.flag(a, "P_17"),
        reverse_charge: cx.flag(a, "P_18"),
        split_payment: cx.flag(a, "P_18A"),
        exemption,
        new_transport,
        triangular: cx.flag(a, "P_23"),
        margin,
    })
}

/// Polish labels of the `NowySrodekTransportu` fields (the flags `P_22B`/`P_22C`/`P_22D` that
/// only say which kind of vehicle it is are folded into "Rodzaj").
fn vehicle_label(name: &str) -> Option<&'static str> {
    Some(match name {
        "P_22A" => "Data dopuszczenia do użytku",
        "P_NrWierszaNST" => "Numer wiersza",
        "P_22BMK" => "Marka",
        "P_22BMD" => "Model",
        "P_22BK" => "Kolor",
        "P_22BNR" => "Numer rejestracyjny",
        "P_22BRP" => "Rok produkcji",
        "P_22B" => "Przebieg pojazdu lądowego",
        "P_22B1" => "Numer VIN",
        "P_22B2" => "Numer nadwozia",
        "P_22B3" => "Numer podwozia",
        "P_22B4" => "Numer ramy",
        "P_22BT" => "Typ pojazdu",
        "P_22C" => "Liczba godzin używania jednostki pływającej",
        "P_22C1" => "Numer kadłuba",
        "P_22D" => "Liczba godzin używania statku powietrznego",
        "P_22D1" => "Numer fabryczny",
        _ => return None,
    })
}

fn fa_line(cx: &mut Cx, w: Node, order: bool) -> Line {
    // Zamowienie lines carry the same fields with a `Z` suffix.
    let z = |name: &str| -> String {
        if !order {
            return name.to_string();
        }
        match name {
            "NrWierszaFa" => "NrWierszaZam".to_string(),
            "UU_ID" => "UU_IDZ".to_string(),
            "P_11" => "P_11NettoZ".to_string(),
            "P_11Vat" => "P_11VatZ".to_string(),
            "P_12_XII" => "P_12Z_XII".to_string(),
            "P_12_Zal_15" => "P_12Z_Zal_15".to_string(),
            other => format!("{other}Z"),
        }
    };
    Line {
        number: cx.text(w, &z("NrWierszaFa")),
        uu_id: cx.text(w, &z("UU_ID")),
        date: if order { None } else { cx.date(w, "P_6A") },
        name: cx.text(w, &z("P_7")),
        index: cx.text(w, &z("Indeks")),
        gtin: cx.text(w, &z("GTIN")),
        pkwiu: cx.text(w, &z("PKWiU")),
        cn: cx.text(w, &z("CN")),
        pkob: cx.text(w, &z("PKOB")),
        unit: cx.text(w, &z("P_8A")),
        quantity: cx.dec(w, &z("P_8B")),
        quality: None,
        unit_net_price: cx.dec(w, &z("P_9A")),
        unit_gross_price: if order { None } else { cx.dec(w, "P_9B") },
        discount: if order { None } else { cx.dec(w, "P_10") },
        net: cx.dec(w, &z("P_11")),
        gross: if order { None } else { cx.dec(w, "P_11A") },
        vat: cx.dec(w, &z("P_11Vat")),
        rate: cx.text(w, &z("P_12")),
        oss_rate: cx.dec(w, &z("P_12_XII")),
        annex15: cx.flag(w, &z("P_12_Zal_15")),
        excise: cx.dec(w, &z("KwotaAkcyzy")),
        gtu: cx.text(w, &z("GTU")),
        procedure: cx.text(w, &z("Procedura")),
        exchange_rate: if order { None } else { cx.dec(w, "KursWaluty") },
        before_correction: cx.flag(w, &z("StanPrzed")),
    }
}

/// The VAT summary fields of `Fa`, in schema order, with their Polish labels.
const SUMMARY: [(&str, &str, &str, &str, &str); 13] = [
    ("1", "P_13_1", "P_14_1", "P_14_1W", "23% lub 22%"),
    ("2", "P_13_2", "P_14_2", "P_14_2W", "8% lub 7%"),
    ("3", "P_13_3", "P_14_3", "P_14_3W", "5%"),
    ("4", "P_13_4", "P_14_4", "P_14_4W", "4% lub 3%"),
    ("5", "P_13_5", "P_14_5", "", "OSS"),
    ("6_1", "P_13_6_1", "", "", "0% – sprzedaż krajowa"),
    ("6_2", "P_13_6_2", "", "", "0% – WDT"),
    ("6_3", "P_13_6_3", "", "", "0% – eksport"),
    ("7", "P_13_7", "", "", "zwolnione od podatku"),
    (
        "8",
        "P_13_8",
        "",
        "",
        "np. z wyłączeniem art. 100 ust. 1 pkt 4 ustawy",
    ),
    (
        "9",
        "P_13_9",
        "",
        "",
        "np. na podstawie art. 100 ust. 1 pkt 4 ustawy",
    ),
    ("10", "P_13_10", "", "", "odwrotne obciążenie"),
    ("11", "P_13_11", "", "", "marża"),
];

fn vat_summary(cx: &mut Cx, fa: Node) -> Vec<VatSummaryRow> {
    let mut rows = Vec::new();
    for (key, net, vat, vat_pln, label) in SUMMARY {
        let mut get = |name: &str| {
            if name.is_empty() {
                None
            } else {
                cx.dec(fa, name)
            }
        };
        let row = VatSummaryRow {
            key,
            label,
            net: get(net),
            vat: get(vat),
            vat_pln: get(vat_pln),
        };
        if row.net.is_some() || row.vat.is_some() || row.vat_pln.is_some() {
            rows.push(row);
        }
    }
    rows
}

fn terms(cx: &mut Cx, fa: Node) -> Option<TransactionTerms> {
    let w = cx.child(fa, "WarunkiTransakcji")?;
    let mut pairs = |outer: &str, date: &str, number: &str| {
        let nodes: Vec<Node> = w
            .children()
            .filter(|c| c.has_tag_name((cx.ns, outer)))
            .collect();
        nodes
            .into_iter()
            .map(|n| (cx.date(n, date), cx.text(n, number)))
            .collect::<Vec<_>>()
    };
    let contracts = pairs("Umowy", "DataUmowy", "NrUmowy");
    let orders = pairs("Zamowienia", "DataZamowienia", "NrZamowienia");
    Some(TransactionTerms {
        contracts,
        orders,
        batches: cx.texts(w, "NrPartiiTowaru"),
        delivery_terms: cx.text(w, "WarunkiDostawy"),
        contract_rate: cx.dec(w, "KursUmowny"),
        contract_currency: cx.text(w, "WalutaUmowna"),
        intermediary: cx.flag(w, "PodmiotPosredniczacy"),
    })
}

fn footer(cx: &Cx, root: Node) -> Footer {
    let Some(s) = cx.child(root, "Stopka") else {
        return Footer::default();
    };
    Footer {
        information: cx
            .children(s, "Informacje")
            .filter_map(|i| cx.text(i, "StopkaFaktury"))
            .collect(),
        registers: cx
            .children(s, "Rejestry")
            .map(|r| Registers {
                full_name: cx.text(r, "PelnaNazwa"),
                krs: cx.text(r, "KRS"),
                regon: cx.text(r, "REGON"),
                bdo: cx.text(r, "BDO"),
            })
            .collect(),
    }
}

fn meta(cx: &Cx, parent: Node, outer: &str, k: &str, v: &str) -> Vec<(String, String)> {
    parent
        .children()
        .filter(|c| c.has_tag_name((cx.ns, outer)))
        .map(|m| {
            (
                cx.text(m, k).unwrap_or_default(),
                cx.text(m, v).unwrap_or_default(),
            )
        })
        .collect()
}

fn attachments(cx: &Cx, root: Node) -> Vec<AttachmentBlock> {
    let Some(z) = cx.child(root, "Zalacznik") else {
        return Vec::new();
    };
    cx.children(z, "BlokDanych")
        .map(|b| AttachmentBlock {
            header: cx.text(b, "ZNaglowek"),
            meta: meta(cx, b, "MetaDane", "ZKlucz", "ZWartosc"),
            paragraphs: cx
                .children(b, "Tekst")
                .flat_map(|t| cx.texts(t, "Akapit"))
                .collect(),
            tables: cx
                .children(b, "Tabela")
                .map(|t| AttachmentTable {
                    meta: meta(cx, t, "TMetaDane", "TKlucz", "TWartosc"),
                    description: cx.text(t, "Opis"),
                    columns: cx
                        .child(t, "TNaglowek")
                        .map(|h| {
                            cx.children(h, "Kol")
                                .map(|k| cx.text(k, "NKom").unwrap_or_default())
                                .collect()
                        })
                        .unwrap_or_default(),
                    rows: cx
                        .children(t, "Wiersz")
                        .map(|w| {
                            cx.children(w, "WKom")
                                .map(|c| node_text(c).unwrap_or_default())
                                .collect()
                        })
                        .collect(),
                    sum: cx
                        .child(t, "Suma")
                        .map(|s| {
                            cx.children(s, "SKom")
                                .map(|c| node_text(c).unwrap_or_default())
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect(),
        })
        .collect()
}

fn fa(cx: &mut Cx, form: Form, root: Node) -> Result<InvoiceView, ViewError> {
    let header = header(cx, root);
    let (seller, buyer) = main_parties(cx, root)?;
    let fa = required(cx.child(root, "Fa"), "Fa")?;
    let number = required(cx.text(fa, "P_2"), "Fa/P_2")?;
    let issue_raw = required(cx.text(fa, "P_1"), "Fa/P_1")?;
    let issue_date = parse_date(&issue_raw).ok_or(ViewError::InvalidValue {
        element: "Fa/P_1",
        value: issue_raw.chars().take(40).collect(),
    })?;
    let kind = InvoiceKind::from_code(&required(cx.text(fa, "RodzajFaktury"), "Fa/RodzajFaktury")?);
    let sale_date = match cx.date(fa, "P_6") {
        Some(d) => Some(SaleDate::Date(d)),
        None => cx.child(fa, "OkresFa").map(|o| SaleDate::Period {
            from: cx.date(o, "P_6_Od"),
            to: cx.date(o, "P_6_Do"),
        }),
    };
    let third_parties = third_parties(cx, root);
    let authorised = cx
        .child(root, "PodmiotUpowazniony")
        .map(|n| AuthorisedSubject {
            party: party(cx, n),
            role: cx.text(n, "RolaPU"),
        });
    let lines: Vec<Node> = cx.children(fa, "FaWiersz").collect();
    let lines = lines.into_iter().map(|w| fa_line(cx, w, false)).collect();
    let partial_advances = {
        let nodes: Vec<Node> = cx.children(fa, "ZaliczkaCzesciowa").collect();
        nodes
            .into_iter()
            .map(|z| PartialAdvance {
                date: cx.date(z, "P_6Z"),
                amount: cx.dec(z, "P_15Z"),
                exchange_rate: cx.dec(z, "KursWalutyZW"),
            })
            .collect()
    };
    let order = match cx.child(fa, "Zamowienie") {
        Some(z) => {
            let nodes: Vec<Node> = cx.children(z, "ZamowienieWiersz").collect();
            Some(Order {
                value: cx.dec(z, "WartoscZamowienia"),
                lines: nodes.into_iter().map(|w| fa_line(cx, w, true)).collect(),
            })
        }
        None => None,
    };
    let view = InvoiceView {
        form,
        kind,
        number,
        issue_date,
        issue_place: cx.text(fa, "P_1M"),
        sale_date,
        currency: cx.text(fa, "KodWaluty").unwrap_or_else(|| "PLN".into()),
        exchange_rate: cx.dec(fa, "KursWalutyZ"),
        header,
        seller,
        buyer,
        third_parties,
        authorised,
        wz: cx.texts(fa, "WZ"),
        lines,
        vat_summary: vat_summary(cx, fa),
        total: cx.dec(fa, "P_15"),
        rr_totals: None,
        annotations: annotations(cx, fa),
        correction: correction(cx, fa),
        partial_advances,
        advance_invoices: cx
            .children(fa, "FakturaZaliczkowa")
            .map(|z| AdvanceInvoiceRef {
                ksef_number: cx.text(z, "NrKSeFFaZaliczkowej"),
                number: cx.text(z, "NrFaZaliczkowej"),
            })
            .collect(),
        fp: cx.flag(fa, "FP"),
        tp: cx.flag(fa, "TP"),
        excise_refund: cx.flag(fa, "ZwrotAkcyzy"),
        additional: key_values(cx, fa),
        payment_documents: Vec::new(),
        settlement: settlement(cx, fa),
        payment: payment(cx, fa, false),
        terms: terms(cx, fa),
        order,
        footer: footer(cx, root),
        attachments: attachments(cx, root),
        warnings: std::mem::take(&mut cx.warnings),
    };
    Ok(view)
}

fn rr_line(cx: &mut Cx, w: Node) -> Line {
    Line {
        number: cx.text(w, "NrWierszaFa"),
        uu_id: cx.text(w, "UU_ID"),
        date: cx.date(w, "P_4AA"),
        name: cx.text(w, "P_5"),
        gtin: cx.text(w, "GTIN"),
        pkwiu: cx.text(w, "PKWiU"),
        cn: cx.text(w, "CN"),
        unit: cx.text(w, "P_6A"),
        quantity: cx.dec(w, "P_6B"),
        quality: cx.text(w, "P_6C"),
        unit_net_price: cx.dec(w, "P_7"),
        net: cx.dec(w, "P_8"),
        rate: cx.text(w, "P_9"),
        vat: cx.dec(w, "P_10"),
        gross: cx.dec(w, "P_11"),
        exchange_rate: cx.dec(w, "KursWaluty"),
        before_correction: cx.flag(w, "StanPrzed"),
        ..Line::default()
    }
}

fn rr(cx: &mut Cx, root: Node) -> Result<InvoiceView, ViewError> {
    let header = header(cx, root);
    let (seller, buyer) = main_parties(cx, root)?;
    let fa = required(cx.child(root, "FakturaRR"), "FakturaRR")?;
    let number = required(cx.text(fa, "P_4C"), "FakturaRR/P_4C")?;
    let issue_raw = required(cx.text(fa, "P_4B"), "FakturaRR/P_4B")?;
    let issue_date = parse_date(&issue_raw).ok_or(ViewError::InvalidValue {
        element: "FakturaRR/P_4B",
        value: issue_raw.chars().take(40).collect(),
    })?;
    let kind = InvoiceKind::from_code(&required(
        cx.text(fa, "RodzajFaktury"),
        "FakturaRR/RodzajFaktury",
    )?);
    let third_parties = third_parties(cx, root);
    let lines: Vec<Node> = cx.children(fa, "FakturaRRWiersz").collect();
    let lines = lines.into_iter().map(|w| rr_line(cx, w)).collect();
    let totals = RrTotals {
        value: cx.dec(fa, "P_11_1"),
        value_pln: cx.dec(fa, "P_11_1W"),
        refund: cx.dec(fa, "P_11_2"),
        refund_pln: cx.dec(fa, "P_11_2W"),
        total: cx.dec(fa, "P_12_1"),
        total_pln: cx.dec(fa, "P_12_1W"),
        total_in_words: cx.text(fa, "P_12_2"),
    };
    let payment_documents = {
        let nodes: Vec<Node> = cx.children(fa, "DokumentZaplaty").collect();
        nodes
            .into_iter()
            .map(|d| PaymentDocument {
                number: cx.text(d, "NrDokumentu"),
                date: cx.date(d, "DataDokumentu"),
            })
            .collect()
    };
    Ok(InvoiceView {
        form: Form::FaRr1,
        kind,
        number,
        issue_date,
        issue_place: cx.text(fa, "P_1M"),
        sale_date: cx.date(fa, "P_4A").map(SaleDate::Date),
        currency: cx.text(fa, "KodWaluty").unwrap_or_else(|| "PLN".into()),
        exchange_rate: None,
        header,
        seller,
        buyer,
        third_parties,
        authorised: None,
        wz: Vec::new(),
        lines,
        vat_summary: Vec::new(),
        total: totals.total.clone(),
        rr_totals: Some(totals),
        annotations: None,
        correction: correction(cx, fa),
        partial_advances: Vec::new(),
        advance_invoices: Vec::new(),
        fp: false,
        tp: false,
        excise_refund: false,
        additional: key_values(cx, fa),
        payment_documents,
        settlement: settlement(cx, fa),
        payment: payment(cx, fa, true),
        terms: None,
        order: None,
        footer: footer(cx, root),
        attachments: Vec::new(),
        warnings: std::mem::take(&mut cx.warnings),
    })
}
