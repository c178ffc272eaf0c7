//! Errors for people: KSeF errors with their Polish description and code, local program errors
//! as a Polish sentence. Never a stack trace.
//!
//! `ksef-program` reports every failure as one message (`ProgramError(String)`, shared with the
//! CLI); a KSeF error arrives there as `"KSeF: " + KsefError::to_string()`. We read the code and
//! KSeF's own (Polish) description back from that text; the unit tests below format real
//! `KsefError` values, so a change of the client's wording breaks them rather than the screen.

use ksef_program::ProgramError;

/// The message shown in `#error` for a failed program operation.
pub fn polish(e: &ProgramError) -> String {
    polish_message(&e.0)
}

/// See [`polish`].
pub fn polish_message(msg: &str) -> String {
    if let Some(rest) = msg.strip_prefix("KSeF: ") {
        return polish_ksef(rest);
    }
    polish_local(msg)
}

fn polish_ksef(s: &str) -> String {
    if let Some(rest) = s.strip_prefix("KSeF API error: HTTP ")
        && let Some((head, description)) = rest.split_once(": ")
    {
        let mut status = "";
        let mut code = None;
        let mut reason = None;
        for (i, part) in head.split(", ").enumerate() {
            if i == 0 {
                status = part;
            } else if let Some(c) = part.strip_prefix("code ") {
                code = Some(c);
            } else if let Some(r) = part.strip_prefix("reason ") {
                reason = Some(r);
            }
        }
        let description = description.trim();
        return match (code, reason) {
            (Some(c), _) => format!("{description} (kod {c})"),
            (None, Some(r)) => format!("{description} (HTTP {status}, {r})"),
            (None, None) => format!("{description} (HTTP {status})"),
        };
    }
    if let Some(rest) = s.strip_prefix("authentication failed with status ")
        && let Some((code, description)) = rest.split_once(": ")
    {
        return format!("Uwierzytelnienie w KSeF nie powiodło się: {description} (kod {code})");
    }
    if let Some(rest) = s.strip_prefix("KSeF token ")
        && let Some((reference, rest)) = rest.split_once(" is ")
        && let Some((status, details)) = rest.split_once(", not Active")
    {
        return format!(
            "Token KSeF {reference} ma status {status} zamiast Active{details}; nie można go użyć."
        );
    }
    if s.starts_with("the session's refresh token expired") {
        return "Sesja KSeF wygasła — zaloguj się ponownie.".into();
    }
    if let Some(rest) = s.strip_prefix("timed out after ") {
        return format!("KSeF nie odpowiedział na czas ({rest}). Spróbuj ponownie za chwilę.");
    }
    if let Some(rest) = s.strip_prefix("invalid input: ") {
        return format!("Nieprawidłowe dane: {rest}");
    }
    if let Some(rest) = s.strip_prefix("cryptography error: ") {
        return format!("Błąd operacji kryptograficznej: {rest}");
    }
    if let Some(rest) = s.strip_prefix("cannot decode ") {
        return format!("Nie można odczytać odpowiedzi KSeF ({rest}).");
    }
    format!("Brak połączenia z KSeF lub błąd komunikacji: {s}")
}

fn polish_local(msg: &str) -> String {
    let m = msg;
    if m.contains("has no KSeF token") {
        return "Użytkownik nie ma zapisanego tokenu KSeF — wklej go w polu „Token KSeF”.".into();
    }
    if m.contains("is not a KSeF token") {
        return "Zapisany tekst nie jest poprawnym tokenem KSeF.".into();
    }
    if m.starts_with("no KSeF session") || m.contains("session has expired") {
        return "Brak aktywnej sesji KSeF (lub wygasła) — zaloguj się ponownie.".into();
    }
    if m.contains("carries no XML signature") {
        return "Plik nie zawiera podpisu XML — najpierw podpisz go w serwisie podpisu.".into();
    }
    if m.contains("not a valid AuthTokenRequest") {
        return "Plik nie jest poprawnym żądaniem uwierzytelnienia (AuthTokenRequest) przygotowanym przez program.".into();
    }
    if m.contains("challenge expired") {
        return "Czas na podpisanie pliku minął (KSeF daje 10 minut) — przygotuj nowy plik.".into();
    }
    if m.contains("Sesja z tokenem nie może generować") {
        return "Sesja z tokenem nie może generować kolejnych tokenów. Zaloguj się certyfikatem lub Profilem Zaufanym.".into();
    }
    if m.contains("Sesja z tokenem nie może przeglądać") {
        return "Sesja z tokenem nie pozwala na przeglądanie ani usuwanie tokenów. Zaloguj się certyfikatem lub Profilem Zaufanym.".into();
    }
    if m.contains("needs the CredentialsManage permission") {
        return "Usuwanie tokenów wymaga uprawnienia zarządzania uprawnieniami KSeF (CredentialsManage).".into();
    }
    if m.contains("Nie można nadać tokenowi uprawnień") {
        return "Nie można nadać tokenowi uprawnień których nie posiadasz.".into();
    }
    if let Some(rest) = m.strip_prefix("local store: ") {
        return format!("Błąd lokalnej bazy programu: {rest}");
    }
    format!("Operacja nie powiodła się: {m}")
}

/// The message shown for a failure of the local store.
pub fn polish_store(e: &ksef_store::StoreError) -> String {
    use ksef_store::StoreError as E;
    match e {
        E::InvalidUserName(why) => format!("Nieprawidłowa nazwa użytkownika: {why}."),
        E::UserExists { name } => format!("Użytkownik „{name}” już istnieje."),
        E::UnknownUser { name } => format!("Nie ma użytkownika „{name}”."),
        E::InvalidToken(_) => {
            "To nie jest poprawny token KSeF (oczekiwano: numer referencyjny|kontekst|sekret)."
                .into()
        }
        other => format!("Błąd lokalnej bazy programu: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ksef_client::KsefError;

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
        let shown = via_program(KsefError::Transport(
            "connection refused (http://x/v2)".into(),
        ));
        assert!(shown.starts_with("Brak połączenia z KSeF"), "{shown}");
        let shown = via_program(KsefError::TokenNotActive {
            reference_number: "R1".into(),
            status: "Revoked".into(),
            details: vec![],
        });
        assert!(shown.contains("R1 ma status Revoked"), "{shown}");
    }

    #[test]
    fn local_errors_become_polish_sentences() {
        assert!(
            polish_message("program user \"x\" has no KSeF token; set one")
                .starts_with("Użytkownik nie ma")
        );
        assert!(polish_message("something odd").starts_with("Operacja nie powiodła się"));
    }
}
