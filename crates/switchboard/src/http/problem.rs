//! RFC 7807 problem details: the one shape of every error response.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// One bad field of a request.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    /// Where, as a JSON path (`branding.primary_color`) or parameter name.
    pub field: String,
    pub message: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem; documented in docs/problems.md.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    #[schema(value_type = u16)]
    #[serde(serialize_with = "status_code")]
    pub status: StatusCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extra members for particular problems (e.g. the tenants to choose
    /// from). Boxed, as they are rare: every handler returns a `Problem` as
    /// its error, and a smaller one is cheaper to move through each `?`.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub extensions: Option<Box<serde_json::Map<String, serde_json::Value>>>,
    #[serde(skip)]
    pub retry_after_secs: Option<u32>,
}

fn status_code<S: serde::Serializer>(s: &StatusCode, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_u16(s.as_u16())
}

impl Problem {
    pub fn new(status: StatusCode, kind: &str, title: &str) -> Self {
        Self {
            kind: format!("/problems/{kind}"),
            title: title.to_owned(),
            status,
            detail: None,
            errors: Vec::new(),
            extensions: None,
            retry_after_secs: None,
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn extension(mut self, key: &str, value: serde_json::Value) -> Self {
        self.extensions
            .get_or_insert_with(Default::default)
            .insert(key.to_owned(), value);
        self
    }

    pub fn bad_request(kind: &str, title: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, kind, title)
    }

    /// 422 with the list of bad fields.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut p = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation-failed",
            "The request has invalid fields",
        );
        p.detail = Some(
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
        );
        p.errors = errors;
        p
    }

    /// 422 for a document whose fields the ingest layer refused.
    pub fn validation_of(errors: Vec<switchboard_ingest::ParseError>) -> Self {
        Self::validation(errors.into_iter().map(Into::into).collect())
    }

    /// 422 for a tenant document (ai-config, rubric) the analysis crate refused.
    pub fn validation_of_config(errors: Vec<switchboard_analysis::qa::FieldError>) -> Self {
        Self::validation(errors.into_iter().map(Into::into).collect())
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError {
            field: field.to_owned(),
            message: message.into(),
        }])
    }

    /// Every missing or foreign resource looks the same (invariant 4).
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "No such resource")
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Valid credentials are required",
        )
    }

    pub fn forbidden(kind: &str, title: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, kind, title)
    }

    pub fn conflict(kind: &str, title: &str) -> Self {
        Self::new(StatusCode::CONFLICT, kind, title)
    }

    pub fn too_many_requests(retry_after_secs: u32) -> Self {
        let mut p = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
        )
        .detail(format!("retry after {retry_after_secs} s"));
        p.retry_after_secs = Some(retry_after_secs);
        p
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Something went wrong on our side",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let retry = self.retry_after_secs;
        let mut res = (self.status, axum::Json(&self)).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = retry {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

/// Internal faults become a logged 500 that reveals nothing.
impl From<crate::db::DbError> for Problem {
    fn from(e: crate::db::DbError) -> Self {
        match e {
            crate::db::DbError::Conflict(what) => {
                Problem::conflict("conflict", "The resource already exists")
                    .detail(format!("a resource with this {what} already exists"))
            }
            crate::db::DbError::Other(e) => {
                tracing::error!(error = %e, "database error");
                Problem::internal()
            }
        }
    }
}

impl From<crate::auth::AuthError> for Problem {
    fn from(e: crate::auth::AuthError) -> Self {
        use crate::auth::AuthError;
        match e {
            AuthError::Missing => Problem::unauthorized().detail("send an Authorization: Bearer header"),
            AuthError::Invalid(reason) => {
                tracing::info!(reason, "credentials refused");
                Problem::unauthorized().detail("the credentials are invalid or expired")
            }
            AuthError::TenantSuspended => Problem::forbidden("tenant-suspended", "The tenant is suspended")
                .detail("this tenant has been suspended by the platform operator; contact them to reactivate it"),
            AuthError::UnknownOrganisation => Problem::forbidden("unknown-organisation", "The organisation is not connected")
                .detail("the identity provider's organisation is not connected to any tenant"),
            AuthError::Db(e) => e.into(),
        }
    }
}

pub type ApiResult<T> = Result<T, Problem>;

impl From<switchboard_ingest::ParseError> for FieldError {
    fn from(e: switchboard_ingest::ParseError) -> Self {
        FieldError {
            field: e.field,
            message: e.message,
        }
    }
}

impl From<switchboard_analysis::qa::FieldError> for FieldError {
    fn from(e: switchboard_analysis::qa::FieldError) -> Self {
        FieldError {
            field: e.field,
            message: e.message,
        }
    }
}
