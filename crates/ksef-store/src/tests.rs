//! Unit tests of the private helpers; the store itself is tested in `tests/store.rs`.

use super::*;

const TOKEN: &str = "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5265877635|919f704466624ce29cd5ac7b65ded5e7cccc112eee314f2aaa76e02cd16df7b9";

#[test]
fn token_parts_split_reference_context_and_tail() {
    let t: KsefToken = TOKEN.parse().unwrap();
    let p = TokenParts::of(&t).unwrap();
    assert_eq!(p.reference, "20251010-EC-1DCE3E3000-12ECB5B36E-45");
    assert_eq!(p.context, "nip-5265877635");
    assert_eq!(p.tail, "f7b9");
}

#[test]
fn aad_is_unambiguous() {
    // Without length prefixes these two would concatenate to the same bytes.
    let a = keys::aad(&[b"ab", b"c"]);
    let b = keys::aad(&[b"a", b"bc"]);
    assert_ne!(a, b);
    let t: KsefToken = TOKEN.parse().unwrap();
    let p = TokenParts::of(&t).unwrap();
    assert_ne!(user_token_aad("anna", &p), user_token_aad("ann", &p));
    assert_ne!(
        session_aad("https://a", "r1"),
        session_aad("https://a", "r2")
    );
}

#[test]
fn sealer_round_trip_and_rejections() {
    let key = [7u8; keys::KEY_LEN];
    let s = Sealer::new(&key);
    let sealed = s.seal(b"secret", b"aad-1").unwrap();
    assert!(!sealed.windows(6).any(|w| w == b"secret"));
    assert_eq!(s.open(&sealed, b"aad-1").unwrap().as_slice(), b"secret");
    // Fresh nonce per value.
    assert_ne!(sealed, s.seal(b"secret", b"aad-1").unwrap());
    assert!(s.open(&sealed, b"aad-2").is_none(), "wrong AAD accepted");
    let mut flipped = sealed.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert!(
        s.open(&flipped, b"aad-1").is_none(),
        "tampered tag accepted"
    );
    assert!(s.open(&sealed[..20], b"aad-1").is_none());
    assert!(
        Sealer::new(&[8u8; keys::KEY_LEN])
            .open(&sealed, b"aad-1")
            .is_none()
    );
    // Key check value.
    let check = s.key_check().unwrap();
    assert!(s.verify_key_check(&check));
    assert!(!Sealer::new(&[8u8; keys::KEY_LEN]).verify_key_check(&check));
    assert!(!format!("{s:?}").contains('7'));
}

#[test]
fn user_name_rules() {
    assert_eq!(validate_user_name("  Anna Nowak \t").unwrap(), "Anna Nowak");
    assert!(validate_user_name("   ").is_err());
    assert!(validate_user_name(&"ż".repeat(64)).is_ok());
    assert!(validate_user_name(&"ż".repeat(65)).is_err());
    assert!(validate_user_name("a\u{0}b").is_err());
    assert_eq!(name_key("ŁUKASZ"), name_key("łukasz"));
}

#[test]
fn base_url_normalization() {
    assert_eq!(
        normalize_base_url(" https://ksef-test.mf.gov.pl/api/v2/ ").unwrap(),
        "https://ksef-test.mf.gov.pl/api/v2"
    );
    assert!(normalize_base_url("/").is_err());
    assert!(normalize_base_url("https://x\n").is_ok());
    assert!(normalize_base_url("https://x\ny").is_err());
}

#[test]
fn kdf_params_bounds() {
    let ok = KdfParams::default_id();
    assert!(keys::derive_key(b"pw", &[1; 16], ok).is_ok());
    let huge = KdfParams {
        m_cost: u32::MAX,
        ..ok
    };
    assert!(matches!(
        keys::derive_key(b"pw", &[1; 16], huge),
        Err(StoreError::Corrupt(_))
    ));
    let bad_version = KdfParams { version: 7, ..ok };
    assert!(matches!(
        keys::derive_key(b"pw", &[1; 16], bad_version),
        Err(StoreError::Corrupt(_))
    ));
    // Deterministic for the same salt, different for another salt.
    let a = keys::derive_key(b"pw", &[1; 16], ok).unwrap();
    let b = keys::derive_key(b"pw", &[1; 16], ok).unwrap();
    let c = keys::derive_key(b"pw", &[2; 16], ok).unwrap();
    assert_eq!(*a, *b);
    assert_ne!(*a, *c);
}
