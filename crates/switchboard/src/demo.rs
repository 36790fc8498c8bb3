//! `switchboard demo`: two fictional tenants with people, keys, branding and
//! history, created idempotently through the same code paths as the API,
//! then served. Passwords are generated on first run and kept in
//! `<data>/demo-logins.json` (mode 0600) so later runs can print them again.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use rand::distributions::{Alphanumeric, DistString as _};
use serde::{Deserialize, Serialize};
use switchboard_core::{Email, HexColor, IndustryTemplate, Plan, Role, Slug};

use crate::app::{shutdown_signal, App};
use crate::auth::password::{PasswordHash, PlaintextPassword};
use crate::auth::{Operator, TenantContext};
use crate::config::Config;
use crate::db::agents::{self, AgentRecord};
use crate::db::calls;
use crate::db::tenants::{self, Branding, NewTenant};
use crate::db::{memberships, Mode};
use crate::ingest;
use crate::tenancy;
use switchboard_ingest::providers::{retell, switchboard as call_json, vapi};
use switchboard_ingest::{synthetic, Source};

struct DemoTenant {
    slug: &'static str,
    name: &'static str,
    domain: &'static str,
    plan: Plan,
    industry: IndustryTemplate,
    colors: (&'static str, &'static str),
}

const TENANTS: [DemoTenant; 2] = [
    DemoTenant {
        slug: "demo-larkspur",
        name: "Larkspur Mutual Insurance (demo)",
        domain: "larkspur.example",
        plan: Plan::Growth,
        industry: IndustryTemplate::Insurance,
        colors: ("#1f4e79", "#f2a541"),
    },
    DemoTenant {
        slug: "demo-cobalt-ridge",
        name: "Cobalt Ridge Realty (demo)",
        domain: "cobaltridge.example",
        plan: Plan::Starter,
        industry: IndustryTemplate::RealEstate,
        colors: ("#234e52", "#e76f51"),
    },
];

const FIRST: [&str; 12] = [
    "ana", "bruno", "chiara", "dev", "elif", "farid", "greta", "hiro", "ines", "jonas", "kemi",
    "luca",
];
const LAST: [&str; 8] = [
    "okafor",
    "lindqvist",
    "moreau",
    "tanaka",
    "herrera",
    "novak",
    "brennan",
    "castillo",
];

/// Demo passwords and keys, by email and tenant slug.
#[derive(Default, Serialize, Deserialize)]
pub struct Logins {
    pub passwords: BTreeMap<String, String>,
    pub api_keys: BTreeMap<String, String>,
}

fn load_logins(path: &Path) -> anyhow::Result<Logins> {
    if !path.exists() {
        return Ok(Logins::default());
    }
    Ok(serde_json::from_str(&std::fs::read_to_string(path)?)?)
}

fn save_logins(path: &Path, logins: &Logins) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(serde_json::to_string_pretty(logins)?.as_bytes())?;
    Ok(())
}

fn password_for(logins: &mut Logins, email: &str) -> String {
    logins
        .passwords
        .entry(email.to_owned())
        .or_insert_with(|| Alphanumeric.sample_string(&mut rand::rngs::OsRng, 16))
        .clone()
}

async fn ensure_user(
    app: &App,
    operator: &Operator,
    tenant: &tenants::Tenant,
    logins: &mut Logins,
    email: &str,
    role: Role,
) -> anyhow::Result<()> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("{email}: {e}"))?;
    let mut tx = app
        .state
        .db
        .tenant(&operator.scope_for(tenant.id), Mode::Read)
        .await?;
    let existing = crate::db::users::find_by_email(tx.conn(), &email).await?;
    let member = match &existing {
        Some(u) => memberships::get(&mut tx, u.id).await?.is_some(),
        None => false,
    };
    tx.commit().await?;
    if member {
        return Ok(());
    }
    let password =
        PlaintextPassword::new(password_for(logins, email.as_str())).expect("16 characters");
    let hash = PasswordHash::of(&password).await;
    tenancy::add_member(
        &app.state.db,
        operator,
        tenant.id,
        &email,
        role,
        Some(&hash),
    )
    .await?;
    Ok(())
}

