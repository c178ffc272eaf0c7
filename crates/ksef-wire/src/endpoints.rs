//! The operations of the KSeF API 2.0 (`open-api.json`, 78 operations on 73 path templates):
//! one table of method, path template, rate-limit group (digest §15.1) and operation name.
//!
//! Paths are the OpenAPI's path templates, relative to the API base (which ends in
//! [`API_PREFIX`], e.g. `https://api-test.ksef.mf.gov.pl/v2`); parameters keep the OpenAPI's
//! names (`{referenceNumber}`). The emulator builds its router from [`ENDPOINTS`] and reads the
//! rate-limit group of the matched route from it; the client builds its URLs from it
//! ([`Endpoint::segments`]). A test checks the table against the vendored `open-api.json`.

use std::fmt;

/// The path prefix of the API (the OpenAPI's server URLs end in it).
pub const API_PREFIX: &str = "/v2";

/// An HTTP method of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    /// The method as written on the wire (`GET`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rate-limit group of §15.1: the key of `EffectiveApiRateLimits` an operation counts
/// against, or [`RateLimitGroup::Public`] for the unauthenticated endpoints (per client IP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateLimitGroup {
    OnlineSession,
    BatchSession,
    InvoiceSend,
    InvoiceStatus,
    SessionList,
    SessionInvoiceList,
    SessionMisc,
    InvoiceMetadata,
    InvoiceExport,
    InvoiceExportStatus,
    InvoiceDownload,
    /// Every other protected operation (one counter per operation).
    Other,
    /// Public endpoints: per client IP.
    Public,
}

impl RateLimitGroup {
    /// Every group of §15.1, [`RateLimitGroup::Public`] last.
    pub const ALL: [RateLimitGroup; 13] = [
        RateLimitGroup::OnlineSession,
        RateLimitGroup::BatchSession,
        RateLimitGroup::InvoiceSend,
        RateLimitGroup::InvoiceStatus,
        RateLimitGroup::SessionList,
        RateLimitGroup::SessionInvoiceList,
        RateLimitGroup::SessionMisc,
        RateLimitGroup::InvoiceMetadata,
        RateLimitGroup::InvoiceExport,
        RateLimitGroup::InvoiceExportStatus,
        RateLimitGroup::InvoiceDownload,
        RateLimitGroup::Other,
        RateLimitGroup::Public,
    ];

    /// The group's key in `GET /rate-limits` (`invoiceSend`, …); `public` for
    /// [`RateLimitGroup::Public`], which has none.
    pub const fn key(self) -> &'static str {
        match self {
            RateLimitGroup::OnlineSession => "onlineSession",
            RateLimitGroup::BatchSession => "batchSession",
            RateLimitGroup::InvoiceSend => "invoiceSend",
            RateLimitGroup::InvoiceStatus => "invoiceStatus",
            RateLimitGroup::SessionList => "sessionList",
            RateLimitGroup::SessionInvoiceList => "sessionInvoiceList",
            RateLimitGroup::SessionMisc => "sessionMisc",
            RateLimitGroup::InvoiceMetadata => "invoiceMetadata",
            RateLimitGroup::InvoiceExport => "invoiceExport",
            RateLimitGroup::InvoiceExportStatus => "invoiceExportStatus",
            RateLimitGroup::InvoiceDownload => "invoiceDownload",
            RateLimitGroup::Other => "other",
            RateLimitGroup::Public => "public",
        }
    }
}

