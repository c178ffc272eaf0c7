use super::*;
use crate::ident::Nip;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// The digest §6.2 example: its InternalId `5265877635-12345` is a documentation placeholder
/// with a wrong check digit (the docs use `-12345` everywhere), so it is rejected.
const DIGEST_TOKEN_AS_PUBLISHED: &str = "20251010-EC-1DCE3E3000-12ECB5B36E-45|internalId-5265877635-12345|919f704466624ce29cd5ac7b65ded5e7cccc112eee314f2aaa76e02cd16df7b9";
/// The same token with a valid check digit (`5265877635-1234` → 6).
const DIGEST_TOKEN: &str = "20251010-EC-1DCE3E3000-12ECB5B36E-45|internalId-5265877635-12346|919f704466624ce29cd5ac7b65ded5e7cccc112eee314f2aaa76e02cd16df7b9";
const SECRET_HEX: &str = "919f704466624ce29cd5ac7b65ded5e7cccc112eee314f2aaa76e02cd16df7b9";

fn reference() -> ReferenceNumber {
    "20251010-EC-1DCE3E3000-12ECB5B36E-45".parse().unwrap()
}

#[test]
fn status_machine() {
    use TokenStatus::*;
    let allowed = [
        (Pending, Active),
        (Pending, Failed),
        (Active, Revoking),
        (Revoking, Revoked),
    ];
    for from in TokenStatus::ALL.iter().copied() {
        for to in TokenStatus::ALL.iter().copied() {
            assert_eq!(
                from.can_transition_to(to),
                allowed.contains(&(from, to)),
                "{from} -> {to}"
            );
        }
        assert_eq!(from.can_authenticate(), from == Active);
    }
    assert!(Revoked.is_final() && Failed.is_final());
    assert!(!Pending.is_final() && !Active.is_final() && !Revoking.is_final());
    // Final states have no way out.
    for to in TokenStatus::ALL.iter().copied() {
        assert!(!Revoked.can_transition_to(to) && !Failed.can_transition_to(to));
    }
    for name in ["Pending", "Active", "Revoking", "Revoked", "Failed"] {
        let s: TokenStatus = serde_json::from_str(&format!("\"{name}\"")).unwrap();
        assert_eq!(s.as_str(), name);
    }
}

#[test]
fn authentication_method_names() {
    let methods = [
        "Token",
        "TrustedProfile",
        "InternalCertificate",
        "QualifiedSignature",
        "QualifiedSeal",
        "PersonalSignature",
        "PeppolSignature",
    ];
    assert_eq!(AuthenticationMethod::ALL.len(), methods.len());
    for m in methods {
        let v: AuthenticationMethod = serde_json::from_str(&format!("\"{m}\"")).unwrap();
        assert_eq!(v.to_string(), m);
    }
    let cats = ["XadesSignature", "NationalNode", "Token", "Other"];
    assert_eq!(AuthenticationMethodCategory::ALL.len(), cats.len());
    for c in cats {
        let v: AuthenticationMethodCategory = c.parse().unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), format!("\"{c}\""));
    }
}

#[test]
fn digest_example_placeholder_internal_id_is_rejected() {
    let err = DIGEST_TOKEN_AS_PUBLISHED.parse::<KsefToken>().unwrap_err();
    assert!(
        matches!(&err, KsefTokenError::Context(IdentifierError::BadChecksum { expected, .. }) if expected == "6"),
        "{err:?}"
    );
}

#[test]
fn parse_digest_example() {
    let t: KsefToken = DIGEST_TOKEN.parse().unwrap();
    assert_eq!(t.reference_number(), &reference());
    assert_eq!(
        t.context(),
        &ContextIdentifier::parse(ContextIdentifierType::InternalId, "5265877635-12346").unwrap()
    );
    assert_eq!(t.secret_hex(), SECRET_HEX);
    assert_eq!(t.expose_secret(), DIGEST_TOKEN);

    // Rebuilding from the parts gives the same string.
    let secret: [u8; 32] = hex::decode(SECRET_HEX).unwrap().try_into().unwrap();
    let rebuilt = KsefToken::new(reference(), t.context(), secret);
    assert_eq!(rebuilt.expose_secret(), DIGEST_TOKEN);
    assert_eq!(rebuilt, t);
}

#[test]
fn debug_redacts_secret() {
    let t: KsefToken = DIGEST_TOKEN.parse().unwrap();
    let dbg = format!("{t:?}");
    assert!(!dbg.contains(SECRET_HEX), "{dbg}");
    assert!(!dbg.contains(&SECRET_HEX[..16]), "{dbg}");
    assert!(
        dbg.contains("20251010-EC-1DCE3E3000-12ECB5B36E-45"),
        "{dbg}"
    );
    assert!(dbg.contains("redacted"), "{dbg}");
    // Errors never carry the secret either.
    let bad = DIGEST_TOKEN.replace("|internalId-", "|unknown-");
    let err = bad.parse::<KsefToken>().unwrap_err();
    assert!(!format!("{err} {err:?}").contains(SECRET_HEX));
}

