//! The typed view of an invoice: owned, display-oriented values read from FA(2), FA(3) and
//! FA_RR(1) documents. Every optional element of the schema is an `Option` / empty `Vec` here:
//! absent in the document, absent in the view.

use std::fmt;

use time::{Date, OffsetDateTime};

use crate::decimal::Decimal;

/// The invoice structure a view was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Form {
    /// `FA (2)`.
    Fa2,
    /// `FA (3)`.
    Fa3,
    /// `FA_RR (1)`: VAT RR invoice issued by the buyer of farm produce from a flat-rate farmer.
    FaRr1,
}

impl Form {
    /// `FA (2)`, `FA (3)`, `FA_RR (1)`.
    pub fn system_code(self) -> &'static str {
        match self {
            Form::Fa2 => "FA (2)",
            Form::Fa3 => "FA (3)",
            Form::FaRr1 => "FA_RR (1)",
        }
    }

    /// The `ksef_invoice` form code.
    pub fn form_code(self) -> ksef_invoice::FormCode {
        match self {
            Form::Fa2 => ksef_invoice::FormCode::Fa2,
            Form::Fa3 => ksef_invoice::FormCode::Fa3,
            Form::FaRr1 => ksef_invoice::FormCode::FaRr1,
        }
    }

    /// Whether this is the VAT RR structure.
    pub fn is_rr(self) -> bool {
        self == Form::FaRr1
    }
}

impl fmt::Display for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.system_code())
    }
}

/// `RodzajFaktury`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InvoiceKind {
    /// `VAT`: basic invoice.
    Vat,
    /// `KOR`: correction.
    Kor,
    /// `ZAL`: advance payment invoice.
    Zal,
    /// `ROZ`: settlement of advance payments.
    Roz,
    /// `UPR`: simplified invoice.
    Upr,
    /// `KOR_ZAL`: correction of an advance payment invoice.
    KorZal,
    /// `KOR_ROZ`: correction of a settlement invoice.
    KorRoz,
    /// `VAT_RR`: original VAT RR invoice.
    VatRr,
    /// `KOR_VAT_RR`: VAT RR correction.
    KorVatRr,
    /// A value no schema knows, kept verbatim.
    Other(String),
}

impl InvoiceKind {
    /// Reads the `RodzajFaktury` code.
    pub fn from_code(code: &str) -> InvoiceKind {
        match code {
            "VAT" => InvoiceKind::Vat,
            "KOR" => InvoiceKind::Kor,
            "ZAL" => InvoiceKind::Zal,
            "ROZ" => InvoiceKind::Roz,
            "UPR" => InvoiceKind::Upr,
            "KOR_ZAL" => InvoiceKind::KorZal,
            "KOR_ROZ" => InvoiceKind::KorRoz,
            "VAT_RR" => InvoiceKind::VatRr,
            "KOR_VAT_RR" => InvoiceKind::KorVatRr,
            other => InvoiceKind::Other(other.to_string()),
        }
    }

    /// The code as in the XML.
    pub fn code(&self) -> &str {
        match self {
            InvoiceKind::Vat => "VAT",
            InvoiceKind::Kor => "KOR",
            InvoiceKind::Zal => "ZAL",
            InvoiceKind::Roz => "ROZ",
            InvoiceKind::Upr => "UPR",
            InvoiceKind::KorZal => "KOR_ZAL",
            InvoiceKind::KorRoz => "KOR_ROZ",
            InvoiceKind::VatRr => "VAT_RR",
            InvoiceKind::KorVatRr => "KOR_VAT_RR",
            InvoiceKind::Other(s) => s,
        }
    }

    /// Whether the invoice corrects another one.
    pub fn is_correction(&self) -> bool {
        matches!(
            self,
            InvoiceKind::Kor | InvoiceKind::KorZal | InvoiceKind::KorRoz | InvoiceKind::KorVatRr
        )
    }

