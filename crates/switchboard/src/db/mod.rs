//! Storage on SQLite (embedded default) or PostgreSQL, behind one set of SQL
//! texts. Queries go through sqlx's `Any` driver with `$n` placeholders, which
//! both backends understand, and only portable column types (TEXT, BIGINT).
//!
//! Tenant tables can only be reached through a [`TenantTx`], which can only be
//! opened with a [`TenantScope`] — and a scope can only be made by the `auth`
//! module from a verified credential. On PostgreSQL the same transaction also
//! sets `app.tenant_id`, so forced row-level security filters every statement
//! even if a query forgot its `tenant_id` predicate.

pub mod agents;
pub mod analyses;
pub mod api_keys;
pub mod audit;
pub mod calls;
pub mod credentials;
pub mod flat_days;
pub mod memberships;
pub mod pipeline_jobs;
pub mod platform_secrets;
pub mod recording_pull;
pub mod refresh_tokens;
pub mod rollups;
pub mod tenant_configs;
pub mod tenants;
pub mod usage;
pub mod users;
pub mod writers;

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Executor};
use switchboard_core::TenantId;

use crate::auth::TenantScope;
use crate::config::DatabaseConfig;

/// The role every request-serving PostgreSQL connection switches to. Created
/// by the migrations; neither owns the tables nor bypasses RLS.
pub const APP_ROLE: &str = "switchboard_app";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Errors from the storage layer that callers branch on; everything else is
/// an internal fault.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("a row with the same {0} already exists")]
    Conflict(&'static str),
    #[error(transparent)]
    Other(#[from] sqlx::Error),
}

impl DbError {
    /// Maps unique-constraint violations to [`DbError::Conflict`].
    pub fn conflict_on(what: &'static str) -> impl FnOnce(sqlx::Error) -> DbError {
        move |e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => DbError::Conflict(what),
            _ => DbError::Other(e),
        }
    }
}

pub type DbResult<T> = Result<T, DbError>;

#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    /// Where the database is, for what other processes sharing it must find
    /// there too ([`writers`]).
    location: Location,
    /// On SQLite, many readers in WAL mode.
    read: AnyPool,
    /// On SQLite, a single connection: writers queue in the pool instead of
    /// failing with SQLITE_BUSY when a deferred transaction upgrades. On
    /// PostgreSQL the same pool as `read`.
    write: AnyPool,
    /// SQLite's WAL checkpointer, stopped with the last handle.
    checkpointer: Option<tokio::task::AbortHandle>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = &self.checkpointer {
            task.abort();
        }
    }
}

/// Where a database is.
#[derive(Clone)]
pub(crate) enum Location {
    SqliteFile(std::path::PathBuf),
    /// Reachable by this process alone.
    SqliteMemory,
    Postgres(AnyConnectOptions),
}

/// How often SQLite's WAL is copied back into the database file. Often, so
/// each checkpoint is small: a checkpoint's pages are written back to the
/// device along with the next `syncfs` of the ingest syncer (decision
/// 0010), and every 100 ms that burst (a few MB under a webhook flood)
/// doubled the p99 at 1,000 webhooks/s (BENCHMARKS.md).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(20);
/// WAL pages after which the writer checkpoints itself (SQLite's default is
/// 1,000): only when the checkpointer falls behind.
const WRITER_CHECKPOINT_PAGES: u32 = 16_384;

/// Copies SQLite's WAL back into the database file from a reader
/// connection, so that the writer — whose commits every ingest batch waits
/// for — does not: left to itself SQLite checkpoints inside the commit that
/// crosses the threshold, and that was a tenth of the writer's time under a
/// webhook flood. PASSIVE never blocks the writer or readers.
async fn checkpoint_forever(read: AnyPool) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if read.is_closed() {
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&read)
            .await
        {
            tracing::warn!(error = %e, "SQLite checkpoint failed");
        }
    }
}

/// Whether a transaction may write. On SQLite this picks the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Read,
    Write,
}

