//! Every operation of the official `open-api.json` (78 in API 2.6.0) is served: called with the
//! owner's access token, dummy path parameters and an empty JSON body, each answers from its
//! own handler — never the router's "no such resource" 404 or a 405 — and never with a 5xx.
//! This guards the emulator's promise that any KSeF client works against it unchanged.

mod common;

use reqwest::Method;
use serde_json::{Value, json};

/// A plausible value for a path parameter (the handlers then refuse it with their own errors).
fn dummy(param: &str) -> &'static str {
    match param {
        "ksefNumber" => "5265877635-20250826-0100001AF629-AF",
        "permissionId" => "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "certificateSerialNumber" => "0123456789ABCDEF",
        _ => "20250625-SO-2C3E6C8000-B675CF5D68-07",
    }
}

#[tokio::test]
async fn every_openapi_operation_is_served() {
    let spec_path = ksef_testkit::spec_dir().join("ksef-docs/open-api.json");
    let spec: Value = serde_json::from_slice(&std::fs::read(&spec_path).unwrap()).unwrap();
    let mut ops: Vec<(Method, String)> = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            let m = match method.as_str() {
                "get" => Method::GET,
                "post" => Method::POST,
                "put" => Method::PUT,
                "delete" => Method::DELETE,
                "patch" => Method::PATCH,
                _ => continue,
            };
            ops.push((m, path.clone()));
        }
    }
    assert_eq!(
        ops.len(),
        78,
        "open-api.json changed: {} operations",
        ops.len()
    );
    // Calls that end the session or switch rate limiting on go last.
    ops.sort_by_key(|(m, p)| {
        (
            p.starts_with("/testdata/rate-limits")
                || (*m == Method::DELETE && p.starts_with("/auth/sessions")),
            p.clone(),
        )
    });

    let env = common::start_with_owner(|_| {}).await;
    // The control: a path the API does not have is recognised as unrouted.
    let a = env
        .client
        .call(
            Method::GET,
            "/invoices/nie-istnieje",
            Some(&env.access),
            None,
        )
        .await;
    assert_eq!(a.status.as_u16(), 404);
    assert!(a.body.to_string().contains("Nie ma zasobu"), "{}", a.body);
    let mut failures = Vec::new();
    for (method, path) in &ops {
        let concrete = path
            .split('/')
            .map(
                |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(param) => dummy(param).to_string(),
                    None => seg.to_string(),
                },
            )
            .collect::<Vec<_>>()
            .join("/");
        let body = matches!(*method, Method::POST | Method::PUT | Method::PATCH).then(|| json!({}));
        let a = env
            .client
            .call(method.clone(), &concrete, Some(&env.access), body)
            .await;
        let text = a.body.to_string();
        let unrouted = (a.status.as_u16() == 404 && text.contains("Nie ma zasobu"))
            || a.status.as_u16() == 405;
        if unrouted || a.status.is_server_error() {
            failures.push(format!("{method} {path} → {} {text}", a.status));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
