//! Webhook URLs: `/webhooks/<provider>/<token>`, one per agent. The token is
//! derived from the agent id and a stored nonce with the platform pepper, so
//! it can be shown again without being stored; the database keeps its keyed
//! hash, which is how an incoming webhook finds its agent — and its tenant —
//! before any tenant is known. Rotating the nonce kills the old URL.

use rand::distributions::{Alphanumeric, DistString as _};
use switchboard_core::{AgentId, TenantStatus};
use switchboard_ingest::Source;

use super::api_key::keyed_hash;
use super::{AuthError, TenantScope};
use crate::db::agents::{self, AgentRecord};
use crate::db::{Db, Mode};

const TOKEN_PREFIX: &str = "wh_";
const TOKEN_HEX_LEN: usize = 48;

pub fn new_nonce() -> String {
    Alphanumeric.sample_string(&mut rand::rngs::OsRng, 24)
}

/// The URL token of an agent.
pub fn token(pepper: &[u8], agent: AgentId, nonce: &str) -> String {
    let mac = keyed_hash(pepper, "webhook-token", &format!("{agent}:{nonce}"));
    format!("{TOKEN_PREFIX}{}", &mac[..TOKEN_HEX_LEN])
}

/// What the database keeps of a token.
pub fn token_hash(pepper: &[u8], token: &str) -> String {
    keyed_hash(pepper, "webhook-token-hash", token)
}

fn well_formed(token: &str) -> bool {
    token.strip_prefix(TOKEN_PREFIX).is_some_and(|h| {
        h.len() == TOKEN_HEX_LEN
            && h.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    })
}

/// An agent proven by its webhook URL, with the scope of its tenant.
#[derive(Clone)]
pub struct WebhookAgent {
    pub scope: TenantScope,
    pub agent: AgentRecord,
}

/// Finds the agent a webhook URL belongs to. `None` for an unknown token or
/// a token of another provider's agent: the caller answers 404 either way.
pub async fn resolve(
    db: &Db,
    pepper: &[u8],
    provider: Source,
    token: &str,
) -> Result<Option<WebhookAgent>, AuthError> {
    if !well_formed(token) {
        return Ok(None);
    }
    let hash = token_hash(pepper, token);
    let mut tx = db.credential_lookup(&hash, None, Mode::Read).await?;
    let owner = agents::find_by_token_hash(&mut tx, &hash).await?;
    tx.commit().await?;
    let Some(owner) = owner.filter(|o| o.agent.provider == provider) else {
        return Ok(None);
    };
    if owner.tenant_status == TenantStatus::Suspended {
        return Err(AuthError::TenantSuspended);
    }
    Ok(Some(WebhookAgent {
        scope: TenantScope::new(owner.tenant_id),
        agent: owner.agent,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stable_per_nonce_and_well_formed() {
        let agent = AgentId::generate();
        let t = token(b"pepper", agent, "n1");
        assert_eq!(t, token(b"pepper", agent, "n1"));
        assert_ne!(t, token(b"pepper", agent, "n2"));
        assert_ne!(t, token(b"other", agent, "n1"));
        assert!(well_formed(&t));
        for bad in [
            "",
            "wh_",
            "wh_../../etc",
            &t.to_uppercase(),
            &format!("{t}0"),
        ] {
            assert!(!well_formed(bad), "{bad:?}");
        }
    }
}
