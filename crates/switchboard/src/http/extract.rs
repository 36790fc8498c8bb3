//! Request extractors. Handlers state what they need in their signature:
//! `Authorized<perm::UsersManage>` can only be obtained by a verified tenant
//! principal holding that permission, `PlatformAdmin` only by a signed-in
//! platform admin, `JsonBody<T>` only from a well-formed body.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use switchboard_core::Permission;

use super::problem::Problem;
use super::AppState;
use crate::auth::{AuthError, Operator, Principal, TenantContext};

/// What the authentication middleware found, stored in request extensions.
#[derive(Clone)]
pub struct Authentication(pub Arc<Result<Principal, AuthErrorKind>>);

/// A cloneable summary of an authentication failure.
#[derive(Clone, Copy, Debug)]
pub enum AuthErrorKind {
    Missing,
    Invalid,
    TenantSuspended,
    UnknownOrganisation,
    Internal,
}

impl From<&AuthError> for AuthErrorKind {
    fn from(e: &AuthError) -> Self {
        match e {
            AuthError::Missing => Self::Missing,
            AuthError::Invalid(_) => Self::Invalid,
            AuthError::TenantSuspended => Self::TenantSuspended,
            AuthError::UnknownOrganisation => Self::UnknownOrganisation,
            AuthError::Db(_) => Self::Internal,
        }
    }
}

impl AuthErrorKind {
    pub fn problem(self) -> Problem {
        match self {
            Self::Missing => AuthError::Missing.into(),
            Self::Invalid => {
                Problem::unauthorized().detail("the credentials are invalid or expired")
            }
            Self::TenantSuspended => AuthError::TenantSuspended.into(),
            Self::UnknownOrganisation => AuthError::UnknownOrganisation.into(),
            Self::Internal => Problem::internal(),
        }
    }
}

fn principal(parts: &Parts) -> Result<&Principal, Problem> {
    let auth = parts
        .extensions
        .get::<Authentication>()
        .ok_or_else(|| AuthErrorKind::Missing.problem())?;
    auth.0.as_ref().as_ref().map_err(|k| k.problem())
}

/// A verified caller acting inside a tenant (any permission).
pub struct Tenant(pub TenantContext);

impl FromRequestParts<AppState> for Tenant {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Problem> {
        match principal(parts)? {
            Principal::Tenant(ctx) => Ok(Tenant((**ctx).clone())),
            Principal::Platform(_) => Err(Problem::forbidden(
                "tenant-required",
                "This route acts inside a tenant",
            )
            .detail("use a tenant credential, or impersonate the tenant first")),
        }
    }
}

/// A permission, named as a type so a handler's signature states what it needs.
pub trait Requirement {
    const PERMISSION: Permission;
}

pub mod perm {
    macro_rules! markers {
        ($($name:ident),+ $(,)?) => {$(
            pub struct $name;
            impl super::Requirement for $name {
                const PERMISSION: switchboard_core::Permission = switchboard_core::Permission::$name;
            }
        )+};
    }
    markers!(
        UsersManage,
        SettingsManage,
        AuditView,
        CallsViewAll,
        CallsIngest,
        CallsDelete,
        QaEdit,
        AnalyticsViewAll
    );
}

/// A tenant principal holding permission `P`.
pub struct Authorized<P: Requirement> {
    pub ctx: TenantContext,
    _p: PhantomData<P>,
}

impl<P: Requirement> FromRequestParts<AppState> for Authorized<P> {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let Tenant(ctx) = Tenant::from_request_parts(parts, state).await?;
        if !ctx.can(P::PERMISSION) {
            return Err(Problem::forbidden(
                "permission-denied",
                "You lack the permission this needs",
            )
            .detail(format!("requires the permission {}", P::PERMISSION))
            .extension("permission", P::PERMISSION.as_str().into()));
        }
        Ok(Self {
            ctx,
            _p: PhantomData,
        })
    }
}

/// A signed-in platform admin (not an impersonation, not a tenant key).
pub struct PlatformAdmin(pub Operator);

impl FromRequestParts<AppState> for PlatformAdmin {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Problem> {
        match principal(parts)? {
            Principal::Platform(op @ Operator::PlatformAdmin { .. }) => {
                Ok(PlatformAdmin(op.clone()))
            }
            _ => Err(Problem::forbidden(
                "platform-admin-required",
                "Only platform admins may do this",
            )),
        }
    }
}

/// Any verified principal.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Problem> {
        principal(parts).cloned().map(Caller)
    }
}

/// The request id given by the middleware, for the audit log.
pub struct RequestIdText(pub Option<String>);

impl<S: Sync> FromRequestParts<S> for RequestIdText {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestIdText(
            parts
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        ))
    }
}

