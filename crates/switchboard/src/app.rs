//! Assembling the application from configuration, and serving it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::auth::keys::PlatformKeys;
use crate::auth::service::AuthService;
use crate::config::Config;
use crate::db::Db;
use crate::http::ratelimit::{LocalLimiter, RateLimiter, RedisLimiter};
use crate::http::{self, AppState};
use crate::objects::Objects;
use crate::secrets;

/// The metrics recorder is process-global; tests start many apps in one process.
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (e.g. by an embedding
            // program); ours then still renders, just without global macros.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

pub struct App {
    pub state: AppState,
}

impl App {
    /// Opens storage (migrating it), loads keys and wires the services.
    pub async fn build(config: Config) -> anyhow::Result<App> {
        let db = Db::open(
            config.database_url.as_ref().map(|s| s.expose()),
            &config.data_dir,
            &config.database,
        )
        .await?;
        let keyring = secrets::load_keyring(&config).context("loading the master key")?;
        let keys = Arc::new(PlatformKeys::load_or_create(&db, &keyring).await?);
        let limiter = match &config.redis_url {
            Some(url) => RateLimiter::Redis(Box::new(
                RedisLimiter::connect(url.expose())
                    .await
                    .context("connecting to Redis")?,
            )),
            None => RateLimiter::Local(LocalLimiter::default()),
        };
        let objects = Objects::open(&config, &keys.object_url_signing)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.providers.timeout_secs))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .context("building the HTTP client")?;
        let tenant_http = crate::outbound::TenantHttp::new(
            Duration::from_secs(config.providers.timeout_secs),
            config.providers.allow_private_addresses,
        )
        .context("building the HTTP client")?;
        let batching = crate::ingest::Batching {
            writers: match db.backend() {
                crate::db::Backend::Sqlite => std::num::NonZeroUsize::MIN,
                crate::db::Backend::Postgres => config.database.ingest_writers,
            },
            linger: Duration::from_micros(config.database.ingest_linger_us),
        };
        let pipeline = crate::pipeline::Hints::default();
        let events = crate::events::Events::default();
        let registration = crate::db::writers::Registration::register(&db)
            .await
            .context("registering this process as a writer of the database")?;
        let ingestor = crate::ingest::Ingestor::start(
            db.clone(),
            objects.clone(),
            pipeline.clone(),
            events.clone(),
            batching,
            registration,
        );
        let auth = Arc::new(AuthService::new(db.clone(), keys, config.auth.clone()));
        let state = AppState {
            db,
            auth,
            config: Arc::new(config),
            keyring: Arc::new(keyring),
            objects,
            ingestor,
            pipeline,
            events,
            http,
            tenant_http,
            limiter: Arc::new(limiter),
            metrics: metrics_handle(),
        };
        Ok(App { state })
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish
    /// for up to the configured grace period.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let grace = Duration::from_secs(self.state.config.http.shutdown_grace_secs);
        let limiter = self.state.limiter.clone();
        let sweeper = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                if let RateLimiter::Local(l) = limiter.as_ref() {
                    l.forget_idle();
                }
            }
        });
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (begun_tx, begun_rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            shutdown.await;
            let _ = begun_tx.send(());
            let _ = stop_tx.send(());
        });
        tokio::spawn(crate::recordings::resume_pending(self.state.clone()));
        tokio::spawn(crate::recordings::retry_failed(self.state.clone()));
        let pull = tokio::spawn(crate::pull::scheduler(self.state.clone()));
        let workers = self
            .state
            .config
            .pipeline
            .workers
            .then(|| tokio::spawn(crate::pipeline::run_workers(self.state.clone())));
        let db = self.state.db.clone();
        let app = http::router(self.state).into_make_service_with_connect_info::<SocketAddr>();
        let server = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = stop_rx.await;
        });
        let server = tokio::spawn(async move { server.await });
        let result = tokio::select! {
            r = server => r.context("server task")?.context("serving"),
            _ = async {
                let _ = begun_rx.await;
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!(grace_secs = grace.as_secs(), "in-flight requests did not finish in time; stopping");
                Ok(())
            }
        };
        sweeper.abort();
        pull.abort();
        if let Some(w) = workers {
            w.abort();
        }
        db.close().await;
        result
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing in-flight requests");
}
