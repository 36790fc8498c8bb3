//! Load generator for `bench/webhooks.sh`: correctly signed Retell
//! `call_ended` webhooks, each a distinct call with a five-minute transcript
//! (~800 words with word timings), sent to one agent's webhook URL.
//!
//! Closed loop (`--connections N`): as fast as N connections allow, for
//! throughput. Open loop (`--rate R`): one request every 1/R s whatever the
//! server does, latency measured from when each request was due, so a slow
//! server cannot hide its queueing (no coordinated omission).

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use switchboard_ingest::signature::sign_retell;
use switchboard_ingest::synthetic;

#[derive(Parser)]
struct Args {
    /// The agent's webhook URL.
    #[arg(long)]
    url: String,
    /// The tenant's Retell API key (the signing key).
    #[arg(long)]
    key: String,
    /// Seconds to run.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Concurrent connections (closed loop).
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Requests per second (open loop); closed loop when left out.
    #[arg(long)]
    rate: Option<u64>,
    /// Distinguishes the call ids of separate runs against one server.
    #[arg(long, default_value = "run")]
    label: String,
}

struct Sample {
    latency_us: u64,
    ok: bool,
}

async fn send(client: &reqwest::Client, args: &Args, template: &str, n: u64) -> bool {
    let body = template.replace("__CALL_ID__", &format!("{}-{n}", args.label));
    let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    let signature = sign_retell(&args.key, body.as_bytes(), now_ms);
    client
        .post(&args.url)
        .header("content-type", "application/json")
        .header("x-retell-signature", signature)
        .body(body)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

#[tokio::main]
async fn main() {
    let args = Arc::new(Args::parse());
    let mut call = synthetic::five_minute_call(7);
    call.external_id = "__CALL_ID__".into();
    let template = Arc::new(synthetic::to_retell_call_ended(&call).to_string());
    let words: usize = call.turns.iter().map(|t| t.words.len()).sum();
    eprintln!(
        "payload: {} bytes, {} turns, {words} words",
        template.len(),
        call.turns.len()
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()
        .expect("client");
    let started = Instant::now();
    let until = started + Duration::from_secs(args.duration);
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    match args.rate {
        None => {
            for _ in 0..args.connections {
                let (client, args, template, counter) = (
                    client.clone(),
                    args.clone(),
                    template.clone(),
                    counter.clone(),
                );
                tasks.push(tokio::spawn(async move {
                    let mut samples = Vec::new();
                    while Instant::now() < until {
                        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let t0 = Instant::now();
                        let ok = send(&client, &args, &template, n).await;
                        samples.push(Sample {
                            latency_us: t0.elapsed().as_micros() as u64,
                            ok,
                        });
                    }
                    samples
                }));
            }
        }
        Some(rate) => {
            let interval = Duration::from_secs_f64(1.0 / rate as f64);
            let mut due = started;
            let mut n = 0;
            while due < until {
                tokio::time::sleep_until(due.into()).await;
                let (client, args, template) = (client.clone(), args.clone(), template.clone());
                let scheduled = due;
                tasks.push(tokio::spawn(async move {
                    let ok = send(&client, &args, &template, n).await;
                    vec![Sample {
                        latency_us: scheduled.elapsed().as_micros() as u64,
                        ok,
                    }]
                }));
                n += 1;
                due += interval;
            }
        }
    }
    let mut samples = Vec::new();
    for t in tasks {
        samples.extend(t.await.expect("task"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let failed = samples.iter().filter(|s| !s.ok).count();
    let mut latencies: Vec<u64> = samples.iter().map(|s| s.latency_us).collect();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |us| *us as f64 / 1000.0)
    };
    // One line, machine-readable, for bench/webhooks.sh.
    println!(
        "requests={} ok_per_sec={:.1} failed={failed} p50_ms={:.2} p99_ms={:.2} max_ms={:.2}",
        samples.len(),
        (samples.len() - failed) as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        latencies.last().map_or(0.0, |us| *us as f64 / 1000.0),
    );
}
