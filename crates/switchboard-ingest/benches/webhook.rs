//! The pure work of one signed Retell `call_ended` webhook carrying a
//! five-minute call (44 KB: 61 turns, 723 words with timings), step by
//! step, so the server's CPU per webhook (BENCHMARKS.md) can be split into
//! what the request handler does and what the storage does.
//!
//! `cargo bench -p switchboard-ingest --bench webhook`

// The allocator of the `switchboard` binary, so the figures are the server's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sha2::{Digest as _, Sha256};
use switchboard_ingest::providers::retell;
use switchboard_ingest::signature::{sign_retell, verify_retell};
use switchboard_ingest::synthetic;

fn bench(c: &mut Criterion) {
    let body = synthetic::to_retell_call_ended(&synthetic::five_minute_call(7)).to_string();
    let body = body.as_bytes();
    let now = 1_790_000_000_000;
    let key = "bench-retell-signing-key-0001";
    let signature = sign_retell(key, body, now);
    let update = retell::parse(body).unwrap().unwrap();
    let mut g = c.benchmark_group("retell_call_ended_44kb");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("verify signature", |b| {
        b.iter(|| verify_retell(key, body, Some(&signature), now).unwrap())
    });
    g.bench_function("event key (SHA-256, before decision 0021)", |b| {
        b.iter(|| Sha256::digest(body))
    });
    g.bench_function("event key (BLAKE3)", |b| b.iter(|| blake3::hash(body)));
    g.bench_function("parse", |b| b.iter(|| retell::parse(body).unwrap()));
    g.bench_function("update to JSON", |b| {
        b.iter(|| serde_json::to_string(&update).unwrap())
    });
    g.bench_function("update to stored JSON", |b| {
        b.iter(|| switchboard_ingest::model::to_stored_json(&update))
    });
    g.bench_function("update packed", |b| {
        b.iter(|| switchboard_ingest::packed::Packed::of(&update))
    });
    g.bench_function("update unpacked", |b| {
        let packed = switchboard_ingest::packed::Packed::of(&update);
        b.iter(|| {
            switchboard_ingest::packed::unpack::<switchboard_ingest::CallUpdate>(packed.as_str())
                .unwrap()
        })
    });
    g.bench_function("update from JSON", |b| {
        let json = serde_json::to_string(&update).unwrap();
        b.iter(|| serde_json::from_str::<switchboard_ingest::CallUpdate>(&json).unwrap())
    });
    g.bench_function("update from stored JSON", |b| {
        let json = switchboard_ingest::model::to_stored_json(&update);
        b.iter(|| serde_json::from_str::<switchboard_ingest::CallUpdate>(&json).unwrap())
    });
    g.bench_function("search text", |b| {
        let turns = update.fields.turns_here().unwrap();
        b.iter(|| switchboard_ingest::model::search_text(turns))
    });
    g.bench_function("UTF-8 check", |b| {
        b.iter(|| std::str::from_utf8(body).unwrap().len())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