    /// Whether the invoice documents an advance payment (`ZAL`, `KOR_ZAL`).
    pub fn is_advance(&self) -> bool {
        matches!(self, InvoiceKind::Zal | InvoiceKind::KorZal)
    }
}

/// The date of delivery / service (`P_6`) or the period the invoice covers (`OkresFa`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaleDate {
    /// `P_6`.
    Date(Date),
    /// `OkresFa/P_6_Od`, `OkresFa/P_6_Do`.
    Period {
        from: Option<Date>,
        to: Option<Date>,
    },
}

/// `Naglowek`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// `WariantFormularza`.
    pub variant: Option<String>,
    /// `DataWytworzeniaFa`.
    pub created_at: Option<OffsetDateTime>,
    /// `SystemInfo`: the program that produced the invoice.
    pub system_info: Option<String>,
}

/// An address (`Adres`, `AdresKoresp`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    /// `KodKraju` (ISO 3166 code).
    pub country: Option<String>,
    /// `AdresL1`.
    pub line1: Option<String>,
    /// `AdresL2`.
    pub line2: Option<String>,
    /// `GLN`.
    pub gln: Option<String>,
}

/// `DaneKontaktowe`: one e-mail and/or phone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// How a subject is identified (`DaneIdentyfikacyjne`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartyId {
    /// `NIP`.
    Nip(String),
    /// `IDWew` (Podmiot3 only): internal identifier (NIP + suffix).
    Internal(String),
    /// `KodUE` + `NrVatUE`.
    VatUe { country: String, number: String },
    /// `KodKraju` (optional) + `NrID`.
    Other {
        country: Option<String>,
        number: String,
    },
    /// `BrakID`.
    None,
}

impl PartyId {
    /// The NIP, when the subject is identified by one.
    pub fn nip(&self) -> Option<&str> {
        match self {
            PartyId::Nip(n) => Some(n),
            _ => None,
        }
    }
}

/// A subject of the invoice: `Podmiot1`, `Podmiot2`, a `Podmiot3`, `PodmiotUpowazniony`, or the
/// corrected data `Podmiot1K` / `Podmiot2K`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub id: PartyId,
    /// `Nazwa`.
    pub name: Option<String>,
    /// `PrefiksPodatnika` (seller's VAT prefix).
    pub vat_prefix: Option<String>,
    /// `NrEORI`.
    pub eori: Option<String>,
    pub address: Option<Address>,
    /// `AdresKoresp`.
    pub correspondence_address: Option<Address>,
    /// `DaneKontaktowe` (up to 3), or the `EmailPU`/`TelefonPU` of the authorised subject.
    pub contacts: Vec<Contact>,
    /// `StatusInfoPodatnika` code (1 liquidation, 2 restructuring, 3 bankruptcy, 4 inherited
    /// business).
    pub taxpayer_status: Option<String>,
    /// `NrKlienta` (FA) / `NrKontrahenta` (FA_RR).
    pub customer_number: Option<String>,
    /// `IDNabywcy`.
    pub buyer_id: Option<String>,
    /// `JST` (FA(3) buyer): `Some(true)` when the invoice concerns a subordinate unit of a local
    /// government.
    pub jst: Option<bool>,
    /// `GV` (FA(3) buyer): `Some(true)` when the invoice concerns a VAT group member.
    pub gv: Option<bool>,
}

/// A third subject (`Podmiot3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThirdParty {
    pub party: Party,
    /// `Rola` code (1–11), `None` with [`ThirdParty::other_role`].
    pub role: Option<String>,
    /// `RolaInna` = 1 with `OpisRoli`.
    pub other_role: Option<String>,
    /// `Udzial`: share in per cent (additional buyers).
    pub share: Option<Decimal>,
}

/// `PodmiotUpowazniony`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorisedSubject {
    pub party: Party,
    /// `RolaPU`: 1 enforcement authority, 2 court bailiff, 3 tax representative.
    pub role: Option<String>,
}

