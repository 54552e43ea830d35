//! The route table's vocabulary: a `Route` row and the `route!` macro that writes one.

use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter};

use crate::state::AppState;

/// Where every API path lives.
pub const API_PREFIX: &str = "/api";

/// One route of the API: its method, its full path (under `/api`) and the handler that
/// serves it. `router` is built from these rows only, and the tests compare the same rows
/// with docs/openapi.json, so a route cannot be served without being documented.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    handler: fn(MethodFilter, &AppState) -> MethodRouter<AppState>,
}

/// A row of a route table: `route!(GET "/api/me" => me)`.
macro_rules! route {
    ($method:ident $path:literal => $handler:expr) => {
        $crate::http::route::Route::new(::axum::http::Method::$method, $path, |filter, _| {
            ::axum::routing::on(filter, $handler)
        })
    };
}
pub(crate) use route;

impl Route {
    pub(crate) const fn new(
        method: Method,
        path: &'static str,
        handler: fn(MethodFilter, &AppState) -> MethodRouter<AppState>,
    ) -> Route {
        Route { method, path, handler }
    }

    /// The path under `API_PREFIX`, where the API router (nested there) serves it.
    pub(crate) fn api_path(&self) -> &'static str {
        self.path
            .strip_prefix(API_PREFIX)
            .unwrap_or_else(|| panic!("{} is not under {API_PREFIX}", self.path))
    }

    /// The handler, serving this route's method only.
    pub(crate) fn method_router(&self, state: &AppState) -> MethodRouter<AppState> {
        let filter = MethodFilter::try_from(self.method.clone())
            .unwrap_or_else(|_| panic!("no method filter for {} {}", self.method, self.path));
        (self.handler)(filter, state)
    }
}
