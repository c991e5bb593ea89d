//! Success and error messages for forms.

use crate::error::AppError;
use leptos::prelude::*;

/// Shows the error of the last submission of a form's action, if it failed.
#[component]
pub fn ActionError<T>(#[prop(into)] result: Signal<Option<Result<T, AppError>>>) -> impl IntoView
where
    T: Send + Sync + 'static,
{
    move || {
        result.with(|r| match r {
            Some(Err(err)) => Some(view! { <p class="error" role="alert">{err.public_message()}</p> }),
            _ => None,
        })
    }
}

/// A full-width alert for errors loading a page's data.
#[component]
pub fn LoadError(error: AppError) -> impl IntoView {
    view! { <div class="alert alert-error" role="alert">{error.public_message()}</div> }
}
