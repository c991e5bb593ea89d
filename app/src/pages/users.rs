//! Settings → Users: admins create accounts, set roles, and disable or re-enable people.

use crate::components::feedback::{ActionError, LoadError};
use crate::components::format_time;
use crate::domain::access::Role;
use crate::error::AppError;
use crate::model::User;
use crate::pages::data::page_data;
use leptos::prelude::*;
use leptos_meta::Title;

#[server(endpoint = "list_users")]
pub async fn list_users() -> Result<Vec<User>, AppError> {
    crate::error::server_result(
        async {
            let (state, caller) = crate::pages::context::caller().await?;
            crate::services::users::list(&state.db, &caller).await
        }
        .await,
    )
}

#[server(endpoint = "create_user")]
pub async fn create_user(email: String, password: String, role: String) -> Result<User, AppError> {
    crate::error::server_result(
        async {
            let (state, caller) = crate::pages::context::caller().await?;
            let input = crate::model::NewUser { email, password, role };
            crate::services::users::create(&state.db, &caller, input).await
        }
        .await,
    )
}

/// `disabled` arrives from a form as "true" or "false".
#[server(endpoint = "update_user")]
pub async fn update_user(id: i64, role: Option<String>, disabled: Option<String>) -> Result<User, AppError> {
    crate::error::server_result(
        async {
            let (state, caller) = crate::pages::context::caller().await?;
            let disabled = match disabled.as_deref() {
                None | Some("") => None,
                Some("true") => Some(true),
                Some("false") => Some(false),
                Some(other) => return Err(AppError::invalid(format!("disabled must be true or false, not '{other}'"))),
            };
            let change = crate::model::UserChange { role, disabled };
            crate::services::users::update(&state.db, &caller, id, change).await
        }
        .await,
    )
}

#[component]
pub fn UsersPage() -> impl IntoView {
    let create = ServerAction::<CreateUser>::new();
    let update = ServerAction::<UpdateUser>::new();
    let users = page_data(move || (create.version().get(), update.version().get()), |_| list_users());
    view! {
        <Title text="Users" />
        <header class="page-header">
            <h1>"Users"</h1>
            <p class="lead">"Admins manage users and keys; editors design tests and signals; viewers read results."</p>
        </header>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match users.await {
                    Ok(list) => view! {
                        <section class="card">
                            <h2>"People"</h2>
                            <ActionError result=update.value() />
                            <UserTable users=list update />
                        </section>
                        <CreateUserForm create />
                    }.into_any(),
                    Err(error) => view! { <LoadError error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn UserTable(users: Vec<User>, update: ServerAction<UpdateUser>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="data" data-testid="users-table">
                <thead>
                    <tr><th>"Email"</th><th>"Role"</th><th>"Status"</th><th>"Created"</th><th>"Access"</th></tr>
                </thead>
                <tbody>
                    {users.into_iter().map(|user| {
                        let id = user.id.to_string();
                        let toggle_id = id.clone();
                        let toggle_to = if user.disabled { "false" } else { "true" };
                        let toggle_label = if user.disabled { "Enable" } else { "Disable" };
                        view! {
                            <tr>
                                <td>{user.email.clone()}</td>
                                <td>
                                    <ActionForm action=update attr:class="form-row">
                                        <input type="hidden" name="id" value=id />
                                        <select name="role" aria-label=format!("Role of {}", user.email)>
                                            {Role::ALL.into_iter().map(|role| view! {
                                                <option value=role.as_str() selected=role == user.role>{role.label()}</option>
                                            }).collect_view()}
                                        </select>
                                        <button type="submit" class="secondary">"Save"</button>
                                    </ActionForm>
                                </td>
                                <td>
                                    {if user.disabled {
                                        view! { <span class="badge danger">"disabled"</span> }.into_any()
                                    } else {
                                        view! { <span class="badge ok">"active"</span> }.into_any()
                                    }}
                                </td>
                                <td>{format_time(&user.created_at)}</td>
                                <td>
                                    <ActionForm action=update>
                                        <input type="hidden" name="id" value=toggle_id />
                                        <input type="hidden" name="disabled" value=toggle_to />
                                        <button type="submit" class="secondary">{toggle_label}</button>
                                    </ActionForm>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn CreateUserForm(create: ServerAction<CreateUser>) -> impl IntoView {
    view! {
        <section class="card">
            <h2>"Add a user"</h2>
            <p class="muted">"Share the initial password with them privately."</p>
            <ActionForm action=create attr:class="stack" attr:data-testid="create-user-form">
                <div class="form-row">
                    <label>"Email" <input type="email" name="email" required /></label>
                    <label>"Initial password" <input type="password" name="password" required minlength="10" autocomplete="new-password" /></label>
                    <label>
                        "Role"
                        <select name="role">
                            {Role::ALL.into_iter().map(|role| view! {
                                <option value=role.as_str() selected=role == Role::Viewer>{role.label()}</option>
                            }).collect_view()}
                        </select>
                    </label>
                </div>
                <div><button type="submit" class="primary">"Add user"</button></div>
            </ActionForm>
            <ActionError result=create.value() />
            {move || create.value().get().and_then(Result::ok).map(|user| view! {
                <div class="alert alert-success" role="status">{format!("Added {} as {}.", user.email, user.role.label())}</div>
            })}
        </section>
    }
}
