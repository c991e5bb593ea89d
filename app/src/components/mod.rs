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

/// An intent stage, coloured by how close to buying it is.
pub fn stage_badge(stage: &str) -> impl IntoView {
    view! { <span class=format!("badge stage stage-{stage}") data-testid="stage">{stage.to_string()}</span> }
}
