//! Envelope encryption of secrets at rest (AES-256-GCM).
//!
//! Each secret gets its own random data key; the data key is encrypted
//! ("wrapped") by a master key, whose id travels with the ciphertext. Rotating
//! the master key therefore re-wraps 32-byte data keys and never touches the
//! secrets themselves, and a store sealed under several master keys can be
//! opened while a rotation is under way.
//!
//! Sealed form: `sb1.<master key id>.<b64 nonce‖wrapped data key>.<b64 nonce‖ciphertext>`.
//! The caller's associated data (e.g. `tenant:<id>:credential:retell`) is bound
//! into both layers, so a sealed value copied onto another row does not open.

use std::fmt;
use std::io::Write as _;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{bail, Context as _};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const NONCE_LEN: usize = 12;
const VERSION: &str = "sb1";

/// A 256-bit master key and its id (a fingerprint, so it needs no registry).
pub struct MasterKey {
    id: String,
    cipher: Aes256Gcm,
}

impl MasterKey {
    pub fn from_bytes(bytes: &[u8]) -> anyhow::Result<Self> {
        anyhow::ensure!(
            bytes.len() == 32,
            "a master key must be exactly 32 bytes (got {})",
            bytes.len()
        );
        let id =
            hex(&Sha256::digest([b"switchboard master key id:".as_slice(), bytes].concat())[..8]);
        Ok(Self {
            id,
            cipher: Aes256Gcm::new_from_slice(bytes).expect("length checked"),
        })
    }

    /// Parses the base64 text form used in `SWITCHBOARD_MASTER_KEY` and key files.
    pub fn from_base64(text: &str) -> anyhow::Result<Self> {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .context("the master key is not valid base64")?,
        );
        Self::from_bytes(&bytes)
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

/// A fresh random key in the base64 text form.
pub fn generate_key_text() -> Zeroizing<String> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(bytes.as_mut());
    Zeroizing::new(STANDARD.encode(bytes.as_ref()))
}

/// The active master key, which seals, and older ones that can still open.
#[derive(Debug)]
pub struct Keyring {
    active: MasterKey,
    previous: Vec<MasterKey>,
}

/// A sealed secret, safe to store. Its text form reveals nothing but the id
/// of the master key that wrapped it.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(String);

impl Sealed {
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn key_id(&self) -> Option<&str> {
        self.0.split('.').nth(1)
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed(key {})", self.key_id().unwrap_or("?"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("the sealed value is malformed")]
    Malformed,
    #[error("the sealed value was wrapped by master key {0}, which is not configured")]
    UnknownKey(String),
    #[error("the sealed value failed authentication (tampered, or bound to other data)")]
    Forged,
}

impl Keyring {
    pub fn new(active: MasterKey, previous: Vec<MasterKey>) -> Self {
        Self { active, previous }
    }

    pub fn active_id(&self) -> &str {
        self.active.id()
    }

    pub fn seal(&self, plaintext: &[u8], aad: &str) -> Sealed {
        let mut data_key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(data_key.as_mut());
        let body = encrypt(
            &Aes256Gcm::new_from_slice(data_key.as_ref()).expect("32 bytes"),
            plaintext,
            aad,
        );
        let wrapped = encrypt(&self.active.cipher, data_key.as_ref(), &self.wrap_aad(aad));
        Sealed(format!(
            "{VERSION}.{}.{}.{}",
            self.active.id,
            URL_SAFE_NO_PAD.encode(wrapped),
            URL_SAFE_NO_PAD.encode(body)
        ))
    }

    pub fn open(&self, sealed: &Sealed, aad: &str) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        let (key_id, wrapped, body) = split(sealed)?;
        let data_key = self.unwrap_data_key(key_id, &wrapped, aad)?;
        let cipher = Aes256Gcm::new_from_slice(&data_key).map_err(|_| OpenError::Malformed)?;
        decrypt(&cipher, &body, aad).map(Zeroizing::new)
    }

