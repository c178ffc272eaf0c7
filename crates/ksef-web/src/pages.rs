//! The templates (askama, auto-escaped) and the layout every page shares.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use ksef_client::Environment;
use ksef_core::warsaw;
use ksef_program::StoredSession;

use crate::state::{Notice, Shared, WebSession, internal_error};

/// What the layout shows (menu, logged-in user, KSeF session banner, messages).
pub struct Layout {
    pub title: String,
    pub section: &'static str,
    pub csrf: String,
    pub path: String,
    /// The logged-in program user.
    pub user: String,
    /// The firms (key, "name — NIP …", current) for the header's switch.
    pub firms: Vec<(String, String, bool)>,
    /// Whether a current firm is chosen (else the switch shows a placeholder).
    pub firm_chosen: bool,
    pub is_admin: bool,
    pub ksef: Option<Banner>,
    pub flash: Option<String>,
    pub error: Option<Notice>,
    pub env_label: String,
    pub base_url: String,
}

/// The KSeF session banner.
pub struct Banner {
    pub context: String,
    pub method: String,
    pub token_session: bool,
    pub via_user: Option<String>,
    pub subject: Option<String>,
    /// When the access token expires (the program refreshes it while the session lasts).
    pub access_until: String,
    /// When the session can no longer be refreshed.
    pub refresh_until: String,
}

impl Banner {
    pub fn of(s: &StoredSession) -> Self {
        Self {
            context: context_label(&s.session.context),
            method: method_label(s.session.authentication_method.as_deref()),
            token_session: s.session.is_token_session(),
            via_user: s.via_user.clone(),
            // The authenticated subject, when it says more than the context (e.g. a PESEL).
            subject: s
                .subject
                .as_deref()
                .map(subject_label)
                .filter(|subject| *subject != context_label(&s.session.context)),
            access_until: warsaw::format_datetime(s.session.access_valid_until),
            refresh_until: warsaw::format_datetime(s.session.refresh_valid_until),
        }
    }
}

/// A context identifier for people: `NIP 5265877635`, `Identyfikator wewnętrzny …`.
pub fn context_label(c: &ksef_core::ContextIdentifier) -> String {
    format!("{} {}", kind_label(&c.kind().to_string()), c.value())
}

/// The Polish name of an identifier type (`Nip` → `NIP`, `Pesel` → `PESEL`).
pub fn kind_label(kind: &str) -> String {
    match kind {
        "Nip" | "nip" => "NIP".into(),
        "Pesel" | "pesel" => "PESEL".into(),
        "InternalId" | "internalid" => "identyfikator wewnętrzny".into(),
        "NipVatUe" | "nipvatue" => "NIP VAT UE".into(),
        "Fingerprint" | "fingerprint" => "odcisk certyfikatu".into(),
        "PeppolId" | "peppolid" => "identyfikator Peppol".into(),
        other => other.to_string(),
    }
}

/// A firm key for people: `Nip:5265877635` → `NIP 5265877635`.
pub fn firm_label(firm: &str) -> String {
    subject_label(firm)
}

/// `Nip:5265877635` → `NIP 5265877635`.
fn subject_label(s: &str) -> String {
    match s.split_once(':') {
        Some((k, v)) => format!("{} {v}", kind_label(k)),
        None => s.to_string(),
    }
}

fn method_label(m: Option<&str>) -> String {
    match m {
        Some("Token") => "token KSeF".into(),
        Some("TrustedProfile") => "Profil Zaufany".into(),
        Some("QualifiedSignature") | Some("PersonalSignature") => "podpis (certyfikat)".into(),
        Some("QualifiedSeal") => "pieczęć (certyfikat)".into(),
        Some("InternalCertificate") => "certyfikat KSeF".into(),
        Some(other) => other.to_string(),
        None => "?".into(),
    }
}

/// The Polish name of a KSeF token status.
pub fn token_status_label(status: &str) -> &'static str {
    match status {
        "Pending" => "Oczekujący",
        "Active" => "Aktywny",
        "Revoking" => "W trakcie unieważniania",
        "Revoked" => "Unieważniony",
        "Failed" => "Błędny",
        _ => "Nieznany",
    }
}

/// Display name of an environment.
pub fn env_label(env: Environment, embedded: bool) -> String {
    match env {
        Environment::Local if embedded => "Lokalny emulator (offline)".into(),
        Environment::Local => "Lokalny emulator".into(),
        Environment::Test => "TEST".into(),
        Environment::Demo => "DEMO".into(),
        Environment::Prod => "PRD".into(),
    }
}

