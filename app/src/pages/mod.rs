//! One module per route; each holds the server functions its page calls.

pub mod api_keys;
pub mod app;
pub mod calculator;
pub mod data;
pub mod experiment_form;
pub mod experiments;
pub mod home;
pub mod login;
pub mod metrics;
pub mod not_found;
pub mod playbook;
pub mod profiles;
pub mod results;
pub mod routes;
pub mod settings;
pub mod signals;
pub mod users;

#[cfg(feature = "ssr")]
pub(crate) mod context;