    /// Re-wraps the data key under the active master key; the ciphertext of
    /// the secret itself is kept as it is.
    pub fn rewrap(&self, sealed: &Sealed, aad: &str) -> Result<Sealed, OpenError> {
        let (key_id, wrapped, body) = split(sealed)?;
        let data_key = self.unwrap_data_key(key_id, &wrapped, aad)?;
        let rewrapped = encrypt(&self.active.cipher, &data_key, &self.wrap_aad(aad));
        Ok(Sealed(format!(
            "{VERSION}.{}.{}.{}",
            self.active.id,
            URL_SAFE_NO_PAD.encode(rewrapped),
            URL_SAFE_NO_PAD.encode(body)
        )))
    }

    fn unwrap_data_key(
        &self,
        key_id: &str,
        wrapped: &[u8],
        aad: &str,
    ) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        let master = std::iter::once(&self.active)
            .chain(&self.previous)
            .find(|k| k.id == key_id)
            .ok_or_else(|| OpenError::UnknownKey(key_id.to_owned()))?;
        decrypt(&master.cipher, wrapped, &self.wrap_aad(aad)).map(Zeroizing::new)
    }

    fn wrap_aad(&self, aad: &str) -> String {
        format!("data-key:{aad}")
    }
}

fn split(sealed: &Sealed) -> Result<(&str, Vec<u8>, Vec<u8>), OpenError> {
    let mut parts = sealed.0.split('.');
    let (Some(VERSION), Some(key_id), Some(wrapped), Some(body), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(OpenError::Malformed);
    };
    let decode = |s: &str| URL_SAFE_NO_PAD.decode(s).map_err(|_| OpenError::Malformed);
    Ok((key_id, decode(wrapped)?, decode(body)?))
}

fn encrypt(cipher: &Aes256Gcm, plaintext: &[u8], aad: &str) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: aad.as_bytes(),
            },
        )
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    [nonce.as_slice(), &ct].concat()
}

fn decrypt(cipher: &Aes256Gcm, data: &[u8], aad: &str) -> Result<Vec<u8>, OpenError> {
    if data.len() < NONCE_LEN + 16 {
        return Err(OpenError::Malformed);
    }
    let (nonce, ct) = data.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("split at NONCE_LEN");
    cipher
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: ct,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| OpenError::Forged)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The on-disk key file: the active key and, during a rotation, the keys it
/// replaces. Created with mode 0600 on first start.
#[derive(Serialize, Deserialize)]
pub struct KeyFile {
    pub active: String,
    #[serde(default)]
    pub previous: Vec<String>,
}

impl KeyFile {
    pub fn read(path: &Path) -> anyhow::Result<KeyFile> {
        check_permissions(path)?;
        let text = Zeroizing::new(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        );
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid key file", path.display()))
    }

    /// Writes atomically (temporary file + rename) with mode 0600.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let tmp = path.with_extension("key.tmp");
        let mut file = open_private(&tmp)?;
        file.write_all(serde_json::to_string_pretty(self)?.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }

    pub fn keyring(&self) -> anyhow::Result<Keyring> {
        let previous = self
            .previous
            .iter()
            .map(|k| MasterKey::from_base64(k))
            .collect::<anyhow::Result<_>>()?;
        Ok(Keyring::new(
            MasterKey::from_base64(&self.active)?,
            previous,
        ))
    }
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        bail!(
            "{} is readable by other users (mode {:o}); run chmod 600 on it",
            path.display(),
            mode & 0o777
        );
    }
    Ok(())
}

