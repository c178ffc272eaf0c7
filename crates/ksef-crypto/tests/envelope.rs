//! RSA-OAEP, AES-256-CBC and SHA-256 helpers, with OpenSSL as the oracle.

mod common;

use common::{openssl, read, text, write};
use ksef_crypto::envelope::*;
use ksef_crypto::rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use ksef_crypto::rsa::{RsaPrivateKey, RsaPublicKey};
use ksef_crypto::service::ServiceKeyPair;
use ksef_crypto::{CryptoError, KeyAlgorithm, PrivateKey};

fn rsa_key() -> RsaPrivateKey {
    match PrivateKey::generate(KeyAlgorithm::Rsa2048).unwrap() {
        PrivateKey::Rsa(k) => k,
        PrivateKey::EcP256(_) => unreachable!(),
    }
}

#[test]
fn sha256_base64_known_answer() {
    assert_eq!(
        sha256_base64(b"abc"),
        "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
    );
    assert_eq!(
        sha256_base64(b""),
        "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    );
}

#[test]
fn aes256_cbc_nist_sp800_38a_vector() {
    // NIST SP 800-38A F.2.5 CBC-AES256.Encrypt; our output has one extra PKCS#7 block.
    let key: [u8; 32] =
        hex::decode("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
            .unwrap()
            .try_into()
            .unwrap();
    let iv: [u8; 16] = hex::decode("000102030405060708090a0b0c0d0e0f")
        .unwrap()
        .try_into()
        .unwrap();
    let pt = hex::decode(concat!(
        "6bc1bee22e409f96e93d7e117393172a",
        "ae2d8a571e03ac9c9eb76fac45af8e51",
        "30c81c46a35ce411e5fbc1191a0a52ef",
        "f69f2445df4f9b17ad2b417be66c3710"
    ))
    .unwrap();
    let expected = concat!(
        "f58c4c04d6e5f1ba779eabfb5f7bfbd6",
        "9cfc4e967edb808d679f777bc6702c7d",
        "39f23369a9d9bacfa530e26304231461",
        "b2eb05e2c39be9fcda6c19078c6a9d1b"
    );
    let ct = aes256_cbc_encrypt(&key, &iv, &pt);
    assert_eq!(ct.len(), 80);
    assert_eq!(hex::encode(&ct[..64]), expected);
    assert_eq!(aes256_cbc_decrypt(&key, &iv, &ct).unwrap(), pt);
}

#[test]
fn aes_sizes_follow_the_digest_example_and_no_iv_prefix() {
    // digest §3.2: a 6480-byte invoice gives a 6496-byte ciphertext (no IV prefix).
    let key = random_aes_key();
    let iv = random_iv();
    let pt = vec![b'x'; 6480];
    let ct = aes256_cbc_encrypt(&key, &iv, &pt);
    assert_eq!(ct.len(), 6496);
    assert_eq!(aes256_cbc_decrypt(&key, &iv, &ct).unwrap(), pt);
    for n in [0usize, 1, 15, 16, 17] {
        let pt = vec![7u8; n];
        let ct = aes256_cbc_encrypt(&key, &iv, &pt);
        assert_eq!(ct.len(), (n / 16 + 1) * 16);
        assert_eq!(aes256_cbc_decrypt(&key, &iv, &ct).unwrap(), pt);
    }
}

#[test]
fn aes_wrong_key_or_length_is_a_decryption_error() {
    let key = random_aes_key();
    let iv = random_iv();
    let ct = aes256_cbc_encrypt(&key, &iv, b"hello invoice");
    // A wrong key yields garbage whose padding is almost surely invalid; try a few keys.
    let failures = (0u8..8)
        .filter(|i| {
            let mut k = key;
            k[31] ^= i + 1;
            !matches!(aes256_cbc_decrypt(&k, &iv, &ct), Ok(p) if p == b"hello invoice")
        })
        .count();
    assert_eq!(failures, 8);
    assert!(matches!(
        aes256_cbc_decrypt(&key, &iv, &ct[..ct.len() - 1]),
        Err(CryptoError::DecryptionFailed(_))
    ));
    assert!(matches!(
        aes256_cbc_decrypt(&key, &iv, &[]),
        Err(CryptoError::DecryptionFailed(_))
    ));
}

#[test]
fn random_keys_and_ivs_differ() {
    assert_ne!(random_aes_key(), random_aes_key());
    assert_ne!(random_iv(), random_iv());
}

#[test]
fn oaep_round_trip_and_wrong_key() {
    let k = rsa_key();
    let pk = RsaPublicKey::from(&k);
    let aes = random_aes_key();
    let ct = rsa_oaep_sha256_encrypt(&pk, &aes).unwrap();
    assert_eq!(ct.len(), 256);
    assert_eq!(rsa_oaep_sha256_decrypt(&k, &ct).unwrap(), aes);
    // randomized
    assert_ne!(ct, rsa_oaep_sha256_encrypt(&pk, &aes).unwrap());
    // via SPKI
    let spki = pk.to_public_key_der().unwrap();
    let ct2 = rsa_oaep_sha256_encrypt_spki(spki.as_bytes(), b"token|1700000000000").unwrap();
    assert_eq!(
        rsa_oaep_sha256_decrypt(&k, &ct2).unwrap(),
        b"token|1700000000000"
    );
    // wrong key
    let other = rsa_key();
    assert!(matches!(
        rsa_oaep_sha256_decrypt(&other, &ct),
        Err(CryptoError::DecryptionFailed(_))
    ));
    // too long for OAEP-SHA256 with a 2048-bit key (max 190 bytes)
    assert!(matches!(
        rsa_oaep_sha256_encrypt(&pk, &[0u8; 191]),
        Err(CryptoError::EncryptionFailed(_))
    ));
    assert!(rsa_oaep_sha256_encrypt(&pk, &[0u8; 190]).is_ok());
}

#[test]
fn oaep_with_ec_key_is_refused() {
    let ec = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let spki = ec.public_key_spki_der().unwrap();
    assert!(matches!(
        rsa_oaep_sha256_encrypt_spki(&spki, b"x"),
        Err(CryptoError::UnsupportedKeyAlgorithm(_))
    ));
}

#[test]
fn oaep_interop_with_openssl_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // OpenSSL key → we encrypt to its cert, OpenSSL decrypts.
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "k.pem",
        ],
        None,
    );
    openssl(
        d,
        &[
            "req",
            "-new",
            "-x509",
            "-key",
            "k.pem",
            "-subj",
            "/CN=MF test",
            "-days",
            "1",
            "-out",
            "c.pem",
        ],
        None,
    );
    openssl(
        d,
        &["x509", "-in", "c.pem", "-outform", "DER", "-out", "c.der"],
        None,
    );
    let cert_der = read(d, "c.der");
    let secret = b"0123456789abcdef0123456789abcdef";
    let ct = rsa_oaep_sha256_encrypt_for_certificate(&cert_der, secret).unwrap();
    write(d, "ct.bin", &ct);
    let oaep = [
        "-pkeyopt",
        "rsa_padding_mode:oaep",
        "-pkeyopt",
        "rsa_oaep_md:sha256",
        "-pkeyopt",
        "rsa_mgf1_md:sha256",
    ];
    let mut args = vec!["pkeyutl", "-decrypt", "-inkey", "k.pem", "-in", "ct.bin"];
    args.extend(oaep);
    assert_eq!(openssl(d, &args, None), secret);

    // OpenSSL encrypts → we decrypt with the same key loaded from PEM.
    let mut args = vec![
        "pkeyutl", "-encrypt", "-pubin", "-inkey", "pub.pem", "-in", "pt.bin",
    ];
    args.extend(oaep);
    openssl(
        d,
        &["pkey", "-in", "k.pem", "-pubout", "-out", "pub.pem"],
        None,
    );
    write(d, "pt.bin", b"KSeF token|1712345678901");
    let ct = openssl(d, &args, None);
    let key = RsaPrivateKey::from_pkcs8_pem(&text(read(d, "k.pem"))).unwrap();
    assert_eq!(
        rsa_oaep_sha256_decrypt(&key, &ct).unwrap(),
        b"KSeF token|1712345678901"
    );

    // Default OAEP (SHA-1) ciphertext must not decrypt under SHA-256 OAEP.
    let ct_sha1 = openssl(
        d,
        &[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-inkey",
            "pub.pem",
            "-in",
            "pt.bin",
            "-pkeyopt",
            "rsa_padding_mode:oaep",
        ],
        None,
    );
    assert!(rsa_oaep_sha256_decrypt(&key, &ct_sha1).is_err());
}

