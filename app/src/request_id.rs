//! The id of the request being served, for correlating what a client saw with what the server logged: every
//! response carries it (`x-request-id`), every log line of the request is in its span, and a 5xx's generic
//! message names it, so "something went wrong (request 5f2c…)" finds the logged cause.
//!
//! A task-local rather than an argument: errors become responses far from the handler that had the request.

use std::future::Future;
use std::sync::Arc;

tokio::task_local! {
    static REQUEST_ID: Arc<str>;
}

/// The longest id a client may send along; anything longer or with other characters is replaced.
const MAX_CLIENT_ID_LEN: usize = 64;

/// The id to use: the client's (a proxy's) `x-request-id` when it is a plain token, else a new random one.
pub fn choose(client_id: Option<&str>) -> Arc<str> {
    match client_id {
        Some(id)
            if !id.is_empty()
                && id.len() <= MAX_CLIENT_ID_LEN
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            id.into()
        }
        _ => {
            use rand::RngCore;
            let mut bytes = [0u8; 8];
            rand::thread_rng().fill_bytes(&mut bytes);
            hex::encode(bytes).into()
        }
    }
}

/// Runs `future` with `id` as the current request's id.
pub async fn scope<F: Future>(id: Arc<str>, future: F) -> F::Output {
    REQUEST_ID.scope(id, future).await
}

/// The current request's id, if this runs on behalf of one.
pub fn current() -> Option<Arc<str>> {
    REQUEST_ID.try_with(Arc::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_client_id_is_kept_and_anything_else_replaced() {
        assert_eq!(&*choose(Some("req-7f3a_1")), "req-7f3a_1");
        for bad in ["", "has space", "newline\ninjected", &"x".repeat(65)] {
            let id = choose(Some(bad));
            assert_ne!(&*id, bad);
            assert_eq!(id.len(), 16);
        }
        assert_ne!(choose(None), choose(None));
    }

    #[tokio::test]
    async fn the_id_is_current_within_its_scope_only() {
        assert_eq!(current(), None);
        let inside = scope("abc".into(), async { current() }).await;
        assert_eq!(inside.as_deref(), Some("abc"));
    }
}