/// Builds the layout; takes the pending messages (shown once).
pub async fn layout(
    sh: &Shared,
    ws: &mut WebSession,
    title: &str,
    section: &'static str,
    path: &str,
) -> Layout {
    let ksef = ws
        .app
        .current_session()
        .await
        .ok()
        .flatten()
        .map(|s| Banner::of(&s));
    let env = sh.environment().await;
    let firms: Vec<(String, String, bool)> = sh
        .store
        .list_firms()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|f| {
            let current = ws.firm.as_deref() == Some(f.context.as_str());
            // A firm still named after its context value shows as "NIP …" only.
            let label = if f.context.ends_with(&format!(":{}", f.name)) {
                firm_label(&f.context)
            } else {
                format!("{} — {}", f.name, firm_label(&f.context))
            };
            (f.context, label, current)
        })
        .collect();
    let firm_chosen = firms.iter().any(|(_, _, current)| *current);
    Layout {
        firm_chosen,
        firms,
        title: title.to_string(),
        section,
        csrf: ws.csrf().to_string(),
        path: path.to_string(),
        user: ws.user.name().to_string(),
        is_admin: ws.user.is_admin(),
        ksef,
        flash: ws.flash.take(),
        error: ws.error.take(),
        env_label: env_label(env, sh.emulator.is_some()),
        base_url: ws.app.settings.base_url.clone(),
    }
}

/// Renders a template (200).
pub fn render<T: Template>(t: &T) -> Response {
    render_status(StatusCode::OK, t)
}

/// Renders a template with a status.
pub fn render_status<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!("template error: {e}");
            internal_error("Nie można wyświetlić strony (błąd szablonu).")
        }
    }
}

#[derive(Template)]
#[template(path = "program_login.html")]
pub struct ProgramLoginPage {
    pub title: String,
    pub csrf: String,
    pub name: String,
    pub flash: Option<String>,
    pub error: Option<Notice>,
}

#[derive(Template)]
#[template(path = "setup.html")]
pub struct SetupPage {
    pub title: String,
    pub csrf: String,
    pub name: String,
    pub min_chars: usize,
    pub flash: Option<String>,
    pub error: Option<Notice>,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub l: Layout,
    pub heading: String,
    pub intro: String,
    pub return_to: String,
    pub nip: String,
    pub max_upload: String,
}

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub l: Layout,
    /// The current firm for people (`NIP 5265877635`), if one is chosen.
    pub firm: Option<String>,
    pub has_token: bool,
    pub token_usable: bool,
    /// The own token's last known KSeF status (Polish), if a token is saved.
    pub token_status: Option<String>,
    pub has_session: bool,
    /// Offer "Utwórz certyfikat testowy" (local and TEST environments).
    pub test_certificates: bool,
    pub nip: String,
}

#[derive(Template)]
#[template(path = "pz_step2.html")]
pub struct PzStep2Page {
    pub l: Layout,
    pub file_name: String,
    pub signed_hint: String,
    pub signing_url: String,
    pub signing_label: String,
    pub deadline_ms: i64,
    pub deadline: String,
    pub time_left: String,
}

#[derive(Template)]
#[template(path = "refusal.html")]
pub struct RefusalPage {
    pub l: Layout,
    pub heading: String,
    pub message: String,
    pub show_close_hint: bool,
}

/// One checkbox of "Nadaj uprawnienia KSeF".
pub struct PermissionBox {
    pub name: &'static str,
    pub label: &'static str,
    pub held: bool,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "grant.html")]
pub struct GrantPage {
    pub l: Layout,
    pub description: String,
    pub context: String,
    pub permissions: Vec<PermissionBox>,
    /// The logged-in user (the token is saved on them by default).
    pub me: String,
    /// Users an administrator may save the token on (empty for other users).
    pub for_users: Vec<String>,
}

#[derive(Template)]
#[template(path = "token_result.html")]
pub struct TokenResultPage {
    pub l: Layout,
    /// The page's one-time id (Zapisz saves exactly this token).
    pub id: String,
    pub reference: String,
    pub token: String,
    pub me: String,
    pub for_users: Vec<String>,
}

/// One row of the tokens table.
pub struct TokenRow {
    pub reference: String,
    pub description: String,
    pub author: String,
    pub permissions: String,
    /// KSeF's status code (`Active`, …) and its Polish label.
    pub status_code: String,
    pub status: String,
    pub created: String,
    pub last_use: String,
    pub revocable: bool,
    /// Program users holding this token ("—" if none).
    pub holders: String,
}

