//! `ksef-core` — the KSeF 2.0 domain vocabulary shared by the client, the emulator and the CLI.
//!
//! This crate owns the value types of the API, their validation rules and the calendar rules
//! of the law around them, and nothing else (no HTTP, no I/O, no crypto beyond checksums and
//! the SHA-256 of an invoice file):
//!
//! * [`ident`] — NIP, PESEL, InternalId, NipVatUe, PeppolId with pattern + checksum validation,
//!   test-data generators, and the `{"type","value"}` context/subject identifiers;
//! * [`reference`](mod@reference) — reference numbers (`YYYYMMDD-TT-…`) and KSeF invoice numbers (CRC-8);
//! * [`permission`] — token and person permissions and a small permission set;
//! * [`token`] — KSeF token statuses, the KSeF token string itself, authentication methods;
//! * [`qr`] — the verification links of invoices shown outside KSeF (KOD I, KOD II), their
//!   hosts per environment, labels, and strict reading of a link back into its parts;
//! * [`xml`] — the workspace's one DTD guard for XML from outside (signed requests, invoices);
//! * [`warsaw`] — Polish local time (Europe/Warsaw, CET/CEST) and the Polish UI date formats;
//! * [`business_day`] — Polish public holidays (with their Polish names) and business days;
//! * [`offline`] — the offline modes (offline24, KSeF unavailability, emergency) and the
//!   deadlines for sending offline invoices to KSeF.

pub mod business_day;
pub mod ident;
pub mod offline;
pub mod permission;
pub mod qr;
pub mod reference;
pub mod token;
pub mod warsaw;
pub mod xml;

pub use business_day::PublicHoliday;
pub use ident::{
    ContextIdentifier, ContextIdentifierType, IdentifierError, IdentifierKind, InternalId, Nip,
    NipVatUe, PeppolId, Pesel, SubjectIdentifier, SubjectIdentifierKind,
};
pub use offline::{DeadlineError, OfflineMode, OfflineModeError, OfflineModeKind};
pub use permission::{Permission, PermissionSet, TokenPermission};
pub use reference::{KsefNumber, ReferenceKind, ReferenceNumber};
pub use token::{
    AuthenticationMethod, AuthenticationMethodCategory, KsefToken, KsefTokenError, TokenStatus,
};

/// Error returned when parsing one of the API's string enums (`TokenPermissionType`,
/// `AuthenticationTokenStatus`, …) from an unknown name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {type_name} {value:?}; expected one of: {}", expected.join(", "))]
pub struct ParseEnumError {
    /// Name of the enum (the API schema name), e.g. `TokenPermissionType`.
    pub type_name: &'static str,
    /// The rejected input.
    pub value: String,
    /// All accepted names.
    pub expected: &'static [&'static str],
}

/// Declares a fieldless enum whose variants are serialized under their own names (which are the
/// API's names), with `as_str`, `ALL`, `Display` and `FromStr`.
macro_rules! api_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident as $api_name:literal {
            $( $(#[$vmeta:meta])* $variant:ident ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[ $( $name::$variant ),+ ];
            const NAMES: &'static [&'static str] = &[ $( stringify!($variant) ),+ ];

            /// The API name of this value.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => stringify!($variant) ),+
                }
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::core::str::FromStr for $name {
            type Err = $crate::ParseEnumError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( stringify!($variant) => Ok($name::$variant), )+
                    _ => Err($crate::ParseEnumError {
                        type_name: $api_name,
                        value: s.to_owned(),
                        expected: Self::NAMES,
                    }),
                }
            }
        }
    };
}
pub(crate) use api_enum;

/// Implements `as_str`, `Display`, `AsRef<str>`, `From<T> for String`, `TryFrom<&str>`,
/// `TryFrom<String>` and string (de)serialization that validates through `FromStr`.
macro_rules! string_newtype {
    ($name:ident, $err:ty) => {
        impl $name {
            /// The identifier as the API writes it.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Consumes the value, returning the inner string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl TryFrom<&str> for $name {
            type Error = $err;
            fn try_from(s: &str) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl TryFrom<String> for $name {
            type Error = $err;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s =
                    <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use string_newtype;