#[test]
fn service_key_decrypts_what_openssl_encrypts_to_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let kp = ServiceKeyPair::generate("KSeF emulator SymmetricKeyEncryption", 30).unwrap();
    write(d, "svc.pem", kp.certificate_pem().unwrap().as_bytes());
    write(d, "aes.bin", &[0x42; 32]);
    let ct = openssl(
        d,
        &[
            "pkeyutl",
            "-encrypt",
            "-certin",
            "-inkey",
            "svc.pem",
            "-in",
            "aes.bin",
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
        ],
        None,
    );
    assert_eq!(kp.decrypt(&ct).unwrap(), vec![0x42; 32]);
}

#[test]
fn aes_interop_with_openssl_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = random_aes_key();
    let iv = random_iv();
    let (k, i) = (hex::encode(key), hex::encode(iv));
    let invoice = "<Faktura>zażółć gęślą jaźń</Faktura>".repeat(50);
    write(d, "pt.xml", invoice.as_bytes());
    let ossl_ct = openssl(
        d,
        &["enc", "-aes-256-cbc", "-K", &k, "-iv", &i, "-in", "pt.xml"],
        None,
    );
    // Same bytes as ours (deterministic with fixed key/IV) and no IV/salt prefix.
    assert_eq!(aes256_cbc_encrypt(&key, &iv, invoice.as_bytes()), ossl_ct);
    assert_eq!(
        aes256_cbc_decrypt(&key, &iv, &ossl_ct).unwrap(),
        invoice.as_bytes()
    );
    write(
        d,
        "ct.bin",
        &aes256_cbc_encrypt(&key, &iv, invoice.as_bytes()),
    );
    let back = openssl(
        d,
        &[
            "enc",
            "-d",
            "-aes-256-cbc",
            "-K",
            &k,
            "-iv",
            &i,
            "-in",
            "ct.bin",
        ],
        None,
    );
    assert_eq!(back, invoice.as_bytes());
}

#[test]
fn sha256_base64_matches_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    write(d, "f.bin", &data);
    let digest = openssl(d, &["dgst", "-sha256", "-binary", "f.bin"], None);
    use base64::Engine;
    assert_eq!(
        sha256_base64(&data),
        base64::engine::general_purpose::STANDARD.encode(digest)
    );
}
