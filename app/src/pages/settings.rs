//! Settings → Installation: the global holdout (admins change it here), and how intent stages and purchases are
//! read (changed through `PUT /api/v1/settings`, shown here so admins see what is in force).

use crate::components::feedback::{ActionError, LoadError};
use crate::error::AppError;
use crate::model::InstallationSettings as Settings;
use crate::pages::data::page_data;
use leptos::prelude::*;
use leptos_meta::Title;

#[server(endpoint = "installation_settings")]
pub async fn load_settings() -> Result<Settings, AppError> {
    crate::error::server_result(
        async {
            let (state, caller) = crate::pages::context::caller().await?;
            crate::services::settings::get(&state, &caller).await
        }
        .await,
    )
}

/// `percent` as typed: a share of traffic in percent (0 to 50).
#[server(endpoint = "save_holdout")]
pub async fn save_holdout(percent: String) -> Result<Settings, AppError> {
    crate::error::server_result(
        async {
            let (state, caller) = crate::pages::context::caller().await?;
            caller.require(crate::domain::access::Access::Admin)?;
            let percent: f64 = percent
                .trim()
                .trim_end_matches('%')
                .trim()
                .parse()
                .map_err(|_| AppError::invalid("the holdout is a percentage of traffic, e.g. 5"))?;
            let change = crate::model::SettingsChange { global_holdout: Some(percent / 100.0), ..Default::default() };
            crate::services::settings::update(&state, &caller, change).await
        }
        .await,
    )
}

#[component]
pub fn SettingsPage() -> impl IntoView {
    let save = ServerAction::<SaveHoldout>::new();
    let settings = page_data(move || save.version().get(), |_| load_settings());
    view! {
        <Title text="Settings" />
        <header class="page-header">
            <h1>"Settings"</h1>
            <p class="lead">"Installation-wide choices that every experiment and every intent score depend on."</p>
        </header>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match settings.await {
                    Ok(settings) => view! { <SettingsView settings save /> }.into_any(),
                    Err(error) => view! { <LoadError error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn SettingsView(settings: Settings, save: ServerAction<SaveHoldout>) -> impl IntoView {
    let percent = crate::components::percent_input(settings.global_holdout);
    view! {
        <section class="card">
            <h2>"Global holdout"</h2>
            <p class="muted">
                "A share of all units that no experiment ever includes: compare them with everyone else to measure what all tests together changed. "
                "Changing it moves units in or out of every running experiment, so set it before tests start."
            </p>
            <p data-testid="holdout-current">{format!("Now: {percent} % of units are held out.")}</p>
            <ActionForm action=save attr:class="form-row" attr:data-testid="holdout-form">
                <label>"Held out (% of units, 0–50)" <input type="text" name="percent" inputmode="decimal" value=percent.clone() /></label>
                <button type="submit" class="primary">"Save"</button>
            </ActionForm>
            <ActionError result=save.value() />
        </section>
        <section class="card">
            <h2>"Intent stages"</h2>
            <p class="muted">{format!(
                "A signal's contribution to a person's intent score halves every {} days; buyers are in the stage “{}” whatever their score. Changed with PUT /api/v1/settings.",
                settings.intent.half_life_days, settings.intent.purchaser_stage
            )}</p>
            <table class="data" data-testid="stages-table">
                <thead><tr><th>"Stage"</th><th>"From score"</th></tr></thead>
                <tbody>
                    {settings.intent.stages.iter().map(|s| view! {
                        <tr><td>{s.stage.clone()}</td><td>{s.min_score}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
        </section>
        <section class="card">
            <h2>"Purchases"</h2>
            <p>{format!(
                "The event “{}” is a purchase; its order id is the property “{}”, its value the first numeric of {}, its currency “{}”.",
                settings.purchase.event,
                settings.purchase.order_id_property,
                settings.purchase.revenue_properties.iter().map(|p| format!("“{p}”")).collect::<Vec<_>>().join(", "),
                settings.purchase.currency_property
            )}</p>
        </section>
    }
}
