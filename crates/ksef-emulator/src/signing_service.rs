//! A **simulated** Profil Zaufany signing service, served by the emulator outside the KSeF
//! API (`/symulator-podpisu`, not under `/v2`).
//!
//! The real flow (digest §5.1): the user uploads the unsigned `AuthTokenRequest` to the
//! government signing service, signs it with their trusted profile and downloads the signed
//! file as `<name> (1).xml`, which the program then posts to `/auth/xades-signature`. Offline
//! there is no such service, so the emulator provides a stand-in:
//!
//! * `GET /symulator-podpisu` — a small Polish HTML form (labelled as a SIMULATION that is
//!   not part of the KSeF API): `document` (file), `pesel`, `given_name`, `surname` and, when
//!   [`crate::config::EmulatorConfig::simulated_trusted_profile_sole_trader`] is on, the
//!   checkbox `owner` (checked by default). The query string may pre-fill `pesel`,
//!   `given_name`, `surname` and `owner` (`0` = unchecked); a missing PESEL is suggested (a
//!   valid random test PESEL), and missing names are suggested to match its sex.
//! * `POST /symulator-podpisu` (multipart) — checks the PESEL, the names (1–64 characters)
//!   and that the document is an unsigned `AuthTokenRequest`, issues a short-lived person
//!   certificate (`givenName`, `surname`, `serialNumber=PNOPL-<PESEL>`, `CN`, `C=PL`) from the
//!   emulator's persistent "trusted profile" CA, signs the document (enveloped XAdES-BES) and
//!   returns it as an attachment named `<uploaded name> (1).xml`. Bad input gives a Polish
//!   HTML error page with status 400 (413 for a document over 1 MiB).
//!   With `owner` set and a `Nip` context in the document, the person becomes the owner of
//!   that NIP (a sole trader): the emulator records the NIP–PESEL link, as `POST
//!   /testdata/person` does and as an integrator does on TEST before a real PZ login (digest
//!   §5.1), so the signed request then logs in with the owner's rights. A NIP already linked
//!   to another PESEL is refused (400, naming the linked PESEL); other contexts ignore the
//!   option.
//! * `GET /symulator-podpisu/ca.pem` — the CA certificate, for configuring trust elsewhere.
//!
//! When the simulation is on (see [`crate::config::EmulatorConfig::simulated_trusted_profile`]:
//! by default only without a trust list) the emulator trusts this CA: such signatures
//! authenticate with `authenticationMethod` `TrustedProfile`. Unlike the real
//! service (a qualified seal carrying the person's data) the simulation puts the person into
//! the signing certificate's subject, which is what KSeF reads the PESEL from (digest §4.5).
//! No PESEL, name or document is logged.

use axum::body::Body;
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use ksef_core::{ContextIdentifier, IdentifierError, Nip, Pesel};
use ksef_crypto::ca::{Validity, issue_certificate};
use ksef_crypto::testcert::TestSubject;
use ksef_crypto::{Credential, KeyAlgorithm};
use ksef_xades::auth_request::AuthTokenRequest;
use ksef_xades::signature::{SignError, SignOptions, sign_enveloped};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use crate::html::{escape, page as html};
use crate::keys::CA_COMMON_NAME;
use crate::state::AppState;

/// Path of the simulated signing service page (outside `/v2`).
pub const PATH: &str = "/symulator-podpisu";
/// Path of the simulated trusted-profile CA certificate (PEM).
pub const CA_PEM_PATH: &str = "/symulator-podpisu/ca.pem";

/// Largest accepted document (the uploaded XML).
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
/// Room for the other form fields and the multipart framing on top of the document.
const FORM_OVERHEAD_BYTES: usize = 64 * 1024;
/// Largest accepted text field (PESEL, names) before validation.
const MAX_TEXT_FIELD_BYTES: usize = 1024;
/// Names (given name, surname): 1–64 characters.
const MAX_NAME_CHARS: usize = 64;
/// The label of the `owner` checkbox.
pub const OWNER_LABEL: &str = "Traktuj osobę jako właściciela firmy o NIP z podpisywanego \
     dokumentu (jednoosobowa działalność — jak w środowisku TEST)";
