//! The Leptos application: pages, components and server functions, plus the server-side pieces they share with
//! the REST API (storage, services, the error type, application state).
//!
//! `domain` is pure (no I/O, no Leptos, no clock reads) and compiles for the browser too.

pub mod components;
pub mod domain;
pub mod error;
pub mod model;
pub mod pages;

#[cfg(feature = "ssr")]
pub mod auth;
#[cfg(feature = "ssr")]
pub mod request_id;
#[cfg(feature = "ssr")]
pub mod services;
#[cfg(feature = "ssr")]
pub mod state;
#[cfg(feature = "ssr")]
pub mod storage;

pub use pages::app::{shell, App};
