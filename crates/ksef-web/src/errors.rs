//! Errors for people: a Polish sentence per [`ProgramError`] variant ([`polish`]) and the
//! technical detail to fold away under „Szczegóły” ([`details`]). KSeF errors show KSeF's own
//! (Polish) description and code. Never a stack trace, never a parsed English message: every
//! branch matches on the error's variants.

use ksef_client::KsefError;
use ksef_program::offline::{CorrectionField, CorrectionRefusal};
use ksef_program::users::{AdminAction, UserError};
use ksef_program::{Field, InputProblem, IoAction, Operation, ProgramError, TokenSessionRefusal};

/// The message shown in `#error` for a failed program operation.
pub fn polish(e: &ProgramError) -> String {
    use ProgramError as E;
    match e {
        E::Ksef(k) => polish_ksef(k),
        E::KsefFailed {
            operation, source, ..
        } => {
            let meaning = source
                .code()
                .and_then(certificate_code_meaning)
                .map(|m| format!(" {m}"))
                .unwrap_or_default();
            format!(
                "{}: {}{meaning}",
                capitalise(operation_pl(*operation)),
                polish_ksef(source)
            )
        }
        E::OperationRefused {
            operation,
            status_code,
            description,
            ..
        } => format!(
            "KSeF odmówił wykonania operacji ({}): {description} (kod {status_code}).",
            operation_pl(*operation)
        ),
        E::Store(s) => polish_store(s),
        E::Crypto(c) => polish_crypto(c),
        E::NotLoggedIn { .. } | E::SessionExpired => {
            "Brak aktywnej sesji KSeF (lub wygasła) — zaloguj się ponownie.".into()
        }
        E::SessionUnreadable { .. } => {
            "Zapisanej sesji KSeF nie można odczytać — zaloguj się ponownie.".into()
        }
        E::Serialize { .. } => "Nie można zapisać stanu programu (błąd wewnętrzny).".into(),
        E::RefusedInTokenSession(r) => match r {
            TokenSessionRefusal::GenerateTokens => {
                "Sesja z tokenem nie może generować kolejnych tokenów. Zaloguj się certyfikatem lub Profilem Zaufanym.".into()
            }
            _ => "Sesja z tokenem nie pozwala na przeglądanie ani usuwanie tokenów. Zaloguj się certyfikatem lub Profilem Zaufanym.".into(),
        },
        E::PermissionMissing {
            operation, needed, ..
        } => {
            let names: Vec<String> = needed.iter().map(|p| permission_pl(p.as_str())).collect();
            format!(
                "Operacja „{}” wymaga w tym kontekście uprawnienia {}, którego bieżąca sesja nie ma.",
                operation_pl(*operation),
                names.join(" lub ")
            )
        }
        E::TokenPermissionsNotHeld { missing } => {
            let names: Vec<String> = missing.iter().map(|p| permission_pl(p.as_str())).collect();
            format!(
                "Nie można nadać tokenowi uprawnień których nie posiadasz: {}.",
                names.join(", ")
            )
        }
        E::InvalidInput { field, problem } => format!(
            "Nieprawidłowe dane — {}: {}.",
            field_pl(*field),
            problem_pl(problem)
        ),
        E::Io { action, path, .. } => format!(
            "Nie można {} „{}”.",
            match action {
                IoAction::Read => "odczytać pliku",
                IoAction::Write => "zapisać pliku",
                IoAction::CreateDirectory => "utworzyć katalogu",
                IoAction::ReadPasswordFile => "odczytać pliku z hasłem",
                _ => "użyć pliku",
            },
            path.display()
        ),
        E::NotWritten { path, .. } => format!("Nie można zapisać pliku „{}”.", path.display()),
        E::InFile { path, source } => format!("Plik „{}”: {}", path.display(), polish(source)),
        E::NoXmlSignature => {
            "Plik nie zawiera podpisu XML — najpierw podpisz go w serwisie podpisu.".into()
        }
        E::NotAuthTokenRequest(_) => "Plik nie jest poprawnym żądaniem uwierzytelnienia (AuthTokenRequest) przygotowanym przez program.".into(),
        E::ChallengeExpired { .. } => {
            "Czas na podpisanie pliku minął (KSeF daje 10 minut) — przygotuj nowy plik.".into()
        }
        E::NoPreparedRequest => {
            "Brak przygotowanego żądania — przygotuj najpierw plik do podpisu.".into()
        }
        E::SignedFileNotFound { dir, .. } => format!(
            "W katalogu „{}” nie ma jeszcze podpisanej kopii przygotowanego pliku — podpisz plik i zapisz go tam.",
            dir.display()
        ),
        E::User(u) => polish_user(u),
        E::CertificateNotIssued {
            status_code,
            description,
            ..
        } => format!("KSeF nie wydał certyfikatu: {description} (kod {status_code})."),
        E::NoCertificateSerial { .. } => {
            "KSeF nie podał numeru seryjnego wydanego certyfikatu.".into()
        }
        E::CertificateNotSaved { serial, path, .. } => format!(
            "Certyfikat {serial} został wydany, ale nie można zapisać pliku „{}” — jego klucz przepadł. Unieważnij ten certyfikat i złóż wniosek ponownie.",
            path.display()
        ),
        E::OutputExists { path } => format!(
            "Plik „{}” już istnieje — wybierz inną nazwę (istniejący klucz nigdy nie jest nadpisywany).",
            path.display()
        ),
        E::OutputDirMissing { dir, .. } => {
            format!("Katalog „{}” nie istnieje.", dir.display())
        }
        E::NoXmlFiles { dir } => format!("W katalogu „{}” nie ma plików *.xml.", dir.display()),
        E::LocalCheckFailed { failed, total } => format!(
            "{} z {total} plików faktur nie przeszło kontroli lokalnej — niczego nie wysłano.",
            failed.len()
        ),
        E::CheckAborted { .. } => {
            "Kontrola lokalna faktur nie została wykonana (błąd wewnętrzny).".into()
        }
        E::NotInBatch { form } => format!(
            "Faktur {form} nie można wysłać w sesji wsadowej (KSeF przyjmuje wsadowo FA (2), FA (3) i FA_RR (1)) — wyślij je w sesji interaktywnej."
        ),
        E::NoRegister { .. } => {
            "Brak sesji KSeF — zaloguj się do firmy, której faktury chcesz zobaczyć.".into()
        }
        E::UnknownFirm { firm, .. } => format!(
            "Firma {} nie należy do firm programu i nie ma rejestru faktur — dodaj ją w programie.",
            crate::pages::firm_label(firm)
        ),
        E::SessionForOtherFirm { session, wanted } => format!(
            "Sesja KSeF dotyczy firmy {}, a nie {} — przełącz firmę i zaloguj się ponownie.",
            crate::pages::firm_label(session),
            crate::pages::firm_label(wanted)
        ),
        E::NoVerificationLink { invoice, .. } => format!(
            "Nie można utworzyć kodu weryfikacyjnego faktury {invoice} (sprawdź NIP sprzedawcy i adres KSeF w ustawieniach)."
        ),
        E::InvoiceUnreadable { invoice, .. } => {
            format!("Nie można odczytać danych faktury {invoice} do rejestru faktur.")
        }
        E::SellerNotFirm {
            file,
            seller_nip,
            firm,
        } => format!(
            "Plik „{}”: sprzedawcą jest NIP {seller_nip}, a nie firma {} — faktury nie zapisano.",
            file_name(file),
            crate::pages::firm_label(firm)
        ),
        E::OfflineDeadline { file, source } => format!(
            "Plik „{}”: {} — faktury nie zapisano.",
            file_name(file),
            polish_deadline(source)
        ),
        E::AlreadyInRegister {
            file,
            ksef_number,
            ..
        } => format!(
            "Plik „{}” jest już w rejestrze faktur{} jako faktura wysłana w trybie online — nie można go wystawić w trybie offline.",
            file_name(file),
            ksef_number
                .as_deref()
                .map(|n| format!(" (numer KSeF {n})"))
                .unwrap_or_default()
        ),
        E::FileChanged { file } => format!(
            "Plik „{}” zmienił się w trakcie zapisywania — spróbuj ponownie.",
            file_name(file)
        ),
        E::InvoiceNotInRegister { invoice } => {
            format!("Nie ma faktury „{invoice}” w rejestrze faktur tej firmy.")
        }
        E::NotPendingOffline {
            invoice_number,
            status,
            ..
        } => format!(
            "Faktura {invoice_number} nie czeka na wysłanie do KSeF jako faktura offline (jej stan: {}).",
            status_pl(*status)
        ),
        E::TechnicalCorrectionRefused {
            invoice,
            reason,
            ksef_code,
            ..
        } => format!(
            "Nie można wysłać korekty technicznej faktury {invoice}: {}{}",
            polish_correction(reason),
            match ksef_code {
                Some(c) => format!(" KSeF odmówił przyjęcia korekty (kod {c})."),
                None => String::new(),
            }
        ),
        _ => "Operacja nie powiodła się.".into(),
    }
}

