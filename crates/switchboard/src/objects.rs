//! The object store: local files under the data directory by default, any
//! S3-compatible store when `object_store_url` is set. Keys can only be made
//! from a [`TenantScope`] and parsed ids, so every object lives under its
//! tenant's prefix and no caller-supplied text reaches a path (invariant 3).
//! Objects are served only through short-lived signed URLs, after the
//! caller has checked ownership.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use hmac::{Hmac, Mac as _};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::signer::Signer as _;
use object_store::{ObjectStore, PutPayload};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;
use switchboard_core::CallId;

use crate::auth::TenantScope;
use crate::config::{Config, LocalObjectSync};
use crate::secrets::hex;

/// The audio formats accepted and stored, by file extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AudioFormat {
    Wav,
    Mp3,
    Ogg,
    Webm,
    M4a,
    Flac,
}

impl AudioFormat {
    pub const ALL: [AudioFormat; 6] = [
        AudioFormat::Wav,
        AudioFormat::Mp3,
        AudioFormat::Ogg,
        AudioFormat::Webm,
        AudioFormat::M4a,
        AudioFormat::Flac,
    ];

    pub fn extension(self) -> &'static str {
        match self {
            AudioFormat::Wav => "wav",
            AudioFormat::Mp3 => "mp3",
            AudioFormat::Ogg => "ogg",
            AudioFormat::Webm => "webm",
            AudioFormat::M4a => "m4a",
            AudioFormat::Flac => "flac",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            AudioFormat::Wav => "audio/wav",
            AudioFormat::Mp3 => "audio/mpeg",
            AudioFormat::Ogg => "audio/ogg",
            AudioFormat::Webm => "audio/webm",
            AudioFormat::M4a => "audio/mp4",
            AudioFormat::Flac => "audio/flac",
        }
    }

    /// From a `Content-Type` (parameters ignored).
    pub fn from_content_type(ct: &str) -> Option<Self> {
        let ct = ct.split(';').next()?.trim().to_ascii_lowercase();
        let alias = match ct.as_str() {
            "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => "audio/wav",
            "audio/mp3" => "audio/mpeg",
            "audio/x-m4a" | "audio/m4a" => "audio/mp4",
            "audio/x-flac" => "audio/flac",
            other => other,
        };
        Self::ALL.into_iter().find(|f| f.content_type() == alias)
    }

    pub fn from_extension(ext: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|f| f.extension().eq_ignore_ascii_case(ext))
    }
}

/// The two tables of CCI's v2.0-flat output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlatTable {
    Calls,
    Qa,
}

impl FlatTable {
    pub fn as_str(self) -> &'static str {
        match self {
            FlatTable::Calls => "calls",
            FlatTable::Qa => "qa",
        }
    }
}

/// Where an object lives: always under `<tenant>/`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectKey(String);

impl ObjectKey {
    fn call_object(scope: &TenantScope, kind: &str, call: CallId, ext: &str) -> Self {
        Self(format!("{}/{kind}/{call}.{ext}", scope.tenant_id()))
    }

    /// Every provider event of the call, as received.
    pub fn raw(scope: &TenantScope, call: CallId) -> Self {
        Self::call_object(scope, "raw", call, "json")
    }

    /// The call's metadata as the API shows it.
    pub fn meta(scope: &TenantScope, call: CallId) -> Self {
        Self::call_object(scope, "meta", call, "json")
    }

    /// The redacted transcript with the local analysers' results.
    pub fn enriched(scope: &TenantScope, call: CallId) -> Self {
        Self::call_object(scope, "enriched", call, "json")
    }

    /// The full analysed call (CCI's `final/v1.0`).
    pub fn final_v1(scope: &TenantScope, call: CallId) -> Self {
        Self::call_object(scope, "final/v1.0", call, "json")
    }

    /// A day's CCI v2.0-flat file: `table` is `calls` or `qa`; `None` when
    /// `day` is not `yyyy-mm-dd`.
    pub fn flat(scope: &TenantScope, table: FlatTable, day: &str) -> Option<Self> {
        let b = day.as_bytes();
        let shaped = b.len() == 10
            && b.iter().enumerate().all(|(i, c)| {
                if i == 4 || i == 7 {
                    *c == b'-'
                } else {
                    c.is_ascii_digit()
                }
            });
        shaped.then(|| {
            Self(format!(
                "{}/final/v2.0-flat/{}/{day}.jsonl",
                scope.tenant_id(),
                table.as_str()
            ))
        })
    }

