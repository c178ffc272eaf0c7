//! Permissions of persons in the current context (digest §7.3–§7.6): grant (the owner or a
//! holder of CredentialsManage gives e.g. a bookkeeper CredentialsRead), list, revoke — the
//! workflow shared by the CLI and the web app. Grants and revocations are asynchronous in
//! KSeF; these functions wait for the operation's final status and report it.

use std::time::Duration;

use ksef_client::invoicing_flows;
use ksef_core::{SubjectIdentifier, SubjectIdentifierKind};
use ksef_wire::{
    OpenEnum, PersonDetails, PersonPermission, PersonPermissionSubjectDetails,
    PersonPermissionType, PersonPermissionsGrantRequest, PersonPermissionsQueryRequest,
    PersonPermissionsQueryType, PersonSubjectDetailsType, TypedIdentifier, Validate, WireEnum,
};
use serde::Serialize;

use crate::invoices::with_stored;
use crate::{App, Field, InputProblem, Operation, ProgramError, ProgramResult};

/// How long a grant or revocation may take to become final.
const OPERATION_WAIT: Duration = Duration::from_secs(60);

/// A person identified the way KSeF knows them: `PESEL` (11 digits), `NIP` (10 digits) or a
/// certificate fingerprint (64 hex digits); checksums are checked.
pub fn parse_person(s: &str) -> ProgramResult<SubjectIdentifier> {
    let v = s.trim();
    let kind = match v.len() {
        11 => SubjectIdentifierKind::Pesel,
        10 => SubjectIdentifierKind::Nip,
        64 => SubjectIdentifierKind::Fingerprint,
        _ => {
            return Err(ProgramError::invalid(
                Field::Person,
                InputProblem::NotAPerson {
                    value: v.to_string(),
                },
            ));
        }
    };
    SubjectIdentifier::parse(kind, v)
        .map_err(|e| ProgramError::invalid(Field::Person, InputProblem::Identifier(e)))
}

/// Parses permission names (`CredentialsRead`, `InvoiceWrite`, …; case-insensitive; also
/// comma-separated).
pub fn parse_permissions(values: &[String]) -> ProgramResult<Vec<PersonPermissionType>> {
    let mut out = Vec::new();
    for v in values.iter().flat_map(|v| v.split(',')) {
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        let p = PersonPermissionType::VALUES
            .iter()
            .find(|p| p.wire_name().eq_ignore_ascii_case(v))
            .copied()
            .ok_or_else(|| {
                ProgramError::invalid(
                    Field::PersonPermissions,
                    InputProblem::UnknownPermission {
                        value: v.to_string(),
                        expected: PersonPermissionType::VALUES
                            .iter()
                            .map(|p| p.wire_name())
                            .collect::<Vec<_>>()
                            .join(", "),
                    },
                )
            })?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    if out.is_empty() {
        return Err(ProgramError::invalid(
            Field::PersonPermissions,
            InputProblem::Missing {
                hint: "at least one --permission",
            },
        ));
    }
    Ok(out)
}

/// What to grant.
#[derive(Debug, Clone)]
pub struct GrantRequest {
    pub person: SubjectIdentifier,
    pub first_name: String,
    pub last_name: String,
    pub permissions: Vec<PersonPermissionType>,
    pub description: String,
}

/// The final status of a grant or revocation.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationOutcome {
    /// Reference number of the operation.
    pub reference_number: String,
    /// 200 = done; 4xx/5xx = refused by KSeF.
    pub status_code: i32,
    pub status_description: String,
}

impl OperationOutcome {
    /// An error naming KSeF's reason unless the operation succeeded.
    pub fn into_result(self, operation: Operation) -> ProgramResult<Self> {
        if self.status_code == 200 {
            Ok(self)
        } else {
            Err(ProgramError::OperationRefused {
                operation,
                status_code: self.status_code,
                description: self.status_description,
                reference_number: self.reference_number,
            })
        }
    }
}

/// Waits for a grant or revocation to become final.
async fn finish(
    c: &ksef_client::KsefClient,
    token: &str,
    op: ksef_wire::PermissionsOperationResponse,
) -> Result<OperationOutcome, ksef_client::KsefError> {
    let status = c
        .wait_permission_operation(token, &op.reference_number, OPERATION_WAIT)
        .await?;
    Ok(OperationOutcome {
        reference_number: op.reference_number,
        status_code: status.status.code,
        status_description: status.status.description,
    })
}

