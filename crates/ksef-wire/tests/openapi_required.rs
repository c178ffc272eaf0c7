//! Walks `open-api.json` at test time: for every schema this crate implements, a sample value
//! built in Rust (a minimal one with every `Option` = `None`, and a full one) is serialized
//! and checked against the schema — every `required` property present (recursively), no
//! `null` where not nullable, JSON types, enum values, and no property the schema lacks.
//! A further test checks that every request/response schema of the in-scope operations has
//! samples here, so a newly referenced schema cannot be forgotten.

mod support;

use std::collections::BTreeSet;

use ksef_core::{
    AuthenticationMethod, AuthenticationMethodCategory, ContextIdentifierType,
    SubjectIdentifierKind, TokenPermission, TokenStatus,
};
use ksef_wire::*;
use serde::Serialize;
use serde_json::{Map, Value, json};
use support::{check, schema_ref, spec};
use time::OffsetDateTime;
use time::macros::{date, datetime};

const T: OffsetDateTime = datetime!(2025-07-11 12:23:56.0154302 UTC);

fn v<S: Serialize>(s: S) -> Value {
    serde_json::to_value(s).unwrap()
}

fn status() -> StatusInfo {
    StatusInfo::new(200, "Uwierzytelnianie zakończone sukcesem")
}

fn method_info() -> AuthenticationMethodInfo {
    AuthenticationMethodInfo {
        category: AuthenticationMethodCategory::XadesSignature.into(),
        code: "xades.qualified-seal".into(),
        display_name: "Pieczęć kwalifikowana".into(),
    }
}

fn token_item(full: bool) -> QueryTokensResponseItem {
    QueryTokensResponseItem {
        reference_number: "20251001-EC-220B0CE000-E228129563-96".into(),
        author_identifier: TypedIdentifier::new(SubjectIdentifierKind::Nip, "7762811692"),
        context_identifier: TypedIdentifier::new(ContextIdentifierType::Nip, "5265877635"),
        description: "Wystawianie i przeglądanie faktur.".into(),
        requested_permissions: vec![TokenPermission::InvoiceRead.into()],
        date_created: T,
        last_use_date: full.then_some(T),
        status: TokenStatus::Active.into(),
        status_details: full.then(Vec::new),
    }
}

fn list_item(full: bool) -> AuthenticationListItem {
    AuthenticationListItem {
        reference_number: "20251010-AU-19F5E39000-39B5B182BA-B8".into(),
        is_current: full,
        start_date: T,
        authentication_method: AuthenticationMethod::QualifiedSeal.into(),
        authentication_method_info: method_info(),
        status: if full {
            status().with_details(["x"])
        } else {
            status()
        },
        is_token_redeemed: full.then_some(true),
        last_token_refresh_date: full.then_some(T),
        refresh_token_valid_until: full.then_some(T),
    }
}

fn personal_permission(full: bool) -> PersonalPermission {
    PersonalPermission {
        id: "0c9a72e8-f344-457f-9c16-7c640eb60242".into(),
        context_identifier: full.then(|| {
            TypedIdentifier::new(PersonalPermissionsContextIdentifierType::Nip, "5265877635")
        }),
        authorized_identifier: full
            .then(|| TypedIdentifier::new(SubjectIdentifierKind::Pesel, "15062788702")),
        target_identifier: full.then(|| PersonalPermissionsTargetIdentifier {
            r#type: PersonalPermissionsTargetIdentifierType::AllPartners.into(),
            value: None,
        }),
        permission_scope: PersonalPermissionType::InvoiceWrite.into(),
        description: "Opis uprawnienia".into(),
        subject_person_details: full.then(|| PermissionsSubjectPersonDetails {
            subject_details_type: PersonSubjectDetailsType::PersonByFingerprintWithoutIdentifier
                .into(),
            first_name: "Ewa".into(),
            last_name: "Testowa".into(),
            person_identifier: Some(TypedIdentifier::new(
                PersonIdentifierType::Pesel,
                "15062788702",
            )),
            birth_date: Some(date!(1990 - 01 - 31)),
            id_document: Some(IdDocument {
                r#type: "Paszport".into(),
                number: "AB1234567".into(),
                country: "DE".into(),
            }),
        }),
        subject_entity_details: full.then(|| PermissionsSubjectEntityDetails {
            subject_details_type: EntitySubjectDetailsType::EntityByFingerprint.into(),
            full_name: "Firma Testowa Sp. z o.o.".into(),
            address: Some("ul. Testowa 1, 00-001 Warszawa".into()),
        }),
        permission_state: PermissionState::Active.into(),
        start_date: T,
        can_delegate: full,
    }
}

fn exception(full: bool) -> ExceptionResponse {
    ExceptionResponse {
        exception: full.then(|| ExceptionInfo {
            exception_detail_list: Some(vec![ExceptionDetails::new(21405, "Błąd", ["d"])]),
            reference_number: None,
            service_code: Some("00-abc-00".into()),
            service_ctx: Some("srvABCDA".into()),
            service_name: Some("Undefined".into()),
            timestamp: Some(T),
        }),
    }
}

