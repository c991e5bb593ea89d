use app::model::NewUser;
use app::storage::Db;
use intentlab::config::Settings;
use intentlab::startup::Application;
use reqwest::{Client, Response};
use serde_json::Value;
use std::path::PathBuf;
use tokio::sync::oneshot;

pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub address: String,
    pub database_url: String,
    pub db: Db,
    /// A client that keeps cookies (a browser session) and does not follow redirects.
    pub client: Client,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// Holds the SQLite file; `stop` hands it over so a test can inspect the database afterwards.
    dir: Option<tempfile::TempDir>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The PostgreSQL server the suite runs against, if any.
pub fn postgres_server() -> Option<String> {
    std::env::var("TEST_DATABASE_URL").ok().filter(|url| !url.is_empty())
}

/// For tests that apply to one backend only: they are `#[ignore]`d with the reason (so every run lists them as
/// not run), the Makefile runs them where they apply (`-- --ignored sqlite_only` / `postgres_only`), and run
/// against the other backend they fail here rather than pass without testing anything.
pub fn require_backend(backend: &str) {
    let running = if postgres_server().is_some() { "postgres" } else { "sqlite" };
    assert_eq!(running, backend, "this test applies to {backend} only; the suite runs against {running}");
}

/// Another server on an existing database (several instances behind one load balancer).
pub async fn spawn_app_on(database_url: &str, dir: tempfile::TempDir) -> TestApp {
    spawn_app_configured(database_url, dir, |_| {}).await
}

/// A server with some settings changed from the tests' defaults.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = match postgres_server() {
        Some(server_url) => fresh_postgres_database(&server_url).await,
        None => format!("sqlite://{}", dir.path().join("test.db").display()),
    };
    spawn_app_configured(&database_url, dir, configure).await
}

async fn spawn_app_configured(
    database_url: &str,
    dir: tempfile::TempDir,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    // `RUST_LOG=debug cargo test --test api <name>` shows what the servers under test do.
    if std::env::var_os("RUST_LOG").is_some() {
        intentlab::config::init_tracing("warn");
    }
    let database_url = database_url.to_string();
    let mut settings = settings_for(&database_url, dir.path().join("site"));
    configure(&mut settings);
    let app = Application::build(settings).await.expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let db = app.state().db.clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    TestApp { address, database_url, db, client: new_client(), stop: Some(stop), server: Some(server), dir: Some(dir) }
}

pub fn settings_for(database_url: &str, site_root: PathBuf) -> Settings {
    Settings { db_max_connections: 5, ..Settings::in_process(database_url, &site_root.display().to_string()) }
}

/// Creates `intentlab_test_<uuid>` on the server TEST_DATABASE_URL points at, and returns its URL.
pub async fn fresh_postgres_database(server_url: &str) -> String {
    use sqlx::Connection;
    let name = format!("intentlab_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(server_url).await.expect("connect to TEST_DATABASE_URL");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
    conn.close().await.ok();
    let (base, _) = server_url.rsplit_once('/').expect("TEST_DATABASE_URL ends with /<database>");
    format!("{base}/{name}")
}

pub fn new_client() -> Client {
    // A server that stops answering fails the test in a minute instead of hanging the suite.
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn create_user(&self, email: &str, role: &str) {
        let input = NewUser { email: email.into(), password: PASSWORD.into(), role: role.into() };
        app::services::users::create_unchecked(&self.db, input).await.expect("user created");
    }

    /// A new client signed in as a new user with `role`.
    pub async fn signed_in(&self, role: &str) -> Client {
        let email = format!("{role}-{}@shop.example", uuid::Uuid::new_v4().simple());
        self.create_user(&email, role).await;
        let client = new_client();
        let response = self.login(&client, &email, PASSWORD).await;
        assert_eq!(response.status(), 200, "login as {role}");
        client
    }

    pub async fn login(&self, client: &Client, email: &str, password: &str) -> Response {
        client
            .post(self.url("/api/v1/auth/login"))
            .json(&serde_json::json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap()
    }

    /// A new API key with the given comma-separated scopes.
    pub async fn api_key(&self, scopes: &str) -> String {
        let input =
            app::model::NewApiKey { name: "test".into(), scopes: scopes.split(',').map(str::to_string).collect() };
        app::services::api_keys::create_unchecked(&self.db, input, None).await.expect("key created").secret
    }

    /// Stops the server the way SIGTERM does and waits for it to finish; the returned directory keeps a SQLite
    /// database on disk for as long as the caller holds it.
    pub async fn stop(mut self) -> Option<tempfile::TempDir> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server stopped cleanly");
        }
        self.dir.take()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Asserts the JSON error shape and returns the code.
pub async fn error_code(response: Response, status: u16) -> String {
    assert_eq!(response.status(), status, "status");
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
    assert_eq!(content_type.as_deref(), Some("application/json"), "errors are JSON");
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "error has a message: {body}");
    body["error"]["code"].as_str().expect("error.code").to_string()
}