/// The register status of an invoice, in Polish.
fn status_pl(s: ksef_store::InvoiceStatus) -> &'static str {
    use ksef_store::InvoiceStatus as S;
    match s {
        S::Issued => "wystawiona offline, do wysłania",
        S::Sent => "wysłana, czeka na wynik KSeF",
        S::Accepted => "przyjęta przez KSeF",
        S::Rejected => "odrzucona przez KSeF",
        S::Received => "pobrana z KSeF",
    }
}

/// The last part of a path (the file's own name; never a temporary directory).
fn file_name(p: &std::path::Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// Why no sending deadline could be computed, in Polish.
fn polish_deadline(e: &ksef_core::offline::DeadlineError) -> String {
    use crate::handlers::date_pl;
    use ksef_core::offline::DeadlineError as D;
    match e {
        D::EndsBeforeIssue { kind, issued, ends } => format!(
            "tryb „{}” zakończono {}, przed datą wystawienia faktury {} — faktura nie mogła zostać wystawiona w tym trybie",
            kind.polish_name(),
            date_pl(*ends),
            date_pl(*issued)
        ),
        D::FailureEndsBeforeAnnouncement { announced, ends } => format!(
            "awaria KSeF ogłoszona {} nie mogła zakończyć się {}",
            date_pl(*announced),
            date_pl(*ends)
        ),
        D::OutOfRange => "termin przesłania wypadałby po 31 grudnia 9999".into(),
    }
}

/// The rules of the technical correction (§13.1 of the digest), explained in Polish.
fn polish_correction(r: &CorrectionRefusal) -> String {
    use CorrectionRefusal as R;
    match r {
        R::OriginalAccepted { ksef_number } => format!(
            "faktura została przyjęta przez KSeF{} — korektę techniczną wysyła się tylko do faktury odrzuconej przez KSeF (kod 21167). Treść przyjętej faktury zmienia się fakturą korygującą.",
            ksef_number
                .as_deref()
                .map(|n| format!(" (numer KSeF {n})"))
                .unwrap_or_default()
        ),
        R::AlreadyCorrected { correction } => format!(
            "faktura ma już przyjętą korektę techniczną{} — KSeF przyjmuje tylko jedną korektę techniczną do faktury (kod 21166).",
            correction
                .as_deref()
                .map(|n| format!(" (numer KSeF {n})"))
                .unwrap_or_default()
        ),
        R::CorrectionPending { .. } => "korekta techniczna tej faktury czeka już na wynik weryfikacji w KSeF — KSeF przyjmuje tylko jedną, poczekaj na jej wynik.".into(),
        R::NotOffline => "faktura nie została wystawiona w trybie offline — korekta techniczna dotyczy tylko faktur offline.".into(),
        R::NotSent => "faktura nie została jeszcze wysłana do KSeF — korygować można tylko fakturę odrzuconą przez KSeF.".into(),
        R::NoVerdictYet => "KSeF nie podał jeszcze wyniku weryfikacji faktury — koryguj ją tylko wtedy, gdy zostanie odrzucona.".into(),
        R::NotASale => "to nie jest faktura wystawiona przez firmę (sprzedaży).".into(),
        R::IsACorrection { .. } => "ta faktura sama jest korektą techniczną — skoryguj fakturę pierwotną.".into(),
        R::RejectedForPermissions => "KSeF odrzucił fakturę z powodu braku uprawnień (kod 410), a nie z przyczyn technicznych — korekta techniczna nie ma zastosowania.".into(),
        R::DifferentInvoice {
            field,
            original,
            correction,
        } => format!(
            "korekta techniczna musi mieć tę samą treść co faktura pierwotna, a {} różni się („{correction}” zamiast „{original}”).",
            match field {
                CorrectionField::InvoiceNumber => "numer faktury (P_2)",
                CorrectionField::IssueDate => "data wystawienia (P_1)",
                CorrectionField::SellerNip => "NIP sprzedawcy",
                _ => "jej treść",
            }
        ),
        R::SameFile => "wskazany plik jest tym samym plikiem, który KSeF odrzucił — wyślij poprawiony plik.".into(),
        _ => "zasady korekty technicznej na to nie pozwalają.".into(),
    }
}

/// The technical detail of a failure, for „Szczegóły”: the English message of the program
/// layer, which names KSeF's HTTP status, code, description and details, the file and the
/// underlying error (every variant's message includes its source). Never a secret.
pub fn details(e: &ProgramError) -> Option<String> {
    Some(e.to_string()).filter(|s| !s.trim().is_empty())
}

/// A KSeF error: KSeF's own description and code.
fn polish_ksef(e: &KsefError) -> String {
    match e {
        KsefError::Api {
            status,
            code,
            description,
            reason_code,
            ..
        } => {
            let description = description.trim();
            match (code, reason_code) {
                (Some(c), _) => format!("{description} (kod {c})"),
                (None, Some(r)) => format!("{description} (HTTP {status}, {r})"),
                (None, None) => format!("{description} (HTTP {status})"),
            }
        }
        KsefError::AuthenticationFailed {
            code, description, ..
        } => format!("Uwierzytelnienie w KSeF nie powiodło się: {description} (kod {code})"),
        KsefError::TokenNotActive {
            reference_number,
            status,
            ..
        } => format!(
            "Token KSeF {reference_number} ma status {status} zamiast Active; nie można go użyć."
        ),
        KsefError::SessionExpired { .. } => "Sesja KSeF wygasła — zaloguj się ponownie.".into(),
        KsefError::Timeout { waited, .. } => format!(
            "KSeF nie odpowiedział na czas (czekano {} s). Spróbuj ponownie za chwilę.",
            waited.as_secs()
        ),
        KsefError::Transport(_) => "Brak połączenia z KSeF lub błąd komunikacji.".into(),
        KsefError::Decode { .. } => "Nie można odczytać odpowiedzi KSeF.".into(),
        KsefError::InvalidInput(_) => "Nieprawidłowe dane dla KSeF.".into(),
        KsefError::Crypto(_) => "Błąd operacji kryptograficznej.".into(),
    }
}

/// The message shown for a failure of the local store.
pub fn polish_store(e: &ksef_store::StoreError) -> String {
    use ksef_store::StoreError as E;
    match e {
        E::InvalidUserName(why) => format!("Nieprawidłowa nazwa użytkownika: {why}."),
        E::UserExists { name } => format!("Użytkownik „{name}” już istnieje."),
        E::UnknownUser { name } => format!("Nie ma użytkownika programu „{name}”."),
        E::NoPassword { name } => format!(
            "Użytkownik „{name}” nie ma jeszcze hasła — administrator musi je ustawić (Użytkownicy › Edytuj)."
        ),
        E::WrongPassword { attempts_left, .. } => format!(
            "Nieprawidłowe hasło. Pozostałe próby przed czasową blokadą konta: {attempts_left}."
        ),
        E::UserLocked { name, until } => format!(
            "Konto „{name}” jest zablokowane po kilku błędnych hasłach do {} — spróbuj później \
             albo poproś administratora o ustawienie nowego hasła.",
            ksef_core::warsaw::format_datetime(*until)
        ),
        E::WeakPassword { min_chars } => {
            format!("Hasło jest za krótkie — podaj co najmniej {min_chars} znaków.")
        }
        E::InvalidPassword => "Hasło jest za długie albo zawiera znaki sterujące.".into(),
        E::FirstAdminExists => "Program ma już administratora — zaloguj się.".into(),
        E::LastAdmin { name } => format!(
            "„{name}” jest ostatnim administratorem programu — nie można go usunąć ani odebrać mu roli."
        ),
        E::ChangedMeanwhile { name } => format!(
            "Dane użytkownika „{name}” zmieniły się w międzyczasie (inne okno lub program) — nic nie zapisano, spróbuj ponownie."
        ),
        E::InvalidToken(_) => {
            "To nie jest poprawny token KSeF (oczekiwano: numer referencyjny|kontekst|sekret)."
                .into()
        }
        E::WrongKey => "Hasło (lub plik klucza) nie pasuje do lokalnej bazy programu.".into(),
        E::PassphraseRequired { .. } => {
            "Lokalna baza programu jest chroniona hasłem — ustaw zmienną KSEF_PASSPHRASE.".into()
        }
        E::KeyFileMissing { path } => format!(
            "Brak pliku klucza lokalnej bazy programu ({}) — przywróć go z kopii zapasowej.",
            path.display()
        ),
        other => format!("Błąd lokalnej bazy programu: {other}"),
    }
}

fn polish_user(e: &UserError) -> String {
    match e {
        UserError::NotAdmin { action } => format!(
            "Tylko administrator programu może {}.",
            match action {
                AdminAction::AddUser => "dodawać użytkowników",
                AdminAction::RemoveUser => "usuwać użytkowników",
                AdminAction::SetPassword => "ustawiać hasła innym użytkownikom",
                AdminAction::SetAdmin => "nadawać lub odbierać rolę administratora",
                AdminAction::SaveTokenForOthers => "zapisywać token KSeF innemu użytkownikowi",
            }
        ),
        UserError::SetupDone => "Program ma już administratora — zaloguj się.".into(),
        UserError::SetupNeeded => {
            "Program nie ma jeszcze użytkowników — najpierw utwórz administratora.".into()
        }
        UserError::OnlyOwnToken { user } => {
            format!("Użytkownik „{user}” może zapisać token KSeF tylko na swoim koncie.")
        }
        UserError::NoToken { user } => format!(
            "Użytkownik „{user}” nie ma zapisanego tokenu KSeF — wklej go w Użytkownicy › Edytuj, pole „Token KSeF”."
        ),
        UserError::NoTokenForFirm { user, firm } => format!(
            "Użytkownik „{user}” nie ma zapisanego tokenu KSeF dla firmy {} — wklej go w \
             Użytkownicy › Edytuj, pole „Token KSeF”, albo wybierz inną firmę u góry strony.",
            crate::pages::firm_label(firm)
        ),
        UserError::FirmNeeded { user, firms } => format!(
            "Użytkownik „{user}” ma tokeny KSeF kilku firm ({}) — wybierz firmę u góry strony \
             (lista „Firma”).",
            firms
                .iter()
                .map(|f| crate::pages::firm_label(f))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        UserError::TokenUnusable { user, status } => format!(
            "Token KSeF użytkownika „{user}” ma w KSeF status „{}” — nie można się nim zalogować. \
             Wygeneruj nowy token i zapisz go na użytkowniku.",
            crate::pages::token_status_label(status)
        ),
        UserError::TokenDamaged { user } => format!(
            "Zapisany token użytkownika „{user}” nie jest poprawnym tokenem KSeF — wklej go ponownie."
        ),
        UserError::RemoveSelf => "Nie można usunąć konta, na którym jesteś zalogowany.".into(),
        _ => "Operacja na użytkownikach programu nie jest dozwolona.".into(),
    }
}

fn polish_crypto(e: &ksef_crypto::CryptoError) -> String {
    use ksef_crypto::CryptoError as E;
    match e {
        E::WrongPkcs12Password => "Nieprawidłowe hasło do pliku PKCS#12.".into(),
        E::NoPrivateKey => "Plik PKCS#12 nie zawiera klucza prywatnego.".into(),
        E::KeyCertificateMismatch(_) => "Klucz prywatny nie pasuje do certyfikatu.".into(),
        E::CertificateExpired { .. } => "Certyfikat wygasł.".into(),
        E::CertificateNotYetValid { .. } => "Certyfikat nie jest jeszcze ważny.".into(),
        E::NotOfflineCertificate { .. } => {
            "KOD II podpisuje się wyłącznie certyfikatem KSeF typu Offline — to nie jest taki \
             certyfikat (certyfikat do uwierzytelniania nie może podpisywać kodów). Wystąp w KSeF \
             o certyfikat typu Offline."
                .into()
        }
        E::NotKsefCertificate { .. } => {
            "To nie jest certyfikat wydany przez KSeF — KOD II podpisuje się certyfikatem KSeF typu \
             Offline."
                .into()
        }
        _ => "Nie można odczytać certyfikatu lub klucza (sprawdź plik i hasło).".into(),
    }
}

/// What the 25xxx codes of the certificates API mean.
fn certificate_code_meaning(code: u32) -> Option<&'static str> {
    Some(match code {
        25001 | 25002 => {
            "Certyfikaty KSeF są dostępne tylko w sesji otwartej certyfikatem lub podpisem, nie tokenem KSeF."
        }
        25003 => "Dane wniosku różnią się od danych certyfikatu logowania.",
        25004 => "Wniosek (CSR) jest uszkodzony lub ma błędny podpis.",
        25005 => "Nie ma takiego wniosku o certyfikat.",
        25006 => "Osiągnięto limit wniosków o certyfikat.",
        25007 => "Osiągnięto limit aktywnych certyfikatów — unieważnij jeden z nich.",
        25008 => "Nie ma certyfikatu o tym numerze seryjnym.",
        25009 => "Certyfikat jest już unieważniony, zablokowany lub wygasł.",
        25010 => "Klucz musi być RSA-2048 lub EC P-256.",
        25011 => "Niedozwolony algorytm podpisu wniosku.",
        _ => return None,
    })
}

fn operation_pl(o: Operation) -> &'static str {
    match o {
        Operation::SendInvoices => "wysyłanie faktur",
        Operation::QueryInvoices => "wyszukiwanie faktur",
        Operation::DownloadInvoices => "pobieranie faktur",
        Operation::SyncInvoices => "synchronizacja faktur",
        Operation::DownloadUpo => "pobieranie UPO",
        Operation::ReadLimits => "odczyt limitów",
        Operation::ListSessions => "lista sesji",
        Operation::ShowSession => "podgląd sesji",
        Operation::GrantPermissions => "nadanie uprawnień",
        Operation::RevokePermission => "odebranie uprawnienia",
        Operation::ListPermissions => "lista uprawnień",
        Operation::ReadEnrollmentData => "odczyt danych do wniosku o certyfikat",
        Operation::EnrollCertificate => "wniosek o certyfikat",
        Operation::RetrieveCertificate => "pobranie certyfikatu",
        Operation::ListCertificates => "lista certyfikatów",
        Operation::RevokeCertificate => "unieważnienie certyfikatu",
        Operation::ReadCertificateLimits => "odczyt limitów certyfikatów",
        Operation::RevokeTokens => "usuwanie tokenów",
        _ => "operacja w KSeF",
    }
}

