//! PKCS#12 (RFC 7292) files: reading what OpenSSL, Windows, Java and the Polish qualified
//! certificate vendors write, and writing what OpenSSL 3 writes by default.
//!
//! The ASN.1 types and the PKCS#12 key derivation come from RustCrypto's `pkcs12` crate; the
//! PBES2 parameters from `pkcs5`; the ciphers and MACs from the RustCrypto crates the workspace
//! already uses. Why the container logic is written here rather than taken from a crate: the kept
//! PKCS#12 crate (`p12-keystore`) parses every certificate with `x509-parser`, a second X.509
//! parser (and ASN.1 stack) beside `x509-cert`, for what is ~300 lines of walking RFC 7292's
//! structure. Every byte is hostile: sizes and iteration counts are bounded, nothing panics.
//!
//! Read: MAC with HMAC-SHA-1/-256/-384/-512 (PKCS#12 KDF); key and certificate bags, plain or
//! encrypted with PBES2 (PBKDF2-HMAC-SHA-1/-256/-384/-512, AES-128/192/256-CBC) or the legacy
//! `pbeWithSHAAnd3-KeyTripleDES-CBC` and `pbeWithSHAAnd40BitRC2-CBC` (OpenSSL `-legacy`, Windows).
//! Write: PBES2 with PBKDF2-HMAC-SHA-256 and AES-256-CBC for the key and for the certificates,
//! HMAC-SHA-256 MAC, [`WRITE_ITERATIONS`] iterations.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockCipherDecrypt, BlockModeDecrypt, InnerIvInit, KeyInit};
use der::asn1::{Any, OctetString, SetOfVec};
use der::oid::ObjectIdentifier;
use der::zeroize::{Zeroize, Zeroizing};
use der::{Decode, Encode};
use hmac::Mac;
use pkcs5::pbes2;
use pkcs12::kdf::{Pkcs12KeyType, derive_key_utf8};
use pkcs12::pbe_params::{EncryptedPrivateKeyInfo, Pkcs12PbeParams};
use pkcs12::{CertBag, DigestInfo, MacData, Pfx, SafeBag};
use sha2::digest::block_api::BlockSizeUser;
use sha2::digest::{Digest, FixedOutputReset};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_ENCRYPTED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.6");
const KEY_BAG: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.1");
const SHROUDED_KEY_BAG: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.2");
const CERT_BAG: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.3");
const X509_CERTIFICATE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.22.1");
const LOCAL_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.21");
const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const PBE_SHA1_3DES: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.1.3");
const PBE_SHA1_RC2_40: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.1.6");
const PBMAC1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.14");

/// Iterations of the key derivations in files this module writes (OpenSSL 3's default is 2048;
/// more costs a user nothing noticeable and an attacker more).
pub(crate) const WRITE_ITERATIONS: u32 = 10_000;
/// The largest iteration count accepted for one key derivation, and for all of one file's
/// derivations together: a hostile file must not buy minutes of CPU (real tools use 2 048 to a
/// few hundred thousand per derivation, and a file has a MAC, a key and a certificate safe).
const MAX_ITERATIONS: u32 = 2_000_000;
const MAX_TOTAL_ITERATIONS: u64 = 4_000_000;
/// The most safes and bags a file may hold (a key, its chain, some attributes).
const MAX_ITEMS: u32 = 256;
/// The largest file accepted (a key and a long chain are a few kilobytes).
const MAX_FILE_LEN: usize = 1 << 20;

/// What a PKCS#12 file holds.
pub(crate) struct Contents {
    /// Private keys as PKCS#8 DER, in file order.
    pub(crate) keys: Vec<Zeroizing<Vec<u8>>>,
    /// Certificates as DER, in file order.
    pub(crate) certs: Vec<Vec<u8>>,
}

/// Why a PKCS#12 file could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The MAC does not match, or (in a file without MAC) decryption fails: a wrong password.
    WrongPassword,
    /// Not a well-formed PKCS#12 file, or one using an algorithm this module does not read.
    Invalid(String),
}

