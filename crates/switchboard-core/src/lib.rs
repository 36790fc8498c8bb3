//! Pure domain vocabulary of Switchboard: identifiers, roles and permissions,
//! and values that are parsed once at the edge so the rest of the code can
//! rely on them. Nothing in this crate performs IO.

pub mod id;
pub mod role;
pub mod tenant;
pub mod value;

pub use id::{
    AgentId, ApiKeyId, AuditEntryId, CallId, RefreshFamilyId, RefreshTokenId, RequestId, TenantId,
    UserId,
};
pub use role::{Permission, PermissionSet, Role};
pub use tenant::{IndustryTemplate, Plan, TenantStatus};
pub use value::{Email, HexColor, InvalidValue, Slug, E164};
