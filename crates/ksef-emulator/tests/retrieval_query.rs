//! `POST /invoices/query/metadata` (digest §12.2): every filter, sorting, paging, the 10 000-row
//! truncation and the HWM rules, over real HTTP against an in-process emulator with invoices
//! seeded into its database.

mod retrieval_support;

use ksef_core::Nip;
use reqwest::StatusCode;
use retrieval_support::{Inv, invoice, numbers, query, seed, start, ts};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

fn range(date_type: &str, from: OffsetDateTime, to: Option<OffsetDateTime>) -> Value {
    let mut r = json!({"dateType": date_type, "from": ts(from)});
    if let Some(to) = to {
        r["to"] = json!(ts(to));
    }
    r
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn filters_sorting_and_metadata_fields() {
    let env = start(|_| {}).await;
    let now = OffsetDateTime::now_utc();
    let buyer = Nip::random();
    let other_buyer = Nip::random();
    let base = now - Duration::hours(10);
    // Eight invoices of our seller, one per hour, each differing in one field.
    let mut invs: Vec<Inv> = (0..8)
        .map(|i| invoice(&env.nip, &buyer, i, base + Duration::hours(i as i64)))
        .collect();
    invs[1].gross = 1000.0;
    invs[1].net = 800.0;
    invs[1].vat = 200.0;
    invs[2].currency = "EUR".into();
    invs[3].buyer_value = Some(other_buyer.to_string());
    invs[4].invoicing_mode = "Offline".into();
    invs[4].self_invoicing = true;
    invs[5].invoice_type = "Kor".into();
    invs[5].rodzaj = "KOR".into();
    invs[5].has_attachment = true;
    invs[6].form = ("FA_RR (1)".into(), "1-1E".into(), "FA_RR".into());
    invs[6].invoice_type = "VatRr".into();
    invs[7].buyer_type = "VatUe".into();
    invs[7].buyer_value = Some("DE123456789".into());
    invs[7].third = vec![(
        "InternalId".into(),
        format!("{}-00001", env.nip),
        Some("Oddział".into()),
        2,
    )];
    invs[7].authorized = Some((Nip::random().to_string(), Some("Komornik".into()), 2));
    // Issue dates in a different order than the storage times (for the Issue sort).
    for (i, inv) in invs.iter_mut().enumerate() {
        inv.issue_date = (now - Duration::days(20 - (i as i64 % 3))).date();
    }
    // A purchase invoice (we are the buyer) and someone else's invoice.
    let purchase = invoice(&Nip::random(), &env.nip, 100, base);
    let foreign = invoice(&Nip::random(), &Nip::random(), 101, base);
    let mut all = invs.clone();
    all.push(purchase.clone());
    all.push(foreign.clone());
    seed(env.pool(), &all).await;

    let ours: Vec<String> = invs.iter().map(|i| i.ksef_number.clone()).collect();
    let q = |extra: Value| {
        let mut body = json!({"subjectType": "Subject1",
            "dateRange": range("PermanentStorage", now - Duration::days(1), None)});
        if let Value::Object(m) = extra {
            for (k, v) in m {
                body[k] = v;
            }
        }
        body
    };

    // No extra filter, ascending by permanent storage (the default).
    let a = query(&env, "?pageSize=50", q(json!({}))).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(numbers(&a.body), ours);
    assert_eq!(a.body["hasMore"], false);
    assert_eq!(a.body["isTruncated"], false);
    let hwm = time::OffsetDateTime::parse(
        a.body["permanentStorageHwmDate"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(hwm <= OffsetDateTime::now_utc() && hwm > now - Duration::seconds(60));

    // Every field of one row.
    let m = &a.body["invoices"][7];
    let i7 = &invs[7];
    assert_eq!(m["invoiceNumber"], json!(i7.invoice_number));
    assert_eq!(m["issueDate"], json!(i7.issue_date.to_string()));
    assert_eq!(
        m["seller"],
        json!({"nip": env.nip.as_str(), "name": "Elektrownia S.A."})
    );
    assert_eq!(
        m["buyer"],
        json!({"identifier": {"type": "VatUe", "value": "DE123456789"}, "name": "F.H.U. Jan Kowalski"})
    );
    assert_eq!(m["netAmount"], json!(100.0));
    assert_eq!(m["grossAmount"], json!(123.0));
    assert_eq!(m["vatAmount"], json!(23.0));
    assert_eq!(m["currency"], "PLN");
    assert_eq!(m["invoicingMode"], "Online");
    assert_eq!(m["invoiceType"], "Vat");
    assert_eq!(
        m["formCode"],
        json!({"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"})
    );
    assert_eq!(m["isSelfInvoicing"], false);
    assert_eq!(m["hasAttachment"], false);
    assert_eq!(
        m["invoiceHash"],
        json!(retrieval_support::sha256_b64(&i7.content))
    );
    assert_eq!(
        m["thirdSubjects"],
        json!([{"identifier": {"type": "InternalId", "value": format!("{}-00001", env.nip)}, "name": "Oddział", "role": 2}])
    );
    assert_eq!(m["authorizedSubject"]["role"], 2);
    for (field, t) in [
        ("invoicingDate", i7.invoicing),
        ("acquisitionDate", i7.acquisition),
        ("permanentStorageDate", i7.permanent),
    ] {
        let got = OffsetDateTime::parse(
            m[field].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        assert!(
            (got - t).abs() < Duration::milliseconds(1),
            "{field}: {got} vs {t}"
        );
    }

    // Descending.
    let a = query(&env, "?sortOrder=Desc&pageSize=50", q(json!({}))).await;
    let mut rev = ours.clone();
    rev.reverse();
    assert_eq!(numbers(&a.body), rev);

    // Each filter picks out the invoice that differs in it.
    let cases: Vec<(Value, Vec<usize>)> = vec![
        (json!({"amount": {"type": "Brutto", "from": 500}}), vec![1]),
        (
            json!({"amount": {"type": "Netto", "from": 700, "to": 900}}),
            vec![1],
        ),
        (
            json!({"amount": {"type": "Vat", "to": 100}}),
            vec![0, 2, 3, 4, 5, 6, 7],
        ),
        (json!({"currencyCodes": ["EUR", "USD"]}), vec![2]),
        (
            json!({"buyerIdentifier": {"type": "Nip", "value": other_buyer.as_str()}}),
            vec![3],
        ),
        (json!({"buyerIdentifier": {"type": "VatUe"}}), vec![7]),
        (json!({"invoicingMode": "Offline"}), vec![4]),
        (json!({"isSelfInvoicing": true}), vec![4]),
        (json!({"invoiceTypes": ["Kor", "VatRr"]}), vec![5, 6]),
        (json!({"hasAttachment": true}), vec![5]),
        (json!({"formType": "FA_RR"}), vec![6]),
        (json!({"ksefNumber": invs[3].ksef_number}), vec![3]),
        (json!({"invoiceNumber": invs[2].invoice_number}), vec![2]),
        (
            json!({"sellerNip": env.nip.as_str(), "currencyCodes": ["PLN"], "hasAttachment": false}),
            vec![0, 1, 3, 4, 6, 7],
        ),
        (json!({"sellerNip": Nip::random().as_str()}), vec![]),
    ];
    for (extra, expected) in cases {
        let a = query(&env, "?pageSize=50", q(extra.clone())).await;
        assert_eq!(a.status, StatusCode::OK, "{extra}: {:?}", a.body);
        let want: Vec<String> = expected.iter().map(|i| ours[*i].clone()).collect();
        assert_eq!(numbers(&a.body), want, "filter {extra}");
    }

    // Subject types: buyer side and third subjects use the caller's context identifier.
    let a = query(
        &env,
        "",
        json!({"subjectType": "Subject2", "dateRange": range("Invoicing", now - Duration::days(1), None)}),
    )
    .await;
    assert_eq!(numbers(&a.body), vec![purchase.ksef_number.clone()]);
    assert!(
        a.body
            .get("permanentStorageHwmDate")
            .is_none_or(Value::is_null)
    );
    let a = query(
        &env,
        "",
        json!({"subjectType": "Subject3", "dateRange": range("Invoicing", now - Duration::days(1), None)}),
    )
    .await;
    assert_eq!(numbers(&a.body), Vec::<String>::new());

    // Date types: Invoicing range cuts at invoicing time (2 s before storage).
    let a = query(
        &env,
        "?pageSize=50",
        json!({"subjectType": "Subject1",
               "dateRange": range("Invoicing", invs[2].invoicing, Some(invs[4].invoicing))}),
    )
    .await;
    assert_eq!(numbers(&a.body), ours[2..=4].to_vec());
    let a = query(
        &env,
        "?pageSize=50",
        json!({"subjectType": "Subject1",
               "dateRange": range("PermanentStorage", invs[2].invoicing, Some(invs[4].invoicing))}),
    )
    .await;
    assert_eq!(numbers(&a.body), ours[2..=3].to_vec());

    // Issue dates: sorted by issue date, ties by KSeF number; the range by calendar date.
    let a = query(
        &env,
        "?pageSize=50",
        json!({"subjectType": "Subject1", "dateRange": range("Issue", now - Duration::days(30), None)}),
    )
    .await;
    let mut by_issue: Vec<(String, String)> = invs
        .iter()
        .map(|i| (i.issue_date.to_string(), i.ksef_number.clone()))
        .collect();
    by_issue.sort();
    assert_eq!(
        numbers(&a.body),
        by_issue.iter().map(|(_, k)| k.clone()).collect::<Vec<_>>()
    );
    let day = invs[0].issue_date; // now − 20 days
    let a = query(
        &env,
        "?pageSize=50",
        json!({"subjectType": "Subject1", "dateRange": {"dateType": "Issue",
               "from": format!("{day}T00:00:00"), "to": format!("{day}T23:59:59")}}),
    )
    .await;
    assert_eq!(
        sorted(numbers(&a.body)),
        sorted(vec![ours[0].clone(), ours[3].clone(), ours[6].clone()])
    );
}

#[tokio::test]
async fn validation_errors() {
    let env = start(|_| {}).await;
    let now = OffsetDateTime::now_utc();
    let ok = json!({"subjectType": "Subject1", "dateRange": range("Invoicing", now - Duration::days(1), None)});
    let bad_bodies = [
        json!({"subjectType": "Subject9", "dateRange": ok["dateRange"]}),
        json!({"subjectType": "Subject1"}),
        json!({"subjectType": "Subject1", "dateRange": {"dateType": "Invoicing", "from": "wczoraj"}}),
        // More than 3 months.
        json!({"subjectType": "Subject1", "dateRange": range("Invoicing", now - Duration::days(95), Some(now))}),
        json!({"subjectType": "Subject1", "dateRange": range("Invoicing", now - Duration::days(95), None)}),
        // to before from.
        json!({"subjectType": "Subject1", "dateRange": range("Invoicing", now, Some(now - Duration::days(1)))}),
        // HWM restriction only with PermanentStorage.
        json!({"subjectType": "Subject1", "dateRange": {"dateType": "Issue", "from": ts(now - Duration::days(1)), "restrictToPermanentStorageHwmDate": true}}),
        json!({"subjectType": "Subject1", "dateRange": ok["dateRange"], "currencyCodes": ["ZZZ"]}),
        json!({"subjectType": "Subject1", "dateRange": ok["dateRange"], "sellerNip": "123"}),
        json!({"subjectType": "Subject1", "dateRange": ok["dateRange"], "ksefNumber": "5265877635-20250826-0100001AF629-00"}),
        json!({"subjectType": "Subject1", "dateRange": ok["dateRange"], "amount": {"from": 1}}),
        json!({"subjectType": "Subject1", "dateRange": ok["dateRange"], "invoiceTypes": ["Vat", "Faktura"]}),
    ];
    for body in bad_bodies {
        let a = query(&env, "", body.clone()).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}: {:?}", a.body);
        assert_eq!(a.exception_code(), Some(21405), "{body}: {:?}", a.body);
    }
    for q in [
        "?pageSize=9",
        "?pageSize=251",
        "?pageOffset=-1",
        "?sortOrder=Up",
    ] {
        let a = query(&env, q, ok.clone()).await;
        assert_eq!(a.exception_code(), Some(21405), "{q}: {:?}", a.body);
    }
    // 3 months exactly is fine; so is a range without offsets (Europe/Warsaw time).
    let a = query(
        &env,
        "",
        json!({"subjectType": "Subject1", "dateRange": {"dateType": "Invoicing",
               "from": "2025-01-01T00:00:00", "to": "2025-04-01T00:00:00"}}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
}

#[tokio::test]
async fn high_water_mark_rules() {
    let env = start(|_| {}).await;
    let now = OffsetDateTime::now_utc();
    let buyer = Nip::random();
    let past = invoice(&env.nip, &buyer, 1, now - Duration::hours(1));
    // A row stored "in the future" stands in for one committed after the HWM was read.
    let future = invoice(&env.nip, &buyer, 2, now + Duration::hours(1));
    seed(env.pool(), &[past.clone(), future.clone()]).await;

    let body = |from: OffsetDateTime, restrict: bool| {
        json!({"subjectType": "Subject1", "dateRange": {"dateType": "PermanentStorage",
               "from": ts(from), "to": ts(now + Duration::days(1)),
               "restrictToPermanentStorageHwmDate": restrict}})
    };
    // Without the restriction both rows come back; the reported HWM is ≤ now.
    let a = query(&env, "", body(now - Duration::days(1), false)).await;
    assert_eq!(
        numbers(&a.body),
        vec![past.ksef_number.clone(), future.ksef_number.clone()]
    );
    let hwm = OffsetDateTime::parse(
        a.body["permanentStorageHwmDate"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(hwm < future.permanent && hwm <= OffsetDateTime::now_utc());
    // With it, `to` is clamped to the HWM.
    let a = query(&env, "", body(now - Duration::days(1), true)).await;
    assert_eq!(numbers(&a.body), vec![past.ksef_number.clone()]);
    // `from` after the HWM with the restriction: 21183.
    let a = query(&env, "", body(now + Duration::minutes(5), true)).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{:?}", a.body);
    assert_eq!(a.exception_code(), Some(21183));
    // Without it the same range is just a query.
    let a = query(&env, "", body(now + Duration::minutes(5), false)).await;
    assert_eq!(numbers(&a.body), vec![future.ksef_number.clone()]);
    // A past range: the reported value is its end, the same on every call.
    let to = now - Duration::minutes(30);
    let past_body = json!({"subjectType": "Subject1", "dateRange": {"dateType": "PermanentStorage",
        "from": ts(now - Duration::days(1)), "to": ts(to)}});
    let a = query(&env, "", past_body.clone()).await;
    let b = query(&env, "?pageOffset=1", past_body).await;
    assert_eq!(
        a.body["permanentStorageHwmDate"],
        b.body["permanentStorageHwmDate"]
    );
    let reported = OffsetDateTime::parse(
        a.body["permanentStorageHwmDate"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!((reported - to).abs() < Duration::milliseconds(1));
}

#[tokio::test]
async fn paging_and_truncation_at_ten_thousand() {
    let env = start(|_| {}).await;
    let start_at = OffsetDateTime::now_utc() - Duration::days(2);
    let buyer = Nip::random();
    const N: usize = 10_050;
    let template = invoice(&env.nip, &buyer, 0, start_at);
    let invs: Vec<Inv> = (0..N)
        .map(|i| {
            let stored = start_at + Duration::seconds(i as i64);
            let mut inv = template.clone();
            inv.ksef_number = ksef_core::KsefNumber::generate(&env.nip, stored.date()).to_string();
            inv.invoice_number = format!("FA/{i}");
            inv.permanent = stored;
            inv.invoicing = stored - Duration::seconds(2);
            inv.acquisition = stored - Duration::seconds(1);
            inv
        })
        .collect();
    seed(env.pool(), &invs).await;
    let body = json!({"subjectType": "Subject1",
        "dateRange": range("PermanentStorage", start_at - Duration::seconds(1), None)});

    let a = query(&env, "?pageSize=250", body.clone()).await;
    assert_eq!(a.status, StatusCode::OK);
    let first = numbers(&a.body);
    assert_eq!(first.len(), 250);
    assert_eq!(first[0], invs[0].ksef_number);
    assert_eq!(
        (a.body["hasMore"].clone(), a.body["isTruncated"].clone()),
        (json!(true), json!(false))
    );

    // pageOffset is a page index.
    let a = query(&env, "?pageSize=250&pageOffset=1", body.clone()).await;
    assert_eq!(numbers(&a.body)[0], invs[250].ksef_number);
    let a = query(&env, "?pageSize=100&pageOffset=7", body.clone()).await;
    assert_eq!(numbers(&a.body)[0], invs[700].ksef_number);

    // The last reachable page: rows 9 750..10 000, truncated.
    let a = query(&env, "?pageSize=250&pageOffset=39", body.clone()).await;
    let last = numbers(&a.body);
    assert_eq!(last.len(), 250);
    assert_eq!(last[249], invs[9_999].ksef_number);
    assert_eq!(
        (a.body["hasMore"].clone(), a.body["isTruncated"].clone()),
        (json!(true), json!(true))
    );
    // A page size that does not divide 10 000 stops at 10 000 too.
    let a = query(&env, "?pageSize=30&pageOffset=333", body.clone()).await;
    assert_eq!(numbers(&a.body).len(), 10);
    assert_eq!(a.body["isTruncated"], true);
    // Beyond the cap: nothing, still truncated.
    let a = query(&env, "?pageSize=250&pageOffset=40", body.clone()).await;
    assert!(numbers(&a.body).is_empty());
    assert_eq!(a.body["isTruncated"], true);

    // Restart from the last returned date (inclusive): the rest, not truncated.
    let last_date = invs[9_999].permanent;
    let rest = json!({"subjectType": "Subject1",
        "dateRange": {"dateType": "PermanentStorage", "from": ts(last_date)}});
    let a = query(&env, "?pageSize=250", rest).await;
    let tail = numbers(&a.body);
    assert_eq!(tail.len(), N - 9_999);
    assert_eq!(tail[0], invs[9_999].ksef_number);
    assert_eq!(
        (a.body["hasMore"].clone(), a.body["isTruncated"].clone()),
        (json!(false), json!(false))
    );

    // Descending starts with the newest.
    let a = query(&env, "?pageSize=10&sortOrder=Desc", body).await;
    assert_eq!(numbers(&a.body)[0], invs[N - 1].ksef_number);
}
