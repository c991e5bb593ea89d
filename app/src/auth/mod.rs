//! Authentication: passwords, API keys, sessions, and `Caller`, the one answer to "who is asking?" used by every
//! REST handler and server function.

pub mod api_key;
pub mod caller;
pub mod password;

pub use caller::Caller;

/// The session entry that holds the signed-in user's id.
pub const SESSION_USER_ID: &str = "user_id";