fn field_pl(f: Field) -> &'static str {
    match f {
        Field::BaseUrl => "adres API KSeF",
        Field::Environment => "środowisko KSeF",
        Field::Nip => "NIP",
        Field::InternalId => "identyfikator wewnętrzny",
        Field::Context => "kontekst (NIP)",
        Field::Certificate => "certyfikat",
        Field::Key => "klucz prywatny",
        Field::Pkcs12Password => "hasło PKCS#12",
        Field::PreparedFile => "przygotowany plik",
        Field::SignedFile => "podpisany plik",
        Field::Description => "opis",
        Field::TokenPermissions => "uprawnienia tokenu",
        Field::TokenStatus => "status tokenu",
        Field::Person => "osoba",
        Field::PersonPermissions => "uprawnienia",
        Field::PermissionId => "identyfikator uprawnienia",
        Field::Grant => "nadanie uprawnień",
        Field::CertificateName => "nazwa certyfikatu",
        Field::CertificateType => "typ certyfikatu",
        Field::KeyAlgorithm => "algorytm klucza",
        Field::CertificateSerial => "numer seryjny certyfikatu",
        Field::InvoiceFiles => "pliki faktur",
        Field::Form => "kod formularza",
        Field::SessionType => "typ sesji",
        Field::SessionStatus => "status sesji",
        Field::SessionReference => "numer referencyjny sesji",
        Field::SubjectType => "typ podmiotu",
        Field::DateType => "rodzaj daty",
        Field::From => "data od",
        Field::To => "data do",
        Field::Since => "data początkowa",
        Field::DateRange => "zakres dat",
        Field::PageSize => "rozmiar strony",
        Field::KsefNumber => "numer KSeF faktury",
        Field::TestSubject => "dane certyfikatu testowego",
        Field::Pesel => "PESEL",
        Field::MinAmount => "kwota od",
        Field::MaxAmount => "kwota do",
        Field::Page => "strona",
        Field::OfflineMode => "tryb offline",
        Field::OfflineEnds => "data zakończenia niedostępności lub awarii KSeF",
        Field::Invoice => "faktura",
        _ => "pole",
    }
}

