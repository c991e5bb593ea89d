use crate::helpers::{error_code, spawn_app};
use serde_json::{json, Value};

#[tokio::test]
async fn viewers_cannot_write() {
    let app = spawn_app().await;
    let viewer = app.signed_in("viewer").await;
    let response = viewer
        .post(app.url("/api/v1/users"))
        .json(&json!({ "email": "new@shop.example", "password": "long enough pw", "role": "admin" }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response, 403).await, "forbidden");
    let response = viewer
        .post(app.url("/api/v1/api-keys"))
        .json(&json!({ "name": "x", "scopes": ["read"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response, 403).await, "forbidden");
    let response = viewer.post(app.url("/api/v1/api-keys/1/revoke")).send().await.unwrap();
    assert_eq!(error_code(response, 403).await, "forbidden");
}

#[tokio::test]
async fn viewers_cannot_write_through_server_functions_either() {
    let app = spawn_app().await;
    let viewer = app.signed_in("viewer").await;
    let response = viewer
        .post(app.url("/api/create_api_key"))
        .form(&[("name", "sneaky"), ("scope_admin", "on")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let error: Value = response.json().await.unwrap();
    assert!(error.to_string().contains("needs the admin role"), "{error}");

    let response = viewer
        .post(app.url("/api/create_user"))
        .form(&[("email", "x@shop.example"), ("password", "long enough pw"), ("role", "admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);

    let anonymous = crate::helpers::new_client();
    let response = anonymous.post(app.url("/api/list_api_keys")).send().await.unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn editors_cannot_manage_users_or_keys() {
    let app = spawn_app().await;
    let editor = app.signed_in("editor").await;
    let response = editor.get(app.url("/api/v1/users")).send().await.unwrap();
    assert_eq!(error_code(response, 403).await, "forbidden");
    let response = editor.get(app.url("/api/v1/api-keys")).send().await.unwrap();
    assert_eq!(error_code(response, 403).await, "forbidden");
}

#[tokio::test]
async fn admins_create_users_who_can_then_sign_in() {
    let app = spawn_app().await;
    let admin = app.signed_in("admin").await;
    let response = admin
        .post(app.url("/api/v1/users"))
        .json(&json!({ "email": "Cleo@Shop.Example", "password": "a long password", "role": "editor" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["email"], "cleo@shop.example");
    assert_eq!(user["role"], "editor");
    assert!(user.get("password_hash").is_none());

    let cleo = crate::helpers::new_client();
    assert_eq!(app.login(&cleo, "cleo@shop.example", "a long password").await.status(), 200);

    let again = admin
        .post(app.url("/api/v1/users"))
        .json(&json!({ "email": "cleo@shop.example", "password": "a long password", "role": "viewer" }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(again, 409).await, "conflict");
}

#[tokio::test]
async fn user_input_is_validated() {
    let app = spawn_app().await;
    let admin = app.signed_in("admin").await;
    let cases = [
        json!({ "email": "not-an-email", "password": "a long password", "role": "editor" }),
        json!({ "email": "a@shop.example", "password": "short", "role": "editor" }),
        json!({ "email": "a@shop.example", "password": "a long password", "role": "owner" }),
    ];
    for body in cases {
        let response = admin.post(app.url("/api/v1/users")).json(&body).send().await.unwrap();
        assert_eq!(error_code(response, 400).await, "invalid_input", "{body}");
    }
}

#[tokio::test]
async fn role_changes_apply_to_the_next_request_and_admins_cannot_lock_themselves_out() {
    let app = spawn_app().await;
    let admin = app.signed_in("admin").await;
    let editor = app.signed_in("editor").await;
    let users: Value = admin.get(app.url("/api/v1/users")).send().await.unwrap().json().await.unwrap();
    let id_of =
        |role: &str| users.as_array().unwrap().iter().find(|u| u["role"] == role).unwrap()["id"].as_i64().unwrap();
    let (admin_id, editor_id) = (id_of("admin"), id_of("editor"));

    let response = admin
        .patch(app.url(&format!("/api/v1/users/{editor_id}")))
        .json(&json!({ "role": "admin" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(editor.get(app.url("/api/v1/users")).send().await.unwrap().status(), 200, "promoted at once");

    let response = admin
        .patch(app.url(&format!("/api/v1/users/{admin_id}")))
        .json(&json!({ "role": "viewer" }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response, 409).await, "conflict");

    let response = admin
        .patch(app.url(&format!("/api/v1/users/{admin_id}")))
        .json(&json!({ "role": "boss" }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response, 400).await, "invalid_input");
}

#[tokio::test]
async fn viewers_read_experiments_results_and_the_playbook_but_not_personal_data() {
    let app = spawn_app().await;
    let viewer = app.signed_in("viewer").await;
    for path in ["/api/v1/experiments", "/api/v1/playbook", "/api/v1/playbook/signals", "/api/v1/metrics"] {
        let response = viewer.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    for path in ["/api/v1/profiles?q=a", "/api/v1/signals", "/api/v1/ingest/stats", "/api/v1/settings"] {
        let response = viewer.get(app.url(path)).send().await.unwrap();
        assert_eq!(error_code(response, 403).await, "forbidden", "{path}");
    }
    let html = viewer.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("href=\"/playbook\"") && !html.contains("href=\"/profiles\""), "{html}");
    let editor = app.signed_in("editor").await;
    let response = editor.get(app.url("/api/v1/profiles?q=a")).send().await.unwrap();
    assert_eq!(response.status(), 200, "editors still read profiles");
}
