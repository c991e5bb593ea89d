//! The endpoints of a router as data: each is registered here with its method and path, so the router is built
//! from the same list that the access-table test and the OpenAPI coverage test read. An endpoint cannot be
//! added without both of them noticing.

use app::state::AppState;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{self, MethodRouter};
use axum::Router;

pub struct Endpoints {
    /// Where the router is nested (`/api/v1`), for the full paths `list` reports.
    prefix: &'static str,
    endpoints: Vec<(Method, &'static str, MethodRouter<AppState>)>,
}

macro_rules! method {
    ($name:ident, $method:ident) => {
        pub fn $name<H, T>(mut self, path: &'static str, handler: H) -> Self
        where
            H: Handler<T, AppState>,
            T: 'static,
        {
            self.endpoints.push((Method::$method, path, routing::$name(handler)));
            self
        }
    };
}

impl Endpoints {
    pub fn new(prefix: &'static str) -> Self {
        Self { prefix, endpoints: Vec::new() }
    }

    method!(get, GET);
    method!(post, POST);
    method!(put, PUT);
    method!(patch, PATCH);
    method!(delete, DELETE);

    /// Every endpoint as (method, full path in axum's syntax: `/api/v1/experiments/{key}`).
    pub fn list(&self) -> Vec<(Method, String)> {
        self.endpoints.iter().map(|(method, path, _)| (method.clone(), format!("{}{path}", self.prefix))).collect()
    }

    /// The router serving them (methods on one path merge into one route).
    pub fn router(self) -> Router<AppState> {
        self.endpoints.into_iter().fold(Router::new(), |router, (_, path, route)| router.route(path, route))
    }
}