/// One invoice line (`FaWiersz`; for FA_RR `FakturaRRWiersz`, mapped onto the same fields:
/// `P_5` name, `P_6A` unit, `P_6B` quantity, `P_6C` quality, `P_7` unit price, `P_8` value
/// without the flat-rate refund, `P_9` refund rate, `P_10` refund, `P_11` value with it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Line {
    /// `NrWierszaFa`.
    pub number: Option<String>,
    /// `UU_ID`.
    pub uu_id: Option<String>,
    /// `P_6A` (FA) / `P_4AA` (FA_RR): date of delivery / purchase for this line.
    pub date: Option<Date>,
    /// `P_7` (FA) / `P_5` (FA_RR).
    pub name: Option<String>,
    /// `Indeks`.
    pub index: Option<String>,
    pub gtin: Option<String>,
    pub pkwiu: Option<String>,
    pub cn: Option<String>,
    pub pkob: Option<String>,
    /// `P_8A` / `P_6A`.
    pub unit: Option<String>,
    /// `P_8B` / `P_6B`.
    pub quantity: Option<Decimal>,
    /// FA_RR `P_6C`: class or quality.
    pub quality: Option<String>,
    /// `P_9A` / FA_RR `P_7`.
    pub unit_net_price: Option<Decimal>,
    /// `P_9B`.
    pub unit_gross_price: Option<Decimal>,
    /// `P_10`: discount (FA only).
    pub discount: Option<Decimal>,
    /// `P_11` (FA) / `P_8` (FA_RR).
    pub net: Option<Decimal>,
    /// `P_11A` (FA) / `P_11` (FA_RR).
    pub gross: Option<Decimal>,
    /// `P_11Vat` (FA) / `P_10` (FA_RR).
    pub vat: Option<Decimal>,
    /// `P_12` code as in the XML (`23`, `0 KR`, `zw`, `np I`…; FA_RR `P_9`: `6.5`, `7`).
    pub rate: Option<String>,
    /// `P_12_XII`: OSS rate.
    pub oss_rate: Option<Decimal>,
    /// `P_12_Zal_15` = 1.
    pub annex15: bool,
    /// `KwotaAkcyzy`.
    pub excise: Option<Decimal>,
    /// `GTU` code (`GTU_01`…).
    pub gtu: Option<String>,
    /// `Procedura`.
    pub procedure: Option<String>,
    /// `KursWaluty`.
    pub exchange_rate: Option<Decimal>,
    /// `StanPrzed` = 1: the line shows the state before the correction.
    pub before_correction: bool,
}

/// One row of the VAT rate summary (`P_13_x` / `P_14_x` / `P_14_xW`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VatSummaryRow {
    /// Which field group: `"1"` (23/22 %), `"2"`, `"3"`, `"4"`, `"5"` (OSS), `"6_1"`, `"6_2"`,
    /// `"6_3"`, `"7"` … `"11"`.
    pub key: &'static str,
    /// Polish label of the rate.
    pub label: &'static str,
    /// `P_13_x`: net.
    pub net: Option<Decimal>,
    /// `P_14_x`: tax.
    pub vat: Option<Decimal>,
    /// `P_14_xW`: tax converted to PLN.
    pub vat_pln: Option<Decimal>,
}

impl VatSummaryRow {
    /// Net + tax (what is known of them).
    pub fn gross(&self) -> Option<Decimal> {
        match (&self.net, &self.vat) {
            (Some(n), Some(v)) => n.checked_add(v),
            (Some(n), None) => Some(n.clone()),
            (None, Some(v)) => Some(v.clone()),
            (None, None) => None,
        }
    }
}

/// FA_RR totals (`P_11_1`, `P_11_2`, `P_12_1`, their PLN counterparts, `P_12_2` in words).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RrTotals {
    /// `P_11_1`: value of the purchased products / services.
    pub value: Option<Decimal>,
    pub value_pln: Option<Decimal>,
    /// `P_11_2`: flat-rate tax refund.
    pub refund: Option<Decimal>,
    pub refund_pln: Option<Decimal>,
    /// `P_12_1`: total due.
    pub total: Option<Decimal>,
    pub total_pln: Option<Decimal>,
    /// `P_12_2`: the total in words, as written in the document.
    pub total_in_words: Option<String>,
}