impl fmt::Display for RateLimitGroup {
    /// The `GET /rate-limits` key ([`RateLimitGroup::key`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// An operation of the API, named after what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `GET /auth/sessions` — Pobranie listy aktywnych sesji
    ListAuthSessions,
    /// `DELETE /auth/sessions/current` — Unieważnienie aktualnej sesji uwierzytelnienia
    RevokeCurrentAuthSession,
    /// `DELETE /auth/sessions/{referenceNumber}` — Unieważnienie sesji uwierzytelnienia
    RevokeAuthSession,
    /// `GET /certificates/limits` — Pobranie danych o limitach certyfikatów
    CertificateLimits,
    /// `GET /certificates/enrollments/data` — Pobranie danych do wniosku certyfikacyjnego
    EnrollmentData,
    /// `POST /certificates/enrollments` — Wysyłka wniosku certyfikacyjnego
    EnrollCertificate,
    /// `GET /certificates/enrollments/{referenceNumber}` — Pobranie statusu przetwarzania wniosku certyfikacyjnego
    EnrollmentStatus,
    /// `POST /certificates/retrieve` — Pobranie certyfikatu lub listy certyfikatów
    RetrieveCertificates,
    /// `POST /certificates/{certificateSerialNumber}/revoke` — Unieważnienie certyfikatu
    RevokeCertificate,
    /// `POST /certificates/query` — Pobranie listy metadanych certyfikatów
    QueryCertificates,
    /// `GET /security/public-key-certificates` — Pobranie certyfikatów
    PublicKeyCertificates,
    /// `POST /testdata/subject` — Utworzenie podmiotu
    TestDataCreateSubject,
    /// `POST /testdata/subject/remove` — Usunięcie podmiotu
    TestDataRemoveSubject,
    /// `POST /testdata/person` — Utworzenie osoby fizycznej
    TestDataCreatePerson,
    /// `POST /testdata/person/remove` — Usunięcie osoby fizycznej
    TestDataRemovePerson,
    /// `POST /testdata/permissions` — Nadanie uprawnień testowemu podmiotowi/osobie fizycznej
    TestDataGrantPermissions,
    /// `POST /testdata/permissions/revoke` — Odebranie uprawnień testowemu podmiotowi/osobie fizycznej
    TestDataRevokePermissions,
    /// `POST /testdata/attachment` — Umożliwienie wysyłania faktur z załącznikiem
    TestDataAllowAttachments,
    /// `POST /testdata/attachment/revoke` — Odebranie możliwości wysyłania faktur z załącznikiem
    TestDataRevokeAttachments,
    /// `POST /testdata/context/block` — Zablokowanie kontekstu
    TestDataBlockContext,
    /// `POST /testdata/context/unblock` — Odblokowanie kontekstu
    TestDataUnblockContext,
    /// `GET /limits/context` — Pobranie limitów dla bieżącego kontekstu
    ContextLimits,
    /// `GET /limits/subject` — Pobranie limitów dla bieżącego podmiotu
    SubjectLimits,
    /// `GET /rate-limits` — Pobranie aktualnie obowiązujących limitów API
    RateLimits,
    /// `POST /testdata/limits/context/session` — Zmiana limitów sesji dla bieżącego kontekstu
    TestDataSetSessionLimits,
    /// `DELETE /testdata/limits/context/session` — Przywrócenie domyślnych wartości limitów sesji dla bieżącego kontekstu
    TestDataResetSessionLimits,
    /// `POST /testdata/limits/subject/certificate` — Zmiana limitów certyfikatów dla bieżącego podmiotu
    TestDataSetCertificateLimits,
    /// `DELETE /testdata/limits/subject/certificate` — Przywrócenie domyślnych wartości limitów certyfikatów dla bieżącego podmiotu
    TestDataResetCertificateLimits,
    /// `POST /testdata/rate-limits` — Zmiana limitów API dla bieżącego kontekstu
    TestDataSetRateLimits,
    /// `DELETE /testdata/rate-limits` — Przywrócenie domyślnych wartości limitów API dla bieżącego kontekstu
    TestDataResetRateLimits,
    /// `POST /testdata/rate-limits/production` — Zmiana limitów API dla bieżącego kontekstu na wartości produkcyjne
    TestDataSetProductionRateLimits,
    /// `POST /permissions/persons/grants` — Nadanie osobom fizycznym uprawnień do pracy w KSeF
    GrantPersonPermissions,
    /// `POST /permissions/entities/grants` — Nadanie podmiotom uprawnień do obsługi faktur
    GrantEntityPermissions,
    /// `POST /permissions/authorizations/grants` — Nadanie uprawnień podmiotowych
    GrantAuthorizationPermissions,
    /// `POST /permissions/indirect/grants` — Nadanie uprawnień w sposób pośredni
    GrantIndirectPermissions,
    /// `POST /permissions/subunits/grants` — Nadanie uprawnień administratora podmiotu podrzędnego
    GrantSubunitPermissions,
    /// `POST /permissions/eu-entities/administration/grants` — Nadanie uprawnień administratora podmiotu unijnego
    GrantEuEntityAdministration,
    /// `POST /permissions/eu-entities/grants` — Nadanie uprawnień reprezentanta podmiotu unijnego
    GrantEuEntityPermissions,
    /// `DELETE /permissions/common/grants/{permissionId}` — Odebranie uprawnień
    RevokePermission,
    /// `DELETE /permissions/authorizations/grants/{permissionId}` — Odebranie uprawnień podmiotowych
    RevokeAuthorizationPermission,
    /// `GET /permissions/operations/{referenceNumber}` — Pobranie statusu operacji
    PermissionOperationStatus,
    /// `GET /permissions/attachments/status` — Sprawdzenie statusu zgody na wystawianie faktur z załącznikiem
    AttachmentPermissionStatus,
    /// `GET /invoices/ksef/{ksefNumber}` — Pobranie faktury po numerze KSeF
    DownloadInvoice,
    /// `POST /invoices/query/metadata` — Pobranie listy metadanych faktur
    QueryInvoiceMetadata,
    /// `POST /invoices/exports` — Eksport paczki faktur
    ExportInvoices,
    /// `GET /invoices/exports/{referenceNumber}` — Pobranie statusu eksportu paczki faktur
    ExportStatus,
    /// `GET /sessions` — Pobranie listy sesji
    ListSessions,
    /// `GET /sessions/{referenceNumber}` — Pobranie statusu sesji
    SessionStatus,
    /// `GET /sessions/{referenceNumber}/invoices` — Pobranie faktur sesji
    SessionInvoices,
    /// `GET /sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}` — Pobranie statusu faktury z sesji
    SessionInvoiceStatus,
    /// `GET /sessions/{referenceNumber}/invoices/failed` — Pobranie niepoprawnie przetworzonych faktur sesji
    FailedSessionInvoices,
    /// `GET /sessions/{referenceNumber}/invoices/ksef/{ksefNumber}/upo` — Pobranie UPO faktury z sesji na podstawie numeru KSeF
    InvoiceUpoByKsefNumber,
    /// `GET /sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}/upo` — Pobranie UPO faktury z sesji na podstawie numeru referencyjnego faktury
    InvoiceUpoByReference,
    /// `GET /sessions/{referenceNumber}/upo/{upoReferenceNumber}` — Pobranie UPO dla sesji
    SessionUpo,
    /// `POST /tokens` — Wygenerowanie nowego tokena
    GenerateToken,
    /// `GET /tokens` — Pobranie listy wygenerowanych tokenów
    ListTokens,
    /// `GET /tokens/{referenceNumber}` — Pobranie statusu tokena
    TokenStatus,
    /// `DELETE /tokens/{referenceNumber}` — Unieważnienie tokena
    RevokeToken,
    /// `GET /peppol/query` — Pobranie listy dostawców usług Peppol
    QueryPeppolProviders,
    /// `POST /auth/challenge` — Inicjalizacja uwierzytelnienia
    AuthChallenge,
    /// `POST /auth/xades-signature` — Uwierzytelnienie z wykorzystaniem podpisu XAdES
    AuthXadesSignature,
    /// `POST /auth/ksef-token` — Uwierzytelnienie z wykorzystaniem tokena KSeF
    AuthKsefToken,
    /// `GET /auth/{referenceNumber}` — Pobranie statusu uwierzytelniania
    AuthStatus,
    /// `POST /auth/token/redeem` — Pobranie tokenów dostępowych
    RedeemToken,
    /// `POST /auth/token/refresh` — Odświeżenie tokena dostępowego
    RefreshToken,
    /// `POST /sessions/online` — Otwarcie sesji interaktywnej
    OpenOnlineSession,
    /// `POST /sessions/online/{referenceNumber}/invoices` — Wysłanie faktury
    SendInvoice,
    /// `POST /sessions/online/{referenceNumber}/close` — Zamknięcie sesji interaktywnej
    CloseOnlineSession,
    /// `POST /sessions/batch` — Otwarcie sesji wsadowej
    OpenBatchSession,
    /// `POST /sessions/batch/{referenceNumber}/close` — Zamknięcie sesji wsadowej
    CloseBatchSession,
    /// `POST /permissions/query/personal/grants` — Pobranie listy własnych uprawnień
    QueryPersonalGrants,
    /// `POST /permissions/query/persons/grants` — Pobranie listy uprawnień do pracy w KSeF nadanych osobom fizycznym lub podmiotom
    QueryPersonGrants,
    /// `POST /permissions/query/subunits/grants` — Pobranie listy uprawnień administratorów jednostek i podmiotów podrzędnych
    QuerySubunitGrants,
    /// `POST /permissions/query/entities/grants` — Pobranie listy uprawnień do obsługi faktur w bieżącym kontekście
    QueryEntityGrants,
    /// `GET /permissions/query/entities/roles` — Pobranie listy ról podmiotu
    QueryEntityRoles,
    /// `POST /permissions/query/subordinate-entities/roles` — Pobranie listy podmiotów podrzędnych
    QuerySubordinateEntityRoles,
    /// `POST /permissions/query/authorizations/grants` — Pobranie listy uprawnień podmiotowych do obsługi faktur
    QueryAuthorizationGrants,
    /// `POST /permissions/query/eu-entities/grants` — Pobranie listy uprawnień administratorów lub reprezentantów podmiotów unijnych uprawnionych do samofakturowania
    QueryEuEntityGrants,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub operation: Operation,
    pub method: Method,
    /// The OpenAPI path template, without [`API_PREFIX`].
    pub path: &'static str,
    pub rate_limit: RateLimitGroup,
}

