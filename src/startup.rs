//! Builds the application: database, state, router, listener. Tests build it on port 0 and ask for `port()`.

use crate::config::Settings;
use crate::{api, assets, cli, guards, jobs, layers};
use anyhow::Context;
use app::auth::caller::session_user;
use app::state::AppState;
use app::storage::sessions::SessionStore;
use app::{shell, App};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;
use leptos::config::{Env, LeptosOptions};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::future::Future;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, Session, SessionManagerLayer};

/// Request bodies above this are refused with 413 before they are read into memory.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let state = build_state(&settings).await?;
        let listener = TcpListener::bind(settings.addr).await.with_context(|| format!("binding {}", settings.addr))?;
        let router = router(state.clone(), &settings)?;
        Ok(Self { listener, router, state })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or_default()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, lets in-flight requests finish, stops the jobs, closes the database.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let stop_jobs = CancellationToken::new();
        let jobs = jobs::start(&self.state, stop_jobs.clone());
        tracing::info!(
            address = %self.listener.local_addr()?,
            database = self.state.db.backend().as_str(),
            "intentlab is serving"
        );
        // With each connection's peer address: whether it is a trusted proxy decides which headers to believe.
        let service = self.router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let served = axum::serve(self.listener, service).with_graceful_shutdown(shutdown).await;
        tracing::info!("stopping: requests drained, stopping jobs and closing the database");
        stop_jobs.cancel();
        jobs.join().await;
        self.state.db.close().await;
        served.context("HTTP server failed")
    }
}

/// The application state on a migrated, seeded database with the configuration loaded: what the server and the
/// demo loader work with.
pub async fn build_state(settings: &Settings) -> anyhow::Result<AppState> {
    let db = cli::open(settings).await?;
    let leptos_options = LeptosOptions::builder()
        .output_name("intentlab")
        .site_root(settings.site_root.as_str())
        .site_pkg_dir(assets::current_pkg_dir(&settings.site_root))
        .site_addr(settings.addr)
        .env(Env::PROD)
        .build();
    let mut state = AppState::new(leptos_options, db);
    state.sign_in_limits = app::auth::limits::SignInLimits::new(settings.sign_in_per_minute);
    state.session_max_age = chrono::Duration::milliseconds((settings.session_max_days * 86_400_000.0) as i64);
    if let Some(path) = settings.geoip_db.as_deref().filter(|p| !p.is_empty()) {
        state.geoip = Some(app::services::geoip::GeoIp::open(path).map_err(anyhow::Error::msg)?);
    }
    app::services::signals::seed_starter_library(&state.db).await.context("seeding the signal library")?;
    app::services::metrics::seed_starter_metrics(&state.db).await.context("seeding the metric library")?;
    app::services::reload_configuration(&state).await.context("loading the configuration")?;
    Ok(state)
}

fn router(state: AppState, settings: &Settings) -> anyhow::Result<Router> {
    let site = guards::Site::new(settings.public_url.as_deref(), settings.trusted_proxies.clone())
        .map_err(anyhow::Error::msg)?;
    let sessions = SessionManagerLayer::new(SessionStore::new(state.db.clone()))
        .with_name("intentlab_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(settings.secure_cookies())
        .with_expiry(Expiry::OnInactivity(tower_sessions::cookie::time::Duration::days(settings.session_idle_days)));

    let leptos_context = {
        let state = state.clone();
        move || provide_context(state.clone())
    };
    let render_app = {
        let options = state.leptos_options.clone();
        move || shell(options.clone())
    };

    Ok(health_endpoints()
        .router()
        .nest("/api/v1", api::router())
        .nest("/ofrep/v1", api::ofrep::router())
        .nest("/v1", api::segment::router())
        .leptos_routes_with_context(&state, page_routes(), leptos_context, render_app)
        // Anything else under /api is an unknown endpoint, answered in JSON rather than with an HTML page.
        .route("/api/{*rest}", axum::routing::any(api::unknown_endpoint))
        .nest_service("/pkg", assets::pkg_router(&settings.site_root))
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(middleware::from_fn_with_state(state.clone(), require_sign_in))
        .layer(middleware::from_fn(assets::pages_not_cached))
        .layer(middleware::from_fn_with_state(site.clone(), guards::refuse_cross_site))
        .layer(middleware::from_fn_with_state(site.clone(), guards::identify_client))
        .layer(sessions)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(layers::catch_panics())
        .layer(middleware::from_fn_with_state(site, guards::security_headers))
        .layer(layers::trace())
        .layer(middleware::from_fn(layers::request_id))
        .with_state(state))
}

fn health_endpoints() -> api::endpoints::Endpoints {
    api::endpoints::Endpoints::new("").get("/healthz", api::health::healthz).get("/readyz", api::health::readyz)
}

/// Every endpoint the server answers besides the pages and the server functions, as (method, path): the
/// probes, the REST API, OFREP and the tracking API. What the access-table and OpenAPI tests check.
pub fn endpoints() -> Vec<(axum::http::Method, String)> {
    [health_endpoints(), api::endpoints(), api::ofrep::endpoints(), api::segment::endpoints()]
        .iter()
        .flat_map(api::endpoints::Endpoints::list)
        .collect()
}

/// The pages' paths, in axum's syntax (`/experiments/{key}`).
pub fn page_paths() -> Vec<String> {
    page_routes().iter().map(|route| route.path().to_string()).collect()
}

/// The page routes, listed once per process. Listing them renders the app with resource loading switched off
/// through a process-wide flag (`leptos_server::SuppressResourceLoad`), so listing them again while another
/// server in the same process renders pages (the test suites build many) would leave that page's resources
/// unloaded and its response stream open forever.
fn page_routes() -> Vec<leptos_axum::AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// Page requests from people who are not signed in go to the login page (and back afterwards); the login page
/// sends signed-in people home. APIs, server functions and assets answer for themselves.
async fn require_sign_in(State(state): State<AppState>, session: Session, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let is_page = request.method() == Method::GET
        && !path.starts_with("/api/")
        && !path.starts_with("/pkg/")
        && !path.starts_with("/ofrep/")
        && !path.starts_with("/v1/")
        // Share links are read without an account: the token in the path is the permission.
        && !path.starts_with("/share/")
        && !matches!(path, "/healthz" | "/readyz")
        && !path.rsplit('/').next().unwrap_or_default().contains('.');
    if !is_page {
        return next.run(request).await;
    }
    let signed_in = match session_user(&state, &session).await {
        Ok(user) => user.is_some(),
        Err(err) => return err.into_response(),
    };
    match (path == "/login", signed_in) {
        (true, true) => Redirect::to("/").into_response(),
        (false, false) => {
            let wanted = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let next: String = form_urlencoded::byte_serialize(wanted.as_bytes()).collect();
            Redirect::to(&format!("/login?next={next}")).into_response()
        }
        _ => next.run(request).await,
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (service managers, containers).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received");
}
