//! The test harness: the real server on a random port, on SQLite or on a
//! fresh PostgreSQL database, plus seeding helpers that go through the same
//! library functions as the CLI.

use std::sync::OnceLock;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard::app::App;
use switchboard::auth::password::{PasswordHash, PlaintextPassword};
use switchboard::auth::Operator;
use switchboard::config::{Config, Secret};
use switchboard::db::tenants::NewTenant;
use switchboard::db::Db;
use switchboard::http::AppState;
use switchboard::tenancy;
use switchboard_core::{Email, IndustryTemplate, Plan, Role, Slug, TenantId, UserId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub backend: Backend,
    pub database_url: Option<String>,
    _dir: tempfile::TempDir,
}

fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Whether PostgreSQL answers; asked once per test process. Under CI an
/// unreachable server is a failure, not a skip.
async fn postgres_reachable() -> bool {
    static REACHABLE: tokio::sync::OnceCell<bool> = tokio::sync::OnceCell::const_new();
    *REACHABLE
        .get_or_init(|| async {
            use sqlx::Connection as _;
            let ok = tokio::time::timeout(
                std::time::Duration::from_secs(3),
                sqlx::PgConnection::connect(&admin_url()),
            )
            .await
            .is_ok_and(|r| r.is_ok());
            if ok {
                drop_stale_databases().await;
            }
            ok
        })
        .await
}

/// Test databases of runs older than an hour are dropped, so they do not pile up.
async fn drop_stale_databases() {
    use sqlx::{Connection as _, Row as _};
    let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url()).await else {
        return;
    };
    let Ok(rows) = sqlx::query("SELECT datname FROM pg_database WHERE datname LIKE 'sbtest_%'")
        .fetch_all(&mut conn)
        .await
    else {
        return;
    };
    let hour_ago = (time::OffsetDateTime::now_utc().unix_timestamp() - 3600) as u64 * 1000;
    for row in rows {
        let name: String = row.get(0);
        let stale = name
            .strip_prefix("sbtest_")
            .and_then(|u| ulid::Ulid::from_string(&u.to_uppercase()).ok())
            .is_some_and(|u| u.timestamp_ms() < hour_ago);
        if stale {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await;
        }
    }
}

pub async fn fresh_postgres_url() -> Option<String> {
    use sqlx::Connection as _;
    if !postgres_reachable().await {
        if std::env::var_os("CI").is_some() {
            panic!(
                "PostgreSQL is unreachable at {} and CI must test both backends",
                admin_url()
            );
        }
        return None;
    }
    let name = format!("sbtest_{}", ulid::Ulid::new().to_string().to_lowercase());
    let mut conn = sqlx::PgConnection::connect(&admin_url())
        .await
        .expect("admin connection");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let mut url = url::Url::parse(&admin_url()).expect("admin URL parses");
    url.set_path(&name);
    Some(url.to_string())
}

pub fn test_config(dir: &std::path::Path) -> Config {
    let mut config = Config {
        data_dir: dir.to_path_buf(),
        master_key: Some(Secret::new(
            switchboard::secrets::generate_key_text().to_string(),
        )),
        ..Config::default()
    };
    // Generous limits: rate limiting has its own tests.
    config.rate_limits.per_ip_per_second = 100_000;
    config.rate_limits.webhooks_per_agent_per_second = 100_000;
    config.rate_limits.login_per_ip_per_minute = 100_000;
    config.rate_limits.login_per_account_per_minute = 100_000;
    config.rate_limits.tenant_per_second.trial = 100_000;
    config.rate_limits.tenant_per_second.growth = 100_000;
    config.database.sqlite_synchronous = switchboard::config::SqliteSynchronous::Normal;
    // Several PostgreSQL writers, so that batches commit concurrently and
    // the lock order that keeps them from deadlocking stays tested.
    config.database.ingest_writers = std::num::NonZeroUsize::new(4).expect("four");
    // Retries and sweeps on a test's time scale.
    config.pipeline.poll_interval_ms = 100;
    config.pipeline.retry_base_ms = 50;
    config.pipeline.max_attempts = 3;
    config.pipeline.flat_interval_ms = 0;
    // Stand-in providers listen on loopback.
    config.providers.allow_private_addresses = true;
    config
}

