//! Callback delivery throughput: webhooks whose jobs carry a callback URL,
//! sent to the service, delivered to a receiver in this process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Router;
use rosetta_webhook::signature;
use serde_json::json;
use uuid::Uuid;

use crate::payload::webhook_body;
use crate::SECRET;

/// First arrival per job, and every arrival counted (duplicates show as
/// more arrivals than jobs).
#[derive(Clone, Default)]
struct Arrivals {
    first: Arc<Mutex<HashMap<Uuid, (Instant, String)>>>,
    total: Arc<AtomicUsize>,
}

pub struct CallbackRun {
    pub jobs: usize,
    /// From the first webhook sent to the last callback received.
    pub wall: Duration,
    /// Per job: from the engine's 200 to the callback's arrival.
    pub ack_to_callback: Vec<Duration>,
    /// Jobs whose callback arrived.
    pub received: usize,
    /// Every POST the receiver got, duplicates included.
    pub arrivals: usize,
    pub distinct_webhook_ids: usize,
}

impl CallbackRun {
    pub fn per_second(&self) -> f64 {
        self.received as f64 / self.wall.as_secs_f64()
    }

    pub fn percentile_ms(&self, p: f64) -> f64 {
        let mut sorted = self.ack_to_callback.clone();
        sorted.sort();
        let index = ((sorted.len().max(1) as f64 - 1.0) * p).round() as usize;
        sorted
            .get(index)
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    }
}

async fn arrive(State(arrivals): State<Arrivals>, headers: HeaderMap, body: Bytes) -> &'static str {
    let at = Instant::now();
    let job: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if let Some(job_id) = job["job_id"].as_str().and_then(|j| j.parse().ok()) {
        let id = headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        arrivals
            .first
            .lock()
            .unwrap()
            .entry(job_id)
            .or_insert((at, id));
    }
    arrivals.total.fetch_add(1, Ordering::Relaxed);
    "ok"
}

/// Sends `jobs` webhooks at `concurrency`, each with one result and a
/// callback to a local receiver, and waits (at most 120 s) for every callback.
pub async fn run(
    client: &reqwest::Client,
    service_url: &str,
    jobs: usize,
    concurrency: usize,
) -> CallbackRun {
    let arrivals = Arrivals::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let callback_url = format!("http://{}/callbacks", listener.local_addr().unwrap());
    let receiver = Router::new().fallback(arrive).with_state(arrivals.clone());
    let server = tokio::spawn(async move { axum::serve(listener, receiver).await });

    let prepared: Arc<Vec<(Uuid, Vec<u8>, String)>> = Arc::new(
        (0..jobs)
            .map(|_| {
                let job_id = Uuid::new_v4();
                let mut body = webhook_body(job_id, 1, "callbacks");
                body["callback_url"] = json!(callback_url);
                let bytes = serde_json::to_vec(&body).unwrap();
                let sig = signature::sign(SECRET.as_bytes(), &bytes);
                (job_id, bytes, sig)
            })
            .collect(),
    );
    let acks: Arc<Mutex<HashMap<Uuid, Instant>>> = Arc::default();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut senders = Vec::new();
    for _ in 0..concurrency {
        let (client, prepared, acks, next) =
            (client.clone(), prepared.clone(), acks.clone(), next.clone());
        let url = format!("{service_url}/api/v1/webhooks/classification-complete");
        senders.push(tokio::spawn(async move {
            while let Some((job_id, body, sig)) = prepared.get(next.fetch_add(1, Ordering::Relaxed))
            {
                let response = client
                    .post(&url)
                    .header("x-webhook-signature", sig)
                    .body(body.clone())
                    .send()
                    .await;
                if response.map(|r| r.status().is_success()).unwrap_or(false) {
                    acks.lock().unwrap().insert(*job_id, Instant::now());
                }
            }
        }));
    }
    for sender in senders {
        sender.await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while arrivals.first.lock().unwrap().len() < jobs && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let total_arrivals = arrivals.total.load(Ordering::Relaxed);
    let arrivals = arrivals.first.lock().unwrap().clone();
    let acks = acks.lock().unwrap().clone();
    server.abort();
    let last = arrivals
        .values()
        .map(|(at, _)| *at)
        .max()
        .unwrap_or(started);
    CallbackRun {
        jobs,
        wall: last - started,
        ack_to_callback: arrivals
            .iter()
            .filter_map(|(job, (at, _))| {
                acks.get(job)
                    .map(|acked| at.saturating_duration_since(*acked))
            })
            .collect(),
        received: arrivals.len(),
        arrivals: total_arrivals,
        distinct_webhook_ids: arrivals
            .values()
            .map(|(_, id)| id.clone())
            .collect::<std::collections::HashSet<_>>()
            .len(),
    }
}
