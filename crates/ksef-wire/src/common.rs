//! Building blocks shared by all modules: open enums ([`OpenEnum`]), `{type, value}`
//! identifiers ([`TypedIdentifier`]), [`StatusInfo`], request validation errors
//! ([`ValidationError`]) and HTTP header names.

use std::fmt;
use std::marker::PhantomData;

use ksef_core::{
    AuthenticationMethod, AuthenticationMethodCategory, ContextIdentifier, ContextIdentifierType,
    IdentifierError, Nip, Pesel, SubjectIdentifier, SubjectIdentifierKind, TokenPermission,
    TokenStatus,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// HTTP header names used next to these bodies (digest §2.1, §2.2, §15.2).
pub mod headers {
    /// Request header carrying the continuation token of header-paginated lists.
    pub const X_CONTINUATION_TOKEN: &str = "x-continuation-token";
    /// Request header switching 400/429 bodies to Problem Details (`problem-details`).
    pub const X_ERROR_FORMAT: &str = "x-error-format";
    /// The value of [`X_ERROR_FORMAT`] that selects Problem Details.
    pub const PROBLEM_DETAILS: &str = "problem-details";
    /// Response header with non-blocking warnings (`[code]: message | …`).
    pub const X_SYSTEM_WARNING: &str = "x-system-warning";
    /// Request header with opt-in feature switches.
    pub const X_KSEF_FEATURE: &str = "x-ksef-feature";
    /// 429 response header: seconds to wait.
    pub const RETRY_AFTER: &str = "retry-after";
    /// Content type of Problem Details bodies.
    pub const APPLICATION_PROBLEM_JSON: &str = "application/problem+json";
}

// ---------------------------------------------------------------------------------------------
// Enums
// ---------------------------------------------------------------------------------------------

/// A closed set of API string values (an OpenAPI `enum`). Implemented for the `ksef-core`
/// enums and for the few wire-only enums of this crate.
pub trait WireEnum: Copy + Eq + 'static {
    /// Every value, in API order.
    const VALUES: &'static [Self];

    /// The API name of the value.
    fn wire_name(self) -> &'static str;

    /// The value with this exact API name.
    fn from_wire_name(s: &str) -> Option<Self> {
        Self::VALUES.iter().copied().find(|v| v.wire_name() == s)
    }

    /// All API names joined with `", "` (for error messages).
    fn expected_names() -> String {
        Self::VALUES
            .iter()
            .map(|v| v.wire_name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

macro_rules! impl_wire_enum_for_core {
    ($($t:ty),+ $(,)?) => {
        $(
            impl WireEnum for $t {
                const VALUES: &'static [Self] = <$t>::ALL;
                fn wire_name(self) -> &'static str {
                    self.as_str()
                }
            }
        )+
    };
}

impl_wire_enum_for_core!(
    TokenPermission,
    TokenStatus,
    ContextIdentifierType,
    SubjectIdentifierKind,
    AuthenticationMethod,
    AuthenticationMethodCategory,
);

/// Declares a wire-only enum with explicit API names, implementing [`WireEnum`], `Display`
/// and strict serde (unknown names are a deserialization error; wrap in [`OpenEnum`] to be
/// lenient).
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// The API name of this value.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $wire ),+
                }
            }
        }

        impl $crate::common::WireEnum for $name {
            const VALUES: &'static [Self] = &[ $( $name::$variant ),+ ];
            fn wire_name(self) -> &'static str {
                self.as_str()
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                <$name as $crate::common::WireEnum>::from_wire_name(&s).ok_or_else(|| {
                    ::serde::de::Error::custom(format!(
                        "unknown {} {:?}; expected one of: {}",
                        stringify!($name),
                        s,
                        <$name as $crate::common::WireEnum>::expected_names()
                    ))
                })
            }
        }
    };
}
pub(crate) use wire_enum;

/// An API enum value that may be outside the set this crate knows.
///
/// Deserialization never fails on an unknown *string*: it keeps the raw value in
/// [`OpenEnum::Unknown`]. This serves both sides: the client survives values MF adds in
/// later versions, and the emulator can answer an unknown value with the documented
/// 400/21405 and a specific message ([`OpenEnum::require`]). Serialization writes the
/// API name, or the raw string back.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OpenEnum<E> {
    /// A value this crate knows.
    Known(E),
    /// Any other string, kept verbatim.
    Unknown(String),
}

