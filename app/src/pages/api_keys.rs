//! Settings → API keys: keys for backend services, created with scopes, shown once, revocable.

use crate::components::feedback::{ActionError, LoadError};
use crate::components::{format_optional_time, format_time};
use crate::domain::access::{format_scopes, Scope};
use crate::error::AppError;
use crate::model::{ApiKey, CreatedApiKey};
use crate::pages::data::page_data;
use leptos::prelude::*;
use leptos_meta::Title;

#[server(endpoint = "list_api_keys")]
pub async fn list_api_keys() -> Result<Vec<ApiKey>, AppError> {
    crate::error::server_result(
        async {
            let (state, caller) = crate::pages::context::caller().await?;
            crate::services::api_keys::list(&state.db, &caller).await
        }
        .await,
    )
}

/// One optional field per scope: a checked checkbox sends "on", an unchecked one sends nothing.
#[server(endpoint = "create_api_key")]
pub async fn create_api_key(
    name: String,
    scope_assign: Option<String>,
    scope_ingest: Option<String>,
    scope_read: Option<String>,
    scope_admin: Option<String>,
) -> Result<CreatedApiKey, AppError> {
    crate::error::server_result(
        async {
            let (state, caller) = crate::pages::context::caller().await?;
            let checked = [
                (Scope::Assign, scope_assign),
                (Scope::Ingest, scope_ingest),
                (Scope::Read, scope_read),
                (Scope::Admin, scope_admin),
            ];
            let scopes =
                checked.into_iter().filter(|(_, v)| v.is_some()).map(|(s, _)| s.as_str().to_string()).collect();
            let input = crate::model::NewApiKey { name, scopes };
            crate::services::api_keys::create(&state.db, &caller, input).await
        }
        .await,
    )
}

#[server(endpoint = "revoke_api_key")]
pub async fn revoke_api_key(id: i64) -> Result<ApiKey, AppError> {
    crate::error::server_result(
        async {
            let (state, caller) = crate::pages::context::caller().await?;
            crate::services::api_keys::revoke(&state, &caller, id).await
        }
        .await,
    )
}

#[component]
pub fn ApiKeysPage() -> impl IntoView {
    let create = ServerAction::<CreateApiKey>::new();
    let revoke = ServerAction::<RevokeApiKey>::new();
    let keys = page_data(move || (create.version().get(), revoke.version().get()), |_| list_api_keys());
    view! {
        <Title text="API keys" />
        <header class="page-header">
            <h1>"API keys"</h1>
            <p class="lead">"Backend services authenticate with 'Authorization: Bearer <key>'."</p>
        </header>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match keys.await {
                    Ok(list) => view! {
                        <CreateKeyForm create />
                        <section class="card">
                            <h2>"Keys"</h2>
                            <ActionError result=revoke.value() />
                            <KeyTable keys=list revoke />
                        </section>
                    }.into_any(),
                    Err(error) => view! { <LoadError error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn CreateKeyForm(create: ServerAction<CreateApiKey>) -> impl IntoView {
    view! {
        <section class="card">
            <h2>"Create a key"</h2>
            <ActionForm action=create attr:class="stack" attr:data-testid="create-key-form">
                <label>"Name" <input type="text" name="name" required maxlength="100" placeholder="checkout-service" /></label>
                <fieldset class="checkbox-group">
                    <legend>"Scopes"</legend>
                    {Scope::ALL.into_iter().map(|scope| view! {
                        <label class="checkbox">
                            <input type="checkbox" name=format!("scope_{}", scope.as_str()) />
                            <span><strong>{scope.as_str()}</strong> " — " {scope.description()}</span>
                        </label>
                    }).collect_view()}
                </fieldset>
                <div><button type="submit" class="primary">"Create key"</button></div>
            </ActionForm>
            <ActionError result=create.value() />
            {move || create.value().get().and_then(Result::ok).map(|created| view! {
                <div class="alert alert-success" role="status">
                    <p>{format!("Key '{}' created. Copy it now: it is shown only once.", created.key.name)}</p>
                    <div class="secret" data-testid="new-key-secret"><code>{created.secret}</code></div>
                </div>
            })}
        </section>
    }
}

#[component]
fn KeyTable(keys: Vec<ApiKey>, revoke: ServerAction<RevokeApiKey>) -> impl IntoView {
    if keys.is_empty() {
        return view! { <p class="empty">"No API keys yet."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="data" data-testid="keys-table">
                <thead>
                    <tr>
                        <th>"Name"</th><th>"Key"</th><th>"Scopes"</th><th>"Created"</th><th>"Last used"</th>
                        <th>"Status"</th><th></th>
                    </tr>
                </thead>
                <tbody>
                    {keys.into_iter().map(|key| {
                        let active = key.revoked_at.is_none();
                        view! {
                            <tr>
                                <td>{key.name.clone()}</td>
                                <td><code>{format!("{}…", key.prefix)}</code></td>
                                <td>{format_scopes(&key.scopes)}</td>
                                <td>{format_time(&key.created_at)}</td>
                                <td>{format_optional_time(&key.last_used_at, "never")}</td>
                                <td>
                                    {if active {
                                        view! { <span class="badge ok">"active"</span> }.into_any()
                                    } else {
                                        view! { <span class="badge neutral">{format!("revoked {}", format_optional_time(&key.revoked_at, ""))}</span> }.into_any()
                                    }}
                                </td>
                                <td>
                                    <Show when=move || active>
                                        <ActionForm action=revoke>
                                            <input type="hidden" name="id" value=key.id.to_string() />
                                            <button type="submit" class="danger">"Revoke"</button>
                                        </ActionForm>
                                    </Show>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }.into_any()
}
