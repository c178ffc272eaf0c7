//! The document as a reader sees it: sections in the order of the Ministry's visualisation,
//! each a list of blocks (label/value fields, side-by-side panels, tables, text), every value
//! already formatted the Polish way (`1 234,56 zł`, `DD.MM.RRRR`). The HTML renderer draws
//! this; the PDF renderer can draw the same, so both show the same strings.

use time::Date;

use crate::decimal::{Decimal, currency_symbol, money};
use crate::model::*;

/// A label and its formatted value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub label: String,
    pub value: String,
}

/// A titled group of fields (a party, a bank account…), drawn side by side with its siblings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panel {
    pub title: String,
    pub fields: Vec<Field>,
}

/// A table; `numeric[i]` says whether column `i` holds numbers (right-aligned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub columns: Vec<String>,
    pub numeric: Vec<bool>,
    pub rows: Vec<Vec<String>>,
}

/// One piece of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    Subheading(String),
    Fields(Vec<Field>),
    Panels(Vec<Panel>),
    Table(Table),
    Text(String),
    /// A line to stand out (a total).
    Emphasis(Field),
}

/// A titled section (`Sprzedawca / Nabywca`, `Szczegóły`, `Pozycje`…).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// A stable identifier (`parties`, `details`, `lines`…), used as a CSS class.
    pub id: &'static str,
    pub title: String,
    pub blocks: Vec<Block>,
}

/// The whole visualisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// "Faktura podstawowa", "Faktura korygująca", "Faktura VAT RR"…
    pub title: String,
    /// `P_2` / `P_4C`.
    pub number: String,
    /// The KSeF number when known.
    pub ksef_number: Option<String>,
    /// The sections in display order (header excluded; footer included).
    pub sections: Vec<Section>,
}

impl Layout {
    /// Every string of the layout in reading order (titles, labels, values, cells), one per
    /// line: what a text extractor should find in any rendering of it.
    pub fn text(&self) -> Vec<String> {
        let mut out = vec![self.title.clone(), self.number.clone()];
        out.extend(self.ksef_number.clone());
        for s in &self.sections {
            out.push(s.title.clone());
            for b in &s.blocks {
                match b {
                    Block::Subheading(t) | Block::Text(t) => out.push(t.clone()),
                    Block::Fields(fs) => {
                        for f in fs {
                            out.push(format!("{}: {}", f.label, f.value));
                        }
                    }
                    Block::Emphasis(f) => out.push(format!("{}: {}", f.label, f.value)),
                    Block::Panels(ps) => {
                        for p in ps {
                            out.push(p.title.clone());
                            for f in &p.fields {
                                out.push(format!("{}: {}", f.label, f.value));
                            }
                        }
                    }
                    Block::Table(t) => {
                        out.push(t.columns.join(" | "));
                        for r in &t.rows {
                            out.push(r.join(" | "));
                        }
                    }
                }
            }
        }
        out
    }
}

/// `DD.MM.RRRR`.
pub fn date(d: Date) -> String {
    format!("{:02}.{:02}.{:04}", d.day(), u8::from(d.month()), d.year())
}

fn field(label: &str, value: impl Into<String>) -> Field {
    Field {
        label: label.to_string(),
        value: value.into(),
    }
}

/// Pushes a field when the value is present.
fn opt(fields: &mut Vec<Field>, label: &str, value: Option<impl Into<String>>) {
    if let Some(v) = value {
        fields.push(field(label, v));
    }
}

/// The Polish name of the invoice kind, as in the header.
pub fn kind_title(view: &InvoiceView) -> String {
    let collective = view.correction.as_ref().is_some_and(|c| c.period.is_some());
    match &view.kind {
        InvoiceKind::Vat => "Faktura podstawowa".into(),
        InvoiceKind::Kor if collective => "Faktura korygująca zbiorcza (rabat)".into(),
        InvoiceKind::Kor => "Faktura korygująca".into(),
        InvoiceKind::Zal => "Faktura zaliczkowa".into(),
        InvoiceKind::Roz => "Faktura rozliczeniowa".into(),
        InvoiceKind::Upr => "Faktura uproszczona".into(),
        InvoiceKind::KorZal => "Faktura korygująca fakturę zaliczkową".into(),
        InvoiceKind::KorRoz => "Faktura korygująca fakturę rozliczeniową".into(),
        InvoiceKind::VatRr => "Faktura VAT RR".into(),
        InvoiceKind::KorVatRr => "Faktura korygująca VAT RR".into(),
        InvoiceKind::Other(code) => format!("Faktura ({code})"),
    }
}

/// The label of a VAT rate code (`P_12`, FA_RR `P_9`).
pub fn rate_label(code: &str) -> String {
    match code {
        "0 KR" => "0% KR".into(),
        "0 WDT" => "0% WDT".into(),
        "0 EX" => "0% EX".into(),
        other => match Decimal::parse(other) {
            Some(d) => format!("{}%", d.number()),
            None => other.to_string(),
        },
    }
}

