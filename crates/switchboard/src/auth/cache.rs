//! A short-lived memory of credentials this node has already verified, so
//! that a burst of requests with one API key or access token — or of
//! webhooks with one agent's URL and its tenant's provider secret — costs
//! one database lookup instead of one per request.
//!
//! Staleness is bounded two ways (see docs/decisions/0005-credential-cache.md):
//! every entry lives at most the configured TTL (and never past the
//! credential's own expiry), and any state-changing request on this node
//! forgets every entry. A change made elsewhere (another node, the CLI)
//! therefore takes effect within one TTL.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use super::Principal;

/// What a cache lookup is keyed by: a digest of the presented secret, so the
/// secret itself is never kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CredentialDigest([u8; 32]);

impl CredentialDigest {
    pub fn of(bearer: &str) -> Self {
        Self(Sha256::digest(bearer.as_bytes()).into())
    }
}

#[derive(Clone)]
struct Entry<V> {
    value: V,
    /// The credential's own expiry (Unix ms), when it has one.
    not_after_ms: Option<i64>,
}

/// What a key (by default a [`CredentialDigest`]) proved, by default who
/// presented it.
pub struct CredentialCache<K = CredentialDigest, V = Principal> {
    entries: Option<moka::sync::Cache<K, Entry<V>>>,
    /// Bumped by every [`CredentialCache::forget_all`]; a lookup that started
    /// before a bump must not store what it read.
    generation: AtomicU64,
}

/// Taken before reading a credential from the database and handed back to
/// [`CredentialCache::remember`].
#[derive(Clone, Copy, Debug)]
pub struct Generation(u64);

const CAPACITY: u64 = 100_000;

impl<K, V> CredentialCache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + Clone + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A zero TTL disables the cache.
    pub fn new(ttl: Duration) -> Self {
        let entries = (!ttl.is_zero()).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(ttl)
                .build()
        });
        Self {
            entries,
            generation: AtomicU64::new(0),
        }
    }

    pub fn get(&self, key: &K, now_ms: i64) -> Option<V> {
        let entry = self.entries.as_ref()?.get(key)?;
        match entry.not_after_ms {
            Some(limit) if limit <= now_ms => None,
            _ => Some(entry.value),
        }
    }

    pub fn generation(&self) -> Generation {
        Generation(self.generation.load(Ordering::Acquire))
    }

    /// Stores what was read at `read_at`, unless something was forgotten
    /// since: the read may predate that change.
    pub fn remember(&self, key: K, value: V, not_after_ms: Option<i64>, read_at: Generation) {
        let Some(entries) = &self.entries else {
            return;
        };
        if self.generation.load(Ordering::Acquire) != read_at.0 {
            return;
        }
        entries.insert(
            key.clone(),
            Entry {
                value,
                not_after_ms,
            },
        );
        // A forget_all between the check above and the insert bumped the
        // generation before clearing; undo the insert it may have missed.
        if self.generation.load(Ordering::Acquire) != read_at.0 {
            entries.invalidate(&key);
        }
    }

    pub fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(entries) = &self.entries {
            entries.invalidate_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Operator;
    use switchboard_core::{Email, UserId};

    fn principal() -> Principal {
        Principal::Platform(Operator::PlatformAdmin {
            id: UserId::generate(),
            email: "ops@switchboard.example".parse::<Email>().unwrap(),
            session: None,
        })
    }

    #[test]
    fn remembers_until_forgotten() {
        let cache = CredentialCache::new(Duration::from_secs(60));
        let key = CredentialDigest::of("sbk_aaaaaaaa_secret");
        assert!(cache.get(&key, 0).is_none());
        cache.remember(key, principal(), None, cache.generation());
        assert!(cache.get(&key, 0).is_some());
        assert!(cache.get(&CredentialDigest::of("another"), 0).is_none());
        cache.forget_all();
        assert!(cache.get(&key, 0).is_none());
    }

    #[test]
    fn a_read_that_started_before_a_change_is_not_stored() {
        let cache = CredentialCache::new(Duration::from_secs(60));
        let key = CredentialDigest::of("token");
        let before = cache.generation();
        cache.forget_all();
        cache.remember(key, principal(), None, before);
        assert!(cache.get(&key, 0).is_none());
    }

    #[test]
    fn never_outlives_the_credential() {
        let cache = CredentialCache::new(Duration::from_secs(60));
        let key = CredentialDigest::of("token");
        cache.remember(key, principal(), Some(1_000), cache.generation());
        assert!(cache.get(&key, 999).is_some());
        assert!(cache.get(&key, 1_000).is_none());
    }

    #[test]
    fn zero_ttl_disables() {
        let cache = CredentialCache::new(Duration::ZERO);
        let key = CredentialDigest::of("token");
        cache.remember(key, principal(), None, cache.generation());
        assert!(cache.get(&key, 0).is_none());
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let cache = CredentialCache::new(Duration::from_millis(20));
        let key = CredentialDigest::of("token");
        cache.remember(key, principal(), None, cache.generation());
        assert!(cache.get(&key, 0).is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get(&key, 0).is_none());
    }
}
