//! KSeF certificates (digest §14): limits, enrollment data, enrollment and its status,
//! retrieval, the paged query and revocation. Requests are checked locally with the wire
//! types' `validate` before they are sent (certificate name, serial numbers, filters), so a bad
//! value is named without a round trip.
//!
//! These endpoints need an access token of a signature-authenticated subject: after KSeF-token
//! authentication KSeF refuses the enrollment data (25001), the enrollment (25002) and the
//! revocation; those refusals come back as [`KsefError::Api`] with KSeF's message.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ksef_wire::Operation;
use ksef_wire::{
    CertificateEnrollmentDataResponse, CertificateEnrollmentStatusResponse,
    CertificateLimitsResponse, CertificateListItem, EnrollCertificateRequest,
    EnrollCertificateResponse, QueryCertificatesRequest, QueryCertificatesResponse,
    RetrieveCertificatesListItem, RetrieveCertificatesRequest, RetrieveCertificatesResponse,
    RevokeCertificateRequest, Validate, is_certificate_serial_number,
};
use tokio::time::Instant;

use crate::client::{Call, KsefClient, to_json};
use crate::error::KsefError;

/// Enrollment status "accepted, in progress" (digest §14).
const ENROLLMENT_IN_PROGRESS: i32 = 100;
/// Page size bounds of `POST /certificates/query`.
const QUERY_PAGE_SIZE: (u32, u32) = (10, 50);
/// Most pages read by [`KsefClient::all_certificates`].
const MAX_PAGES: u32 = 1000;

fn invalid(e: impl std::fmt::Display) -> KsefError {
    KsefError::InvalidInput(e.to_string())
}

fn check_serial(serial: &str) -> Result<&str, KsefError> {
    let serial = serial.trim();
    if is_certificate_serial_number(serial) {
        Ok(serial)
    } else {
        Err(KsefError::InvalidInput(format!(
            "certificate serial number {serial:?}: expected 16 hex digits 0-9, A-F"
        )))
    }
}

impl KsefClient {
    /// `GET /certificates/limits`: whether the subject may enroll now, and the enrollment and
    /// active-certificate limits.
    pub async fn certificate_limits(
        &self,
        access_token: &str,
    ) -> Result<CertificateLimitsResponse, KsefError> {
        let url = self.op_url(Operation::CertificateLimits, &[])?;
        self.send_json(
            &Operation::CertificateLimits.endpoint().response_label(),
            Call::op(Operation::CertificateLimits, url).bearer(access_token),
        )
        .await
    }

    /// `GET /certificates/enrollments/data`: the subject attributes the CSR must carry
    /// (those of the certificate the session authenticated with).
    pub async fn certificate_enrollment_data(
        &self,
        access_token: &str,
    ) -> Result<CertificateEnrollmentDataResponse, KsefError> {
        let url = self.op_url(Operation::EnrollmentData, &[])?;
        self.send_json(
            &Operation::EnrollmentData.endpoint().response_label(),
            Call::op(Operation::EnrollmentData, url).bearer(access_token),
        )
        .await
    }

    /// `POST /certificates/enrollments` (202): submits a CSR. The certificate is issued once
    /// the enrollment reaches 200 ([`wait_enrollment`](Self::wait_enrollment)).
    pub async fn enroll_certificate(
        &self,
        access_token: &str,
        request: &EnrollCertificateRequest,
    ) -> Result<EnrollCertificateResponse, KsefError> {
        request.validate().map_err(invalid)?;
        let url = self.op_url(Operation::EnrollCertificate, &[])?;
        self.send_json(
            &Operation::EnrollCertificate.endpoint().response_label(),
            Call::op(Operation::EnrollCertificate, url)
                .bearer(access_token)
                .json(to_json(request)?),
        )
        .await
    }

    /// `GET /certificates/enrollments/{referenceNumber}`: the status of an enrollment.
    pub async fn enrollment_status(
        &self,
        access_token: &str,
        reference: &str,
    ) -> Result<CertificateEnrollmentStatusResponse, KsefError> {
        let reference = reference.trim();
        if reference.is_empty() {
            return Err(invalid("enrollment reference number: required"));
        }
        let url = self.op_url(Operation::EnrollmentStatus, &[reference])?;
        self.send_json(
            &Operation::EnrollmentStatus.endpoint().response_label(),
            Call::op(Operation::EnrollmentStatus, url).bearer(access_token),
        )
        .await
    }