/// `Adnotacje` (FA only): what is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotations {
    /// `P_16` = 1: metoda kasowa.
    pub cash_method: bool,
    /// `P_17` = 1: samofakturowanie.
    pub self_billing: bool,
    /// `P_18` = 1: odwrotne obciążenie.
    pub reverse_charge: bool,
    /// `P_18A` = 1: mechanizm podzielonej płatności.
    pub split_payment: bool,
    /// `Zwolnienie/P_19` = 1 with its legal basis.
    pub exemption: Option<Exemption>,
    /// `NoweSrodkiTransportu/P_22` = 1.
    pub new_transport: Option<NewTransport>,
    /// `P_23` = 1: procedura trójstronna uproszczona.
    pub triangular: bool,
    /// `PMarzy/P_PMarzy` = 1.
    pub margin: Option<MarginScheme>,
}

/// The legal basis of an exemption (`P_19A` act, `P_19B` directive, `P_19C` other).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exemption {
    pub act: Option<String>,
    pub directive: Option<String>,
    pub other: Option<String>,
}

/// Intra-community supply of new means of transport.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewTransport {
    /// `P_42_5` = 1: the VAT-22 document must be issued.
    pub vat22_required: Option<bool>,
    /// `NowySrodekTransportu`, each a list of (Polish label, value).
    pub vehicles: Vec<Vec<(String, String)>>,
}

/// Margin scheme kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarginScheme {
    /// `P_PMarzy_2`: biura podróży.
    TravelAgencies,
    /// `P_PMarzy_3_1`: towary używane.
    UsedGoods,
    /// `P_PMarzy_3_2`: dzieła sztuki.
    WorksOfArt,
    /// `P_PMarzy_3_3`: przedmioty kolekcjonerskie i antyki.
    Antiques,
    /// `P_PMarzy` = 1 without a kind.
    Unspecified,
}

/// A corrected invoice (`DaneFaKorygowanej`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrectedInvoice {
    /// `DataWystFaKorygowanej`.
    pub issue_date: Option<Date>,
    /// `NrFaKorygowanej`.
    pub number: Option<String>,
    /// `NrKSeFFaKorygowanej` (when `NrKSeF` = 1).
    pub ksef_number: Option<String>,
    /// `NrKSeFN` = 1: issued outside KSeF.
    pub outside_ksef: bool,
}

/// Correction data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Correction {
    /// `PrzyczynaKorekty`.
    pub reason: Option<String>,
    /// `TypKorekty` code.
    pub effect: Option<String>,
    pub corrected: Vec<CorrectedInvoice>,
    /// `OkresFaKorygowanej`: period of a collective (discount) correction.
    pub period: Option<String>,
    /// `NrFaKorygowany`: the right number of the corrected invoice.
    pub correct_number: Option<String>,
    /// `Podmiot1K`: seller data as on the corrected invoice.
    pub seller_before: Option<Party>,
    /// `Podmiot2K`: buyer data as on the corrected invoice.
    pub buyers_before: Vec<Party>,
    /// `P_15ZK`: amount of the advance payment before the correction.
    pub advance_before: Option<Decimal>,
    /// `KursWalutyZK`.
    pub exchange_rate_before: Option<Decimal>,
}

/// A partial advance payment (`ZaliczkaCzesciowa`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialAdvance {
    /// `P_6Z`.
    pub date: Option<Date>,
    /// `P_15Z`.
    pub amount: Option<Decimal>,
    /// `KursWalutyZW`.
    pub exchange_rate: Option<Decimal>,
}

/// An earlier advance invoice (`FakturaZaliczkowa`) settled by a ROZ invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvanceInvoiceRef {
    /// `NrKSeFFaZaliczkowej`.
    pub ksef_number: Option<String>,
    /// `NrFaZaliczkowej` (issued outside KSeF, `NrKSeFZN` = 1).
    pub number: Option<String>,
}

