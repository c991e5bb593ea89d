use crate::helpers::{error_code, spawn_app};
use serde_json::{json, Value};

#[tokio::test]
async fn a_key_identifies_itself_on_me() {
    let app = spawn_app().await;
    let key = app.api_key("assign,ingest").await;
    let response = app.client.get(app.url("/api/v1/me")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["kind"], "api_key");
    assert_eq!(me["name"], "test");
    assert_eq!(me["scopes"], json!(["assign", "ingest"]));
}

#[tokio::test]
async fn unknown_and_malformed_keys_are_401() {
    let app = spawn_app().await;
    for header in ["Bearer il_0000", "Bearer nonsense", "Basic YWxhZGRpbjpvcGVuc2VzYW1l"] {
        let response = app.client.get(app.url("/api/v1/me")).header("authorization", header).send().await.unwrap();
        assert_eq!(error_code(response, 401).await, "invalid_credentials", "{header}");
    }
}

#[tokio::test]
async fn a_key_without_the_needed_scope_is_403() {
    let app = spawn_app().await;
    let key = app.api_key("read,assign").await;
    let response = app
        .client
        .post(app.url("/api/v1/api-keys"))
        .bearer_auth(&key)
        .json(&json!({ "name": "x", "scopes": ["read"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response, 403).await, "forbidden");
}

#[tokio::test]
async fn admins_create_list_and_revoke_keys_and_the_secret_is_shown_once() {
    let app = spawn_app().await;
    let admin = app.signed_in("admin").await;
    let response = admin
        .post(app.url("/api/v1/api-keys"))
        .json(&json!({ "name": "checkout-service", "scopes": ["assign", "ingest"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("il_") && secret.len() >= 67, "{secret}");
    let id = created["key"]["id"].as_i64().unwrap();

    let list: Value = admin.get(app.url("/api/v1/api-keys")).send().await.unwrap().json().await.unwrap();
    assert!(!list.to_string().contains(&secret[3..]), "the list never contains secrets");
    assert_eq!(list[0]["name"], "checkout-service");
    assert_eq!(list[0]["last_used_at"], Value::Null);

    // Using the key records when it was last used (off the request path, so within a moment).
    let response = app.client.get(app.url("/api/v1/me")).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut list = Value::Null;
    for _ in 0..50 {
        list = admin.get(app.url("/api/v1/api-keys")).send().await.unwrap().json().await.unwrap();
        if list[0]["last_used_at"].is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(list[0]["last_used_at"].is_string(), "{list}");

    let response = admin.post(app.url(&format!("/api/v1/api-keys/{id}/revoke"))).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let response = app.client.get(app.url("/api/v1/me")).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(error_code(response, 401).await, "invalid_credentials");
}

#[tokio::test]
async fn keys_need_a_name_and_known_scopes() {
    let app = spawn_app().await;
    let admin = app.signed_in("admin").await;
    for body in [
        json!({ "name": " ", "scopes": ["read"] }),
        json!({ "name": "x", "scopes": [] }),
        json!({ "name": "x", "scopes": ["write"] }),
    ] {
        let response = admin.post(app.url("/api/v1/api-keys")).json(&body).send().await.unwrap();
        assert_eq!(error_code(response, 400).await, "invalid_input", "{body}");
    }
}

#[tokio::test]
async fn revoking_an_unknown_key_is_404() {
    let app = spawn_app().await;
    let admin = app.signed_in("admin").await;
    let response = admin.post(app.url("/api/v1/api-keys/9999/revoke")).send().await.unwrap();
    assert_eq!(error_code(response, 404).await, "not_found");
}
