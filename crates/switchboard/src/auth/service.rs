//! Turning credentials into principals, and the session lifecycle
//! (sign-in, refresh with rotation and reuse detection, sign-out,
//! impersonation).

use std::sync::Arc;

use switchboard_core::{
    Email, PermissionSet, RefreshFamilyId, Role, Slug, TenantId, TenantStatus, UserId,
};
use zeroize::Zeroizing;

use super::api_key::{keyed_hash, PlaintextApiKey};
use super::cache::{CredentialCache, CredentialDigest};
use super::external::{ExternalError, ExternalVerifier};
use super::keys::PlatformKeys;
use super::password::{PasswordHash, PlaintextPassword};
use super::token::{self, AccessClaims, TokenKind};
use super::webhook::{self, WebhookAgent};
use super::{Actor, AuthError, Impersonation, Operator, Principal, TenantContext, TenantScope};
use crate::config::AuthConfig;
use crate::db::{api_keys, memberships, refresh_tokens, tenants, users, Db, Mode};
use switchboard_ingest::Source;

pub struct AuthService {
    db: Db,
    cache: CredentialCache,
    /// Webhook URLs (by a digest of their token) and the agents they reach.
    webhook_agents: CredentialCache<CredentialDigest, WebhookAgent>,
    /// A tenant's opened provider credentials, by provider, as webhooks
    /// verify their signatures with them.
    provider_secrets: CredentialCache<(TenantId, Source), Option<Arc<serde_json::Value>>>,
    keys: Arc<PlatformKeys>,
    external: ExternalVerifier,
    config: AuthConfig,
}