impl Db {
    /// Opens the database named by `database_url` (PostgreSQL), or SQLite in
    /// `data_dir`, and applies pending migrations.
    pub async fn open(
        database_url: Option<&str>,
        data_dir: &Path,
        cfg: &DatabaseConfig,
    ) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        match database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Self::open_postgres(url, cfg).await
            }
            Some(url) if url.starts_with("sqlite:") => Self::open_sqlite(url, cfg).await,
            Some(_) => {
                anyhow::bail!("DATABASE_URL must start with postgres://, postgresql:// or sqlite:")
            }
            None => {
                std::fs::create_dir_all(data_dir).with_context(|| {
                    format!("creating the data directory {}", data_dir.display())
                })?;
                let path = data_dir.join("switchboard.db");
                Self::open_sqlite(&format!("sqlite://{}?mode=rwc", path.display()), cfg).await
            }
        }
    }

    async fn open_sqlite(url: &str, cfg: &DatabaseConfig) -> anyhow::Result<Db> {
        let synchronous = cfg.sqlite_synchronous.pragma_value();
        let options = AnyConnectOptions::from_str(url)?;
        // sqlx keeps whether a URL names memory to itself.
        let location = if url.contains(":memory:") || url.contains("mode=memory") {
            Location::SqliteMemory
        } else {
            let sqlite = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
            Location::SqliteFile(sqlite.get_filename().to_path_buf())
        };
        let make_pool = |max: u32, autocheckpoint: u32| {
            AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(Duration::from_secs(30))
                // An embedded file does not drop connections: no ping.
                .test_before_acquire(false)
                // Another process (a CLI command next to the server, a
                // `worker`) may hold SQLite's one write lock while a loaded
                // machine runs its transaction slowly: wait as long as for a
                // pooled connection rather than fail — from the first
                // statement on, since setting the journal mode may wait too.
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        conn.execute(&*format!(
                            "PRAGMA busy_timeout = 30000; PRAGMA journal_mode = WAL; \
                             PRAGMA synchronous = {synchronous}; PRAGMA foreign_keys = ON; \
                             PRAGMA wal_autocheckpoint = {autocheckpoint};"
                        ))
                        .await?;
                        Ok(())
                    })
                })
        };
        let write = make_pool(1, WRITER_CHECKPOINT_PAGES)
            .connect_with(options.clone())
            .await
            .context("opening SQLite")?;
        migrator(Backend::Sqlite)
            .run(&write)
            .await
            .context("migrating SQLite")?;
        let read = make_pool(cfg.max_connections, 1_000)
            .connect_with(options)
            .await?;
        let checkpointer = tokio::spawn(checkpoint_forever(read.clone())).abort_handle();
        Ok(Db {
            inner: Arc::new(Inner {
                backend: Backend::Sqlite,
                location,
                read,
                write,
                checkpointer: Some(checkpointer),
            }),
        })
    }

    async fn open_postgres(url: &str, cfg: &DatabaseConfig) -> anyhow::Result<Db> {
        let options = AnyConnectOptions::from_str(url)?;
        // Migrations run as the connecting (owner) role ...
        let mut owner = AnyConnection::connect_with(&options)
            .await
            .context("connecting to PostgreSQL")?;
        migrator(Backend::Postgres)
            .run(&mut owner)
            .await
            .context("migrating PostgreSQL")?;
        owner.close().await?;
        // ... and everything else as the unprivileged application role.
        let pool = AnyPoolOptions::new()
            .max_connections(cfg.max_connections)
            .acquire_timeout(Duration::from_secs(30))
            // A round trip per transaction otherwise. A connection the
            // server dropped fails its next statement once and is replaced.
            .test_before_acquire(false)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(&*format!("SET SESSION ROLE {APP_ROLE}"))
                        .await?;
                    Ok(())
                })
            })
            .connect_with(options.clone())
            .await?;
        Ok(Db {
            inner: Arc::new(Inner {
                backend: Backend::Postgres,
                location: Location::Postgres(options),
                read: pool.clone(),
                write: pool,
                checkpointer: None,
            }),
        })
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    pub(crate) fn location(&self) -> &Location {
        &self.inner.location
    }

    fn pool(&self, mode: Mode) -> &AnyPool {
        match mode {
            Mode::Read => &self.inner.read,
            Mode::Write => &self.inner.write,
        }
    }

    /// Work on tables that belong to no tenant (tenants, users, platform
    /// secrets). Tenant tables are invisible in it on PostgreSQL.
    pub async fn platform(&self, mode: Mode) -> DbResult<PlatformTx> {
        Ok(PlatformTx {
            tx: self.begin_work(mode, &[]).await?,
            backend: self.backend(),
        })
    }

    /// Work confined to one tenant.
    pub async fn tenant(&self, scope: &TenantScope, mode: Mode) -> DbResult<TenantTx> {
        let tenant = scope.tenant_id();
        let tx = self
            .begin_work(mode, &[("app.tenant_id", &tenant.to_string())])
            .await?;
        Ok(TenantTx {
            tx,
            tenant,
            backend: self.backend(),
        })
    }

    /// Work that can see, across tenants, only the rows whose keyed hash
    /// equals `hash` (and, when given, a user's own rows). Used to turn a
    /// presented secret into a verified identity before any tenant is known.
    pub(crate) async fn credential_lookup(
        &self,
        hash: &str,
        user: Option<&str>,
        mode: Mode,
    ) -> DbResult<CredentialTx> {
        let mut settings = vec![("app.credential_hash", hash)];
        settings.extend(user.map(|u| ("app.user_id", u)));
        Ok(CredentialTx {
            tx: self.begin_work(mode, &settings).await?,
            backend: self.backend(),
        })
    }

    /// Opens a unit of work with transaction-local settings.
    ///
    /// On SQLite, read-only work runs without an explicit transaction: each
    /// statement is atomic on its own, and skipping BEGIN/COMMIT saves two
    /// trips to the SQLite worker thread on every request. On PostgreSQL,
    /// BEGIN and the settings travel in one simple-query round trip; the
    /// values are ids and hex digests, checked to be plain `[a-z0-9_]` before
    /// they are inlined. Read-only work there is `BEGIN READ ONLY` (so a
    /// write by mistake fails loudly) and is ended by dropping it: the
    /// rollback, equivalent to a commit for a read-only transaction, then
    /// rides along with the check sqlx makes when the connection returns to
    /// the pool instead of costing the request a round trip.
    async fn begin_work(&self, mode: Mode, settings: &[(&str, &str)]) -> DbResult<Handle> {
        let pool = self.pool(mode);
        match self.inner.backend {
            Backend::Sqlite if mode == Mode::Read => Ok(Handle::Plain(pool.acquire().await?)),
            // IMMEDIATE takes the write lock before anything is read: a
            // deferred transaction that reads first and then writes fails at
            // once (SQLITE_BUSY_SNAPSHOT, no busy wait) when another process
            // wrote in between — a CLI command or `worker` next to `serve`.
            Backend::Sqlite => Ok(Handle::Tx(pool.begin_with("BEGIN IMMEDIATE").await?)),
            Backend::Postgres => {
                let mut begin = String::from(match mode {
                    Mode::Read => "BEGIN READ ONLY",
                    Mode::Write => "BEGIN",
                });
                for (key, value) in settings {
                    begin.push_str(&format!(
                        "; SELECT set_config('{key}', '{}', true)",
                        inline_safe(value)?
                    ));
                }
                let tx = pool.begin_with(begin).await?;
                Ok(match mode {
                    Mode::Read => Handle::ReadOnlyTx(tx),
                    Mode::Write => Handle::Tx(tx),
                })
            }
        }
    }

    /// Liveness of the database for `/readyz`.
    pub async fn ping(&self) -> DbResult<()> {
        sqlx::query("SELECT 1").execute(&self.inner.read).await?;
        Ok(())
    }

    /// The role request-serving connections run as (PostgreSQL only).
    pub async fn session_role(&self) -> DbResult<Option<String>> {
        if self.inner.backend != Backend::Postgres {
            return Ok(None);
        }
        let row = sqlx::query("SELECT CAST(current_user AS TEXT) AS role")
            .fetch_one(&self.inner.read)
            .await?;
        Ok(Some(sqlx::Row::try_get(&row, "role")?))
    }

    pub async fn close(&self) {
        self.inner.read.close().await;
        self.inner.write.close().await;
    }
}

