use clap::Parser as _;
use switchboard::cli::{self, Cli, Command};
use switchboard::config::LogFormat;
use tracing_subscriber::EnvFilter;

// glibc's allocator showed up at ~10% of a loaded server's CPU (lock
// contention and consolidation across tokio workers); mimalloc's per-thread
// heaps do not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn init_logging(format: LogFormat, filter: &str) {
    let filter =
        EnvFilter::try_from_env("SWITCHBOARD_LOG").unwrap_or_else(|_| EnvFilter::new(filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        LogFormat::Pretty => builder.init(),
    }
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let (format, filter) = match cli.load_config() {
        Ok(c) => (c.log.format, c.log.filter),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    };
    // One-shot commands talk to a person: plain, quiet logs.
    let (format, filter) = match cli.command {
        Command::Serve(_) | Command::Demo(_) => (format, filter),
        _ => (LogFormat::Pretty, "warn".to_owned()),
    };
    init_logging(format, &filter);
    match cli::run(cli).await {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}
