//! The HTTP edge: routing, the middleware stack, and serving. Handlers live
//! in `routes`, one module per resource, and stay thin.

pub mod client_addr;
pub mod extract;
pub mod openapi;
pub mod pagination;
pub mod problem;
pub mod ratelimit;
pub mod routes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::auth::service::AuthService;
use crate::auth::Principal;
use crate::config::Config;
use crate::db::Db;
use client_addr::ClientAddr;
use extract::{tenant_mismatch, AuthErrorKind, Authentication};
use problem::Problem;
use ratelimit::{Limit, RateLimiter};

/// Everything a handler may use. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub auth: Arc<AuthService>,
    pub config: Arc<Config>,
    /// Seals and opens tenant secrets (provider credentials, webhook secrets).
    pub keyring: Arc<crate::secrets::Keyring>,
    pub objects: crate::objects::Objects,
    /// Writes incoming call events, several to a commit.
    pub ingestor: crate::ingest::Ingestor,
    /// Tells this node's pipeline workers which tenants have new work.
    pub pipeline: crate::pipeline::Hints,
    /// Live updates for the tenants' dashboards (this node's listeners).
    pub events: crate::events::Events,
    /// Outgoing requests to providers.
    pub http: reqwest::Client,
    /// Outgoing requests to addresses a tenant chose.
    pub tenant_http: crate::outbound::TenantHttp,
    pub limiter: Arc<RateLimiter>,
    pub metrics: PrometheusHandle,
}

impl AppState {
    pub fn cursor_key(&self) -> &[u8] {
        &self.auth.keys().cursor_signing
    }
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone, Copy)]
struct MakeUlidRequestId;

impl MakeRequestId for MakeUlidRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let id = switchboard_core::RequestId::generate().to_string();
        Some(RequestId::new(
            HeaderValue::from_str(&id).expect("ids are ASCII"),
        ))
    }
}

/// The routes outside the OpenAPI document (the isolation suite probes
/// these as well as every documented operation).
pub const UNDOCUMENTED_ROUTES: [&str; 1] = ["/objects/{*key}"];

pub fn router(state: AppState) -> Router {
    let (api, _) = openapi::api_router().split_for_parts();
    api.route(
        UNDOCUMENTED_ROUTES[0],
        axum::routing::get(routes::calls::serve_object),
    )
    .fallback(|| async { Problem::not_found().detail("no route matches this path") })
        .method_not_allowed_fallback(|| async {
            Problem::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "This method is not allowed on this path")
        })
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn_with_state(state.clone(), limit_per_ip))
        .layer(middleware::from_fn_with_state(state.clone(), find_client_addr))
        .layer(middleware::from_fn(record_metrics))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeUlidRequestId))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
                    let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
                    tracing::info_span!("request", method = %req.method(), path = %loggable_path(req.uri().path()), request_id = %id, tenant_id = tracing::field::Empty)
                }))
                .layer(CatchPanicLayer::custom(|_| Problem::internal().into_response()))
                .layer(middleware::from_fn_with_state(state.clone(), deadline)),
        )
        .with_state(state)
}

/// Bodies that may take minutes to arrive (and an import to be stored):
/// call audio and bulk imports.
fn is_transfer(method: &Method, path: &str) -> bool {
    method == Method::POST
        && (path == "/api/v1/calls/import"
            || path
                .strip_prefix("/api/v1/calls/")
                .and_then(|rest| rest.strip_suffix("/audio"))
                .is_some_and(|id| !id.contains('/')))
}

/// Answers 503 to a request still running after `http.request_timeout_secs`
/// (`http.transfer_timeout_secs` for audio uploads and imports).
async fn deadline(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let http = &state.config.http;
    let secs = if is_transfer(req.method(), req.uri().path()) {
        http.transfer_timeout_secs
    } else {
        http.request_timeout_secs
    };
    match tokio::time::timeout(Duration::from_secs(secs), next.run(req)).await {
        Ok(response) => response,
        Err(_) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "The request took too long",
        )
        .detail("try again later")
        .into_response(),
    }
}

