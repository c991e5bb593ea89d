use crate::helpers::{new_client, settings_for, spawn_app};
use intentlab::startup::Application;
use std::io::Write;
use std::process::{Command, Stdio};

/// Runs the intentlab binary on `database_url` and waits for it.
pub(crate) fn intentlab(database_url: &str, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_intentlab"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("INTENTLAB_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the intentlab binary");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn an_admin_created_on_the_command_line_can_sign_in() {
    let app = spawn_app().await;
    let output = intentlab(
        &app.database_url,
        &["admin", "create", "--email", "root@shop.example", "--password-stdin"],
        Some("a long admin password\n"),
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let client = new_client();
    let response = app.login(&client, "root@shop.example", "a long admin password").await;
    assert_eq!(response.status(), 200);
    let me: serde_json::Value = client.get(app.url("/api/v1/me")).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["role"], "admin");

    // A second admin with the same email is refused with a readable message and a failing exit code.
    let output = intentlab(
        &app.database_url,
        &["admin", "create", "--email", "root@shop.example", "--password", "another long password"],
        None,
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("already exists"));
}

#[tokio::test]
async fn the_command_line_refuses_weak_passwords() {
    let app = spawn_app().await;
    let output =
        intentlab(&app.database_url, &["admin", "create", "--email", "a@shop.example", "--password", "short"], None);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("at least 10 characters"));
}

#[tokio::test]
async fn an_api_key_created_on_the_command_line_is_printed_once_and_works() {
    let app = spawn_app().await;
    let output =
        intentlab(&app.database_url, &["api-key", "create", "--name", "checkout", "--scopes", "assign,read"], None);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let secret = String::from_utf8(output.stdout).unwrap().trim().to_string();
    assert!(secret.starts_with("il_"), "stdout holds only the key: {secret}");

    let response = app.client.get(app.url("/api/v1/me")).bearer_auth(&secret).send().await.unwrap();
    let me: serde_json::Value = response.json().await.unwrap();
    assert_eq!(me["scopes"], serde_json::json!(["assign", "read"]));

    let output = intentlab(&app.database_url, &["api-key", "create", "--name", "x", "--scopes", "everything"], None);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown scope"));
}

#[tokio::test]
async fn migrate_is_idempotent_and_the_server_starts_on_a_migrated_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("nested/dir/m.db").display());
    for _ in 0..2 {
        let output = intentlab(&url, &["migrate"], None);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    let app = Application::build(settings_for(&url, dir.path().join("site"))).await.unwrap();
    let migrations = app.state().db.check_migrations().await.unwrap();
    assert!(migrations >= 1);
}

#[tokio::test]
async fn a_bad_database_url_is_a_clear_error() {
    let output = intentlab("mysql://root:hunter2@localhost/db", &["migrate"], None);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unsupported DATABASE_URL"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "passwords are not printed: {stderr}");
}
