//! Generuj token KSeF (Nadaj uprawnienia KSeF, the token shown once on its own page, Zapisz)
//! and Tokeny KSeF (list with holders, Usuń). Both need a certificate or Profil Zaufany
//! session; a token session is refused (the seed).

use axum::Extension;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use ksef_core::{TokenPermission, warsaw};
use ksef_program::{StoredSession, tokens, users};

use super::ksef_login::login_page;
use super::{lock_or_return, see_other, session_of};
use crate::forms::Fields;
use crate::pages::*;
use crate::state::{Notice, SessionHandle, Shared, SharedState, WebSession};

/// The seed: a token session cannot generate tokens.
const REFUSE_GENERATE: &str = "Sesja z tokenem nie może generować kolejnych tokenów („podtokenów”). \
     W celu wygenerowania tokenu należy nawiązać sesję KSeF z logowaniem certyfikatem lub Profilem Zaufanym.";
/// The seed: a token session cannot browse tokens.
const REFUSE_BROWSE: &str = "Sesja z tokenem nie pozwala na przeglądanie tokenów ani generowanie tokenów. \
     Do opcji Tokeny KSeF można wejść rozpoczynając sesję z logowaniem certyfikatem lub Profilem Zaufanym.";
/// The seed: Tokeny KSeF needs CredentialsRead or CredentialsManage.
const REFUSE_NO_CREDENTIALS: &str = "Brak uprawnień do odczytu lub zarządzania uprawnieniami KSeF \
     (CredentialsRead lub CredentialsManage) — nie można otworzyć okna Tokeny KSeF.";
const SESSION_GONE: &str = "Brak aktywnej sesji KSeF (lub wygasła) — zaloguj się ponownie.";

fn permission_boxes(s: &StoredSession, checked: &[&str]) -> Vec<PermissionBox> {
    tokens::offered_permissions(s)
        .into_iter()
        .map(|o| PermissionBox {
            name: o.permission.as_str(),
            label: permission_label(o.permission.as_str()),
            held: o.held,
            checked: o.held && checked.contains(&o.permission.as_str()),
        })
        .collect()
}

async fn refusal_page(
    sh: &Shared,
    ws: &mut WebSession,
    heading: &str,
    section: &'static str,
    path: &str,
    message: &str,
    token_session: bool,
) -> Response {
    let l = layout(sh, ws, heading, section, path).await;
    render_status(
        StatusCode::FORBIDDEN,
        &RefusalPage {
            l,
            heading: heading.into(),
            message: message.into(),
            show_close_hint: token_session,
        },
    )
}

async fn grant_page(
    sh: &Shared,
    ws: &mut WebSession,
    s: &StoredSession,
    description: String,
    checked: &[&str],
    status: StatusCode,
) -> Response {
    let for_users = save_targets(sh, ws).await;
    let me = ws.user.name().to_string();
    let l = layout(sh, ws, "Nadaj uprawnienia KSeF", "generate", "/generuj").await;
    render_status(
        status,
        &GrantPage {
            l,
            description,
            context: context_label(&s.session.context),
            permissions: permission_boxes(s, checked),
            me,
            for_users,
        },
    )
}

pub async fn generate_page(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    match session_of(&mut ws).await {
        None => login_page(&sh, &mut ws, "/generuj", StatusCode::OK).await,
        Some(s) if s.session.is_token_session() => {
            refusal_page(
                &sh,
                &mut ws,
                "Generuj token KSeF",
                "generate",
                "/generuj",
                REFUSE_GENERATE,
                true,
            )
            .await
        }
        Some(s) => grant_page(&sh, &mut ws, &s, String::new(), &[], StatusCode::OK).await,
    }
}