impl TestApp {
    /// `None` (after printing SKIPPED) when the backend is PostgreSQL and none is reachable.
    pub async fn spawn(backend: Backend, test: &str) -> Option<TestApp> {
        Self::spawn_with(backend, test, |_| {}).await
    }

    pub async fn spawn_with(
        backend: Backend,
        test: &str,
        tweak: impl FnOnce(&mut Config),
    ) -> Option<TestApp> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(dir.path());
        let database_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => match fresh_postgres_url().await {
                Some(url) => Some(url),
                None => {
                    println!(
                        "SKIPPED (PostgreSQL unreachable at {}): {test}",
                        admin_url()
                    );
                    return None;
                }
            },
        };
        config.database_url = database_url.clone().map(Secret::new);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        config.public_url = Some(base.parse().expect("base URL"));
        tweak(&mut config);
        let app = App::build(config).await.expect("app builds");
        let state = app.state.clone();
        tokio::spawn(app.serve(listener, std::future::pending()));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Some(TestApp {
            base,
            client,
            state,
            backend,
            database_url,
            _dir: dir,
        })
    }

    /// A connection as the table owner, bypassing the application's limits
    /// (RLS, the tenant-scoped handle): the way an attacker with database
    /// access would, or an older version of the server did.
    async fn owner_connection(&self) -> sqlx::AnyConnection {
        use sqlx::Connection as _;
        let url = match self.backend {
            Backend::Sqlite => format!(
                "sqlite://{}",
                self.state.config.data_dir.join("switchboard.db").display()
            ),
            Backend::Postgres => self.database_url.clone().unwrap(),
        };
        sqlx::AnyConnection::connect(&url).await.unwrap()
    }

    /// Runs a statement as the table owner.
    pub async fn as_table_owner(&self, sql: &str) {
        let mut conn = self.owner_connection().await;
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }

    /// The first column, text, of every row a query run as the table owner
    /// returns.
    pub async fn owner_strings(&self, sql: &str) -> Vec<String> {
        let mut conn = self.owner_connection().await;
        sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
    }

    pub fn db(&self) -> &Db {
        &self.state.db
    }

    /// The `switchboard` binary pointed at this app's storage (data
    /// directory, database, master key), with `args` before `--data`.
    ///
    /// Asynchronous on purpose: the server under test runs on the test's
    /// own runtime, and blocking it on a child process would freeze the
    /// server mid-transaction while the child waits for its lock.
    pub fn cli(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"));
        cmd.args(args)
            .arg("--data")
            .arg(&self.state.config.data_dir)
            .env(
                "SWITCHBOARD_MASTER_KEY",
                self.state
                    .config
                    .master_key
                    .as_ref()
                    .expect("a master key")
                    .expose(),
            )
            .env_remove("DATABASE_URL");
        if let Some(url) = &self.database_url {
            cmd.env("DATABASE_URL", url);
        }
        cmd
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Reply::from(req.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    /// Posts a minimal call in Switchboard's call JSON; asserts it was created.
    pub async fn post_call(&self, token: &str, external_id: &str) -> Reply {
        let created = self
            .post(
                "/api/v1/calls",
                token,
                json!({"external_id": external_id, "direction": "inbound", "from": "+14155550123",
                    "to": "+14155550100", "started_at": "2026-03-01T10:00:00Z"}),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        created
    }

    pub async fn login(&self, email: &str, password: &str, tenant: Option<&str>) -> Reply {
        let mut body = json!({"email": email, "password": password});
        if let Some(t) = tenant {
            body["tenant"] = json!(t);
        }
        self.call(Method::POST, "/api/v1/auth/login", None, Some(body))
            .await
    }

    /// An access token for a seeded user.
    pub async fn token(&self, email: &str) -> String {
        let reply = self.login(email, PASSWORD, None).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "login of {email}: {}",
            reply.body
        );
        reply.body["access_token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    /// A tenant with an owner, admin, manager, member and viewer
    /// (`<role>@<slug>.example`), all with [`PASSWORD`].
    pub async fn seed_tenant(&self, slug: &str) -> Seeded {
        let op = Operator::command_line();
        let tenant = tenancy::create_tenant(
            self.db(),
            &op,
            NewTenant {
                slug: Slug::parse(slug).unwrap(),
                name: format!("{slug} Ltd"),
                plan: Plan::Growth,
                industry: IndustryTemplate::Generic,
                external_org_id: Some(format!("org_{slug}")),
            },
            None,
        )
        .await
        .expect("tenant created");
        let hash = password_hash().await;
        let mut users = Vec::new();
        for role in Role::ALL {
            let email = Email::parse(&format!("{role}@{slug}.example")).unwrap();
            let user = tenancy::add_member(self.db(), &op, tenant.id, &email, role, Some(&hash))
                .await
                .expect("member added");
            users.push((role, user.id, email.to_string()));
        }
        Seeded {
            id: tenant.id,
            slug: slug.to_owned(),
            users,
        }
    }

    pub async fn platform_admin(&self, email: &str) -> String {
        tenancy::add_platform_admin(
            self.db(),
            &Email::parse(email).unwrap(),
            &password_hash().await,
        )
        .await
        .expect("admin");
        self.token(email).await
    }

    /// An API key of the tenant with the given scopes, made by the CLI path.
    pub async fn api_key(&self, tenant: &Seeded, scopes: &[&str]) -> String {
        let t = tenancy::resolve(self.db(), &tenant.slug)
            .await
            .unwrap()
            .unwrap();
        let ctx = Operator::command_line_in(&t);
        let scopes = scopes.iter().map(|s| s.parse().unwrap()).collect();
        let created = switchboard::http::routes::api_keys::create_key(
            &self.state,
            &ctx,
            None,
            "test key",
            scopes,
            None,
        )
        .await
        .map_err(|p| p.title)
        .unwrap();
        created.key
    }
}

/// One argon2 hash shared by every seeded user: hashing is slow on purpose.
pub async fn password_hash() -> PasswordHash {
    static HASH: OnceLock<PasswordHash> = OnceLock::new();
    if let Some(h) = HASH.get() {
        return h.clone();
    }
    let h = PasswordHash::of(&PlaintextPassword::new(PASSWORD.into()).unwrap()).await;
    HASH.get_or_init(|| h).clone()
}

pub struct Seeded {
    pub id: TenantId,
    pub slug: String,
    pub users: Vec<(Role, UserId, String)>,
}

impl Seeded {
    pub fn email(&self, role: Role) -> &str {
        &self.users.iter().find(|(r, ..)| *r == role).unwrap().2
    }
    pub fn user(&self, role: Role) -> UserId {
        self.users.iter().find(|(r, ..)| *r == role).unwrap().1
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub async fn from(res: reqwest::Response) -> Reply {
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    /// Asserts an RFC 7807 problem with this status and returns it.
    pub fn problem(&self, status: StatusCode) -> &Value {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert_eq!(
            self.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "problem content type; body: {}",
            self.text
        );
        assert_eq!(self.body["status"], status.as_u16());
        assert!(
            self.body["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("/problems/")),
            "{}",
            self.text
        );
        &self.body
    }

    /// The bad fields named by a validation problem.
    pub fn fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["field"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Runs each listed test once per backend: `mod sqlite { … }` and `mod postgres { … }`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(app) = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite, stringify!($name)).await {
                        super::$name(app).await;
                    }
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(app) = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres, concat!(module_path!(), "::", stringify!($name))).await {
                        super::$name(app).await;
                    }
                }
            )+
        }
    };
}
