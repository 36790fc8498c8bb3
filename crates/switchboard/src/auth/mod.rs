//! Who is calling, proven. Every credential (session access token, tenant API
//! key, impersonation token, external identity-provider JWT) is verified here
//! and turned into a [`Principal`]. A [`TenantScope`] — the only key to tenant
//! tables — can only be made in this module: from a verified tenant context,
//! or by a verified platform operator for a tenant it names.

pub mod api_key;
pub mod cache;
pub mod external;
pub mod keys;
pub mod password;
pub mod service;
pub mod token;
pub mod webhook;

use serde::Serialize;
use switchboard_core::{
    ApiKeyId, Email, Permission, PermissionSet, Plan, RefreshFamilyId, Role, Slug, TenantId, UserId,
};

use crate::db::audit::ActorRef;

/// Proof that a tenant was chosen by verified credentials. Cheap to copy;
/// impossible to make outside `auth`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TenantScope {
    tenant: TenantId,
}

impl TenantScope {
    fn new(tenant: TenantId) -> Self {
        Self { tenant }
    }

    pub fn tenant_id(&self) -> TenantId {
        self.tenant
    }
}

/// Who acts inside a tenant.
#[derive(Clone, Debug)]
pub enum Actor {
    User {
        id: UserId,
        email: Email,
    },
    ExternalUser {
        provider: String,
        id: String,
        email: Option<String>,
    },
    ApiKey {
        id: ApiKeyId,
        name: String,
    },
    /// A platform operator acting in the tenant through impersonation.
    Operator {
        id: UserId,
        email: Email,
    },
    /// A person at the command line.
    CommandLine,
}

impl Actor {
    pub fn audit_ref(&self) -> ActorRef {
        match self {
            Actor::User { id, email } => ActorRef {
                kind: "user".into(),
                id: id.to_string(),
                label: email.to_string(),
            },
            Actor::ExternalUser {
                provider,
                id,
                email,
            } => ActorRef {
                kind: "external_user".into(),
                id: format!("{provider}:{id}"),
                label: email.clone().unwrap_or_else(|| id.clone()),
            },
            Actor::ApiKey { id, name } => ActorRef {
                kind: "api_key".into(),
                id: id.to_string(),
                label: name.clone(),
            },
            Actor::Operator { id, email } => ActorRef {
                kind: "operator".into(),
                id: id.to_string(),
                label: email.to_string(),
            },
            Actor::CommandLine => Operator::CommandLine.audit_ref(),
        }
    }

    pub fn user_id(&self) -> Option<UserId> {
        match self {
            Actor::User { id, .. } | Actor::Operator { id, .. } => Some(*id),
            _ => None,
        }
    }
}

/// The operator behind an impersonation, shown on `/me` and in the audit log.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Impersonation {
    pub operator_id: UserId,
    #[schema(value_type = String)]
    pub operator_email: Email,
    /// RFC 3339.
    pub expires_at: String,
}

/// A verified caller acting inside one tenant.
#[derive(Clone, Debug)]
pub struct TenantContext {
    scope: TenantScope,
    pub tenant_slug: Slug,
    pub plan: Plan,
    pub actor: Actor,
    pub role: Option<Role>,
    pub permissions: PermissionSet,
    pub impersonation: Option<Impersonation>,
    /// The sign-in this access token belongs to, for logout.
    pub session: Option<RefreshFamilyId>,
}

impl TenantContext {
    pub fn scope(&self) -> &TenantScope {
        &self.scope
    }

    pub fn tenant_id(&self) -> TenantId {
        self.scope.tenant
    }

    pub fn can(&self, p: Permission) -> bool {
        self.permissions.contains(p)
    }

    /// The audit actor and, when impersonating, the operator behind it.
    pub fn audit_actors(&self) -> (ActorRef, Option<ActorRef>) {
        let operator = self.impersonation.as_ref().map(|i| ActorRef {
            kind: "operator".into(),
            id: i.operator_id.to_string(),
            label: i.operator_email.to_string(),
        });
        (self.actor.audit_ref(), operator)
    }
}

/// Someone allowed to act across tenants: a platform admin signed in over
/// HTTP, or a person at the command line (who holds the database anyway).
#[derive(Clone, Debug)]
pub enum Operator {
    PlatformAdmin {
        id: UserId,
        email: Email,
        session: Option<RefreshFamilyId>,
    },
    CommandLine,
}

impl Operator {
    /// The command-line operator. Only `main`'s subcommands and tests use it.
    pub fn command_line() -> Self {
        Operator::CommandLine
    }

    /// A scope for a tenant the operator names (creating, suspending or
    /// impersonating it).
    pub fn scope_for(&self, tenant: TenantId) -> TenantScope {
        TenantScope::new(tenant)
    }

    /// The command line acting inside a tenant with every permission.
    pub fn command_line_in(tenant: &crate::db::tenants::Tenant) -> TenantContext {
        TenantContext {
            scope: TenantScope::new(tenant.id),
            tenant_slug: tenant.slug.clone(),
            plan: tenant.plan,
            actor: Actor::CommandLine,
            role: None,
            permissions: PermissionSet::all(),
            impersonation: None,
            session: None,
        }
    }

    pub fn audit_ref(&self) -> ActorRef {
        match self {
            Operator::PlatformAdmin { id, email, .. } => ActorRef {
                kind: "operator".into(),
                id: id.to_string(),
                label: email.to_string(),
            },
            Operator::CommandLine => ActorRef {
                kind: "cli".into(),
                id: "cli".into(),
                label: "command line".into(),
            },
        }
    }
}

/// A verified caller.
#[derive(Clone, Debug)]
pub enum Principal {
    Tenant(Box<TenantContext>),
    Platform(Operator),
}

/// Why a credential was refused. Deliberately coarse in what it tells the
/// caller; the reason is logged.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no credentials were presented")]
    Missing,
    #[error("the credentials are invalid or expired")]
    Invalid(&'static str),
    #[error("the tenant is suspended")]
    TenantSuspended,
    #[error("the organisation is not connected to any tenant")]
    UnknownOrganisation,
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}
