//! The command line. Commands that create something print only its id or
//! secret on standard output, so scripts can capture it; everything else
//! goes to standard error.

use std::io::{BufRead as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use switchboard_core::{
    Email, IndustryTemplate, Permission, PermissionSet, Plan, Role, Slug, TenantStatus,
};

use crate::app::{shutdown_signal, App};
use crate::auth::password::{PasswordHash, PlaintextPassword};
use crate::auth::Operator;
use crate::config::Config;
use crate::db::{audit, platform_secrets, tenants, Db, Mode};
use crate::secrets::{self, KeyFile};
use crate::tenancy;

#[derive(Parser, Debug)]
#[command(
    name = "switchboard",
    version,
    about = "Multi-tenant, white-label platform for AI call operations",
    long_about = "Multi-tenant, white-label platform for AI call operations.\n\n\
Storage: PostgreSQL when DATABASE_URL is set (postgres://…), otherwise SQLite in the data directory.\n\
Configuration: built-in defaults < TOML file (--config) < SWITCHBOARD_* environment (nested keys joined \
with __, e.g. SWITCHBOARD_HTTP__BODY_LIMIT_BYTES) < flags. SWITCHBOARD_MASTER_KEY (base64 of 32 bytes) \
replaces the key file <data>/master.key; REDIS_URL shares rate limits across nodes."
)]
pub struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "SWITCHBOARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (SQLite database, master key file, local objects). Default ./data.
    #[arg(long, global = true)]
    pub data: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the API (and, later, the UI and workers).
    Serve(ServeArgs),
    /// Create two demo tenants with users and data (idempotent), print the logins, and serve.
    Demo(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage tenant API keys.
    #[command(subcommand)]
    Apikey(ApiKeyCommand),
    /// Inspect the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Manage the master key that seals secrets at rest.
    #[command(subcommand, name = "master-key")]
    MasterKey(MasterKeyCommand),
    /// Import calls from a JSON Lines or CSV file (docs/call-json.md) into a
    /// tenant, with a progress bar. Prints the report as JSON; exits 1 when
    /// any line was refused.
    Import(ImportArgs),
    /// Run only the analysis pipeline's workers (no HTTP), for scale-out:
    /// several on PostgreSQL share the queue safely.
    Worker,
    /// Queue a tenant's calls for analysis again (after a rubric change, or
    /// to re-drive failed jobs) and analyse them here, with a progress bar.
    Reanalyse(ReanalyseArgs),
}

#[derive(Args, Debug)]
pub struct ReanalyseArgs {
    /// Tenant slug or id.
    #[arg(long)]
    pub tenant: String,
    /// Only calls started on or after this day (`yyyy-mm-dd`, UTC).
    #[arg(long)]
    pub since: Option<String>,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The file: `.jsonl`/`.ndjson` (one call document per line) or `.csv`.
    #[arg(required_unless_present = "cci")]
    pub file: Option<PathBuf>,
    /// Tenant slug or id.
    #[arg(long)]
    pub tenant: String,
    /// `jsonl` or `csv`; by default from the file's extension.
    #[arg(long, conflicts_with = "cci")]
    pub format: Option<String>,
    /// Import a CCI-style layout instead (docs/cci-import.md): a directory or
    /// s3://bucket[/prefix] (S3 settings as for the object store).
    #[arg(long, conflicts_with = "file")]
    pub cci: Option<String>,
    /// The organisation folder of the CCI layout; needed when it has several.
    #[arg(long, requires = "cci")]
    pub org: Option<String>,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on. Default 127.0.0.1:8080.
    #[arg(long)]
    pub bind: Option<SocketAddr>,
}

