//! The KSeF environments and their API base URLs (digest §1).

use std::fmt;
use std::str::FromStr;

use crate::error::KsefError;

/// A KSeF environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Environment {
    /// The local emulator (`ksef emulator`), `http://127.0.0.1:8080/v2`.
    Local,
    /// TEST ("TE", release candidate; self-signed certificates accepted).
    Test,
    /// DEMO ("TR", pre-production).
    Demo,
    /// Production.
    Prod,
}

impl Environment {
    /// Every environment.
    pub const ALL: [Environment; 4] = [
        Environment::Local,
        Environment::Test,
        Environment::Demo,
        Environment::Prod,
    ];

    /// The API base URL (ends in `/v2`, no trailing slash).
    pub fn base_url(self) -> &'static str {
        match self {
            Environment::Local => "http://127.0.0.1:8080/v2",
            Environment::Test => "https://api-test.ksef.mf.gov.pl/v2",
            Environment::Demo => "https://api-demo.ksef.mf.gov.pl/v2",
            Environment::Prod => "https://api.ksef.mf.gov.pl/v2",
        }
    }

    /// The short name (`local`, `test`, `demo`, `prod`), as accepted by `FromStr`.
    pub fn name(self) -> &'static str {
        match self {
            Environment::Local => "local",
            Environment::Test => "test",
            Environment::Demo => "demo",
            Environment::Prod => "prod",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Environment {
    type Err = KsefError;

    /// `local`, `test`, `demo`, `prod` or `prd` (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "local" => Ok(Environment::Local),
            "test" => Ok(Environment::Test),
            "demo" => Ok(Environment::Demo),
            "prod" | "prd" => Ok(Environment::Prod),
            other => Err(KsefError::InvalidInput(format!(
                "unknown environment {other:?}; expected one of: local, test, demo, prod (or prd)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_urls() {
        assert_eq!("PRD".parse::<Environment>().unwrap(), Environment::Prod);
        assert_eq!(" demo ".parse::<Environment>().unwrap(), Environment::Demo);
        for env in Environment::ALL {
            assert_eq!(env.name().parse::<Environment>().unwrap(), env);
            assert!(env.base_url().ends_with("/v2"));
        }
        assert_eq!(
            Environment::Test.base_url(),
            "https://api-test.ksef.mf.gov.pl/v2"
        );
        let err = "staging".parse::<Environment>().unwrap_err();
        assert!(err.to_string().contains("staging"), "{err}");
    }
}
