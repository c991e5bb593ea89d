//! Every page is a lazy route. In the browser, the pages of one section are a chunk of the bundle of their own,
//! fetched when one of them is first shown (`scripts/build.sh` splits the bundle at these points), so the first
//! load carries the framework, the layout and one section rather than every page; on the server they render
//! like any route, and the server names the section's files in the page so that the browser fetches them at once.
//!
//! Sections rather than single pages: each split point multiplies the pieces the splitter cuts the code that
//! splits share into, and a section's pages share most of theirs.

use leptos::prelude::*;
use leptos_router::LazyRoute;

/// `section { Route => page component, … }`: each section is a module whose lazily loaded `render` draws its
/// pages, and each page's route type (used in `App`'s routes) asks it for its page. Before the router hydrates
/// or shows a page it awaits the route's `preload`, which fetches the section's chunk; without it the page would
/// be hydrated before its code had arrived.
macro_rules! sections {
    ($($section:ident { $($route:ident => $page:path),+ $(,)? })+) => {
        /// Which page a section renders. A plain `u8` enum: the call crosses from one WebAssembly module to
        /// another, where arguments must have a C representation.
        #[repr(u8)]
        #[derive(Clone, Copy)]
        // The variants are the route types' names, all `…Route`.
        #[allow(clippy::enum_variant_names)]
        enum Page { $($($route,)+)+ }

        $(
            mod $section {
                use super::*;

                // The split's name is the section's: one chunk per section, whatever the function is called.
                #[leptos::lazy($section)]
                pub fn render(page: Page) -> AnyView {
                    match page {
                        $(Page::$route => $page().into_any(),)+
                        // A section is only asked for its own pages (the routes below); anything else is not here.
                        #[allow(unreachable_patterns)]
                        _ => crate::pages::not_found::NotFound().into_any(),
                    }
                }
            }

            $(
                pub struct $route;

                impl LazyRoute for $route {
                    fn data() -> Self {
                        $route
                    }

                    async fn view(_this: Self) -> AnyView {
                        $section::render(Page::$route).await
                    }

                    async fn preload() {
                        #[cfg(feature = "hydrate")]
                        $section::__preload_render().await;
                    }
                }
            )+
        )+
    };
}

sections! {
    login_section {
        LoginRoute => crate::pages::login::LoginPage,
    }
    home_section {
        HomeRoute => crate::pages::home::HomePage,
    }
    experiments_section {
        ExperimentsRoute => crate::pages::experiments::ExperimentsPage,
        ExperimentRoute => crate::pages::experiments::ExperimentPage,
    }
    experiment_form_section {
        NewExperimentRoute => crate::pages::experiment_form::NewExperimentPage,
        EditExperimentRoute => crate::pages::experiment_form::EditExperimentPage,
    }
    results_section {
        ResultsRoute => crate::pages::results::ResultsPage,
    }
    playbook_section {
        PlaybookRoute => crate::pages::playbook::PlaybookPage,
        SignalLeaderboardRoute => crate::pages::playbook::SignalLeaderboardPage,
        ShareLinksRoute => crate::pages::playbook::ShareLinksPage,
    }
    playbook_entry_section {
        PlaybookEntryRoute => crate::pages::playbook::PlaybookEntryPage,
        SharedRoute => crate::pages::playbook::SharedPage,
    }
    signals_section {
        SignalsRoute => crate::pages::signals::SignalsPage,
        NewSignalRoute => crate::pages::signals::NewSignalPage,
        SignalRoute => crate::pages::signals::SignalPage,
    }
    analysis_section {
        MetricsRoute => crate::pages::metrics::MetricsPage,
        CalculatorRoute => crate::pages::calculator::CalculatorPage,
        PlannerRoute => crate::pages::calculator::PlannerPage,
    }
    profiles_section {
        ProfilesRoute => crate::pages::profiles::ProfilesPage,
        ProfileRoute => crate::pages::profiles::ProfilePage,
    }
    admin_section {
        SettingsRoute => crate::pages::settings::SettingsPage,
        UsersRoute => crate::pages::users::UsersPage,
        ApiKeysRoute => crate::pages::api_keys::ApiKeysPage,
    }
}