/// `DodatkowyOpis` (and FA_RR's too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// `NrWiersza`: the line the information concerns.
    pub line: Option<String>,
    pub key: String,
    pub value: String,
}

/// `Rozliczenie`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settlement {
    /// `Obciazenia`: (amount, reason).
    pub charges: Vec<(Option<Decimal>, String)>,
    pub charges_total: Option<Decimal>,
    /// `Odliczenia`: (amount, reason).
    pub deductions: Vec<(Option<Decimal>, String)>,
    pub deductions_total: Option<Decimal>,
    pub to_pay: Option<Decimal>,
    pub to_settle: Option<Decimal>,
}

/// A bank account (`RachunekBankowy`, `RachunekBankowyFaktora`, FA_RR `RachunekBankowy1/2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankAccount {
    /// Whose account it is, in Polish (e.g. "Rachunek bankowy rolnika").
    pub title: &'static str,
    /// `NrRB`.
    pub number: String,
    pub swift: Option<String>,
    /// `RachunekWlasnyBanku` code.
    pub bank_own: Option<String>,
    pub bank_name: Option<String>,
    pub description: Option<String>,
}

/// A due date (`TerminPlatnosci`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDate {
    pub date: Option<Date>,
    /// `TerminOpis` (FA(2): text; FA(3): quantity, unit and starting event joined).
    pub description: Option<String>,
}

/// A partial payment (`ZaplataCzesciowa`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialPayment {
    pub amount: Option<Decimal>,
    pub date: Option<Date>,
    /// Payment form label (code mapped to Polish), FA(3) only.
    pub form: Option<String>,
}

/// `Platnosc`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Payment {
    /// `Zaplacono` = 1.
    pub paid: bool,
    /// `DataZaplaty`.
    pub paid_date: Option<Date>,
    /// `ZnacznikZaplatyCzesciowej`: 1 paid in part, 2 paid in full in parts.
    pub partial_flag: Option<String>,
    pub partial_payments: Vec<PartialPayment>,
    pub due: Vec<DueDate>,
    /// `FormaPlatnosci` label (Polish).
    pub form: Option<String>,
    /// `PlatnoscInna` = 1 with `OpisPlatnosci`.
    pub other_form: Option<String>,
    pub accounts: Vec<BankAccount>,
    /// `Skonto`: (conditions, amount).
    pub discount: Option<(String, String)>,
    /// `LinkDoPlatnosci`.
    pub link: Option<String>,
    /// `IPKSeF`.
    pub ipksef: Option<String>,
}

/// `WarunkiTransakcji` (the parts a reader needs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionTerms {
    /// `Umowy`: (date, number).
    pub contracts: Vec<(Option<Date>, Option<String>)>,
    /// `Zamowienia`: (date, number).
    pub orders: Vec<(Option<Date>, Option<String>)>,
    /// `NrPartiiTowaru`.
    pub batches: Vec<String>,
    /// `WarunkiDostawy` (Incoterms).
    pub delivery_terms: Option<String>,
    /// `KursUmowny`.
    pub contract_rate: Option<Decimal>,
    /// `WalutaUmowna`.
    pub contract_currency: Option<String>,
    /// `PodmiotPosredniczacy` = 1.
    pub intermediary: bool,
}

/// `Zamowienie` of an advance invoice: the ordered goods / services.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Order {
    /// `WartoscZamowienia`.
    pub value: Option<Decimal>,
    pub lines: Vec<Line>,
}

/// FA_RR `DokumentZaplaty`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentDocument {
    pub number: Option<String>,
    pub date: Option<Date>,
}

/// `Stopka/Rejestry`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registers {
    pub full_name: Option<String>,
    pub krs: Option<String>,
    pub regon: Option<String>,
    pub bdo: Option<String>,
}

/// `Stopka`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Footer {
    /// `Informacje/StopkaFaktury`.
    pub information: Vec<String>,
    pub registers: Vec<Registers>,
}

