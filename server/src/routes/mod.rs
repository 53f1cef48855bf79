//! The HTTP surface: `/api/*` for the sync API and board sharing, everything else the built app. Handlers
//! are thin: they read the request, call a service, and let [`Error`] answer failures.

mod app_files;
mod auth;
mod body;
mod health;
mod sharing;
mod sync;

use crate::state::AppState;
use crate::{Config, Error};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, Method};
use axum::routing::{delete, get, post};
use axum::Router;
use std::time::Duration;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::trace::TraceLayer;

/// The whole router; fails on an invalid CORS origin.
pub fn router(state: AppState, config: &Config) -> Result<Router, Error> {
    let api = Router::new()
        .route("/health", get(health::health))
        .route("/auth/signup", post(auth::signup))
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/me", get(auth::me))
        .route("/sync/push", post(sync::push))
        .route("/sync/pull", post(sync::pull))
        .route("/sync/events", get(sync::events))
        .route("/sync/events/ticket", post(sync::events_ticket))
        .route(
            "/boards/{board}/members",
            post(sharing::share).get(sharing::members),
        )
        .route(
            "/boards/{board}/members/{member}",
            delete(sharing::remove_member),
        )
        // An unknown API path is a JSON 404, never the app's index.html.
        .fallback(|| async { Error::NotFound })
        .method_not_allowed_fallback(|| async { Error::MethodNotAllowed })
        .layer(cors(&config.cors_origins)?);
    Ok(Router::new()
        .nest("/api", api)
        .fallback_service(app_files::service(&config.app_dir))
        // Compression skips event streams (tower-http's default predicate), which must
        // reach the client as they are written.
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state))
}

/// Cross-origin calls from the allowed origins (`*`: any), with a bearer token. No
/// cookies are involved, so credentials mode is never needed.
fn cors(origins: &[String]) -> Result<CorsLayer, Error> {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([AUTHORIZATION, CONTENT_TYPE])
        .expose_headers([RETRY_AFTER])
        .max_age(Duration::from_secs(60 * 60));
    let origins: Vec<&str> = origins
        .iter()
        .map(|origin| origin.trim())
        .filter(|origin| !origin.is_empty())
        .collect();
    if origins.contains(&"*") {
        return Ok(layer.allow_origin(Any));
    }
    let origins = origins
        .into_iter()
        .map(|origin| {
            HeaderValue::from_str(origin.trim_end_matches('/'))
                .map_err(|_| Error::Config(format!("invalid CORS origin `{origin}`")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(layer.allow_origin(AllowOrigin::list(origins)))
}