/// A successful sign-in or refresh.
pub struct Session {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: Zeroizing<String>,
    pub refresh_ttl: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("the email or password is wrong")]
    InvalidCredentials,
    #[error("the account belongs to several tenants; name one")]
    TenantRequired(Vec<Slug>),
    #[error("the tenant is suspended")]
    TenantSuspended,
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl AuthService {
    pub fn new(db: Db, keys: Arc<PlatformKeys>, config: AuthConfig) -> Self {
        let external = ExternalVerifier::new(&config.identity_providers);
        let ttl = std::time::Duration::from_secs(config.credential_cache_ttl_secs);
        Self {
            db,
            cache: CredentialCache::new(ttl),
            webhook_agents: CredentialCache::new(ttl),
            provider_secrets: CredentialCache::new(ttl),
            keys,
            external,
            config,
        }
    }

    pub fn keys(&self) -> &PlatformKeys {
        &self.keys
    }

    /// Verifies a bearer credential of any kind.
    ///
    /// Signatures and expiry of tokens are checked on every call; what the
    /// database says about a credential is remembered for a few seconds
    /// (see [`CredentialCache`]). External IdP tokens are not cached.
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal, AuthError> {
        if let Some(key) = PlaintextApiKey::parse(bearer) {
            return self.cached(bearer, self.authenticate_api_key(&key)).await;
        }
        match ExternalVerifier::claimed_issuer(bearer) {
            Some(iss) if iss == token::ISSUER => {
                let claims = token::verify(&self.keys.token_signing, bearer).map_err(|e| {
                    tracing::debug!(error = %e, "access token refused");
                    AuthError::Invalid("access token")
                })?;
                let not_after = claims.exp.saturating_mul(1000);
                self.cached(bearer, async move {
                    Ok((self.authenticate_access(claims).await?, Some(not_after)))
                })
                .await
            }
            Some(iss) if self.external.knows_issuer(&iss) => {
                self.authenticate_external(bearer).await
            }
            _ => Err(AuthError::Invalid("unrecognised credential")),
        }
    }

    /// Answers from the cache, or runs `resolve` (the database lookup, which
    /// also yields the credential's own expiry) and remembers its answer.
    async fn cached(
        &self,
        bearer: &str,
        resolve: impl std::future::Future<Output = Result<(Principal, Option<i64>), AuthError>>,
    ) -> Result<Principal, AuthError> {
        let digest = CredentialDigest::of(bearer);
        if let Some(principal) = self.cache.get(&digest, crate::db::now_ms()) {
            return Ok(principal);
        }
        let generation = self.cache.generation();
        let (principal, not_after_ms) = resolve.await?;
        self.cache
            .remember(digest, principal.clone(), not_after_ms, generation);
        Ok(principal)
    }

    /// Forgets every remembered credential; called after any request that
    /// may have changed who can do what.
    pub fn forget_credentials(&self) {
        self.cache.forget_all();
        self.webhook_agents.forget_all();
        self.provider_secrets.forget_all();
    }

    /// The agent a webhook URL reaches ([`webhook::resolve`]), remembered
    /// like any credential. Unknown tokens are not remembered.
    pub async fn webhook_agent(
        &self,
        provider: Source,
        token: &str,
    ) -> Result<Option<WebhookAgent>, AuthError> {
        let digest = CredentialDigest::of(token);
        if let Some(found) = self.webhook_agents.get(&digest, crate::db::now_ms()) {
            return Ok((found.agent.provider == provider).then_some(found));
        }
        let generation = self.webhook_agents.generation();
        let found =
            webhook::resolve(&self.db, &self.keys.credential_pepper, provider, token).await?;
        if let Some(found) = &found {
            self.webhook_agents
                .remember(digest, found.clone(), None, generation);
        }
        Ok(found)
    }

    /// A tenant's provider credential, opened by `open` unless this node
    /// opened it moments ago: every webhook of a flood is verified with it.
    pub async fn provider_secret<E>(
        &self,
        scope: &TenantScope,
        provider: Source,
        open: impl std::future::Future<Output = Result<Option<serde_json::Value>, E>>,
    ) -> Result<Option<Arc<serde_json::Value>>, E> {
        let key = (scope.tenant_id(), provider);
        if let Some(known) = self.provider_secrets.get(&key, crate::db::now_ms()) {
            return Ok(known);
        }
        let generation = self.provider_secrets.generation();
        let opened = open.await?.map(Arc::new);
        self.provider_secrets
            .remember(key, opened.clone(), None, generation);
        Ok(opened)
    }

    async fn authenticate_api_key(
        &self,
        key: &PlaintextApiKey,
    ) -> Result<(Principal, Option<i64>), AuthError> {
        let hash = key.hash(&self.keys.credential_pepper);
        let mut tx = self
            .db
            .credential_lookup(hash.as_str(), None, Mode::Read)
            .await?;
        let owner = api_keys::find_by_hash(&mut tx, &hash).await?;
        tx.commit().await?;
        let owner = owner.ok_or(AuthError::Invalid("unknown api key"))?;
        let now = crate::db::now_ms();
        if owner.key.revoked_at.is_some() || owner.key.expires_at.is_some_and(|e| e <= now) {
            return Err(AuthError::Invalid("revoked or expired api key"));
        }
        if owner.tenant_status == TenantStatus::Suspended {
            return Err(AuthError::TenantSuspended);
        }
        let principal = Principal::Tenant(Box::new(TenantContext {
            scope: TenantScope::new(owner.tenant_id),
            tenant_slug: owner.tenant_slug,
            plan: owner.tenant_plan,
            actor: Actor::ApiKey {
                id: owner.key.id,
                name: owner.key.name,
            },
            role: None,
            permissions: owner.key.scopes,
            impersonation: None,
            session: None,
        }));
        Ok((principal, owner.key.expires_at))
    }

    async fn authenticate_access(&self, claims: AccessClaims) -> Result<Principal, AuthError> {
        let mut tx = self
            .db
            .credential_lookup("", Some(&claims.sub.to_string()), Mode::Read)
            .await?;
        let user = users::find(tx.conn(), claims.sub)
            .await?
            .ok_or(AuthError::Invalid("user gone"))?;
        if let Some(family) = claims.sid {
            if !refresh_tokens::family_is_live(&mut tx, family, user.id).await? {
                return Err(AuthError::Invalid("signed out"));
            }
        }
        let principal = match (claims.kind, claims.tid) {
            (TokenKind::Session, None) => {
                if !user.is_platform_admin {
                    return Err(AuthError::Invalid("not a platform admin"));
                }
                Principal::Platform(Operator::PlatformAdmin {
                    id: user.id,
                    email: user.email,
                    session: claims.sid,
                })
            }
            (TokenKind::Session, Some(tenant_id)) => {
                let membership = memberships::tenants_of_user(&mut tx, user.id)
                    .await?
                    .into_iter()
                    .find(|m| m.tenant_id == tenant_id)
                    .ok_or(AuthError::Invalid("no longer a member"))?;
                if membership.status == TenantStatus::Suspended {
                    return Err(AuthError::TenantSuspended);
                }
                let tenant = tenants::find(tx.conn(), tenant_id)
                    .await?
                    .ok_or(AuthError::Invalid("tenant gone"))?;
                Principal::Tenant(Box::new(TenantContext {
                    scope: TenantScope::new(tenant_id),
                    tenant_slug: tenant.slug,
                    plan: tenant.plan,
                    actor: Actor::User {
                        id: user.id,
                        email: user.email,
                    },
                    role: Some(membership.role),
                    permissions: membership.role.permissions(),
                    impersonation: None,
                    session: claims.sid,
                }))
            }
            (TokenKind::Impersonation, Some(tenant_id)) => {
                if !user.is_platform_admin {
                    return Err(AuthError::Invalid("no longer a platform admin"));
                }
                let tenant = tenants::find(tx.conn(), tenant_id)
                    .await?
                    .ok_or(AuthError::Invalid("tenant gone"))?;
                if tenant.status == TenantStatus::Suspended {
                    return Err(AuthError::TenantSuspended);
                }
                let expires_at = time::OffsetDateTime::from_unix_timestamp(claims.exp)
                    .ok()
                    .and_then(|t| {
                        t.format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    })
                    .unwrap_or_default();
                Principal::Tenant(Box::new(TenantContext {
                    scope: TenantScope::new(tenant_id),
                    tenant_slug: tenant.slug,
                    plan: tenant.plan,
                    actor: Actor::Operator {
                        id: user.id,
                        email: user.email.clone(),
                    },
                    role: Some(Role::Admin),
                    permissions: Role::Admin.permissions(),
                    impersonation: Some(Impersonation {
                        operator_id: user.id,
                        operator_email: user.email,
                        expires_at,
                    }),
                    session: None,
                }))
            }
            (TokenKind::Impersonation, None) => {
                return Err(AuthError::Invalid("impersonation without tenant"))
            }
        };
        tx.commit().await?;
        Ok(principal)
    }

    async fn authenticate_external(&self, bearer: &str) -> Result<Principal, AuthError> {
        let identity = self.external.verify(bearer).await.map_err(|e| {
            tracing::info!(error = %e, "external token refused");
            match e {
                ExternalError::Fetch(_) => AuthError::Invalid("identity provider unreachable"),
                _ => AuthError::Invalid("external token"),
            }
        })?;
        let mut tx = self.db.platform(Mode::Read).await?;
        let tenant = tenants::find_by_external_org(tx.conn(), &identity.org_id)
            .await?
            .ok_or(AuthError::UnknownOrganisation)?;
        tx.commit().await?;
        if tenant.status == TenantStatus::Suspended {
            return Err(AuthError::TenantSuspended);
        }
        Ok(Principal::Tenant(Box::new(TenantContext {
            scope: TenantScope::new(tenant.id),
            tenant_slug: tenant.slug,
            plan: tenant.plan,
            actor: Actor::ExternalUser {
                provider: identity.provider,
                id: identity.user_id,
                email: identity.email,
            },
            role: Some(identity.role),
            permissions: identity.role.permissions(),
            impersonation: None,
            session: None,
        })))
    }

    /// Signs in with email and password, into `tenant` or the user's only tenant.
    pub async fn login(
        &self,
        email: &Email,
        password: &PlaintextPassword,
        tenant: Option<&Slug>,
    ) -> Result<Session, LoginError> {
        let mut platform = self.db.platform(Mode::Read).await?;
        let user = users::find_by_email(platform.conn(), email).await?;
        platform.commit().await?;
        let verified = match user.as_ref().and_then(|u| u.password_hash.as_ref()) {
            Some(hash) => hash.verify(password).await,
            None => {
                PasswordHash::decoy().verify(password).await;
                false
            }
        };
        let user = match (verified, user) {
            (true, Some(user)) => user,
            _ => return Err(LoginError::InvalidCredentials),
        };
        let family = RefreshFamilyId::generate();
        let mut tx = self
            .db
            .credential_lookup("", Some(&user.id.to_string()), Mode::Write)
            .await?;
        let memberships = memberships::tenants_of_user(&mut tx, user.id).await?;
        let chosen = match tenant {
            Some(slug) => Some(
                memberships
                    .iter()
                    .find(|m| &m.slug == slug)
                    .ok_or(LoginError::InvalidCredentials)?,
            ),
            // A platform admin's own session belongs to no tenant; naming one
            // signs them in as a member of it.
            None if user.is_platform_admin => None,
            None if memberships.len() == 1 => memberships.first(),
            None if memberships.is_empty() => return Err(LoginError::InvalidCredentials),
            None => {
                return Err(LoginError::TenantRequired(
                    memberships.iter().map(|m| m.slug.clone()).collect(),
                ))
            }
        };
        if chosen.is_some_and(|m| m.status == TenantStatus::Suspended) {
            return Err(LoginError::TenantSuspended);
        }
        let tenant_id = chosen.map(|m| m.tenant_id);
        let session = self
            .start_session(&mut tx, user.id, tenant_id, family)
            .await?;
        tx.commit().await?;
        Ok(session)
    }

    async fn start_session(
        &self,
        tx: &mut crate::db::CredentialTx,
        user: UserId,
        tenant: Option<TenantId>,
        family: RefreshFamilyId,
    ) -> Result<Session, crate::db::DbError> {
        let refresh = token::new_refresh_secret();
        let refresh_ttl = self.config.refresh_token_ttl_secs;
        let expires_at = crate::db::now_ms() + (refresh_ttl as i64) * 1000;
        refresh_tokens::insert(
            tx,
            family,
            tenant,
            user,
            &self.refresh_hash(&refresh),
            expires_at,
        )
        .await?;
        let now = now_secs();
        let ttl = self.config.access_token_ttl_secs;
        let claims = AccessClaims {
            iss: token::ISSUER.into(),
            aud: token::AUDIENCE.into(),
            sub: user,
            kind: TokenKind::Session,
            tid: tenant,
            sid: Some(family),
            iat: now,
            exp: now + ttl as i64,
        };
        Ok(Session {
            access_token: token::issue(&self.keys.token_signing, &claims),
            expires_in: ttl,
            refresh_token: refresh,
            refresh_ttl,
        })
    }

    fn refresh_hash(&self, secret: &str) -> String {
        keyed_hash(&self.keys.credential_pepper, "refresh-token", secret)
    }

    /// Exchanges a refresh token for a new pair. A token presented a second
    /// time revokes its whole family: whoever holds the other copy is locked
    /// out too.
    pub async fn refresh(&self, secret: &str) -> Result<Session, AuthError> {
        let hash = self.refresh_hash(secret);
        let mut tx = self.db.credential_lookup(&hash, None, Mode::Write).await?;
        let token = refresh_tokens::find_by_hash(&mut tx, &hash)
            .await?
            .ok_or(AuthError::Invalid("unknown refresh token"))?;
        tx.reveal_user(&token.user_id.to_string()).await?;
        if token.revoked_at.is_some() {
            return Err(AuthError::Invalid("revoked refresh token"));
        }
        if token.used_at.is_some() || !refresh_tokens::mark_used(&mut tx, token.id).await? {
            let revoked =
                refresh_tokens::revoke_family(&mut tx, token.family_id, token.user_id).await?;
            tx.commit().await?;
            tracing::warn!(family = %token.family_id, revoked, "refresh token reused; session family revoked");
            return Err(AuthError::Invalid("refresh token reuse"));
        }
        if token.expires_at <= crate::db::now_ms() {
            return Err(AuthError::Invalid("expired refresh token"));
        }
        if let Some(tenant_id) = token.tenant_id {
            let membership = memberships::tenants_of_user(&mut tx, token.user_id)
                .await?
                .into_iter()
                .find(|m| m.tenant_id == tenant_id);
            match membership {
                None => return Err(AuthError::Invalid("no longer a member")),
                Some(m) if m.status == TenantStatus::Suspended => {
                    return Err(AuthError::TenantSuspended)
                }
                Some(_) => {}
            }
        }
        let session = self
            .start_session(&mut tx, token.user_id, token.tenant_id, token.family_id)
            .await?;
        tx.commit().await?;
        Ok(session)
    }

    /// Ends the sign-in behind an access token: its refresh family is revoked
    /// and, because access tokens name their family, they stop working too.
    pub async fn logout(&self, user: UserId, family: RefreshFamilyId) -> Result<(), AuthError> {
        let mut tx = self
            .db
            .credential_lookup("", Some(&user.to_string()), Mode::Write)
            .await?;
        refresh_tokens::revoke_family(&mut tx, family, user).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A short-lived token with which a platform admin acts inside `tenant`.
    pub fn impersonation_token(&self, operator: UserId, tenant: TenantId) -> (String, u64) {
        let now = now_secs();
        let ttl = self.config.impersonation_ttl_secs;
        let claims = AccessClaims {
            iss: token::ISSUER.into(),
            aud: token::AUDIENCE.into(),
            sub: operator,
            kind: TokenKind::Impersonation,
            tid: Some(tenant),
            sid: None,
            iat: now,
            exp: now + ttl as i64,
        };
        (token::issue(&self.keys.token_signing, &claims), ttl)
    }
}

/// The scopes an API key gets when none are asked for: read-only, like a viewer.
pub fn default_api_key_scopes() -> PermissionSet {
    Role::Viewer.permissions()
}
