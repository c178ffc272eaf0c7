//! Routes of the API registered against the endpoint table of `ksef-wire`
//! ([`ksef_wire::ENDPOINTS`]): a feature names the [`Operation`] a handler serves, and the
//! table gives its method and path. The router (`server`) mounts every feature's [`Routes`].

use axum::handler::Handler;
use axum::routing::{MethodFilter, MethodRouter, on};
use ksef_wire::endpoints::Method;
use ksef_wire::{Endpoint, Operation};

use crate::state::AppState;

/// The API routes of a feature: one method router per operation.
pub type Routes = Vec<(Operation, MethodRouter<AppState>)>;

/// The method router serving `op` with `handler` (the method is the table's).
pub fn handle<H, T>(op: Operation, handler: H) -> (Operation, MethodRouter<AppState>)
where
    H: Handler<T, AppState>,
    T: 'static,
{
    (op, on(filter(op.endpoint()), handler))
}

fn filter(e: &Endpoint) -> MethodFilter {
    match e.method {
        Method::Get => MethodFilter::GET,
        Method::Post => MethodFilter::POST,
        Method::Put => MethodFilter::PUT,
        Method::Delete => MethodFilter::DELETE,
    }
}