/// Creates whatever of the demo is missing. Returns the platform admin's email.
pub async fn seed(
    app: &App,
    data_dir: &Path,
    calls_per_tenant: u64,
) -> anyhow::Result<(Logins, String)> {
    let operator = Operator::command_line();
    let logins_path = data_dir.join("demo-logins.json");
    let mut logins = load_logins(&logins_path)?;
    let admin_email = "operator@switchboard.example".to_owned();
    {
        let email = Email::parse(&admin_email).expect("valid");
        let mut tx = app.state.db.platform(Mode::Read).await?;
        let exists = crate::db::users::find_by_email(tx.conn(), &email)
            .await?
            .is_some();
        tx.commit().await?;
        if !exists {
            let pw = PlaintextPassword::new(password_for(&mut logins, &admin_email))
                .expect("16 characters");
            tenancy::add_platform_admin(&app.state.db, &email, &PasswordHash::of(&pw).await)
                .await?;
        }
    }
    for demo in &TENANTS {
        let slug = Slug::parse(demo.slug).expect("valid slug");
        let tenant = match tenancy::resolve(&app.state.db, demo.slug).await? {
            Some(t) => t,
            None => {
                let new = NewTenant {
                    slug,
                    name: demo.name.into(),
                    plan: demo.plan,
                    industry: demo.industry,
                    external_org_id: None,
                };
                tenancy::create_tenant(&app.state.db, &operator, new, None).await?
            }
        };
        for (local, role) in [
            ("owner", Role::Owner),
            ("manager", Role::Manager),
            ("viewer", Role::Viewer),
        ] {
            ensure_user(
                app,
                &operator,
                &tenant,
                &mut logins,
                &format!("{local}@{}", demo.domain),
                role,
            )
            .await?;
        }
        // A team of agents and supervisors with plausible, generated names.
        for i in 0..6 {
            let email = format!(
                "{}.{}@{}",
                FIRST[(i * 5 + demo.slug.len()) % FIRST.len()],
                LAST[(i * 3 + demo.name.len()) % LAST.len()],
                demo.domain
            );
            let role = if i == 0 {
                Role::Admin
            } else if i < 3 {
                Role::Manager
            } else {
                Role::Member
            };
            ensure_user(app, &operator, &tenant, &mut logins, &email, role).await?;
        }
        let ctx = Operator::command_line_in(&tenant);
        if tenant.branding == Branding::default() {
            let branding = Branding {
                display_name: Some(demo.name.trim_end_matches(" (demo)").to_owned()),
                logo_url: None,
                primary_color: Some(HexColor::parse(demo.colors.0).expect("valid")),
                accent_color: Some(HexColor::parse(demo.colors.1).expect("valid")),
            };
            let mut tx = app.state.db.tenant(ctx.scope(), Mode::Write).await?;
            tenants::set_branding(&mut tx, &branding).await?;
            crate::db::audit::append(
                &mut tx,
                crate::http::routes::audit_event(
                    &ctx,
                    None,
                    "branding.updated",
                    "tenant",
                    tenant.id.to_string(),
                    serde_json::to_value(&branding)?,
                ),
            )
            .await?;
            tx.commit().await?;
        }
        if !logins.api_keys.contains_key(demo.slug) {
            let created = crate::http::routes::api_keys::create_key(
                &app.state,
                &ctx,
                None,
                "Voice agent runtime (demo)",
                crate::auth::service::default_api_key_scopes(),
                None,
            )
            .await
            .map_err(|p| anyhow::anyhow!("creating the demo API key: {}", p.title))?;
            logins.api_keys.insert(demo.slug.to_owned(), created.key);
        }
        // Saved before the calls, which take a while: the passwords exist
        // only here, and a run cut short must not lose them.
        save_logins(&logins_path, &logins).context("saving the demo logins")?;
        seed_calls(app, &ctx, demo, calls_per_tenant).await?;
    }
    save_logins(&logins_path, &logins).context("saving the demo logins")?;
    Ok((logins, admin_email))
}