    /// The tenant's active `ai-config.json` or `qa-config.json`.
    pub fn config(scope: &TenantScope, kind: crate::db::tenant_configs::ConfigKind) -> Self {
        Self(format!("{}/config/{}", scope.tenant_id(), kind.file_name()))
    }

    pub fn audio(scope: &TenantScope, call: CallId, format: AudioFormat) -> Self {
        Self::call_object(scope, "audio", call, format.extension())
    }

    /// A stored key read back from the database, accepted only under the
    /// scope's own prefix and without path tricks.
    pub fn stored(scope: &TenantScope, key: &str) -> Option<Self> {
        let prefix = format!("{}/", scope.tenant_id());
        let ok = key.starts_with(&prefix)
            && !key.contains("..")
            && !key.contains("//")
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b));
        ok.then(|| Self(key.to_owned()))
    }

    /// Where the versions of this object that could not be read are kept
    /// once it is replaced — `<tenant>/unreadable/<its path>.<ms>`, outside
    /// the layout's folders: their folder, and how their names begin.
    fn unreadable_versions(&self) -> (String, String) {
        let (tenant, path) = self.0.split_once('/').expect("a key is under its tenant");
        let (folder, file) = path.rsplit_once('/').expect("a key names a folder");
        (format!("{tenant}/unreadable/{folder}"), format!("{file}."))
    }

    fn unreadable(&self, at_ms: i64) -> Self {
        let (folder, name) = self.unreadable_versions();
        Self(format!("{folder}/{name}{at_ms}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn path(&self) -> Path {
        Path::from(self.0.as_str())
    }
}

/// The S3-compatible store named by `object_store_url`, with the `s3` settings.
pub fn s3_store(config: &Config) -> anyhow::Result<Arc<AmazonS3>> {
    let url = config.object_store_url.as_deref().unwrap_or_default();
    anyhow::ensure!(
        url.starts_with("s3://"),
        "object_store_url must start with s3://"
    );
    let mut b = AmazonS3Builder::from_env()
        .with_url(url)
        .with_allow_http(config.s3.allow_http);
    if let Some(e) = &config.s3.endpoint {
        b = b.with_endpoint(e).with_virtual_hosted_style_request(false);
    }
    if let Some(r) = &config.s3.region {
        b = b.with_region(r);
    }
    if let Some(k) = &config.s3.access_key_id {
        b = b.with_access_key_id(k.expose());
    }
    if let Some(k) = &config.s3.secret_access_key {
        b = b.with_secret_access_key(k.expose());
    }
    Ok(Arc::new(
        b.build().context("configuring the S3 object store")?,
    ))
}

#[derive(Clone)]
enum Backend {
    /// Read through `object_store`; written through [`stage`] under `root`.
    Local(Arc<LocalFileSystem>, Arc<std::path::Path>, LocalObjectSync),
    S3(Arc<AmazonS3>),
}

/// Objects written at once at most (S3 requests, or files being synced).
const CONCURRENT_WRITES: usize = 16;

async fn blocking(
    work: impl FnOnce() -> std::io::Result<()> + Send + 'static,
) -> object_store::Result<()> {
    let local = |e: std::io::Error| object_store::Error::Generic {
        store: "LocalFileSystem",
        source: Box::new(e),
    };
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| local(std::io::Error::other(e)))?
        .map_err(local)
}

/// Runs `write`, and again after creating the directories `path` needs
/// when one was missing. With `sync`, the directories it created are on
/// the device when this returns.
fn with_directories<T>(
    root: &std::path::Path,
    path: &std::path::Path,
    sync: bool,
    mut write: impl FnMut() -> std::io::Result<T>,
) -> std::io::Result<T> {
    match write() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dir = path.parent().expect("an object is in a directory");
            std::fs::create_dir_all(dir)?;
            if sync {
                // The new directories' own entries, up to the store's root.
                for created in dir.ancestors().skip(1).take_while(|a| a.starts_with(root)) {
                    sync_dir(created)?;
                }
            }
            write()
        }
        other => other,
    }
}

