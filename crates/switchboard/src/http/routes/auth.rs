//! Sign-in, refresh and sign-out. The refresh token lives only in an
//! httpOnly, SameSite=Strict cookie scoped to the refresh path, so page
//! scripts never see it and no other request carries it.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::{Email, Slug};

use crate::auth::password::PlaintextPassword;
use crate::auth::service::{LoginError, Session};
use crate::auth::{Operator, Principal};
use crate::http::client_addr::ClientAddr;
use crate::http::extract::{Caller, JsonBody};
use crate::http::problem::{ApiResult, Problem};
use crate::http::ratelimit::Limit;
use crate::http::routes::Validator;
use crate::http::AppState;

pub const REFRESH_COOKIE: &str = "sb_refresh";
pub const REFRESH_PATH: &str = "/api/v1/auth/refresh";

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// The tenant's slug; needed only when the account belongs to several.
    pub tenant: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

fn session_response(state: &AppState, session: Session) -> Response {
    let secure = if state.config.served_over_tls() {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{REFRESH_COOKIE}={}; HttpOnly; SameSite=Strict; Path={REFRESH_PATH}; Max-Age={}{secure}",
        session.refresh_token.as_str(),
        session.refresh_ttl
    );
    let mut res = Json(TokenResponse {
        access_token: session.access_token,
        token_type: "Bearer",
        expires_in: session.expires_in,
    })
    .into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).expect("cookie is ASCII"),
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn clear_cookie(res: &mut Response) {
    let cookie =
        format!("{REFRESH_COOKIE}=; HttpOnly; SameSite=Strict; Path={REFRESH_PATH}; Max-Age=0");
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).expect("ASCII"),
    );
}

/// Signs in with email and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "identity", request_body = LoginRequest,
    responses(
        (status = 200, body = TokenResponse, description = "Signed in; the refresh cookie is set"),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "Wrong email or password (same answer for both)"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn login(
    State(state): State<AppState>,
    Extension(ClientAddr(client)): Extension<ClientAddr>,
    JsonBody(body): JsonBody<LoginRequest>,
) -> ApiResult<Response> {
    let mut v = Validator::default();
    let email = v.check("email", Email::parse(&body.email));
    let tenant = body
        .tenant
        .as_deref()
        .map(|t| v.check("tenant", Slug::parse(t)))
        .unwrap_or(None);
    if body.password.is_empty() {
        v.check::<(), _>("password", Err("must not be empty"));
    }
    v.finish()?;
    let email = email.expect("validated");
    let limits = &state.config.rate_limits;
    for (bucket, limit) in [
        (
            format!("login-ip:{client}"),
            Limit::per_minute(limits.login_per_ip_per_minute),
        ),
        (
            format!("login-account:{email}"),
            Limit::per_minute(limits.login_per_account_per_minute),
        ),
    ] {
        state.limiter.admit(&bucket, limit).await?;
    }
    let password = PlaintextPassword::unchecked(body.password);
    match state.auth.login(&email, &password, tenant.as_ref()).await {
        Ok(session) => Ok(session_response(&state, session)),
        Err(LoginError::InvalidCredentials) => Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "invalid-credentials",
            "The email or password is wrong",
        )),
        Err(LoginError::TenantRequired(slugs)) => Err(Problem::field(
            "tenant",
            "this account belongs to several tenants; name one",
        )
        .extension(
            "tenants",
            slugs.iter().map(|s| s.as_str()).collect::<Vec<_>>().into(),
        )),
        Err(LoginError::TenantSuspended) => Err(crate::auth::AuthError::TenantSuspended.into()),
        Err(LoginError::Db(e)) => Err(e.into()),
    }
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Exchanges the refresh cookie for a new access token and a new refresh
/// cookie. Presenting an already-used refresh token revokes the sign-in.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "identity",
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "Missing, expired, revoked or reused refresh token"),
    ))]
pub async fn refresh(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let secret = cookie_value(&headers, REFRESH_COOKIE)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Problem::unauthorized().detail("the refresh cookie is missing"))?;
    match state.auth.refresh(secret).await {
        Ok(session) => Ok(session_response(&state, session)),
        Err(e) => {
            let mut res = Problem::from(e).into_response();
            clear_cookie(&mut res);
            Ok(res)
        }
    }
}

/// Signs out: the sign-in behind this access token ends, and its access and
/// refresh tokens stop working.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "identity", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub async fn logout(
    State(state): State<AppState>,
    Caller(principal): Caller,
) -> ApiResult<Response> {
    let (user, session) = match &principal {
        Principal::Tenant(ctx) => (ctx.actor.user_id(), ctx.session),
        Principal::Platform(Operator::PlatformAdmin { id, session, .. }) => (Some(*id), *session),
        Principal::Platform(Operator::CommandLine) => (None, None),
    };
    let (Some(user), Some(session)) = (user, session) else {
        return Err(Problem::bad_request(
            "not-a-session",
            "These credentials are not a sign-in session",
        )
        .detail("API keys and impersonation tokens are revoked or expire instead"));
    };
    state.auth.logout(user, session).await?;
    let mut res = StatusCode::NO_CONTENT.into_response();
    clear_cookie(&mut res);
    Ok(res)
}
