//! Configuration: built-in defaults < TOML file < `SWITCHBOARD_*` environment
//! (nested keys joined with `__`, e.g. `SWITCHBOARD_HTTP__BODY_LIMIT_BYTES`)
//! < command-line flags. `DATABASE_URL` and `REDIS_URL` are also read bare,
//! as most platforms set them that way. With nothing configured it runs on
//! `./data` (SQLite + files) at `127.0.0.1:8080` and makes no network calls.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use switchboard_core::Plan;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    /// `postgres://…` for PostgreSQL; unset means SQLite in `data_dir`.
    pub database_url: Option<Secret>,
    /// Shared rate-limit counters across nodes; unset means in-process.
    pub redis_url: Option<Secret>,
    /// The externally visible base URL. An `https` URL also marks cookies `Secure`.
    pub public_url: Option<url::Url>,
    /// Base64 of 32 random bytes. Unset means a key file in the data directory.
    pub master_key: Option<Secret>,
    /// The key that `master_key` replaced, kept only while rotating.
    pub master_key_previous: Option<Secret>,
    pub master_key_file: Option<PathBuf>,
    /// `s3://bucket[/prefix]` for S3-compatible object storage; unset means
    /// local files under `data_dir/objects`.
    pub object_store_url: Option<String>,
    /// How a batch of local object writes is made durable (see
    /// [`LocalObjectSync`]); S3 stores ignore it.
    pub local_object_sync: LocalObjectSync,
    pub s3: S3Config,
    pub providers: ProvidersConfig,
    pub log: LogConfig,
    pub http: HttpConfig,
    pub auth: AuthConfig,
    pub rate_limits: RateLimitConfig,
    pub database: DatabaseConfig,
    pub pipeline: crate::pipeline::PipelineConfig,
    /// An OpenAI-compatible chat endpoint for summaries, next steps and
    /// rubric questions; off unless `base_url` is set.
    pub llm: crate::openai::EndpointConfig,
    /// An OpenAI-compatible transcription endpoint for audio-only calls;
    /// off unless `base_url` is set.
    pub transcription: crate::openai::EndpointConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".parse().expect("valid default address"),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            redis_url: None,
            public_url: None,
            master_key: None,
            master_key_previous: None,
            master_key_file: None,
            object_store_url: None,
            local_object_sync: LocalObjectSync::default(),
            s3: S3Config::default(),
            providers: ProvidersConfig::default(),
            log: LogConfig::default(),
            http: HttpConfig::default(),
            auth: AuthConfig::default(),
            rate_limits: RateLimitConfig::default(),
            database: DatabaseConfig::default(),
            pipeline: crate::pipeline::PipelineConfig::default(),
            llm: crate::openai::EndpointConfig::default_llm(),
            transcription: crate::openai::EndpointConfig::default_transcription(),
        }
    }
}

impl Config {
    /// Loads defaults < `file` < environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            anyhow::ensure!(
                file.exists(),
                "configuration file {} does not exist",
                file.display()
            );
            figment = figment.merge(Toml::file(file));
        }
        figment = figment
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL", "REDIS_URL", "OBJECT_STORE_URL"])
                    .map(|k| k.as_str().to_lowercase().into()),
            )
            .merge(Env::prefixed("SWITCHBOARD_").split("__"));
        Ok(figment.extract()?)
    }

    pub fn master_key_path(&self) -> PathBuf {
        self.master_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("master.key"))
    }

    /// The externally visible base URL, without a trailing slash: webhook
    /// URLs and signed object URLs start with it.
    pub fn public_base(&self) -> String {
        match &self.public_url {
            Some(u) => u.as_str().trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.bind),
        }
    }

    /// Whether the product is reached over TLS, which decides the `Secure` cookie flag.
    pub fn served_over_tls(&self) -> bool {
        self.public_url
            .as_ref()
            .is_some_and(|u| u.scheme() == "https")
    }
}

/// A configuration value that must never reach a log line or an error.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How the local object store makes a batch of writes durable before a
/// 2xx (decision 0010).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LocalObjectSync {
    /// One `syncfs` of the data directory's filesystem per batch: one
    /// device flush however many files. Anything else dirty on that
    /// filesystem is written out with it, so give `data_dir` a filesystem
    /// of its own. The default on Linux; elsewhere it means `each_file`.
    #[default]
    Filesystem,
    /// `fdatasync` of every file and `fsync` of its directory: a device
    /// flush per file, unaffected by other writers on the filesystem.
    EachFile,
}

/// Settings of an S3-compatible object store. Unset values fall back to the
/// usual `AWS_*` environment variables.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// e.g. `http://127.0.0.1:9000` for a self-hosted store.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<Secret>,
    pub secret_access_key: Option<Secret>,
    /// Allow plain-HTTP endpoints (self-hosted stores on a private network).
    pub allow_http: bool,
}

