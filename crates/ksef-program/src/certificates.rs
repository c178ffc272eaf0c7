//! KSeF certificates of the logged-in subject (digest §14): enroll one (enrollment data → a
//! fresh key and CSR → enrollment → wait → retrieve → a password-protected PKCS#12 or PEM
//! files), list, revoke, limits — the workflow shared by the CLI and the web app.
//!
//! KSeF serves these only to a subject authenticated with a certificate or signature; in a
//! session opened with a KSeF token it refuses them, and the error names KSeF's code and
//! message. Errors with a 25xxx code say what the code means.
//!
//! The private key and the password never leave this module except into the output file: they
//! are not printed, logged or put into errors. Output files are written durably (a temporary
//! file in the same directory, fsync, rename; mode 0600 on Unix), and an existing file is
//! never overwritten, so a key cannot be lost by a typo in `--out`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ksef_client::KsefError;
use ksef_client::invoicing_flows::{parent_dir, write_atomically};
use ksef_crypto::csr::{CsrSubject, csr_base64, make_csr};
use ksef_crypto::{Credential, KeyAlgorithm, Zeroizing};
use ksef_wire::{
    CertificateEnrollmentDataResponse, CertificateLimitsResponse, CertificateListItem,
    EnrollCertificateRequest, KsefCertificateType, OpenEnum, QueryCertificatesRequest,
    RevokeCertificateRequest, Validate, WireEnum,
};
use serde::Serialize;
use time::OffsetDateTime;

use crate::invoices::with_stored;
use crate::{App, Field, InputProblem, Operation, ProgramError, ProgramResult};

/// How long an enrollment may take to be issued.
const ENROLLMENT_WAIT: Duration = Duration::from_secs(120);

/// What the 25xxx codes of the certificates API mean (digest §14, §16), in English.
pub fn code_meaning(code: u32) -> Option<&'static str> {
    Some(match code {
        25001 | 25002 => {
            "KSeF certificates are available only in a session opened with a certificate or \
             signature (XAdES), not with a KSeF token; log in with `ksef auth login --cert …`"
        }
        25003 => "the CSR subject differs from the enrollment data of your login certificate",
        25004 => "the CSR is malformed or its signature is wrong",
        25005 => "no such certificate enrollment of yours",
        25006 => "the limit of certificate enrollments is reached (see `ksef limits`)",
        25007 => {
            "the limit of active certificates is reached; revoke one (`ksef cert revoke SERIAL`)"
        }
        25008 => "no certificate of yours has this serial number",
        25009 => "the certificate is already revoked, blocked or expired",
        25010 => "the key must be RSA-2048 or EC P-256",
        25011 => "the CSR signature algorithm is not allowed",
        _ => return None,
    })
}

/// A clear error for a failed KSeF call: KSeF's code and message plus (in its `Display`), for
/// 25xxx codes, what the code means.
fn ksef_failure(operation: Operation, subject: Option<&str>, source: KsefError) -> ProgramError {
    ProgramError::KsefFailed {
        operation,
        subject: subject.map(str::to_string),
        source: Box::new(source),
    }
}

/// Parses a certificate type (`Authentication` or `Offline`, case-insensitive).
pub fn parse_certificate_type(s: &str) -> ProgramResult<KsefCertificateType> {
    let v = s.trim();
    KsefCertificateType::VALUES
        .iter()
        .find(|t| t.wire_name().eq_ignore_ascii_case(v))
        .copied()
        .ok_or_else(|| {
            ProgramError::invalid(
                Field::CertificateType,
                InputProblem::UnexpectedValue {
                    value: v.to_string(),
                    expected: "Authentication or Offline".into(),
                },
            )
        })
}

/// The CSR subject of KSeF's enrollment data, attribute for attribute.
pub fn csr_subject(data: &CertificateEnrollmentDataResponse) -> CsrSubject {
    CsrSubject {
        common_name: data.common_name.clone(),
        country_name: data.country_name.clone(),
        given_name: data.given_name.clone(),
        surname: data.surname.clone(),
        serial_number: data.serial_number.clone(),
        unique_identifier: data.unique_identifier.clone(),
        organization_name: data.organization_name.clone(),
        organization_identifier: data.organization_identifier.clone(),
    }
}

