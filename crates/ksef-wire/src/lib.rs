//! `ksef-wire` — the serde wire types of the KSeF API 2.0 (OpenAPI 2.6.0), one set shared by
//! our client and our emulator. No I/O, no HTTP.
//!
//! Type names are the OpenAPI schema names; where the OpenAPI has several identical schemas
//! (e.g. `TokenStatusResponse` = `QueryTokensResponseItem`, the effective/override limit
//! pairs) or an enum that `ksef-core` already has, the schema name is a type alias.
//! [`endpoints`] is the table of the API's operations (method, path, rate-limit group).
//! Modules: [`auth`], [`security`], [`tokens`], [`permissions`], [`testdata`], [`limits`],
//! [`sessions`], [`invoices`], [`errors`], [`common`]; everything is re-exported at the root.
//!
//! # Serialization rules
//!
//! * **Unknown properties are ignored** (no `deny_unknown_fields`; MF adds fields in minor
//!   versions).
//! * **Required properties** (OpenAPI `required`) are plain fields: deserialization fails
//!   when they are missing, and they are always written.
//! * **Optional properties** are `Option<T>`. In responses an absent optional value (`None`)
//!   is *skipped*, matching the OpenAPI examples (e.g. `lastUseDate`, `isTokenRedeemed`).
//!   No schema in scope has a property that is both required and nullable; if one appears
//!   it is written as `null`. Exception, documented on the types: the legacy error body
//!   [`ExceptionInfo`] / [`ExceptionDetails`] writes `null` for its nullable properties,
//!   as real KSeF responses do (digest §16.1).
//!   Optional booleans/codes that have a natural default (`isCurrent`, `isDeceased`,
//!   `exceptionCode`) are plain values with `#[serde(default)]` and are always written.
//! * **Enums** ([`OpenEnum`]): every API enum value is wrapped in `OpenEnum<E>`, which
//!   keeps an unknown string verbatim instead of failing. The client survives values MF adds
//!   later; the emulator turns them into 400/21405 through [`Validate::validate`] /
//!   [`OpenEnum::require`].
//!   The enum sets are the `ksef-core` ones where they exist (`TokenPermission`,
//!   `TokenStatus`, `ContextIdentifierType`, `SubjectIdentifierKind`, `AuthenticationMethod`,
//!   `AuthenticationMethodCategory`), otherwise small wire-only enums.
//! * **Identifiers** `{type, value}` are [`TypedIdentifier<T>`] with string values.
//! * **Reference numbers and challenges** stay `String` (opaque to clients, digest §2.3).
//! * **Timestamps** are `time::OffsetDateTime` via [`ksef_time`] (written like KSeF:
//!   `2025-07-11T12:23:56.0154302+00:00`; any ISO-8601 variant accepted); dates are
//!   `time::Date` (`YYYY-MM-DD`).
//! * **Secrets** (JWTs in [`TokenInfo`], the KSeF token in [`GenerateTokenResponse`],
//!   `encryptedToken` in [`InitTokenAuthenticationRequest`], `encryptedSymmetricKey` in
//!   [`EncryptionInfo`]) are [`Secret<String>`]:
//!   transparent in JSON, redacted in `Debug`.
//!
//! # Validation
//!
//! Request types deserialize leniently and check themselves through the [`Validate`] trait
//! (`use ksef_wire::Validate;`): `validate()` returns the checked form
//! ([`Validate::Valid`], `ksef-core` values: identifier pattern + checksum, known enum values)
//! or a [`ValidationError`] naming the JSON path (the emulator answers it with 400/21405 and
//! the error's text; the client uses it to refuse some requests before sending them). Every
//! top-level request body
//! with semantic checks implements the trait; sub-object validators that take the field path
//! they are nested under (e.g. [`EncryptionInfo::validate`], [`AllowedIps::validate`],
//! [`SessionContextLimits::validate_override`]) are inherent methods.

pub mod auth;
pub mod certificates;
pub mod codes;
pub mod common;
pub mod endpoints;
pub mod errors;
pub mod invoices;
pub mod ksef_time;
pub mod limits;
pub mod permissions;
pub mod secret;
pub mod security;
pub mod sessions;
pub mod testdata;
pub mod tokens;

pub use auth::*;
pub use certificates::*;
pub use codes::ExceptionCode;
pub use common::{
    OpenEnum, StatusInfo, TypedIdentifier, Validate, ValidationError, WireEnum, check_length,
    check_range, headers, parse_nip, parse_pesel, require_all,
};
pub use endpoints::{ENDPOINTS, Endpoint, Operation, RateLimitGroup};
pub use errors::*;
pub use invoices::*;
pub use limits::*;
pub use permissions::*;
pub use secret::Secret;
pub use security::*;
pub use sessions::*;
pub use testdata::*;
pub use tokens::*;
