//! Permission management (digest §7.3–§7.5): granting permissions to persons, revoking
//! grants, the persons query and the status of the asynchronous permission operations.
//! Requests are checked locally with the wire types' `validate` before they are sent, so a
//! bad identifier or description is named without a round trip.

use std::time::Duration;

use ksef_wire::Operation;
use ksef_wire::{
    PermissionsOperationResponse, PermissionsOperationStatusResponse,
    PersonPermissionsGrantRequest, PersonPermissionsQueryRequest, QueryPersonPermissionsResponse,
    Validate,
};
use tokio::time::Instant;

use crate::client::{Call, KsefClient, to_json};
use crate::error::KsefError;

/// Operation status "accepted, in progress" (digest §7.5).
const OPERATION_IN_PROGRESS: i32 = 100;
/// Most pages read by [`KsefClient::all_person_permissions`].
const MAX_PAGES: u32 = 1000;

impl KsefClient {
    /// `POST /permissions/persons/grants` (202): grants permissions in the current context to
    /// a person. The grant is in force once its operation reaches 200
    /// ([`wait_permission_operation`](Self::wait_permission_operation)).
    pub async fn grant_person_permissions(
        &self,
        access_token: &str,
        request: &PersonPermissionsGrantRequest,
    ) -> Result<PermissionsOperationResponse, KsefError> {
        request
            .validate()
            .map_err(|e| KsefError::InvalidInput(e.to_string()))?;
        let url = self.op_url(Operation::GrantPersonPermissions, &[])?;
        self.send_json(
            &Operation::GrantPersonPermissions
                .endpoint()
                .response_label(),
            Call::op(Operation::GrantPersonPermissions, url)
                .bearer(access_token)
                .json(to_json(request)?),
        )
        .await
    }

    /// `DELETE /permissions/common/grants/{permissionId}` (202): revokes a grant (ids come from
    /// the queries).
    pub async fn revoke_permission(
        &self,
        access_token: &str,
        permission_id: &str,
    ) -> Result<PermissionsOperationResponse, KsefError> {
        let url = self.op_url(Operation::RevokePermission, &[permission_id.trim()])?;
        self.send_json(
            &Operation::RevokePermission.endpoint().response_label(),
            Call::op(Operation::RevokePermission, url).bearer(access_token),
        )
        .await
    }

    /// `GET /permissions/operations/{referenceNumber}`: the status of a grant or revocation.
    pub async fn permission_operation(
        &self,
        access_token: &str,
        reference: &str,
    ) -> Result<PermissionsOperationStatusResponse, KsefError> {
        let url = self.op_url(Operation::PermissionOperationStatus, &[reference])?;
        self.send_json(
            &Operation::PermissionOperationStatus
                .endpoint()
                .response_label(),
            Call::op(Operation::PermissionOperationStatus, url).bearer(access_token),
        )
        .await
    }

    /// Polls [`permission_operation`](Self::permission_operation) until it is final (not 100)
    /// or `deadline` passes; returns the final status (200 = in force, 4xx/5xx = refused, with
    /// the reason in its description).
    pub async fn wait_permission_operation(
        &self,
        access_token: &str,
        reference: &str,
        deadline: Duration,
    ) -> Result<PermissionsOperationStatusResponse, KsefError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(100);
        loop {
            let status = self.permission_operation(access_token, reference).await?;
            if status.status.code != OPERATION_IN_PROGRESS {
                return Ok(status);
            }
            if started.elapsed() + pause > deadline {
                return Err(KsefError::Timeout {
                    what: format!("permission operation {reference} to finish"),
                    waited: started.elapsed(),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    /// `POST /permissions/query/persons/grants`: one page (0-based `page_offset`, `page_size`
    /// 10–100) of person permissions of the current context.
    pub async fn person_permissions(
        &self,
        access_token: &str,
        query: &PersonPermissionsQueryRequest,
        page_offset: u32,
        page_size: u32,
    ) -> Result<QueryPersonPermissionsResponse, KsefError> {
        query
            .validate()
            .map_err(|e| KsefError::InvalidInput(e.to_string()))?;
        let mut url = self.op_url(Operation::QueryPersonGrants, &[])?;
        url.query_pairs_mut()
            .append_pair("pageOffset", &page_offset.to_string())
            .append_pair("pageSize", &page_size.to_string());
        self.send_json(
            &Operation::QueryPersonGrants.endpoint().response_label(),
            Call::op(Operation::QueryPersonGrants, url)
                .bearer(access_token)
                .json(to_json(query)?),
        )
        .await
    }

    /// Every page of [`person_permissions`](Self::person_permissions).
    pub async fn all_person_permissions(
        &self,
        access_token: &str,
        query: &PersonPermissionsQueryRequest,
    ) -> Result<Vec<ksef_wire::PersonPermission>, KsefError> {
        let mut all = Vec::new();
        for page in 0..MAX_PAGES {
            let r = self
                .person_permissions(access_token, query, page, 100)
                .await?;
            all.extend(r.permissions);
            if !r.has_more {
                return Ok(all);
            }
        }
        Err(KsefError::Decode {
            what: Operation::QueryPersonGrants.endpoint().response_label(),
            message: format!("more than {MAX_PAGES} pages"),
        })
    }
}
