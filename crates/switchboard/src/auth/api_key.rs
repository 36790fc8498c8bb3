//! Tenant API keys: `sbk_<8-character visible prefix>_<secret>`. The plaintext
//! exists once, in the response that creates it; the database keeps an
//! HMAC-SHA256 of it under the platform pepper, so a leaked database does not
//! yield usable keys. The two types cannot be confused.

use std::fmt;

use hmac::{Hmac, Mac as _};
use rand::distributions::{Alphanumeric, DistString as _};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::secrets::hex;

pub const PREFIX: &str = "sbk_";

/// A key as handed to its owner. Not `Serialize`, not `Clone`, wiped on drop.
pub struct PlaintextApiKey(Zeroizing<String>);

impl PlaintextApiKey {
    pub fn generate() -> Self {
        let mut rng = rand::rngs::OsRng;
        let visible = Alphanumeric.sample_string(&mut rng, 8);
        let secret = Alphanumeric.sample_string(&mut rng, 40);
        Self(Zeroizing::new(format!("{PREFIX}{visible}_{secret}")))
    }

    /// Recognises the shape of a key; anything else is not one of ours.
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix(PREFIX)?;
        let (visible, secret) = rest.split_once('_')?;
        let ok = visible.len() == 8
            && secret.len() == 40
            && visible
                .bytes()
                .chain(secret.bytes())
                .all(|b| b.is_ascii_alphanumeric());
        ok.then(|| Self(Zeroizing::new(text.to_owned())))
    }

    /// `sbk_AbCd1234`: enough to recognise a key, useless to use it.
    pub fn visible_prefix(&self) -> &str {
        &self.0[..PREFIX.len() + 8]
    }

    pub fn hash(&self, pepper: &[u8]) -> ApiKeyHash {
        ApiKeyHash(keyed_hash(pepper, "api-key", &self.0))
    }

    /// The one place the secret is revealed: the response that creates it.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PlaintextApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlaintextApiKey({}…)", self.visible_prefix())
    }
}

/// What the database stores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyHash(String);

impl ApiKeyHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// HMAC-SHA256 of `value` under `key`, domain-separated by `purpose`, as hex.
pub fn keyed_hash(key: &[u8], purpose: &str, value: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(purpose.as_bytes());
    mac.update(b"\0");
    mac.update(value.as_bytes());
    hex(&mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_hash_stably() {
        let key = PlaintextApiKey::generate();
        let again = PlaintextApiKey::parse(key.reveal()).unwrap();
        assert_eq!(key.hash(b"pepper"), again.hash(b"pepper"));
        assert_ne!(key.hash(b"pepper"), key.hash(b"other pepper"));
        assert!(key.visible_prefix().starts_with("sbk_"));
        assert_eq!(key.visible_prefix().len(), 12);
        assert!(!format!("{key:?}").contains(&key.reveal()[13..]));
    }

    #[test]
    fn rejects_other_shapes() {
        for bad in [
            "",
            "sbk_",
            "sbk_short_x",
            "Bearer sbk_x",
            "sbk_abcdefgh_tooshort",
            &format!("sbk_abcdefg!_{}", "a".repeat(40)),
        ] {
            assert!(PlaintextApiKey::parse(bad).is_none(), "{bad} accepted");
        }
    }
}