impl Endpoint {
    const fn new(
        operation: Operation,
        method: Method,
        path: &'static str,
        rate_limit: RateLimitGroup,
    ) -> Self {
        Self {
            operation,
            method,
            path,
            rate_limit,
        }
    }

    /// The path's segments with `params` substituted, in order, for its `{…}` parameters
    /// (`None` when the count differs). Not encoded: callers encode each segment.
    pub fn segments<'a>(&self, params: &[&'a str]) -> Option<Vec<&'a str>>
    where
        'static: 'a,
    {
        let mut params = params.iter();
        let segments: Vec<&'a str> = self
            .path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                if s.starts_with('{') {
                    params.next().copied()
                } else {
                    Some(s)
                }
            })
            .collect::<Option<_>>()?;
        params.next().is_none().then_some(segments)
    }

    /// `METHOD /path response`: how clients name this operation's answer in errors.
    pub fn response_label(&self) -> String {
        format!("{self} response")
    }

    /// The operation of `method` on the path template `path` (as in the table).
    pub fn find(method: &str, path: &str) -> Option<&'static Endpoint> {
        ENDPOINTS
            .iter()
            .find(|e| e.path == path && e.method.as_str() == method)
    }
}

impl fmt::Display for Endpoint {
    /// `METHOD /path/{template}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

impl Operation {
    /// The rate-limit group this operation counts against (its row's [`Endpoint::rate_limit`]).
    pub fn rate_limit_group(self) -> RateLimitGroup {
        self.endpoint().rate_limit
    }