/// Verifies the bearer credential, if any, and stores the outcome for the
/// extractors; applies the tenant's rate limit and refuses a query string
/// that names another tenant.
async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let bearer = req.headers().get(header::AUTHORIZATION).map(|v| {
        v.to_str()
            .ok()
            .and_then(|s| {
                s.strip_prefix("Bearer ")
                    .or_else(|| s.strip_prefix("bearer "))
            })
            .map(str::trim)
    });
    let outcome = match bearer {
        None => Err(AuthErrorKind::Missing),
        Some(None) => Err(AuthErrorKind::Invalid),
        Some(Some(token)) => state.auth.authenticate(token).await.map_err(|e| {
            if let crate::auth::AuthError::Db(db) = &e {
                tracing::error!(error = %db, "authentication failed on the database");
            }
            AuthErrorKind::from(&e)
        }),
    };
    if let Ok(Principal::Tenant(ctx)) = &outcome {
        tracing::Span::current().record("tenant_id", tracing::field::display(ctx.tenant_id()));
        let rate = state
            .config
            .rate_limits
            .tenant_per_second
            .for_plan(ctx.plan);
        let bucket = format!("tenant:{}", ctx.tenant_id());
        if let Err(problem) = state.limiter.admit(&bucket, Limit::per_second(rate)).await {
            return problem.into_response();
        }
        if let Some(query) = req.uri().query() {
            let (id, slug) = (ctx.tenant_id().to_string(), ctx.tenant_slug.to_string());
            for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
                if (key == "tenant_id" || key == "customer_id") && value != id && value != slug {
                    return tenant_mismatch(&key).into_response();
                }
            }
        }
    }
    req.extensions_mut()
        .insert(Authentication(Arc::new(outcome)));
    // However the request ends (an error answer, a panic, a timeout that
    // drops it midway): a refused refresh still revokes a token family, and
    // a cancelled handler may have committed. A webhook changes calls and
    // an agent's last-seen time, never who can do what: under a flood of
    // them the webhook caches must survive. The agents' last-seen times
    // the ingest writers remember go too: such a request may have changed
    // an agent's status, which their next update would correct.
    let may_change_access = !req.method().is_safe() && !req.uri().path().starts_with("/webhooks/");
    let _forget = may_change_access
        .then(|| ForgetCredentialsOnDrop(state.auth.clone(), state.ingestor.clone()));
    next.run(req).await
}

struct ForgetCredentialsOnDrop(
    Arc<crate::auth::service::AuthService>,
    crate::ingest::Ingestor,
);

impl Drop for ForgetCredentialsOnDrop {
    fn drop(&mut self) {
        self.0.forget_credentials();
        self.1.forget_last_seen();
    }
}

/// The per-address limit, on every route but the webhooks: providers send
/// every tenant's webhooks from a few shared addresses, so there one busy
/// tenant would hold up the others. Webhooks are limited per agent instead,
/// and only requests to unknown webhook URLs per address
/// (`routes::webhooks`).
async fn limit_per_ip(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let client = req.extensions().get::<ClientAddr>().copied();
    if let Some(ClientAddr(addr)) = client.filter(|_| !req.uri().path().starts_with("/webhooks/")) {
        if let Err(problem) = admit_address(&state, addr).await {
            return problem.into_response();
        }
    }
    next.run(req).await
}

/// Puts the request's [`ClientAddr`] in its extensions, for the limits.
async fn find_client_addr(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
        let client =
            client_addr::client_addr(&state.config.http.trusted_proxies, peer.ip(), req.headers());
        req.extensions_mut().insert(ClientAddr(client));
    }
    next.run(req).await
}

/// The per-address limit (`rate_limits.per_ip_per_second`).
pub async fn admit_address(state: &AppState, addr: std::net::IpAddr) -> Result<(), Problem> {
    let limit = Limit::per_second(state.config.rate_limits.per_ip_per_second);
    state.limiter.admit(&format!("ip:{addr}"), limit).await
}

async fn record_metrics(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let started = Instant::now();
    let res = next.run(req).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", res.status().as_u16().to_string()),
    ];
    metrics::counter!("switchboard_http_requests_total", &labels).increment(1);
    metrics::histogram!("switchboard_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    res
}

/// A request path as logs may show it: a webhook URL's token is the
/// agent's only credential (whoever knows it can post to it), so it is
/// left out.
fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    match path
        .strip_prefix("/webhooks/")
        .and_then(|rest| rest.split_once('/'))
    {
        Some((provider, _token)) => format!("/webhooks/{provider}/{{token}}").into(),
        None => path.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::{is_transfer, loggable_path};
    use axum::http::Method;

    #[test]
    fn only_uploads_and_imports_are_transfers() {
        assert!(is_transfer(&Method::POST, "/api/v1/calls/import"));
        assert!(is_transfer(&Method::POST, "/api/v1/calls/call_01abc/audio"));
        assert!(!is_transfer(&Method::GET, "/api/v1/calls/import"));
        assert!(!is_transfer(&Method::POST, "/api/v1/calls"));
        assert!(!is_transfer(&Method::POST, "/api/v1/calls/a/b/audio"));
        assert!(!is_transfer(&Method::POST, "/api/v1/calls//audio/x"));
    }

    #[test]
    fn webhook_tokens_stay_out_of_logged_paths() {
        assert_eq!(
            loggable_path("/webhooks/retell/whk_0123456789abcdef"),
            "/webhooks/retell/{token}"
        );
        assert_eq!(
            loggable_path("/webhooks/retell/a/b"),
            "/webhooks/retell/{token}"
        );
        assert_eq!(
            loggable_path("/api/v1/calls/call_01"),
            "/api/v1/calls/call_01"
        );
        assert_eq!(loggable_path("/webhooks/retell"), "/webhooks/retell");
    }
}
