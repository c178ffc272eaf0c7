mod common;
use ksef_client::*;
#[tokio::test]
async fn show() {
    let emu = common::emulator().await;
    let co = common::company();
    let c = KsefClient::new(&emu.emulator.base_url()).unwrap();
    let s = c
        .login_with_credential(
            &co.seal,
            &co.context,
            SubjectIdentifierType::CertificateSubject,
        )
        .await
        .unwrap();
    eprintln!("{s:?}");
    let a = s.access_token.expose_secret();
    let bad = TokenQuery {
        page_size: Some(5),
        description: Some("ab".into()),
        ..Default::default()
    };
    eprintln!("{}", c.list_tokens(a, &bad, None).await.unwrap_err());
    eprintln!(
        "{}",
        c.clone()
            .with_problem_details(true)
            .list_tokens(a, &bad, None)
            .await
            .unwrap_err()
    );
    eprintln!("{}", c.list_tokens("x", &bad, None).await.unwrap_err());
    eprintln!(
        "{}",
        c.login_with_ksef_token("abc|def|ghi", &co.context)
            .await
            .unwrap_err()
    );
    eprintln!(
        "{:?}",
        c.token_status(a, "20251010-EC-1DCE3E3000-12ECB5B36E-45")
            .await
            .unwrap_err()
    );
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    eprintln!(
        "{}",
        KsefClient::new(&format!("http://{addr}/v2"))
            .unwrap()
            .challenge()
            .await
            .unwrap_err()
    );
    eprintln!(
        "{}",
        KsefClient::new("https://nonexistent.invalid/v2")
            .unwrap()
            .challenge()
            .await
            .unwrap_err()
    );
}