/// `description` of the NIP–PESEL links the `owner` option records.
const OWNER_LINK_DESCRIPTION: &str =
    "Osoba testowa z symulatora podpisu zaufanego (właściciel — jednoosobowa działalność)";

/// Page title (also the `<h1>`).
pub const TITLE: &str =
    "Symulowany serwis podpisu zaufanego — SYMULACJA, nie jest częścią API KSeF";

/// Errors of the signing service; every variant renders as a Polish HTML page.
#[derive(Debug, thiserror::Error)]
pub enum SigningServiceError {
    /// The form is incomplete or invalid (400). Messages are Polish, for the page.
    #[error("invalid form: {}", .0.join("; "))]
    Invalid(Vec<String>),
    /// The request body or the document is too large (413).
    #[error("the document or the form is larger than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge,
    /// The CA could not issue the certificate or the signature failed (500; a bug).
    #[error("signing failed: {0}")]
    Internal(String),
}

impl SigningServiceError {
    fn status(&self) -> StatusCode {
        match self {
            SigningServiceError::Invalid(_) => StatusCode::BAD_REQUEST,
            SigningServiceError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            SigningServiceError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn messages(&self) -> Vec<String> {
        match self {
            SigningServiceError::Invalid(m) => m.clone(),
            SigningServiceError::TooLarge => vec![format!(
                "Plik jest za duży: dokument do podpisu może mieć najwyżej {} MiB.",
                MAX_DOCUMENT_BYTES / (1024 * 1024)
            )],
            SigningServiceError::Internal(_) => vec![
                "Wewnętrzny błąd symulatora podpisu — nie udało się podpisać dokumentu.".into(),
            ],
        }
    }
}

/// The routes of `/symulator-podpisu` (mount on the outer router, outside `/v2`).
pub fn page_routes(state: AppState) -> MethodRouter {
    get(page)
        .post(sign)
        .layer(DefaultBodyLimit::max(
            MAX_DOCUMENT_BYTES + FORM_OVERHEAD_BYTES,
        ))
        .with_state(state)
}

/// The route of `/symulator-podpisu/ca.pem`.
pub fn ca_routes(state: AppState) -> MethodRouter {
    get(ca_pem).with_state(state)
}

/// Values shown in the form (pre-fill and echo after an error).
#[derive(Debug, Default, Deserialize)]
struct FormValues {
    #[serde(default)]
    pesel: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    surname: String,
    /// The `owner` checkbox: present (any value but `0`) = checked. A browser sends the field
    /// only when the box is checked.
    #[serde(default)]
    owner: Option<String>,
}

impl FormValues {
    fn owner_checked(&self) -> bool {
        self.owner.as_deref().is_some_and(|v| v.trim() != "0")
    }

    /// Fills what the page suggests on a fresh visit: a valid random test PESEL, names that
    /// match its sex, and the `owner` box checked.
    fn suggest(&mut self) {
        if self.pesel.trim().is_empty() {
            self.pesel = Pesel::random().as_str().to_string();
        }
        if self.given_name.trim().is_empty() && self.surname.trim().is_empty() {
            let (given, surname) = suggested_names(self.pesel.trim());
            self.given_name = given.to_string();
            self.surname = surname.to_string();
        }
        if self.owner.is_none() {
            self.owner = Some("1".into());
        }
    }
}

/// Test names for a PESEL: its tenth digit is odd for men, even for women.
fn suggested_names(pesel: &str) -> (&'static str, &'static str) {
    const MEN: [(&str, &str); 5] = [
        ("Jan", "Kowalski"),
        ("Piotr", "Nowak"),
        ("Tomasz", "Wiśniewski"),
        ("Krzysztof", "Wójcik"),
        ("Marek", "Testowy"),
    ];
    const WOMEN: [(&str, &str); 5] = [
        ("Anna", "Kowalska"),
        ("Maria", "Nowak"),
        ("Katarzyna", "Wiśniewska"),
        ("Agnieszka", "Wójcik"),
        ("Ewa", "Testowa"),
    ];
    let pick = rand::random_range(0..MEN.len());
    match pesel.as_bytes().get(9) {
        Some(d) if d.is_ascii_digit() && (d - b'0').is_multiple_of(2) => WOMEN[pick],
        _ => MEN[pick],
    }
}

async fn page(
    State(state): State<AppState>,
    query: Result<Query<FormValues>, QueryRejection>,
) -> Response {
    if !state.config().simulated_trusted_profile_enabled() {
        return disabled();
    }
    // A malformed query only loses the pre-fill.
    let mut values = query.map(|Query(v)| v).unwrap_or_default();
    values.suggest();
    html(
        StatusCode::OK,
        render_page(&values, &[], offers_owner(&state)),
    )
}

async fn ca_pem(State(state): State<AppState>) -> Response {
    if !state.config().simulated_trusted_profile_enabled() {
        return disabled();
    }
    match state.trusted_profile_ca().certificate_pem() {
        Ok(pem) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-pem-file"),
            )],
            pem,
        )
            .into_response(),
        Err(e) => error_page(
            &FormValues::default(),
            &SigningServiceError::Internal(e.to_string()),
            false,
        ),
    }
}

