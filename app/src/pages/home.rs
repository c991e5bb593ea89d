//! Overview: the signed-in account, what its role allows, the state of the installation, and how a backend
//! service connects.

use crate::components::feedback::LoadError;
use crate::domain::access::Role;
use crate::error::AppError;
use crate::pages::app::AuthContext;
use crate::pages::data::page_data;
use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Installation {
    pub database: String,
    pub migrations: usize,
    /// Counts for admins only: other roles cannot list users or keys.
    pub users: Option<usize>,
    pub active_api_keys: Option<usize>,
}

#[server(endpoint = "overview")]
pub async fn overview() -> Result<Installation, AppError> {
    crate::error::server_result(
        async {
            use crate::domain::access::Access;
            use crate::services;
            let (state, caller) = crate::pages::context::caller().await?;
            let migrations = state.db.check_migrations().await.map_err(AppError::Unavailable)?;
            let is_admin = caller.require(Access::Admin).is_ok();
            let (users, active_api_keys) = if is_admin {
                let users = services::users::list(&state.db, &caller).await?.len();
                let keys = services::api_keys::list(&state.db, &caller).await?;
                (Some(users), Some(keys.iter().filter(|k| k.revoked_at.is_none()).count()))
            } else {
                (None, None)
            };
            Ok(Installation { database: state.db.backend().as_str().into(), migrations, users, active_api_keys })
        }
        .await,
    )
}

fn role_summary(role: Role) -> &'static str {
    match role {
        Role::Viewer => "You can read results and the playbook.",
        Role::Editor => "You can design and run experiments and edit the signal library.",
        Role::Admin => "You can do everything, including managing users and API keys.",
    }
}

#[component]
pub fn HomePage() -> impl IntoView {
    let auth = AuthContext::expect();
    let overview = page_data(|| (), |_| overview());
    view! {
        <Title text="Overview" />
        <header class="page-header">
            <h1>"Overview"</h1>
            <p class="lead">"intentlab turns shoppers' micro-conversions into tested, trustworthy decisions."</p>
        </header>
        <div class="grid">
            <section class="card">
                <h2>"Your account"</h2>
                <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        auth.user.await.ok().flatten().map(|user| view! {
                            <p>"Signed in as " <strong>{user.email.clone()}</strong> "."</p>
                            <p>
                                <span class=format!("badge role-{}", user.role.as_str())>{user.role.label()}</span>
                                " " {role_summary(user.role)}
                            </p>
                        })
                    })}
                </Suspense>
            </section>
            <Suspense fallback=|| view! { <section class="card"><p class="muted">"Loading…"</p></section> }>
                {move || Suspend::new(async move {
                    match overview.await {
                        Ok(o) => view! { <InstallationCard overview=o /> }.into_any(),
                        Err(error) => view! { <LoadError error /> }.into_any(),
                    }
                })}
            </Suspense>
            <section class="card">
                <h2>"Connect a backend service"</h2>
                <p>"Services authenticate with an API key sent as a bearer token:"</p>
                <pre><code>"curl -H 'Authorization: Bearer il_…' \\\n  http://127.0.0.1:3000/api/v1/me"</code></pre>
                <p class="muted">"Admins create keys with scopes (assign, ingest, read, admin) under API keys."</p>
            </section>
        </div>
    }
}

#[component]
fn InstallationCard(overview: Installation) -> impl IntoView {
    view! {
        <section class="card" data-testid="installation">
            <h2>"Installation"</h2>
            <table class="data">
                <tbody>
                    <tr><th scope="row">"Database"</th><td>{overview.database}</td></tr>
                    <tr><th scope="row">"Migrations applied"</th><td class="num">{overview.migrations}</td></tr>
                    {overview.users.map(|n| view! {
                        <tr><th scope="row"><a href="/settings/users">"Users"</a></th><td class="num">{n}</td></tr>
                    })}
                    {overview.active_api_keys.map(|n| view! {
                        <tr><th scope="row"><a href="/settings/api-keys">"Active API keys"</a></th><td class="num">{n}</td></tr>
                    })}
                </tbody>
            </table>
        </section>
    }
}
