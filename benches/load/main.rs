//! Load benchmark: the release service against the ceiling of its own stack.
//!
//! Starts a fresh database, a real PostgREST 12 and the release binary, then
//! drives pre-generated, pre-signed requests at a fixed concurrency against:
//!   (a) the service's webhook endpoint,
//!   (b) the ingest function called directly on PostgREST with the same payloads,
//!   (c) the service's poll endpoint for jobs stored in (a),
//!   (d) the same reads made directly on PostgREST (job row + first results page),
//! and prints one table. Traffic goes to 127.0.0.1 only and every loop is
//! bounded by a request count.
//!
//!   cargo bench --bench load                       # all sizes, concurrency 32
//!   cargo bench --bench load -- --sizes 50 --concurrency 32 --requests 2000

#[path = "../../tests/api/support/stack.rs"]
#[allow(dead_code)]
mod stack;

mod callbacks;
mod drive;
mod payload;
mod service;

use std::time::Duration;

use reqwest::header::HeaderValue;
use reqwest::Method;
use rosetta_webhook::domain::CompletedJob;
use rosetta_webhook::signature;
use rosetta_webhook::store::{ingest_rpc_body, INGEST_RPC};
use uuid::Uuid;

use crate::drive::{drive, headers, Outcome, Prepared};
use crate::payload::webhook_body;
use crate::service::Service;
use rosetta_webhook::store::{JobRecord, ResultRecord};

const SECRET: &str = "bench-webhook-secret";
const API_KEY: &str = "bench-api-key-0123456789";

struct Options {
    sizes: Vec<usize>,
    concurrency: usize,
    requests: Option<usize>,
    /// Jobs with a callback for the delivery run (0 skips it).
    callbacks: usize,
}

impl Options {
    fn parse() -> Self {
        let mut options = Options {
            sizes: vec![1, 50, 1000, 10_000],
            concurrency: 32,
            requests: None,
            callbacks: 1000,
        };
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut i = 0;
        while i < args.len() {
            let value = args.get(i + 1).cloned().unwrap_or_default();
            match args[i].as_str() {
                "--sizes" => {
                    options.sizes = value
                        .split(',')
                        .map(|s| s.parse().expect("--sizes"))
                        .collect();
                    i += 1;
                }
                "--concurrency" => {
                    options.concurrency = value.parse().expect("--concurrency");
                    i += 1;
                }
                "--callbacks" => {
                    options.callbacks = value.parse().expect("--callbacks");
                    i += 1;
                }
                "--requests" => {
                    options.requests = Some(value.parse().expect("--requests"));
                    i += 1;
                }
                _ => {} // `cargo bench` passes --bench
            }
            i += 1;
        }
        options
    }

    /// Enough requests for stable percentiles, bounded by the bytes they carry.
    fn requests_for(&self, size: usize) -> usize {
        self.requests.unwrap_or(match size {
            0..=100 => 2000,
            101..=1000 => 200,
            _ => 24,
        })
    }
}

struct Row {
    scenario: String,
    size: usize,
    outcome: Outcome,
    peak_rss_mib: Option<f64>,
    /// Service CPU time per request, in microseconds (service rows only).
    cpu_us: Option<f64>,
    stored: Option<(usize, usize)>,
}

