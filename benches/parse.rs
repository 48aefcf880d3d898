//! Micro-benchmarks of the per-webhook CPU work the service adds on top of
//! the store: signature verification over the raw body, then parsing and
//! validating it (and, for comparison, reading the JSON alone with the
//! strict reader and with plain serde_json), at 50 and 10,000 results.
//!
//!   cargo bench --bench parse

#[path = "load/payload.rs"]
mod payload;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rosetta_webhook::config::WebhookSecrets;
use rosetta_webhook::domain::{json, CompletedJob};
use rosetta_webhook::signature;
use rosetta_webhook::store::ingest_rpc_body;
use serde_json::Value;

/// A 50- or 10,000-result webhook as the load benchmark sends it.
fn body(results: usize) -> Vec<u8> {
    let job_id = uuid::Uuid::parse_str("3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b").unwrap();
    serde_json::to_vec(&payload::webhook_body(job_id, results, "parse")).unwrap()
}

fn per_webhook(c: &mut Criterion) {
    let secrets =
        WebhookSecrets::new(vec!["retiring-secret".into(), "current-secret".into()]).unwrap();
    for results in [50, 10_000] {
        let bytes = body(results);
        let header = signature::sign(b"current-secret", &bytes);
        let mut group = c.benchmark_group(format!("{results} results"));
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("verify signature", bytes.len()),
            &bytes,
            |b, bytes| {
                b.iter(|| {
                    signature::verify(Some(header.as_bytes()), black_box(bytes), &secrets).unwrap()
                })
            },
        );
        // What refusing duplicate keys and deep nesting costs over the
        // plain serde_json reader the parser used before.
        group.bench_with_input(
            BenchmarkId::new("JSON only, serde_json Value", bytes.len()),
            &bytes,
            |b, bytes| b.iter(|| serde_json::from_slice::<Value>(black_box(bytes)).unwrap()),
        );
        group.bench_with_input(
            BenchmarkId::new("JSON only, strict reader", bytes.len()),
            &bytes,
            |b, bytes| b.iter(|| json::parse(black_box(bytes)).unwrap()),
        );
        group.bench_with_input(
            BenchmarkId::new("parse + validate", bytes.len()),
            &bytes,
            |b, bytes| b.iter(|| CompletedJob::from_json(black_box(bytes)).unwrap()),
        );
        let job = CompletedJob::from_json(&bytes).unwrap();
        group.bench_with_input(
            BenchmarkId::new("encode store payload", bytes.len()),
            &job,
            |b, job| b.iter(|| ingest_rpc_body(black_box(job)).unwrap()),
        );
        group.finish();
    }
}

criterion_group! {
    name = benches;
    // Short runs: this is a 2-core machine shared with other work.
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = per_webhook
}
criterion_main!(benches);