fn invalid(what: impl std::fmt::Display) -> ReadError {
    ReadError::Invalid(what.to_string())
}

/// Reads a PKCS#12 file.
pub(crate) fn read(bytes: &[u8], password: &str) -> Result<Contents, ReadError> {
    if bytes.len() > MAX_FILE_LEN {
        return Err(invalid(format!(
            "the file is {} bytes; a PKCS#12 file of a key and its certificates is a few kilobytes",
            bytes.len()
        )));
    }
    let pfx = Pfx::from_der(bytes).map_err(|e| invalid(format!("not a PKCS#12 file ({e})")))?;
    if pfx.auth_safe.content_type != ID_DATA {
        return Err(invalid(
            "only password-integrity files are supported (authSafe is not id-data)",
        ));
    }
    let auth_safe = data_octets(&pfx.auth_safe.content)?;
    let mut work = Work {
        iterations_left: MAX_TOTAL_ITERATIONS,
        items_left: MAX_ITEMS,
        mac_verified: false,
    };
    if let Some(mac) = &pfx.mac_data {
        verify_mac(&mut work, mac, auth_safe.as_bytes(), password)?;
        work.mac_verified = true;
    }
    let contents = Vec::<cms::content_info::ContentInfo>::from_der(auth_safe.as_bytes())
        .map_err(|e| invalid(format!("authenticated safe: {e}")))?;
    let mut out = Contents {
        keys: Vec::new(),
        certs: Vec::new(),
    };
    for info in contents {
        work.item()?;
        let safe_contents = if info.content_type == ID_DATA {
            Zeroizing::new(data_octets(&info.content)?.into_bytes().into_vec())
        } else if info.content_type == ID_ENCRYPTED_DATA {
            let data: cms::encrypted_data::EncryptedData = info
                .content
                .decode_as()
                .map_err(|e| invalid(format!("encrypted data: {e}")))?;
            let ciphertext = data
                .enc_content_info
                .encrypted_content
                .ok_or_else(|| invalid("encrypted data without content"))?;
            decrypt(
                &mut work,
                &data.enc_content_info.content_enc_alg,
                ciphertext.as_bytes(),
                password,
            )?
        } else {
            // Public-key protected (enveloped) contents are not used by any tool we know of.
            return Err(invalid(format!(
                "unsupported content type {} in the authenticated safe",
                info.content_type
            )));
        };
        let bags = Vec::<SafeBag>::from_der(&safe_contents)
            .map_err(|e| invalid(format!("safe contents: {e}")))?;
        for mut bag in bags {
            work.item()?;
            let read = read_bag(&mut work, &bag, password, &mut out);
            // A plain key bag holds the private key in the clear.
            bag.bag_value.zeroize();
            read?;
        }
    }
    Ok(out)
}

/// The value of a `[0] EXPLICIT` bag value (the `pkcs12` crate keeps the tag on decoding).
fn bag_value<T: for<'a> Decode<'a>>(bag: &SafeBag) -> Result<T, ReadError> {
    let tagged = der::asn1::ContextSpecific::<T>::from_der(&bag.bag_value)
        .map_err(|e| invalid(format!("bag {}: {e}", bag.bag_id)))?;
    Ok(tagged.value)
}

fn read_bag(
    work: &mut Work,
    bag: &SafeBag,
    password: &str,
    out: &mut Contents,
) -> Result<(), ReadError> {
    match bag.bag_id {
        KEY_BAG => {
            let key: Any = bag_value(bag)?;
            let der = key.to_der().map_err(invalid)?;
            out.keys.push(Zeroizing::new(der));
        }
        SHROUDED_KEY_BAG => {
            let info: EncryptedPrivateKeyInfo = bag_value(bag)?;
            let der = decrypt(
                work,
                &info.encryption_algorithm,
                info.encrypted_data.as_bytes(),
                password,
            )?;
            out.keys.push(der);
        }
        CERT_BAG => {
            let cert: CertBag = bag_value(bag)?;
            // Other certificate types (SDSI) and CRL / secret bags carry nothing we use.
            if cert.cert_id == X509_CERTIFICATE {
                out.certs.push(cert.cert_value.into_bytes().into_vec());
            }
        }
        _ => {}
    }
    Ok(())
}