/// Whether the page offers the `owner` option.
fn offers_owner(state: &AppState) -> bool {
    state.config().simulated_trusted_profile_sole_trader
}

fn disabled() -> Response {
    html(
        StatusCode::NOT_FOUND,
        format!(
            "<!DOCTYPE html>\n<html lang=\"pl\"><head><meta charset=\"utf-8\"><title>{}</title></head>\
             <body><h1>{}</h1><p id=\"error\">Symulator podpisu zaufanego jest wyłączony w \
             konfiguracji emulatora.</p></body></html>\n",
            escape(TITLE),
            escape(TITLE)
        ),
    )
}

/// What the form carried.
#[derive(Default)]
struct Upload {
    values: FormValues,
    file_name: Option<String>,
    document: Option<Vec<u8>>,
}

async fn sign(
    State(state): State<AppState>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    if !state.config().simulated_trusted_profile_enabled() {
        return disabled();
    }
    let offer = offers_owner(&state);
    let mut multipart = match multipart {
        Ok(m) => m,
        Err(_) => {
            return error_page(
                &FormValues::default(),
                &SigningServiceError::Invalid(vec![
                    "Formularz należy wysłać jako multipart/form-data (pole „document” z plikiem)."
                        .into(),
                ]),
                offer,
            );
        }
    };
    let upload = match read_form(&mut multipart).await {
        Ok(u) => u,
        Err(e) => return error_page(&FormValues::default(), &e, offer),
    };
    let lifetime = state
        .config()
        .simulated_trusted_profile_certificate_lifetime;
    let ca = state.trusted_profile_ca().clone();
    let Upload {
        values,
        file_name,
        document,
    } = upload;
    let checked = match validate(&values, document) {
        Ok(c) => c,
        Err(e) => return error_page(&values, &e, offer),
    };
    // The NIP the person is to own (the option is on and the document has a NIP context).
    let owned = match (&checked.context, offer && values.owner_checked()) {
        (ContextIdentifier::Nip(nip), true) => Some((nip.clone(), checked.pesel.clone())),
        _ => None,
    };
    let signed = tokio::task::spawn_blocking(move || sign_for(&ca, &checked, lifetime))
        .await
        .map_err(|e| SigningServiceError::Internal(e.to_string()))
        .and_then(|r| r);
    let signed = match (signed, owned) {
        (Ok(xml), Some((nip, pesel))) => link_owner(&state, &nip, &pesel).await.map(|()| xml),
        (other, _) => other,
    };
    match signed {
        Ok(xml) => attachment(&signed_file_name(file_name.as_deref()), xml),
        Err(e) => {
            if let SigningServiceError::Internal(detail) = &e {
                tracing::error!(%detail, "simulated trusted profile signing failed");
            }
            error_page(&values, &e, offer)
        }
    }
}