/// A table of an attachment block (`Zalacznik/BlokDanych/Tabela`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttachmentTable {
    /// `TMetaDane`: (key, value).
    pub meta: Vec<(String, String)>,
    /// `Opis`.
    pub description: Option<String>,
    /// `TNaglowek/Kol/NKom`.
    pub columns: Vec<String>,
    /// `Wiersz/WKom`.
    pub rows: Vec<Vec<String>>,
    /// `Suma/SKom`.
    pub sum: Vec<String>,
}

/// One `Zalacznik/BlokDanych` (FA(3)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttachmentBlock {
    /// `ZNaglowek`.
    pub header: Option<String>,
    /// `MetaDane`: (key, value).
    pub meta: Vec<(String, String)>,
    /// `Tekst/Akapit`.
    pub paragraphs: Vec<String>,
    pub tables: Vec<AttachmentTable>,
}

/// A typed, owned view of one invoice, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceView {
    pub form: Form,
    pub kind: InvoiceKind,
    /// `P_2` (FA_RR `P_4C`).
    pub number: String,
    /// `P_1` (FA_RR `P_4B`).
    pub issue_date: Date,
    /// `P_1M`.
    pub issue_place: Option<String>,
    /// `P_6` / `OkresFa` (FA_RR: `P_4A`, the purchase date).
    pub sale_date: Option<SaleDate>,
    /// `KodWaluty`.
    pub currency: String,
    /// `KursWalutyZ`: exchange rate of the advance payment.
    pub exchange_rate: Option<Decimal>,
    pub header: Header,
    /// `Podmiot1`: the seller (FA_RR: the flat-rate farmer supplying the produce).
    pub seller: Party,
    /// `Podmiot2`: the buyer (FA_RR: the buyer, who issues the invoice).
    pub buyer: Party,
    /// `Podmiot3`, in document order.
    pub third_parties: Vec<ThirdParty>,
    pub authorised: Option<AuthorisedSubject>,
    /// `WZ`: warehouse dispatch document numbers.
    pub wz: Vec<String>,
    pub lines: Vec<Line>,
    /// FA only; empty for FA_RR (see [`InvoiceView::rr_totals`]).
    pub vat_summary: Vec<VatSummaryRow>,
    /// `P_15` (FA_RR `P_12_1`): the total due.
    pub total: Option<Decimal>,
    /// FA_RR only.
    pub rr_totals: Option<RrTotals>,
    /// FA only.
    pub annotations: Option<Annotations>,
    pub correction: Option<Correction>,
    /// `ZaliczkaCzesciowa`.
    pub partial_advances: Vec<PartialAdvance>,
    /// `FakturaZaliczkowa`.
    pub advance_invoices: Vec<AdvanceInvoiceRef>,
    /// `FP` = 1: invoice of art. 109 ust. 3d.
    pub fp: bool,
    /// `TP` = 1: related parties.
    pub tp: bool,
    /// `ZwrotAkcyzy` = 1.
    pub excise_refund: bool,
    /// `DodatkowyOpis`.
    pub additional: Vec<KeyValue>,
    /// FA_RR `DokumentZaplaty`.
    pub payment_documents: Vec<PaymentDocument>,
    pub settlement: Option<Settlement>,
    pub payment: Option<Payment>,
    pub terms: Option<TransactionTerms>,
    /// `Zamowienie` (ZAL / KOR_ZAL).
    pub order: Option<Order>,
    pub footer: Footer,
    /// `Zalacznik` (FA(3)).
    pub attachments: Vec<AttachmentBlock>,
    /// Values that could not be read (not a number, not a date) and were left out, in Polish,
    /// with the element path.
    pub warnings: Vec<String>,
}

impl InvoiceView {
    /// The seller's NIP (`Podmiot1/DaneIdentyfikacyjne/NIP`); always present in a view.
    pub fn seller_nip(&self) -> &str {
        self.seller.id.nip().unwrap_or_default()
    }
}
