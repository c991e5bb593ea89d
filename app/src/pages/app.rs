//! The application root: HTML shell, routes, the signed-in user, and the layout with its navigation.

use crate::components::nav::TopBar;
use crate::error::AppError;
use crate::model::User;
use crate::pages::data::{page_data, PageData};
use crate::pages::login::{Logout, SignIn};
use crate::pages::not_found::NotFound;
use crate::pages::routes::*;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::components::{Outlet, ParentRoute, Redirect, Route, Router, Routes};
use leptos_router::path;
use leptos_router::Lazy;

/// The HTML document around the app, rendered on the server only. The bundle's files live in a directory named
/// by the build's content hash (`site_pkg_dir`, e.g. `pkg/3f1c…`), so the browser may cache them forever.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let stylesheet = format!("/{}/intentlab.css", options.site_pkg_dir);
    #[cfg(feature = "ssr")]
    content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <link rel="stylesheet" href=stylesheet />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The page's Content-Security-Policy: scripts only from intentlab and the inline ones Leptos writes with this
/// response's nonce, WebAssembly compiled from what was fetched (`wasm-unsafe-eval`), no inline styles, no
/// plugins, no framing, forms posting back to intentlab only.
#[cfg(feature = "ssr")]
fn content_security_policy() {
    use axum::http::{header::CONTENT_SECURITY_POLICY, HeaderValue};
    let (Some(nonce), Some(response)) = (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>())
    else {
        return;
    };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'",
        nonce.as_inner()
    );
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response.insert_header(CONTENT_SECURITY_POLICY, value);
    }
}

/// The signed-in user, refetched whenever someone signs in or out.
#[derive(Clone, Copy)]
pub struct AuthContext {
    pub sign_in: ServerAction<SignIn>,
    pub logout: ServerAction<Logout>,
    pub user: PageData<Result<Option<User>, AppError>>,
}

impl AuthContext {
    pub fn expect() -> Self {
        expect_context::<AuthContext>()
    }
}

#[server(endpoint = "current_user")]
pub async fn current_user() -> Result<Option<User>, AppError> {
    crate::error::server_result(
        async {
            use crate::pages::context;
            let state = context::state()?;
            crate::auth::caller::session_user(&state, &context::session()?).await
        }
        .await,
    )
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let sign_in = ServerAction::<SignIn>::new();
    let logout = ServerAction::<Logout>::new();
    let user = page_data(move || (sign_in.version().get(), logout.version().get()), |_| current_user());
    provide_context(AuthContext { sign_in, logout, user });

    view! {
        <Title formatter=|page: String| if page.is_empty() { "intentlab".to_string() } else { format!("{page} · intentlab") } />
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/login") view={Lazy::<LoginRoute>::new()} />
                <Route path=path!("/share/:token") view={Lazy::<SharedRoute>::new()} />
                <ParentRoute path=path!("") view=Layout>
                    <Route path=path!("") view={Lazy::<HomeRoute>::new()} />
                    <Route path=path!("experiments") view={Lazy::<ExperimentsRoute>::new()} />
                    <Route path=path!("experiments/new") view={Lazy::<NewExperimentRoute>::new()} />
                    <Route path=path!("experiments/:key") view={Lazy::<ExperimentRoute>::new()} />
                    <Route path=path!("experiments/:key/edit") view={Lazy::<EditExperimentRoute>::new()} />
                    <Route path=path!("experiments/:key/results") view={Lazy::<ResultsRoute>::new()} />
                    <Route path=path!("playbook") view={Lazy::<PlaybookRoute>::new()} />
                    <Route path=path!("playbook/signals") view={Lazy::<SignalLeaderboardRoute>::new()} />
                    <Route path=path!("playbook/shares") view={Lazy::<ShareLinksRoute>::new()} />
                    <Route path=path!("playbook/:id") view={Lazy::<PlaybookEntryRoute>::new()} />
                    <Route path=path!("signals") view={Lazy::<SignalsRoute>::new()} />
                    <Route path=path!("signals/new") view={Lazy::<NewSignalRoute>::new()} />
                    <Route path=path!("signals/:key") view={Lazy::<SignalRoute>::new()} />
                    <Route path=path!("metrics") view={Lazy::<MetricsRoute>::new()} />
                    <Route path=path!("profiles") view={Lazy::<ProfilesRoute>::new()} />
                    <Route path=path!("profiles/:id") view={Lazy::<ProfileRoute>::new()} />
                    <Route path=path!("calculator") view={Lazy::<CalculatorRoute>::new()} />
                    <Route path=path!("planner") view={Lazy::<PlannerRoute>::new()} />
                    <Route path=path!("settings") view={Lazy::<SettingsRoute>::new()} />
                    <Route path=path!("settings/users") view={Lazy::<UsersRoute>::new()} />
                    <Route path=path!("settings/api-keys") view={Lazy::<ApiKeysRoute>::new()} />
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// Pages behind sign-in. The server redirects anonymous page requests to /login before rendering (see
/// `startup`); this covers sessions that end while the page is open.
#[component]
fn Layout() -> impl IntoView {
    let auth = AuthContext::expect();
    view! {
        <div class="shell">
            <Transition fallback=|| view! { <header class="topbar"></header> }>
                {move || Suspend::new(async move {
                    match auth.user.await {
                        Ok(Some(user)) => view! { <TopBar user /> }.into_any(),
                        _ => view! { <Redirect path="/login" /> }.into_any(),
                    }
                })}
            </Transition>
            <main class="content">
                <Outlet />
            </main>
            <footer class="footer">"intentlab · micro-conversions, tested"</footer>
        </div>
    }
}
