//! intentlab's root crate: the server (config, startup, REST API, jobs, CLI) under `ssr`, and the browser
//! entry point under `hydrate`. Pages and shared logic live in the `app` crate.

// The experiment form's view type is deep enough to exceed the default limit when compiled for hydration.
#![recursion_limit = "256"]

/// The server allocates and frees many small objects per request (JSON values, rows, strings); glibc's allocator
/// spent a fifth of the ingest pipeline's CPU on that, mimalloc a fraction of it. Declared in the library so the
/// server binary, the integration tests and the benchmarks all run on it. With the `override` feature mimalloc
/// also serves `malloc`/`free` for C code: the bundled SQLite copies every bound value and builds every record
/// on the heap, and glibc's allocator was a fifth of the ingest writer thread.
#[cfg(feature = "ssr")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(feature = "ssr")]
pub mod api;
#[cfg(feature = "ssr")]
pub mod assets;
#[cfg(feature = "ssr")]
pub mod cli;
#[cfg(feature = "ssr")]
pub mod config;
#[cfg(feature = "ssr")]
pub mod demo;
#[cfg(feature = "ssr")]
pub mod guards;
#[cfg(feature = "ssr")]
pub mod jobs;
#[cfg(feature = "ssr")]
pub mod layers;
#[cfg(feature = "ssr")]
pub mod startup;

/// Entry point of the WebAssembly bundle: attaches the app to the server-rendered HTML. Asynchronously, as
/// Leptos' `hydrate_lazy` does: the page's own code is a lazily loaded chunk (`app::pages::routes`), which the
/// router fetches before it hydrates the page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    wasm_bindgen_futures::spawn_local(async {
        let Some(body) = leptos::prelude::document().body() else { return };
        leptos::mount::hydrate_from_async(body.clone(), app::App).await.forget();
        // Tells end-to-end tests (and people reading the DOM) that the page is interactive: the layout and the
        // page's lazily loaded code have both taken over.
        let _ = body.set_attribute("data-hydrated", "true");
    });
}