#[derive(Subcommand, Debug)]
pub enum TenantCommand {
    /// Create a tenant; prints its id.
    Create {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        /// trial, starter, growth or enterprise.
        #[arg(long, default_value = "trial")]
        plan: String,
        /// generic, insurance or real_estate.
        #[arg(long, default_value = "generic")]
        industry: String,
        /// The identity provider organisation id mapped to this tenant.
        #[arg(long)]
        external_org_id: Option<String>,
    },
    /// List tenants (tab-separated: id, slug, status, plan, name).
    List,
    /// Suspend a tenant (by slug or id): every tenant route answers 403.
    Suspend { tenant: String },
    /// Reactivate a suspended tenant.
    Reactivate { tenant: String },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add a user to a tenant, or a platform admin; prints the user id.
    Add {
        /// Tenant slug or id (not with --platform-admin).
        #[arg(
            long,
            required_unless_present = "platform_admin",
            conflicts_with = "platform_admin"
        )]
        tenant: Option<String>,
        #[arg(long)]
        email: String,
        /// owner, admin, manager, member or viewer.
        #[arg(long, required_unless_present = "platform_admin")]
        role: Option<String>,
        /// Make the user a platform admin instead of a tenant member.
        #[arg(long)]
        platform_admin: bool,
        /// Read the password (12 to 256 characters) from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ApiKeyCommand {
    /// Create an API key; prints the key, once.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        name: String,
        /// A permission the key carries, e.g. calls:view_all; repeat for more. Default: read-only.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Days until the key expires; never when left out.
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Verify the hash chain; exit code 0 when intact, 1 naming the first broken entry.
    Verify {
        /// Only this tenant (slug or id); all tenants when left out.
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum MasterKeyCommand {
    /// Re-wrap every sealed secret under a new master key. With a key file, a
    /// new key is generated and the file updated; with SWITCHBOARD_MASTER_KEY,
    /// set the new key there and the old one in SWITCHBOARD_MASTER_KEY_PREVIOUS
    /// first. Prints the new key id.
    Rotate,
}

impl Cli {
    pub fn load_config(&self) -> anyhow::Result<Config> {
        let mut config = Config::load(self.config.as_deref())?;
        if let Some(data) = &self.data {
            config.data_dir = data.clone();
        }
        if let Command::Serve(args) | Command::Demo(args) = &self.command {
            if let Some(bind) = args.bind {
                config.bind = bind;
            }
        }
        Ok(config)
    }
}

fn read_password_stdin() -> anyhow::Result<PlaintextPassword> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let line = line.trim_end_matches(['\n', '\r']).to_owned();
    PlaintextPassword::new(line).map_err(|e| anyhow::anyhow!("password: {e}"))
}

async fn tenant_arg(db: &Db, tenant: &str) -> anyhow::Result<tenants::Tenant> {
    tenancy::resolve(db, tenant)
        .await?
        .with_context(|| format!("no tenant {tenant:?}"))
}

async fn open_db(config: &Config) -> anyhow::Result<Db> {
    Db::open(
        config.database_url.as_ref().map(|s| s.expose()),
        &config.data_dir,
        &config.database,
    )
    .await
}

