//! Platform keys shared by every node: the access-token signing key, the
//! pepper of credential hashes and the cursor-signing key. Generated once,
//! stored sealed with the master key, so nodes that share the database and
//! the master key agree on them and a database dump alone reveals none.

use rand::RngCore as _;
use zeroize::Zeroizing;

use crate::db::{platform_secrets, Db, Mode};
use crate::secrets::Keyring;

pub struct PlatformKeys {
    pub token_signing: Zeroizing<Vec<u8>>,
    pub credential_pepper: Zeroizing<Vec<u8>>,
    pub cursor_signing: Zeroizing<Vec<u8>>,
    /// Signs the short-lived URLs of the local object store.
    pub object_url_signing: Zeroizing<Vec<u8>>,
}

pub const NAMES: [&str; 4] = [
    "token_signing",
    "credential_pepper",
    "cursor_signing",
    "object_url_signing",
];

/// The associated data binding a platform secret to its name.
pub fn aad(name: &str) -> String {
    format!("platform:{name}")
}

impl PlatformKeys {
    pub async fn load_or_create(db: &Db, keyring: &Keyring) -> anyhow::Result<PlatformKeys> {
        let mut opened = Vec::with_capacity(NAMES.len());
        for name in NAMES {
            let mut tx = db.platform(Mode::Write).await?;
            let sealed = match platform_secrets::get(tx.conn(), name).await? {
                Some(sealed) => sealed,
                None => {
                    let mut fresh = Zeroizing::new(vec![0u8; 32]);
                    rand::rngs::OsRng.fill_bytes(&mut fresh);
                    platform_secrets::insert_if_absent(
                        tx.conn(),
                        name,
                        &keyring.seal(&fresh, &aad(name)),
                    )
                    .await?;
                    platform_secrets::get(tx.conn(), name)
                        .await?
                        .expect("just inserted")
                }
            };
            tx.commit().await?;
            let plain = keyring.open(&sealed, &aad(name)).map_err(|e| {
                anyhow::anyhow!("cannot open the platform secret {name:?}: {e}. Is this the master key the database was created with?")
            })?;
            opened.push(plain);
        }
        let mut it = opened.into_iter();
        let mut next = || Zeroizing::new(it.next().expect("one per name").to_vec());
        Ok(PlatformKeys {
            token_signing: next(),
            credential_pepper: next(),
            cursor_signing: next(),
            object_url_signing: next(),
        })
    }
}