/// Calls per demo tenant: enough for every dashboard number to mean something.
pub const DEMO_CALLS: u64 = 1500;

/// The demo tenant's agents (one per provider kind), created once.
async fn ensure_agents(
    app: &App,
    ctx: &TenantContext,
    demo: &DemoTenant,
) -> anyhow::Result<Vec<AgentRecord>> {
    let mut tx = app.state.db.tenant(ctx.scope(), Mode::Read).await?;
    let existing = agents::list(&mut tx, None, 10).await?;
    tx.commit().await?;
    let short = demo.name.split_whitespace().next().unwrap_or("Demo");
    for (name, provider) in [
        (format!("{short} front desk"), Source::Retell),
        (format!("{short} outbound follow-ups"), Source::Vapi),
        (format!("{short} CRM bridge"), Source::Generic),
    ] {
        // One by one: a run cut short between two agents completes the set.
        if existing.iter().any(|a| a.name == name) {
            continue;
        }
        crate::http::routes::agents::create_agent(
            &app.state, ctx, None, &name, provider, None, None, None,
        )
        .await
        .map_err(|p| anyhow::anyhow!("creating the demo agent {name}: {}", p.title))?;
    }
    let mut tx = app.state.db.tenant(ctx.scope(), Mode::Read).await?;
    let created = agents::list(&mut tx, None, 10).await?;
    tx.commit().await?;
    Ok(created)
}

/// Generated calls over the last 30 days, through the same ingestion path
/// as real ones: the Retell agent's as Retell `call_ended` payloads, the
/// Vapi agent's as Vapi `end-of-call-report` messages, the others as
/// Switchboard call JSON. Idempotent: the demo's calls are numbered
/// (`<slug>-00042`), and only the missing numbers are generated, so a run
/// cut short is completed and a deleted call comes back, while the calls
/// that are there are left as they are.
async fn seed_calls(
    app: &App,
    ctx: &TenantContext,
    demo: &DemoTenant,
    target: u64,
) -> anyhow::Result<()> {
    let agents = ensure_agents(app, ctx, demo).await?;
    let external_id = |index: u64| format!("{}-{index:05}", demo.slug);
    let mut tx = app.state.db.tenant(ctx.scope(), Mode::Read).await?;
    let have = calls::external_ids_starting_with(&mut tx, &format!("{}-", demo.slug)).await?;
    tx.commit().await?;
    let missing: Vec<u64> = (0..target)
        .filter(|i| !have.contains(&external_id(*i)))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let now = crate::db::now_ms();
    let window = (now - 30 * 24 * 3600 * 1000, now);
    let seed = demo
        .slug
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let bar = indicatif::ProgressBar::new(missing.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} calls")
            .expect("a valid template"),
    );
    bar.set_message(format!("seeding {}", demo.slug));
    for index in missing {
        let mut call = synthetic::generate(demo.industry, seed, index, window.0, window.1);
        call.external_id = external_id(index);
        let agent = &agents[index as usize % agents.len()];
        let (source, update, raw) = if agent.provider == Source::Retell {
            let raw = synthetic::to_retell_call_ended(&call).to_string();
            let update = retell::parse(raw.as_bytes())?.context("a call_ended event")?;
            (Source::Retell, update, raw)
        } else if agent.provider == Source::Vapi {
            let raw = synthetic::to_vapi_end_of_call_report(&call).to_string();
            let update = vapi::parse(raw.as_bytes())?.context("an end-of-call-report")?;
            (Source::Vapi, update, raw)
        } else {
            let raw = synthetic::to_call_json(&call, Some(&agent.id.to_string())).to_string();
            // Read from its text, as the webhook would be.
            let valid = call_json::parse(raw.as_bytes())
                .map_err(|e| anyhow::anyhow!("a generated call does not validate: {e:?}"))?;
            (Source::Generic, valid.update, raw)
        };
        ingest::accept(
            &app.state,
            ctx.scope(),
            source,
            // As its provider would send it.
            ingest::Filing::webhook(agent.id, agent.id),
            update,
            ingest::event_key_of(raw.as_bytes()),
            ingest::RawPayload::provider_body(raw.as_bytes()),
        )
        .await?;
        bar.inc(1);
    }
    bar.finish();
    Ok(())
}