#[test]
fn nip_context_and_serde() {
    let nip: Nip = "5265877635".parse().unwrap();
    let ctx = ContextIdentifier::Nip(nip);
    let t = KsefToken::new(reference(), &ctx, [0xAB; 32]);
    assert_eq!(
        t.expose_secret(),
        format!(
            "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5265877635|{}",
            "ab".repeat(32)
        )
    );
    let json = serde_json::to_string(&t).unwrap();
    assert_eq!(json, format!("\"{}\"", t.expose_secret()));
    assert_eq!(serde_json::from_str::<KsefToken>(&json).unwrap(), t);
}

#[test]
fn all_context_types_roundtrip_within_length_limit() {
    let mut rng = StdRng::seed_from_u64(3);
    let contexts = [
        ContextIdentifier::parse(ContextIdentifierType::Nip, "5265877635").unwrap(),
        ContextIdentifier::parse(ContextIdentifierType::InternalId, "6824515772-12343").unwrap(),
        // Longest allowed VAT UE numbers (14 chars).
        ContextIdentifier::parse(ContextIdentifierType::NipVatUe, "5265877635-NL123456789B01")
            .unwrap(),
        ContextIdentifier::parse(ContextIdentifierType::NipVatUe, "5265877635-SE123456789012")
            .unwrap(),
        ContextIdentifier::parse(ContextIdentifierType::PeppolId, "PPL123456").unwrap(),
    ];
    for _ in 0..500 {
        for ctx in &contexts {
            let r = ReferenceNumber::generate_with(
                &mut rng,
                crate::ReferenceKind::KsefToken,
                time::OffsetDateTime::UNIX_EPOCH.replace_year(2025).unwrap(),
            );
            let t = KsefToken::generate(&mut rng, r.clone(), ctx);
            assert!(t.expose_secret().len() <= MAX_TOKEN_LEN);
            let parsed: KsefToken = t.expose_secret().parse().unwrap();
            assert_eq!(parsed, t);
            assert_eq!(parsed.reference_number(), &r);
            assert_eq!(parsed.context(), ctx);
            assert_eq!(parsed.secret_hex(), t.secret_hex());
        }
    }
}

#[test]
fn invalid_tokens() {
    type Check = fn(&KsefTokenError) -> bool;
    let cases: Vec<(String, Check)> = vec![
        (DIGEST_TOKEN.replace('|', "#"), |e| {
            matches!(e, KsefTokenError::WrongPartCount(1))
        }),
        (format!("{DIGEST_TOKEN}|x"), |e| {
            matches!(e, KsefTokenError::WrongPartCount(4))
        }),
        (DIGEST_TOKEN.replace("20251010-EC", "20251010-ec"), |e| {
            matches!(e, KsefTokenError::Reference(_))
        }),
        (
            DIGEST_TOKEN.replace("internalId-5265877635-12346", "internalId"),
            |e| matches!(e, KsefTokenError::ContextShape(_)),
        ),
        (DIGEST_TOKEN.replace("internalId-", "InternalId-"), |e| {
            matches!(e, KsefTokenError::UnknownContextType(_))
        }),
        (DIGEST_TOKEN.replace("internalId-", "nip-"), |e| {
            matches!(e, KsefTokenError::Context(_))
        }),
        (DIGEST_TOKEN.replace("12346|", "12345|"), |e| {
            matches!(e, KsefTokenError::Context(_))
        }),
        (
            DIGEST_TOKEN.replace(SECRET_HEX, &SECRET_HEX.to_uppercase()),
            |e| matches!(e, KsefTokenError::Secret),
        ),
        (DIGEST_TOKEN.replace(SECRET_HEX, &SECRET_HEX[1..]), |e| {
            matches!(e, KsefTokenError::Secret)
        }),
        (format!("{DIGEST_TOKEN}{}", "0".repeat(40)), |e| {
            matches!(e, KsefTokenError::TooLong(_))
        }),
    ];
    for (s, check) in cases {
        let err = s.parse::<KsefToken>().unwrap_err();
        assert!(check(&err), "{s}: {err:?}");
    }
}

#[test]
fn equality_compares_whole_string() {
    let ctx = ContextIdentifier::Nip(Nip::random());
    let a = KsefToken::new(reference(), &ctx, [1; 32]);
    let mut s = [1; 32];
    s[31] = 2;
    let b = KsefToken::new(reference(), &ctx, s);
    assert_ne!(a, b);
    assert_eq!(a, a.clone());
}