fn problem_pl(p: &InputProblem) -> String {
    match p {
        InputProblem::Missing { .. } => "pole jest wymagane".into(),
        InputProblem::Length { min, max, actual } => {
            format!("wymagane od {min} do {max} znaków (jest {actual})")
        }
        InputProblem::Identifier(_) => {
            "nieprawidłowy identyfikator (długość, znaki lub suma kontrolna)".into()
        }
        InputProblem::NotAPerson { value } => format!(
            "„{value}” nie jest numerem PESEL (11 cyfr), NIP (10 cyfr) ani odciskiem certyfikatu (64 znaki szesnastkowe)"
        ),
        InputProblem::UnknownPermission { value, expected } => {
            format!("nieznane uprawnienie „{value}” (dozwolone: {expected})")
        }
        InputProblem::UnexpectedValue { value, expected } => {
            format!("nieznana wartość „{value}” (dozwolone: {expected})")
        }
        InputProblem::BadFormat { value, .. } => format!("nieprawidłowy format „{value}”"),
        InputProblem::NotPem => "to nie jest plik PEM".into(),
        InputProblem::Rules(_) => "wartość nie spełnia wymagań KSeF".into(),
        InputProblem::OutOfRange { min, max, actual } => {
            format!("KSeF przyjmuje od {min} do {max} (podano {actual})")
        }
        InputProblem::BeforeFrom => "data końcowa jest wcześniejsza niż początkowa".into(),
        InputProblem::RangeTooLong { months } => {
            format!("zakres dat jest dłuższy niż {months} miesiące, KSeF go nie przyjmie")
        }
        InputProblem::FingerprintGrant => "nadanie uprawnień na odcisk certyfikatu wymaga danych dokumentu tożsamości — podaj PESEL lub NIP".into(),
        InputProblem::NotApplicable { .. } => "ta wartość nie ma tu zastosowania (np. tryb offline24 nie ma daty zakończenia)".into(),
        _ => "nieprawidłowa wartość".into(),
    }
}

