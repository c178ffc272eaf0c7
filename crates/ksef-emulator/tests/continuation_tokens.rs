//! Forged `x-continuation-token` headers on every header-paginated list (digest §2.2): offsets
//! beyond any real list, past `i64`/`u64` or not a number at all → 400/21418, never a first page
//! or a wrapped next token. Over real HTTP against an in-process emulator.

mod sessions_support;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::Value;
use sessions_support::*;

/// A token in the emulator's own format carrying `offset` verbatim.
fn forged(offset: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("ksef-emu:{offset}"))
}

async fn get_with_token(env: &Env, path: &str, token: &str) -> (StatusCode, Value) {
    let r = ksef_testkit::http_client()
        .get(format!("{}{path}", env.client.base_url()))
        .bearer_auth(&env.access)
        .header("x-continuation-token", token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path}: no answer ({e})"));
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn forged_offsets_are_malformed_tokens() {
    let env = start(|_| {}).await;
    let (session, _key) = open_online(&env, FA3).await;
    let lists = [
        "/auth/sessions".to_string(),
        "/tokens".to_string(),
        "/sessions?sessionType=Online".to_string(),
        format!("/sessions/{session}/invoices"),
        format!("/sessions/{session}/invoices/failed"),
    ];
    let offsets = [
        (1u128 << 63).to_string(),
        u64::MAX.to_string(),
        (u128::from(u64::MAX) + 1).to_string(),
        "9".repeat(60),
    ];
    let mut wrong = Vec::new();
    for path in &lists {
        // The lists work, and a token they issue is accepted.
        let (status, body) = get_with_token(&env, path, "").await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let (status, body) = get_with_token(&env, path, &forged("10")).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        for offset in &offsets {
            let (status, body) = get_with_token(&env, path, &forged(offset)).await;
            let code = &body["exception"]["exceptionDetailList"][0]["exceptionCode"];
            if status != StatusCode::BAD_REQUEST || *code != 21418 {
                wrong.push(format!("{path} @ {offset}: {status} {body}"));
            }
        }
    }
    assert!(wrong.is_empty(), "not 400/21418:\n{}", wrong.join("\n"));
}