fn migrator(backend: Backend) -> Migrator {
    let sources: &[(i64, &str, &str)] = match backend {
        Backend::Sqlite => &[
            (
                1,
                "foundation",
                include_str!("../../../../migrations/sqlite/0001_foundation.sql"),
            ),
            (
                2,
                "calls",
                include_str!("../../../../migrations/sqlite/0002_calls.sql"),
            ),
            (
                3,
                "recording_pull",
                include_str!("../../../../migrations/sqlite/0003_recording_pull.sql"),
            ),
            (
                4,
                "call_event_count",
                include_str!("../../../../migrations/sqlite/0004_call_event_count.sql"),
            ),
            (
                5,
                "lz4_payloads",
                include_str!("../../../../migrations/sqlite/0005_lz4_payloads.sql"),
            ),
            (
                6,
                "pipeline",
                include_str!("../../../../migrations/sqlite/0006_pipeline.sql"),
            ),
            (
                7,
                "llm_usage",
                include_str!("../../../../migrations/sqlite/0007_llm_usage.sql"),
            ),
            (
                8,
                "flat_outputs",
                include_str!("../../../../migrations/sqlite/0008_flat_outputs.sql"),
            ),
            (
                9,
                "raw_payloads_in_objects",
                include_str!("../../../../migrations/sqlite/0009_raw_payloads_in_objects.sql"),
            ),
            (
                10,
                "pull_lease_owner",
                include_str!("../../../../migrations/sqlite/0010_pull_lease_owner.sql"),
            ),
            (
                11,
                "recording_retries",
                include_str!("../../../../migrations/sqlite/0011_recording_retries.sql"),
            ),
            (
                12,
                "pull_stuck_recording",
                include_str!("../../../../migrations/sqlite/0012_pull_stuck_recording.sql"),
            ),
            (
                13,
                "agent_validated_at",
                include_str!("../../../../migrations/sqlite/0013_agent_validated_at.sql"),
            ),
            (
                14,
                "event_writer",
                include_str!("../../../../migrations/sqlite/0014_event_writer.sql"),
            ),
            (
                15,
                "deleted_calls",
                include_str!("../../../../migrations/sqlite/0015_deleted_calls.sql"),
            ),
            (
                16,
                "agent_refused_while_inactive",
                include_str!("../../../../migrations/sqlite/0016_agent_refused_while_inactive.sql"),
            ),
        ],
        Backend::Postgres => &[
            (
                1,
                "foundation",
                include_str!("../../../../migrations/postgres/0001_foundation.sql"),
            ),
            (
                2,
                "calls",
                include_str!("../../../../migrations/postgres/0002_calls.sql"),
            ),
            (
                3,
                "recording_pull",
                include_str!("../../../../migrations/postgres/0003_recording_pull.sql"),
            ),
            (
                4,
                "call_event_count",
                include_str!("../../../../migrations/postgres/0004_call_event_count.sql"),
            ),
            (
                5,
                "lz4_payloads",
                include_str!("../../../../migrations/postgres/0005_lz4_payloads.sql"),
            ),
            (
                6,
                "pipeline",
                include_str!("../../../../migrations/postgres/0006_pipeline.sql"),
            ),
            (
                7,
                "llm_usage",
                include_str!("../../../../migrations/postgres/0007_llm_usage.sql"),
            ),
            (
                8,
                "flat_outputs",
                include_str!("../../../../migrations/postgres/0008_flat_outputs.sql"),
            ),
            (
                9,
                "raw_payloads_in_objects",
                include_str!("../../../../migrations/postgres/0009_raw_payloads_in_objects.sql"),
            ),
            (
                10,
                "pull_lease_owner",
                include_str!("../../../../migrations/postgres/0010_pull_lease_owner.sql"),
            ),
            (
                11,
                "recording_retries",
                include_str!("../../../../migrations/postgres/0011_recording_retries.sql"),
            ),
            (
                12,
                "pull_stuck_recording",
                include_str!("../../../../migrations/postgres/0012_pull_stuck_recording.sql"),
            ),
            (
                13,
                "agent_validated_at",
                include_str!("../../../../migrations/postgres/0013_agent_validated_at.sql"),
            ),
            (
                14,
                "event_writer",
                include_str!("../../../../migrations/postgres/0014_event_writer.sql"),
            ),
            (
                15,
                "deleted_calls",
                include_str!("../../../../migrations/postgres/0015_deleted_calls.sql"),
            ),
            (
                16,
                "agent_refused_while_inactive",
                include_str!(
                    "../../../../migrations/postgres/0016_agent_refused_while_inactive.sql"
                ),
            ),
        ],
    };
    let migrations = sources
        .iter()
        .map(|(version, name, sql)| {
            Migration::new(
                *version,
                Cow::Borrowed(*name),
                MigrationType::Simple,
                Cow::Borrowed(*sql),
                false,
            )
        })
        .collect();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

/// An open unit of work: a transaction, or on SQLite a bare pooled
/// connection for read-only work (see [`Db::begin_work`]).
enum Handle {
    Tx(sqlx::Transaction<'static, Any>),
    ReadOnlyTx(sqlx::Transaction<'static, Any>),
    Plain(PoolConnection<Any>),
}

impl Handle {
    fn conn(&mut self) -> &mut AnyConnection {
        match self {
            Handle::Tx(tx) | Handle::ReadOnlyTx(tx) => tx,
            Handle::Plain(conn) => conn,
        }
    }

    async fn commit(self) -> DbResult<()> {
        match self {
            Handle::Tx(tx) => Ok(tx.commit().await?),
            Handle::ReadOnlyTx(_) | Handle::Plain(_) => Ok(()),
        }
    }

    async fn rollback(self) -> DbResult<()> {
        match self {
            Handle::Tx(tx) | Handle::ReadOnlyTx(tx) => Ok(tx.rollback().await?),
            Handle::Plain(_) => Ok(()),
        }
    }
}

/// Refuses anything but `[A-Za-z0-9_]`, so a value can be inlined into the
/// `BEGIN` statement without quoting concerns. Every setting is an id, a hex
/// digest or empty (which matches no row); anything else is a programming
/// error.
fn inline_safe(value: &str) -> DbResult<&str> {
    if value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        Ok(value)
    } else {
        Err(DbError::Other(sqlx::Error::Protocol(
            "a transaction setting holds characters other than [A-Za-z0-9_]".into(),
        )))
    }
}

/// Work on platform tables only.
pub struct PlatformTx {
    tx: Handle,
    backend: Backend,
}

impl PlatformTx {
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        self.tx.conn()
    }

    /// Continues the same transaction confined to one tenant, so that
    /// creating a tenant and its first tenant rows commit together.
    pub async fn into_tenant(self, scope: &TenantScope) -> DbResult<TenantTx> {
        let mut tx = self.tx;
        let tenant = scope.tenant_id();
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
                .bind(tenant.to_string())
                .execute(tx.conn())
                .await?;
        }
        Ok(TenantTx {
            tx,
            tenant,
            backend: self.backend,
        })
    }

    pub async fn commit(self) -> DbResult<()> {
        self.tx.commit().await
    }
}

