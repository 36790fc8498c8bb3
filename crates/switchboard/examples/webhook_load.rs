//! Load generator for `bench/webhooks.sh`: correctly signed Retell
//! `call_ended` webhooks, each a distinct call with a five-minute transcript
//! (~800 words with word timings), sent to one agent's webhook URL.
//!
//! Closed loop (`--connections N`): as fast as N connections allow, for
//! throughput. Open loop (`--rate R`): one request every 1/R s whatever the
//! server does, latency measured from when each request was due, so a slow
//! server cannot hide its queueing (no coordinated omission).
//!
//! With `--events-token T`, it also listens to the tenant's live events
//! (`GET /api/v1/events`) and reports, per call, the time from when its
//! webhook was due to its `call.analysed` event: received → analysis
//! stored, end to end.

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
    /// A token with calls:view_all: measure webhook → analysis stored.
    #[arg(long)]
    events_token: Option<String>,
    /// Requests built and signed before the clock starts (beyond them, each
    /// is built when sent): so that the generator, on the same cores as the
    /// server, spends as little CPU as it can while measuring. Default: the
    /// open-loop rate times the duration, or 3,500/s times the duration,
    /// at most 40,000 (1.8 GB of 44 KB bodies).
    #[arg(long)]
    prepare: Option<usize>,
}

/// A request's body and its `x-retell-signature`.
type Prepared = (bytes::Bytes, String);

fn build(args: &Args, template: &str, n: u64) -> Prepared {
    let body = template.replace("__CALL_ID__", &format!("{}-{n}", args.label));
    let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    let signature = sign_retell(&args.key, body.as_bytes(), now_ms);
    (body.into(), signature)
}

struct Sample {
    latency_us: u64,
    ok: bool,
    /// The call the server answered with, and when its request was due.
    call: Option<(String, Instant)>,
}

/// `call_id` → when its `call.analysed` event arrived, until the stream ends.
async fn listen(
    client: reqwest::Client,
    url: String,
    token: String,
    seen: Arc<std::sync::Mutex<std::collections::HashMap<String, Instant>>>,
) {
    let Ok(mut res) = client.get(url).bearer_auth(token).send().await else {
        eprintln!("cannot listen to events");
        return;
    };
    let mut buf = String::new();
    while let Ok(Some(chunk)) = res.chunk().await {
        let at = Instant::now();
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            if !event.contains("event: call.analysed") {
                continue;
            }
            if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(data) {
                    if let Some(id) = v["call_id"].as_str() {
                        seen.lock().unwrap().entry(id.to_owned()).or_insert(at);
                    }
                }
            }
        }
    }
}

async fn send(
    client: &reqwest::Client,
    args: &Args,
    template: &str,
    prepared: &[Prepared],
    n: u64,
) -> Option<String> {
    let (body, signature) = match prepared.get(n as usize) {
        Some(ready) => ready.clone(),
        None => build(args, template, n),
    };
    client
        .post(&args.url)
        .header("content-type", "application/json")
        .header("x-retell-signature", signature)
        .body(body)
        .send()
        .await
        .ok()
        .filter(|r| r.status().is_success())?
        .json::<serde_json::Value>()
        .await
        .ok()
        .and_then(|v| v["call_id"].as_str().map(str::to_owned))
}

/// CPU time (user and system) this process has used so far, from Linux's
/// `/proc` (in USER_HZ ticks of 10 ms).
fn own_cpu_ms() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    // utime and stime are the 14th and 15th fields; the state is the 3rd.
    Some((ticks(11)? + ticks(12)?) * 10)
}

