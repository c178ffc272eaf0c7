//! The catalogue of KSeF exception codes (`exceptionCode`) with their official Polish descriptions.
//!
//! Generated from the 400-response tables of the official OpenAPI (`open-api.json`, API 2.6.0);
//! descriptions are API values and are returned verbatim.

/// A KSeF `exceptionCode` (digest §16.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExceptionCode {
    /// 9101: Nieprawidłowy dokument.
    InvalidDocument,
    /// 9102: Brak podpisu.
    NoSignature,
    /// 9103: Przekroczona liczba dozwolonych podpisów.
    TooManySignatures,
    /// 9105: Nieprawidłowy podpis.
    InvalidSignature,
    /// 21001: Nieczytelna treść.
    UnreadableContent,
    /// 21111: Nieprawidłowe wyzwanie autoryzacyjne.
    InvalidChallenge,
    /// 21115: Nieprawidłowy certyfikat.
    InvalidCertificate,
    /// 21117: Nieprawidłowy identyfikator podmiotu dla wskazanego typu kontekstu.
    InvalidSubjectForContextType,
    /// 21155: Przekroczono dozwoloną liczbę faktur w sesji.
    SessionInvoiceLimit,
    /// 21157: Nieprawidłowy rozmiar części pakietu.
    InvalidPartSize,
    /// 21161: Przekroczono dozwoloną liczbę części pakietu.
    TooManyParts,
    /// 21164: Faktura o podanym identyfikatorze nie istnieje.
    InvoiceNotFound,
    /// 21165: Faktura o podanym numerze KSeF nie jest jeszcze dostępna.
    InvoiceNotYetAvailable,
    /// 21166: Korekta techniczna niedostępna.
    TechnicalCorrectionUnavailable,
    /// 21167: Status faktury nie pozwala na korektę techniczną.
    TechnicalCorrectionNotAllowed,
    /// 21173: Brak sesji o wskazanym numerze referencyjnym.
    SessionNotFound,
    /// 21175: Wynik zapytania o podanym identyfikatorze nie istnieje.
    ExportNotFound,
    /// 21178: Nie znaleziono UPO dla podanych kryteriów.
    UpoNotFound,
    /// 21180: Status sesji nie pozwala na wykonanie operacji.
    SessionStatusForbidsOperation,
    /// 21181: Nieprawidłowe żądanie eksportu faktur.
    InvalidExportRequest,
    /// 21182: Osiągnięto limit trwających eksportów.
    TooManyExports,
    /// 21183: Zakres filtrowania wykracza poza dostępny zakres danych.
    DateRangeBeyondHwm,
    /// 21205: Pakiet nie może być pusty.
    EmptyPackage,
    /// 21208: Czas oczekiwania na requesty upload lub finish został przekroczony.
    UploadTimeout,
    /// 21217: Nieprawidłowe kodowanie znaków.
    InvalidEncoding,
    /// 21301: Brak autoryzacji.
    NotAuthorized,
    /// 21304: Brak uwierzytelnienia.
    AuthenticationNotFound,
    /// 21308: Próba wykorzystania metod autoryzacyjnych osoby zmarłej.
    DeceasedPerson,
    /// 21401: Dokument nie jest zgodny ze schemą (xsd).
    SchemaViolation,
    /// 21402: Nieprawidłowy rozmiar pliku.
    InvalidFileSize,
    /// 21403: Nieprawidłowy skrót pliku.
    InvalidFileHash,
    /// 21405: Błąd walidacji danych wejściowych.
    InputValidation,
    /// 21406: Konflikt podpisu i typu uwierzytelnienia.
    SignatureAuthTypeConflict,
    /// 21418: Przekazany token kontynuacji ma nieprawidłowy format.
    InvalidContinuationToken,
    /// 21470: Przesłany identyfikator klucza jest nieznany lub wskazuje na wycofany klucz.
    UnknownPublicKey,
    /// 25001: Brak możliwości pobrania danych do CSR dla wykorzystanego sposobu uwierzytelnienia.
    CsrDataUnavailable,
    /// 25002: Brak możliwości złożenia wniosku certyfikacyjnego dla wykorzystanego sposobu uwierzytelnienia.
    EnrollmentNotAllowed,
    /// 25003: Dane w CSR nie zgadzają się z danymi w użytym wektorze uwierzytelniającym.
    CsrDataMismatch,
    /// 25004: Niepoprawny format CSR lub niepoprawny podpis CSR.
    InvalidCsr,
    /// 25005: Wniosek certyfikacyjny o podanym numerze referencyjnym nie istnieje.
    EnrollmentNotFound,
    /// 25006: Osiągnięto limit możliwych do złożenia wniosków certyfikacyjnych.
    EnrollmentLimit,
    /// 25007: Osiągnięto limit dopuszczalnej liczby posiadanych certyfikatów.
    CertificateLimit,
    /// 25008: Certyfikat o podanym numerze seryjnym nie istnieje.
    CertificateNotFound,
    /// 25009: Nie można odwołać wskazanego certyfikatu, ponieważ jest już odwołany, zablokowany lub nieważny.
    CertificateNotRevocable,
    /// 25010: Nieprawidłowy typ lub długość klucza.
    InvalidKey,
    /// 25011: Nieprawidłowy algorytm podpisu CSR.
    InvalidCsrSignatureAlgorithm,
    /// 26001: Nie można nadać tokenowi uprawnień których nie posiadasz.
    TokenPermissionsNotHeld,
    /// 26002: Nie można wygenerować tokena dla obecnego typu kontekstu.
    TokenContextTypeNotAllowed,
    /// 30001: Podmiot lub uprawnienie już istnieje.
    AlreadyExists,
    /// 500: an unexpected server error.
    Unknown,
}