pub async fn generate_submit(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Form(f): Form<Fields>,
) -> Response {
    let mut ws = lock_or_return!(sh, h, csrf = f.get("csrf"));
    let Some(s) = session_of(&mut ws).await else {
        ws.error = Some(SESSION_GONE.into());
        return see_other("/generuj");
    };
    if s.session.is_token_session() {
        return refusal_page(
            &sh,
            &mut ws,
            "Generuj token KSeF",
            "generate",
            "/generuj",
            REFUSE_GENERATE,
            true,
        )
        .await;
    }
    let description = f.text("description");
    let chosen = f.all("permission");
    let len = description.chars().count();
    let mut problem = None;
    if !(5..=256).contains(&len) {
        problem = Some(format!(
            "Nazwa (opis) tokenu musi mieć od 5 do 256 znaków (ma {len})."
        ));
    }
    let mut perms = Vec::new();
    for p in &chosen {
        match p.parse::<TokenPermission>() {
            Ok(p) => perms.push(p),
            Err(_) => problem = Some(format!("Nieznane uprawnienie „{p}”.")),
        }
    }
    if problem.is_none() && perms.is_empty() {
        problem = Some("Zaznacz co najmniej jedno uprawnienie.".into());
    }
    if problem.is_none() {
        let not_held: Vec<&str> = tokens::offered_permissions(&s)
            .into_iter()
            .filter(|o| !o.held && perms.contains(&o.permission))
            .map(|o| o.permission.as_str())
            .collect();
        if !not_held.is_empty() {
            problem = Some(format!(
                "Nie można nadać tokenowi uprawnień których nie posiadasz: {}.",
                not_held.join(", ")
            ));
        }
    }
    if let Some(m) = problem {
        ws.error = Some(m.into());
        return grant_page(
            &sh,
            &mut ws,
            &s,
            description,
            &chosen,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    match tokens::generate(&mut ws.app, &perms, &description, None).await {
        Ok(g) => {
            // Post/redirect/get: the token waits under a one-time id; F5 or Back on its page
            // shows it again, never mints another.
            let id = ws.keep_generated(g.reference_number, g.token);
            see_other(&format!("/generuj/token/{id}"))
        }
        Err(e) => {
            ws.error = Some(Notice::from(&e));
            grant_page(
                &sh,
                &mut ws,
                &s,
                description,
                &chosen,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

/// Users an administrator may save a generated token on (those who can log in); none for
/// other users, who save on themselves.
async fn save_targets(sh: &Shared, ws: &WebSession) -> Vec<String> {
    if !ws.user.is_admin() {
        return Vec::new();
    }
    sh.store
        .list_users()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|u| u.has_password)
        .map(|u| u.name)
        .collect()
}

/// The generated token's page (`/generuj/token/{id}`): shown until saved or expired.
pub async fn token_page(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Path(id): Path<String>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    token_result(&sh, &mut ws, &id, StatusCode::OK).await
}

async fn token_result(sh: &Shared, ws: &mut WebSession, id: &str, status: StatusCode) -> Response {
    let Some(g) = ws.generated(id) else {
        ws.error = Some(
            "Tego tokenu nie można już wyświetlić: token jest pokazywany tylko do zapisania (Zapisz) \
             lub przez 15 minut. Wygeneruj nowy albo wklej zachowany token w Użytkownicy › Edytuj, \
             pole „Token KSeF”."
                .into(),
        );
        return see_other("/generuj");
    };
    let reference = g.reference.clone();
    let token = ksef_crypto::Zeroizing::new(g.token.as_str().to_string());
    let for_users = save_targets(sh, ws).await;
    let me = ws.user.name().to_string();
    let l = layout(sh, ws, "Token KSeF", "generate", "/generuj").await;
    let mut page = TokenResultPage {
        l,
        id: id.to_string(),
        reference,
        token: token.as_str().to_string(),
        me,
        for_users,
    };
    let resp = render_status(status, &page);
    // The page held the token in clear; overwrite our copy.
    drop(ksef_crypto::Zeroizing::new(std::mem::take(&mut page.token)));
    resp
}

/// Zapisz: saves exactly the token of this page's id on the logged-in user (an administrator
/// may choose another user; the token is sealed to that user and unreadable to others).
pub async fn token_save(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Path(id): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    let mut ws = lock_or_return!(sh, h, csrf = f.get("csrf"));
    let Some(g) = ws.generated(&id) else {
        return token_result(&sh, &mut ws, &id, StatusCode::GONE).await;
    };
    let reference = g.reference.clone();
    let token = ksef_crypto::Zeroizing::new(g.token.as_str().to_string());
    let for_user = Some(f.text("for_user"))
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| ws.user.name().to_string());
    match users::save_token(&sh.store, &ws.user, &for_user, &token).await {
        Ok(_) => {
            ws.generated.remove(&id);
            let _ = users::record_token_status(&sh.store, &reference, "Active").await;
            ws.flash = Some(format!(
                "Token KSeF {reference} zapisany dla użytkownika „{for_user}”. Token nie będzie już pokazywany."
            ));
            see_other("/generuj")
        }
        Err(e) => {
            ws.error = Some(Notice::from(&e));
            token_result(&sh, &mut ws, &id, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

const STATUS_FILTER: [(&str, &str); 6] = [
    ("", "Wszystkie"),
    ("Pending", "Oczekujący"),
    ("Active", "Aktywny"),
    ("Revoking", "W trakcie unieważniania"),
    ("Revoked", "Unieważniony"),
    ("Failed", "Błędny"),
];

pub async fn tokens_page(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Query(q): Query<Fields>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    let Some(s) = session_of(&mut ws).await else {
        return login_page(&sh, &mut ws, "/tokeny", StatusCode::OK).await;
    };
    if s.session.is_token_session() {
        return refusal_page(
            &sh,
            &mut ws,
            "Tokeny KSeF",
            "tokens",
            "/tokeny",
            REFUSE_BROWSE,
            true,
        )
        .await;
    }
    if !tokens::can_browse(&s) {
        return refusal_page(
            &sh,
            &mut ws,
            "Tokeny KSeF",
            "tokens",
            "/tokeny",
            REFUSE_NO_CREDENTIALS,
            false,
        )
        .await;
    }
    let status = q.text("status");
    let status = STATUS_FILTER
        .iter()
        .find(|(v, _)| *v == status)
        .map(|(v, _)| v.to_string())
        .unwrap_or_default();
    let filter: Vec<String> = if status.is_empty() {
        vec![]
    } else {
        vec![status.clone()]
    };
    let can_revoke = tokens::can_revoke(&s);
    let listed = tokens::list(&mut ws.app, &filter).await;
    let holders = users::holders(&sh.store.list_users().await.unwrap_or_default());
    let rows = match listed {
        Ok(list) => list
            .into_iter()
            .map(|t| TokenRow {
                revocable: matches!(t.status.as_str(), "Active" | "Pending"),
                holders: holders
                    .get(&t.reference_number)
                    .map(|h| h.join(", "))
                    .unwrap_or_else(|| "—".into()),
                reference: t.reference_number,
                description: t.description,
                author: format!(
                    "{} {}",
                    kind_label(t.author_identifier.r#type.as_str()),
                    t.author_identifier.value
                ),
                permissions: t
                    .requested_permissions
                    .iter()
                    .map(|p| match permission_label(p.as_str()) {
                        "" => p.as_str().to_string(),
                        label => label.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                status_code: t.status.as_str().to_string(),
                status: token_status_label(t.status.as_str()).to_string(),
                created: warsaw::format_datetime(t.date_created),
                last_use: t
                    .last_use_date
                    .map(warsaw::format_datetime)
                    .unwrap_or_else(|| "—".into()),
            })
            .collect(),
        Err(e) => {
            ws.error = Some(Notice::from(&e));
            Vec::new()
        }
    };
    let l = layout(&sh, &mut ws, "Tokeny KSeF", "tokens", "/tokeny").await;
    render(&TokensPage {
        l,
        statuses: STATUS_FILTER.to_vec(),
        status,
        tokens: rows,
        can_revoke,
    })
}

pub async fn token_revoke(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Path(reference): Path<String>,
    Form(f): Form<Fields>,
) -> Response {
    let mut ws = lock_or_return!(sh, h, csrf = f.get("csrf"));
    let Some(s) = session_of(&mut ws).await else {
        ws.error = Some(SESSION_GONE.into());
        return see_other("/tokeny");
    };
    if s.session.is_token_session() {
        ws.error = Some(REFUSE_BROWSE.into());
    } else if !tokens::can_revoke(&s) {
        ws.error = Some(
            "Usuwanie tokenów jest możliwe jedynie dla użytkowników, którzy mają w KSeF uprawnienie \
             zarządzania uprawnieniami (CredentialsManage)."
                .into(),
        );
    } else {
        match tokens::revoke(&mut ws.app, &reference).await {
            Ok(()) => ws.flash = Some(format!("Token {reference} został usunięty (unieważniony).")),
            Err(e) => ws.error = Some(Notice::from(&e)),
        }
    }
    see_other("/tokeny")
}