pub async fn run(config: Config) -> anyhow::Result<()> {
    let bind = config.bind;
    let data_dir = config.data_dir.clone();
    let app = App::build(config).await?;
    let (logins, admin_email) = seed(&app, &data_dir, DEMO_CALLS).await?;
    analyse_demo_calls(&app).await?;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding {bind}"))?;
    let url = format!("http://{}", listener.local_addr()?);
    let mut out = std::io::stdout().lock();
    writeln!(out, "\nSwitchboard demo is running at {url}")?;
    writeln!(out, "  API document: {url}/api/openapi.json")?;
    writeln!(
        out,
        "\nSign in with POST {url}/api/v1/auth/login {{\"email\": …, \"password\": …}}:"
    )?;
    writeln!(
        out,
        "  {:<44} {}  (platform admin)",
        admin_email,
        logins
            .passwords
            .get(&admin_email)
            .map_or("(set before)", String::as_str)
    )?;
    for demo in &TENANTS {
        writeln!(out, "\n  {} ({})", demo.name, demo.slug)?;
        for local in ["owner", "manager", "viewer"] {
            let email = format!("{local}@{}", demo.domain);
            writeln!(
                out,
                "  {:<44} {}",
                email,
                logins
                    .passwords
                    .get(&email)
                    .map_or("(set before)", String::as_str)
            )?;
        }
        if let Some(key) = logins.api_keys.get(demo.slug) {
            writeln!(out, "  API key (read-only): {key}")?;
        }
    }
    writeln!(
        out,
        "\nLogins are kept in {}. Stop with Ctrl-C.",
        data_dir.join("demo-logins.json").display()
    )?;
    drop(out);
    app.serve(listener, shutdown_signal()).await
}

/// Analyses every demo call before the URL is printed, so each figure on
/// the dashboards is real: calls seeded now were queued by ingestion; calls
/// of an earlier run that have no analysis yet are queued here.
pub async fn analyse_demo_calls(app: &App) -> anyhow::Result<()> {
    use crate::db::{analyses, calls, pipeline_jobs};
    for demo in &TENANTS {
        let Some(tenant) = crate::tenancy::resolve(&app.state.db, demo.slug).await? else {
            continue;
        };
        let scope = crate::auth::Operator::command_line().scope_for(tenant.id);
        let mut tx = app.state.db.tenant(&scope, Mode::Read).await?;
        let (total, analysed) = (
            calls::count(&mut tx).await?,
            analyses::count(&mut tx).await?,
        );
        let queued: i64 = pipeline_jobs::counts(&mut tx)
            .await?
            .iter()
            .filter(|(s, _)| *s == pipeline_jobs::JobStatus::Queued)
            .map(|(_, n)| n)
            .sum();
        tx.commit().await?;
        let pending = if analysed + queued < total {
            crate::pipeline::requeue_all(&app.state.db, &scope, None).await?;
            total
        } else {
            queued
        };
        if pending == 0 {
            continue;
        }
        eprintln!("analysing the calls of {}", demo.name);
        let bar = crate::pipeline::progress_bar(pending as u64);
        crate::pipeline::settle(&app.state, &scope, &bar).await?;
    }
    Ok(())
}
