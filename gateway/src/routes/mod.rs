//! Every route of the API, one module per area, each with its own `router()`.

pub mod auth;
pub mod conversations;
pub mod health;
pub mod me;
pub mod messages;
pub mod openapi;
pub mod privacy;
pub mod push;
pub mod sessions;
pub mod ui;
pub mod users;

use axum::Router;

use crate::{http::middleware, state::AppState};

/// The whole HTTP surface, wrapped in the gateway's middleware.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .merge(auth::router())
        .merge(sessions::router())
        .merge(me::router())
        .merge(privacy::router())
        .merge(push::router())
        .merge(users::router())
        .merge(health::router())
        .merge(openapi::router())
        .merge(ui::router())
        .merge(messages::router())
        .merge(conversations::router())
        .merge(crate::ws::router())
        // After every merge: these apply to the routes registered so far.
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed);
    middleware::layers(routes, state.config()).with_state(state)
}
