//! [`Secret`]: a transparent serde wrapper whose `Debug` never shows the value.
//!
//! Hand-rolled instead of the `secrecy` crate because `secrecy` deliberately does not
//! implement `Serialize` for strings, and these wire types must serialize the secret
//! (the emulator writes tokens into responses, the client writes `encryptedToken`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret value (JWT, KSeF token, encrypted token). Serializes exactly like `T`; `Debug`
/// prints `Secret([REDACTED])`. Equality is not constant-time: do not use it to check
/// credentials.
#[derive(Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a value.
    pub const fn new(value: T) -> Self {
        Secret(value)
    }

    /// Borrows the secret value. Call sites are easy to grep for.
    pub fn expose_secret(&self) -> &T {
        &self.0
    }

    /// Unwraps the secret value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

impl From<String> for Secret<String> {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl From<&str> for Secret<String> {
    fn from(s: &str) -> Self {
        Secret(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted_and_serde_is_transparent() {
        let s = Secret::from("eyJhbGciOiJIUzI1NiJ9.payload.sig");
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("eyJ"), "{dbg}");
        assert_eq!(dbg, "Secret([REDACTED])");
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, "\"eyJhbGciOiJIUzI1NiJ9.payload.sig\"");
        let back: Secret<String> = serde_json::from_str(&json).unwrap();
        assert_eq!(back.expose_secret(), "eyJhbGciOiJIUzI1NiJ9.payload.sig");
    }
}