/// Makes `pesel` the owner of `nip` (a sole trader): records the NIP–PESEL link as
/// `POST /testdata/person` does, unless it exists. A NIP owned by another PESEL is refused.
async fn link_owner(state: &AppState, nip: &Nip, pesel: &Pesel) -> Result<(), SigningServiceError> {
    let internal = |e: crate::error::ApiError| SigningServiceError::Internal(e.to_string());
    let linked = |existing: String| {
        if existing == pesel.as_str() {
            Ok(())
        } else {
            Err(SigningServiceError::Invalid(vec![format!(
                "Firma o NIP {nip} ma już w emulatorze właściciela o numerze PESEL {existing} \
                 (powiązanie NIP–PESEL). Podpisz jako ta osoba (wpisz PESEL {existing}) albo \
                 odznacz opcję „właściciel firmy”."
            )]))
        }
    };
    if let Some(existing) = owner_pesel(state, nip).await.map_err(internal)? {
        return linked(existing);
    }
    let created = crate::testdata::create_person(
        state,
        nip,
        pesel,
        false,
        false,
        OWNER_LINK_DESCRIPTION,
        None,
    )
    .await;
    match created {
        Ok(()) => {
            tracing::info!("simulated trusted profile: recorded a NIP–PESEL owner link");
            Ok(())
        }
        // Linked meanwhile (a concurrent request): the same rules apply.
        Err(e) => match owner_pesel(state, nip).await.map_err(internal)? {
            Some(existing) => linked(existing),
            None => Err(internal(e)),
        },
    }
}

/// The PESEL linked to `nip` (`/testdata/person`), if any.
async fn owner_pesel(
    state: &AppState,
    nip: &Nip,
) -> Result<Option<String>, crate::error::ApiError> {
    Ok(
        sqlx::query_scalar("SELECT pesel FROM persons WHERE nip = ?")
            .bind(nip.as_str())
            .fetch_optional(state.pool())
            .await?,
    )
}

async fn read_form(multipart: &mut Multipart) -> Result<Upload, SigningServiceError> {
    let mut upload = Upload::default();
    while let Some(mut field) = multipart.next_field().await.map_err(form_error)? {
        let name = field.name().unwrap_or("").to_string();
        match name.as_str() {
            "document" => {
                upload.file_name = field.file_name().map(str::to_string);
                upload.document = Some(read_capped(&mut field, MAX_DOCUMENT_BYTES).await?);
            }
            "pesel" | "given_name" | "surname" | "owner" => {
                let bytes = read_capped(&mut field, MAX_TEXT_FIELD_BYTES)
                    .await
                    .map_err(|e| match e {
                        SigningServiceError::TooLarge => {
                            SigningServiceError::Invalid(vec![format!(
                                "Pole „{name}” jest za długie."
                            )])
                        }
                        other => other,
                    })?;
                let text = String::from_utf8(bytes).map_err(|_| {
                    SigningServiceError::Invalid(vec![format!(
                        "Pole „{name}” nie jest tekstem UTF-8."
                    )])
                })?;
                match name.as_str() {
                    "pesel" => upload.values.pesel = text,
                    "given_name" => upload.values.given_name = text,
                    "owner" => upload.values.owner = Some(text),
                    _ => upload.values.surname = text,
                }
            }
            // Unknown fields are skipped (the next `next_field` discards their content).
            _ => {}
        }
    }
    Ok(upload)
}