/// Runs a command; the returned code is the process exit code.
pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    let config = cli.load_config()?;
    let operator = Operator::command_line();
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Serve(_) => {
            let bind = config.bind;
            let app = App::build(config).await?;
            let listener = tokio::net::TcpListener::bind(bind)
                .await
                .with_context(|| format!("binding {bind}"))?;
            tracing::info!(address = %listener.local_addr()?, "serving");
            app.serve(listener, shutdown_signal()).await?;
        }
        Command::Demo(_) => crate::demo::run(config).await?,
        Command::Migrate => {
            let db = open_db(&config).await?;
            match db.session_role().await? {
                Some(role) => {
                    eprintln!("migrations applied (PostgreSQL; requests run as role {role})")
                }
                None => eprintln!("migrations applied (SQLite)"),
            }
        }
        Command::Tenant(TenantCommand::Create {
            slug,
            name,
            plan,
            industry,
            external_org_id,
        }) => {
            let db = open_db(&config).await?;
            let new = tenants::NewTenant {
                slug: Slug::parse(&slug).map_err(|e| anyhow::anyhow!("--slug: {e}"))?,
                name,
                plan: plan
                    .parse::<Plan>()
                    .map_err(|e| anyhow::anyhow!("--plan: {e}"))?,
                industry: industry
                    .parse::<IndustryTemplate>()
                    .map_err(|e| anyhow::anyhow!("--industry: {e}"))?,
                external_org_id,
            };
            let tenant = tenancy::create_tenant(&db, &operator, new, None).await?;
            writeln!(out, "{}", tenant.id)?;
        }
        Command::Tenant(TenantCommand::List) => {
            let db = open_db(&config).await?;
            let mut tx = db.platform(Mode::Read).await?;
            let mut after = None;
            loop {
                let page = tenants::list(tx.conn(), after, 500).await?;
                for t in &page {
                    writeln!(
                        out,
                        "{}\t{}\t{}\t{}\t{}",
                        t.id, t.slug, t.status, t.plan, t.name
                    )?;
                }
                match page.last() {
                    Some(last) if page.len() == 500 => after = Some(last.id),
                    _ => break,
                }
            }
        }
        Command::Tenant(
            cmd @ (TenantCommand::Suspend { .. } | TenantCommand::Reactivate { .. }),
        ) => {
            let (tenant, status) = match cmd {
                TenantCommand::Suspend { tenant } => (tenant, TenantStatus::Suspended),
                TenantCommand::Reactivate { tenant } => (tenant, TenantStatus::Active),
                TenantCommand::Create { .. } | TenantCommand::List => {
                    unreachable!("matched by the arms above")
                }
            };
            let db = open_db(&config).await?;
            let t = tenant_arg(&db, &tenant).await?;
            tenancy::set_status(&db, &operator, t.id, status, None).await?;
            eprintln!("tenant {} is now {status}", t.slug);
        }
        Command::User(UserCommand::Add {
            tenant,
            email,
            role,
            platform_admin,
            password_stdin: _,
        }) => {
            let email = Email::parse(&email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
            let password = read_password_stdin()?;
            let hash = PasswordHash::of(&password).await;
            let db = open_db(&config).await?;
            let user = if platform_admin {
                tenancy::add_platform_admin(&db, &email, &hash).await?
            } else {
                let role = role
                    .as_deref()
                    .unwrap_or_default()
                    .parse::<Role>()
                    .map_err(|e| anyhow::anyhow!("--role: {e}"))?;
                let t = tenant_arg(&db, tenant.as_deref().unwrap_or_default()).await?;
                tenancy::add_member(&db, &operator, t.id, &email, role, Some(&hash)).await?
            };
            writeln!(out, "{}", user.id)?;
        }
        Command::Apikey(ApiKeyCommand::Create {
            tenant,
            name,
            scopes,
            expires_in_days,
        }) => {
            let scopes: PermissionSet = if scopes.is_empty() {
                crate::auth::service::default_api_key_scopes()
            } else {
                scopes
                    .iter()
                    .map(|s| {
                        s.parse::<Permission>()
                            .map_err(|e| anyhow::anyhow!("--scope {s}: {e}"))
                    })
                    .collect::<anyhow::Result<_>>()?
            };
            let expires_at =
                expires_in_days.map(|d| crate::db::now_ms() + i64::from(d) * 86_400_000);
            let app = App::build(config).await?;
            let t = tenant_arg(&app.state.db, &tenant).await?;
            let ctx = Operator::command_line_in(&t);
            let created = crate::http::routes::api_keys::create_key(
                &app.state, &ctx, None, &name, scopes, expires_at,
            )
            .await
            .map_err(|p| anyhow::anyhow!("{}", p.detail.unwrap_or(p.title)))?;
            writeln!(out, "{}", created.key)?;
        }
        Command::Audit(AuditCommand::Verify { tenant }) => {
            let db = open_db(&config).await?;
            let targets = match tenant {
                Some(t) => vec![tenant_arg(&db, &t).await?],
                None => {
                    let mut tx = db.platform(Mode::Read).await?;
                    tenants::list(tx.conn(), None, i64::MAX).await?
                }
            };
            let mut broken = 0;
            for t in targets {
                let mut tx = db.tenant(&operator.scope_for(t.id), Mode::Read).await?;
                match audit::verify(&mut tx).await? {
                    Ok(n) => eprintln!("{}: intact ({n} entries)", t.slug),
                    Err(b) => {
                        broken += 1;
                        eprintln!("{}: BROKEN at {b}", t.slug);
                    }
                }
            }
            return Ok(if broken > 0 { 1 } else { 0 });
        }
        Command::Import(args) => {
            let report = import_file(config, &args).await?;
            writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            if report.failed > 0 {
                return Ok(1);
            }
        }
        Command::MasterKey(MasterKeyCommand::Rotate) => {
            let id = rotate_master_key(&config).await?;
            writeln!(out, "{id}")?;
        }
        Command::Worker => {
            let app = App::build(config).await?;
            eprintln!("pipeline worker running; stop with Ctrl-C");
            tokio::select! {
                _ = crate::pipeline::run_workers(app.state.clone()) => {}
                _ = shutdown_signal() => {}
            }
            app.state.db.close().await;
        }
        Command::Reanalyse(args) => {
            let (done, failed) = reanalyse(config, &args).await?;
            writeln!(out, "{done}")?;
            if failed > 0 {
                eprintln!("{failed} calls failed to analyse; see GET /api/v1/calls/{{id}}");
                return Ok(1);
            }
        }
    }
    Ok(0)
}