impl ExceptionCode {
    /// Every code of the catalogue.
    pub const ALL: &'static [ExceptionCode] = &[
        ExceptionCode::InvalidDocument,
        ExceptionCode::NoSignature,
        ExceptionCode::TooManySignatures,
        ExceptionCode::InvalidSignature,
        ExceptionCode::UnreadableContent,
        ExceptionCode::InvalidChallenge,
        ExceptionCode::InvalidCertificate,
        ExceptionCode::InvalidSubjectForContextType,
        ExceptionCode::SessionInvoiceLimit,
        ExceptionCode::InvalidPartSize,
        ExceptionCode::TooManyParts,
        ExceptionCode::InvoiceNotFound,
        ExceptionCode::InvoiceNotYetAvailable,
        ExceptionCode::TechnicalCorrectionUnavailable,
        ExceptionCode::TechnicalCorrectionNotAllowed,
        ExceptionCode::SessionNotFound,
        ExceptionCode::ExportNotFound,
        ExceptionCode::UpoNotFound,
        ExceptionCode::SessionStatusForbidsOperation,
        ExceptionCode::InvalidExportRequest,
        ExceptionCode::TooManyExports,
        ExceptionCode::DateRangeBeyondHwm,
        ExceptionCode::EmptyPackage,
        ExceptionCode::UploadTimeout,
        ExceptionCode::InvalidEncoding,
        ExceptionCode::NotAuthorized,
        ExceptionCode::AuthenticationNotFound,
        ExceptionCode::DeceasedPerson,
        ExceptionCode::SchemaViolation,
        ExceptionCode::InvalidFileSize,
        ExceptionCode::InvalidFileHash,
        ExceptionCode::InputValidation,
        ExceptionCode::SignatureAuthTypeConflict,
        ExceptionCode::InvalidContinuationToken,
        ExceptionCode::UnknownPublicKey,
        ExceptionCode::CsrDataUnavailable,
        ExceptionCode::EnrollmentNotAllowed,
        ExceptionCode::CsrDataMismatch,
        ExceptionCode::InvalidCsr,
        ExceptionCode::EnrollmentNotFound,
        ExceptionCode::EnrollmentLimit,
        ExceptionCode::CertificateLimit,
        ExceptionCode::CertificateNotFound,
        ExceptionCode::CertificateNotRevocable,
        ExceptionCode::InvalidKey,
        ExceptionCode::InvalidCsrSignatureAlgorithm,
        ExceptionCode::TokenPermissionsNotHeld,
        ExceptionCode::TokenContextTypeNotAllowed,
        ExceptionCode::AlreadyExists,
        ExceptionCode::Unknown,
    ];

    /// The numeric code.
    pub fn code(self) -> u32 {
        match self {
            ExceptionCode::InvalidDocument => 9101,
            ExceptionCode::NoSignature => 9102,
            ExceptionCode::TooManySignatures => 9103,
            ExceptionCode::InvalidSignature => 9105,
            ExceptionCode::UnreadableContent => 21001,
            ExceptionCode::InvalidChallenge => 21111,
            ExceptionCode::InvalidCertificate => 21115,
            ExceptionCode::InvalidSubjectForContextType => 21117,
            ExceptionCode::SessionInvoiceLimit => 21155,
            ExceptionCode::InvalidPartSize => 21157,
            ExceptionCode::TooManyParts => 21161,
            ExceptionCode::InvoiceNotFound => 21164,
            ExceptionCode::InvoiceNotYetAvailable => 21165,
            ExceptionCode::TechnicalCorrectionUnavailable => 21166,
            ExceptionCode::TechnicalCorrectionNotAllowed => 21167,
            ExceptionCode::SessionNotFound => 21173,
            ExceptionCode::ExportNotFound => 21175,
            ExceptionCode::UpoNotFound => 21178,
            ExceptionCode::SessionStatusForbidsOperation => 21180,
            ExceptionCode::InvalidExportRequest => 21181,
            ExceptionCode::TooManyExports => 21182,
            ExceptionCode::DateRangeBeyondHwm => 21183,
            ExceptionCode::EmptyPackage => 21205,
            ExceptionCode::UploadTimeout => 21208,
            ExceptionCode::InvalidEncoding => 21217,
            ExceptionCode::NotAuthorized => 21301,
            ExceptionCode::AuthenticationNotFound => 21304,
            ExceptionCode::DeceasedPerson => 21308,
            ExceptionCode::SchemaViolation => 21401,
            ExceptionCode::InvalidFileSize => 21402,
            ExceptionCode::InvalidFileHash => 21403,
            ExceptionCode::InputValidation => 21405,
            ExceptionCode::SignatureAuthTypeConflict => 21406,
            ExceptionCode::InvalidContinuationToken => 21418,
            ExceptionCode::UnknownPublicKey => 21470,
            ExceptionCode::CsrDataUnavailable => 25001,
            ExceptionCode::EnrollmentNotAllowed => 25002,
            ExceptionCode::CsrDataMismatch => 25003,
            ExceptionCode::InvalidCsr => 25004,
            ExceptionCode::EnrollmentNotFound => 25005,
            ExceptionCode::EnrollmentLimit => 25006,
            ExceptionCode::CertificateLimit => 25007,
            ExceptionCode::CertificateNotFound => 25008,
            ExceptionCode::CertificateNotRevocable => 25009,
            ExceptionCode::InvalidKey => 25010,
            ExceptionCode::InvalidCsrSignatureAlgorithm => 25011,
            ExceptionCode::TokenPermissionsNotHeld => 26001,
            ExceptionCode::TokenContextTypeNotAllowed => 26002,
            ExceptionCode::AlreadyExists => 30001,
            ExceptionCode::Unknown => 500,
        }
    }

    /// The official Polish description.
    pub fn description(self) -> &'static str {
        match self {
            ExceptionCode::InvalidDocument => "Nieprawidłowy dokument.",
            ExceptionCode::NoSignature => "Brak podpisu.",
            ExceptionCode::TooManySignatures => "Przekroczona liczba dozwolonych podpisów.",
            ExceptionCode::InvalidSignature => "Nieprawidłowy podpis.",
            ExceptionCode::UnreadableContent => "Nieczytelna treść.",
            ExceptionCode::InvalidChallenge => "Nieprawidłowe wyzwanie autoryzacyjne.",
            ExceptionCode::InvalidCertificate => "Nieprawidłowy certyfikat.",
            ExceptionCode::InvalidSubjectForContextType => {
                "Nieprawidłowy identyfikator podmiotu dla wskazanego typu kontekstu."
            }
            ExceptionCode::SessionInvoiceLimit => "Przekroczono dozwoloną liczbę faktur w sesji.",
            ExceptionCode::InvalidPartSize => "Nieprawidłowy rozmiar części pakietu.",
            ExceptionCode::TooManyParts => "Przekroczono dozwoloną liczbę części pakietu.",
            ExceptionCode::InvoiceNotFound => "Faktura o podanym identyfikatorze nie istnieje.",
            ExceptionCode::InvoiceNotYetAvailable => {
                "Faktura o podanym numerze KSeF nie jest jeszcze dostępna."
            }
            ExceptionCode::TechnicalCorrectionUnavailable => "Korekta techniczna niedostępna.",
            ExceptionCode::TechnicalCorrectionNotAllowed => {
                "Status faktury nie pozwala na korektę techniczną."
            }
            ExceptionCode::SessionNotFound => "Brak sesji o wskazanym numerze referencyjnym.",
            ExceptionCode::ExportNotFound => {
                "Wynik zapytania o podanym identyfikatorze nie istnieje."
            }
            ExceptionCode::UpoNotFound => "Nie znaleziono UPO dla podanych kryteriów.",
            ExceptionCode::SessionStatusForbidsOperation => {
                "Status sesji nie pozwala na wykonanie operacji."
            }
            ExceptionCode::InvalidExportRequest => "Nieprawidłowe żądanie eksportu faktur.",
            ExceptionCode::TooManyExports => "Osiągnięto limit trwających eksportów.",
            ExceptionCode::DateRangeBeyondHwm => {
                "Zakres filtrowania wykracza poza dostępny zakres danych."
            }
            ExceptionCode::EmptyPackage => "Pakiet nie może być pusty.",
            ExceptionCode::UploadTimeout => {
                "Czas oczekiwania na requesty upload lub finish został przekroczony."
            }
            ExceptionCode::InvalidEncoding => "Nieprawidłowe kodowanie znaków.",
            ExceptionCode::NotAuthorized => "Brak autoryzacji.",
            ExceptionCode::AuthenticationNotFound => "Brak uwierzytelnienia.",
            ExceptionCode::DeceasedPerson => {
                "Próba wykorzystania metod autoryzacyjnych osoby zmarłej."
            }
            ExceptionCode::SchemaViolation => "Dokument nie jest zgodny ze schemą (xsd).",
            ExceptionCode::InvalidFileSize => "Nieprawidłowy rozmiar pliku.",
            ExceptionCode::InvalidFileHash => "Nieprawidłowy skrót pliku.",
            ExceptionCode::InputValidation => "Błąd walidacji danych wejściowych.",
            ExceptionCode::SignatureAuthTypeConflict => "Konflikt podpisu i typu uwierzytelnienia.",
            ExceptionCode::InvalidContinuationToken => {
                "Przekazany token kontynuacji ma nieprawidłowy format."
            }
            ExceptionCode::UnknownPublicKey => {
                "Przesłany identyfikator klucza jest nieznany lub wskazuje na wycofany klucz."
            }
            ExceptionCode::CsrDataUnavailable => {
                "Brak możliwości pobrania danych do CSR dla wykorzystanego sposobu uwierzytelnienia."
            }
            ExceptionCode::EnrollmentNotAllowed => {
                "Brak możliwości złożenia wniosku certyfikacyjnego dla wykorzystanego sposobu uwierzytelnienia."
            }
            ExceptionCode::CsrDataMismatch => {
                "Dane w CSR nie zgadzają się z danymi w użytym wektorze uwierzytelniającym."
            }
            ExceptionCode::InvalidCsr => "Niepoprawny format CSR lub niepoprawny podpis CSR.",
            ExceptionCode::EnrollmentNotFound => {
                "Wniosek certyfikacyjny o podanym numerze referencyjnym nie istnieje."
            }
            ExceptionCode::EnrollmentLimit => {
                "Osiągnięto limit możliwych do złożenia wniosków certyfikacyjnych."
            }
            ExceptionCode::CertificateLimit => {
                "Osiągnięto limit dopuszczalnej liczby posiadanych certyfikatów."
            }
            ExceptionCode::CertificateNotFound => {
                "Certyfikat o podanym numerze seryjnym nie istnieje."
            }
            ExceptionCode::CertificateNotRevocable => {
                "Nie można odwołać wskazanego certyfikatu, ponieważ jest już odwołany, zablokowany lub nieważny."
            }
            ExceptionCode::InvalidKey => "Nieprawidłowy typ lub długość klucza.",
            ExceptionCode::InvalidCsrSignatureAlgorithm => "Nieprawidłowy algorytm podpisu CSR.",
            ExceptionCode::TokenPermissionsNotHeld => {
                "Nie można nadać tokenowi uprawnień których nie posiadasz."
            }
            ExceptionCode::TokenContextTypeNotAllowed => {
                "Nie można wygenerować tokena dla obecnego typu kontekstu."
            }
            ExceptionCode::AlreadyExists => "Podmiot lub uprawnienie już istnieje.",
            ExceptionCode::Unknown => "Nieznany błąd.",
        }
    }

    /// Looks a numeric code up.
    pub fn from_code(code: u32) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for c in ExceptionCode::ALL {
            assert!(seen.insert(c.code()), "duplicate {}", c.code());
            assert_eq!(ExceptionCode::from_code(c.code()), Some(*c));
            assert!(!c.description().is_empty());
        }
        assert_eq!(
            ExceptionCode::InvalidSignature.description(),
            "Nieprawidłowy podpis."
        );
    }
}