/// Where the providers' own APIs are, for checking credentials and
/// downloading recordings. Overridable so tests can stand in for them.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProvidersConfig {
    pub retell_api_base: String,
    pub vapi_api_base: String,
    pub twilio_api_base: String,
    /// Per request to a provider.
    pub timeout_secs: u64,
    /// Per recording download (Twilio's, a recording provider's): reading
    /// a long call's audio on an ordinary link takes far longer than a
    /// request. The recording pull's lease outlasts two of them.
    pub download_timeout_secs: u64,
    /// Lets tenants' recording providers (`base_url`) be on loopback, the
    /// private network or link-local addresses. Off: a tenant could
    /// otherwise make the server reach what only it can reach.
    pub allow_private_addresses: bool,
    /// A Twilio recording whose fetch failed (three attempts a second or two
    /// apart) is fetched again this many seconds after each failed round,
    /// then left `failed`.
    pub recording_retry_secs: Vec<u64>,
}

impl Default for ProvidersConfig {
    fn default() -> Self {
        Self {
            retell_api_base: "https://api.retellai.com".into(),
            vapi_api_base: "https://api.vapi.ai".into(),
            twilio_api_base: "https://api.twilio.com".into(),
            timeout_secs: 15,
            download_timeout_secs: 600,
            allow_private_addresses: false,
            // A minute, five, half an hour, two hours, twelve.
            recording_retry_secs: vec![60, 300, 1_800, 7_200, 43_200],
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `json` (default) or `pretty`.
    pub format: LogFormat,
    /// An `EnvFilter` directive, e.g. `info,switchboard=debug`.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Json,
            filter: "info".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub body_limit_bytes: usize,
    /// Uploaded call audio may be larger than other bodies.
    pub audio_limit_bytes: usize,
    /// So may a bulk import.
    pub import_limit_bytes: usize,
    pub request_timeout_secs: u64,
    /// For audio uploads and imports, whose bodies may take minutes.
    pub transfer_timeout_secs: u64,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace_secs: u64,
    /// Load balancers and reverse proxies in front of the server (CIDRs),
    /// believed about the client's address in `X-Forwarded-For`.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit_bytes: 1024 * 1024,
            audio_limit_bytes: 200 * 1024 * 1024,
            import_limit_bytes: 50 * 1024 * 1024,
            request_timeout_secs: 30,
            transfer_timeout_secs: 900,
            shutdown_grace_secs: 30,
            trusted_proxies: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    pub impersonation_ttl_secs: u64,
    /// How long this node may answer from memory what the database said
    /// about an API key or access token, a webhook URL's agent, or a
    /// tenant's provider key (decision 0009); 0 turns the caches off. Changes made
    /// through this node's API take effect at once, changes made elsewhere
    /// (another node, the CLI) within this many seconds.
    pub credential_cache_ttl_secs: u64,
    pub identity_providers: Vec<IdentityProviderConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            impersonation_ttl_secs: 15 * 60,
            credential_cache_ttl_secs: 5,
            identity_providers: Vec::new(),
        }
    }
}

/// An external identity provider (Clerk, Cognito, Auth0 …) whose JWTs are
/// accepted. Its tokens are told apart by their `iss` claim.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityProviderConfig {
    pub name: String,
    pub issuer: String,
    pub audience: String,
    pub jwks_url: url::Url,
    /// Pinned: a token signed with any other algorithm is refused.
    pub algorithm: JwtAlgorithm,
    #[serde(default)]
    pub claims: ClaimMapping,
    /// Leeway for `exp`/`nbf`, in seconds.
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
    /// An unknown `kid` refetches the JWKS at most this often.
    #[serde(default = "default_refetch")]
    pub min_refetch_interval_secs: u64,
}

fn default_leeway() -> u64 {
    30
}

