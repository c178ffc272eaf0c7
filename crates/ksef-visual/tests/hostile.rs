//! Hostile and broken inputs give typed errors, never a panic; a rich synthetic FA(3)
//! correction shows every optional section.

use ksef_visual::parse::{MAX_DEPTH, MAX_INPUT_BYTES, MAX_NODES};
use ksef_visual::{InvoiceView, RenderOptions, ViewError, html};

const NS3: &str = "http://crd.gov.pl/wzor/2025/06/25/13775/";

fn fa3(body_fa: &str, extra_root: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Faktura xmlns="{NS3}">
<Naglowek><KodFormularza kodSystemowy="FA (3)" wersjaSchemy="1-0E">FA</KodFormularza><WariantFormularza>3</WariantFormularza><DataWytworzeniaFa>2026-07-01T10:00:00Z</DataWytworzeniaFa></Naglowek>
<Podmiot1><DaneIdentyfikacyjne><NIP>5265877635</NIP><Nazwa>Sprzedawca &amp; Syn &lt;script&gt;alert(1)&lt;/script&gt;</Nazwa></DaneIdentyfikacyjne><Adres><KodKraju>PL</KodKraju><AdresL1>ul. Długa 1</AdresL1></Adres></Podmiot1>
<Podmiot2><DaneIdentyfikacyjne><KodUE>DE</KodUE><NrVatUE>123456789</NrVatUE><Nazwa>Käufer GmbH</Nazwa></DaneIdentyfikacyjne></Podmiot2>
{extra_root}
<Fa>{body_fa}</Fa>
</Faktura>"#
    )
}

const GOOD_FA: &str = "<KodWaluty>EUR</KodWaluty><P_1>2026-07-01</P_1><P_2>KOR/1/2026</P_2><P_6>2026-06-30</P_6>\
<P_13_1>-100.00</P_13_1><P_14_1>-23.00</P_14_1><P_14_1W>-98.50</P_14_1W><P_13_7>1234567.5</P_13_7><P_15>1234444.50</P_15>\
<Adnotacje><P_16>1</P_16><P_17>2</P_17><P_18>1</P_18><P_18A>1</P_18A><Zwolnienie><P_19>1</P_19><P_19A>art. 43 ust. 1 pkt 37</P_19A></Zwolnienie>\
<NoweSrodkiTransportu><P_22N>1</P_22N></NoweSrodkiTransportu><P_23>2</P_23><PMarzy><P_PMarzy>1</P_PMarzy><P_PMarzy_3_1>1</P_PMarzy_3_1></PMarzy></Adnotacje>\
<RodzajFaktury>KOR</RodzajFaktury><PrzyczynaKorekty>Błędna cena</PrzyczynaKorekty><TypKorekty>2</TypKorekty>\
<DaneFaKorygowanej><DataWystFaKorygowanej>2026-06-01</DataWystFaKorygowanej><NrFaKorygowanej>FV/7/2026</NrFaKorygowanej><NrKSeF>1</NrKSeF><NrKSeFFaKorygowanej>5265877635-20260601-010000000000-AB</NrKSeFFaKorygowanej></DaneFaKorygowanej>\
<FaWiersz><NrWierszaFa>1</NrWierszaFa><P_7>Usługa A</P_7><P_8A>szt.</P_8A><P_8B>1</P_8B><P_9A>200</P_9A><P_11>200.00</P_11><P_12>23</P_12><StanPrzed>1</StanPrzed></FaWiersz>\
<FaWiersz><NrWierszaFa>2</NrWierszaFa><P_7>Usługa A</P_7><P_8A>szt.</P_8A><P_8B>1</P_8B><P_9A>100</P_9A><P_11>100.00</P_11><P_12>23</P_12><GTU>GTU_12</GTU></FaWiersz>\
<FaWiersz><NrWierszaFa>3</NrWierszaFa><P_7>Szkolenie</P_7><P_11>1234567.50</P_11><P_12>zw</P_12></FaWiersz>\
<FaWiersz><NrWierszaFa>4</NrWierszaFa><P_7>Eksport</P_7><P_11>0</P_11><P_12>0 EX</P_12></FaWiersz>\
<Platnosc><Zaplacono>1</Zaplacono><DataZaplaty>2026-07-02</DataZaplaty><FormaPlatnosci>2</FormaPlatnosci></Platnosc>";