#[tokio::main]
async fn main() {
    let options = Options::parse();
    let db = stack::TestDb::migrated("bench");
    let postgrest = stack::Postgrest::start(&db);
    let service = Service::start(&postgrest.url());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency)
        .build()
        .unwrap();
    let jwt = stack::service_role_jwt();
    let bearer = format!("Bearer {jwt}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss_mib = service.status_kib("VmRSS:") as f64 / 1024.0;
    let run = Uuid::new_v4().simple().to_string()[..8].to_owned();
    let c = options.concurrency;
    let mut rows: Vec<Row> = Vec::new();

    for &size in &options.sizes {
        let n = options.requests_for(size);
        let tag_a = format!("{run}-a-{size}");
        let tag_b = format!("{run}-b-{size}");

        // Generation happens here, outside every measured loop.
        let mut service_jobs = Vec::with_capacity(n);
        let webhooks: Vec<Vec<Prepared>> = (0..n)
            .map(|_| {
                let job_id = Uuid::new_v4();
                service_jobs.push(job_id);
                let body = serde_json::to_vec(&webhook_body(job_id, size, &tag_a)).unwrap();
                let sig = signature::sign(SECRET.as_bytes(), &body);
                vec![Prepared {
                    method: Method::POST,
                    url: format!("{}/api/v1/webhooks/classification-complete", service.url),
                    headers: headers(&[
                        ("x-webhook-signature", &sig),
                        ("content-type", "application/json"),
                    ]),
                    body: Some(body),
                }]
            })
            .collect();
        let direct_ingests: Vec<Vec<Prepared>> = (0..n)
            .map(|_| {
                let body = serde_json::to_vec(&webhook_body(Uuid::new_v4(), size, &tag_b)).unwrap();
                let job = CompletedJob::from_json(&body).unwrap();
                vec![Prepared {
                    method: Method::POST,
                    url: format!("{}/rpc/{INGEST_RPC}", postgrest.url()),
                    headers: headers(&[
                        ("authorization", &bearer),
                        ("content-type", "application/json"),
                    ]),
                    body: Some(ingest_rpc_body(&job).unwrap().into_bytes()),
                }]
            })
            .collect();

        let (service_run, ceiling_run, peak, cpu_us) =
            interleaved(&client, &service, webhooks, direct_ingests, c).await;
        let stored = (fully_stored(&db, &tag_a, size), service_run.ok);
        rows.push(Row {
            scenario: "(a) service webhook".into(),
            size,
            outcome: service_run,
            peak_rss_mib: Some(peak),
            cpu_us: Some(cpu_us),
            stored: Some(stored),
        });
        let stored = (fully_stored(&db, &tag_b, size), ceiling_run.ok);
        rows.push(Row {
            scenario: "(b) PostgREST rpc (ceiling)".into(),
            size,
            outcome: ceiling_run,
            peak_rss_mib: None,
            cpu_us: None,
            stored: Some(stored),
        });

        let page = size.min(1000) + 1;
        let polls: Vec<Vec<Prepared>> = (0..n)
            .map(|i| {
                let job_id = service_jobs[i % service_jobs.len()];
                vec![Prepared {
                    method: Method::GET,
                    url: format!("{}/api/v1/jobs/{job_id}", service.url),
                    headers: headers(&[("x-api-key", API_KEY)]),
                    body: None,
                }]
            })
            .collect();
        let direct_reads: Vec<Vec<Prepared>> = (0..n)
            .map(|i| {
                let job_id = service_jobs[i % service_jobs.len()];
                let auth = headers(&[("authorization", &bearer)]);
                let mut page_headers = auth.clone();
                page_headers.insert("range", HeaderValue::from_str(&format!("0-{}", page - 1)).unwrap());
                vec![
                    Prepared {
                        method: Method::GET,
                        // Exactly the two calls the service makes for a poll.
                        url: format!(
                            "{}/classification_jobs?select={}&job_id=eq.{job_id}&client_id=eq.bench\
                             &callback_deliveries.order=created_at.desc.nullslast&callback_deliveries.limit=1",
                            postgrest.url(),
                            JobRecord::COLUMNS
                        ),
                        headers: auth,
                        body: None,
                    },
                    Prepared {
                        method: Method::GET,
                        url: format!(
                            "{}/classification_results?select={}&job_id=eq.{job_id}&order=product_id.asc",
                            postgrest.url(),
                            ResultRecord::COLUMNS
                        ),
                        headers: page_headers,
                        body: None,
                    },
                ]
            })
            .collect();
        let (service_run, ceiling_run, peak, cpu_us) =
            interleaved(&client, &service, polls, direct_reads, c).await;
        rows.push(Row {
            scenario: "(c) service poll".into(),
            size,
            outcome: service_run,
            peak_rss_mib: Some(peak),
            cpu_us: Some(cpu_us),
            stored: None,
        });
        rows.push(Row {
            scenario: "(d) PostgREST reads (ceiling)".into(),
            size,
            outcome: ceiling_run,
            peak_rss_mib: None,
            cpu_us: None,
            stored: None,
        });
    }

    print_table(&rows, c, idle_rss_mib);

    if options.callbacks > 0 {
        let run = callbacks::run(&client, &service.url, options.callbacks, c).await;
        println!();
        println!("| callbacks | delivered | POSTs received | distinct webhook-ids | deliveries/s | ack→callback p50 ms | p99 ms |");
        println!("|---:|---:|---:|---:|---:|---:|---:|");
        println!(
            "| {} | {} | {} | {} | {:.1} | {:.1} | {:.1} |",
            run.jobs,
            run.received,
            run.arrivals,
            run.distinct_webhook_ids,
            run.per_second(),
            run.percentile_ms(0.5),
            run.percentile_ms(0.99)
        );
    }
}

