//! Authentication: passwords, API keys, sessions, and `Caller`, the one answer to "who is asking?" used by every
//! REST handler and server function.

pub mod api_key;
pub mod caller;
pub mod limits;
pub mod password;

pub use caller::{level, Caller, Needs};

/// The address of the client a request came from: the connection's peer, or what a trusted proxy reported
/// (`X-Forwarded-For`). Set on every request by the server's guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::IpAddr);

impl ClientAddr {
    /// When the request's address is not known (a request built in-process).
    pub const UNKNOWN: ClientAddr = ClientAddr(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
}

/// The session entry that holds the signed-in user's id.
pub const SESSION_USER_ID: &str = "user_id";

/// The session entry that holds when the person signed in (Unix milliseconds): sessions end a fixed time after it
/// however active they are, and when the person's sessions are revoked after it.
pub const SESSION_SIGNED_IN_AT: &str = "signed_in_at";
