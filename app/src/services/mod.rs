//! Use cases shared by the REST API, server functions and the CLI: each checks access, parses input, and calls
//! storage. Handlers and server functions stay a few lines long and cannot disagree with each other.

pub mod api_keys;
pub mod assignments;
pub mod auth;
pub mod experiments;
pub mod exposures;
pub mod settings;
pub mod users;