#[derive(Template)]
#[template(path = "tokens.html")]
pub struct TokensPage {
    pub l: Layout,
    /// (value, label).
    pub statuses: Vec<(&'static str, &'static str)>,
    pub status: String,
    pub tokens: Vec<TokenRow>,
    pub can_revoke: bool,
}

/// One row of the users table.
#[derive(Clone)]
pub struct UserRow {
    pub name: String,
    pub path: String,
    /// The user's tokens, one per firm.
    pub tokens: Vec<TokenCell>,
    pub is_admin: bool,
    pub has_password: bool,
    pub locked_until: Option<String>,
}

/// One token of a user, as the users screens show it.
#[derive(Clone)]
pub struct TokenCell {
    pub firm: String,
    pub firm_label: String,
    pub masked: String,
    pub status_code: String,
    pub status: String,
    pub usable: bool,
}

#[derive(Template)]
#[template(path = "users.html")]
pub struct UsersPage {
    pub l: Layout,
    pub users: Vec<UserRow>,
    pub min_chars: usize,
}

#[derive(Template)]
#[template(path = "user_edit.html")]
pub struct UserEditPage {
    pub l: Layout,
    pub name: String,
    pub path: String,
    pub placeholder: String,
    /// The page is the logged-in user's own.
    pub own: bool,
    /// The logged-in user is an administrator.
    pub admin: bool,
    /// The own token may be checked (held and not known to be revoked).
    pub can_check: bool,
    pub user: UserRow,
    pub check: Option<ksef_program::tokens::TokenCheck>,
    pub min_chars: usize,
}

#[derive(Template)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    pub l: Layout,
    pub environments: Vec<(&'static str, String)>,
    pub current: &'static str,
    pub base_url: String,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub l: Layout,
    pub heading: String,
    pub back: String,
}

/// Polish label of a token permission.
pub fn permission_label(p: &str) -> &'static str {
    match p {
        "InvoiceRead" => "przeglądanie faktur",
        "InvoiceWrite" => "wystawianie faktur",
        "CredentialsRead" => "odczyt uprawnień",
        "CredentialsManage" => "zarządzanie uprawnieniami",
        "SubunitManage" => "zarządzanie jednostkami podrzędnymi",
        "EnforcementOperations" => "operacje egzekucyjne",
        "Introspection" => "przeglądanie historii sesji (introspekcja)",
        _ => "",
    }
}

#[derive(Template)]
#[template(path = "purchases.html")]
pub struct PurchasesPage {
    pub l: Layout,
    pub firm: Option<String>,
    pub filter: crate::handlers::PurchaseFilter,
    pub rows: Vec<crate::handlers::PurchaseRow>,
    pub totals: Vec<crate::handlers::TotalRow>,
    pub total: u64,
    pub page: u32,
    pub pages: u32,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub sync_running: bool,
}

#[derive(Template)]
#[template(path = "purchases_sync.html")]
pub struct PurchasesSyncPage {
    pub l: Layout,
    pub firm: Option<String>,
    /// `none`, `running`, `done`, `failed`.
    pub state: &'static str,
    pub text: String,
    pub started: Option<String>,
    pub finished: Option<String>,
}

#[derive(Template)]
#[template(path = "invoice.html")]
pub struct InvoicePage {
    pub l: Layout,
    pub id: i64,
    pub number: String,
    pub ksef_number: Option<String>,
    pub issue_date: String,
    pub seller: String,
    pub gross: String,
    pub has_upo: bool,
    /// The ksef-visual fragment (trusted: askama-escaped by ksef-visual), without its styles.
    pub fragment: Option<String>,
    pub view_error: Option<String>,
    pub back: String,
    /// Issued offline: the mode and the sending deadline (and whether it has passed).
    pub offline: Option<OfflineNote>,
}

/// What the invoice page says about an invoice issued offline.
pub struct OfflineNote {
    /// The mode's Polish name.
    pub mode: String,
    /// DD.MM.RRRR.
    pub deadline: String,
    /// Not sent yet.
    pub pending: bool,
    pub overdue: bool,
}

#[derive(Template)]
#[template(path = "sessions.html")]
pub struct SessionsPage {
    pub l: Layout,
    pub firm: Option<String>,
    pub loaded: bool,
    pub rows: Vec<crate::handlers::SessionRow>,
}