fn minimal_exception_info() -> ExceptionResponse {
    ExceptionResponse::new(ExceptionInfo {
        exception_detail_list: None,
        reference_number: None,
        service_code: None,
        service_ctx: None,
        service_name: None,
        timestamp: None,
    })
}

fn security_map() -> Map<String, Value> {
    ForbiddenProblemDetails::missing_permissions_security(["InvoiceRead"], ["CredentialsRead"])
}

/// (schema name, sample JSON) for every response schema, minimal and full.
fn response_samples() -> Vec<(&'static str, Value)> {
    let mut out = base_response_samples();
    out.extend(invoicing_response_samples());
    out
}

/// (schema name, sample JSON) for every request schema, minimal and full.
fn request_samples() -> Vec<(&'static str, Value)> {
    let mut out = base_request_samples();
    out.extend(invoicing_request_samples());
    out
}

fn base_response_samples() -> Vec<(&'static str, Value)> {
    let cert = PublicKeyCertificate {
        certificate: "MIIB".into(),
        certificate_id: "35k6IVMTxUPZKQdg4Fbx36T5/v3aoJK5hIY7sS7mt3U=".into(),
        public_key_id: "QIoAK/Yc3s27Z4t3SZY4Mhp8JNLH7Vl4N3lNlJAEig8=".into(),
        valid_from: T,
        valid_to: T,
        usage: vec![PublicKeyCertificateUsage::KsefTokenEncryption.into()],
    };
    let token = TokenInfo::new("eyJhbGciOiJIUzI1NiJ9.e30.sig", T);
    let status_response = |full: bool| AuthenticationOperationStatusResponse {
        start_date: T,
        authentication_method: AuthenticationMethod::Token.into(),
        authentication_method_info: method_info(),
        status: status(),
        is_token_redeemed: full.then_some(false),
        last_token_refresh_date: full.then_some(T),
        refresh_token_valid_until: full.then_some(T),
    };
    let unauthorized = |full: bool| UnauthorizedProblemDetails {
        title: UnauthorizedProblemDetails::TITLE.into(),
        status: UnauthorizedProblemDetails::STATUS,
        detail: "Wymagane jest uwierzytelnienie.".into(),
        instance: full.then(|| "/v2/tokens".into()),
        trace_id: full.then(|| "673843e023c432286660bc0501a3af44".into()),
        timestamp: T,
    };
    let forbidden = |full: bool| ForbiddenProblemDetails {
        title: ForbiddenProblemDetails::TITLE.into(),
        status: ForbiddenProblemDetails::STATUS,
        detail: "Brak wymaganych uprawnień.".into(),
        instance: full.then(|| "/v2/tokens".into()),
        reason_code: ForbiddenReasonCode::MissingPermissions.into(),
        security: full.then(security_map),
        trace_id: full.then(|| "673843e023c432286660bc0501a3af44".into()),
        timestamp: T,
    };
    vec![
        ("PublicKeyCertificate[]", v(vec![cert.clone()])),
        ("PublicKeyCertificate", v(&cert)),
        (
            "AuthenticationChallengeResponse",
            v(AuthenticationChallengeResponse {
                challenge: "20250514-CR-226FB7B000-3ACF9BE4C0-10".into(),
                timestamp: T,
                timestamp_ms: 1_752_236_636_015,
                client_ip: "127.0.0.1".into(),
            }),
        ),
        (
            "AuthenticationInitResponse",
            v(AuthenticationInitResponse {
                reference_number: "20250514-AU-2DFC46C000-3AC6D5877F-D4".into(),
                authentication_token: token.clone(),
            }),
        ),
        ("TokenInfo", v(&token)),
        (
            "AuthenticationOperationStatusResponse",
            v(status_response(false)),
        ),
        (
            "AuthenticationOperationStatusResponse",
            v(status_response(true)),
        ),
        ("AuthenticationMethodInfo", v(method_info())),
        ("StatusInfo", v(status())),
        ("StatusInfo", v(status().with_details(["a", "b"]))),
        (
            "AuthenticationTokensResponse",
            v(AuthenticationTokensResponse {
                access_token: token.clone(),
                refresh_token: token.clone(),
            }),
        ),
        (
            "AuthenticationTokenRefreshResponse",
            v(AuthenticationTokenRefreshResponse {
                access_token: token.clone(),
            }),
        ),
        (
            "AuthenticationListResponse",
            v(AuthenticationListResponse {
                continuation_token: None,
                items: vec![list_item(false)],
            }),
        ),
        (
            "AuthenticationListResponse",
            v(AuthenticationListResponse {
                continuation_token: Some("W3siY29t".into()),
                items: vec![list_item(true)],
            }),
        ),
        ("AuthenticationListItem", v(list_item(false))),
        (
            "GenerateTokenResponse",
            v(GenerateTokenResponse {
                reference_number: "20251010-EC-1DCE3E3000-12ECB5B36E-45".into(),
                token: Secret::from("20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5265877635|ab"),
            }),
        ),
        (
            "QueryTokensResponse",
            v(QueryTokensResponse {
                continuation_token: None,
                tokens: vec![token_item(false)],
            }),
        ),
        (
            "QueryTokensResponse",
            v(QueryTokensResponse {
                continuation_token: Some("W3sidG9r".into()),
                tokens: vec![token_item(true)],
            }),
        ),
        ("QueryTokensResponseItem", v(token_item(false))),
        ("TokenStatusResponse", v(token_item(false))),
        ("TokenStatusResponse", v(token_item(true))),
        (
            "EffectiveContextLimits",
            v(EffectiveContextLimits::default()),
        ),
        (
            "OnlineSessionEffectiveContextLimits",
            v(SessionContextLimits::DEFAULT),
        ),
        (
            "BatchSessionEffectiveContextLimits",
            v(SessionContextLimits::DEFAULT),
        ),
        (
            "EffectiveSubjectLimits",
            v(EffectiveSubjectLimits::default()),
        ),
        (
            "EffectiveSubjectLimits",
            v(EffectiveSubjectLimits {
                enrollment: None,
                certificate: None,
            }),
        ),
        (
            "EffectiveApiRateLimits",
            v(EffectiveApiRateLimits::PRODUCTION),
        ),
        (
            "EffectiveApiRateLimitValues",
            v(EffectiveApiRateLimitValues::new(1, 2, 3)),
        ),
        (
            "QueryPersonalPermissionsResponse",
            v(QueryPersonalPermissionsResponse {
                permissions: Vec::new(),
                has_more: false,
            }),
        ),
        (
            "QueryPersonalPermissionsResponse",
            v(QueryPersonalPermissionsResponse {
                permissions: vec![personal_permission(false), personal_permission(true)],
                has_more: true,
            }),
        ),
        ("PersonalPermission", v(personal_permission(false))),
        ("PersonalPermission", v(personal_permission(true))),
        ("ExceptionResponse", v(exception(false))),
        ("ExceptionResponse", v(exception(true))),
        ("ExceptionResponse", v(minimal_exception_info())),
        (
            "BadRequestProblemDetails",
            v(BadRequestProblemDetails {
                title: BadRequestProblemDetails::TITLE.into(),
                status: BadRequestProblemDetails::STATUS,
                instance: "/v2/tokens".into(),
                detail: "Żądanie jest nieprawidłowe.".into(),
                errors: vec![
                    ApiError::new(21405, "Błąd walidacji danych wejściowych.", ["x"]),
                    ApiError {
                        code: 21157,
                        description: "Nieprawidłowy rozmiar części pakietu.".into(),
                        details: None,
                    },
                ],
                timestamp: T,
                trace_id: "673843e023c432286660bc0501a3af44".into(),
            }),
        ),
        ("UnauthorizedProblemDetails", v(unauthorized(false))),
        ("UnauthorizedProblemDetails", v(unauthorized(true))),
        ("ForbiddenProblemDetails", v(forbidden(false))),
        ("ForbiddenProblemDetails", v(forbidden(true))),
        (
            "GoneProblemDetails",
            v(GoneProblemDetails {
                title: GoneProblemDetails::TITLE.into(),
                status: GoneProblemDetails::STATUS,
                instance: "/v2/auth/20250514-AU-2DFC46C000-3AC6D5877F-D4".into(),
                detail: "Operacja wygasła i nie jest już dostępna.".into(),
                timestamp: T,
                trace_id: "673843e023c432286660bc0501a3af44".into(),
            }),
        ),
        (
            "TooManyRequestsResponse",
            v(TooManyRequestsResponse::new([
                "Przekroczono limit 20 żądań na minutę.",
            ])),
        ),
        (
            "TooManyRequestsProblemDetails",
            v(TooManyRequestsProblemDetails {
                title: TooManyRequestsProblemDetails::TITLE.into(),
                status: TooManyRequestsProblemDetails::STATUS,
                instance: "/v2/tokens".into(),
                detail: "Przekroczono limit.".into(),
                timestamp: T,
                trace_id: "673843e023c432286660bc0501a3af44".into(),
            }),
        ),
    ]
}