fn role_label(code: &str) -> String {
    match code {
        "1" => "Faktor",
        "2" => "Odbiorca",
        "3" => "Podmiot pierwotny",
        "4" => "Dodatkowy nabywca",
        "5" => "Wystawca faktury",
        "6" => "Dokonujący płatności",
        "7" => "Jednostka samorządu terytorialnego – wystawca",
        "8" => "Jednostka samorządu terytorialnego – odbiorca",
        "9" => "Członek grupy VAT – wystawca",
        "10" => "Członek grupy VAT – odbiorca",
        "11" => "Pracownik",
        other => return format!("rola {other}"),
    }
    .into()
}

fn authorised_role(code: &str) -> String {
    match code {
        "1" => "Organ egzekucyjny",
        "2" => "Komornik sądowy",
        "3" => "Przedstawiciel podatkowy",
        other => return format!("rola {other}"),
    }
    .into()
}

fn taxpayer_status(code: &str) -> String {
    match code {
        "1" => "Stan likwidacji",
        "2" => "Postępowanie restrukturyzacyjne",
        "3" => "Stan upadłości",
        "4" => "Przedsiębiorstwo w spadku",
        other => return other.to_string(),
    }
    .into()
}

fn correction_effect(code: &str) -> String {
    match code {
        "1" => "Korekta skutkująca w dacie ujęcia faktury pierwotnej",
        "2" => "Korekta skutkująca w dacie wystawienia faktury korygującej",
        "3" => "Korekta skutkująca w dacie innej",
        "4" => "Korekta skutkująca w dacie dokonania zwrotu całości lub części należności",
        other => return other.to_string(),
    }
    .into()
}

fn procedure_label(code: &str) -> String {
    match code {
        "WSTO_EE" => "WSTO_EE – wewnątrzwspólnotowa sprzedaż towarów na odległość".into(),
        "IED" => "IED – dostawa przez interfejs elektroniczny".into(),
        "TT_D" => "TT_D – dostawa w procedurze trójstronnej przez drugiego w kolejności".into(),
        "I_42" | "I_63" | "B_SPV" | "B_SPV_DOSTAWA" | "B_MPV_PROWIZJA" => code.to_string(),
        other => other.to_string(),
    }
}

fn address_text(a: &Address) -> String {
    let mut parts: Vec<String> = Vec::new();
    parts.extend(a.line1.clone());
    parts.extend(a.line2.clone());
    if let Some(c) = &a.country
        && c != "PL"
    {
        parts.push(c.clone());
    }
    parts.join(", ")
}

fn party_fields(p: &Party) -> Vec<Field> {
    let mut f = Vec::new();
    match &p.id {
        PartyId::Nip(n) => f.push(field("NIP", n.clone())),
        PartyId::Internal(i) => f.push(field("Identyfikator wewnętrzny", i.clone())),
        PartyId::VatUe { country, number } => {
            f.push(field("Numer VAT-UE", format!("{country}{number}")))
        }
        PartyId::Other { country, number } => f.push(field(
            "Identyfikator podatkowy inny",
            match country {
                Some(c) => format!("{c} {number}"),
                None => number.clone(),
            },
        )),
        PartyId::None => f.push(field("Identyfikator podatkowy", "brak identyfikatora")),
    }
    opt(&mut f, "Nazwa", p.name.clone());
    opt(&mut f, "Prefiks VAT", p.vat_prefix.clone());
    opt(&mut f, "Numer EORI", p.eori.clone());
    if let Some(a) = &p.address {
        f.push(field("Adres", address_text(a)));
        opt(&mut f, "GLN", a.gln.clone());
    }
    if let Some(a) = &p.correspondence_address {
        f.push(field("Adres do korespondencji", address_text(a)));
    }
    for c in &p.contacts {
        opt(&mut f, "E-mail", c.email.clone());
        opt(&mut f, "Tel.", c.phone.clone());
    }
    opt(
        &mut f,
        "Status podatnika",
        p.taxpayer_status.as_deref().map(taxpayer_status),
    );
    opt(&mut f, "Numer klienta", p.customer_number.clone());
    opt(&mut f, "Identyfikator nabywcy", p.buyer_id.clone());
    if p.jst == Some(true) {
        f.push(field("Faktura dotyczy jednostki podrzędnej JST", "TAK"));
    }
    if p.gv == Some(true) {
        f.push(field("Faktura dotyczy członka grupy VAT", "TAK"));
    }
    f
}