/// A JSON body: `application/json`, within the size limit, syntactically
/// valid, and of the expected shape — each failure its own problem naming the
/// field. A top-level `tenant_id` or `customer_id` must name the caller's own
/// tenant (it is then dropped), or the request is refused with 403.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = Problem;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, Problem> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            });
        if !is_json {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Send JSON",
            )
            .detail("the body must be sent with Content-Type: application/json"));
        }
        let tenant = req
            .extensions()
            .get::<Authentication>()
            .and_then(|a| match a.0.as_ref() {
                Ok(Principal::Tenant(ctx)) => {
                    Some((ctx.tenant_id().to_string(), ctx.tenant_slug.to_string()))
                }
                _ => None,
            });
        let bytes = read_limited(req.into_body(), state.config.http.body_limit_bytes).await?;
        let mut value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| {
                Problem::bad_request("malformed-json", "The body is not valid JSON")
                    .detail(format!("line {}, column {}: {e}", e.line(), e.column()))
            })?;
        if let Some(field) = where_nul(&value) {
            // PostgreSQL refuses it in text; no name, key or secret needs it.
            return Err(Problem::field(&field, "must not contain the NUL character"));
        }
        if let (Some(obj), Some((id, slug))) = (value.as_object_mut(), tenant) {
            for field in ["tenant_id", "customer_id"] {
                if let Some(named) = obj.remove(field) {
                    if named.as_str() != Some(id.as_str()) && named.as_str() != Some(slug.as_str())
                    {
                        return Err(tenant_mismatch(field));
                    }
                }
            }
        }
        serde_path_to_error::deserialize(value)
            .map(JsonBody)
            .map_err(|e| {
                let path = e.path().to_string();
                let field = if path == "." { "body".to_owned() } else { path };
                Problem::field(
                    &field,
                    switchboard_core::value::without_sent_value(&e.into_inner().to_string()),
                )
            })
    }
}

/// The path (`turns[2].text`, as serde names fields) of the first string or
/// member name holding a NUL character, if any. Every API body goes
/// through here: the path is built only along the way to a NUL.
fn where_nul(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    /// The path from `value` down to a NUL, `""` for `value` itself.
    fn below(value: &Value) -> Option<String> {
        let (step, rest) = match value {
            Value::String(text) => return text.contains('\0').then(String::new),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| below(item).map(|rest| (format!("[{i}]"), rest)))?,
            Value::Object(members) => members.iter().find_map(|(name, member)| {
                if name.contains('\0') {
                    return Some((name.clone(), String::new()));
                }
                below(member).map(|rest| (name.clone(), rest))
            })?,
            _ => return None,
        };
        Some(match rest.chars().next() {
            None | Some('[') => step + &rest,
            Some(_) => format!("{step}.{rest}"),
        })
    }
    below(value).map(|path| if path.is_empty() { "body".into() } else { path })
}

/// A query string of the expected shape. A bad one is a 422 problem naming
/// the parameter (axum's own `Query` answers in plain text).
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Sync> FromRequestParts<S> for Query<T> {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(pairs)
            .map(Query)
            .map_err(|e| {
                let path = e.path().to_string();
                let message =
                    switchboard_core::value::without_sent_value(&e.into_inner().to_string());
                let field = if path == "." {
                    // "duplicate field `limit`", "missing field `sig`"
                    message.split('`').nth(1).unwrap_or("query").to_owned()
                } else {
                    path
                };
                Problem::field(&field, message)
            })
    }
}

/// Path parameters. One that cannot be read (bad percent-encoding) names
/// nothing that exists: 404, like any other unknown resource (invariant 4),
/// where axum's own `Path` answers 400 in plain text.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Problem))]
pub struct Path<T>(pub T);

impl From<axum::extract::rejection::PathRejection> for Problem {
    fn from(_: axum::extract::rejection::PathRejection) -> Self {
        Problem::not_found()
    }
}

/// Reads a whole body, refusing one over `limit` bytes with a 413 problem,
/// and one that ends before it is whole (a dropped connection, broken
/// chunked encoding) with a 400.
pub async fn read_limited(body: axum::body::Body, limit: usize) -> Result<bytes::Bytes, Problem> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|cause| cause.is::<http_body_util::LengthLimitError>());
        if too_large {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "The body is too large",
            )
            .detail(format!("the body may be at most {limit} bytes"))
        } else {
            Problem::bad_request("incomplete-body", "The body could not be read whole")
                .detail("the request ended before its body did; send it again")
        }
    })
}

pub fn tenant_mismatch(field: &str) -> Problem {
    Problem::forbidden("tenant-mismatch", "The request names another tenant")
        .detail(format!(
            "{field} must name the tenant of your credentials, or be left out"
        ))
        .extension("field", field.into())
}

/// Parses an optional query parameter, naming it when it is bad.
pub fn parse_param<T: std::str::FromStr>(
    name: &str,
    raw: Option<&str>,
) -> Result<Option<T>, Problem>
where
    T::Err: std::fmt::Display,
{
    raw.map(|r| {
        r.parse::<T>()
            .map_err(|e| Problem::field(name, e.to_string()))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::where_nul;
    use serde_json::json;

    #[test]
    fn nul_is_found_and_named_as_serde_names_fields() {
        assert_eq!(
            where_nul(&json!({"name": "Front desk", "n": [1, "two"]})),
            None
        );
        assert_eq!(
            where_nul(&json!({"turns": [{"text": "ok"}, {"text": "a\u{0}b"}]})).as_deref(),
            Some("turns[1].text")
        );
        assert_eq!(where_nul(&json!({"a\u{0}": 1})).as_deref(), Some("a\u{0}"));
        assert_eq!(where_nul(&json!("\u{0}")).as_deref(), Some("body"));
    }
}