/// Re-queues the tenant's calls and runs them to the end here; returns
/// (calls queued, calls whose job failed).
async fn reanalyse(config: Config, args: &ReanalyseArgs) -> anyhow::Result<(usize, i64)> {
    use crate::db::pipeline_jobs::JobStatus;
    let since = match &args.since {
        None => None,
        Some(day) => {
            let date =
                crate::http::routes::parse_day(day).map_err(|e| anyhow::anyhow!("--since: {e}"))?;
            Some(date.midnight().assume_utc().unix_timestamp() * 1000)
        }
    };
    let app = App::build(config).await?;
    let state = app.state;
    let tenant = tenant_arg(&state.db, &args.tenant).await?;
    let scope = Operator::command_line().scope_for(tenant.id);
    let queued = crate::pipeline::requeue_all(&state.db, &scope, since).await?;
    let bar = crate::pipeline::progress_bar(queued.len() as u64);
    let counts = crate::pipeline::settle(&state, &scope, &bar).await?;
    let failed = counts
        .iter()
        .find(|(s, _)| *s == JobStatus::Failed)
        .map_or(0, |(_, n)| *n);
    state.db.close().await;
    Ok((queued.len(), failed))
}

/// Rotation that survives a crash at any step: the key file first gains the
/// new key (keeping the old for opening), then every secret is re-wrapped,
/// then the old key is dropped from the file.
async fn rotate_master_key(config: &Config) -> anyhow::Result<String> {
    let db = open_db(config).await?;
    let file_mode = config.master_key.is_none();
    let path = config.master_key_path();
    let keyring = if file_mode {
        let mut file = KeyFile::read(&path)?;
        let old = std::mem::replace(&mut file.active, secrets::generate_key_text().to_string());
        file.previous.insert(0, old);
        file.write(&path)?;
        file.keyring()?
    } else {
        secrets::load_keyring(config)?
    };
    let mut tx = db.platform(Mode::Write).await?;
    let sealed = platform_secrets::all(tx.conn()).await?;
    for (name, value) in &sealed {
        let rewrapped = keyring
            .rewrap(value, &crate::auth::keys::aad(name))
            .map_err(|e| anyhow::anyhow!("cannot re-wrap {name}: {e}"))?;
        platform_secrets::replace(tx.conn(), name, &rewrapped).await?;
    }
    tx.commit().await?;
    let tenant_secrets = rewrap_tenant_secrets(&db, &keyring).await?;
    if file_mode {
        let mut file = KeyFile::read(&path)?;
        file.previous.clear();
        file.write(&path)?;
    }
    eprintln!(
        "re-wrapped {} platform and {tenant_secrets} tenant secrets under master key {}",
        sealed.len(),
        keyring.active_id()
    );
    if !file_mode {
        eprintln!("SWITCHBOARD_MASTER_KEY_PREVIOUS can now be removed");
    }
    Ok(keyring.active_id().to_owned())
}

/// Re-wraps every tenant's sealed secrets (provider credentials, agent
/// webhook secrets), one transaction per tenant; returns how many.
async fn rewrap_tenant_secrets(db: &Db, keyring: &secrets::Keyring) -> anyhow::Result<usize> {
    use crate::db::{agents, credentials};
    let mut count = 0;
    for tenant in &tenancy::all(db).await? {
        let name = tenant.id.to_string();
        let scope = Operator::command_line().scope_for(tenant.id);
        let mut tx = db.tenant(&scope, Mode::Write).await?;
        for (provider, sealed) in credentials::all(&mut tx).await? {
            let fresh = keyring
                .rewrap(&sealed, &credentials::aad(&name, provider))
                .map_err(|e| anyhow::anyhow!("cannot re-wrap a credential of {name}: {e}"))?;
            credentials::replace_sealed(&mut tx, provider, &fresh).await?;
            count += 1;
        }
        let mut before = None;
        loop {
            let agents_page = agents::list(&mut tx, before, 200).await?;
            let Some(last) = agents_page.last() else {
                break;
            };
            before = Some(last.id);
            for agent in &agents_page {
                if let Some(fresh) = crate::http::routes::agents::rewrap(keyring, &name, agent)? {
                    agents::replace_secrets(&mut tx, agent.id, &fresh).await?;
                    count += 1;
                }
            }
        }
        tx.commit().await?;
    }
    Ok(count)
}

