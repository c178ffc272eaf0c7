//! Public keys of KSeF (digest §3.1): `GET /security/public-key-certificates` returns a JSON
//! array of [`PublicKeyCertificate`].

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::common::{OpenEnum, wire_enum};
use crate::ksef_time;

wire_enum! {
    /// `PublicKeyCertificateUsage`: what a published key may be used for.
    pub enum PublicKeyCertificateUsage {
        /// Encrypting `token|timestampMs` for `POST /auth/ksef-token`.
        KsefTokenEncryption = "KsefTokenEncryption",
        /// Wrapping the AES key of sessions and exports.
        SymmetricKeyEncryption = "SymmetricKeyEncryption",
    }
}

/// `PublicKeyCertificate`: one MF certificate with its key id and usages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicKeyCertificate {
    /// Base64 of the certificate DER (no PEM armour).
    pub certificate: String,
    /// Base64 SHA-256 of the certificate DER.
    pub certificate_id: String,
    /// Base64 SHA-256 of the SubjectPublicKeyInfo DER (the `publicKeyId` selector).
    pub public_key_id: String,
    /// Start of validity.
    #[serde(with = "ksef_time")]
    pub valid_from: OffsetDateTime,
    /// End of validity.
    #[serde(with = "ksef_time")]
    pub valid_to: OffsetDateTime,
    /// Allowed usages.
    pub usage: Vec<OpenEnum<PublicKeyCertificateUsage>>,
}

impl PublicKeyCertificate {
    /// Whether the certificate is valid at `now` and allows `usage`.
    pub fn is_usable_for(&self, usage: PublicKeyCertificateUsage, now: OffsetDateTime) -> bool {
        self.valid_from <= now && now <= self.valid_to && self.usage.iter().any(|u| *u == usage)
    }

    /// The selection rule of digest §3.1: among the certificates allowing `usage` and valid at
    /// `now`, the one with the latest `validFrom`.
    pub fn select(
        certificates: &[PublicKeyCertificate],
        usage: PublicKeyCertificateUsage,
        now: OffsetDateTime,
    ) -> Option<&PublicKeyCertificate> {
        certificates
            .iter()
            .filter(|c| c.is_usable_for(usage, now))
            .max_by_key(|c| c.valid_from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn cert(
        id: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
        usage: &str,
    ) -> PublicKeyCertificate {
        PublicKeyCertificate {
            certificate: "MIIB".into(),
            certificate_id: id.into(),
            public_key_id: id.into(),
            valid_from: from,
            valid_to: to,
            usage: vec![OpenEnum::from_wire(usage)],
        }
    }

    #[test]
    fn selects_latest_valid_for_usage() {
        let now = datetime!(2026-01-01 0:00 UTC);
        let certs = [
            cert(
                "old",
                datetime!(2024-01-01 0:00 UTC),
                datetime!(2027-01-01 0:00 UTC),
                "KsefTokenEncryption",
            ),
            cert(
                "new",
                datetime!(2025-06-01 0:00 UTC),
                datetime!(2027-01-01 0:00 UTC),
                "KsefTokenEncryption",
            ),
            cert(
                "future",
                datetime!(2026-06-01 0:00 UTC),
                datetime!(2028-01-01 0:00 UTC),
                "KsefTokenEncryption",
            ),
            cert(
                "sym",
                datetime!(2025-12-01 0:00 UTC),
                datetime!(2027-01-01 0:00 UTC),
                "SymmetricKeyEncryption",
            ),
            cert(
                "unknown",
                datetime!(2025-12-01 0:00 UTC),
                datetime!(2027-01-01 0:00 UTC),
                "SomethingNew",
            ),
        ];
        let pick =
            |u| PublicKeyCertificate::select(&certs, u, now).map(|c| c.certificate_id.as_str());
        assert_eq!(
            pick(PublicKeyCertificateUsage::KsefTokenEncryption),
            Some("new")
        );
        assert_eq!(
            pick(PublicKeyCertificateUsage::SymmetricKeyEncryption),
            Some("sym")
        );
    }

    #[test]
    fn strict_usage_enum_lists_values() {
        let err = serde_json::from_str::<PublicKeyCertificateUsage>("\"X\"").unwrap_err();
        assert!(
            err.to_string()
                .contains("KsefTokenEncryption, SymmetricKeyEncryption"),
            "{err}"
        );
    }
}