fn data_octets(content: &Any) -> Result<OctetString, ReadError> {
    content
        .decode_as::<OctetString>()
        .map_err(|e| invalid(format!("data content: {e}")))
}

/// What reading one file may still spend, and what is known so far.
struct Work {
    iterations_left: u64,
    items_left: u32,
    /// The MAC matched: the password is right, so a later decryption failure means a corrupt
    /// file, not a wrong password.
    mac_verified: bool,
}

impl Work {
    /// Accounts for one key derivation of `count` iterations.
    fn iterations(&mut self, count: i64) -> Result<u32, ReadError> {
        let n = u32::try_from(count)
            .ok()
            .filter(|n| (1..=MAX_ITERATIONS).contains(n))
            .ok_or_else(|| {
                invalid(format!(
                    "iteration count {count} is outside 1..={MAX_ITERATIONS}"
                ))
            })?;
        self.iterations_left = self
            .iterations_left
            .checked_sub(u64::from(n))
            .ok_or_else(|| {
                invalid(format!(
                    "the file asks for more than {MAX_TOTAL_ITERATIONS} key-derivation iterations in all"
                ))
            })?;
        Ok(n)
    }

    /// Accounts for one safe or bag.
    fn item(&mut self) -> Result<(), ReadError> {
        self.items_left = self
            .items_left
            .checked_sub(1)
            .ok_or_else(|| invalid(format!("more than {MAX_ITEMS} safes and bags")))?;
        Ok(())
    }

    /// A decryption whose padding does not check out.
    fn bad_padding(&self) -> ReadError {
        if self.mac_verified {
            invalid("an encrypted part is corrupt (the password is right: the MAC matched)")
        } else {
            // Without a MAC, a wrong password shows up as bad padding.
            ReadError::WrongPassword
        }
    }
}

fn verify_mac(
    work: &mut Work,
    mac: &MacData,
    data: &[u8],
    password: &str,
) -> Result<(), ReadError> {
    let mut rounds = work.iterations(i64::from(mac.iterations))?;
    if password.is_empty() {
        // An empty password may be tried twice (see `mac_matches`).
        rounds = work.iterations(i64::from(rounds))?;
    }
    let salt = mac.mac_salt.as_bytes();
    let expected = mac.mac.digest.as_bytes();
    let ok = match mac.mac.algorithm.oid {
        SHA1 => mac_matches::<sha1::Sha1, hmac::Hmac<sha1::Sha1>>(
            password, salt, rounds, data, expected,
        )?,
        SHA256 => mac_matches::<sha2::Sha256, hmac::Hmac<sha2::Sha256>>(
            password, salt, rounds, data, expected,
        )?,
        SHA384 => mac_matches::<sha2::Sha384, hmac::Hmac<sha2::Sha384>>(
            password, salt, rounds, data, expected,
        )?,
        SHA512 => mac_matches::<sha2::Sha512, hmac::Hmac<sha2::Sha512>>(
            password, salt, rounds, data, expected,
        )?,
        PBMAC1 => {
            return Err(invalid(
                "PBMAC1 integrity (OpenSSL 3.4 `-pbmac1_pbkdf2`) is not supported; export the file without it",
            ));
        }
        other => return Err(invalid(format!("unsupported MAC digest {other}"))),
    };
    if ok {
        Ok(())
    } else {
        Err(ReadError::WrongPassword)
    }
}