const PODMIOT3: &str = "<Podmiot3><DaneIdentyfikacyjne><IDWew>5265877635-00001</IDWew><Nazwa>Oddział Północ</Nazwa></DaneIdentyfikacyjne><Rola>2</Rola></Podmiot3>\
<Podmiot3><DaneIdentyfikacyjne><BrakID>1</BrakID><Nazwa>Jan Nowak</Nazwa></DaneIdentyfikacyjne><RolaInna>1</RolaInna><OpisRoli>Pełnomocnik</OpisRoli></Podmiot3>\
<PodmiotUpowazniony><DaneIdentyfikacyjne><NIP>1132345673</NIP><Nazwa>Komornik Sądowy</Nazwa></DaneIdentyfikacyjne><Adres><KodKraju>PL</KodKraju><AdresL1>ul. Sądowa 2</AdresL1></Adres><RolaPU>2</RolaPU></PodmiotUpowazniony>";

#[test]
fn rich_correction_shows_every_part() {
    let xml = fa3(GOOD_FA, PODMIOT3);
    let view = InvoiceView::parse(xml.as_bytes()).expect("parses");
    assert!(view.warnings.is_empty(), "{:?}", view.warnings);
    assert!(view.kind.is_correction());
    assert_eq!(view.third_parties.len(), 2);
    let out = html::render(&view, &RenderOptions::default());
    for s in [
        "Faktura korygująca",
        "Dane faktury korygowanej",
        "Błędna cena",
        "Korekta skutkująca w dacie wystawienia faktury korygującej",
        "FV/7/2026",
        "5265877635-20260601-010000000000-AB",
        "01.06.2026",
        "DE123456789",
        "Käufer GmbH",
        "Podmiot trzeci 1",
        "Odbiorca",
        "5265877635-00001",
        "Pełnomocnik",
        "brak identyfikatora",
        "Podmiot upoważniony",
        "Komornik sądowy",
        "Stan przed",
        "TAK",
        "GTU_12",
        "zw",
        "0% EX",
        "23%",
        "Faktura wystawiona w walucie EUR",
        "-100,00",
        "-23,00",
        "-123,00",
        "-98,50",
        "Kwota podatku PLN",
        "zwolnione od podatku",
        "1 234 567,50",
        "Korekta kwoty należności ogółem",
        "1 234 444,50 EUR",
        "Adnotacje",
        "Metoda kasowa",
        "Odwrotne obciążenie",
        "Mechanizm podzielonej płatności",
        "art. 43 ust. 1 pkt 37",
        "towary używane",
        "Zapłacono",
        "02.07.2026",
        "Karta",
        "01.07.2026 12:00:00",
    ] {
        assert!(out.contains(s), "{s:?} missing");
    }
    assert!(!out.contains("Samofakturowanie"), "P_17=2 is not set");
    assert!(!out.contains("Procedura trójstronna"), "P_23=2 is not set");
    // The name with markup is escaped, never live.
    assert!(!out.contains("<script>"));
    assert!(out.contains("Sprzedawca &#38; Syn &#60;script&#62;alert(1)&#60;/script&#62;"));
}

#[test]
fn not_xml() {
    for bad in [&b""[..], b"hello", b"<Faktura>", b"<a></b>", b"\x00\x01"] {
        assert!(
            matches!(InvoiceView::parse(bad), Err(ViewError::NotXml(_))),
            "{bad:?}: {:?}",
            InvoiceView::parse(bad)
        );
    }
    assert!(matches!(
        InvoiceView::parse(b"<a>\xff\xfe</a>"),
        Err(ViewError::NotUtf8 { offset: 3 })
    ));
}

#[test]
fn ten_megabytes_of_nesting() {
    let n = 10 * 1024 * 1024 / 7;
    let xml = format!("{}{}", "<a>".repeat(n), "</a>".repeat(n));
    assert!(xml.len() > MAX_INPUT_BYTES);
    assert!(matches!(
        InvoiceView::parse(xml.as_bytes()),
        Err(ViewError::TooLarge { .. })
    ));
}

#[test]
fn deep_nesting_below_the_size_limit() {
    // 400 000 levels: parsed iteratively, then refused; no stack overflow anywhere.
    let n = 400_000;
    let xml = format!("{}{}", "<a>".repeat(n), "</a>".repeat(n));
    assert!(xml.len() < MAX_INPUT_BYTES);
    assert!(matches!(
        InvoiceView::parse(xml.as_bytes()),
        Err(ViewError::TooDeep { limit: MAX_DEPTH })
    ));
    // Nesting inside a real invoice.
    let deep = format!("{}{}", "<x>".repeat(100), "</x>".repeat(100));
    let xml = fa3(GOOD_FA, &format!("<Stopka>{deep}</Stopka>"));
    assert!(matches!(
        InvoiceView::parse(xml.as_bytes()),
        Err(ViewError::TooDeep { .. })
    ));
}

#[test]
fn too_many_nodes() {
    let xml = format!("<a>{}</a>", "<b/>".repeat(MAX_NODES as usize + 1));
    assert!(xml.len() < MAX_INPUT_BYTES);
    assert!(matches!(
        InvoiceView::parse(xml.as_bytes()),
        Err(ViewError::TooManyNodes { .. })
    ));
}

