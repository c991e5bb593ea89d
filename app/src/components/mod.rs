//! Reusable views. No server calls here: pages fetch, components render.

pub mod feedback;
pub mod nav;

use chrono::{DateTime, Utc};
use leptos::prelude::*;

/// Timestamps as people read them in tables: minute precision, explicit zone.
pub fn format_time(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub fn format_optional_time(at: &Option<DateTime<Utc>>, never: &'static str) -> String {
    at.as_ref().map(format_time).unwrap_or_else(|| never.to_string())
}

/// A fraction as a form field shows it in percent, without float noise: 0.05 → "5", 0.125 → "12.5".
pub fn percent_input(fraction: f64) -> String {
    format!("{}", (fraction * 1e6).round() / 1e4)
}

/// An intent stage, coloured by how close to buying it is.
pub fn stage_badge(stage: &str) -> impl IntoView {
    view! { <span class=format!("badge stage stage-{stage}") data-testid="stage">{stage.to_string()}</span> }
}

/// A labelled select whose value comes from `current` and goes to `on_change`.
pub fn choice(
    label: &'static str,
    testid: &'static str,
    options: &'static [(&'static str, &'static str)],
    current: impl Fn() -> String + Send + Sync + 'static,
    on_change: impl Fn(String) + 'static,
) -> impl IntoView {
    view! {
        <label>
            {label}
            <select data-testid=testid prop:value=current on:change=move |ev| on_change(event_target_value(&ev))>
                {options.iter().map(|(v, text)| view! { <option value=*v>{*text}</option> }).collect_view()}
            </select>
        </label>
    }
}