impl<E: WireEnum> OpenEnum<E> {
    /// Classifies a raw API string.
    pub fn from_wire(s: &str) -> Self {
        match E::from_wire_name(s) {
            Some(e) => OpenEnum::Known(e),
            None => OpenEnum::Unknown(s.to_owned()),
        }
    }

    /// The known value, if any.
    pub fn known(&self) -> Option<E> {
        match self {
            OpenEnum::Known(e) => Some(*e),
            OpenEnum::Unknown(_) => None,
        }
    }

    /// The value as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            OpenEnum::Known(e) => e.wire_name(),
            OpenEnum::Unknown(s) => s,
        }
    }

    /// The known value, or [`ValidationError::UnknownValue`] naming `field` and the
    /// accepted values.
    pub fn require(&self, field: &str) -> Result<E, ValidationError> {
        match self {
            OpenEnum::Known(e) => Ok(*e),
            OpenEnum::Unknown(s) => Err(ValidationError::UnknownValue {
                field: field.to_owned(),
                value: s.clone(),
                expected: E::expected_names(),
            }),
        }
    }
}

impl<E> From<E> for OpenEnum<E> {
    fn from(e: E) -> Self {
        OpenEnum::Known(e)
    }
}

impl<E: WireEnum> PartialEq<E> for OpenEnum<E> {
    fn eq(&self, other: &E) -> bool {
        matches!(self, OpenEnum::Known(e) if e == other)
    }
}

impl<E: WireEnum> fmt::Display for OpenEnum<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<E: WireEnum> Serialize for OpenEnum<E> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de, E: WireEnum> Deserialize<'de> for OpenEnum<E> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<E>(PhantomData<E>);
        impl<E: WireEnum> serde::de::Visitor<'_> for V<E> {
            type Value = OpenEnum<E>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<Er: serde::de::Error>(self, v: &str) -> Result<Self::Value, Er> {
                Ok(OpenEnum::from_wire(v))
            }
        }
        deserializer.deserialize_str(V(PhantomData))
    }
}

/// Converts a list of open values into known ones, failing on the first unknown one
/// (`field` is the array's name; the error names the index).
pub fn require_all<E: WireEnum>(
    items: &[OpenEnum<E>],
    field: &str,
) -> Result<Vec<E>, ValidationError> {
    items
        .iter()
        .enumerate()
        .map(|(i, v)| v.require(&format!("{field}[{i}]")))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Identifiers
// ---------------------------------------------------------------------------------------------

/// The API's `{"type": …, "value": …}` identifier object, with the type set `T` of the
/// particular schema. Both parts deserialize leniently (any string); convert with
/// [`TypedIdentifier::to_context_identifier`] / [`TypedIdentifier::to_subject_identifier`] /
/// [`TypedIdentifier::to_nip`] to validate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(bound = "T: WireEnum")]
pub struct TypedIdentifier<T> {
    /// Identifier type.
    #[serde(rename = "type")]
    pub r#type: OpenEnum<T>,
    /// Identifier value.
    pub value: String,
}

impl<T: WireEnum> TypedIdentifier<T> {
    /// An identifier with a known type.
    pub fn new(r#type: T, value: impl Into<String>) -> Self {
        TypedIdentifier {
            r#type: OpenEnum::Known(r#type),
            value: value.into(),
        }
    }
}

impl TypedIdentifier<ContextIdentifierType> {
    /// Validates type, pattern and checksum. `field` is the JSON path used in errors
    /// (e.g. `"contextIdentifier"`).
    pub fn to_context_identifier(&self, field: &str) -> Result<ContextIdentifier, ValidationError> {
        let kind = self.r#type.require(&format!("{field}.type"))?;
        ContextIdentifier::parse(kind, &self.value).map_err(|source| ValidationError::Identifier {
            field: format!("{field}.value"),
            source,
        })
    }
}

impl From<&ContextIdentifier> for TypedIdentifier<ContextIdentifierType> {
    fn from(c: &ContextIdentifier) -> Self {
        TypedIdentifier::new(c.kind(), c.value())
    }
}

impl From<ContextIdentifier> for TypedIdentifier<ContextIdentifierType> {
    fn from(c: ContextIdentifier) -> Self {
        (&c).into()
    }
}

impl TypedIdentifier<SubjectIdentifierKind> {
    /// Validates type, pattern and checksum (fingerprints are upper-cased). `field` is the
    /// JSON path used in errors (e.g. `"authorizedIdentifier"`).
    pub fn to_subject_identifier(&self, field: &str) -> Result<SubjectIdentifier, ValidationError> {
        let kind = self.r#type.require(&format!("{field}.type"))?;
        SubjectIdentifier::parse(kind, &self.value).map_err(|source| ValidationError::Identifier {
            field: format!("{field}.value"),
            source,
        })
    }
}

impl From<&SubjectIdentifier> for TypedIdentifier<SubjectIdentifierKind> {
    fn from(s: &SubjectIdentifier) -> Self {
        TypedIdentifier::new(s.kind(), s.value())
    }
}

impl From<SubjectIdentifier> for TypedIdentifier<SubjectIdentifierKind> {
    fn from(s: SubjectIdentifier) -> Self {
        (&s).into()
    }
}

// ---------------------------------------------------------------------------------------------
// StatusInfo
// ---------------------------------------------------------------------------------------------

/// `StatusInfo`: a numeric status with a Polish description (auth operations, sessions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusInfo {
    /// Status code (e.g. 100, 200, 450).
    pub code: i32,
    /// Status description.
    pub description: String,
    /// Extra details; optional, skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<String>>,
}

