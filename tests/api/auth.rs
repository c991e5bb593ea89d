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