    /// Polls [`enrollment_status`](Self::enrollment_status) until it is final (not 100) or
    /// `deadline` passes; returns the final status (200 = issued, with the serial number;
    /// 400/500/550 = not issued, with the reason in its description).
    pub async fn wait_enrollment(
        &self,
        access_token: &str,
        reference: &str,
        deadline: Duration,
    ) -> Result<CertificateEnrollmentStatusResponse, KsefError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(100);
        loop {
            let status = self.enrollment_status(access_token, reference).await?;
            if status.status.code != ENROLLMENT_IN_PROGRESS {
                return Ok(status);
            }
            if started.elapsed() + pause > deadline {
                return Err(KsefError::Timeout {
                    what: format!("certificate enrollment {reference} to finish"),
                    waited: started.elapsed(),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    /// `POST /certificates/retrieve`: the issued certificates (DER, Base64) of 1–10 serial
    /// numbers; unknown or foreign serial numbers are left out of the answer.
    pub async fn retrieve_certificates(
        &self,
        access_token: &str,
        request: &RetrieveCertificatesRequest,
    ) -> Result<RetrieveCertificatesResponse, KsefError> {
        request.validate().map_err(invalid)?;
        let url = self.op_url(Operation::RetrieveCertificates, &[])?;
        self.send_json(
            &Operation::RetrieveCertificates.endpoint().response_label(),
            Call::op(Operation::RetrieveCertificates, url)
                .bearer(access_token)
                .json(to_json(request)?),
        )
        .await
    }

    /// [`retrieve_certificates`](Self::retrieve_certificates) of one serial number: the
    /// certificate's DER and its retrieval item. Fails when KSeF does not return it.
    pub async fn retrieve_certificate(
        &self,
        access_token: &str,
        serial: &str,
    ) -> Result<(Vec<u8>, RetrieveCertificatesListItem), KsefError> {
        let serial = check_serial(serial)?;
        let answer = self
            .retrieve_certificates(
                access_token,
                &RetrieveCertificatesRequest {
                    certificate_serial_numbers: vec![serial.to_string()],
                },
            )
            .await?;
        let item = answer
            .certificates
            .into_iter()
            .find(|c| c.certificate_serial_number == serial)
            .ok_or_else(|| KsefError::Decode {
                what: Operation::RetrieveCertificates.endpoint().response_label(),
                message: format!("certificate {serial} is not in the answer"),
            })?;
        let der = STANDARD
            .decode(item.certificate.trim())
            .map_err(|e| KsefError::Decode {
                what: Operation::RetrieveCertificates.endpoint().response_label(),
                message: format!("certificate {serial}: not Base64 ({e})"),
            })?;
        Ok((der, item))
    }

    /// `POST /certificates/query`: one page (0-based `page_offset`, `page_size` 10–50) of the
    /// subject's certificates, newest request first.
    pub async fn query_certificates(
        &self,
        access_token: &str,
        query: &QueryCertificatesRequest,
        page_offset: u32,
        page_size: u32,
    ) -> Result<QueryCertificatesResponse, KsefError> {
        query.validate().map_err(invalid)?;
        let (min, max) = QUERY_PAGE_SIZE;
        if !(min..=max).contains(&page_size) {
            return Err(KsefError::InvalidInput(format!(
                "pageSize {page_size}: expected {min}–{max}"
            )));
        }
        let mut url = self.op_url(Operation::QueryCertificates, &[])?;
        url.query_pairs_mut()
            .append_pair("pageOffset", &page_offset.to_string())
            .append_pair("pageSize", &page_size.to_string());
        self.send_json(
            &Operation::QueryCertificates.endpoint().response_label(),
            Call::op(Operation::QueryCertificates, url)
                .bearer(access_token)
                .json(to_json(query)?),
        )
        .await
    }

    /// Every page of [`query_certificates`](Self::query_certificates).
    pub async fn all_certificates(
        &self,
        access_token: &str,
        query: &QueryCertificatesRequest,
    ) -> Result<Vec<CertificateListItem>, KsefError> {
        let mut all = Vec::new();
        for page in 0..MAX_PAGES {
            let r = self
                .query_certificates(access_token, query, page, QUERY_PAGE_SIZE.1)
                .await?;
            all.extend(r.certificates);
            if !r.has_more {
                return Ok(all);
            }
        }
        Err(KsefError::Decode {
            what: Operation::QueryCertificates.endpoint().response_label(),
            message: format!("more than {MAX_PAGES} pages"),
        })
    }

    /// `POST /certificates/{certificateSerialNumber}/revoke` (204): revokes a certificate of
    /// the subject; it can no longer be used to authenticate.
    pub async fn revoke_certificate(
        &self,
        access_token: &str,
        serial: &str,
        request: &RevokeCertificateRequest,
    ) -> Result<(), KsefError> {
        let serial = check_serial(serial)?;
        if let Some(reason) = &request.revocation_reason {
            reason.require("revocationReason").map_err(invalid)?;
        }
        let url = self.op_url(Operation::RevokeCertificate, &[serial])?;
        self.send(
            Call::op(Operation::RevokeCertificate, url)
                .bearer(access_token)
                .json(to_json(request)?),
        )
        .await
        .map(drop)
    }
}