/// Work confined to one tenant: the only door to tenant tables.
pub struct TenantTx {
    tx: Handle,
    tenant: TenantId,
    backend: Backend,
}

impl TenantTx {
    pub fn tenant_id(&self) -> TenantId {
        self.tenant
    }

    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }

    /// The tenant id as the text bound to every tenant query's `tenant_id` predicate.
    pub(crate) fn tenant_param(&self) -> String {
        self.tenant.to_string()
    }

    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        self.tx.conn()
    }

    pub async fn commit(self) -> DbResult<()> {
        self.tx.commit().await
    }

    /// Ends the work now, releasing its locks before the caller goes on
    /// (a dropped transaction is rolled back only once its connection is
    /// next taken from the pool).
    pub async fn rollback(self) -> DbResult<()> {
        self.tx.rollback().await
    }

    /// Continues the same transaction confined to another tenant, so that
    /// one commit can carry several tenants' work (the ingest batcher).
    pub async fn rescope(&mut self, scope: &TenantScope) -> DbResult<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
                .bind(scope.tenant_id().to_string())
                .execute(self.tx.conn())
                .await?;
        }
        self.tenant = scope.tenant_id();
        Ok(())
    }
}

/// Work that sees only rows matching a presented credential.
pub(crate) struct CredentialTx {
    tx: Handle,
    backend: Backend,
}

