//! Authentication sessions and the caller of every protected endpoint.
//!
//! - [`operation`]: the `auth_operations` table (statuses, methods, IP policies);
//! - [`context`]: the [`ContextSession`] extractor and its permission guard — who is calling;
//! - [`sessions`]: `GET /auth/sessions`, `DELETE /auth/sessions/…` (who sees and ends which);
//! - [`routes`]: those endpoints and `GET /security/public-key-certificates`.
//!
//! The login flow that creates operations (challenge, XAdES, KSeF token, redeem, refresh) is the
//! `login` feature; this one depends on no other feature, so every feature may depend on it.

pub(crate) mod context;
pub(crate) mod operation;
pub(crate) mod routes;
pub(crate) mod sessions;

pub(crate) use context::{AuthenticationTokenClaims, Caller, ContextSession, RefreshTokenClaims};
pub(crate) use operation::{
    AuthInit, AuthOperation, AuthStatus, MethodInfo, NewOperation, StoredIpPolicy,
    insert_operation, load_operation, mark_redeemed, record_refresh,
};
pub(crate) use routes::routes;
