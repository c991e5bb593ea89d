//! The top bar: brand, the sections the signed-in user can use, and the account menu.

use crate::domain::access::Role;
use crate::model::User;
use crate::pages::app::AuthContext;
use leptos::prelude::*;
use leptos_router::components::A;

#[component]
pub fn TopBar(user: User) -> impl IntoView {
    let auth = AuthContext::expect();
    let is_admin = user.role == Role::Admin;
    // Viewers (stakeholders) read experiments, results and the playbook; the rest is for editors.
    let is_editor = user.role >= Role::Editor;
    let role_class = format!("badge role-{}", user.role.as_str());
    view! {
        <header class="topbar">
            <a class="brand" href="/">"intentlab"</a>
            <nav class="nav" aria-label="Main">
                <A href="/" exact=true>"Overview"</A>
                <A href="/experiments">"Experiments"</A>
                <A href="/playbook">"Playbook"</A>
                <Show when=move || is_editor>
                    <A href="/signals">"Signals"</A>
                    <A href="/metrics">"Metrics"</A>
                    <A href="/profiles">"Profiles"</A>
                </Show>
                <A href="/calculator">"Calculator"</A>
                <Show when=move || is_admin>
                    <A href="/settings/users">"Users"</A>
                    <A href="/settings/api-keys">"API keys"</A>
                    <A href="/settings" exact=true>"Settings"</A>
                </Show>
            </nav>
            <div class="user-menu">
                <span class="user-email">{user.email.clone()}</span>
                <span class=role_class>{user.role.label()}</span>
                <ActionForm action=auth.logout>
                    <button type="submit" class="link-button" data-testid="logout">"Log out"</button>
                </ActionForm>
            </div>
        </header>
    }
}