#[tokio::main]
async fn main() {
    let args = Arc::new(Args::parse());
    let mut call = synthetic::five_minute_call(7);
    call.external_id = "__CALL_ID__".into();
    let template = Arc::new(synthetic::to_retell_call_ended(&call).to_string());
    let count = args
        .prepare
        .unwrap_or_else(|| ((args.rate.unwrap_or(3_500) * args.duration) as usize).min(40_000));
    let prepared: Arc<Vec<Prepared>> = Arc::new(
        (0..count as u64)
            .map(|n| build(&args, &template, n))
            .collect(),
    );
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
    let analysed = Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let listener = args.events_token.clone().map(|token| {
        let events = args
            .url
            .split("/webhooks/")
            .next()
            .unwrap_or_default()
            .to_owned()
            + "/api/v1/events";
        tokio::spawn(listen(client.clone(), events, token, analysed.clone()))
    });
    // Let the listener connect before the first call can be analysed.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cpu_before = own_cpu_ms();
    let started = Instant::now();
    let until = started + Duration::from_secs(args.duration);
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    match args.rate {
        None => {
            for _ in 0..args.connections {
                let (client, args, template, prepared, counter) = (
                    client.clone(),
                    args.clone(),
                    template.clone(),
                    prepared.clone(),
                    counter.clone(),
                );
                tasks.push(tokio::spawn(async move {
                    let mut samples = Vec::new();
                    while Instant::now() < until {
                        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let t0 = Instant::now();
                        let call = send(&client, &args, &template, &prepared, n).await;
                        samples.push(Sample {
                            latency_us: t0.elapsed().as_micros() as u64,
                            ok: call.is_some(),
                            call: call.map(|c| (c, t0)),
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
                let (client, args, template, prepared) = (
                    client.clone(),
                    args.clone(),
                    template.clone(),
                    prepared.clone(),
                );
                let scheduled = due;
                tasks.push(tokio::spawn(async move {
                    let call = send(&client, &args, &template, &prepared, n).await;
                    vec![Sample {
                        latency_us: scheduled.elapsed().as_micros() as u64,
                        ok: call.is_some(),
                        call: call.map(|c| (c, scheduled)),
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
    // The generator's own share of the cores it shares with the server.
    let load_cpu_ms = own_cpu_ms()
        .zip(cpu_before)
        .map_or(0, |(after, before)| after - before);
    let failed = samples.iter().filter(|s| !s.ok).count();
    let mut latencies: Vec<u64> = samples.iter().map(|s| s.latency_us).collect();
    latencies.sort_unstable();
    fn pct(sorted: &[u64], p: f64) -> f64 {
        sorted
            .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
            .map_or(0.0, |us| *us as f64 / 1000.0)
    }
    let mut extra = String::new();
    if let Some(listener) = listener {
        // Wait for the last analyses (at most 30 s), then report them.
        let wanted: Vec<&(String, Instant)> =
            samples.iter().filter_map(|s| s.call.as_ref()).collect();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline
            && wanted
                .iter()
                .any(|(c, _)| !analysed.lock().unwrap().contains_key(c))
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        listener.abort();
        let seen = analysed.lock().unwrap();
        let mut e2e: Vec<u64> = wanted
            .iter()
            .filter_map(|(c, due)| {
                seen.get(c)
                    .map(|at| at.duration_since(*due).as_micros() as u64)
            })
            .collect();
        e2e.sort_unstable();
        extra = format!(
            " analysed={} missing={} e2e_p50_ms={:.2} e2e_p99_ms={:.2} e2e_max_ms={:.2}",
            e2e.len(),
            wanted.len() - e2e.len(),
            pct(&e2e, 0.50),
            pct(&e2e, 0.99),
            e2e.last().map_or(0.0, |us| *us as f64 / 1000.0),
        );
    }
    // One line, machine-readable, for bench/webhooks.sh and bench/analysis.sh.
    println!(
        "requests={} ok_per_sec={:.1} failed={failed} p50_ms={:.2} p99_ms={:.2} max_ms={:.2} load_cpu_ms={load_cpu_ms}{extra}",
        samples.len(),
        (samples.len() - failed) as f64 / elapsed,
        pct(&latencies, 0.50),
        pct(&latencies, 0.99),
        latencies.last().map_or(0.0, |us| *us as f64 / 1000.0),
    );
}
