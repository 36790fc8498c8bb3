//! Local analysis of one five-minute, two-speaker call (~800 words, ~60
//! turns, word timings), with the generic starter rubric: the issue's
//! target is at least 2,000 calls per second on one core. Each analyser is
//! measured on its own too, to show where the time goes.
//!
//! `cargo bench -p switchboard-analysis --bench analyse`

// The allocator of the `switchboard` binary, so the figures are the server's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use switchboard_analysis::ai_config::AiConfig;
use switchboard_analysis::{entities, pii, qa, sentiment, summary, talk};

const RUBRIC: &str = include_str!("../../switchboard/src/pipeline/starter/generic.json");

fn bench(c: &mut Criterion) {
    let call = switchboard_ingest::synthetic::five_minute_call(7);
    let turns = call.turns.clone();
    let duration = Some((call.ended_at_ms - call.started_at_ms) as f64 / 1000.0);
    let ai = AiConfig::default();
    let rubric = qa::parse_config(RUBRIC.as_bytes()).expect("the starter rubric parses");
    let mut g = c.benchmark_group("five_minute_call");
    g.throughput(Throughput::Elements(1));
    g.bench_function("analyse (everything)", |b| {
        b.iter(|| switchboard_analysis::analyse(&turns, duration, &ai, Some(&rubric)))
    });
    g.bench_function("pii::redact_turns", |b| {
        b.iter(|| pii::redact_turns(&turns, &ai.pii.kinds))
    });
    g.bench_function("sentiment::call_sentiment", |b| {
        b.iter(|| sentiment::call_sentiment(&turns))
    });
    g.bench_function("talk::talk_metrics", |b| {
        b.iter(|| talk::talk_metrics(&turns, duration, talk::DEFAULT_MIN_GAP_S))
    });
    g.bench_function("entities::entities", |b| {
        b.iter(|| entities::entities(&turns, &ai.entities))
    });
    g.bench_function("entities::key_phrases", |b| {
        b.iter(|| entities::key_phrases(&turns))
    });
    g.bench_function("qa::evaluate", |b| {
        b.iter(|| qa::evaluate(&rubric, &turns, duration))
    });
    g.bench_function("summary::extractive", |b| {
        b.iter(|| summary::extractive(&turns, 3))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