impl StatusInfo {
    /// A status without details.
    pub fn new(code: i32, description: impl Into<String>) -> Self {
        StatusInfo {
            code,
            description: description.into(),
            details: None,
        }
    }

    /// Adds details.
    pub fn with_details(mut self, details: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.details = Some(details.into_iter().map(Into::into).collect());
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

/// A request body that checks itself: strings into the validated values the service works
/// with, or a [`ValidationError`] naming the field. One trait, so a front end (the emulator's
/// handlers, the client) can treat every such request alike.
///
/// Every top-level request body with semantic checks implements it (bring the trait into
/// scope, `use ksef_wire::Validate;`, to call `validate()`). Validators of sub-objects that
/// take the JSON path of the field they sit in (`field: &str`, used as the prefix of error
/// paths), such as [`EncryptionInfo::validate`](crate::EncryptionInfo::validate) or
/// [`SessionContextLimits::validate_override`](crate::SessionContextLimits::validate_override),
/// are inherent methods instead: they are called by the request validators, not by a front
/// end.
pub trait Validate {
    /// The checked form of the request.
    type Valid;
    /// Checks every field; the first problem names its path.
    fn validate(&self) -> Result<Self::Valid, ValidationError>;
}

/// Why a request body is semantically invalid (the emulator answers 400 / 21405 with the
/// `Display` text as the detail). `field` is a JSON path such as `contextIdentifier.value`
/// or `permissions[1]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// An enum string outside the accepted set.
    #[error("{field}: unknown value {value:?}; expected one of: {expected}")]
    UnknownValue {
        field: String,
        value: String,
        expected: String,
    },
    /// An identifier that fails its pattern or checksum.
    #[error("{field}: {source}")]
    Identifier {
        field: String,
        #[source]
        source: IdentifierError,
    },
    /// A string of the wrong length (in characters).
    #[error("{field}: length must be between {min} and {max} characters, got {actual}")]
    Length {
        field: String,
        min: usize,
        max: usize,
        actual: usize,
    },
    /// A number outside its allowed range.
    #[error("{field}: must be between {min} and {max}, got {actual}")]
    Range {
        field: String,
        min: i64,
        max: i64,
        actual: i64,
    },
    /// Any other rule.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

impl ValidationError {
    /// The JSON path of the offending property.
    pub fn field(&self) -> &str {
        match self {
            ValidationError::UnknownValue { field, .. }
            | ValidationError::Identifier { field, .. }
            | ValidationError::Length { field, .. }
            | ValidationError::Range { field, .. }
            | ValidationError::Invalid { field, .. } => field,
        }
    }
}

/// Checks a string's length in characters (the OpenAPI `minLength`/`maxLength`).
pub fn check_length(
    field: &str,
    value: &str,
    min: usize,
    max: usize,
) -> Result<(), ValidationError> {
    let actual = value.chars().count();
    if (min..=max).contains(&actual) {
        Ok(())
    } else {
        Err(ValidationError::Length {
            field: field.to_owned(),
            min,
            max,
            actual,
        })
    }
}

/// Checks a number against an inclusive range (the OpenAPI `minimum`/`maximum`).
pub fn check_range(field: &str, value: i64, min: i64, max: i64) -> Result<(), ValidationError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ValidationError::Range {
            field: field.to_owned(),
            min,
            max,
            actual: value,
        })
    }
}

