//! Permission vocabulary (digest §7.1–7.2): [`TokenPermission`] (what a KSeF token may carry,
//! API `TokenPermissionType`), [`Permission`] (person permissions held in a context), and
//! [`PermissionSet`], a small set with the owner's implicit permissions and subset checks.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{ParseEnumError, api_enum};

api_enum! {
    /// A permission a KSeF token can carry (API `TokenPermissionType`).
    pub enum TokenPermission as "TokenPermissionType" {
        InvoiceRead,
        InvoiceWrite,
        CredentialsRead,
        CredentialsManage,
        SubunitManage,
        EnforcementOperations,
        Introspection,
    }
}

api_enum! {
    /// A permission held by a person or entity in a context (the API's person-permission
    /// vocabulary plus `VatUeManage` and `PefInvoiceWrite`).
    pub enum Permission as "Permission" {
        InvoiceRead,
        InvoiceWrite,
        Introspection,
        CredentialsRead,
        CredentialsManage,
        SubunitManage,
        EnforcementOperations,
        VatUeManage,
        PefInvoiceWrite,
    }
}

impl From<TokenPermission> for Permission {
    fn from(p: TokenPermission) -> Self {
        match p {
            TokenPermission::InvoiceRead => Permission::InvoiceRead,
            TokenPermission::InvoiceWrite => Permission::InvoiceWrite,
            TokenPermission::CredentialsRead => Permission::CredentialsRead,
            TokenPermission::CredentialsManage => Permission::CredentialsManage,
            TokenPermission::SubunitManage => Permission::SubunitManage,
            TokenPermission::EnforcementOperations => Permission::EnforcementOperations,
            TokenPermission::Introspection => Permission::Introspection,
        }
    }
}

impl Permission {
    /// The token permission with the same name; `None` for `VatUeManage` and
    /// `PefInvoiceWrite`, which a token cannot carry.
    pub fn as_token_permission(self) -> Option<TokenPermission> {
        Some(match self {
            Permission::InvoiceRead => TokenPermission::InvoiceRead,
            Permission::InvoiceWrite => TokenPermission::InvoiceWrite,
            Permission::Introspection => TokenPermission::Introspection,
            Permission::CredentialsRead => TokenPermission::CredentialsRead,
            Permission::CredentialsManage => TokenPermission::CredentialsManage,
            Permission::SubunitManage => TokenPermission::SubunitManage,
            Permission::EnforcementOperations => TokenPermission::EnforcementOperations,
            Permission::VatUeManage | Permission::PefInvoiceWrite => return None,
        })
    }

    const fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// Parses a comma-separated list of API names, e.g. `"InvoiceRead,InvoiceWrite"` (blanks
/// around names are ignored; an empty string gives an empty list).
pub fn parse_list<T: FromStr<Err = ParseEnumError>>(s: &str) -> Result<Vec<T>, ParseEnumError> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::parse)
        .collect()
}

/// A set of [`Permission`]s (a bitset; iteration follows the declaration order of
/// [`Permission`]). Serialized as an array of API names.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PermissionSet(u16);

impl PermissionSet {
    /// The empty set.
    pub const fn new() -> Self {
        PermissionSet(0)
    }

    /// What the owner of a context holds implicitly (digest §7.2): everything except
    /// `VatUeManage` and `PefInvoiceWrite`; `EnforcementOperations` only when the context has
    /// the enforcement-authority or court-bailiff role (`enforcement`).
    pub fn owner(enforcement: bool) -> Self {
        let mut set: PermissionSet = [
            Permission::InvoiceRead,
            Permission::InvoiceWrite,
            Permission::Introspection,
            Permission::CredentialsRead,
            Permission::CredentialsManage,
            Permission::SubunitManage,
        ]
        .into_iter()
        .collect();
        if enforcement {
            set.insert(Permission::EnforcementOperations);
        }
        set
    }

    /// Whether `p` is in the set (accepts [`Permission`] or [`TokenPermission`]).
    pub fn contains(&self, p: impl Into<Permission>) -> bool {
        self.0 & p.into().bit() != 0
    }

    /// Adds `p`; returns whether it was newly added.
    pub fn insert(&mut self, p: impl Into<Permission>) -> bool {
        let bit = p.into().bit();
        let added = self.0 & bit == 0;
        self.0 |= bit;
        added
    }

    /// Removes `p`; returns whether it was present.
    pub fn remove(&mut self, p: impl Into<Permission>) -> bool {
        let bit = p.into().bit();
        let present = self.0 & bit != 0;
        self.0 &= !bit;
        present
    }

    /// The permissions in the set, in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = Permission> + '_ {
        Permission::ALL
            .iter()
            .copied()
            .filter(|p| self.contains(*p))
    }

    /// The members that a token can carry, in declaration order.
    pub fn token_permissions(&self) -> Vec<TokenPermission> {
        self.iter()
            .filter_map(Permission::as_token_permission)
            .collect()
    }

    pub fn len(&self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// Whether every permission in `required` is in the set (the token subset rule).
    pub fn is_superset_of(&self, required: &[TokenPermission]) -> bool {
        required.iter().all(|p| self.contains(*p))
    }

    /// The permissions of `required` not in the set (deduplicated, in the given order).
    pub fn missing(&self, required: &[TokenPermission]) -> Vec<TokenPermission> {
        let mut out: Vec<TokenPermission> = Vec::new();
        for p in required {
            if !self.contains(*p) && !out.contains(p) {
                out.push(*p);
            }
        }
        out
    }

    /// Permissions in both sets.
    pub fn intersection(&self, other: &PermissionSet) -> PermissionSet {
        PermissionSet(self.0 & other.0)
    }

    /// Permissions in either set.
    pub fn union(&self, other: &PermissionSet) -> PermissionSet {
        PermissionSet(self.0 | other.0)
    }
}

impl fmt::Debug for PermissionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl fmt::Display for PermissionSet {
    /// Comma-separated API names, e.g. `InvoiceRead,InvoiceWrite` (parseable by `FromStr`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(p.as_str())?;
        }
        Ok(())
    }
}

impl FromStr for PermissionSet {
    type Err = ParseEnumError;
    /// Parses a comma-separated list of [`Permission`] names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(parse_list::<Permission>(s)?.into_iter().collect())
    }
}

impl<P: Into<Permission>> FromIterator<P> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = P>>(iter: I) -> Self {
        let mut set = PermissionSet::new();
        set.extend(iter);
        set
    }
}

impl<P: Into<Permission>> Extend<P> for PermissionSet {
    fn extend<I: IntoIterator<Item = P>>(&mut self, iter: I) {
        for p in iter {
            self.insert(p);
        }
    }
}

impl Serialize for PermissionSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for PermissionSet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Vec::<Permission>::deserialize(deserializer)?
            .into_iter()
            .collect())
    }
}

#[cfg(test)]
mod tests;