async fn import_file(
    config: Config,
    args: &ImportArgs,
) -> anyhow::Result<crate::ingest::ImportReport> {
    use switchboard_ingest::import;
    let cci_root = args
        .cci
        .as_deref()
        .map(|root| crate::cci::open_root(&config, root))
        .transpose()?;
    let app = App::build(config).await?;
    let tenant = tenant_arg(&app.state.db, &args.tenant).await?;
    let scope = Operator::command_line().scope_for(tenant.id);
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {bar:40} {pos}/{len}  {per_sec}  eta {eta}",
        )
        .expect("a valid template"),
    );
    let report = match (&args.file, cci_root) {
        (_, Some(layout)) => {
            let org = match &args.org {
                Some(org) => org.clone(),
                None => single_org(layout.store.as_ref(), &layout.prefix).await?,
            };
            crate::cci::import(&app.state, &scope, &layout, &org, |done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            })
            .await?
        }
        (Some(file), None) => {
            let hint = args.format.clone().unwrap_or_else(|| {
                file.extension()
                    .and_then(|e| e.to_str())
                    .unwrap_or("")
                    .to_owned()
            });
            let format = import::Format::detect(&hint).ok_or_else(|| {
                anyhow::anyhow!(
                    "cannot tell the format of {}: pass --format jsonl or --format csv",
                    file.display()
                )
            })?;
            let input =
                std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
            // The bar follows the bytes read: the lines are read as they are
            // imported, and nobody counts a file's lines before.
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {bar:40} {bytes}/{total_bytes}  {msg}  eta {eta}",
                )
                .expect("a valid template"),
            );
            bar.set_length(input.metadata()?.len());
            let lines = import::read(format, bar.wrap_read(input));
            let imported = crate::ingest::import(&app.state, &scope, lines, |n| {
                bar.set_message(format!("{n} calls"))
            })
            .await;
            match imported {
                Err(crate::ingest::IngestError::Input { taken, error }) => {
                    // What the lines before the error became is as much the
                    // answer as the error: they are stored.
                    bar.finish();
                    print_summary(&taken);
                    app.state.db.close().await;
                    return Err(anyhow::Error::new(error).context(format!(
                        "reading {}: the {} lines before the error were imported (above)",
                        file.display(),
                        taken.total
                    )));
                }
                other => other.with_context(|| format!("importing {}", file.display()))?,
            }
        }
        (None, None) => anyhow::bail!("name a file, or --cci"),
    };
    bar.finish();
    print_summary(&report);
    app.state.db.close().await;
    Ok(report)
}

/// An import's counts and every refused line, for the terminal.
fn print_summary(report: &crate::ingest::ImportReport) {
    eprintln!(
        "{} calls: {} imported, {} already present, {} refused",
        report.total, report.accepted, report.duplicates, report.failed
    );
    for line in report.errors.iter().chain(&report.audio_errors) {
        for e in &line.errors {
            eprintln!("line {}: {}: {}", line.line, e.field, e.message);
        }
    }
}

/// The one organisation folder of a CCI layout (`results/` aside).
async fn single_org(
    store: &dyn object_store::ObjectStore,
    root: &object_store::path::Path,
) -> anyhow::Result<String> {
    let listing = store.list_with_delimiter(Some(root)).await?;
    let orgs: Vec<String> = listing
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename().map(str::to_owned))
        .filter(|name| name != "results")
        .collect();
    match orgs.as_slice() {
        [one] => Ok(one.clone()),
        [] => anyhow::bail!("the layout has no organisation folder"),
        many => anyhow::bail!(
            "the layout has several organisations ({}): pass --org",
            many.join(", ")
        ),
    }
}
