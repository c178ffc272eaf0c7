//! Every example of the OpenAPI (and a few bodies quoted in the digest) that belongs to a
//! schema this crate implements — extracted into `tests/fixtures/` by `extract.py` — must
//! deserialize, re-serialize to semantically equal JSON, and the re-serialized JSON must
//! conform to the schema.

mod support;

use ksef_wire::Validate;
use serde_json::{Value, json};
use support::{check, codec, fixtures_dir, schema_ref, semantic_diff, spec};

/// OpenAPI examples that violate their own schema. Each entry: fixture-name prefix, the
/// missing required property, and a value to inject so the rest can still be round-tripped.
fn known_nonconforming() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            // The eight `GET /auth/{referenceNumber}` examples lack the required
            // `authenticationMethodInfo` (the digest §4.8 example and real responses have it).
            "AuthenticationOperationStatusResponse__get-auth-referencenumber-",
            "authenticationMethodInfo",
            json!({"category": "Token", "code": "token.ksef", "displayName": "Token KSeF"}),
        ),
        (
            // The `GET /sessions/{ref}/invoices/{invoiceReferenceNumber}` example lacks the
            // required `invoiceHash` (the list examples of the same schema have it).
            "SessionInvoiceStatusResponse__get-sessions-referencenumber-invoices-invoicereferencenumber-",
            "invoiceHash",
            json!("mkht+3m5trnfxlTYhq3QFn74LkEO69MFNlsMAkCDSPA="),
        ),
    ]
}