/// Loads the keyring: `master_key` (+ `master_key_previous`) from the
/// environment when set, otherwise the key file, created on first start.
pub fn load_keyring(config: &crate::config::Config) -> anyhow::Result<Keyring> {
    if let Some(key) = &config.master_key {
        let previous = config
            .master_key_previous
            .iter()
            .map(|k| MasterKey::from_base64(k.expose()))
            .collect::<anyhow::Result<_>>()?;
        return Ok(Keyring::new(
            MasterKey::from_base64(key.expose()).context("SWITCHBOARD_MASTER_KEY")?,
            previous,
        ));
    }
    let path = config.master_key_path();
    if !path.exists() {
        KeyFile {
            active: generate_key_text().to_string(),
            previous: Vec::new(),
        }
        .write(&path)?;
        tracing::info!(path = %path.display(), "created a new master key file");
    }
    KeyFile::read(&path)?.keyring()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::from_base64(&generate_key_text()).unwrap()
    }

    #[test]
    fn seals_and_opens() {
        let ring = Keyring::new(key(), vec![]);
        let sealed = ring.seal(b"sk_live_abcdef", "tenant:t1:retell");
        assert!(!sealed.as_str().contains("sk_live"));
        assert_eq!(
            &ring.open(&sealed, "tenant:t1:retell").unwrap()[..],
            b"sk_live_abcdef"
        );
    }

    #[test]
    fn sealing_twice_differs() {
        let ring = Keyring::new(key(), vec![]);
        assert_ne!(ring.seal(b"x", "a"), ring.seal(b"x", "a"));
    }

    #[test]
    fn refuses_other_associated_data() {
        let ring = Keyring::new(key(), vec![]);
        let sealed = ring.seal(b"secret", "tenant:t1:retell");
        assert!(matches!(
            ring.open(&sealed, "tenant:t2:retell"),
            Err(OpenError::Forged)
        ));
    }

    #[test]
    fn refuses_tampering() {
        let ring = Keyring::new(key(), vec![]);
        let sealed = ring.seal(b"secret", "a");
        let mut text = sealed.as_str().to_owned();
        let last = text.pop().unwrap();
        text.push(if last == 'A' { 'B' } else { 'A' });
        assert!(ring.open(&Sealed::from_stored(text), "a").is_err());
        assert!(matches!(
            ring.open(&Sealed::from_stored("sb1.x.y".into()), "a"),
            Err(OpenError::Malformed)
        ));
        assert!(matches!(
            ring.open(&Sealed::from_stored("garbage".into()), "a"),
            Err(OpenError::Malformed)
        ));
    }

    #[test]
    fn rotation_rewraps_under_the_new_key() {
        let old_text = generate_key_text();
        let new_text = generate_key_text();
        let old = Keyring::new(MasterKey::from_base64(&old_text).unwrap(), vec![]);
        let sealed = old.seal(b"secret", "a");

        let rotating = Keyring::new(
            MasterKey::from_base64(&new_text).unwrap(),
            vec![MasterKey::from_base64(&old_text).unwrap()],
        );
        assert_eq!(&rotating.open(&sealed, "a").unwrap()[..], b"secret");
        let rewrapped = rotating.rewrap(&sealed, "a").unwrap();
        assert_eq!(rewrapped.key_id(), Some(rotating.active_id()));

        let rotated = Keyring::new(MasterKey::from_base64(&new_text).unwrap(), vec![]);
        assert_eq!(&rotated.open(&rewrapped, "a").unwrap()[..], b"secret");
        assert!(matches!(
            rotated.open(&sealed, "a"),
            Err(OpenError::UnknownKey(_))
        ));
    }

    #[test]
    fn key_file_is_private_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let file = KeyFile {
            active: generate_key_text().to_string(),
            previous: vec![],
        };
        file.write(&path).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            KeyFile::read(&path).unwrap().keyring().unwrap().active_id(),
            file.keyring().unwrap().active_id()
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(KeyFile::read(&path).is_err());
    }

    #[test]
    fn wrong_key_length_is_refused() {
        assert!(MasterKey::from_base64(&STANDARD.encode([0u8; 16])).is_err());
        assert!(MasterKey::from_base64("not base64!").is_err());
    }
}