    /// This operation's row of [`ENDPOINTS`].
    pub fn endpoint(self) -> &'static Endpoint {
        // Every variant has exactly one row (checked by the tests).
        ENDPOINTS
            .iter()
            .find(|e| e.operation == self)
            .unwrap_or(&ENDPOINTS[0])
    }
}

/// The 78 operations of `open-api.json`, in its order.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint::new(
        Operation::ListAuthSessions,
        Method::Get,
        "/auth/sessions",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::RevokeCurrentAuthSession,
        Method::Delete,
        "/auth/sessions/current",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::RevokeAuthSession,
        Method::Delete,
        "/auth/sessions/{referenceNumber}",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::CertificateLimits,
        Method::Get,
        "/certificates/limits",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::EnrollmentData,
        Method::Get,
        "/certificates/enrollments/data",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::EnrollCertificate,
        Method::Post,
        "/certificates/enrollments",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::EnrollmentStatus,
        Method::Get,
        "/certificates/enrollments/{referenceNumber}",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::RetrieveCertificates,
        Method::Post,
        "/certificates/retrieve",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::RevokeCertificate,
        Method::Post,
        "/certificates/{certificateSerialNumber}/revoke",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::QueryCertificates,
        Method::Post,
        "/certificates/query",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::PublicKeyCertificates,
        Method::Get,
        "/security/public-key-certificates",
        RateLimitGroup::Public,
    ),
    Endpoint::new(
        Operation::TestDataCreateSubject,
        Method::Post,
        "/testdata/subject",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::TestDataRemoveSubject,
        Method::Post,
        "/testdata/subject/remove",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::TestDataCreatePerson,
        Method::Post,
        "/testdata/person",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::TestDataRemovePerson,
        Method::Post,
        "/testdata/person/remove",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::TestDataGrantPermissions,
        Method::Post,
        "/testdata/permissions",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::TestDataRevokePermissions,
        Method::Post,
        "/testdata/permissions/revoke",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::TestDataAllowAttachments,
        Method::Post,
        "/testdata/attachment",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::TestDataRevokeAttachments,
        Method::Post,
        "/testdata/attachment/revoke",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::TestDataBlockContext,
        Method::Post,
        "/testdata/context/block",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::TestDataUnblockContext,
        Method::Post,
        "/testdata/context/unblock",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::ContextLimits,
        Method::Get,
        "/limits/context",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::SubjectLimits,
        Method::Get,
        "/limits/subject",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::RateLimits,
        Method::Get,
        "/rate-limits",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::TestDataSetSessionLimits,
        Method::Post,
        "/testdata/limits/context/session",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::TestDataResetSessionLimits,
        Method::Delete,
        "/testdata/limits/context/session",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::TestDataSetCertificateLimits,
        Method::Post,
        "/testdata/limits/subject/certificate",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::TestDataResetCertificateLimits,
        Method::Delete,
        "/testdata/limits/subject/certificate",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::TestDataSetRateLimits,
        Method::Post,
        "/testdata/rate-limits",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::TestDataResetRateLimits,
        Method::Delete,
        "/testdata/rate-limits",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::TestDataSetProductionRateLimits,
        Method::Post,
        "/testdata/rate-limits/production",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::GrantPersonPermissions,
        Method::Post,
        "/permissions/persons/grants",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::GrantEntityPermissions,
        Method::Post,
        "/permissions/entities/grants",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::GrantAuthorizationPermissions,
        Method::Post,
        "/permissions/authorizations/grants",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::GrantIndirectPermissions,
        Method::Post,
        "/permissions/indirect/grants",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::GrantSubunitPermissions,
        Method::Post,
        "/permissions/subunits/grants",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::GrantEuEntityAdministration,
        Method::Post,
        "/permissions/eu-entities/administration/grants",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::GrantEuEntityPermissions,
        Method::Post,
        "/permissions/eu-entities/grants",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::RevokePermission,
        Method::Delete,
        "/permissions/common/grants/{permissionId}",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::RevokeAuthorizationPermission,
        Method::Delete,
        "/permissions/authorizations/grants/{permissionId}",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::PermissionOperationStatus,
        Method::Get,
        "/permissions/operations/{referenceNumber}",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::AttachmentPermissionStatus,
        Method::Get,
        "/permissions/attachments/status",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::DownloadInvoice,
        Method::Get,
        "/invoices/ksef/{ksefNumber}",
        RateLimitGroup::InvoiceDownload,
    ),
    Endpoint::new(
        Operation::QueryInvoiceMetadata,
        Method::Post,
        "/invoices/query/metadata",
        RateLimitGroup::InvoiceMetadata,
    ),
    Endpoint::new(
        Operation::ExportInvoices,
        Method::Post,
        "/invoices/exports",
        RateLimitGroup::InvoiceExport,
    ),
    Endpoint::new(
        Operation::ExportStatus,
        Method::Get,
        "/invoices/exports/{referenceNumber}",
        RateLimitGroup::InvoiceExportStatus,
    ),
    Endpoint::new(
        Operation::ListSessions,
        Method::Get,
        "/sessions",
        RateLimitGroup::SessionList,
    ),
    Endpoint::new(
        Operation::SessionStatus,
        Method::Get,
        "/sessions/{referenceNumber}",
        RateLimitGroup::SessionMisc,
    ),
    Endpoint::new(
        Operation::SessionInvoices,
        Method::Get,
        "/sessions/{referenceNumber}/invoices",
        RateLimitGroup::SessionInvoiceList,
    ),
    Endpoint::new(
        Operation::SessionInvoiceStatus,
        Method::Get,
        "/sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}",
        RateLimitGroup::InvoiceStatus,
    ),
    Endpoint::new(
        Operation::FailedSessionInvoices,
        Method::Get,
        "/sessions/{referenceNumber}/invoices/failed",
        RateLimitGroup::SessionInvoiceList,
    ),
    Endpoint::new(
        Operation::InvoiceUpoByKsefNumber,
        Method::Get,
        "/sessions/{referenceNumber}/invoices/ksef/{ksefNumber}/upo",
        RateLimitGroup::SessionMisc,
    ),
    Endpoint::new(
        Operation::InvoiceUpoByReference,
        Method::Get,
        "/sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}/upo",
        RateLimitGroup::SessionMisc,
    ),
    Endpoint::new(
        Operation::SessionUpo,
        Method::Get,
        "/sessions/{referenceNumber}/upo/{upoReferenceNumber}",
        RateLimitGroup::SessionMisc,
    ),
    Endpoint::new(
        Operation::GenerateToken,
        Method::Post,
        "/tokens",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::ListTokens,
        Method::Get,
        "/tokens",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::TokenStatus,
        Method::Get,
        "/tokens/{referenceNumber}",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::RevokeToken,
        Method::Delete,
        "/tokens/{referenceNumber}",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::QueryPeppolProviders,
        Method::Get,
        "/peppol/query",
        RateLimitGroup::Public,
    ),
    Endpoint::new(
        Operation::AuthChallenge,
        Method::Post,
        "/auth/challenge",
        RateLimitGroup::Public,
    ),
    Endpoint::new(
        Operation::AuthXadesSignature,
        Method::Post,
        "/auth/xades-signature",
        RateLimitGroup::Public,
    ),
    Endpoint::new(
        Operation::AuthKsefToken,
        Method::Post,
        "/auth/ksef-token",
        RateLimitGroup::Public,
    ),
    Endpoint::new(
        Operation::AuthStatus,
        Method::Get,
        "/auth/{referenceNumber}",
        RateLimitGroup::Public,
    ),
    Endpoint::new(
        Operation::RedeemToken,
        Method::Post,
        "/auth/token/redeem",
        RateLimitGroup::Public,
    ),
    Endpoint::new(
        Operation::RefreshToken,
        Method::Post,
        "/auth/token/refresh",
        RateLimitGroup::Public,
    ),
    Endpoint::new(
        Operation::OpenOnlineSession,
        Method::Post,
        "/sessions/online",
        RateLimitGroup::OnlineSession,
    ),
    Endpoint::new(
        Operation::SendInvoice,
        Method::Post,
        "/sessions/online/{referenceNumber}/invoices",
        RateLimitGroup::InvoiceSend,
    ),
    Endpoint::new(
        Operation::CloseOnlineSession,
        Method::Post,
        "/sessions/online/{referenceNumber}/close",
        RateLimitGroup::OnlineSession,
    ),
    Endpoint::new(
        Operation::OpenBatchSession,
        Method::Post,
        "/sessions/batch",
        RateLimitGroup::BatchSession,
    ),
    Endpoint::new(
        Operation::CloseBatchSession,
        Method::Post,
        "/sessions/batch/{referenceNumber}/close",
        RateLimitGroup::BatchSession,
    ),
    Endpoint::new(
        Operation::QueryPersonalGrants,
        Method::Post,
        "/permissions/query/personal/grants",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::QueryPersonGrants,
        Method::Post,
        "/permissions/query/persons/grants",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::QuerySubunitGrants,
        Method::Post,
        "/permissions/query/subunits/grants",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::QueryEntityGrants,
        Method::Post,
        "/permissions/query/entities/grants",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::QueryEntityRoles,
        Method::Get,
        "/permissions/query/entities/roles",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::QuerySubordinateEntityRoles,
        Method::Post,
        "/permissions/query/subordinate-entities/roles",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::QueryAuthorizationGrants,
        Method::Post,
        "/permissions/query/authorizations/grants",
        RateLimitGroup::Other,
    ),
    Endpoint::new(
        Operation::QueryEuEntityGrants,
        Method::Post,
        "/permissions/query/eu-entities/grants",
        RateLimitGroup::Other,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn spec() -> serde_json::Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../spec/ksef-docs/open-api.json"
        );
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn the_table_is_the_openapi() {
        let spec = spec();
        let mut expected = BTreeSet::new();
        for (path, item) in spec["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if ["get", "post", "put", "delete", "patch", "head", "options"]
                    .contains(&method.as_str())
                {
                    expected.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        let actual: Vec<(String, String)> = ENDPOINTS
            .iter()
            .map(|e| (e.method.as_str().to_string(), e.path.to_string()))
            .collect();
        let unique: BTreeSet<(String, String)> = actual.iter().cloned().collect();
        assert_eq!(unique.len(), actual.len(), "an operation is listed twice");
        assert_eq!(unique, expected);
        assert_eq!(ENDPOINTS.len(), 78);
        let paths: BTreeSet<&str> = ENDPOINTS.iter().map(|e| e.path).collect();
        assert_eq!(paths.len(), 73);
        let servers = spec["servers"].as_array().unwrap();
        assert!(
            servers
                .iter()
                .all(|s| s["url"].as_str().unwrap().ends_with(API_PREFIX))
        );
    }

    #[test]
    fn every_operation_has_one_row() {
        let ops: BTreeSet<String> = ENDPOINTS
            .iter()
            .map(|e| format!("{:?}", e.operation))
            .collect();
        assert_eq!(ops.len(), ENDPOINTS.len());
        for e in ENDPOINTS {
            assert_eq!(e.operation.endpoint(), e);
        }
    }

    #[test]
    fn segments_fill_parameters_in_order() {
        let e = Operation::InvoiceUpoByKsefNumber.endpoint();
        assert_eq!(
            e.segments(&["S", "K"]).unwrap(),
            ["sessions", "S", "invoices", "ksef", "K", "upo"]
        );
        assert_eq!(e.segments(&["S"]), None);
        assert_eq!(e.segments(&["S", "K", "x"]), None);
        assert_eq!(
            Operation::ListTokens.endpoint().segments(&[]).unwrap(),
            ["tokens"]
        );
        assert_eq!(Operation::ListTokens.endpoint().to_string(), "GET /tokens");
        assert_eq!(
            Endpoint::find("GET", "/auth/{referenceNumber}").map(|e| e.operation),
            Some(Operation::AuthStatus)
        );
    }
}