fn load_index() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(fixtures_dir().join("index.json")).unwrap();
    let index: Vec<Value> = serde_json::from_str(&text).unwrap();
    index
        .into_iter()
        .map(|e| {
            (
                e["file"].as_str().unwrap().to_owned(),
                e["schema"].as_str().unwrap().to_owned(),
                e["source"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn every_fixture_round_trips_and_conforms() {
    let spec = spec();
    let index = load_index();
    assert!(
        index.len() >= 40,
        "expected the extracted fixtures, found {}",
        index.len()
    );
    let deviations = known_nonconforming();
    let mut failures = Vec::new();
    let mut deviations_seen = 0;

    for (file, schema, source) in &index {
        let Some(codec) = codec(schema) else {
            failures.push(format!(
                "{file}: no Rust type registered for schema {schema}"
            ));
            continue;
        };
        let text = std::fs::read_to_string(fixtures_dir().join(file)).unwrap();
        let mut input: Value = serde_json::from_str(&text).unwrap();

        if let Some((_, field, inject)) = deviations.iter().find(|(p, _, _)| file.starts_with(p)) {
            deviations_seen += 1;
            // Strictness: the example as published must be rejected, naming the field.
            match codec(&input) {
                Ok(_) => failures.push(format!(
                    "{file}: accepted although required {field} is missing"
                )),
                Err(e) if e.contains(field) => {}
                Err(e) => failures.push(format!("{file}: unexpected error {e}")),
            }
            input[*field] = inject.clone();
        }

        let output = match codec(&input) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{file} ({source}): does not deserialize: {e}"));
                continue;
            }
        };
        let mut diffs = Vec::new();
        semantic_diff(&input, &output, "$", &mut diffs);
        let mut errors = Vec::new();
        check(&spec, &schema_ref(schema), &output, "$", &mut errors);
        for d in diffs {
            failures.push(format!("{file}: round trip differs: {d}"));
        }
        for e in errors {
            failures.push(format!("{file}: re-serialized JSON violates {schema}: {e}"));
        }
    }
    assert_eq!(deviations_seen, 9, "the known deviation list is stale");
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Secrets in the fixtures never reach `Debug` output.
#[test]
fn secrets_from_fixtures_are_redacted_in_debug() {
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(fixtures_dir().join(name)).unwrap()).unwrap()
    };
    let redeem: ksef_wire::AuthenticationTokensResponse = serde_json::from_value(read(
        "AuthenticationTokensResponse__post-auth-token-redeem-200.json",
    ))
    .unwrap();
    let dbg = format!("{redeem:?}");
    assert!(!dbg.contains("eyJ"), "{dbg}");

    let generated: ksef_wire::GenerateTokenResponse =
        serde_json::from_value(read("GenerateTokenResponse__post-tokens-202.json")).unwrap();
    let dbg = format!("{generated:?}");
    assert!(!dbg.contains("919f704466624ce29cd5ac7b65ded5e7"), "{dbg}");

    let init: ksef_wire::InitTokenAuthenticationRequest = serde_json::from_value(read(
        "InitTokenAuthenticationRequest__digest-4-7-ksef-token.json",
    ))
    .unwrap();
    let dbg = format!("{init:?}");
    assert!(!dbg.contains("c2VjcmV0"), "{dbg}");
    assert!(
        dbg.contains("5265877635"),
        "non-secret fields stay visible: {dbg}"
    );
}

/// The examples' enum values are all known to this crate (none fell into `Unknown`).
#[test]
fn fixture_enums_are_known() {
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(fixtures_dir().join(name)).unwrap()).unwrap()
    };
    let tokens: ksef_wire::QueryTokensResponse =
        serde_json::from_value(read("QueryTokensResponse__get-tokens-200.json")).unwrap();
    let item = &tokens.tokens[0];
    assert_eq!(item.status, ksef_core::TokenStatus::Active);
    assert!(
        item.requested_permissions
            .iter()
            .all(|p| p.known().is_some())
    );
    assert!(item.author_identifier.r#type.known().is_some());

    let certs: Vec<ksef_wire::PublicKeyCertificate> = serde_json::from_value(read(
        "PublicKeyCertificate-array__get-security-public-key-certificates-200.json",
    ))
    .unwrap();
    assert_eq!(
        certs[0].usage[0],
        ksef_wire::PublicKeyCertificateUsage::KsefTokenEncryption
    );

    let personal: ksef_wire::QueryPersonalPermissionsResponse = serde_json::from_value(read(
        "QueryPersonalPermissionsResponse__post-permissions-query-personal-grants-200.json",
    ))
    .unwrap();
    let p = &personal.permissions[0];
    assert_eq!(
        p.permission_scope,
        ksef_wire::PersonalPermissionType::InvoiceWrite
    );
    assert_eq!(p.permission_state, ksef_wire::PermissionState::Active);
    assert!(
        p.context_identifier
            .as_ref()
            .unwrap()
            .r#type
            .known()
            .is_some()
    );
    assert!(
        p.authorized_identifier
            .as_ref()
            .unwrap()
            .r#type
            .known()
            .is_some()
    );
    let query: ksef_wire::PersonalPermissionsQueryRequest = serde_json::from_value(read(
        "PersonalPermissionsQueryRequest__post-permissions-query-personal-grants-request.json",
    ))
    .unwrap();
    let valid = query.validate().unwrap();
    assert_eq!(
        valid.permission_types,
        vec![ksef_wire::PersonalPermissionType::InvoiceWrite]
    );
    assert_eq!(
        valid.permission_state,
        Some(ksef_wire::PermissionState::Active)
    );

    let limits: ksef_wire::EffectiveApiRateLimits =
        serde_json::from_value(read("EffectiveApiRateLimits__get-rate-limits-200.json")).unwrap();
    assert_eq!(limits, ksef_wire::EffectiveApiRateLimits::PRODUCTION);
    let ctx: ksef_wire::EffectiveContextLimits =
        serde_json::from_value(read("EffectiveContextLimits__get-limits-context-200.json"))
            .unwrap();
    assert_eq!(ctx, ksef_wire::EffectiveContextLimits::default());
    let subj: ksef_wire::EffectiveSubjectLimits =
        serde_json::from_value(read("EffectiveSubjectLimits__get-limits-subject-200.json"))
            .unwrap();
    assert_eq!(subj, ksef_wire::EffectiveSubjectLimits::default());
}

