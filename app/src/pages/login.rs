//! Sign in and out. Both server functions call the same service as `POST /api/v1/auth/login` and `/logout`.

use crate::components::feedback::ActionError;
use crate::error::AppError;
use crate::pages::app::AuthContext;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[server(endpoint = "sign_in")]
pub async fn sign_in(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    crate::error::server_result(
        async {
            use crate::pages::context;
            let state = context::state()?;
            crate::services::auth::login(&state, &context::session()?, context::client()?, &email, &password).await?;
            leptos_axum::redirect(&local_path_or_home(next.as_deref()));
            Ok(())
        }
        .await,
    )
}

#[server(endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    crate::error::server_result(
        async {
            crate::services::auth::logout(&crate::pages::context::session()?).await?;
            leptos_axum::redirect("/login");
            Ok(())
        }
        .await,
    )
}

/// Where to go after sign-in: only a path on intentlab itself. `next` is read the way a browser would read it
/// as a link (WHATWG URL parsing: tabs and newlines dropped, backslashes as slashes), so `/\t/evil.example` or
/// `/\\evil.example`, which a browser turns into `//evil.example`, cannot make the login page an open redirect.
#[cfg(feature = "ssr")]
pub fn local_path_or_home(next: Option<&str>) -> String {
    let base = url::Url::parse("http://intentlab.invalid/").ok();
    let target = next.filter(|n| n.starts_with('/')).zip(base.as_ref()).and_then(|(next, base)| base.join(next).ok());
    match target {
        Some(url) if base.is_some_and(|base| url.origin() == base.origin()) => {
            let mut path = url.path().to_string();
            if let Some(query) = url.query() {
                path.push('?');
                path.push_str(query);
            }
            path
        }
        _ => "/".to_string(),
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let auth = AuthContext::expect();
    let query = use_query_map();
    let next = move || query.with(|q| q.get("next").unwrap_or_default());
    let pending = auth.sign_in.pending();
    view! {
        <Title text="Sign in" />
        <div class="auth-page">
            <section class="card auth-card">
                <h1>"intentlab"</h1>
                <p class="muted">"Sign in to design tests and read what your shoppers' signals say."</p>
                <ActionForm action=auth.sign_in attr:class="stack" attr:data-testid="login-form">
                    <label>
                        "Email"
                        <input type="email" name="email" required autocomplete="username" autofocus />
                    </label>
                    <label>
                        "Password"
                        <input type="password" name="password" required autocomplete="current-password" />
                    </label>
                    <input type="hidden" name="next" prop:value=next />
                    <button type="submit" class="primary" disabled=pending>
                        {move || if pending.get() { "Signing in…" } else { "Sign in" }}
                    </button>
                </ActionForm>
                <ActionError result=auth.sign_in.value() />
            </section>
        </div>
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::local_path_or_home;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path_or_home(Some("/settings/users")), "/settings/users");
        assert_eq!(local_path_or_home(Some("/experiments?status=running")), "/experiments?status=running");
        assert_eq!(local_path_or_home(Some("/a/../settings")), "/settings");
        for bad in [
            None,
            Some(""),
            Some("https://evil.example"),
            Some("//evil.example"),
            Some("/\\evil.example"),
            Some("/\t/evil.example"),
            Some("/\n/evil.example"),
            Some("\t//evil.example"),
            Some("javascript:alert(1)"),
            Some("/%09/evil.example/../"),
        ] {
            let path = local_path_or_home(bad);
            assert!(path == "/" || !path.contains("evil"), "{bad:?} gave {path}");
        }
    }
}