/// `ksef permission grant`: grants permissions in the current context and waits for KSeF to
/// apply them. Needs CredentialsManage (the owner has it).
pub async fn grant(app: &mut App, req: GrantRequest) -> ProgramResult<OperationOutcome> {
    let body = PersonPermissionsGrantRequest {
        subject_identifier: TypedIdentifier::from(&req.person),
        permissions: req
            .permissions
            .iter()
            .map(|p| OpenEnum::Known(*p))
            .collect(),
        description: req.description.trim().to_string(),
        subject_details: PersonPermissionSubjectDetails {
            subject_details_type: OpenEnum::Known(PersonSubjectDetailsType::PersonByIdentifier),
            person_by_id: Some(PersonDetails {
                first_name: req.first_name.trim().to_string(),
                last_name: req.last_name.trim().to_string(),
            }),
            person_by_fp_with_id: None,
            person_by_fp_no_id: None,
        },
    };
    if matches!(req.person, SubjectIdentifier::Fingerprint(_)) {
        return Err(ProgramError::invalid(
            Field::Person,
            InputProblem::FingerprintGrant,
        ));
    }
    body.validate()
        .map_err(|e| ProgramError::invalid(Field::Grant, InputProblem::Rules(e)))?;
    let outcome = with_stored(app, &[], Operation::GrantPermissions, async |c, s| {
        let token = invoicing_flows::access_token(c, s).await?;
        let op = c.grant_person_permissions(&token, &body).await?;
        finish(c, &token, op).await
    })
    .await?;
    outcome.into_result(Operation::GrantPermissions)
}

/// `ksef permission revoke ID`: revokes a grant (ids from `ksef permission list`) and waits
/// for KSeF to apply it.
pub async fn revoke(app: &mut App, permission_id: &str) -> ProgramResult<OperationOutcome> {
    let id = permission_id.trim().to_string();
    if id.is_empty() {
        return Err(ProgramError::invalid(
            Field::PermissionId,
            InputProblem::Missing {
                hint: "one from `ksef permission list`",
            },
        ));
    }
    let outcome = with_stored(app, &[], Operation::RevokePermission, async |c, s| {
        let token = invoicing_flows::access_token(c, s).await?;
        let op = c.revoke_permission(&token, &id).await?;
        finish(c, &token, op).await
    })
    .await?;
    outcome.into_result(Operation::RevokePermission)
}

/// `ksef permission list`: the person permissions in force in the current context, or (with
/// `granted_here`) those granted in it. Needs CredentialsRead or CredentialsManage.
pub async fn list(app: &mut App, granted_here: bool) -> ProgramResult<Vec<PersonPermission>> {
    let query = PersonPermissionsQueryRequest {
        author_identifier: None,
        authorized_identifier: None,
        context_identifier: None,
        target_identifier: None,
        permission_types: None,
        permission_state: None,
        query_type: OpenEnum::Known(if granted_here {
            PersonPermissionsQueryType::PermissionsGrantedInCurrentContext
        } else {
            PersonPermissionsQueryType::PermissionsInCurrentContext
        }),
    };
    with_stored(app, &[], Operation::ListPermissions, async |c, s| {
        let token = invoicing_flows::access_token(c, s).await?;
        c.all_person_permissions(&token, &query).await
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persons_and_permissions_are_parsed() {
        assert!(matches!(
            parse_person(" 15062788702 ").unwrap(),
            SubjectIdentifier::Pesel(_)
        ));
        assert!(matches!(
            parse_person("5265877635").unwrap(),
            SubjectIdentifier::Nip(_)
        ));
        let e = parse_person("15062788703").unwrap_err();
        assert!(
            matches!(
                e,
                ProgramError::InvalidInput {
                    field: Field::Person,
                    problem: InputProblem::Identifier(_)
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("15062788703"), "{e}");
        assert!(
            parse_person("123")
                .unwrap_err()
                .to_string()
                .contains("PESEL")
        );
        assert_eq!(
            parse_permissions(&["credentialsread,InvoiceRead".into(), "InvoiceRead".into()])
                .unwrap(),
            vec![
                PersonPermissionType::CredentialsRead,
                PersonPermissionType::InvoiceRead
            ]
        );
        let e = parse_permissions(&["Owner".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("Owner") && e.contains("CredentialsRead"), "{e}");
        assert!(parse_permissions(&[]).is_err());
    }
}