fn permission_pl(p: &str) -> String {
    match crate::pages::permission_label(p) {
        "" => p.to_string(),
        label => format!("{p} ({label})"),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ksef_core::{Permission, TokenPermission};
    use ksef_store::StoreError;

    fn via_program(e: KsefError) -> String {
        polish(&ProgramError::from(e))
    }

    #[test]
    fn api_error_shows_polish_description_and_code() {
        let shown = via_program(KsefError::Api {
            status: 400,
            code: Some(26001),
            description: "Nie można nadać tokenowi uprawnień których nie posiadasz.".into(),
            details: vec![],
            reason_code: None,
        });
        assert_eq!(
            shown,
            "Nie można nadać tokenowi uprawnień których nie posiadasz. (kod 26001)"
        );
    }

    #[test]
    fn forbidden_without_code_names_the_reason() {
        let shown = via_program(KsefError::Api {
            status: 403,
            code: None,
            description: "Forbidden: brak dostępu".into(),
            details: vec![],
            reason_code: Some("auth-method-not-allowed".into()),
        });
        assert_eq!(
            shown,
            "Forbidden: brak dostępu (HTTP 403, auth-method-not-allowed)"
        );
    }

    #[test]
    fn authentication_failure_and_transport() {
        let shown = via_program(KsefError::AuthenticationFailed {
            code: 450,
            description: "Uwierzytelnianie zakończone niepowodzeniem z powodu błędnego tokenu"
                .into(),
            details: vec![],
        });
        assert!(
            shown.starts_with("Uwierzytelnienie w KSeF nie powiodło się: Uwierzytelnianie"),
            "{shown}"
        );
        assert!(shown.ends_with("(kod 450)"), "{shown}");
        let e = ProgramError::from(KsefError::Transport(
            "connection refused (http://x/v2)".into(),
        ));
        assert!(
            polish(&e).starts_with("Brak połączenia z KSeF"),
            "{}",
            polish(&e)
        );
        assert!(
            details(&e)
                .unwrap()
                .contains("connection refused (http://x/v2)"),
            "{:?}",
            details(&e)
        );
        let shown = via_program(KsefError::TokenNotActive {
            reference_number: "R1".into(),
            status: "Revoked".into(),
            details: vec![],
        });
        assert!(shown.contains("R1 ma status Revoked"), "{shown}");
    }

    #[test]
    fn ksef_details_carry_the_code_and_details() {
        let e = ProgramError::from(KsefError::Api {
            status: 400,
            code: Some(21405),
            description: "Błąd walidacji danych wejściowych.".into(),
            details: vec!["description: too short".into()],
            reason_code: None,
        });
        assert_eq!(polish(&e), "Błąd walidacji danych wejściowych. (kod 21405)");
        let d = details(&e).unwrap();
        assert!(
            d.contains("HTTP 400") && d.contains("21405") && d.contains("description: too short"),
            "{d}"
        );
    }

    /// One value of every variant.
    fn every_variant() -> Vec<ProgramError> {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let api = || KsefError::Api {
            status: 400,
            code: Some(25009),
            description: "Certyfikat jest już unieważniony.".into(),
            details: vec!["serial 0123456789ABCDEF".into()],
            reason_code: None,
        };
        let bad_nip = "5265877636"
            .parse::<ksef_core::Nip>()
            .expect_err("a bad checksum");
        vec![
            ProgramError::Ksef(api()),
            ProgramError::KsefFailed {
                operation: Operation::RevokeCertificate,
                subject: Some("0123456789ABCDEF".into()),
                source: Box::new(api()),
            },
            ProgramError::OperationRefused {
                operation: Operation::GrantPermissions,
                status_code: 400,
                description: "Odmowa nadania".into(),
                reference_number: "20250101-XX-1".into(),
            },
            ProgramError::Store(StoreError::WrongKey),
            ProgramError::Crypto(ksef_crypto::CryptoError::WrongPkcs12Password),
            ProgramError::NotLoggedIn {
                base_url: "http://127.0.0.1:1/v2".into(),
            },
            ProgramError::SessionExpired,
            ProgramError::SessionUnreadable {
                kind: "syntax",
                line: 1,
                column: 7,
            },
            ProgramError::Serialize {
                what: "the session",
                detail: "key must be a string".into(),
            },
            ProgramError::RefusedInTokenSession(TokenSessionRefusal::GenerateTokens),
            ProgramError::RefusedInTokenSession(TokenSessionRefusal::BrowseTokens),
            ProgramError::RefusedInTokenSession(TokenSessionRefusal::RevokeTokens),
            ProgramError::PermissionMissing {
                operation: Operation::SendInvoices,
                needed: vec![Permission::InvoiceWrite, Permission::PefInvoiceWrite],
                held: vec!["InvoiceRead".into()],
            },
            ProgramError::TokenPermissionsNotHeld {
                missing: vec![TokenPermission::InvoiceWrite],
            },
            ProgramError::invalid(
                Field::Description,
                InputProblem::Length {
                    min: 5,
                    max: 256,
                    actual: 3,
                },
            ),
            ProgramError::invalid(Field::Nip, InputProblem::Identifier(bad_nip)),
            ProgramError::invalid(
                Field::Person,
                InputProblem::NotAPerson {
                    value: "123".into(),
                },
            ),
            ProgramError::invalid(
                Field::PersonPermissions,
                InputProblem::UnknownPermission {
                    value: "Owner".into(),
                    expected: "InvoiceRead, InvoiceWrite".into(),
                },
            ),
            ProgramError::invalid(
                Field::From,
                InputProblem::BadFormat {
                    value: "31.12.2025".into(),
                    expected: "a date YYYY-MM-DD",
                },
            ),
            ProgramError::invalid(
                Field::PageSize,
                InputProblem::OutOfRange {
                    min: 10,
                    max: 250,
                    actual: 5,
                },
            ),
            ProgramError::invalid(Field::DateRange, InputProblem::RangeTooLong { months: 3 }),
            ProgramError::invalid(Field::Key, InputProblem::NotPem),
            ProgramError::invalid(Field::Person, InputProblem::FingerprintGrant),
            ProgramError::invalid(Field::To, InputProblem::BeforeFrom),
            ProgramError::invalid(
                Field::Context,
                InputProblem::Missing {
                    hint: "--nip NIP (or --internal-id NIP-NNNNN)",
                },
            ),
            ProgramError::invalid(
                Field::Form,
                InputProblem::UnexpectedValue {
                    value: "FA9".into(),
                    expected: "FA3, FA2".into(),
                },
            ),
            ProgramError::io(IoAction::Read, "/tmp/missing.xml", io()),
            ProgramError::NotWritten {
                path: "/tmp/upo.xml".into(),
                source: Box::new(KsefError::Transport("disk full".into())),
            },
            ProgramError::NoXmlSignature.in_file("/tmp/signed.xml"),
            ProgramError::NoXmlSignature,
            ProgramError::NotAuthTokenRequest(
                ksef_xades::auth_request::AuthRequestError::NotWellFormed("line 1".into()),
            ),
            ProgramError::ChallengeExpired {
                deadline: time::OffsetDateTime::UNIX_EPOCH,
            },
            ProgramError::NoPreparedRequest,
            ProgramError::SignedFileNotFound {
                prepared: "AuthTokenRequest_01-01-2025_10_00_00.xml".into(),
                dir: "/tmp/podpisane".into(),
            },
            ProgramError::User(UserError::NoToken {
                user: "Księgowa".into(),
            }),
            ProgramError::User(UserError::TokenUnusable {
                user: "Księgowa".into(),
                status: "Revoked".into(),
            }),
            ProgramError::User(UserError::NotAdmin {
                action: AdminAction::AddUser,
            }),
            ProgramError::User(UserError::SetupDone),
            ProgramError::User(UserError::SetupNeeded),
            ProgramError::User(UserError::OnlyOwnToken {
                user: "Księgowa".into(),
            }),
            ProgramError::User(UserError::TokenDamaged {
                user: "Księgowa".into(),
            }),
            ProgramError::User(UserError::RemoveSelf),
            ProgramError::User(UserError::NoTokenForFirm {
                user: "Księgowa".into(),
                firm: "Nip:5265877635".into(),
            }),
            ProgramError::User(UserError::FirmNeeded {
                user: "Księgowa".into(),
                firms: vec!["Nip:5265877635".into(), "Nip:5260250274".into()],
            }),
            ProgramError::Store(ksef_store::StoreError::WrongPassword {
                name: "Księgowa".into(),
                attempts_left: 3,
            }),
            ProgramError::Store(ksef_store::StoreError::UserLocked {
                name: "Księgowa".into(),
                until: time::OffsetDateTime::UNIX_EPOCH,
            }),
            ProgramError::Store(ksef_store::StoreError::NoPassword {
                name: "Księgowa".into(),
            }),
            ProgramError::Store(ksef_store::StoreError::WeakPassword { min_chars: 8 }),
            ProgramError::Store(ksef_store::StoreError::InvalidPassword),
            ProgramError::Store(ksef_store::StoreError::FirstAdminExists),
            ProgramError::Store(ksef_store::StoreError::LastAdmin {
                name: "Księgowa".into(),
            }),
            ProgramError::Store(ksef_store::StoreError::ChangedMeanwhile {
                name: "Księgowa".into(),
            }),
            ProgramError::Store(ksef_store::StoreError::UnknownUser {
                name: "Księgowa".into(),
            }),
            ProgramError::CertificateNotIssued {
                reference_number: "20250101-EC-1".into(),
                status_code: 400,
                description: "Odrzucono".into(),
                details: vec!["limit".into()],
            },
            ProgramError::NoCertificateSerial {
                reference_number: "20250101-EC-1".into(),
            },
            ProgramError::CertificateNotSaved {
                serial: "0123456789ABCDEF".into(),
                path: "/tmp/c.p12".into(),
                source: Box::new(KsefError::Transport("No space left on device".into())),
            },
            ProgramError::OutputExists {
                path: "/tmp/c.p12".into(),
            },
            ProgramError::OutputDirMissing {
                path: "/nope/c.p12".into(),
                dir: "/nope".into(),
            },
            ProgramError::NoXmlFiles {
                dir: "/tmp/faktury".into(),
            },
            ProgramError::LocalCheckFailed {
                failed: vec![],
                total: 3,
            },
            ProgramError::CheckAborted {
                detail: "task panicked".into(),
            },
            ProgramError::NotInBatch { form: "PEF (3)" },
            ProgramError::NoRegister {
                base_url: "http://127.0.0.1:1/v2".into(),
                firms: vec![],
            },
            ProgramError::InvoiceUnreadable {
                invoice: "5265877635-20250826-0100001AF629-AF".into(),
                source: ksef_invoice::InvoiceError::Semantic("brak P_2".into()),
            },
            ProgramError::UnknownFirm {
                firm: "Nip:1111111111".into(),
                base_url: "http://127.0.0.1:1/v2".into(),
                known: vec!["Nip:5265877635".into()],
            },
            ProgramError::SessionForOtherFirm {
                session: "Nip:5265877635".into(),
                wanted: "Nip:1111111111".into(),
            },
            ProgramError::NoVerificationLink {
                invoice: "FV/1".into(),
                source: ksef_core::qr::LinkError::ContextType { found: "X".into() },
            },
            ProgramError::SellerNotFirm {
                file: "/tmp/fv.xml".into(),
                seller_nip: "1111111111".into(),
                firm: "Nip:5265877635".into(),
            },
            ProgramError::OfflineDeadline {
                file: "/tmp/fv.xml".into(),
                source: ksef_core::offline::DeadlineError::EndsBeforeIssue {
                    kind: ksef_core::offline::OfflineModeKind::Emergency,
                    issued: time::macros::date!(2026 - 12 - 23),
                    ends: time::macros::date!(2026 - 12 - 20),
                },
            },
            ProgramError::OfflineDeadline {
                file: "/tmp/fv.xml".into(),
                source: ksef_core::offline::DeadlineError::OutOfRange,
            },
            ProgramError::AlreadyInRegister {
                file: "/tmp/fv.xml".into(),
                id: 7,
                status: ksef_store::InvoiceStatus::Accepted,
                ksef_number: Some("5265877635-20250826-0100001AF629-AF".into()),
            },
            ProgramError::FileChanged {
                file: "/tmp/fv.xml".into(),
            },
            ProgramError::InvoiceNotInRegister {
                invoice: "42".into(),
            },
            ProgramError::NotPendingOffline {
                id: 7,
                invoice_number: "FV/1".into(),
                status: ksef_store::InvoiceStatus::Accepted,
            },
            ProgramError::invalid(
                Field::OfflineEnds,
                InputProblem::NotApplicable {
                    why: "offline24 has no end date",
                },
            ),
            ProgramError::invalid(
                Field::OfflineMode,
                InputProblem::UnexpectedValue {
                    value: "total".into(),
                    expected: "offline24, unavailability or emergency".into(),
                },
            ),
        ]
        .into_iter()
        .chain(
            every_correction_refusal()
                .into_iter()
                .enumerate()
                .map(|(i, reason)| ProgramError::TechnicalCorrectionRefused {
                    invoice: "FV/1".into(),
                    id: 7,
                    reason,
                    ksef_code: (i % 2 == 0).then_some(21166),
                }),
        )
        .collect()
    }

    fn every_correction_refusal() -> Vec<CorrectionRefusal> {
        vec![
            CorrectionRefusal::OriginalAccepted {
                ksef_number: Some("5265877635-20250826-0100001AF629-AF".into()),
            },
            CorrectionRefusal::AlreadyCorrected { correction: None },
            CorrectionRefusal::CorrectionPending { id: 8 },
            CorrectionRefusal::NotOffline,
            CorrectionRefusal::NotSent,
            CorrectionRefusal::NoVerdictYet,
            CorrectionRefusal::NotASale,
            CorrectionRefusal::IsACorrection { original: 3 },
            CorrectionRefusal::RejectedForPermissions,
            CorrectionRefusal::DifferentInvoice {
                field: CorrectionField::IssueDate,
                original: "2026-12-01".into(),
                correction: "2026-12-02".into(),
            },
            CorrectionRefusal::SameFile,
        ]
    }

    #[test]
    fn correction_rules_are_explained_in_polish() {
        for r in every_correction_refusal() {
            let shown = polish_correction(&r);
            assert!(
                !shown.starts_with("zasady korekty technicznej"),
                "no sentence of its own: {r:?}"
            );
            assert!(looks_polish(&shown), "{shown}");
        }
        let accepted =
            polish_correction(&CorrectionRefusal::OriginalAccepted { ksef_number: None });
        assert!(
            accepted.contains("21167") && accepted.contains("fakturą korygującą"),
            "{accepted}"
        );
        let twice = polish_correction(&CorrectionRefusal::AlreadyCorrected { correction: None });
        assert!(
            twice.contains("21166") && twice.contains("tylko jedną"),
            "{twice}"
        );
    }

    /// Words only a Polish sentence has (one of them at least).
    fn looks_polish(s: &str) -> bool {
        s.chars().any(|c| "ąćęłńóśźżĄĆĘŁŃÓŚŹŻ„”—".contains(c))
            || [" nie ", "Nie ", "Brak", "Plik", "kod ", "KSeF "]
                .iter()
                .any(|w| s.contains(w))
    }

    #[test]
    fn every_error_is_shown_in_polish_with_english_details() {
        for e in every_variant() {
            let english = e.to_string();
            let shown = polish(&e);
            assert!(!shown.trim().is_empty(), "{e:?}");
            assert_ne!(shown, english, "the English message leaked: {e:?}");
            assert!(looks_polish(&shown), "not Polish: {shown}");
            assert!(
                !shown.contains(" the ") && !shown.contains("log in"),
                "English words in {shown}"
            );
            assert!(!shown.starts_with("Operacja nie powiodła się"), "{e:?}");
            assert!(
                !shown.starts_with("Operacja na użytkownikach programu"),
                "a user rule without its own message: {e:?}"
            );
            let d = details(&e).expect("details");
            assert!(
                d.contains(&english),
                "details lack the English message: {d}"
            );
        }
    }

    #[test]
    fn details_unfold_the_underlying_errors() {
        let e = ProgramError::CertificateNotSaved {
            serial: "0123456789ABCDEF".into(),
            path: "/tmp/c.p12".into(),
            source: Box::new(KsefError::Transport("No space left on device".into())),
        };
        assert!(details(&e).unwrap().contains("No space left on device"));
        let e = ProgramError::NoXmlSignature.in_file("/tmp/signed.xml");
        assert_eq!(
            polish(&e),
            "Plik „/tmp/signed.xml”: Plik nie zawiera podpisu XML — najpierw podpisz go w serwisie podpisu."
        );
        let e = ProgramError::KsefFailed {
            operation: Operation::ListCertificates,
            subject: None,
            source: Box::new(KsefError::Api {
                status: 400,
                code: Some(25002),
                description: "Brak uprawnień".into(),
                details: vec![],
                reason_code: None,
            }),
        };
        let shown = polish(&e);
        assert!(
            shown.starts_with("Lista certyfikatów: Brak uprawnień (kod 25002) Certyfikaty KSeF"),
            "{shown}"
        );
    }

    #[test]
    fn local_errors_become_polish_sentences() {
        let e = ProgramError::User(UserError::NoToken { user: "x".into() });
        assert!(polish(&e).starts_with("Użytkownik „x” nie ma zapisanego tokenu"));
        let e = ProgramError::RefusedInTokenSession(TokenSessionRefusal::GenerateTokens);
        assert!(polish(&e).contains("Sesja z tokenem nie może generować"));
        let e = ProgramError::RefusedInTokenSession(TokenSessionRefusal::BrowseTokens);
        assert!(polish(&e).contains("Sesja z tokenem nie pozwala"));
    }
}