#[test]
fn doctype_refused() {
    let xml = format!(
        "<!DOCTYPE Faktura [<!ENTITY x \"y\">]>{}",
        fa3(GOOD_FA, "").replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", "")
    );
    assert!(matches!(
        InvoiceView::parse(xml.as_bytes()),
        Err(ViewError::Doctype(_))
    ));
}

#[test]
fn wrong_root() {
    assert!(matches!(
        InvoiceView::parse(b"<html><body/></html>"),
        Err(ViewError::NotAnInvoice(_))
    ));
    assert!(matches!(
        InvoiceView::parse(format!("<Faktura xmlns=\"{NS3}x\"/>").as_bytes()),
        Err(ViewError::UnsupportedForm(_))
    ));
    assert!(matches!(
        InvoiceView::parse(
            b"<Invoice xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2\"/>"
        ),
        Err(ViewError::UnsupportedForm(_))
    ));
    // An FA(3) namespace under an FA(2) header.
    let xml = fa3(GOOD_FA, "").replace("kodSystemowy=\"FA (3)\"", "kodSystemowy=\"FA (2)\"");
    assert!(matches!(
        InvoiceView::parse(xml.as_bytes()),
        Err(ViewError::UnsupportedForm(_))
    ));
    // An element of the right namespace, but not Faktura.
    assert!(matches!(
        InvoiceView::parse(format!("<Fa xmlns=\"{NS3}\"/>").as_bytes()),
        Err(ViewError::NotAnInvoice(_))
    ));
}

#[test]
fn fa3_with_missing_parts() {
    let cases: [(&str, &str, &str); 5] = [
        ("<P_2>KOR/1/2026</P_2>", "", "Fa/P_2"),
        ("<P_1>2026-07-01</P_1>", "", "Fa/P_1"),
        ("<RodzajFaktury>KOR</RodzajFaktury>", "", "Fa/RodzajFaktury"),
        (
            "<NIP>5265877635</NIP>",
            "<BrakID>1</BrakID>",
            "Podmiot1/DaneIdentyfikacyjne/NIP",
        ),
        ("<Fa>", "<Fb>", "Fa"),
    ];
    for (from, to, what) in cases {
        let xml = fa3(GOOD_FA, "").replacen(from, to, 1);
        let xml = if from == "<Fa>" {
            xml.replace("</Fa>", "</Fb>")
        } else {
            xml
        };
        assert_eq!(
            InvoiceView::parse(xml.as_bytes()),
            Err(ViewError::MissingElement(what)),
            "{what}"
        );
    }
    let xml = fa3(GOOD_FA, "").replace(
        "<Podmiot2><DaneIdentyfikacyjne><KodUE>DE</KodUE><NrVatUE>123456789</NrVatUE><Nazwa>Käufer GmbH</Nazwa></DaneIdentyfikacyjne></Podmiot2>",
        "",
    );
    assert_eq!(
        InvoiceView::parse(xml.as_bytes()),
        Err(ViewError::MissingElement("Podmiot2"))
    );
    let xml = fa3(GOOD_FA, "").replace("<P_1>2026-07-01</P_1>", "<P_1>1.7.2026</P_1>");
    assert!(matches!(
        InvoiceView::parse(xml.as_bytes()),
        Err(ViewError::InvalidValue {
            element: "Fa/P_1",
            ..
        })
    ));
}

#[test]
fn unreadable_optional_values_are_warnings() {
    let xml = fa3(GOOD_FA, "")
        .replace("<P_15>1234444.50</P_15>", "<P_15>dużo</P_15>")
        .replace("<P_6>2026-06-30</P_6>", "<P_6>wczoraj</P_6>");
    let view = InvoiceView::parse(xml.as_bytes()).expect("still shown");
    assert_eq!(view.total, None);
    assert_eq!(view.sale_date, None);
    assert_eq!(view.warnings.len(), 2, "{:?}", view.warnings);
    assert!(view.warnings[0].contains("P_6"), "{:?}", view.warnings);
    let out = html::render(&view, &RenderOptions::default());
    assert!(!out.contains("dużo"));
}

#[test]
fn minimal_fa3_renders() {
    let xml = format!(
        "<Faktura xmlns=\"{NS3}\"><Podmiot1><DaneIdentyfikacyjne><NIP>1</NIP></DaneIdentyfikacyjne></Podmiot1><Podmiot2/><Fa><P_1>2026-01-01</P_1><P_2>X</P_2><RodzajFaktury>VAT</RodzajFaktury></Fa></Faktura>"
    );
    let view = InvoiceView::parse(xml.as_bytes()).expect("parses");
    let out = html::render(&view, &RenderOptions::default());
    assert!(out.contains("01.01.2026"));
    assert!(view.lines.is_empty() && view.vat_summary.is_empty());
}
