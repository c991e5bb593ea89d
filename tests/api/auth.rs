use crate::helpers::{error_code, new_client, spawn_app, PASSWORD};
use serde_json::Value;

#[tokio::test]
async fn me_without_credentials_is_401() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(error_code(response, 401).await, "unauthenticated");
}

#[tokio::test]
async fn login_starts_a_session_that_me_reports_and_logout_ends() {
    let app = spawn_app().await;
    app.create_user("Ana@Shop.Example", "editor").await;

    let response = app.login(&app.client, " ana@shop.example ", PASSWORD).await;
    assert_eq!(response.status(), 200);
    let cookie = response.headers().get("set-cookie").expect("session cookie").to_str().unwrap().to_string();
    assert!(cookie.starts_with("intentlab_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http: no Secure flag ({cookie})");

    let me: Value = app.client.get(app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["kind"], "user");
    assert_eq!(me["email"], "ana@shop.example");
    assert_eq!(me["role"], "editor");

    let response = app.client.post(app.url("/api/v1/auth/logout")).send().await.unwrap();
    assert_eq!(response.status(), 204);
    let response = app.client.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(error_code(response, 401).await, "unauthenticated");
}

#[tokio::test]
async fn the_session_id_changes_at_login() {
    let app = spawn_app().await;
    app.create_user("ana@shop.example", "viewer").await;
    let first = app.login(&app.client, "ana@shop.example", PASSWORD).await;
    let second = app.login(&app.client, "ana@shop.example", PASSWORD).await;
    let id = |r: &reqwest::Response| {
        r.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_string()
    };
    assert_ne!(id(&first), id(&second), "signing in again must not keep the old session id");
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_401() {
    let app = spawn_app().await;
    app.create_user("ana@shop.example", "viewer").await;
    let wrong = app.login(&app.client, "ana@shop.example", "not the password").await;
    assert_eq!(error_code(wrong, 401).await, "invalid_credentials");
    let unknown = app.login(&app.client, "nobody@shop.example", PASSWORD).await;
    assert_eq!(error_code(unknown, 401).await, "invalid_credentials");
}

#[tokio::test]
async fn disabled_users_cannot_sign_in_and_lose_their_session() {
    let app = spawn_app().await;
    let admin = app.signed_in("admin").await;
    app.create_user("ana@shop.example", "editor").await;
    let ana = new_client();
    assert_eq!(app.login(&ana, "ana@shop.example", PASSWORD).await.status(), 200);

    let users: Value = admin.get(app.url("/api/v1/users")).send().await.unwrap().json().await.unwrap();
    let id =
        users.as_array().unwrap().iter().find(|u| u["email"] == "ana@shop.example").unwrap()["id"].as_i64().unwrap();
    let response = admin
        .patch(app.url(&format!("/api/v1/users/{id}")))
        .json(&serde_json::json!({ "disabled": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let response = ana.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(error_code(response, 401).await, "unauthenticated");
    let response = app.login(&new_client(), "ana@shop.example", PASSWORD).await;
    assert_eq!(error_code(response, 401).await, "invalid_credentials");
}

#[tokio::test]
async fn repeated_failures_are_throttled_with_retry_after() {
    let app = spawn_app().await;
    app.create_user("ana@shop.example", "viewer").await;
    for attempt in 1..=5 {
        let response = app.login(&app.client, "ana@shop.example", "guess").await;
        assert_eq!(response.status(), 401, "attempt {attempt}");
    }
    let response = app.login(&app.client, "ana@shop.example", "guess").await;
    let retry_after: u64 =
        response.headers().get("retry-after").expect("Retry-After").to_str().unwrap().parse().unwrap();
    assert!((1..=15 * 60).contains(&retry_after), "{retry_after}");
    assert_eq!(error_code(response, 429).await, "too_many_requests");

    // Even the right password waits: otherwise throttling would only slow guessing down, not stop it.
    let response = app.login(&app.client, "ana@shop.example", PASSWORD).await;
    assert_eq!(error_code(response, 429).await, "too_many_requests");

    // Other accounts are not affected.
    app.create_user("ben@shop.example", "viewer").await;
    assert_eq!(app.login(&new_client(), "ben@shop.example", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn unknown_emails_are_throttled_too() {
    let app = spawn_app().await;
    for _ in 0..5 {
        app.login(&app.client, "nobody@shop.example", "guess").await;
    }
    let response = app.login(&app.client, "nobody@shop.example", "guess").await;
    assert_eq!(error_code(response, 429).await, "too_many_requests");
}

/// Sign-in as seen through a trusted proxy, from the client address `client`.
async fn login_from(app: &crate::helpers::TestApp, client: &str, email: &str, password: &str) -> reqwest::Response {
    new_client()
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", client)
        .json(&serde_json::json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
}

fn behind_a_proxy(settings: &mut intentlab::config::Settings) {
    settings.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
}

#[tokio::test]
async fn someone_elses_failures_do_not_lock_the_owner_out() {
    let app = crate::helpers::spawn_app_with(behind_a_proxy).await;
    app.create_user("admin@shop.example", "admin").await;
    for _ in 0..5 {
        assert_eq!(login_from(&app, "203.0.113.66", "admin@shop.example", "guess").await.status(), 401);
    }
    let attacker = login_from(&app, "203.0.113.66", "admin@shop.example", PASSWORD).await;
    assert_eq!(error_code(attacker, 429).await, "too_many_requests", "the guessing address is stopped");
    let owner = login_from(&app, "198.51.100.10", "admin@shop.example", PASSWORD).await;
    assert_eq!(owner.status(), 200, "the owner, from another address, signs in");
}

#[tokio::test]
async fn concurrent_attempts_cannot_slip_past_the_limit_together() {
    let app = crate::helpers::spawn_app_with(behind_a_proxy).await;
    app.create_user("target@shop.example", "admin").await;
    let attempts = (0..15).map(|_| login_from(&app, "203.0.113.7", "target@shop.example", "guess"));
    let statuses: Vec<u16> =
        futures_util::future::join_all(attempts).await.iter().map(|r| r.status().as_u16()).collect();
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert!(checked <= 5, "{checked} passwords checked in one burst: {statuses:?}");
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
}

#[tokio::test]
async fn one_address_trying_many_accounts_is_stopped() {
    let app = crate::helpers::spawn_app_with(|s| {
        behind_a_proxy(s);
        s.sign_in_per_minute = 1000;
    })
    .await;
    for i in 0..30 {
        let response = login_from(&app, "203.0.113.8", &format!("staff{i}@shop.example"), "Summer2026!").await;
        assert_eq!(response.status(), 401, "account {i}");
    }
    let response = login_from(&app, "203.0.113.8", "staff30@shop.example", "Summer2026!").await;
    assert_eq!(error_code(response, 429).await, "too_many_requests");
    app.create_user("someone@shop.example", "viewer").await;
    assert_eq!(login_from(&app, "198.51.100.11", "someone@shop.example", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn an_address_is_limited_in_how_fast_it_tries_whatever_the_outcome() {
    let app = crate::helpers::spawn_app_with(|s| {
        behind_a_proxy(s);
        s.sign_in_per_minute = 3;
    })
    .await;
    app.create_user("fast@shop.example", "viewer").await;
    for _ in 0..3 {
        assert_eq!(login_from(&app, "203.0.113.9", "fast@shop.example", PASSWORD).await.status(), 200);
    }
    let response = login_from(&app, "203.0.113.9", "fast@shop.example", PASSWORD).await;
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(error_code(response, 429).await, "too_many_requests");
    assert_eq!(login_from(&app, "198.51.100.12", "fast@shop.example", PASSWORD).await.status(), 200);
}
