//! Page data: what a page loads through server functions, as a resource. Rendered on the server, a resource's
//! value is written into the page as JSON and read back in the browser; a server function's answer arrives as
//! bytes. Reading both with `serde_json::from_slice` (Leptos' default codec reads resources with `from_str`) lets
//! the browser bundle hold one decoder per type instead of two, since serde_json's decoders are generic over
//! their input — a fifth of the bundle's code was decoders.

use leptos::prelude::*;
use leptos::server::codee::{Decoder, Encoder};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;

/// JSON, decoded from bytes.
pub struct Json;

impl<T: Serialize> Encoder<T> for Json {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(value: &T) -> Result<String, Self::Error> {
        serde_json::to_string(value)
    }
}

impl<T: DeserializeOwned> Decoder<T> for Json {
    type Error = serde_json::Error;
    type Encoded = str;

    fn decode(text: &str) -> Result<T, Self::Error> {
        serde_json::from_slice(text.as_bytes())
    }
}

/// A page's data, loaded with `fetcher` whenever `source` changes (Leptos' `Resource::new`, with [`Json`]).
pub type PageData<T> = Resource<T, Json>;

#[track_caller]
pub fn page_data<T, S, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> PageData<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    S: PartialEq + Clone + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    Resource::new_with_options(source, fetcher, false)
}
