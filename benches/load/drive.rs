//! The load generator: prepared requests sent at a fixed concurrency.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;

/// One prepared HTTP request.
pub struct Prepared {
    pub method: Method,
    pub url: String,
    pub headers: HeaderMap,
    pub body: Option<Vec<u8>>,
}

/// One bounded run: `requests` sent by `concurrency` workers.
#[derive(Default)]
pub struct Outcome {
    pub wall: Duration,
    pub latencies: Vec<Duration>,
    pub ok: usize,
    pub errors: usize,
}

impl Outcome {
    /// Adds another run's requests; wall times add up (runs are sequential).
    pub fn merge(&mut self, other: Outcome) {
        self.wall += other.wall;
        self.latencies.extend(other.latencies);
        self.ok += other.ok;
        self.errors += other.errors;
    }

    pub fn rps(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }
    pub fn percentile_ms(&self, p: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[index].as_secs_f64() * 1000.0
    }
}

/// Sends each prepared request once; a "request" may be several HTTP calls
/// sent one after the other (the direct reads mirror the service's two).
pub async fn drive(
    client: &reqwest::Client,
    work: Vec<Vec<Prepared>>,
    concurrency: usize,
) -> Outcome {
    let work = Arc::new(work);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, work, next) = (client.clone(), work.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut results = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(calls) = work.get(index) else { break };
                let begun = Instant::now();
                let mut ok = true;
                for call in calls {
                    let mut request = client
                        .request(call.method.clone(), &call.url)
                        .headers(call.headers.clone());
                    if let Some(body) = &call.body {
                        request = request.body(body.clone());
                    }
                    ok &= match request.send().await {
                        Ok(response) => {
                            let success = response.status().is_success();
                            success && response.bytes().await.is_ok()
                        }
                        Err(_) => false,
                    };
                }
                results.push((begun.elapsed(), ok));
            }
            results
        }));
    }
    let mut outcome = Outcome {
        wall: Duration::ZERO,
        latencies: Vec::new(),
        ok: 0,
        errors: 0,
    };
    for worker in workers {
        for (latency, ok) in worker.await.unwrap() {
            outcome.latencies.push(latency);
            if ok {
                outcome.ok += 1;
            } else {
                outcome.errors += 1;
            }
        }
    }
    outcome.wall = started.elapsed();
    outcome
}

pub fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(k, v)| {
            (
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            )
        })
        .collect()
}