fn mac_matches<D, M>(
    password: &str,
    salt: &[u8],
    rounds: u32,
    data: &[u8],
    expected: &[u8],
) -> Result<bool, ReadError>
where
    D: Digest + FixedOutputReset + BlockSizeUser,
    M: Mac + hmac::KeyInit,
{
    let len = <D as Digest>::output_size();
    let rounds = i32::try_from(rounds).map_err(invalid)?;
    let check = |key: &[u8]| -> Result<bool, ReadError> {
        let mut mac = <M as hmac::KeyInit>::new_from_slice(key).map_err(invalid)?;
        mac.update(data);
        Ok(mac.verify_slice(expected).is_ok())
    };
    let key = Zeroizing::new(
        derive_key_utf8::<D>(password, salt, Pkcs12KeyType::Mac, rounds, len)
            .map_err(|e| invalid(format!("password: {e}")))?,
    );
    if check(&key)? {
        return Ok(true);
    }
    // Some tools (old OpenSSL, Windows) derive the MAC key of a password-less file from an
    // absent password rather than the empty BMPString (two zero bytes).
    if password.is_empty() {
        let key = Zeroizing::new(pkcs12::kdf::derive_key::<D>(
            &[],
            salt,
            Pkcs12KeyType::Mac,
            rounds,
            len,
        ));
        return check(&key);
    }
    Ok(false)
}

/// Decrypts a PBES2 or legacy PKCS#12-PBE protected blob.
fn decrypt(
    work: &mut Work,
    alg: &AlgorithmIdentifierOwned,
    ciphertext: &[u8],
    password: &str,
) -> Result<Zeroizing<Vec<u8>>, ReadError> {
    let params = alg
        .parameters
        .as_ref()
        .ok_or_else(|| invalid(format!("encryption {} without parameters", alg.oid)))?;
    let plain = match alg.oid {
        pbes2::PBES2_OID => {
            let p: pbes2::Parameters = params
                .decode_as()
                .map_err(|e| invalid(format!("PBES2 parameters: {e}")))?;
            pbes2_decrypt(work, &p, password, ciphertext)?
        }
        PBE_SHA1_3DES | PBE_SHA1_RC2_40 => {
            let p: Pkcs12PbeParams = params
                .decode_as()
                .map_err(|e| invalid(format!("PBE parameters: {e}")))?;
            // Two derivations (key and IV) of `iterations` each.
            let rounds = work.iterations(i64::from(p.iterations))?;
            work.iterations(i64::from(rounds))?;
            let rounds = i32::try_from(rounds).map_err(invalid)?;
            let salt = p.salt.as_bytes();
            let (key_len, iv_len) = if alg.oid == PBE_SHA1_3DES {
                (24, 8)
            } else {
                (5, 8)
            };
            let derive = |kind| {
                derive_key_utf8::<sha1::Sha1>(password, salt, kind, rounds, key_len)
                    .map(Zeroizing::new)
                    .map_err(|e| invalid(format!("password: {e}")))
            };
            let key = derive(Pkcs12KeyType::EncryptionKey)?;
            let iv =
                derive_key_utf8::<sha1::Sha1>(password, salt, Pkcs12KeyType::Iv, rounds, iv_len)
                    .map_err(|e| invalid(format!("password: {e}")))?;
            if alg.oid == PBE_SHA1_3DES {
                cbc_decrypt::<des::TdesEde3>(work, &key, &iv, ciphertext)?
            } else {
                // RC2 with a 40-bit key (effective key bits = 40).
                let cipher = rc2::Rc2::new_with_eff_key_len(&key, 40);
                cbc_decrypt_with(work, cipher, &iv, ciphertext)?
            }
        }
        other => return Err(invalid(format!("unsupported encryption {other}"))),
    };
    Ok(plain)
}