fn default_refetch() -> u64 {
    10
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum JwtAlgorithm {
    RS256,
    ES256,
}

/// Which claims carry the organisation, user and role. Defaults read Clerk's
/// session-token claims.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClaimMapping {
    pub org_id: String,
    pub org_name: String,
    pub user_id: String,
    pub email: String,
    /// Optional; values such as `org:admin` or `admin` map to roles. Without
    /// it (or with an unknown value) the role is `default_role`.
    pub role: Option<String>,
    pub default_role: switchboard_core::Role,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        Self {
            org_id: "org_id".into(),
            org_name: "org_name".into(),
            user_id: "user_id".into(),
            email: "email".into(),
            role: Some("org_role".into()),
            default_role: switchboard_core::Role::Member,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Requests per second per client IP on every route but the webhooks
    /// (burst twice that).
    pub per_ip_per_second: u32,
    /// Webhooks per second per agent (burst twice that). Requests to
    /// webhook URLs that do not exist count against `per_ip_per_second`.
    pub webhooks_per_agent_per_second: u32,
    /// Sign-in attempts per minute per client IP.
    pub login_per_ip_per_minute: u32,
    /// Sign-in attempts per minute per account (email).
    pub login_per_account_per_minute: u32,
    /// Requests per second per tenant, by plan (burst twice that).
    pub tenant_per_second: PlanRates,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            per_ip_per_second: 100,
            webhooks_per_agent_per_second: 1000,
            login_per_ip_per_minute: 30,
            login_per_account_per_minute: 10,
            tenant_per_second: PlanRates::default(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlanRates {
    pub trial: u32,
    pub starter: u32,
    pub growth: u32,
    pub enterprise: u32,
}

impl PlanRates {
    pub fn for_plan(&self, plan: Plan) -> u32 {
        match plan {
            Plan::Trial => self.trial,
            Plan::Starter => self.starter,
            Plan::Growth => self.growth,
            Plan::Enterprise => self.enterprise,
        }
    }
}

impl Default for PlanRates {
    fn default() -> Self {
        Self {
            trial: 20,
            starter: 50,
            growth: 200,
            enterprise: 1000,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    pub max_connections: u32,
    /// SQLite durability: `full` (default) syncs the WAL on every commit, so
    /// a 2xx survives power loss; `normal` survives process crashes only.
    pub sqlite_synchronous: SqliteSynchronous,
    /// PostgreSQL: transactions writing incoming call events at once. One
    /// (the default) gave the lowest latency at the same throughput on the
    /// machines measured (BENCHMARKS.md); more overlap commits, which may
    /// pay on faster storage. SQLite has one writer whatever this says.
    pub ingest_writers: std::num::NonZeroUsize,
    /// Microseconds a small batch of incoming call events waits for more
    /// before it is written (0, the default: never). A commit costs about
    /// the same for one event as for ten, so on SQLite at a steady moderate
    /// rate fewer, larger commits take less CPU; on PostgreSQL the wait cost
    /// a fifth of the throughput (decision 0015).
    pub ingest_linger_us: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            max_connections: 16,
            sqlite_synchronous: SqliteSynchronous::Full,
            ingest_writers: std::num::NonZeroUsize::MIN,
            ingest_linger_us: 0,
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    Full,
    Normal,
}

impl SqliteSynchronous {
    pub fn pragma_value(self) -> &'static str {
        match self {
            SqliteSynchronous::Full => "FULL",
            SqliteSynchronous::Normal => "NORMAL",
        }
    }
}

#[cfg(test)]
// figment's `Jail` fixes its closures' error type, which is large.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_is_documented() {
        fn leaves(path: &str, value: &serde_json::Value, out: &mut Vec<String>) {
            match value {
                serde_json::Value::Object(fields) => {
                    for (key, value) in fields {
                        let path = match path {
                            "" => key.clone(),
                            _ => format!("{path}.{key}"),
                        };
                        leaves(&path, value, out);
                    }
                }
                _ => out.push(path.to_owned()),
            }
        }
        let doc = include_str!("../../../docs/configuration.md");
        let mut settings = Vec::new();
        leaves(
            "",
            &serde_json::to_value(Config::default()).unwrap(),
            &mut settings,
        );
        assert!(settings.len() > 50, "{settings:?}");
        let missing: Vec<&String> = settings
            .iter()
            .filter(|s| !doc.contains(&format!("| `{s}` |")))
            .collect();
        assert!(
            missing.is_empty(),
            "settings missing from docs/configuration.md: {missing:?}"
        );
    }

    #[test]
    fn defaults_need_nothing() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            let c = Config::load(None).unwrap();
            assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
            assert_eq!(c.data_dir, PathBuf::from("./data"));
            assert!(c.database_url.is_none());
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_file_which_overrides_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file("sb.toml", "bind = \"0.0.0.0:9000\"\n[http]\nbody_limit_bytes = 10\nrequest_timeout_secs = 5\n")?;
            jail.set_env("SWITCHBOARD_HTTP__BODY_LIMIT_BYTES", "20");
            jail.set_env("DATABASE_URL", "postgres://x@localhost/db");
            let c = Config::load(Some(Path::new("sb.toml"))).unwrap();
            assert_eq!(c.bind.to_string(), "0.0.0.0:9000");
            assert_eq!(c.http.body_limit_bytes, 20);
            assert_eq!(c.http.request_timeout_secs, 5);
            assert_eq!(
                c.database_url.unwrap().expose(),
                "postgres://x@localhost/db"
            );
            Ok(())
        });
    }

    #[test]
    fn trusted_proxies_are_read_as_networks() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env(
                "SWITCHBOARD_HTTP__TRUSTED_PROXIES",
                r#"["10.0.0.0/8", "::1/128"]"#,
            );
            let c = Config::load(None).unwrap();
            let nets: Vec<String> = c
                .http
                .trusted_proxies
                .iter()
                .map(|n| n.to_string())
                .collect();
            assert_eq!(nets, ["10.0.0.0/8", "::1/128"]);
            jail.set_env("SWITCHBOARD_HTTP__TRUSTED_PROXIES", r#"["10.0.0.0/33"]"#);
            assert!(Config::load(None).is_err());
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("sb.toml", "bnid = \"0.0.0.0:9000\"\n")?;
            assert!(Config::load(Some(Path::new("sb.toml"))).is_err());
            Ok(())
        });
    }

    #[test]
    fn secrets_do_not_print() {
        let c = Config {
            master_key: Some(Secret::new("c2VjcmV0")),
            ..Config::default()
        };
        assert!(!format!("{c:?}").contains("c2VjcmV0"));
    }
}