/// Writes `bytes` to a staging name beside `path`, creating the
/// directories it needs, and returns that name. The staging name ends in
/// `#<digits>`, which `object_store`'s local store never lists, so a crash
/// before the rename leaves nothing visible. With `sync`, the data and the
/// directories it created are on the device when this returns.
fn stage(
    root: &std::path::Path,
    path: &std::path::Path,
    bytes: &[u8],
    sync: bool,
) -> std::io::Result<std::path::PathBuf> {
    use std::io::Write as _;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| std::io::Error::other("an object key has a file name"))?;
    let staging = path.with_file_name(format!("{name}#{}", rand::random::<u32>()));
    let written = with_directories(root, path, sync, || {
        let mut file = std::fs::File::create(&staging)?;
        file.write_all(bytes)?;
        if sync {
            file.sync_data()?;
        }
        Ok(())
    });
    match written {
        Ok(()) => Ok(staging),
        Err(e) => {
            let _ = std::fs::remove_file(&staging);
            Err(e)
        }
    }
}

/// Writes `bytes` under `path` itself if no file has that name yet, and
/// says whether it did: nothing durable is there to lose if a crash cuts
/// the write short (see [`NewObjects::InPlace`]). `O_EXCL` settles a race
/// with another process creating the same name: the loser stages. A write
/// that fails leaves what it wrote, which is not removed: by then the name
/// may be another process's, and a torn new object is handled anyway.
fn create_in_place(
    root: &std::path::Path,
    path: &std::path::Path,
    bytes: &[u8],
) -> std::io::Result<bool> {
    use std::io::Write as _;
    match with_directories(root, path, false, || std::fs::File::create_new(path)) {
        Ok(mut file) => file.write_all(bytes).map(|()| true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes `path` whole or not at all, its data on the device before its
/// name is (its directory is the caller's to sync).
fn write_synced(
    root: &std::path::Path,
    path: &std::path::Path,
    bytes: &[u8],
) -> std::io::Result<()> {
    let staging = stage(root, path, bytes, true)?;
    std::fs::rename(&staging, path)
}

/// Writes every object under `root` with two `syncfs` for all of them
/// instead of a flush per file and directory (decision 0010): the staged
/// data first, so that no name — a new one, or one replacing a durable
/// document — can survive a crash without its bytes; then the names. With
/// [`NewObjects::InPlace`], objects that do not exist yet are written under
/// their own names and the first `syncfs` makes them durable, names and
/// all; the second is needed only when something was replaced.
#[cfg(target_os = "linux")]
fn write_all_then_sync_filesystem(
    root: &std::path::Path,
    objects: &[(ObjectKey, Bytes)],
    new: NewObjects,
) -> std::io::Result<()> {
    let mut staged = Vec::with_capacity(objects.len());
    let mut stage_all = || -> std::io::Result<()> {
        for (key, bytes) in objects {
            let path = root.join(key.as_str());
            if new == NewObjects::InPlace && create_in_place(root, &path, bytes)? {
                continue;
            }
            staged.push((stage(root, &path, bytes, false)?, path));
        }
        syncfs(root)
    };
    if let Err(e) = stage_all() {
        for (staging, _) in &staged {
            let _ = std::fs::remove_file(staging);
        }
        return Err(e);
    }
    if staged.is_empty() {
        return Ok(());
    }
    for (staging, path) in staged {
        std::fs::rename(staging, path)?;
    }
    syncfs(root)
}

#[cfg(target_os = "linux")]
fn syncfs(root: &std::path::Path) -> std::io::Result<()> {
    Ok(rustix::fs::syncfs(std::fs::File::open(root)?)?)
}

/// Makes the entries of `dir` (files renamed into it) durable.
fn sync_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// What a reader may see of a local object that a batch creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NewObjects {
    /// Whole or nothing: staged and renamed into place, like any other.
    Whole,
    /// Written under its own name, which saves a rename per object and, in
    /// a batch that replaces nothing, the second `syncfs`. A reader may see
    /// it before it is whole, and a crash before the batch's sync may leave
    /// it torn. Only for writers who answer no one before the sync and read
    /// such objects back only where an unreadable one is taken for an
    /// unfinished write: the ingest syncer (decision 0014).
    InPlace,
}

#[derive(Clone)]
pub struct Objects {
    backend: Backend,
    url_key: Arc<[u8]>,
    public_base: String,
}

impl Objects {
    pub fn open(config: &Config, url_key: &[u8]) -> anyhow::Result<Objects> {
        let backend = match &config.object_store_url {
            None => {
                let dir = config.data_dir.join("objects");
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                // `syncfs` is Linux's; elsewhere every file is synced.
                let sync = if cfg!(target_os = "linux") {
                    config.local_object_sync
                } else {
                    LocalObjectSync::EachFile
                };
                Backend::Local(
                    Arc::new(LocalFileSystem::new_with_prefix(&dir)?),
                    Arc::from(dir.as_path()),
                    sync,
                )
            }
            Some(_) => Backend::S3(s3_store(config)?),
        };
        Ok(Objects {
            backend,
            url_key: Arc::from(url_key),
            public_base: config.public_base(),
        })
    }

    fn store(&self) -> &dyn ObjectStore {
        match &self.backend {
            Backend::Local(s, ..) => s.as_ref(),
            Backend::S3(s) => s.as_ref(),
        }
    }

    /// Stores one object durably (see [`Objects::put_all`]).
    pub async fn put(&self, key: &ObjectKey, bytes: impl Into<Bytes>) -> object_store::Result<()> {
        self.put_all(vec![(key.clone(), bytes.into())]).await
    }

    /// Stores every object; when it returns, they survive a crash of the
    /// machine, not only of the process, and a reader sees each whole or
    /// not at all. S3 answers a PUT once it is durable. Local files are
    /// written to a staging name and renamed into place, then made durable
    /// as `local_object_sync` says: two `syncfs` for the batch, or each file
    /// synced and their directories once for all of them — `object_store`'s
    /// local store does not sync, and a 2xx promises that the raw payload
    /// is stored.
    pub async fn put_all(&self, objects: Vec<(ObjectKey, Bytes)>) -> object_store::Result<()> {
        self.put_batch(objects, NewObjects::Whole).await
    }

    /// [`Objects::put_all`], but a local object that does not exist yet
    /// may be seen, or left by a crash, before it is whole
    /// ([`NewObjects::InPlace`]).
    pub async fn put_all_new_in_place(
        &self,
        objects: Vec<(ObjectKey, Bytes)>,
    ) -> object_store::Result<()> {
        self.put_batch(objects, NewObjects::InPlace).await
    }

    async fn put_batch(
        &self,
        objects: Vec<(ObjectKey, Bytes)>,
        new: NewObjects,
    ) -> object_store::Result<()> {
        use futures_util::{StreamExt as _, TryStreamExt as _};
        if objects.is_empty() {
            // Nothing to wait for (a `syncfs` would still flush the disk).
            return Ok(());
        }
        match &self.backend {
            Backend::S3(s3) => {
                futures_util::stream::iter(objects)
                    .map(|(key, bytes)| async move {
                        s3.put(&key.path(), PutPayload::from(bytes))
                            .await
                            .map(|_| ())
                    })
                    .buffer_unordered(CONCURRENT_WRITES)
                    .try_collect::<()>()
                    .await
            }
            #[cfg(target_os = "linux")]
            Backend::Local(_, root, LocalObjectSync::Filesystem) => {
                let root = root.clone();
                blocking(move || write_all_then_sync_filesystem(&root, &objects, new)).await
            }
            // Each file is synced on its own there: written in place or
            // staged, it costs the same flush.
            Backend::Local(_, root, _) => {
                let paths: Vec<std::path::PathBuf> = objects
                    .iter()
                    .map(|(key, _)| root.join(key.as_str()))
                    .collect();
                futures_util::stream::iter(paths.iter().cloned().zip(objects))
                    .map(|(path, (_, bytes))| {
                        let root = root.clone();
                        blocking(move || write_synced(&root, &path, &bytes))
                    })
                    .buffer_unordered(CONCURRENT_WRITES)
                    .try_collect::<()>()
                    .await?;
                let dirs: std::collections::BTreeSet<std::path::PathBuf> = paths
                    .iter()
                    .filter_map(|p| p.parent().map(std::path::Path::to_path_buf))
                    .collect();
                futures_util::stream::iter(dirs)
                    .map(|dir| blocking(move || sync_dir(&dir)))
                    .buffer_unordered(CONCURRENT_WRITES)
                    .try_collect::<()>()
                    .await
            }
        }
    }

    pub async fn get(&self, key: &ObjectKey) -> object_store::Result<Bytes> {
        self.store().get(&key.path()).await?.bytes().await
    }

    /// An object with when it was last written, in Unix milliseconds.
    pub async fn get_with_modified(&self, key: &ObjectKey) -> object_store::Result<(Bytes, i64)> {
        let got = self.store().get(&key.path()).await?;
        let modified = got.meta.last_modified.timestamp_millis();
        Ok((got.bytes().await?, modified))
    }

    /// Moves an object that could not be read out of its key's way, to
    /// [`ObjectKey::unreadable`] (kept for whoever wants to look at it), and
    /// returns that name; `None` when it was gone already.
    pub async fn set_aside(&self, key: &ObjectKey) -> object_store::Result<Option<ObjectKey>> {
        let aside = key.unreadable(crate::db::now_ms());
        match self.store().rename(&key.path(), &aside.path()).await {
            Ok(()) => Ok(Some(aside)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes every version of `key` that was set aside.
    pub async fn delete_set_aside(&self, key: &ObjectKey) -> object_store::Result<()> {
        use futures_util::TryStreamExt as _;
        let (folder, versions) = key.unreadable_versions();
        let found: Vec<Path> = self
            .store()
            .list(Some(&Path::from(folder)))
            .map_ok(|meta| meta.location)
            .try_filter(|location| {
                std::future::ready(
                    location
                        .filename()
                        .is_some_and(|f| f.starts_with(&versions)),
                )
            })
            .try_collect()
            .await?;
        for location in found {
            match self.store().delete(&location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Deletes; an object that is already gone is not an error.
    pub async fn delete(&self, key: &ObjectKey) -> object_store::Result<()> {
        match self.store().delete(&key.path()).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A URL that fetches the object for `ttl`. S3 signs it itself; the
    /// local store's URLs point at `/objects/…` on this server, MAC'd with
    /// a platform key.
    pub async fn signed_url(&self, key: &ObjectKey, ttl: Duration) -> anyhow::Result<String> {
        match &self.backend {
            Backend::S3(s3) => Ok(s3
                .signed_url(http::Method::GET, &key.path(), ttl)
                .await?
                .to_string()),
            Backend::Local(..) => {
                let expires =
                    time::OffsetDateTime::now_utc().unix_timestamp() + ttl.as_secs() as i64;
                Ok(format!(
                    "{}/objects/{}?expires={expires}&sig={}",
                    self.public_base,
                    key.as_str(),
                    self.url_mac(key.as_str(), expires)
                ))
            }
        }
    }

    fn url_mac(&self, key: &str, expires: i64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.url_key).expect("any key length");
        mac.update(b"object-url\0");
        mac.update(key.as_bytes());
        mac.update(b"\0");
        mac.update(expires.to_string().as_bytes());
        hex(&mac.finalize().into_bytes())
    }

    /// Checks a local signed URL; the key it names, if the URL is genuine
    /// and unexpired.
    pub fn verify_local_url(&self, key: &str, expires: i64, sig: &str) -> Option<ObjectKey> {
        if !matches!(self.backend, Backend::Local(..)) {
            return None;
        }
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let genuine = bool::from(self.url_mac(key, expires).as_bytes().ct_eq(sig.as_bytes()));
        (genuine && expires >= now).then(|| ObjectKey(key.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn durable_writes_create_directories_replace_whole_and_leave_no_staging_visible() {
        use futures_util::TryStreamExt as _;
        for sync in [LocalObjectSync::Filesystem, LocalObjectSync::EachFile] {
            let data = tempfile::tempdir().unwrap();
            let config = Config {
                data_dir: data.path().to_path_buf(),
                local_object_sync: sync,
                ..Config::default()
            };
            let objects = Objects::open(&config, b"url key").unwrap();
            let scope = crate::auth::Operator::command_line()
                .scope_for(switchboard_core::TenantId::generate());
            let (call, other) = (CallId::generate(), CallId::generate());
            let (raw, meta) = (ObjectKey::raw(&scope, call), ObjectKey::meta(&scope, call));
            objects
                .put_all(vec![
                    (raw.clone(), "first".into()),
                    (meta.clone(), "m".into()),
                ])
                .await
                .unwrap();
            objects.put(&raw, "second").await.unwrap();
            assert_eq!(&objects.get(&raw).await.unwrap()[..], b"second", "{sync:?}");
            assert_eq!(&objects.get(&meta).await.unwrap()[..], b"m", "{sync:?}");
            let root = data.path().join("objects");
            let path = root.join(raw.as_str());
            let names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            assert_eq!(
                names,
                [format!("{call}.json")],
                "no staging file is left behind"
            );
            // A crash between create and rename leaves a staging file, which
            // the store does not list.
            std::fs::write(
                path.with_file_name(format!("{other}.json#12345")),
                b"partial",
            )
            .unwrap();
            let store = LocalFileSystem::new_with_prefix(&root).unwrap();
            let mut listed: Vec<String> = store
                .list(None)
                .map_ok(|m| m.location.to_string())
                .try_collect()
                .await
                .unwrap();
            listed.sort();
            let mut expected = vec![meta.as_str().to_owned(), raw.as_str().to_owned()];
            expected.sort();
            assert_eq!(listed, expected, "{sync:?}");
        }
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn new_objects_go_in_place_and_existing_ones_are_still_replaced_whole() {
        let data = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: data.path().to_path_buf(),
            ..Config::default()
        };
        let objects = Objects::open(&config, b"url key").unwrap();
        let scope =
            crate::auth::Operator::command_line().scope_for(switchboard_core::TenantId::generate());
        let raw = ObjectKey::raw(&scope, CallId::generate());
        let path = data.path().join("objects").join(raw.as_str());

        // A new object, in a directory that does not exist yet.
        objects
            .put_all_new_in_place(vec![(raw.clone(), "first".into())])
            .await
            .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        assert!(!create_in_place(data.path(), &path, b"other").unwrap());
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"first",
            "an existing name is left to staging"
        );

        // An existing object is staged and renamed: a second name for the
        // old file still holds the old bytes, so they were not overwritten.
        let link = path.with_file_name("old-link");
        std::fs::hard_link(&path, &link).unwrap();
        objects
            .put_all_new_in_place(vec![(raw.clone(), "second".into())])
            .await
            .unwrap();
        assert_eq!(&objects.get(&raw).await.unwrap()[..], b"second");
        assert_eq!(std::fs::read(&link).unwrap(), b"first");

        let aside = objects.set_aside(&raw).await.unwrap().unwrap();
        assert!(aside.as_str().starts_with(&format!(
            "{}/unreadable/{}.",
            scope.tenant_id(),
            raw.as_str().split_once('/').unwrap().1
        )));
        assert_eq!(&objects.get(&aside).await.unwrap()[..], b"second");
        assert!(matches!(
            objects.get(&raw).await,
            Err(object_store::Error::NotFound { .. })
        ));
        assert!(
            objects.set_aside(&raw).await.unwrap().is_none(),
            "gone already"
        );

        // Only that object's versions are deleted with it.
        let other = ObjectKey::raw(&scope, CallId::generate());
        objects.put(&other, "other").await.unwrap();
        objects.set_aside(&other).await.unwrap().unwrap();
        objects.delete_set_aside(&raw).await.unwrap();
        assert!(matches!(
            objects.get(&aside).await,
            Err(object_store::Error::NotFound { .. })
        ));
        let folder = data
            .path()
            .join("objects")
            .join(scope.tenant_id().to_string())
            .join("unreadable/raw");
        assert_eq!(std::fs::read_dir(folder).unwrap().count(), 1);
    }

    #[test]
    fn stored_keys_must_stay_under_the_tenant() {
        let scope =
            crate::auth::Operator::command_line().scope_for(switchboard_core::TenantId::generate());
        let own = ObjectKey::audio(&scope, CallId::generate(), AudioFormat::Wav);
        assert_eq!(ObjectKey::stored(&scope, own.as_str()), Some(own.clone()));
        let other = format!("{}/audio/x.wav", switchboard_core::TenantId::generate());
        for bad in [
            other.as_str(),
            &format!("{}/../x", scope.tenant_id()),
            &format!("{}//x", scope.tenant_id()),
            &format!("{}/a b", scope.tenant_id()),
            "",
        ] {
            assert!(ObjectKey::stored(&scope, bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn audio_formats_from_content_types() {
        assert_eq!(
            AudioFormat::from_content_type("audio/x-wav"),
            Some(AudioFormat::Wav)
        );
        assert_eq!(
            AudioFormat::from_content_type("audio/mpeg; q=1"),
            Some(AudioFormat::Mp3)
        );
        assert_eq!(AudioFormat::from_content_type("text/html"), None);
    }
}