fn pbes2_decrypt(
    work: &mut Work,
    p: &pbes2::Parameters,
    password: &str,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, ReadError> {
    let pbes2::Kdf::Pbkdf2(kdf) = &p.kdf else {
        return Err(invalid("PBES2 with a key derivation other than PBKDF2"));
    };
    let rounds = work.iterations(i64::from(kdf.iteration_count))?;
    let (key_len, iv) = match p.encryption {
        pbes2::EncryptionScheme::Aes128Cbc { iv } => (16, iv),
        pbes2::EncryptionScheme::Aes192Cbc { iv } => (24, iv),
        pbes2::EncryptionScheme::Aes256Cbc { iv } => (32, iv),
        other => {
            return Err(invalid(format!("unsupported PBES2 cipher {}", other.oid())));
        }
    };
    let mut key = Zeroizing::new(vec![0u8; key_len]);
    let salt = kdf.salt.as_ref();
    let pw = password.as_bytes();
    use pbes2::Pbkdf2Prf as Prf;
    match kdf.prf {
        Prf::HmacWithSha1 => pbkdf2::pbkdf2_hmac::<sha1::Sha1>(pw, salt, rounds, &mut key),
        Prf::HmacWithSha224 => pbkdf2::pbkdf2_hmac::<sha2::Sha224>(pw, salt, rounds, &mut key),
        Prf::HmacWithSha256 => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(pw, salt, rounds, &mut key),
        Prf::HmacWithSha384 => pbkdf2::pbkdf2_hmac::<sha2::Sha384>(pw, salt, rounds, &mut key),
        Prf::HmacWithSha512 => pbkdf2::pbkdf2_hmac::<sha2::Sha512>(pw, salt, rounds, &mut key),
        other => return Err(invalid(format!("unsupported PBKDF2 function {other:?}"))),
    }
    match key_len {
        16 => cbc_decrypt::<aes::Aes128>(work, &key, &iv, ciphertext),
        24 => cbc_decrypt::<aes::Aes192>(work, &key, &iv, ciphertext),
        _ => cbc_decrypt::<aes::Aes256>(work, &key, &iv, ciphertext),
    }
}

fn cbc_decrypt<C>(
    work: &Work,
    key: &[u8],
    iv: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, ReadError>
where
    C: BlockCipherDecrypt + KeyInit,
{
    let cipher = C::new_from_slice(key).map_err(invalid)?;
    cbc_decrypt_with(work, cipher, iv, ciphertext)
}

fn cbc_decrypt_with<C>(
    work: &Work,
    cipher: C,
    iv: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, ReadError>
where
    C: BlockCipherDecrypt,
{
    cbc::Decryptor::<C>::inner_iv_slice_init(cipher, iv)
        .map_err(|_| invalid("wrong IV length"))?
        .decrypt_padded_vec::<Pkcs7>(ciphertext)
        .map(Zeroizing::new)
        .map_err(|_| work.bad_padding())
}

/// Writes a PKCS#12 file: the key (PKCS#8 DER) in a shrouded key bag and the certificates
/// (leaf first) in one encrypted safe, both tagged with `local_key_id` on the leaf and key.
pub(crate) fn write(
    key_pkcs8: &[u8],
    certs: &[Vec<u8>],
    local_key_id: &[u8],
    password: &str,
) -> Result<Vec<u8>, String> {
    let key_id_attr = || -> Result<x509_cert::attr::Attributes, String> {
        let value = Any::encode_from(&OctetString::new(local_key_id).map_err(err)?).map_err(err)?;
        let attr = Attribute {
            oid: LOCAL_KEY_ID,
            values: SetOfVec::try_from(vec![value]).map_err(err)?,
        };
        SetOfVec::try_from(vec![attr]).map_err(err)
    };

    // The certificates: one safe, encrypted as a whole.
    let mut cert_bags = Vec::with_capacity(certs.len());
    for (i, cert) in certs.iter().enumerate() {
        let bag = CertBag {
            cert_id: X509_CERTIFICATE,
            cert_value: OctetString::new(cert.as_slice()).map_err(err)?,
        };
        cert_bags.push(SafeBag {
            bag_id: CERT_BAG,
            bag_value: bag.to_der().map_err(err)?,
            bag_attributes: if i == 0 { Some(key_id_attr()?) } else { None },
        });
    }
    let cert_safe = Zeroizing::new(cert_bags.to_der().map_err(err)?);
    let (alg, ciphertext) = pbes2_encrypt(password, &cert_safe)?;
    let encrypted = cms::encrypted_data::EncryptedData {
        version: cms::content_info::CmsVersion::V0,
        enc_content_info: cms::enveloped_data::EncryptedContentInfo {
            content_type: ID_DATA,
            content_enc_alg: alg,
            encrypted_content: Some(OctetString::new(ciphertext).map_err(err)?),
        },
        unprotected_attrs: None,
    };
    let certs_info = cms::content_info::ContentInfo {
        content_type: ID_ENCRYPTED_DATA,
        content: Any::encode_from(&encrypted).map_err(err)?,
    };

    // The key: a shrouded key bag in a plain data safe.
    let (alg, ciphertext) = pbes2_encrypt(password, key_pkcs8)?;
    let shrouded = EncryptedPrivateKeyInfo {
        encryption_algorithm: alg,
        encrypted_data: OctetString::new(ciphertext).map_err(err)?,
    };
    let key_safe = vec![SafeBag {
        bag_id: SHROUDED_KEY_BAG,
        bag_value: shrouded.to_der().map_err(err)?,
        bag_attributes: Some(key_id_attr()?),
    }];
    let key_info = cms::content_info::ContentInfo {
        content_type: ID_DATA,
        content: Any::encode_from(&OctetString::new(key_safe.to_der().map_err(err)?).map_err(err)?)
            .map_err(err)?,
    };

    // The authenticated safe and its MAC (HMAC-SHA-256, PKCS#12 KDF, as OpenSSL 3).
    let auth_safe = vec![certs_info, key_info].to_der().map_err(err)?;
    let salt: [u8; 16] = rand::random();
    let rounds = i32::try_from(WRITE_ITERATIONS).map_err(err)?;
    let mac_key = Zeroizing::new(
        derive_key_utf8::<sha2::Sha256>(password, &salt, Pkcs12KeyType::Mac, rounds, 32)
            .map_err(|e| format!("password: {e}"))?,
    );
    let mut mac =
        <hmac::Hmac<sha2::Sha256> as hmac::KeyInit>::new_from_slice(&mac_key).map_err(err)?;
    mac.update(&auth_safe);
    let pfx = Pfx {
        version: pkcs12::pfx::Version::V3,
        auth_safe: cms::content_info::ContentInfo {
            content_type: ID_DATA,
            content: Any::encode_from(&OctetString::new(auth_safe).map_err(err)?).map_err(err)?,
        },
        mac_data: Some(MacData {
            mac: DigestInfo {
                algorithm: AlgorithmIdentifierOwned {
                    oid: SHA256,
                    parameters: Some(Any::null()),
                },
                digest: OctetString::new(mac.finalize().into_bytes().to_vec()).map_err(err)?,
            },
            mac_salt: OctetString::new(salt.to_vec()).map_err(err)?,
            iterations: rounds,
        }),
    };
    pfx.to_der().map_err(err)
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// PBES2 with PBKDF2-HMAC-SHA-256 and AES-256-CBC (random salt and IV).
fn pbes2_encrypt(
    password: &str,
    plaintext: &[u8],
) -> Result<(AlgorithmIdentifierOwned, Vec<u8>), String> {
    let salt: [u8; 16] = rand::random();
    let iv: [u8; 16] = rand::random();
    let params = pbes2::Parameters {
        kdf: pbes2::Kdf::Pbkdf2(pbes2::Pbkdf2Params {
            salt: pbes2::Salt::new(salt).map_err(err)?,
            iteration_count: WRITE_ITERATIONS,
            key_length: None,
            prf: pbes2::Pbkdf2Prf::HmacWithSha256,
        }),
        encryption: pbes2::EncryptionScheme::Aes256Cbc { iv },
    };
    let mut key = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), &salt, WRITE_ITERATIONS, key.as_mut());
    let ciphertext = crate::envelope::aes256_cbc_encrypt(&key, &iv, plaintext);
    let alg = AlgorithmIdentifierOwned {
        oid: pbes2::PBES2_OID,
        parameters: Some(Any::encode_from(&params).map_err(err)?),
    };
    Ok((alg, ciphertext))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Vec<u8>, Vec<Vec<u8>>) {
        let subject = crate::testcert::TestSubject::seal(
            "5265877635".parse::<ksef_core::Nip>().expect("nip"),
            "PKCS12 test",
        );
        let cred = crate::testcert::make_test_certificate(&subject, crate::KeyAlgorithm::EcP256)
            .expect("test certificate");
        let key = cred.key.to_pkcs8_der().expect("pkcs8").to_vec();
        (key, vec![cred.certificate_der.clone()])
    }

    #[test]
    fn round_trip_with_an_empty_and_a_polish_password() {
        let (key, certs) = sample();
        for password in ["", "zażółć gęślą jaźń"] {
            let p12 = write(&key, &certs, b"id", password).expect("write");
            let back = read(&p12, password).expect("read");
            assert_eq!(back.keys.len(), 1);
            assert_eq!(back.keys[0].as_slice(), key.as_slice());
            assert_eq!(back.certs, certs);
            assert!(matches!(read(&p12, "x"), Err(ReadError::WrongPassword)));
        }
    }

    #[test]
    fn hostile_files_are_refused_without_panicking() {
        let (key, certs) = sample();
        let p12 = write(&key, &certs, b"id", "pw").expect("write");
        // Every truncation and every single-byte corruption: an error, never a panic.
        for len in 0..p12.len() {
            assert!(read(&p12[..len], "pw").is_err(), "truncated to {len}");
        }
        for i in (0..p12.len()).step_by(7) {
            let mut bad = p12.clone();
            bad[i] ^= 0x5a;
            let _ = read(&bad, "pw");
        }
        assert!(matches!(read(&[0u8; 4], "pw"), Err(ReadError::Invalid(_))));
        assert!(matches!(
            read(&vec![0x30; MAX_FILE_LEN + 1], "pw"),
            Err(ReadError::Invalid(_))
        ));
    }

    #[test]
    fn one_file_cannot_spend_more_than_the_total_budget() {
        let mut work = Work {
            iterations_left: MAX_TOTAL_ITERATIONS,
            items_left: 2,
            mac_verified: true,
        };
        assert!(work.iterations(i64::from(MAX_ITERATIONS)).is_ok());
        assert!(work.iterations(i64::from(MAX_ITERATIONS)).is_ok());
        match work.iterations(1) {
            Err(ReadError::Invalid(why)) => assert!(why.contains("in all"), "{why}"),
            _ => panic!("the budget was exceeded"),
        }
        assert!(work.item().is_ok() && work.item().is_ok());
        assert!(matches!(work.item(), Err(ReadError::Invalid(_))));
        // Past a matching MAC, bad padding is a corrupt file, not a wrong password.
        assert!(matches!(work.bad_padding(), ReadError::Invalid(_)));
    }

    #[test]
    fn an_absurd_iteration_count_is_refused_before_any_work() {
        let (key, certs) = sample();
        let p12 = write(&key, &certs, b"id", "pw").expect("write");
        let mut pfx = Pfx::from_der(&p12).expect("pfx");
        if let Some(mac) = pfx.mac_data.as_mut() {
            mac.iterations = i32::MAX;
        }
        let hostile = pfx.to_der().expect("der");
        let started = std::time::Instant::now();
        match read(&hostile, "pw") {
            Err(ReadError::Invalid(why)) => assert!(why.contains("iteration count"), "{why}"),
            Err(ReadError::WrongPassword) => panic!("should be refused as invalid"),
            Ok(_) => panic!("accepted 2^31 iterations"),
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }
}
