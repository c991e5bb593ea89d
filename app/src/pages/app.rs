//! The application root: HTML shell, routes, the signed-in user, and the layout with its navigation.

use crate::components::nav::TopBar;
use crate::error::AppError;
use crate::model::User;
use crate::pages::api_keys::ApiKeysPage;
use crate::pages::calculator::{CalculatorPage, PlannerPage};
use crate::pages::experiment_form::{EditExperimentPage, NewExperimentPage};
use crate::pages::experiments::{ExperimentPage, ExperimentsPage};
use crate::pages::home::HomePage;
use crate::pages::login::{LoginPage, Logout, SignIn};
use crate::pages::metrics::MetricsPage;
use crate::pages::not_found::NotFound;
use crate::pages::playbook::{PlaybookEntryPage, PlaybookPage, ShareLinksPage, SharedPage, SignalLeaderboardPage};
use crate::pages::profiles::{ProfilePage, ProfilesPage};
use crate::pages::results::ResultsPage;
use crate::pages::settings::SettingsPage;
use crate::pages::signals::{NewSignalPage, SignalPage, SignalsPage};
use crate::pages::users::UsersPage;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Outlet, ParentRoute, Redirect, Route, Router, Routes};
use leptos_router::path;

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The signed-in user, refetched whenever someone signs in or out.
#[derive(Clone, Copy)]
pub struct AuthContext {
    pub sign_in: ServerAction<SignIn>,
    pub logout: ServerAction<Logout>,
    pub user: Resource<Result<Option<User>, AppError>>,
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
    let user = Resource::new(move || (sign_in.version().get(), logout.version().get()), |_| current_user());
    provide_context(AuthContext { sign_in, logout, user });

    // Lets end-to-end tests (and people reading the DOM) know the page is interactive.
    Effect::new(|| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

    view! {
        <Stylesheet id="leptos" href="/pkg/intentlab.css" />
        <Title formatter=|page: String| if page.is_empty() { "intentlab".to_string() } else { format!("{page} · intentlab") } />
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/login") view=LoginPage />
                <Route path=path!("/share/:token") view=SharedPage />
                <ParentRoute path=path!("") view=Layout>
                    <Route path=path!("") view=HomePage />
                    <Route path=path!("experiments") view=ExperimentsPage />
                    <Route path=path!("experiments/new") view=NewExperimentPage />
                    <Route path=path!("experiments/:key") view=ExperimentPage />
                    <Route path=path!("experiments/:key/edit") view=EditExperimentPage />
                    <Route path=path!("experiments/:key/results") view=ResultsPage />
                    <Route path=path!("playbook") view=PlaybookPage />
                    <Route path=path!("playbook/signals") view=SignalLeaderboardPage />
                    <Route path=path!("playbook/shares") view=ShareLinksPage />
                    <Route path=path!("playbook/:id") view=PlaybookEntryPage />
                    <Route path=path!("signals") view=SignalsPage />
                    <Route path=path!("signals/new") view=NewSignalPage />
                    <Route path=path!("signals/:key") view=SignalPage />
                    <Route path=path!("metrics") view=MetricsPage />
                    <Route path=path!("profiles") view=ProfilesPage />
                    <Route path=path!("profiles/:id") view=ProfilePage />
                    <Route path=path!("calculator") view=CalculatorPage />
                    <Route path=path!("planner") view=PlannerPage />
                    <Route path=path!("settings") view=SettingsPage />
                    <Route path=path!("settings/users") view=UsersPage />
                    <Route path=path!("settings/api-keys") view=ApiKeysPage />
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
