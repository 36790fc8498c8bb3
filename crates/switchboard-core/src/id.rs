//! Prefixed, time-ordered identifiers (`ten_01j…`). The prefix makes a pasted
//! id self-describing and lets the type system refuse a user id where a
//! tenant id is expected; the ULID body keeps ids sortable by creation time,
//! which cursor pagination relies on.

use std::fmt;
use std::str::FromStr;

/// The reason an identifier failed to parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected an identifier of the form {prefix}_<26 base32 characters>")]
pub struct InvalidId {
    pub prefix: &'static str,
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(ulid::Ulid);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh identifier, ordered after every identifier made before it.
            pub fn generate() -> Self {
                Self(ulid::Ulid::new())
            }

            /// Milliseconds since the Unix epoch at which the id was generated.
            pub fn timestamp_ms(&self) -> u64 {
                self.0.timestamp_ms()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}_{}", $prefix, self.0.to_string().to_ascii_lowercase())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                let err = InvalidId { prefix: $prefix };
                let body = s
                    .strip_prefix($prefix)
                    .and_then(|rest| rest.strip_prefix('_'))
                    .ok_or(err.clone())?;
                // Only canonical lowercase ids are accepted so that one id has one spelling.
                if body.len() != 26 || body.bytes().any(|b| b.is_ascii_uppercase()) {
                    return Err(err);
                }
                ulid::Ulid::from_string(body).map(Self).map_err(|_| err)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                raw.parse().map_err(serde::de::Error::custom)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some(concat!("^", $prefix, "_[0-9a-hjkmnp-tv-z]{26}$")))
                    .examples([serde_json::json!(concat!($prefix, "_01jc5s9x3m4q2a7vbn8k6w0yzd"))])
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

prefixed_id!(
    /// A tenant: one client company of the agency, fully isolated from the others.
    TenantId, "ten"
);
prefixed_id!(
    /// A person who can sign in; global, joined to tenants through memberships.
    UserId, "usr"
);
prefixed_id!(
    /// A tenant API key (the id, never the secret).
    ApiKeyId, "key"
);
prefixed_id!(
    /// One refresh token in a rotation family.
    RefreshTokenId, "rtk"
);
prefixed_id!(
    /// A refresh-token family: one sign-in, rotated on every refresh.
    RefreshFamilyId, "ses"
);
prefixed_id!(
    /// One entry of a tenant's audit log.
    AuditEntryId, "aud"
);
prefixed_id!(
    /// A voice agent of a tenant at one provider, with its own webhook URL.
    AgentId, "agt"
);
prefixed_id!(
    /// One call, however many provider events described it.
    CallId, "call"
);
prefixed_id!(
    /// One HTTP request, echoed in `x-request-id` and every log line it causes.
    RequestId, "req"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        let id = TenantId::generate();
        let text = id.to_string();
        assert!(text.starts_with("ten_"));
        assert_eq!(text.len(), 4 + 26);
        assert_eq!(text.parse::<TenantId>().unwrap(), id);
    }

    #[test]
    fn refuses_another_kind_of_id() {
        let user = UserId::generate().to_string();
        assert!(user.parse::<TenantId>().is_err());
    }

    #[test]
    fn refuses_malformed_ids() {
        for bad in [
            "",
            "ten_",
            "ten_123",
            "ten01jc5s9x3m4q2a7vbn8k6w0yzd",
            "ten_01JC5S9X3M4Q2A7VBN8K6W0YZD",
            "ten_01jc5s9x3m4q2a7vbn8k6w0yz!",
            "ten_../../etc/passwd",
            "ten_01jc5s9x3m4q2a7vbn8k6w0yzdd",
        ] {
            assert!(bad.parse::<TenantId>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        let a = TenantId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = TenantId::generate();
        assert!(a < b);
        assert!(a.to_string() < b.to_string());
    }
}