/// Reads a field, refusing more than `cap` bytes without buffering beyond it.
async fn read_capped(field: &mut Field<'_>, cap: usize) -> Result<Vec<u8>, SigningServiceError> {
    let mut out = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(form_error)? {
        if out.len() + chunk.len() > cap {
            return Err(SigningServiceError::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn form_error(e: MultipartError) -> SigningServiceError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        SigningServiceError::TooLarge
    } else {
        // Malformed framing or an interrupted upload: the client's doing, never a 500.
        SigningServiceError::Invalid(vec![
            "Nieprawidłowe dane formularza (multipart/form-data).".into(),
        ])
    }
}

/// A validated request.
struct Checked {
    pesel: Pesel,
    given_name: String,
    surname: String,
    document: String,
    /// The document's context.
    context: ContextIdentifier,
}

fn validate(
    values: &FormValues,
    document: Option<Vec<u8>>,
) -> Result<Checked, SigningServiceError> {
    let mut errors = Vec::new();
    let pesel = match check_pesel(values.pesel.trim()) {
        Ok(p) => Some(p),
        Err(msg) => {
            errors.push(msg);
            None
        }
    };
    let given_name = check_name(&values.given_name, "Imię")
        .map_err(|m| errors.push(m))
        .ok();
    let surname = check_name(&values.surname, "Nazwisko")
        .map_err(|m| errors.push(m))
        .ok();
    let document = match document {
        None => {
            errors.push("Wybierz plik z dokumentem do podpisania (XML).".into());
            None
        }
        Some(d) if d.iter().all(u8::is_ascii_whitespace) => {
            errors.push("Wybrany plik jest pusty.".into());
            None
        }
        Some(d) => match check_document(d) {
            Ok(text) => Some(text),
            Err(msg) => {
                errors.push(msg);
                None
            }
        },
    };
    match (pesel, given_name, surname, document) {
        (Some(pesel), Some(given_name), Some(surname), Some((document, context)))
            if errors.is_empty() =>
        {
            Ok(Checked {
                pesel,
                given_name,
                surname,
                document,
                context,
            })
        }
        _ => Err(SigningServiceError::Invalid(errors)),
    }
}

fn check_pesel(value: &str) -> Result<Pesel, String> {
    if value.is_empty() {
        return Err("Podaj numer PESEL.".into());
    }
    value.parse::<Pesel>().map_err(|e| {
        let why = match e {
            IdentifierError::WrongLength { actual, .. } => {
                format!("PESEL musi mieć 11 cyfr (podano {actual} znaków)")
            }
            IdentifierError::NonDigit { .. } => "PESEL może zawierać wyłącznie cyfry".into(),
            IdentifierError::BadChecksum { .. } | IdentifierError::UnsatisfiableChecksum { .. } => {
                "nieprawidłowa cyfra kontrolna".into()
            }
            IdentifierError::PatternMismatch { .. } => "nieprawidłowy miesiąc urodzenia".into(),
            _ => "nieprawidłowy numer".into(),
        };
        format!("Nieprawidłowy numer PESEL „{value}”: {why}.")
    })
}

fn check_name(value: &str, label: &str) -> Result<String, String> {
    let v = value.trim();
    let n = v.chars().count();
    if n == 0 {
        return Err(format!(
            "Pole „{label}” jest wymagane (1–{MAX_NAME_CHARS} znaków)."
        ));
    }
    if n > MAX_NAME_CHARS {
        return Err(format!(
            "Pole „{label}” może mieć najwyżej {MAX_NAME_CHARS} znaków (podano {n})."
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(format!(
            "Pole „{label}” zawiera niedozwolone znaki sterujące."
        ));
    }
    Ok(v.to_string())
}

/// The document must be an `AuthTokenRequest` (schema rules) without a signature. Returns its
/// text and its context.
fn check_document(bytes: Vec<u8>) -> Result<(String, ContextIdentifier), String> {
    let context = match AuthTokenRequest::parse(&bytes) {
        Ok((request, _)) => request.context,
        Err(e) => {
            return Err(format!(
                "Plik nie jest prawidłowym żądaniem uwierzytelnienia AuthTokenRequest: {} ({e})",
                e.description_pl()
            ));
        }
    };
    // `parse` accepted it, so it is UTF-8 (or pure ASCII under an ASCII-compatible label).
    let text = String::from_utf8(bytes)
        .map_err(|_| "Plik musi być zapisany w kodowaniu UTF-8.".to_string())?;
    Ok((text, context))
}

/// Issues the person certificate and signs. CPU-bound.
fn sign_for(
    ca: &Credential,
    checked: &Checked,
    lifetime: std::time::Duration,
) -> Result<String, SigningServiceError> {
    let lifetime = time::Duration::try_from(lifetime)
        .map_err(|e| SigningServiceError::Internal(format!("certificate lifetime: {e}")))?;
    let validity =
        Validity::from_now(lifetime).map_err(|e| SigningServiceError::Internal(e.to_string()))?;
    let subject =
        TestSubject::person_pesel(checked.pesel.clone(), &checked.given_name, &checked.surname);
    let person = issue_certificate(ca, &subject, KeyAlgorithm::EcP256, validity)
        .map_err(|e| SigningServiceError::Internal(format!("issuing the certificate: {e}")))?;
    sign_enveloped(&checked.document, &person, &SignOptions::default()).map_err(|e| match e {
        SignError::AlreadySigned => SigningServiceError::Invalid(vec![
            "Dokument jest już podpisany (zawiera element ds:Signature). Wybierz plik \
             niepodpisany."
                .into(),
        ]),
        SignError::NotWellFormed(m) => SigningServiceError::Invalid(vec![format!(
            "Plik nie jest poprawnym dokumentem XML: {m}"
        )]),
        e @ SignError::UnsafeAttributeWhitespace { .. } => {
            SigningServiceError::Invalid(vec![format!("Dokumentu nie można podpisać: {e}")])
        }
        other => SigningServiceError::Internal(other.to_string()),
    })
}

/// `<uploaded stem> (1).xml`, as a browser names a second download of the same file.
pub fn signed_file_name(uploaded: Option<&str>) -> String {
    let raw = uploaded.unwrap_or("");
    // Some browsers send a full path (`C:\fakepath\x.xml`): keep the last component.
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let base: String = base.chars().filter(|c| !c.is_control()).collect();
    let mut stem = base.trim();
    if stem.len() > 4
        && stem.is_char_boundary(stem.len() - 4)
        && stem[stem.len() - 4..].eq_ignore_ascii_case(".xml")
    {
        stem = stem[..stem.len() - 4].trim_end();
    }
    let stem: String = stem.chars().take(200).collect();
    let stem = if stem.is_empty() {
        "dokument".to_string()
    } else {
        stem
    };
    format!("{stem} (1).xml")
}

/// RFC 5987 `attr-char`s stay literal in `filename*`; everything else is percent-encoded.
const ATTR_CHAR_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `Content-Disposition: attachment` per RFC 6266: an ASCII `filename` and, for names that
/// are not plain ASCII, `filename*=UTF-8''…` (RFC 5987).
pub fn content_disposition(file_name: &str) -> String {
    let fallback: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if fallback == file_name {
        format!("attachment; filename=\"{fallback}\"")
    } else {
        format!(
            "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
            utf8_percent_encode(file_name, ATTR_CHAR_ESCAPES)
        )
    }
}

fn attachment(file_name: &str, xml: String) -> Response {
    let disposition = HeaderValue::from_str(&content_disposition(file_name))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment; filename=\"dokument (1).xml\""));
    let mut resp = Response::new(Body::from(xml));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml; charset=utf-8"),
    );
    h.insert(header::CONTENT_DISPOSITION, disposition);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

fn error_page(values: &FormValues, err: &SigningServiceError, offer_owner: bool) -> Response {
    html(
        err.status(),
        render_page(values, &err.messages(), offer_owner),
    )
}

fn render_page(values: &FormValues, errors: &[String], offer_owner: bool) -> String {
    let owner_block = if offer_owner {
        format!(
            "<label for=\"owner\" class=\"checkbox\"><input type=\"checkbox\" id=\"owner\" \
             name=\"owner\" value=\"1\"{checked}> {label}</label>\n\
             <p class=\"hint\">Emulator zapisze wtedy powiązanie NIP–PESEL (jak POST \
             /testdata/person w środowisku TEST), więc logowanie w kontekście tego NIP-u \
             odbędzie się z uprawnieniami właściciela.</p>\n",
            checked = if values.owner_checked() {
                " checked"
            } else {
                ""
            },
            label = escape(OWNER_LABEL),
        )
    } else {
        String::new()
    };
    let error_block = if errors.is_empty() {
        String::new()
    } else {
        let items: String = errors
            .iter()
            .map(|e| format!("<li>{}</li>", escape(e)))
            .collect();
        format!(
            "<div id=\"error\" role=\"alert\"><p>Nie podpisano dokumentu:</p><ul>{items}</ul></div>\n"
        )
    };
    format!(
        r#"<!DOCTYPE html>
<html lang="pl">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: sans-serif; max-width: 44rem; margin: 2rem auto; padding: 0 1rem; }}
#simulation-notice {{ border: 3px solid #b00; background: #fee; padding: .75rem 1rem; font-weight: bold; }}
#error {{ border: 2px solid #b00; padding: .5rem 1rem; margin: 1rem 0; color: #700; }}
label {{ display: block; margin-top: .75rem; }}
input {{ display: block; margin-top: .25rem; }}
label.checkbox input {{ display: inline; }}
.hint {{ font-size: .9em; color: #444; margin: .25rem 0 0; }}
button {{ margin-top: 1.25rem; padding: .5rem 1.5rem; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p id="simulation-notice">SYMULACJA — to nie jest rządowy serwis podpisu zaufanego i nie jest częścią API KSeF.
Emulator KSeF podpisuje tu dokument lokalną pieczęcią „{ca}” w imieniu osoby testowej. Taki podpis
uznaje wyłącznie emulator.</p>
<p>Wybierz niepodpisany plik żądania uwierzytelnienia (AuthTokenRequest) i podaj dane osoby testowej.
Podpisany plik zostanie pobrany jako „&lt;nazwa&gt; (1).xml”; wyślij go bez zmian do KSeF (emulatora).</p>
{error_block}<form id="sign-form" method="post" action="{path}" enctype="multipart/form-data">
<label for="document">Dokument do podpisania (XML)
<input type="file" id="document" name="document" accept=".xml,application/xml,text/xml" required></label>
<label for="pesel">PESEL
<input type="text" id="pesel" name="pesel" inputmode="numeric" pattern="[0-9]{{11}}" maxlength="11" autocomplete="off" required value="{pesel}"></label>
<label for="given_name">Imię
<input type="text" id="given_name" name="given_name" maxlength="{max}" required value="{given}"></label>
<label for="surname">Nazwisko
<input type="text" id="surname" name="surname" maxlength="{max}" required value="{surname}"></label>
{owner_block}<button type="submit" id="sign">Podpisz</button>
</form>
</body>
</html>
"#,
        title = escape(TITLE),
        ca = escape(CA_COMMON_NAME),
        path = PATH,
        pesel = escape(values.pesel.trim()),
        given = escape(values.given_name.trim()),
        surname = escape(values.surname.trim()),
        max = MAX_NAME_CHARS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        let n = |s: &str| signed_file_name(Some(s));
        assert_eq!(
            n("AuthTokenRequest_04-05-2026_10_11_12.xml"),
            "AuthTokenRequest_04-05-2026_10_11_12 (1).xml"
        );
        assert_eq!(n("C:\\fakepath\\wniosek.XML"), "wniosek (1).xml");
        assert_eq!(n("/tmp/a/b.xml"), "b (1).xml");
        assert_eq!(n("bez-rozszerzenia"), "bez-rozszerzenia (1).xml");
        assert_eq!(n(".xml"), ".xml (1).xml");
        assert_eq!(n(""), "dokument (1).xml");
        assert_eq!(signed_file_name(None), "dokument (1).xml");
        assert_eq!(n("żółw\u{7}.xml"), "żółw (1).xml");
        assert_eq!(n(&"a".repeat(500)).chars().count(), 200 + " (1).xml".len());
    }

    #[test]
    fn content_disposition_ascii_and_utf8() {
        assert_eq!(
            content_disposition("a b (1).xml"),
            "attachment; filename=\"a b (1).xml\""
        );
        assert_eq!(
            content_disposition("żądanie \"x\" (1).xml"),
            "attachment; filename=\"__danie _x_ (1).xml\"; \
             filename*=UTF-8''%C5%BC%C4%85danie%20%22x%22%20%281%29.xml"
        );
    }

    #[test]
    fn escaping() {
        let page = render_page(
            &FormValues {
                pesel: "\"><script>".into(),
                given_name: String::new(),
                surname: String::new(),
                owner: None,
            },
            &["<b>".into()],
            true,
        );
        assert!(!page.contains("<script>"));
        assert!(!page.contains("<b>"));
        assert!(page.contains("&lt;b&gt;"));
    }

    #[test]
    fn pesel_and_name_checks() {
        assert!(check_pesel("44051401359").is_ok());
        assert!(check_pesel("").unwrap_err().contains("Podaj"));
        assert!(check_pesel("4405140135").unwrap_err().contains("11 cyfr"));
        assert!(
            check_pesel("44051401358")
                .unwrap_err()
                .contains("kontrolna")
        );
        assert!(check_pesel("4405140135x").unwrap_err().contains("cyfry"));
        assert_eq!(check_name("  Jan ", "Imię").unwrap(), "Jan");
        assert!(check_name("   ", "Imię").is_err());
        assert!(check_name(&"ż".repeat(64), "Imię").is_ok());
        assert!(check_name(&"ż".repeat(65), "Imię").is_err());
        assert!(check_name("Ja\nn", "Imię").is_err());
    }
}