/// How to write the new certificate and its key.
pub enum Output {
    /// One PKCS#12 file (certificate + key) protected with this password.
    Pkcs12 {
        /// The PKCS#12 file.
        path: PathBuf,
        /// Its password (never printed).
        password: Zeroizing<String>,
    },
    /// The certificate PEM at `path`, the PKCS#8 key PEM beside it with the extension `.key`.
    Pem {
        /// The certificate file.
        path: PathBuf,
    },
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Output::Pkcs12 { path, .. } => f
                .debug_struct("Pkcs12")
                .field("path", path)
                .field("password", &"<redacted>")
                .finish(),
            Output::Pem { path } => f.debug_struct("Pem").field("path", path).finish(),
        }
    }
}

impl Output {
    /// The files this output writes: (certificate or PKCS#12, key file of PEM output).
    fn files(&self) -> (PathBuf, Option<PathBuf>) {
        match self {
            Output::Pkcs12 { path, .. } => (path.clone(), None),
            Output::Pem { path } => (path.clone(), Some(path.with_extension("key"))),
        }
    }

    /// Checks before anything is requested from KSeF that the files can be written and do not
    /// exist yet (an existing file may hold another key).
    fn preflight(&self) -> ProgramResult<()> {
        if let Output::Pkcs12 { password, .. } = self
            && password.is_empty()
        {
            return Err(ProgramError::invalid(
                Field::Pkcs12Password,
                InputProblem::Missing {
                    hint: "a non-empty password in the --password-file",
                },
            ));
        }
        let (main, key) = self.files();
        for p in std::iter::once(&main).chain(key.as_ref()) {
            if p.exists() {
                return Err(ProgramError::OutputExists { path: p.clone() });
            }
            let dir = parent_dir(p);
            if !dir.is_dir() {
                return Err(ProgramError::OutputDirMissing {
                    path: p.clone(),
                    dir: dir.to_path_buf(),
                });
            }
        }
        Ok(())
    }

    /// Writes the credential durably.
    fn write(&self, credential: &Credential, serial: &str) -> ProgramResult<()> {
        let written = |p: &Path, source: KsefError| ProgramError::CertificateNotSaved {
            serial: serial.to_string(),
            path: p.to_path_buf(),
            source: Box::new(source),
        };
        match self {
            Output::Pkcs12 { path, password } => {
                let p12 = Zeroizing::new(credential.to_pkcs12(password)?);
                write_atomically(path, &p12).map_err(|e| written(path, e))
            }
            Output::Pem { path } => {
                let key_path = path.with_extension("key");
                let key_pem = credential.key_pem()?;
                write_atomically(&key_path, key_pem.as_bytes())
                    .map_err(|e| written(&key_path, e))?;
                let cert_pem = credential.certificate_pem()?;
                write_atomically(path, cert_pem.as_bytes()).map_err(|e| written(path, e))
            }
        }
    }
}

/// What to enroll.
#[derive(Debug)]
pub struct EnrollRequest {
    /// Own name of the certificate (5–100 letters, digits, space, `_`, `-`).
    pub name: String,
    /// `Authentication` (XAdES login) or `Offline` (offline invoices, KOD II).
    pub certificate_type: KsefCertificateType,
    /// RSA-2048 or EC P-256.
    pub key_algorithm: KeyAlgorithm,
    /// Where to write certificate and key.
    pub output: Output,
}

/// An issued and saved certificate.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Enrolled {
    /// Reference number of the enrollment.
    pub reference_number: String,
    /// Serial number of the certificate (16 hex digits).
    pub serial_number: String,
    pub name: String,
    pub certificate_type: String,
    /// SHA-256 fingerprint of the certificate (64 hex digits).
    pub fingerprint: String,
    /// commonName of the subject.
    pub common_name: String,
    #[serde(with = "ksef_wire::ksef_time")]
    pub valid_from: OffsetDateTime,
    #[serde(with = "ksef_wire::ksef_time")]
    pub valid_to: OffsetDateTime,
    /// The PKCS#12 file or the certificate PEM.
    pub file: PathBuf,
    /// The key PEM (PEM output only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
}