/// A table whose empty columns are dropped.
struct TableBuilder {
    columns: Vec<(&'static str, bool)>,
    rows: Vec<Vec<Option<String>>>,
}

impl TableBuilder {
    fn new(columns: &[(&'static str, bool)]) -> TableBuilder {
        TableBuilder {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<Option<String>>) {
        self.rows.push(cells);
    }

    fn build(self) -> Option<Table> {
        if self.rows.is_empty() {
            return None;
        }
        let keep: Vec<bool> = (0..self.columns.len())
            .map(|i| {
                self.rows
                    .iter()
                    .any(|r| r.get(i).is_some_and(|c| c.is_some()))
            })
            .collect();
        let pick = |i: &usize| keep.get(*i).copied().unwrap_or(false);
        let idx: Vec<usize> = (0..self.columns.len()).filter(pick).collect();
        Some(Table {
            columns: idx.iter().map(|&i| self.columns[i].0.to_string()).collect(),
            numeric: idx.iter().map(|&i| self.columns[i].1).collect(),
            rows: self
                .rows
                .into_iter()
                .map(|r| {
                    idx.iter()
                        .map(|&i| r.get(i).cloned().flatten().unwrap_or_default())
                        .collect()
                })
                .collect(),
        })
    }
}

fn amt(d: &Option<Decimal>) -> Option<String> {
    d.as_ref().map(Decimal::amount)
}

fn num(d: &Option<Decimal>) -> Option<String> {
    d.as_ref().map(Decimal::number)
}

fn lines_table(view: &InvoiceView, lines: &[Line]) -> Option<Table> {
    if view.form.is_rr() {
        let mut t = TableBuilder::new(&[
            ("Lp.", false),
            ("Nazwa produktu lub usługi", false),
            ("Miara", false),
            ("Ilość", true),
            ("Opis klasy lub jakości", false),
            ("Cena jedn.", true),
            ("Wartość bez zwrotu podatku", true),
            ("Stawka zryczałtowanego zwrotu", true),
            ("Kwota zwrotu podatku", true),
            ("Wartość ze zwrotem podatku", true),
            ("Data dokonania nabycia", false),
            ("GTIN", false),
            ("PKWiU", false),
            ("CN", false),
            ("Kurs waluty", true),
            ("Stan przed", false),
        ]);
        for (i, l) in lines.iter().enumerate() {
            t.row(vec![
                Some(l.number.clone().unwrap_or_else(|| (i + 1).to_string())),
                l.name.clone(),
                l.unit.clone(),
                num(&l.quantity),
                l.quality.clone(),
                amt(&l.unit_net_price),
                amt(&l.net),
                l.rate.as_deref().map(rate_label),
                amt(&l.vat),
                amt(&l.gross),
                l.date.map(date),
                l.gtin.clone(),
                l.pkwiu.clone(),
                l.cn.clone(),
                num(&l.exchange_rate),
                l.before_correction.then(|| "TAK".to_string()),
            ]);
        }
        return t.build();
    }
    let mut t = TableBuilder::new(&[
        ("Lp.", false),
        ("Nazwa towaru lub usługi", false),
        ("Indeks", false),
        ("GTIN", false),
        ("PKWiU", false),
        ("CN", false),
        ("PKOB", false),
        ("Miara", false),
        ("Ilość", true),
        ("Cena jedn. netto", true),
        ("Cena jedn. brutto", true),
        ("Rabat", true),
        ("Stawka podatku", true),
        ("Stawka podatku OSS", true),
        ("Wartość sprzedaży netto", true),
        ("Kwota podatku", true),
        ("Wartość sprzedaży brutto", true),
        ("Data dostawy / wykonania", false),
        ("GTU", false),
        ("Procedura", false),
        ("Zał. nr 15", false),
        ("Kwota podatku akcyzowego", true),
        ("Kurs waluty", true),
        ("Stan przed", false),
    ]);
    for (i, l) in lines.iter().enumerate() {
        t.row(vec![
            Some(l.number.clone().unwrap_or_else(|| (i + 1).to_string())),
            l.name.clone(),
            l.index.clone(),
            l.gtin.clone(),
            l.pkwiu.clone(),
            l.cn.clone(),
            l.pkob.clone(),
            l.unit.clone(),
            num(&l.quantity),
            amt(&l.unit_net_price),
            amt(&l.unit_gross_price),
            amt(&l.discount),
            l.rate.as_deref().map(rate_label),
            l.oss_rate.as_ref().map(|r| format!("{}%", r.number())),
            amt(&l.net),
            amt(&l.vat),
            amt(&l.gross),
            l.date.map(date),
            l.gtu.clone(),
            l.procedure.as_deref().map(procedure_label),
            l.annex15.then(|| "TAK".to_string()),
            amt(&l.excise),
            num(&l.exchange_rate),
            l.before_correction.then(|| "TAK".to_string()),
        ]);
    }
    t.build()
}

fn total_label(kind: &InvoiceKind) -> &'static str {
    match kind {
        InvoiceKind::Zal => "Otrzymana kwota zapłaty (zaliczki)",
        InvoiceKind::KorZal => "Korekta kwoty zapłaty (zaliczki)",
        InvoiceKind::Roz => "Kwota pozostała do zapłaty",
        k if k.is_correction() => "Korekta kwoty należności ogółem",
        _ => "Kwota należności ogółem",
    }
}

/// Builds the layout of `view`; `ksef_number` goes to the header.
pub fn build(view: &InvoiceView, ksef_number: Option<&str>) -> Layout {
    let cur = view.currency.as_str();
    let mut sections = Vec::new();

    // Dane faktury korygowanej
    if let Some(c) = &view.correction {
        let mut blocks = Vec::new();
        let mut f = Vec::new();
        opt(&mut f, "Przyczyna korekty", c.reason.clone());
        opt(
            &mut f,
            "Typ skutku korekty",
            c.effect.as_deref().map(correction_effect),
        );
        opt(&mut f, "Okres, którego dotyczy rabat", c.period.clone());
        opt(
            &mut f,
            "Poprawny numer faktury korygowanej",
            c.correct_number.clone(),
        );
        opt(
            &mut f,
            "Kwota zapłaty (zaliczki) przed korektą",
            c.advance_before.as_ref().map(|a| money(a, cur)),
        );
        opt(
            &mut f,
            "Kurs waluty przed korektą",
            num(&c.exchange_rate_before),
        );
        if !f.is_empty() {
            blocks.push(Block::Fields(f));
        }
        for (i, k) in c.corrected.iter().enumerate() {
            let mut f = Vec::new();
            opt(
                &mut f,
                "Data wystawienia faktury korygowanej",
                k.issue_date.map(date),
            );
            opt(&mut f, "Numer faktury korygowanej", k.number.clone());
            opt(
                &mut f,
                "Numer KSeF faktury korygowanej",
                k.ksef_number.clone(),
            );
            if k.outside_ksef {
                f.push(field(
                    "Numer KSeF faktury korygowanej",
                    "faktura wystawiona poza KSeF",
                ));
            }
            if c.corrected.len() > 1 {
                blocks.push(Block::Subheading(format!("Faktura korygowana {}", i + 1)));
            }
            blocks.push(Block::Fields(f));
        }
        let mut panels = Vec::new();
        if let Some(p) = &c.seller_before {
            panels.push(Panel {
                title: "Sprzedawca – dane z faktury korygowanej".into(),
                fields: party_fields(p),
            });
        }
        for p in &c.buyers_before {
            panels.push(Panel {
                title: "Nabywca – dane z faktury korygowanej".into(),
                fields: party_fields(p),
            });
        }
        if !panels.is_empty() {
            blocks.push(Block::Panels(panels));
        }
        sections.push(Section {
            id: "correction",
            title: "Dane faktury korygowanej".into(),
            blocks,
        });
    }

    // Sprzedawca / Nabywca / Podmiot trzeci / Podmiot upoważniony
    {
        let (seller_title, buyer_title) = if view.form.is_rr() {
            (
                "Sprzedawca (rolnik ryczałtowy)",
                "Nabywca (wystawca faktury)",
            )
        } else {
            ("Sprzedawca", "Nabywca")
        };
        let mut blocks = vec![Block::Panels(vec![
            Panel {
                title: seller_title.into(),
                fields: party_fields(&view.seller),
            },
            Panel {
                title: buyer_title.into(),
                fields: party_fields(&view.buyer),
            },
        ])];
        let mut panels = Vec::new();
        for (i, t) in view.third_parties.iter().enumerate() {
            let mut fields = party_fields(&t.party);
            if let Some(r) = &t.role {
                fields.insert(0, field("Rola", role_label(r)));
            }
            if let Some(o) = &t.other_role {
                fields.insert(0, field("Rola inna", o.clone()));
            }
            opt(
                &mut fields,
                "Udział",
                t.share.as_ref().map(|s| format!("{}%", s.number())),
            );
            panels.push(Panel {
                title: format!("Podmiot trzeci {}", i + 1),
                fields,
            });
        }
        if let Some(a) = &view.authorised {
            let mut fields = party_fields(&a.party);
            if let Some(r) = &a.role {
                fields.insert(0, field("Rola", authorised_role(r)));
            }
            panels.push(Panel {
                title: "Podmiot upoważniony".into(),
                fields,
            });
        }
        if !panels.is_empty() {
            blocks.push(Block::Panels(panels));
        }
        sections.push(Section {
            id: "parties",
            title: if view.third_parties.is_empty() {
                "Sprzedawca / Nabywca".into()
            } else {
                "Sprzedawca / Nabywca / Podmiot trzeci".into()
            },
            blocks,
        });
    }

    // Szczegóły
    {
        let mut f = vec![field("Data wystawienia", date(view.issue_date))];
        opt(&mut f, "Miejsce wystawienia", view.issue_place.clone());
        let sale_label = if view.form.is_rr() {
            "Data dokonania nabycia"
        } else if view.kind.is_advance() {
            "Data otrzymania zapłaty"
        } else {
            "Data dokonania lub zakończenia dostawy towarów lub wykonania usługi"
        };
        match &view.sale_date {
            Some(SaleDate::Date(d)) => f.push(field(sale_label, date(*d))),
            Some(SaleDate::Period { from, to }) => {
                let mut v = Vec::new();
                if let Some(d) = from {
                    v.push(format!("od {}", date(*d)));
                }
                if let Some(d) = to {
                    v.push(format!("do {}", date(*d)));
                }
                f.push(field(sale_label, v.join(" ")));
            }
            None => {}
        }
        f.push(field("Kod waluty", view.currency.clone()));
        opt(&mut f, "Kurs waluty", num(&view.exchange_rate));
        let mut blocks = vec![Block::Fields(f)];
        let mut t = TableBuilder::new(&[
            ("Data otrzymania płatności", false),
            ("Kwota płatności", true),
            ("Kurs waluty", true),
        ]);
        for z in &view.partial_advances {
            t.row(vec![
                z.date.map(date),
                z.amount.as_ref().map(|a| money(a, cur)),
                num(&z.exchange_rate),
            ]);
        }
        if let Some(t) = t.build() {
            blocks.push(Block::Subheading("Zaliczki częściowe".into()));
            blocks.push(Block::Table(t));
        }
        if !view.advance_invoices.is_empty() {
            let mut t = TableBuilder::new(&[
                ("Numer KSeF faktury zaliczkowej", false),
                ("Numer faktury zaliczkowej (poza KSeF)", false),
            ]);
            for a in &view.advance_invoices {
                t.row(vec![a.ksef_number.clone(), a.number.clone()]);
            }
            if let Some(t) = t.build() {
                blocks.push(Block::Subheading(
                    "Numery wcześniejszych faktur zaliczkowych".into(),
                ));
                blocks.push(Block::Table(t));
            }
        }
        sections.push(Section {
            id: "details",
            title: "Szczegóły".into(),
            blocks,
        });
    }

    // Pozycje
    {
        let mut blocks = Vec::new();
        if cur != "PLN" {
            blocks.push(Block::Text(format!("Faktura wystawiona w walucie {cur}")));
        }
        if let Some(t) = lines_table(view, &view.lines) {
            blocks.push(Block::Table(t));
        }
        if let Some(rr) = &view.rr_totals {
            let with_pln = |v: &Option<Decimal>, pln: &Option<Decimal>| {
                v.as_ref().map(|v| match (cur, pln) {
                    ("PLN", _) | (_, None) => money(v, cur),
                    (_, Some(p)) => format!("{} ({})", money(v, cur), money(p, "PLN")),
                })
            };
            let mut f = Vec::new();
            opt(
                &mut f,
                "Wartość nabytych produktów rolnych lub usług rolniczych",
                with_pln(&rr.value, &rr.value_pln),
            );
            opt(
                &mut f,
                "Kwota zryczałtowanego zwrotu podatku",
                with_pln(&rr.refund, &rr.refund_pln),
            );
            if !f.is_empty() {
                blocks.push(Block::Fields(f));
            }
            if let Some(v) = with_pln(&rr.total, &rr.total_pln) {
                blocks.push(Block::Emphasis(field("Kwota należności ogółem", v)));
            }
            if let Some(w) = &rr.total_in_words {
                blocks.push(Block::Fields(vec![field("Słownie", w.clone())]));
            }
        } else if let Some(total) = &view.total {
            blocks.push(Block::Emphasis(field(
                total_label(&view.kind),
                money(total, cur),
            )));
        }
        sections.push(Section {
            id: "lines",
            title: "Pozycje".into(),
            blocks,
        });
    }

    // Zamówienie (advance invoices)
    if let Some(o) = &view.order {
        let mut blocks = Vec::new();
        if let Some(v) = &o.value {
            blocks.push(Block::Fields(vec![field(
                "Wartość zamówienia lub umowy z uwzględnieniem kwoty podatku",
                money(v, cur),
            )]));
        }
        if let Some(t) = lines_table(view, &o.lines) {
            blocks.push(Block::Table(t));
        }
        sections.push(Section {
            id: "order",
            title: "Zamówienie".into(),
            blocks,
        });
    }

    // Podsumowanie stawek podatku
    if !view.vat_summary.is_empty() {
        let mut t = TableBuilder::new(&[
            ("Lp.", false),
            ("Stawka podatku", false),
            ("Kwota netto", true),
            ("Kwota podatku", true),
            ("Kwota brutto", true),
            ("Kwota podatku PLN", true),
        ]);
        for (i, r) in view.vat_summary.iter().enumerate() {
            t.row(vec![
                Some((i + 1).to_string()),
                Some(r.label.to_string()),
                amt(&r.net),
                amt(&r.vat),
                r.gross().as_ref().map(Decimal::amount),
                amt(&r.vat_pln),
            ]);
        }
        let mut blocks = Vec::new();
        if let Some(t) = t.build() {
            blocks.push(Block::Table(t));
        }
        if cur != "PLN" {
            blocks.push(Block::Text(format!(
                "Kwoty w walucie faktury ({}), kwota podatku PLN w złotych",
                currency_symbol(cur)
            )));
        }
        sections.push(Section {
            id: "vat-summary",
            title: "Podsumowanie stawek podatku".into(),
            blocks,
        });
    }

    // Adnotacje
    if let Some(a) = &view.annotations {
        let mut blocks = Vec::new();
        let mut items = Vec::new();
        if a.cash_method {
            items.push("Metoda kasowa");
        }
        if a.self_billing {
            items.push("Samofakturowanie");
        }
        if a.reverse_charge {
            items.push("Odwrotne obciążenie");
        }
        if a.split_payment {
            items.push("Mechanizm podzielonej płatności");
        }
        if a.triangular {
            items.push("Procedura trójstronna uproszczona");
        }
        for i in items {
            blocks.push(Block::Text(i.into()));
        }
        if let Some(m) = &a.margin {
            let kind = match m {
                MarginScheme::TravelAgencies => "biura podróży",
                MarginScheme::UsedGoods => "towary używane",
                MarginScheme::WorksOfArt => "dzieła sztuki",
                MarginScheme::Antiques => "przedmioty kolekcjonerskie i antyki",
                MarginScheme::Unspecified => "tak",
            };
            blocks.push(Block::Fields(vec![field("Procedura marży", kind)]));
        }
        if let Some(z) = &a.exemption {
            let mut f = vec![field(
                "Zwolnienie od podatku",
                "dostawa towarów lub świadczenie usług zwolnionych od podatku",
            )];
            opt(
                &mut f,
                "Przepis ustawy albo aktu wydanego na podstawie ustawy",
                z.act.clone(),
            );
            opt(&mut f, "Przepis dyrektywy 2006/112/WE", z.directive.clone());
            opt(&mut f, "Inna podstawa prawna", z.other.clone());
            blocks.push(Block::Fields(f));
        }
        if let Some(n) = &a.new_transport {
            blocks.push(Block::Subheading(
                "Wewnątrzwspólnotowa dostawa nowych środków transportu".into(),
            ));
            if let Some(v) = n.vat22_required {
                blocks.push(Block::Text(
                    if v {
                        "Istnieje obowiązek wystawienia dokumentu VAT-22"
                    } else {
                        "Nie istnieje obowiązek wystawienia dokumentu VAT-22"
                    }
                    .into(),
                ));
            }
            for v in &n.vehicles {
                blocks.push(Block::Fields(
                    v.iter().map(|(l, x)| field(l, x.clone())).collect(),
                ));
            }
        }
        if !blocks.is_empty() {
            sections.push(Section {
                id: "annotations",
                title: "Adnotacje".into(),
                blocks,
            });
        }
    }

    // Dodatkowe informacje
    {
        let mut blocks = Vec::new();
        if view.tp {
            blocks.push(Block::Text(
                "Istniejące powiązania między nabywcą a dokonującym dostawy towarów lub usługodawcą"
                    .into(),
            ));
        }
        if view.fp {
            blocks.push(Block::Text(
                "Faktura, o której mowa w art. 109 ust. 3d ustawy".into(),
            ));
        }
        if view.excise_refund {
            blocks.push(Block::Text(
                "Informacja dodatkowa związana ze zwrotem podatku akcyzowego zawartego w cenie oleju napędowego"
                    .into(),
            ));
        }
        let mut t = TableBuilder::new(&[
            ("Lp.", false),
            ("Numer wiersza", false),
            ("Rodzaj informacji", false),
            ("Treść informacji", false),
        ]);
        for (i, d) in view.additional.iter().enumerate() {
            t.row(vec![
                Some((i + 1).to_string()),
                d.line.clone(),
                Some(d.key.clone()),
                Some(d.value.clone()),
            ]);
        }
        if let Some(t) = t.build() {
            blocks.push(Block::Subheading("Dodatkowy opis".into()));
            blocks.push(Block::Table(t));
        }
        let mut t = TableBuilder::new(&[
            ("Lp.", false),
            ("Numer dokumentu", false),
            ("Data dokumentu", false),
        ]);
        for (i, d) in view.payment_documents.iter().enumerate() {
            t.row(vec![
                Some((i + 1).to_string()),
                d.number.clone(),
                d.date.map(date),
            ]);
        }
        if let Some(t) = t.build() {
            blocks.push(Block::Subheading("Dokumenty zapłaty".into()));
            blocks.push(Block::Table(t));
        }
        if !blocks.is_empty() {
            sections.push(Section {
                id: "additional",
                title: "Dodatkowe informacje".into(),
                blocks,
            });
        }
    }

    // Rozliczenie
    if let Some(s) = &view.settlement {
        let mut blocks = Vec::new();
        for (title, items) in [("Obciążenia", &s.charges), ("Odliczenia", &s.deductions)] {
            let mut t = TableBuilder::new(&[("Powód", false), ("Kwota", true)]);
            for (a, reason) in items {
                t.row(vec![Some(reason.clone()), amt(a)]);
            }
            if let Some(t) = t.build() {
                blocks.push(Block::Subheading(title.into()));
                blocks.push(Block::Table(t));
            }
        }
        let mut f = Vec::new();
        let m = |v: &Option<Decimal>| v.as_ref().map(|v| money(v, cur));
        opt(&mut f, "Suma kwot obciążenia", m(&s.charges_total));
        opt(&mut f, "Suma kwot odliczenia", m(&s.deductions_total));
        opt(&mut f, "Do zapłaty", m(&s.to_pay));
        opt(&mut f, "Do rozliczenia", m(&s.to_settle));
        if !f.is_empty() {
            blocks.push(Block::Fields(f));
        }
        sections.push(Section {
            id: "settlement",
            title: "Rozliczenie".into(),
            blocks,
        });
    }

    // Płatność
    if let Some(p) = &view.payment {
        let mut blocks = Vec::new();
        let mut f = Vec::new();
        if p.paid {
            f.push(field("Informacja o płatności", "Zapłacono"));
        }
        opt(&mut f, "Data zapłaty", p.paid_date.map(date));
        match p.partial_flag.as_deref() {
            Some("1") => f.push(field("Informacja o płatności", "Zapłacono w części")),
            Some("2") => f.push(field(
                "Informacja o płatności",
                "Zapłacono całość w częściach",
            )),
            _ => {}
        }
        opt(&mut f, "Forma płatności", p.form.clone());
        opt(&mut f, "Płatność inna", p.other_form.clone());
        if !f.is_empty() {
            blocks.push(Block::Fields(f));
        }
        let mut t = TableBuilder::new(&[
            ("Kwota zapłaty częściowej", true),
            ("Data zapłaty częściowej", false),
            ("Forma płatności", false),
        ]);
        for z in &p.partial_payments {
            t.row(vec![
                z.amount.as_ref().map(|a| money(a, cur)),
                z.date.map(date),
                z.form.clone(),
            ]);
        }
        if let Some(t) = t.build() {
            blocks.push(Block::Subheading("Zapłata częściowa".into()));
            blocks.push(Block::Table(t));
        }
        let mut t = TableBuilder::new(&[("Termin płatności", false), ("Opis terminu", false)]);
        for d in &p.due {
            t.row(vec![d.date.map(date), d.description.clone()]);
        }
        if let Some(t) = t.build() {
            blocks.push(Block::Table(t));
        }
        let panels: Vec<Panel> = p
            .accounts
            .iter()
            .map(|a| {
                let mut f = vec![field("Pełny numer rachunku", a.number.clone())];
                opt(&mut f, "Kod SWIFT", a.swift.clone());
                opt(&mut f, "Nazwa banku", a.bank_name.clone());
                opt(&mut f, "Opis rachunku", a.description.clone());
                opt(
                    &mut f,
                    "Rachunek własny banku",
                    a.bank_own.as_deref().map(|c| match c {
                        "1" => "rachunek do rozliczeń z tytułu nabywanych należności".to_string(),
                        "2" => "rachunek do pobierania należności od dłużników".to_string(),
                        "3" => "rachunek prowadzony w ramach gospodarki własnej".to_string(),
                        other => other.to_string(),
                    }),
                );
                Panel {
                    title: a.title.to_string(),
                    fields: f,
                }
            })
            .collect();
        if !panels.is_empty() {
            blocks.push(Block::Panels(panels));
        }
        let mut f = Vec::new();
        if let Some((cond, amount)) = &p.discount {
            f.push(field("Warunki skonta", cond.clone()));
            f.push(field("Wysokość skonta", amount.clone()));
        }
        opt(&mut f, "Link do płatności bezgotówkowej", p.link.clone());
        opt(
            &mut f,
            "Identyfikator płatności Krajowego Systemu e-Faktur",
            p.ipksef.clone(),
        );
        if !f.is_empty() {
            blocks.push(Block::Fields(f));
        }
        if !blocks.is_empty() {
            sections.push(Section {
                id: "payment",
                title: "Płatność".into(),
                blocks,
            });
        }
    }

    // Warunki transakcji
    if let Some(w) = &view.terms {
        let mut blocks = Vec::new();
        for (title, items) in [("Umowy", &w.contracts), ("Zamówienia", &w.orders)] {
            let mut t = TableBuilder::new(&[("Data", false), ("Numer", false)]);
            for (d, n) in items {
                t.row(vec![d.map(date), n.clone()]);
            }
            if let Some(t) = t.build() {
                blocks.push(Block::Subheading(title.into()));
                blocks.push(Block::Table(t));
            }
        }
        let mut f = Vec::new();
        if !w.batches.is_empty() {
            f.push(field("Numery partii towaru", w.batches.join(", ")));
        }
        opt(&mut f, "Warunki dostawy towarów", w.delivery_terms.clone());
        opt(&mut f, "Kurs umowny", num(&w.contract_rate));
        opt(&mut f, "Waluta umowna", w.contract_currency.clone());
        if w.intermediary {
            f.push(field(
                "Podmiot pośredniczący",
                "dostawa dokonana przez podmiot, o którym mowa w art. 22 ust. 2d ustawy",
            ));
        }
        if !f.is_empty() {
            blocks.push(Block::Fields(f));
        }
        if !blocks.is_empty() {
            sections.push(Section {
                id: "terms",
                title: "Warunki transakcji".into(),
                blocks,
            });
        }
    }

    // Załączniki
    if !view.attachments.is_empty() {
        let mut blocks = Vec::new();
        for (i, b) in view.attachments.iter().enumerate() {
            blocks.push(Block::Subheading(match &b.header {
                Some(h) => format!("Szczegółowe dane załącznika ({}): {h}", i + 1),
                None => format!("Szczegółowe dane załącznika ({})", i + 1),
            }));
            if !b.meta.is_empty() {
                blocks.push(Block::Fields(
                    b.meta.iter().map(|(k, v)| field(k, v.clone())).collect(),
                ));
            }
            for p in &b.paragraphs {
                blocks.push(Block::Text(p.clone()));
            }
            for t in &b.tables {
                if !t.meta.is_empty() {
                    blocks.push(Block::Fields(
                        t.meta.iter().map(|(k, v)| field(k, v.clone())).collect(),
                    ));
                }
                if let Some(d) = &t.description {
                    blocks.push(Block::Text(d.clone()));
                }
                let width = t
                    .columns
                    .len()
                    .max(t.rows.iter().map(Vec::len).max().unwrap_or(0));
                let pad = |r: &Vec<String>| {
                    let mut r = r.clone();
                    r.resize(width, String::new());
                    r
                };
                let mut rows: Vec<Vec<String>> = t.rows.iter().map(pad).collect();
                if !t.sum.is_empty() {
                    rows.push(pad(&t.sum));
                }
                blocks.push(Block::Table(Table {
                    columns: pad(&t.columns),
                    numeric: vec![false; width],
                    rows,
                }));
            }
        }
        sections.push(Section {
            id: "attachments",
            title: "Załącznik do faktury".into(),
            blocks,
        });
    }

    // Stopka: WZ, Rejestry, Pozostałe informacje, origin
    {
        let mut blocks = Vec::new();
        if !view.wz.is_empty() {
            blocks.push(Block::Fields(vec![field(
                "Numery dokumentów magazynowych WZ",
                view.wz.join(", "),
            )]));
        }
        let mut t = TableBuilder::new(&[
            ("Pełna nazwa", false),
            ("KRS", false),
            ("REGON", false),
            ("BDO", false),
        ]);
        for r in &view.footer.registers {
            t.row(vec![
                r.full_name.clone(),
                r.krs.clone(),
                r.regon.clone(),
                r.bdo.clone(),
            ]);
        }
        if let Some(t) = t.build() {
            blocks.push(Block::Subheading("Rejestry".into()));
            blocks.push(Block::Table(t));
        }
        if !view.footer.information.is_empty() {
            blocks.push(Block::Subheading("Pozostałe informacje".into()));
            for i in &view.footer.information {
                blocks.push(Block::Text(i.clone()));
            }
        }
        let mut f = Vec::new();
        opt(&mut f, "Wytworzona w", view.header.system_info.clone());
        opt(
            &mut f,
            "Data wytworzenia",
            view.header
                .created_at
                .map(ksef_core::warsaw::format_datetime),
        );
        f.push(field("Struktura logiczna", view.form.system_code()));
        blocks.push(Block::Fields(f));
        sections.push(Section {
            id: "footer",
            title: "Stopka".into(),
            blocks,
        });
    }

    Layout {
        title: kind_title(view),
        number: view.number.clone(),
        ksef_number: ksef_number.map(str::to_string),
        sections,
    }
}