/// Runs the service's and the ceiling's requests in alternating rounds
/// (a b, b a, a b, b a), so drift on a shared machine (table growth, other
/// work) falls on both alike. Returns both outcomes and the service's peak
/// RSS over the rounds.
async fn interleaved(
    client: &reqwest::Client,
    service: &Service,
    service_work: Vec<Vec<Prepared>>,
    ceiling_work: Vec<Vec<Prepared>>,
    concurrency: usize,
) -> (Outcome, Outcome, f64, f64) {
    const ROUNDS: usize = 4;
    let chunks = |work: Vec<Vec<Prepared>>| {
        let size = work.len().div_ceil(ROUNDS).max(1);
        let mut chunks: Vec<Vec<Vec<Prepared>>> = Vec::new();
        let mut work = work.into_iter().peekable();
        while work.peek().is_some() {
            chunks.push(work.by_ref().take(size).collect());
        }
        chunks
    };
    let (mut service_chunks, mut ceiling_chunks) = (chunks(service_work), chunks(ceiling_work));
    let (mut service_run, mut ceiling_run) = (Outcome::default(), Outcome::default());
    service.reset_peak();
    let cpu_before = service.cpu_time();
    for round in 0..ROUNDS {
        let (s, c) = (
            service_chunks.get_mut(round).map(std::mem::take),
            ceiling_chunks.get_mut(round).map(std::mem::take),
        );
        if round % 2 == 0 {
            service_run.merge(drive(client, s.unwrap_or_default(), concurrency).await);
            ceiling_run.merge(drive(client, c.unwrap_or_default(), concurrency).await);
        } else {
            ceiling_run.merge(drive(client, c.unwrap_or_default(), concurrency).await);
            service_run.merge(drive(client, s.unwrap_or_default(), concurrency).await);
        }
    }
    let peak = service.status_kib("VmHWM:") as f64 / 1024.0;
    let cpu_us = (service.cpu_time() - cpu_before).as_secs_f64() * 1e6
        / service_run.latencies.len().max(1) as f64;
    (service_run, ceiling_run, peak, cpu_us)
}

fn print_table(rows: &[Row], concurrency: usize, idle_rss_mib: f64) {
    println!();
    println!(
        "concurrency {concurrency}; service idle RSS {idle_rss_mib:.1} MiB; {} CPUs",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    println!("| scenario | results/webhook | requests | req/s | p50 ms | p99 ms | errors | peak RSS MiB | service CPU µs/req | stored/acked |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let o = &row.outcome;
        println!(
            "| {} | {} | {} | {:.1} | {:.2} | {:.2} | {} | {} | {} | {} |",
            row.scenario,
            row.size,
            o.latencies.len(),
            o.rps(),
            o.percentile_ms(0.5),
            o.percentile_ms(0.99),
            o.errors,
            row.peak_rss_mib
                .map(|m| format!("{m:.1}"))
                .unwrap_or_else(|| "-".into()),
            row.cpu_us
                .map(|c| format!("{c:.0}"))
                .unwrap_or_else(|| "-".into()),
            row.stored
                .map(|(s, a)| format!("{s}/{a}"))
                .unwrap_or_else(|| "-".into()),
        );
    }
    println!();
    println!(
        "| ratio | results/webhook | throughput service/ceiling | p99 service - ceiling (ms) |"
    );
    println!("|---|---:|---:|---:|");
    for pair in rows.chunks(2) {
        if let [service, ceiling] = pair {
            let kind = if service.scenario.contains("webhook") {
                "ingest"
            } else {
                "poll"
            };
            println!(
                "| {kind} | {} | {:.2} | {:+.2} |",
                service.size,
                service.outcome.rps() / ceiling.outcome.rps(),
                service.outcome.percentile_ms(0.99) - ceiling.outcome.percentile_ms(0.99),
            );
        }
    }
    let acked_equals_stored = rows
        .iter()
        .filter_map(|r| r.stored)
        .all(|(stored, acked)| stored == acked);
    println!();
    println!("acknowledged == stored in every run: {acked_equals_stored}");
}

/// Jobs tagged `run_tag` whose every result is stored.
fn fully_stored(db: &stack::TestDb, run_tag: &str, size: usize) -> usize {
    db.scalar(&format!(
        "select count(*) from classification_jobs j where metadata->>'bench_run' = '{run_tag}' \
         and (select count(*) from classification_results r where r.job_id = j.job_id) = {size}"
    ))
    .parse()
    .unwrap()
}
