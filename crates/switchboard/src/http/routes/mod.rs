//! One module per resource. Handlers parse, call the domain/storage layer
//! inside one transaction, audit what a person changed, and answer.

pub mod agents;
pub mod analysis_settings;
pub mod analytics;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod branding;
pub mod calls;
pub mod credentials;
pub mod events;
pub mod health;
pub mod me;
pub mod members;
pub mod platform;
pub mod recording_pull;
pub mod webhooks;

use crate::auth::TenantContext;
use crate::db::audit::AuditEvent;

/// An audit event for something `ctx` did.
pub fn audit_event(
    ctx: &TenantContext,
    request_id: Option<String>,
    action: &'static str,
    target_type: &'static str,
    target_id: String,
    details: serde_json::Value,
) -> AuditEvent {
    let (actor, impersonator) = ctx.audit_actors();
    AuditEvent {
        actor,
        impersonator,
        action,
        target_type,
        target_id,
        details,
        request_id,
    }
}

/// The UTC day, `yyyy-mm-dd`, as rollups, flat files and analytics name it.
pub fn day_text(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// The UTC day of a stored Unix-millisecond time.
pub fn utc_day(ms: i64) -> String {
    day_text(utc(ms).date())
}

/// Parses a `yyyy-mm-dd` day.
pub fn parse_day(text: &str) -> Result<time::Date, &'static str> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format).map_err(|_| "expected a day such as 2026-01-31")
}

/// A stored Unix-millisecond time as a UTC date-time (the epoch when out of range).
pub fn utc(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// RFC 3339 UTC text of a stored Unix-millisecond time.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Parses RFC 3339 text into Unix milliseconds, naming `field` when it is bad.
pub fn parse_rfc3339(field: &str, text: &str) -> Result<i64, super::problem::Problem> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| {
            super::problem::Problem::field(
                field,
                "expected an RFC 3339 time such as 2026-01-31T09:00:00Z",
            )
        })
}

/// A PATCH member: left out is `None` (unchanged), `null` is `Some(None)`
/// (cleared, where that means anything), a value `Some(Some(v))`. Used with
/// `#[serde(default, deserialize_with = "nullable")]`.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// Collects every bad field of a request before answering, so the caller
/// can fix them all at once.
#[derive(Default)]
pub struct Validator {
    errors: Vec<super::problem::FieldError>,
}

impl Validator {
    /// Keeps the value, or records why `field` is bad.
    pub fn check<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(super::problem::FieldError {
                    field: field.to_owned(),
                    message: e.to_string(),
                });
                None
            }
        }
    }

    /// A PATCH member that has no empty state: `null` is refused.
    pub fn not_null<T>(&mut self, field: &str, member: Option<Option<T>>) -> Option<T> {
        match member {
            Some(None) => self.check(field, Err::<T, _>("may be left out, but not null")),
            other => other.flatten(),
        }
    }

    pub fn finish(self) -> Result<(), super::problem::Problem> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(super::problem::Problem::validation(self.errors))
        }
    }
}