impl CredentialTx {
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        self.tx.conn()
    }

    /// Widens visibility to one user's own rows once the credential has
    /// revealed who it belongs to.
    pub(crate) async fn reveal_user(&mut self, user: &str) -> DbResult<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT set_config('app.user_id', $1, true)")
                .bind(user)
                .execute(self.tx.conn())
                .await?;
        }
        Ok(())
    }

    pub(crate) async fn commit(self) -> DbResult<()> {
        self.tx.commit().await
    }
}

/// Milliseconds since the Unix epoch, the storage form of every timestamp.
pub fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
}

/// Parses a stored column into a domain value; a failure means the database
/// holds something the code never writes, so it is reported as corruption.
pub(crate) fn parse_col<T: FromStr>(value: &str, column: &'static str) -> Result<T, sqlx::Error> {
    value.parse().map_err(|_| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: format!("unexpected stored value {value:?}").into(),
    })
}

#[cfg(test)]
mod tests {
    use super::inline_safe;

    #[test]
    fn only_plain_identifiers_are_inlined_into_begin() {
        assert!(inline_safe("ten_01jabcdefghjkmnpqrstvwxyz0").is_ok());
        assert!(inline_safe("").is_ok());
        for hostile in ["x'; DROP TABLE users; --", "a b", "é", "a-b", "a\\'"] {
            assert!(inline_safe(hostile).is_err(), "{hostile:?} must be refused");
        }
    }
}