/// The session/invoice examples decode to known enum values and the expected shapes.
#[test]
fn session_and_invoice_fixtures_decode() {
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(fixtures_dir().join(name)).unwrap()).unwrap()
    };
    let open: ksef_wire::OpenOnlineSessionRequest = serde_json::from_value(read(
        "OpenOnlineSessionRequest__post-sessions-online-request.json",
    ))
    .unwrap();
    assert_eq!(
        open.form_code,
        ksef_wire::FormCode::new("FA (3)", "1-0E", "FA")
    );
    open.validate().unwrap();
    let dbg = format!("{open:?}");
    assert!(!dbg.contains("bdUVjqLj"), "encrypted key leaked: {dbg}");

    let batch: ksef_wire::OpenBatchSessionRequest = serde_json::from_value(read(
        "OpenBatchSessionRequest__post-sessions-batch-request.json",
    ))
    .unwrap();
    assert_eq!(batch.validate().unwrap(), ksef_wire::CompressionType::Zip);
    let batch: ksef_wire::OpenBatchSessionResponse = serde_json::from_value(read(
        "OpenBatchSessionResponse__post-sessions-batch-201.json",
    ))
    .unwrap();
    assert_eq!(
        batch.part_upload_requests[0].headers["x-ms-blob-type"],
        "BlockBlob"
    );

    let invoices: ksef_wire::SessionInvoicesResponse = serde_json::from_value(read(
        "SessionInvoicesResponse__get-sessions-referencenumber-invoices-200.json",
    ))
    .unwrap();
    let dup = &invoices.invoices[1].status;
    assert_eq!(dup.code, 440);
    assert_eq!(
        dup.extensions.as_ref().unwrap()["originalKsefNumber"],
        "5265877635-20250626-010080DD2B5E-26"
    );

    let filters: ksef_wire::InvoiceQueryFilters = serde_json::from_value(read(
        "InvoiceQueryFilters__post-invoices-query-metadata-request.json",
    ))
    .unwrap();
    filters.validate("").unwrap();
    assert_eq!(
        filters.subject_type,
        ksef_wire::InvoiceQuerySubjectType::Subject1
    );
    let digest: ksef_wire::InvoiceQueryFilters =
        serde_json::from_value(read("InvoiceQueryFilters__digest-12-2-query-filters.json"))
            .unwrap();
    digest.validate("").unwrap();

    let meta: ksef_wire::QueryInvoicesMetadataResponse = serde_json::from_value(read(
        "QueryInvoicesMetadataResponse__post-invoices-query-metadata-200.json",
    ))
    .unwrap();
    for m in &meta.invoices {
        assert!(m.invoice_type.known().is_some() && m.invoicing_mode.known().is_some());
        assert!(m.buyer.identifier.r#type.known().is_some());
    }
    let third = &meta.invoices[1].third_subjects.as_ref().unwrap()[0];
    assert_eq!(
        third.identifier.r#type,
        ksef_wire::ThirdSubjectIdentifierType::InternalId
    );
    assert_eq!(
        meta.invoices[0].issue_date,
        time::macros::date!(2025 - 08 - 27)
    );

    let export: ksef_wire::InvoiceExportRequest = serde_json::from_value(read(
        "InvoiceExportRequest__post-invoices-exports-request.json",
    ))
    .unwrap();
    assert_eq!(export.validate().unwrap(), ksef_wire::CompressionType::Zip);
    let status: ksef_wire::InvoiceExportStatusResponse = serde_json::from_value(read(
        "InvoiceExportStatusResponse__get-invoices-exports-referencenumber-200.json",
    ))
    .unwrap();
    let package = status.package.unwrap();
    assert!(package.is_truncated);
    assert_eq!(package.parts[0].encrypted_part_size, 22425072);
}
