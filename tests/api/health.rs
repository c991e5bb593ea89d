use crate::helpers::spawn_app;
use serde_json::Value;

#[tokio::test]
async fn healthz_reports_the_process_alive() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readyz_reports_the_database_and_migrations() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    let expected = if app.database_url.starts_with("postgres") { "postgres" } else { "sqlite" };
    assert_eq!(body["database"], expected);
    assert!(body["migrations"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn readyz_fails_when_the_database_is_gone() {
    let app = spawn_app().await;
    app.db.close().await;
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    let code = crate::helpers::error_code(response, 503).await;
    assert_eq!(code, "service_unavailable");
    // The process itself is still alive.
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn shuts_down_cleanly() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    app.stop().await;
}
