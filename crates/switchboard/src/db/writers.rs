//! Which processes that share the database are alive, for the ingest
//! writers (decision 0018).
//!
//! A process commits an event before it writes the call's raw document
//! (decision 0010), so another process that finds the document without that
//! event's entry must tell a writer that is still on its way (wait for it)
//! from one that died in between (go on: the event was never answered 2xx,
//! and its resend restores the entry). Time cannot tell them apart on a
//! loaded machine; a lock that the operating system or the database server
//! releases when its holder dies can. Every event row names the writer that
//! committed it, and each writer holds a lock for as long as it lives: a file
//! lock next to a SQLite database (every process that opens the file is on
//! the same machine), a session advisory lock on PostgreSQL (nodes anywhere).

use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rand::Rng as _;
use rustix::fs::{flock, FlockOperation};
use sqlx::any::AnyConnectOptions;
use sqlx::{AnyConnection, Connection as _};

use super::{Db, DbResult, Location, TenantTx};

/// A process's number among the writers of one database, stored with each
/// event it commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriterId(i64);

impl WriterId {
    /// Stands for whoever committed an event before writers were recorded
    /// (never a registered id, which is positive).
    pub const UNRECORDED: WriterId = WriterId(0);

    pub fn get(self) -> i64 {
        self.0
    }

    pub(crate) fn from_column(value: i64) -> WriterId {
        WriterId(value)
    }

    /// Ids are positive 32-bit numbers: PostgreSQL's advisory locks take two
    /// `int4` keys, the first of which names what the second counts.
    fn random() -> WriterId {
        WriterId(rand::thread_rng().gen_range(1..=i64::from(i32::MAX)))
    }

    fn advisory_key(self) -> i32 {
        i32::try_from(self.0).expect("writer ids are 32-bit")
    }
}

/// One holding of a writer's lock (on PostgreSQL, the holding connection's
/// server process id).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session(i32);

/// The first key of every writer's advisory lock: "SBWR".
const ADVISORY_NAMESPACE: i32 = 0x5342_5752;

/// How often the connection holding a PostgreSQL writer's lock is checked,
/// and how soon after losing it the lock is taken again: the ingest syncer
/// answers nothing while it is lost.
const KEEP_ALIVE: Duration = Duration::from_secs(1);
const RECONNECT: Duration = Duration::from_secs(1);

/// This process's registration as a writer: others see it alive while it
/// is held, and dead once it is dropped or the process is gone.
pub struct Registration {
    id: WriterId,
    held: Held,
}

enum Held {
    /// Locked with `flock`, which the kernel releases with the process.
    LockFile { path: PathBuf, _file: std::fs::File },
    /// Held by a connection of its own, which a task keeps open.
    AdvisoryLock {
        keeper: tokio::task::JoinHandle<()>,
        holder: Holder,
        /// The holding connection's server process id; 0 while it is
        /// being replaced.
        session: Arc<AtomicI32>,
    },
    /// An in-memory database: no other process can reach it.
    Alone,
}

impl Registration {
    /// Takes a writer id no live or crashed process of this database holds.
    pub async fn register(db: &Db) -> anyhow::Result<Registration> {
        match db.location() {
            Location::SqliteMemory => Ok(Registration {
                id: WriterId::random(),
                held: Held::Alone,
            }),
            Location::SqliteFile(file) => {
                // Every process must find the same folder, however it
                // named the database (SQLite follows links to the file).
                let file = std::fs::canonicalize(file)
                    .with_context(|| format!("finding {}", file.display()))?;
                let dir = lock_dir(&file);
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                loop {
                    let id = WriterId::random();
                    let path = lock_file(&dir, id);
                    // A crashed process's file stays, so its id is never
                    // taken again while its events may still be asked about.
                    let file = match std::fs::File::create_new(&path) {
                        Ok(file) => file,
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                        Err(e) => {
                            return Err(e).with_context(|| format!("creating {}", path.display()))
                        }
                    };
                    // Nobody asks about an id before its first event, which
                    // is committed after this.
                    flock(&file, FlockOperation::NonBlockingLockExclusive)
                        .with_context(|| format!("locking {}", path.display()))?;
                    return Ok(Registration {
                        id,
                        held: Held::LockFile { path, _file: file },
                    });
                }
            }
            Location::Postgres(options) => {
                let mut conn = AnyConnection::connect_with(options)
                    .await
                    .context("connecting to PostgreSQL for the writer's lock")?;
                let id = loop {
                    let id = WriterId::random();
                    if take_advisory_lock(&mut conn, id).await? {
                        break id;
                    }
                };
                let pid = backend_pid(&mut conn).await?;
                let session = Arc::new(AtomicI32::new(pid));
                let holder: Holder = Arc::new(tokio::sync::Mutex::new(Some((conn, pid))));
                let keeper = tokio::spawn(keep_advisory_lock(
                    options.clone(),
                    holder.clone(),
                    id,
                    session.clone(),
                ));
                Ok(Registration {
                    id,
                    held: Held::AdvisoryLock {
                        keeper,
                        holder,
                        session,
                    },
                })
            }
        }
    }

