//! XSD verdicts must agree with `xmllint --noout --nonet --schema` (libxml2's reference CLI) on
//! the same bytes and the same materialised schema files: the FA(2), FA(3) and FA_RR(1)
//! templates and a battery of mutations.

use std::path::Path;
use std::process::Command;

use ksef_invoice::{FormCode, InvoiceError, schema, validate_schema};
use ksef_testkit::invoices as inv;

const NIP: &str = "5265877635";

fn xmllint_available() -> bool {
    Command::new("xmllint").arg("--version").output().is_ok()
}

/// xmllint's verdict: exit status 0 = valid.
fn xmllint_valid(form: FormCode, xml: &[u8], dir: &Path, name: &str) -> (bool, String) {
    let file = dir.join(format!("{name}.xml"));
    std::fs::write(&file, xml).expect("write case file");
    let xsd = schema::schema_dir()
        .expect("materialised schemas")
        .join(schema::SchemaKind::Form(form).main_file());
    let out = Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(&xsd)
        .arg(&file)
        .output()
        .expect("run xmllint");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ours_valid(form: FormCode, xml: &[u8], name: &str) -> (bool, String) {
    match validate_schema(form, xml) {
        Ok(()) => (true, String::new()),
        Err(e @ InvoiceError::Encoding(_)) => {
            panic!("{name}: case trips a byte rule, not comparable with xmllint: {e}")
        }
        Err(e) => (false, e.details().join("\n")),
    }
}

/// Replace `from` (must occur) by `to`, first occurrence.
fn mutate(xml: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = std::str::from_utf8(xml).expect("utf-8 template");
    assert!(
        text.contains(from),
        "mutation pattern '{from}' not in the template"
    );
    text.replacen(from, to, 1).into_bytes()
}

fn fa3_cases() -> Vec<(&'static str, Vec<u8>)> {
    let base = inv::fa3(NIP, "0042");
    let long_name = format!("<Nazwa>{}</Nazwa>", "N".repeat(513));
    vec![
        ("fa3_template", base.clone()),
        (
            "fa3_polish_text_valid",
            mutate(
                &base,
                "<P_1M>Warszawa</P_1M>",
                "<P_1M>Łódź – Żółć &amp; „cudzysłów”</P_1M>",
            ),
        ),
        (
            "fa3_bad_nip_pattern",
            mutate(&base, &format!("<NIP>{NIP}</NIP>"), "<NIP>52658X7635</NIP>"),
        ),
        (
            "fa3_month_13",
            mutate(&base, "<P_1>2025-09-01</P_1>", "<P_1>2025-13-01</P_1>"),
        ),
        (
            "fa3_day_32",
            mutate(&base, "<P_1>2025-09-01</P_1>", "<P_1>2025-01-32</P_1>"),
        ),
        (
            "fa3_unknown_element",
            mutate(
                &base,
                "<P_1M>Warszawa</P_1M>",
                "<P_1M>Warszawa</P_1M><Nieznany>1</Nieznany>",
            ),
        ),
        (
            "fa3_missing_p2",
            mutate(&base, "<P_2>FA/GRQMB-0042/05/2025</P_2>", ""),
        ),
        (
            "fa3_empty_p2",
            mutate(&base, "<P_2>FA/GRQMB-0042/05/2025</P_2>", "<P_2></P_2>"),
        ),
        (
            "fa3_wrong_fixed_wersja",
            mutate(&base, "wersjaSchemy=\"1-0E\"", "wersjaSchemy=\"1-0F\""),
        ),
        (
            "fa3_wrong_fixed_kod",
            mutate(&base, "kodSystemowy=\"FA (3)\"", "kodSystemowy=\"FA (2)\""),
        ),
        (
            "fa3_missing_attribute",
            mutate(&base, " wersjaSchemy=\"1-0E\"", ""),
        ),
        (
            "fa3_wrong_wariant",
            mutate(
                &base,
                "<WariantFormularza>3</WariantFormularza>",
                "<WariantFormularza>2</WariantFormularza>",
            ),
        ),
        (
            "fa3_bad_enum_rodzaj",
            mutate(
                &base,
                "<RodzajFaktury>VAT</RodzajFaktury>",
                "<RodzajFaktury>XYZ</RodzajFaktury>",
            ),
        ),
        (
            "fa3_bad_enum_currency",
            mutate(
                &base,
                "<KodWaluty>PLN</KodWaluty>",
                "<KodWaluty>XXQ</KodWaluty>",
            ),
        ),
        (
            "fa3_fraction_digits",
            mutate(&base, "<P_15>53.63</P_15>", "<P_15>53.634</P_15>"),
        ),
        (
            "fa3_not_a_number",
            mutate(&base, "<P_15>53.63</P_15>", "<P_15>53,63</P_15>"),
        ),
        (
            "fa3_bad_datetime",
            mutate(&base, "2025-09-01T00:00:00Z", "2025-09-01 00:00:00"),
        ),
        (
            "fa3_max_length",
            mutate(&base, "<Nazwa>Elektrownia S.A.</Nazwa>", &long_name),
        ),
        (
            "fa3_choice_both",
            mutate(
                &base,
                "<NIP>1111111111</NIP>",
                "<NIP>1111111111</NIP><BrakID>1</BrakID>",
            ),
        ),
        (
            "fa3_wrong_order",
            mutate(
                &base,
                "<P_1>2025-09-01</P_1>\n\t\t<P_1M>Warszawa</P_1M>",
                "<P_1M>Warszawa</P_1M>\n\t\t<P_1>2025-09-01</P_1>",
            ),
        ),
        ("fa3_not_well_formed", mutate(&base, "</Fa>", "</Fx>")),
        (
            "fa3_unclosed_attribute",
            mutate(&base, "wersjaSchemy=\"1-0E\"", "wersjaSchemy=\"1-0E"),
        ),
        (
            "fa3_wrong_namespace",
            mutate(
                &base,
                "xmlns=\"http://crd.gov.pl/wzor/2025/06/25/13775/\"",
                "xmlns=\"http://crd.gov.pl/wzor/2025/06/25/99999/\"",
            ),
        ),
        (
            "fa3_no_namespace",
            mutate(
                &base,
                "xmlns=\"http://crd.gov.pl/wzor/2025/06/25/13775/\"",
                "",
            ),
        ),
        (
            "fa3_undeclared_prefix",
            mutate(&base, "<P_1M>Warszawa</P_1M>", "<x:P_1M>Warszawa</x:P_1M>"),
        ),
        (
            "fa3_bad_p17_enum",
            mutate(&base, "<P_17>2</P_17>", "<P_17>3</P_17>"),
        ),
        (
            "fa3_comment_and_cdata_valid",
            mutate(
                &base,
                "<P_1M>Warszawa</P_1M>",
                "<P_1M> <!-- miejsce --><![CDATA[Warszawa & okolice]]></P_1M>",
            ),
        ),
        (
            "fa3_cdata_in_bank_account_valid",
            mutate(
                &base,
                "<NrRB>73111111111111111111111111</NrRB>",
                "<NrRB><![CDATA[73111111111111111111111111]]></NrRB>",
            ),
        ),
        (
            "fa3_space_cdata_34_digits_valid",
            mutate(
                &base,
                "<NrRB>73111111111111111111111111</NrRB>",
                "<NrRB><![CDATA[7311111111111111111111111111111111]]></NrRB>",
            ),
        ),
        // 1 blank + 34 digits = 35 > maxLength 34: libxml2's `no_blanks` would drop the blank
        // and accept this; the blank is data here.
        (
            "fa3_space_before_cdata_35_chars",
            mutate(
                &base,
                "<NrRB>73111111111111111111111111</NrRB>",
                "<NrRB> <![CDATA[7311111111111111111111111111111111]]></NrRB>",
            ),
        ),
        (
            "fa3_entity_refs_valid",
            mutate(
                &base,
                "<P_1M>Warszawa</P_1M>",
                "<P_1M>W&#x61;rszawa &lt;centrum&gt;</P_1M>",
            ),
        ),
    ]
}

fn other_cases() -> Vec<(&'static str, FormCode, Vec<u8>)> {
    let fa2 = inv::fa2(NIP, "0042");
    let rr = inv::fa_rr1(NIP, "RR-42");
    vec![
        ("fa2_template", FormCode::Fa2, fa2.clone()),
        (
            "fa2_bad_nip",
            FormCode::Fa2,
            mutate(&fa2, &format!("<NIP>{NIP}</NIP>"), "<NIP>0123456789</NIP>"),
        ),
        (
            "fa2_wrong_fixed_wersja",
            FormCode::Fa2,
            mutate(&fa2, "wersjaSchemy=\"1-0E\"", "wersjaSchemy=\"1-1E\""),
        ),
        ("fa2_in_fa3_session", FormCode::Fa3, fa2.clone()),
        ("fa_rr1_template", FormCode::FaRr1, rr.clone()),
        (
            "fa_rr1_bad_rodzaj",
            FormCode::FaRr1,
            mutate(
                &rr,
                "<RodzajFaktury>VAT_RR</RodzajFaktury>",
                "<RodzajFaktury>VAT</RodzajFaktury>",
            ),
        ),
        (
            "fa_rr1_rate",
            FormCode::FaRr1,
            mutate(&rr, "<P_9>7.0</P_9>", "<P_9>8</P_9>"),
        ),
        ("pef3_template", FormCode::Pef3, inv::pef3(NIP, "PEF-42")),
        (
            "pef_kor3_template",
            FormCode::PefKor3,
            inv::pef_kor3(NIP, "PEF-K-42"),
        ),
    ]
}

#[test]
fn verdicts_agree_with_xmllint() {
    assert!(
        xmllint_available(),
        "xmllint is the independent oracle of this test: apt-get install libxml2-utils \
         (scripts/test.sh installs it)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cases: Vec<(&str, FormCode, Vec<u8>)> = fa3_cases()
        .into_iter()
        .map(|(n, x)| (n, FormCode::Fa3, x))
        .collect();
    cases.extend(other_cases());
    assert!(cases.len() >= 30);
    let (mut valid, mut invalid) = (0, 0);
    let mut disagreements = Vec::new();
    for (name, form, xml) in &cases {
        let (theirs, their_msg) = xmllint_valid(*form, xml, dir.path(), name);
        let (ours, our_msg) = ours_valid(*form, xml, name);
        if theirs != ours {
            disagreements.push(format!(
                "{name}: xmllint {theirs} ({}) vs ours {ours} ({our_msg})",
                their_msg.trim()
            ));
        }
        if ours {
            valid += 1
        } else {
            invalid += 1
        }
        println!("{name:28} {}", if ours { "valid" } else { "INVALID" });
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
    // The battery must exercise both outcomes.
    assert!(
        valid >= 6 && invalid >= 20,
        "valid {valid}, invalid {invalid}"
    );
}

/// The expected verdict of each mutation (so that an agreement in error cannot hide).
#[test]
fn mutation_verdicts_are_as_designed() {
    for (name, xml) in fa3_cases() {
        let expected = name == "fa3_template" || name.ends_with("_valid");
        let (ours, msg) = ours_valid(FormCode::Fa3, &xml, name);
        assert_eq!(ours, expected, "{name}: {msg}");
    }
    for (name, form, xml) in other_cases() {
        let expected = name.ends_with("_template");
        let (ours, msg) = ours_valid(form, &xml, name);
        assert_eq!(ours, expected, "{name}: {msg}");
    }
}