fn base_request_samples() -> Vec<(&'static str, Value)> {
    let ctx = TypedIdentifier::new(ContextIdentifierType::Nip, "5265877635");
    let init = |full: bool| InitTokenAuthenticationRequest {
        challenge: "20250625-CR-2FDC223000-C2BFC98A9C-4E".into(),
        context_identifier: ctx.clone(),
        encrypted_token: Secret::from("c2VjcmV0"),
        public_key_id: full.then(|| "QIoAK/Yc3s27Z4t3SZY4Mhp8JNLH7Vl4N3lNlJAEig8=".into()),
        authorization_policy: full.then(|| AuthorizationPolicy {
            allowed_ips: Some(AllowedIps {
                ip4_addresses: Some(vec!["192.168.0.1".into()]),
                ip4_ranges: Some(vec!["10.0.0.1-10.0.0.254".into()]),
                ip4_masks: Some(vec!["192.168.1.0/24".into()]),
            }),
        }),
    };
    let subject = |full: bool| SubjectCreateRequest {
        subject_nip: "7762811692".into(),
        subject_type: testdata::SubjectType::VatGroup.into(),
        subunits: full.then(|| {
            vec![Subunit {
                subject_nip: "5265877635".into(),
                description: "Członek grupy".into(),
            }]
        }),
        description: "Grupa VAT".into(),
        created_date: full.then_some(T),
    };
    let person = |full: bool| PersonCreateRequest {
        nip: "7762811692".into(),
        pesel: "15062788702".into(),
        is_bailiff: full,
        description: "TestPerson_01".into(),
        is_deceased: full,
        created_date: full.then_some(T),
    };
    let tctx = TypedIdentifier::new(TestDataContextIdentifierType::Nip, "7762811692");
    let auth_id = TypedIdentifier::new(SubjectIdentifierKind::Pesel, "15062788702");
    let block_ctx = Some(TypedIdentifier::new(
        ContextIdentifierType::InternalId,
        "6824515772-12343",
    ));
    vec![
        ("InitTokenAuthenticationRequest", v(init(false))),
        ("InitTokenAuthenticationRequest", v(init(true))),
        (
            "GenerateTokenRequest",
            v(GenerateTokenRequest::new(
                &[TokenPermission::InvoiceRead],
                "Opis tokena",
            )),
        ),
        ("SubjectCreateRequest", v(subject(false))),
        ("SubjectCreateRequest", v(subject(true))),
        (
            "SubjectRemoveRequest",
            v(SubjectRemoveRequest {
                subject_nip: "7762811692".into(),
            }),
        ),
        ("PersonCreateRequest", v(person(false))),
        ("PersonCreateRequest", v(person(true))),
        (
            "PersonRemoveRequest",
            v(PersonRemoveRequest {
                nip: "7762811692".into(),
            }),
        ),
        (
            "TestDataPermissionsGrantRequest",
            v(TestDataPermissionsGrantRequest {
                context_identifier: tctx.clone(),
                authorized_identifier: auth_id.clone(),
                permissions: vec![TestDataPermission {
                    description: "Opis testowy".into(),
                    permission_type: TokenPermission::InvoiceRead.into(),
                }],
            }),
        ),
        (
            "TestDataPermissionsRevokeRequest",
            v(TestDataPermissionsRevokeRequest {
                context_identifier: tctx,
                authorized_identifier: auth_id,
            }),
        ),
        (
            "AttachmentPermissionGrantRequest",
            v(AttachmentPermissionGrantRequest {
                nip: "7762811692".into(),
            }),
        ),
        (
            "AttachmentPermissionRevokeRequest",
            v(AttachmentPermissionRevokeRequest {
                nip: "7762811692".into(),
                expected_end_date: Some(date!(2026 - 03 - 31)),
            }),
        ),
        (
            "BlockContextAuthenticationRequest",
            v(BlockContextAuthenticationRequest {
                context_identifier: block_ctx.clone(),
            }),
        ),
        (
            "UnblockContextAuthenticationRequest",
            v(UnblockContextAuthenticationRequest {
                context_identifier: block_ctx,
            }),
        ),
        (
            "SetSessionLimitsRequest",
            v(SetSessionLimitsRequest {
                online_session: SessionContextLimits::DEFAULT,
                batch_session: SessionContextLimits::DEFAULT,
            }),
        ),
        (
            "SetSubjectLimitsRequest",
            v(SetSubjectLimitsRequest {
                subject_identifier_type: Some(SubjectIdentifierKind::Fingerprint.into()),
                enrollment: Some(EnrollmentSubjectLimitsOverride {
                    max_enrollments: Some(3),
                }),
                certificate: Some(CertificateSubjectLimitsOverride {
                    max_certificates: None,
                }),
            }),
        ),
        (
            "SetSubjectLimitsRequest",
            v(SetSubjectLimitsRequest {
                subject_identifier_type: None,
                enrollment: None,
                certificate: None,
            }),
        ),
        (
            "SetRateLimitsRequest",
            v(SetRateLimitsRequest {
                rate_limits: EffectiveApiRateLimits::PRODUCTION,
            }),
        ),
        (
            "PersonalPermissionsQueryRequest",
            v(PersonalPermissionsQueryRequest::default()),
        ),
        (
            "PersonalPermissionsQueryRequest",
            v(PersonalPermissionsQueryRequest {
                context_identifier: Some(TypedIdentifier::new(
                    PersonalPermissionsContextIdentifierType::InternalId,
                    "6824515772-12343",
                )),
                target_identifier: Some(PersonalPermissionsTargetIdentifier {
                    r#type: PersonalPermissionsTargetIdentifierType::Nip.into(),
                    value: Some("5265877635".into()),
                }),
                permission_types: Some(vec![
                    PersonalPermissionType::VatUeManage.into(),
                    PersonalPermissionType::InvoiceRead.into(),
                ]),
                permission_state: Some(PermissionState::Inactive.into()),
            }),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Sessions and invoices
// ---------------------------------------------------------------------------------------------

const HASH: &str = "mkht+3m5trnfxlTYhq3QFn74LkEO69MFNlsMAkCDSPA=";
const KSEF_NUMBER: &str = "5265877635-20250626-010080DD2B5E-26";

fn form_code() -> FormCode {
    FormCode::new("FA (3)", "1-0E", "FA")
}

fn encryption(full: bool) -> EncryptionInfo {
    EncryptionInfo {
        encrypted_symmetric_key: Secret::from("c2VjcmV0S2V5"),
        initialization_vector: "OmtDQdl6vkOI1GLKZSjgEg==".into(),
        public_key_id: full.then(|| "tmtCidSRzR4fvNpLU5hMOM6FzamxJf0BBR8IkXIAwsY=".into()),
    }
}

fn invoice_status(full: bool) -> SessionInvoiceStatusResponse {
    SessionInvoiceStatusResponse {
        ordinal_number: 1,
        invoice_number: full.then(|| "FA/1/2025".into()),
        ksef_number: full.then(|| KSEF_NUMBER.into()),
        reference_number: "20250918-EE-2F15D39000-242207E5C4-1B".into(),
        invoice_hash: HASH.into(),
        invoice_file_name: full.then(|| "invoice1.xml".into()),
        acquisition_date: full.then_some(T),
        invoicing_date: T,
        permanent_storage_date: full.then_some(T),
        upo_download_url: full.then(|| "https://h/storage/upo?sig=x".into()),
        upo_download_url_expiration_date: full.then_some(T),
        invoicing_mode: full.then_some(InvoicingMode::Offline.into()),
        status: if full {
            InvoiceStatusInfo::new(440, "Duplikat faktury")
                .with_details(["Duplikat faktury."])
                .with_extension("originalKsefNumber", KSEF_NUMBER)
        } else {
            InvoiceStatusInfo::new(200, "Sukces")
        },
    }
}

fn session_item(full: bool) -> SessionsQueryResponseItem {
    SessionsQueryResponseItem {
        reference_number: "20250925-SO-2F67776000-97273B191A-65".into(),
        status: StatusInfo::new(200, "Sesja interaktywna przetworzona pomyślnie"),
        date_created: T,
        date_updated: T,
        valid_until: full.then_some(T),
        total_invoice_count: 2,
        successful_invoice_count: 2,
        failed_invoice_count: 0,
    }
}

fn upo_page() -> UpoPageResponse {
    UpoPageResponse {
        reference_number: "20250918-EU-2EBD6FA000-242EB9B66D-43".into(),
        download_url: "https://h/storage/upo_00.xml?sig=x".into(),
        download_url_expiration_date: T,
    }
}

fn session_status(full: bool) -> SessionStatusResponse {
    SessionStatusResponse {
        status: StatusInfo::new(100, "Sesja interaktywna otwarta"),
        date_created: T,
        date_updated: T,
        valid_until: full.then_some(T),
        upo: full.then(|| UpoResponse {
            pages: vec![upo_page()],
        }),
        invoice_count: full.then_some(10),
        successful_invoice_count: full.then_some(8),
        failed_invoice_count: full.then_some(2),
    }
}

fn metadata(full: bool) -> InvoiceMetadata {
    InvoiceMetadata {
        ksef_number: KSEF_NUMBER.into(),
        invoice_number: "FA/1/2025".into(),
        issue_date: date!(2025 - 08 - 27),
        invoicing_date: T,
        acquisition_date: T,
        permanent_storage_date: T,
        seller: InvoiceMetadataSeller {
            nip: "5265877635".into(),
            name: full.then(|| "Sprzedawca".into()),
        },
        buyer: InvoiceMetadataBuyer {
            identifier: InvoiceMetadataBuyerIdentifier::new(
                if full {
                    BuyerIdentifierType::Nip
                } else {
                    BuyerIdentifierType::None
                },
                full.then(|| "7352765225".into()),
            ),
            name: full.then(|| "Nabywca".into()),
        },
        net_amount: 100.0,
        gross_amount: 123.0,
        vat_amount: 23.0,
        currency: "PLN".into(),
        invoicing_mode: InvoicingMode::Online.into(),
        invoice_type: InvoiceType::Vat.into(),
        form_code: form_code(),
        is_self_invoicing: full,
        has_attachment: full,
        invoice_hash: HASH.into(),
        hash_of_corrected_invoice: full.then(|| HASH.into()),
        third_subjects: full.then(|| {
            vec![InvoiceMetadataThirdSubject {
                identifier: InvoiceMetadataThirdSubjectIdentifier {
                    r#type: ThirdSubjectIdentifierType::InternalId.into(),
                    value: Some("5265877635-12345".into()),
                },
                name: Some("Wystawca".into()),
                role: 4,
            }]
        }),
        authorized_subject: full.then(|| InvoiceMetadataAuthorizedSubject {
            nip: "7762811692".into(),
            name: Some("Komornik".into()),
            role: 2,
        }),
    }
}

fn package_part() -> InvoicePackagePart {
    InvoicePackagePart {
        ordinal_number: 1,
        part_name: "20250925-EH-2D2C11B000-E9C9ED8340-EE-001.zip.aes".into(),
        method: "GET".into(),
        url: "https://h/storage/part?sig=x".into(),
        part_size: 100,
        part_hash: HASH.into(),
        encrypted_part_size: 112,
        encrypted_part_hash: HASH.into(),
        expiration_date: T,
    }
}

fn export_status(full: bool) -> InvoiceExportStatusResponse {
    InvoiceExportStatusResponse {
        status: StatusInfo::new(200, "Eksport faktur zakończony sukcesem"),
        completed_date: full.then_some(T),
        package_expiration_date: full.then_some(T),
        package: full.then(|| InvoicePackage {
            invoice_count: 1,
            size: 100,
            parts: vec![package_part()],
            is_truncated: true,
            last_issue_date: Some(date!(2025 - 08 - 27)),
            last_invoicing_date: Some(T),
            last_permanent_storage_date: Some(T),
            permanent_storage_hwm_date: Some(T),
        }),
    }
}

fn filters(full: bool) -> InvoiceQueryFilters {
    let mut f = InvoiceQueryFilters::new(
        InvoiceQuerySubjectType::Subject2,
        InvoiceQueryDateRange::new(InvoiceQueryDateType::PermanentStorage, T, None),
    );
    if full {
        f.date_range.to = Some(T);
        f.date_range.restrict_to_permanent_storage_hwm_date = Some(true);
        f.ksef_number = Some(KSEF_NUMBER.into());
        f.invoice_number = Some("FA/1/2025".into());
        f.amount = Some(InvoiceQueryAmount {
            r#type: AmountType::Brutto.into(),
            from: Some(-10.5),
            to: Some(250.0),
        });
        f.seller_nip = Some("5265877635".into());
        f.buyer_identifier = Some(InvoiceQueryBuyerIdentifier::new(
            BuyerIdentifierType::VatUe,
            Some("DE123456789".into()),
        ));
        f.currency_codes = Some(vec!["PLN".into(), "EUR".into()]);
        f.invoicing_mode = Some(InvoicingMode::Online.into());
        f.is_self_invoicing = Some(false);
        f.form_type = Some(InvoiceQueryFormType::FaRr.into());
        f.invoice_types = Some(vec![InvoiceType::KorVatRr.into(), InvoiceType::Vat.into()]);
        f.has_attachment = Some(true);
    }
    f
}

fn invoicing_response_samples() -> Vec<(&'static str, Value)> {
    let mut out = vec![
        (
            "OpenOnlineSessionResponse",
            v(OpenOnlineSessionResponse {
                reference_number: "20250625-SO-2C3E6C8000-B675CF5D68-07".into(),
                valid_until: T,
            }),
        ),
        (
            "SendInvoiceResponse",
            v(SendInvoiceResponse {
                reference_number: "20250625-EE-319D7EE000-B67F415CDC-2C".into(),
            }),
        ),
        (
            "OpenBatchSessionResponse",
            v(OpenBatchSessionResponse {
                reference_number: "20250626-SB-213D593000-4DE10D80A5-E9".into(),
                part_upload_requests: vec![PartUploadRequest {
                    ordinal_number: 1,
                    method: "PUT".into(),
                    url: "https://h/storage/batch-parts/1?sig=x".into(),
                    headers: [("x-ms-blob-type".to_owned(), "BlockBlob".to_owned())].into(),
                }],
            }),
        ),
        (
            "ExportInvoicesResponse",
            v(ExportInvoicesResponse {
                reference_number: "20251010-EH-1B6C9EB000-4B15D3AEB9-89".into(),
            }),
        ),
        ("UpoPageResponse", v(upo_page())),
        ("InvoicePackagePart", v(package_part())),
    ];
    for full in [false, true] {
        out.extend([
            (
                "SessionsQueryResponse",
                v(SessionsQueryResponse {
                    continuation_token: full.then(|| "W3siY29t".into()),
                    sessions: vec![session_item(full)],
                }),
            ),
            ("SessionsQueryResponseItem", v(session_item(full))),
            ("SessionStatusResponse", v(session_status(full))),
            (
                "SessionInvoicesResponse",
                v(SessionInvoicesResponse {
                    continuation_token: full.then(|| "W34i".into()),
                    invoices: vec![invoice_status(full)],
                }),
            ),
            ("SessionInvoiceStatusResponse", v(invoice_status(full))),
            ("InvoiceStatusInfo", v(invoice_status(full).status)),
            (
                "QueryInvoicesMetadataResponse",
                v(QueryInvoicesMetadataResponse {
                    has_more: full,
                    is_truncated: full,
                    permanent_storage_hwm_date: full.then_some(T),
                    invoices: vec![metadata(full)],
                }),
            ),
            ("InvoiceMetadata", v(metadata(full))),
            ("InvoiceExportStatusResponse", v(export_status(full))),
        ]);
    }
    out
}

fn invoicing_request_samples() -> Vec<(&'static str, Value)> {
    let send = |full: bool| SendInvoiceRequest {
        invoice_hash: HASH.into(),
        invoice_size: 6480,
        encrypted_invoice_hash: HASH.into(),
        encrypted_invoice_size: 6496,
        encrypted_invoice_content: "AAAA".into(),
        offline_mode: full,
        hash_of_corrected_invoice: full.then(|| HASH.into()),
    };
    let batch = |full: bool| OpenBatchSessionRequest {
        form_code: form_code(),
        batch_file: BatchFileInfo {
            file_size: 16037,
            file_hash: HASH.into(),
            compression_type: full.then_some(CompressionType::TarGz.into()),
            file_parts: vec![BatchFilePartInfo {
                ordinal_number: 1,
                file_size: 16048,
                file_hash: HASH.into(),
            }],
        },
        encryption: encryption(full),
        offline_mode: full,
    };
    let export = |full: bool| InvoiceExportRequest {
        encryption: encryption(full),
        only_metadata: full,
        filters: filters(full),
        compression_type: full.then_some(CompressionType::Zip.into()),
    };
    let mut out = Vec::new();
    for full in [false, true] {
        out.extend([
            (
                "OpenOnlineSessionRequest",
                v(OpenOnlineSessionRequest {
                    form_code: form_code(),
                    encryption: encryption(full),
                }),
            ),
            ("EncryptionInfo", v(encryption(full))),
            ("SendInvoiceRequest", v(send(full))),
            ("OpenBatchSessionRequest", v(batch(full))),
            ("InvoiceQueryFilters", v(filters(full))),
            ("InvoiceExportRequest", v(export(full))),
        ]);
    }
    out
}

fn check_samples(samples: Vec<(&'static str, Value)>) {
    let spec = spec();
    let mut failures = Vec::new();
    for (name, value) in &samples {
        let mut errors = Vec::new();
        check(&spec, &schema_ref(name), value, "$", &mut errors);
        failures.extend(
            errors
                .into_iter()
                .map(|e| format!("{name}: {e}\n  sample: {value}")),
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn response_samples_have_every_required_property() {
    check_samples(response_samples());
}

#[test]
fn request_samples_have_every_required_property() {
    check_samples(request_samples());
}

/// The checker itself must catch a missing required property, a misspelled property, a
/// wrong null and a bad enum value (otherwise the tests above prove nothing).
#[test]
fn checker_detects_violations() {
    let spec = spec();
    let run = |name: &str, value: Value| {
        let mut errors = Vec::new();
        check(&spec, &schema_ref(name), &value, "$", &mut errors);
        errors
    };
    let mut good = v(token_item(false));
    assert!(run("TokenStatusResponse", good.clone()).is_empty());

    let mut missing = good.clone();
    missing
        .as_object_mut()
        .unwrap()
        .remove("requestedPermissions");
    let e = run("TokenStatusResponse", missing);
    assert!(
        e.iter().any(|e| e.contains("requestedPermissions")),
        "{e:?}"
    );

    let misspelled =
        json!({"maxInvoiceSizeInMb": 1, "maxInvoiceWithAttachmentSizeInMB": 3, "maxInvoices": 1});
    let e = run("OnlineSessionEffectiveContextLimits", misspelled);
    assert!(e.iter().any(|e| e.contains("maxInvoiceSizeInMb")), "{e:?}");

    good["description"] = Value::Null;
    let e = run("TokenStatusResponse", good.clone());
    assert!(e.iter().any(|e| e.contains("not nullable")), "{e:?}");

    good["description"] = json!("Opis");
    good["status"] = json!("Suspended");
    let e = run("TokenStatusResponse", good.clone());
    assert!(e.iter().any(|e| e.contains("Suspended")), "{e:?}");

    // Personal permissions: a missing required `canDelegate` inside the array, and a
    // property the schema lacks (there is no `authorIdentifier` in `PersonalPermission`).
    let mut personal = v(QueryPersonalPermissionsResponse {
        permissions: vec![personal_permission(false)],
        has_more: false,
    });
    personal["permissions"][0]
        .as_object_mut()
        .unwrap()
        .remove("canDelegate");
    personal["permissions"][0]["authorIdentifier"] = json!({"type": "System"});
    let e = run("QueryPersonalPermissionsResponse", personal);
    assert!(e.iter().any(|e| e.contains("canDelegate")), "{e:?}");
    assert!(e.iter().any(|e| e.contains("authorIdentifier")), "{e:?}");

    // Nested: a required property inside authenticationToken (allOf + $ref).
    let e = run(
        "AuthenticationInitResponse",
        json!({"referenceNumber": "x", "authenticationToken": {"token": "t"}}),
    );
    assert!(e.iter().any(|e| e.contains("validUntil")), "{e:?}");
}

/// Every JSON schema referenced (directly) by the in-scope operations has samples above.
#[test]
fn samples_cover_every_in_scope_schema() {
    let spec = spec();
    let mut ops: Vec<(&str, String)> = [
        ("get", "/security/public-key-certificates"),
        ("post", "/auth/challenge"),
        ("post", "/auth/xades-signature"),
        ("post", "/auth/ksef-token"),
        ("get", "/auth/{referenceNumber}"),
        ("post", "/auth/token/redeem"),
        ("post", "/auth/token/refresh"),
        ("get", "/auth/sessions"),
        ("post", "/tokens"),
        ("get", "/tokens"),
        ("get", "/tokens/{referenceNumber}"),
        ("get", "/limits/context"),
        ("get", "/limits/subject"),
        ("get", "/rate-limits"),
        ("post", "/permissions/query/personal/grants"),
        ("post", "/sessions/online"),
        ("post", "/sessions/online/{referenceNumber}/invoices"),
        ("post", "/sessions/online/{referenceNumber}/close"),
        ("post", "/sessions/batch"),
        ("post", "/sessions/batch/{referenceNumber}/close"),
        ("get", "/sessions"),
        ("get", "/sessions/{referenceNumber}"),
        ("get", "/sessions/{referenceNumber}/invoices"),
        ("get", "/sessions/{referenceNumber}/invoices/failed"),
        (
            "get",
            "/sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}",
        ),
        (
            "get",
            "/sessions/{referenceNumber}/invoices/ksef/{ksefNumber}/upo",
        ),
        (
            "get",
            "/sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}/upo",
        ),
        (
            "get",
            "/sessions/{referenceNumber}/upo/{upoReferenceNumber}",
        ),
        ("get", "/invoices/ksef/{ksefNumber}"),
        ("post", "/invoices/query/metadata"),
        ("post", "/invoices/exports"),
        ("get", "/invoices/exports/{referenceNumber}"),
    ]
    .into_iter()
    .map(|(m, p)| (m, p.to_owned()))
    .collect();
    let paths = spec["paths"].as_object().unwrap();
    for (p, item) in paths {
        if p.starts_with("/testdata/") {
            for m in ["get", "post", "delete", "put"] {
                if item.get(m).is_some() {
                    ops.push((m, p.clone()));
                }
            }
        }
    }

    fn top_schema(s: &Value) -> Option<String> {
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            return r.rsplit('/').next().map(str::to_owned);
        }
        if let Some([one]) = s.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
            return top_schema(one);
        }
        if s.get("type").and_then(Value::as_str) == Some("array") {
            return top_schema(&s["items"]).map(|n| format!("{n}[]"));
        }
        None
    }

    let mut needed = BTreeSet::new();
    for (m, p) in &ops {
        let op = &paths[p.as_str()][*m];
        assert!(!op.is_null(), "operation {m} {p} not in the spec");
        let bodies = op["requestBody"]["content"]
            .as_object()
            .into_iter()
            .flatten()
            .chain(
                op["responses"]
                    .as_object()
                    .unwrap()
                    .values()
                    .filter_map(|r| r["content"].as_object())
                    .flatten(),
            );
        for (ct, c) in bodies {
            if ct.contains("json")
                && let Some(name) = top_schema(&c["schema"])
            {
                needed.insert(name);
            }
        }
    }
    let have: BTreeSet<String> = response_samples()
        .into_iter()
        .chain(request_samples())
        .map(|(n, _)| n.to_owned())
        .collect();
    let missing: Vec<_> = needed.difference(&have).collect();
    assert!(missing.is_empty(), "schemas without samples: {missing:?}");
    assert!(
        needed.len() >= 35,
        "suspiciously few schemas found: {needed:?}"
    );
    // Each sample's schema also has a registered codec (used by the fixture test).
    for name in &have {
        if needed.contains(name) {
            assert!(support::codec(name).is_some(), "no codec for {name}");
        }
    }
}
