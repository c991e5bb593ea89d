use crate::helpers::{error_code, spawn_app};

#[tokio::test]
async fn malformed_json_is_400_with_the_json_error_shape() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response, 400).await, "malformed_json");

    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{\"email\": 42}")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response, 400).await, "malformed_json");
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "text/plain")
        .body("{\"email\":\"a@b.c\",\"password\":\"x\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response, 415).await, "unsupported_media_type");
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let app = spawn_app().await;
    let huge = format!("{{\"email\":\"{}\",\"password\":\"x\"}}", "a".repeat(intentlab::startup::MAX_BODY_BYTES + 1));
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response, 413).await, "payload_too_large");
}

#[tokio::test]
async fn unknown_api_routes_are_json_404() {
    let app = spawn_app().await;
    for path in ["/api/v1/nope", "/api/v2/me", "/api/nothing/here"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(error_code(response, 404).await, "not_found", "{path}");
    }
}

#[tokio::test]
async fn wrong_methods_are_json_405() {
    let app = spawn_app().await;
    let response = app.client.delete(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(error_code(response, 405).await, "method_not_allowed");
}

#[tokio::test]
async fn bad_path_parameters_are_400() {
    let app = spawn_app().await;
    let admin = app.signed_in("admin").await;
    let response = admin.post(app.url("/api/v1/api-keys/abc/revoke")).send().await.unwrap();
    assert_eq!(error_code(response, 400).await, "invalid_input");
}

#[tokio::test]
async fn malformed_query_strings_are_400_with_the_json_error_shape() {
    let app = spawn_app().await;
    // An editor: someone who may read these, so that the query is what gets checked (a viewer gets 403 first).
    let viewer = app.signed_in("editor").await;
    for path in [
        "/api/v1/profiles/someone/events?limit=many",
        "/api/v1/signals/x/volume?days=-",
        "/api/v1/ingest/stats?hours=lots",
    ] {
        let response = viewer.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 400, "{path}");
        let body: serde_json::Value = response.json().await.expect("a JSON error body");
        assert_eq!(body["error"]["code"], "invalid_input", "{path}: {body}");
    }
}