/// `ksef cert enroll`: requests a KSeF certificate for the logged-in subject and saves it with
/// its new private key.
pub async fn enroll(app: &mut App, req: EnrollRequest) -> ProgramResult<Enrolled> {
    let name = req.name.trim().to_string();
    // The name is checked before KSeF is asked for anything (the CSR comes later).
    EnrollCertificateRequest {
        certificate_name: name.clone(),
        certificate_type: OpenEnum::Known(req.certificate_type),
        csr: "-".into(),
        valid_from: None,
    }
    .validate()
    .map_err(|e| ProgramError::invalid(Field::CertificateName, InputProblem::Rules(e)))?;
    if !matches!(
        req.key_algorithm,
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::EcP256
    ) {
        return Err(ProgramError::invalid(
            Field::KeyAlgorithm,
            InputProblem::UnexpectedValue {
                value: format!("{:?}", req.key_algorithm),
                expected: "RSA-2048 or EC P-256 (KSeF certificates)".into(),
            },
        ));
    }
    req.output.preflight()?;

    let data = with_stored(app, &[], Operation::ReadEnrollmentData, async |c, s| {
        Ok(
            c.certificate_enrollment_data(s.access_token.expose_secret())
                .await,
        )
    })
    .await?
    .map_err(|e| ksef_failure(Operation::ReadEnrollmentData, None, e))?;

    let (key, csr_der) = make_csr(&csr_subject(&data), req.key_algorithm)?;
    let request = EnrollCertificateRequest {
        certificate_name: name.clone(),
        certificate_type: OpenEnum::Known(req.certificate_type),
        csr: csr_base64(&csr_der),
        valid_from: None,
    };
    let (reference, status) = with_stored(app, &[], Operation::EnrollCertificate, async |c, s| {
        let access = s.access_token.expose_secret();
        let submitted = match c.enroll_certificate(access, &request).await {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        let reference = submitted.reference_number;
        Ok(c.wait_enrollment(access, &reference, ENROLLMENT_WAIT)
            .await
            .map(|st| (reference, st)))
    })
    .await?
    .map_err(|e| ksef_failure(Operation::EnrollCertificate, None, e))?;
    if status.status.code != 200 {
        return Err(ProgramError::CertificateNotIssued {
            reference_number: reference,
            status_code: status.status.code,
            description: status.status.description,
            details: status.status.details.unwrap_or_default(),
        });
    }
    let serial =
        status
            .certificate_serial_number
            .ok_or_else(|| ProgramError::NoCertificateSerial {
                reference_number: reference.clone(),
            })?;

    let (der, item) = with_stored(app, &[], Operation::RetrieveCertificate, async |c, s| {
        Ok(
            c.retrieve_certificate(s.access_token.expose_secret(), &serial)
                .await,
        )
    })
    .await?
    .map_err(|e| ksef_failure(Operation::RetrieveCertificate, Some(&serial), e))?;

    // Pairs the key with the certificate (fails if KSeF certified another key).
    let credential = Credential::new(key, der, Vec::new())?;
    let info = credential.info()?;
    req.output.write(&credential, &serial)?;
    let (file, key_file) = req.output.files();
    Ok(Enrolled {
        reference_number: reference,
        serial_number: serial,
        name: item.certificate_name,
        certificate_type: item.certificate_type.to_string(),
        fingerprint: credential.fingerprint(),
        common_name: data.common_name,
        valid_from: info.not_before,
        valid_to: info.not_after,
        file,
        key_file,
    })
}

/// `ksef cert list`: every KSeF certificate of the logged-in subject, newest request first.
pub async fn list(app: &mut App) -> ProgramResult<Vec<CertificateListItem>> {
    with_stored(app, &[], Operation::ListCertificates, async |c, s| {
        Ok(c.all_certificates(
            s.access_token.expose_secret(),
            &QueryCertificatesRequest::default(),
        )
        .await)
    })
    .await?
    .map_err(|e| ksef_failure(Operation::ListCertificates, None, e))
}

/// `ksef cert revoke`: revokes a KSeF certificate of the logged-in subject (it can no longer be
/// used to log in).
pub async fn revoke(app: &mut App, serial: &str) -> ProgramResult<()> {
    let serial = serial.trim().to_ascii_uppercase();
    if !ksef_wire::is_certificate_serial_number(&serial) {
        return Err(ProgramError::invalid(
            Field::CertificateSerial,
            InputProblem::BadFormat {
                value: serial,
                expected: "16 hex digits (see `ksef cert list`)",
            },
        ));
    }
    with_stored(app, &[], Operation::RevokeCertificate, async |c, s| {
        Ok(c.revoke_certificate(
            s.access_token.expose_secret(),
            &serial,
            &RevokeCertificateRequest::default(),
        )
        .await)
    })
    .await?
    .map_err(|e| ksef_failure(Operation::RevokeCertificate, Some(&serial), e))
}

/// The certificate limits of the logged-in subject.
pub async fn limits(app: &mut App) -> ProgramResult<CertificateLimitsResponse> {
    with_stored(app, &[], Operation::ReadCertificateLimits, async |c, s| {
        Ok(c.certificate_limits(s.access_token.expose_secret()).await)
    })
    .await?
    .map_err(|e| ksef_failure(Operation::ReadCertificateLimits, None, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_types_and_codes() {
        assert_eq!(
            parse_certificate_type("offline").unwrap(),
            KsefCertificateType::Offline
        );
        assert!(parse_certificate_type("Signing").is_err());
        assert!(code_meaning(25002).unwrap().contains("KSeF token"));
        assert!(code_meaning(21405).is_none());
    }

    #[test]
    fn preflight_refuses_existing_files_and_empty_passwords() {
        let dir = tempfile::tempdir().unwrap();
        let taken = dir.path().join("taken.p12");
        std::fs::write(&taken, b"x").unwrap();
        let out = Output::Pkcs12 {
            path: taken,
            password: Zeroizing::new("pw".into()),
        };
        assert!(matches!(
            out.preflight().unwrap_err(),
            ProgramError::OutputExists { .. }
        ));
        let out = Output::Pkcs12 {
            path: dir.path().join("new.p12"),
            password: Zeroizing::new(String::new()),
        };
        assert!(out.preflight().is_err());
        let out = Output::Pem {
            path: dir.path().join("missing").join("c.pem"),
        };
        assert!(matches!(
            out.preflight().unwrap_err(),
            ProgramError::OutputDirMissing { .. }
        ));
        let out = Output::Pem {
            path: dir.path().join("c.pem"),
        };
        out.preflight().unwrap();
        assert!(
            !format!(
                "{:?}",
                Output::Pkcs12 {
                    path: "a".into(),
                    password: Zeroizing::new("sekret".into())
                }
            )
            .contains("sekret")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Self-signed test certificates (`ksef cert new`; the web app's "test certificate for a NIP")
// ---------------------------------------------------------------------------------------------

/// Given name of a test person certificate unless one is given.
pub const TEST_GIVEN_NAME: &str = "Jan";
/// Surname of a test person certificate unless one is given.
pub const TEST_SURNAME: &str = "Testowy";
/// Organisation name of a test seal unless one is given.
pub const TEST_ORGANIZATION: &str = "Firma Testowa Sp. z o.o.";

/// Who a self-signed test certificate identifies (digest §5.2: the attribute sets of the
/// official client builders; personal and seal attributes are kept apart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCertificateRequest {
    /// NIP of a person (`TINPL-…`) or, with `seal`, of an organisation (`VATPL-…`).
    pub nip: Option<String>,
    /// PESEL of a person (`PNOPL-…`); not with `nip`.
    pub pesel: Option<String>,
    /// An organisation seal instead of a personal certificate (needs `nip`).
    pub seal: bool,
    /// Given name (personal certificates).
    pub given_name: String,
    /// Surname (personal certificates).
    pub surname: String,
    /// Organisation name (seals).
    pub organization: String,
    /// RSA-2048 or EC P-256.
    pub key_algorithm: KeyAlgorithm,
}

impl TestCertificateRequest {
    /// A personal certificate of the owner of `nip` (`TINPL-<nip>`, "Jan Testowy", RSA-2048),
    /// as `ksef cert new --nip` makes it.
    pub fn person_nip(nip: &ksef_core::Nip) -> Self {
        Self {
            nip: Some(nip.as_str().to_string()),
            pesel: None,
            seal: false,
            given_name: TEST_GIVEN_NAME.to_string(),
            surname: TEST_SURNAME.to_string(),
            organization: TEST_ORGANIZATION.to_string(),
            key_algorithm: KeyAlgorithm::Rsa2048,
        }
    }

    /// The certificate subject; a clear error for a bad NIP/PESEL or a wrong combination.
    pub fn subject(&self) -> ProgramResult<ksef_crypto::testcert::TestSubject> {
        use ksef_crypto::testcert::TestSubject;
        let nip = |v: &str| {
            v.trim()
                .parse::<ksef_core::Nip>()
                .map_err(|e| ProgramError::InvalidInput {
                    field: Field::Nip,
                    problem: InputProblem::Identifier(e),
                })
        };
        let name = |v: &str, what: &'static str| {
            let v = v.trim();
            if v.is_empty() || v.chars().any(char::is_control) {
                Err(ProgramError::InvalidInput {
                    field: Field::TestSubject,
                    problem: InputProblem::BadFormat {
                        value: v.to_string(),
                        expected: what,
                    },
                })
            } else {
                Ok(v.to_string())
            }
        };
        match (&self.nip, &self.pesel, self.seal) {
            (Some(n), None, true) => {
                let organization = name(
                    &self.organization,
                    "an organisation name without control characters",
                )?;
                Ok(TestSubject::Seal {
                    nip: nip(n)?,
                    organization_name: organization.clone(),
                    common_name: organization,
                })
            }
            (Some(n), None, false) => {
                let (given, surname) = (
                    name(&self.given_name, "a given name without control characters")?,
                    name(&self.surname, "a surname without control characters")?,
                );
                Ok(TestSubject::PersonNip {
                    nip: nip(n)?,
                    common_name: format!("{given} {surname}"),
                    given_name: given,
                    surname,
                })
            }
            (None, Some(p), false) => {
                let pesel = p.trim().parse::<ksef_core::Pesel>().map_err(|e| {
                    ProgramError::InvalidInput {
                        field: Field::Pesel,
                        problem: InputProblem::Identifier(e),
                    }
                })?;
                let (given, surname) = (
                    name(&self.given_name, "a given name without control characters")?,
                    name(&self.surname, "a surname without control characters")?,
                );
                Ok(TestSubject::PersonPesel {
                    pesel,
                    common_name: format!("{given} {surname}"),
                    given_name: given,
                    surname,
                })
            }
            (None, Some(_), true) => Err(ProgramError::InvalidInput {
                field: Field::TestSubject,
                problem: InputProblem::Missing {
                    hint: "a seal needs a NIP (it carries VATPL-<NIP>), not a PESEL",
                },
            }),
            (Some(_), Some(_), _) => Err(ProgramError::InvalidInput {
                field: Field::TestSubject,
                problem: InputProblem::UnexpectedValue {
                    value: "NIP and PESEL".into(),
                    expected: "a NIP or a PESEL, not both".into(),
                },
            }),
            (None, None, _) => Err(ProgramError::InvalidInput {
                field: Field::TestSubject,
                problem: InputProblem::Missing {
                    hint: "give a NIP or a PESEL for a test certificate",
                },
            }),
        }
    }
}

/// A new self-signed test certificate and its key (for the TEST environment and the local
/// emulator; DEMO and production accept only certificates from trusted CAs).
pub fn new_test_credential(req: &TestCertificateRequest) -> ProgramResult<Credential> {
    let subject = req.subject()?;
    ksef_crypto::testcert::make_test_certificate(&subject, req.key_algorithm)
        .map_err(ProgramError::Crypto)
}

/// A self-signed test certificate as a password-protected PKCS#12 file's bytes.
pub struct TestCertificate {
    /// The PKCS#12 (`.p12`) bytes: the certificate and its private key, encrypted with the
    /// password.
    pub pkcs12: Vec<u8>,
    /// SHA-256 fingerprint of the certificate (hex).
    pub fingerprint: String,
}

impl std::fmt::Debug for TestCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCertificate")
            .field("pkcs12", &format_args!("<{} bytes>", self.pkcs12.len()))
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

/// A self-signed test certificate for the owner of `nip` (`TINPL-<nip>`, as `ksef cert new
/// --nip` makes it) as PKCS#12 bytes protected by `password`: what logs in as the owner of `nip`
/// on TEST and in the local emulator. Offer it only there ([`accepts_test_certificates`]).
pub fn test_certificate_for_nip(
    nip: &ksef_core::Nip,
    password: &str,
) -> ProgramResult<TestCertificate> {
    let cred = new_test_credential(&TestCertificateRequest::person_nip(nip))?;
    let pkcs12 = cred.to_pkcs12(password).map_err(ProgramError::Crypto)?;
    Ok(TestCertificate {
        pkcs12,
        fingerprint: cred.fingerprint(),
    })
}

/// Whether an environment accepts self-signed test certificates: the local emulator and TEST
/// do; DEMO and production require certificates issued by a trusted CA.
pub fn accepts_test_certificates(env: ksef_client::Environment) -> bool {
    matches!(
        env,
        ksef_client::Environment::Local | ksef_client::Environment::Test
    )
}
