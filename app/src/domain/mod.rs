//! Pure domain logic: no I/O, no Leptos, no database, no clock reads (time comes in as an argument).
//! Everything here is unit-tested in place and usable from the server, the API and the browser.

pub mod access;
pub mod assignment;
#[cfg(feature = "ssr")]
pub mod demo;
#[cfg(feature = "ssr")]
pub mod events;
pub mod experiment;
pub mod hashing;
pub mod ofrep;
pub mod playbook;
#[cfg(feature = "ssr")]
pub mod playbook_export;
pub mod signals;
pub mod stats;
pub mod targeting;
pub mod throttle;
pub mod validate;