/// Parses a NIP (pattern + checksum), naming `field` on failure.
pub fn parse_nip(field: &str, value: &str) -> Result<Nip, ValidationError> {
    value.parse().map_err(|source| ValidationError::Identifier {
        field: field.to_owned(),
        source,
    })
}

/// Parses a PESEL (pattern + checksum), naming `field` on failure.
pub fn parse_pesel(field: &str, value: &str) -> Result<Pesel, ValidationError> {
    value.parse().map_err(|source| ValidationError::Identifier {
        field: field.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_enum_keeps_unknown_values() {
        let v: Vec<OpenEnum<TokenStatus>> =
            serde_json::from_str(r#"["Active","Suspended"]"#).unwrap();
        assert_eq!(v[0], TokenStatus::Active);
        assert_eq!(v[1], OpenEnum::Unknown("Suspended".to_owned()));
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"["Active","Suspended"]"#
        );
        let err = v[1].require("status").unwrap_err();
        assert_eq!(err.field(), "status");
        let msg = err.to_string();
        assert!(
            msg.contains("\"Suspended\"") && msg.contains("Pending, Active"),
            "{msg}"
        );
        // Not a string at all is still an error.
        assert!(serde_json::from_str::<OpenEnum<TokenStatus>>("5").is_err());
    }

    #[test]
    fn require_all_names_the_index() {
        let v = vec![
            OpenEnum::Known(TokenPermission::InvoiceRead),
            OpenEnum::<TokenPermission>::from_wire("VatUeManage"),
        ];
        let err = require_all(&v, "permissions").unwrap_err();
        assert_eq!(err.field(), "permissions[1]");
    }

    #[test]
    fn identifiers_validate_with_paths() {
        let ok: TypedIdentifier<ContextIdentifierType> =
            serde_json::from_str(r#"{"type":"Nip","value":"5265877635"}"#).unwrap();
        let core = ok.to_context_identifier("contextIdentifier").unwrap();
        assert_eq!(core.value(), "5265877635");
        assert_eq!(TypedIdentifier::from(&core), ok);

        let bad_sum: TypedIdentifier<ContextIdentifierType> =
            serde_json::from_str(r#"{"type":"Nip","value":"5265877636"}"#).unwrap();
        let err = bad_sum
            .to_context_identifier("contextIdentifier")
            .unwrap_err();
        assert_eq!(err.field(), "contextIdentifier.value");
        assert!(err.to_string().contains("checksum"), "{err}");

        let bad_type: TypedIdentifier<ContextIdentifierType> =
            serde_json::from_str(r#"{"type":"Pesel","value":"5265877635"}"#).unwrap();
        let err = bad_type
            .to_context_identifier("contextIdentifier")
            .unwrap_err();
        assert_eq!(err.field(), "contextIdentifier.type");

        let fp: TypedIdentifier<SubjectIdentifierKind> =
            serde_json::from_value(serde_json::json!({
                "type": "Fingerprint", "value": "ab".repeat(32)
            }))
            .unwrap();
        let s = fp.to_subject_identifier("authorIdentifier").unwrap();
        assert_eq!(s.value(), "AB".repeat(32));
    }

    #[test]
    fn length_and_range_checks() {
        assert!(check_length("description", "abcde", 5, 256).is_ok());
        let err = check_length("description", "żółw", 5, 256).unwrap_err();
        assert_eq!(
            err.to_string(),
            "description: length must be between 5 and 256 characters, got 4"
        );
        assert!(check_range("x", 5, 0, 5).is_ok());
        assert!(check_range("x", 6, 0, 5).is_err());
    }
}