    pub fn id(&self) -> WriterId {
        self.id
    }

    /// Which holding of the lock this process believes it has: work done
    /// under one holding is safe only while the lock is held by the same.
    pub fn session(&self) -> Session {
        match &self.held {
            Held::AdvisoryLock { session, .. } => Session(session.load(Ordering::Acquire)),
            Held::LockFile { .. } | Held::Alone => Session(1),
        }
    }

    /// The holding under which the lock is held now, if it is. A `flock`
    /// is held as long as the process lives. An advisory lock is lost with
    /// its connection, which the server may close (a restart,
    /// `idle_session_timeout`, `pg_terminate_backend`) before the keeper
    /// notices; the session never lets go of it otherwise, so a round trip
    /// on that connection tells.
    pub async fn held(&self) -> Option<Session> {
        match &self.held {
            Held::LockFile { .. } | Held::Alone => Some(self.session()),
            Held::AdvisoryLock { holder, .. } => {
                let mut holding = holder.lock().await;
                let (conn, pid) = holding.as_mut()?;
                conn.ping().await.ok().map(|()| Session(*pid))
            }
        }
    }

    /// Whether the writer `other` is registered now (this process is).
    /// On PostgreSQL asked in `tx`, whose role may read `pg_locks` as
    /// every role may.
    pub async fn is_alive(&self, tx: &mut TenantTx, other: WriterId) -> DbResult<bool> {
        if other == self.id {
            return Ok(true);
        }
        match &self.held {
            Held::Alone => Ok(false),
            Held::LockFile { path, .. } => {
                let dir = path.parent().expect("a lock file is in a folder");
                let file = match std::fs::File::open(lock_file(dir, other)) {
                    Ok(file) => file,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                    Err(e) => return Err(sqlx::Error::Io(e).into()),
                };
                // Taken (and let go with the file): its holder is gone.
                match flock(&file, FlockOperation::NonBlockingLockShared) {
                    Ok(()) => Ok(false),
                    Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(true),
                    Err(e) => Err(sqlx::Error::Io(e.into()).into()),
                }
            }
            Held::AdvisoryLock { .. } => {
                let held: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
                     AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                     AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 2",
                )
                .bind(i64::from(ADVISORY_NAMESPACE))
                .bind(other.get())
                .fetch_one(tx.conn())
                .await?;
                Ok(held > 0)
            }
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        match &self.held {
            // The name goes first: a file that is there but not locked
            // reads as a dead writer, as it is.
            Held::LockFile { path, .. } => {
                let _ = std::fs::remove_file(path);
            }
            Held::AdvisoryLock { keeper, .. } => keeper.abort(),
            Held::Alone => {}
        }
    }
}

/// `<database file>-writers`, beside SQLite's own `-wal` and `-shm`.
fn lock_dir(database: &std::path::Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-writers");
    PathBuf::from(name)
}

fn lock_file(dir: &std::path::Path, id: WriterId) -> PathBuf {
    dir.join(format!("{}.lock", id.get()))
}

async fn take_advisory_lock(conn: &mut AnyConnection, id: WriterId) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
        .bind(ADVISORY_NAMESPACE)
        .bind(id.advisory_key())
        .fetch_one(conn)
        .await
}

async fn backend_pid(conn: &mut AnyConnection) -> sqlx::Result<i32> {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(conn)
        .await
}

/// The connection holding a PostgreSQL writer's lock and its server
/// process id; `None` while it is being replaced.
type Holder = Arc<tokio::sync::Mutex<Option<(AnyConnection, i32)>>>;

/// Keeps the lock's connection open, and when the server dropped it,
/// connects again and takes the same lock back as a new [`Session`].
/// Meanwhile other processes take this one for dead and may extend
/// documents without its unwritten entries, so the ingest syncer drops
/// what it has not written under the old one (`ingest::sync_objects`).
async fn keep_advisory_lock(
    options: AnyConnectOptions,
    holder: Holder,
    id: WriterId,
    session: Arc<AtomicI32>,
) {
    loop {
        tokio::time::sleep(KEEP_ALIVE).await;
        {
            let mut holding = holder.lock().await;
            if let Some((conn, _)) = holding.as_mut() {
                if conn.ping().await.is_ok() {
                    continue;
                }
            }
            *holding = None;
            session.store(0, Ordering::Release);
        }
        tracing::warn!("lost the connection holding this writer's lock; taking it again");
        let fresh = loop {
            tokio::time::sleep(RECONNECT).await;
            let Ok(mut fresh) = AnyConnection::connect_with(&options).await else {
                continue;
            };
            match take_advisory_lock(&mut fresh, id).await {
                Ok(true) => match backend_pid(&mut fresh).await {
                    Ok(pid) => break (fresh, pid),
                    Err(e) => tracing::warn!(error = %e, "taking this writer's lock again failed"),
                },
                Ok(false) => tracing::error!("another connection holds this writer's lock"),
                Err(e) => tracing::warn!(error = %e, "taking this writer's lock again failed"),
            }
        };
        session.store(fresh.1, Ordering::Release);
        *holder.lock().await = Some(fresh);
    }
}
