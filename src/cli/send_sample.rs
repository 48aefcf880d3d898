//! `send-sample`: a realistic signed completion webhook, sent to a running
//! service, with its answer printed. Exit status 0 on a 2xx answer, 1 on
//! anything else (including no answer).

use std::process::ExitCode;
use std::time::Duration;

use reqwest::Url;
use rosetta_webhook::http::WEBHOOK_PATH;
use rosetta_webhook::signature;
use serde_json::{json, Value};
use uuid::Uuid;

/// A body this size stays far below the default `MAX_BODY_BYTES`.
const MAX_RESULTS: u32 = 20_000;

#[derive(clap::Args)]
pub struct Args {
    /// The service's base URL (the webhook path is added), or the full webhook URL
    #[arg(long, value_name = "URL")]
    url: String,
    /// The shared webhook secret (one; not a comma-separated rotation list)
    #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true)]
    secret: String,
    /// How many results the webhook carries
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_RESULTS)))]
    results: u32,
    /// The job's id [default: a new random UUID]
    #[arg(long, value_name = "UUID")]
    job_id: Option<Uuid>,
    /// Sent as `client_id`, so a `client_id:key` API key can read the job
    #[arg(long, value_name = "ID")]
    client_id: Option<String>,
    /// Sent as `callback_url`: the service then POSTs the finished job there
    #[arg(long, value_name = "URL")]
    callback_url: Option<String>,
    /// The webhook's status
    #[arg(long, default_value = "completed",
          value_parser = ["completed", "partial", "failed"])]
    status: String,
}

pub async fn run(args: Args) -> ExitCode {
    let secret = match super::one_secret(&args.secret) {
        Ok(secret) => secret.to_owned(),
        Err(message) => return usage(&message),
    };
    let url = match webhook_url(&args.url) {
        Ok(url) => url,
        Err(message) => return usage(&message),
    };
    let job_id = args.job_id.unwrap_or_else(Uuid::new_v4);
    let body = sample_body(
        job_id,
        &args.status,
        args.results,
        args.client_id.as_deref(),
        args.callback_url.as_deref(),
    );
    let bytes = serde_json::to_vec(&body).expect("a JSON value serialises");
    let signature = signature::sign(secret.as_bytes(), &bytes);
    println!(
        "POST {url} (job {job_id}, {} results, {} bytes, signed)",
        args.results,
        bytes.len()
    );
    let sent = reqwest::Client::new()
        .post(url.clone())
        .timeout(Duration::from_secs(60))
        .header("content-type", "application/json")
        .header(signature::SIGNATURE_HEADER, signature)
        .body(bytes)
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(error) => {
            eprintln!(
                "rosetta-webhook send-sample: no answer from {url}: {}",
                rosetta_webhook::error_chain(&error)
            );
            return ExitCode::FAILURE;
        }
    };
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    println!("HTTP {status}");
    println!("{text}");
    if status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!("rosetta-webhook send-sample: {message}");
    ExitCode::from(super::USAGE)
}

/// `http://host:port` gets the webhook path; a URL with a path is used as is.
fn webhook_url(raw: &str) -> Result<Url, String> {
    let mut url =
        Url::parse(raw.trim()).map_err(|e| format!("--url {raw:?} is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("--url {raw:?} must be an http(s) URL with a host"));
    }
    if url.path() == "/" {
        url.set_path(WEBHOOK_PATH);
    }
    Ok(url)
}

/// Products as the engine classifies them: description, HTS code and its
/// description, duty rate, partner government agency flags, section 301
/// (goods of Chinese origin), and the origin as a key the service does not
/// know (kept in the result's `extra`).
struct Product {
    description: &'static str,
    hts_code: &'static str,
    hts_description: &'static str,
    duty_rate: f64,
    pga_flags: &'static [&'static str],
    section_301: bool,
    origin: &'static str,
}

const CATALOGUE: [Product; 8] = [
    Product {
        description: "Men's 100% cotton knit crew-neck T-shirt",
        hts_code: "6109.10.00",
        hts_description:
            "T-shirts, singlets, tank tops and similar garments, knitted or crocheted: Of cotton",
        duty_rate: 0.165,
        pga_flags: &[],
        section_301: false,
        origin: "VN",
    },
    Product {
        description: "Lithium-ion battery pack, 36 V, for electric bicycles",
        hts_code: "8507.60.00",
        hts_description: "Electric storage batteries: Lithium-ion",
        duty_rate: 0.034,
        pga_flags: &["DOT"],
        section_301: true,
        origin: "CN",
    },
    Product {
        description: "Roasted arabica coffee beans, not decaffeinated, 1 kg bag",
        hts_code: "0901.21.00",
        hts_description: "Coffee, roasted: Not decaffeinated",
        duty_rate: 0.0,
        pga_flags: &["FDA"],
        section_301: false,
        origin: "CO",
    },
    Product {
        description: "Wireless Bluetooth earbuds with charging case",
        hts_code: "8518.30.20",
        hts_description:
            "Headphones and earphones, whether or not combined with a microphone: Other",
        duty_rate: 0.049,
        pga_flags: &["FCC"],
        section_301: true,
        origin: "CN",
    },
    Product {
        description: "Frozen peeled shrimp, 1 lb bag",
        hts_code: "0306.17.00",
        hts_description: "Crustaceans, frozen: Other shrimps and prawns",
        duty_rate: 0.0,
        pga_flags: &["FDA", "NOAA"],
        section_301: false,
        origin: "TH",
    },
    Product {
        description: "Glyphosate herbicide concentrate, 1 L",
        hts_code: "3808.93.15",
        hts_description: "Herbicides, anti-sprouting products and plant-growth regulators: Other",
        duty_rate: 0.05,
        pga_flags: &["EPA"],
        section_301: true,
        origin: "CN",
    },
    Product {
        description: "Cordless 20 V drill driver with two batteries",
        hts_code: "8467.21.00",
        hts_description:
            "Tools for working in the hand, with self-contained electric motor: Drills of all kinds",
        duty_rate: 0.017,
        pga_flags: &[],
        section_301: true,
        origin: "CN",
    },
    Product {
        description: "Children's wooden jigsaw puzzle, 48 pieces",
        hts_code: "9503.00.00",
        hts_description: "Tricycles, scooters, dolls, other toys; puzzles of all kinds",
        duty_rate: 0.0,
        pga_flags: &["CPSC"],
        section_301: false,
        origin: "DE",
    },
];

fn sample_body(
    job_id: Uuid,
    status: &str,
    count: u32,
    client_id: Option<&str>,
    callback_url: Option<&str>,
) -> Value {
    let results: Vec<Value> = (0..count as usize)
        .map(|index| {
            let product = &CATALOGUE[index % CATALOGUE.len()];
            json!({
                "product_id": format!("SAMPLE-{:05}", index + 1),
                "product_description": product.description,
                "hts_code": product.hts_code,
                "hts_description": product.hts_description,
                "confidence": 0.98 - (index % 7) as f64 * 0.04,
                "duty_rate": product.duty_rate,
                "source": if index % 4 == 3 { "gemini" } else { "rosetta" },
                "section_301_applies": product.section_301,
                "pga_flags": product.pga_flags,
                "country_of_origin": product.origin,
            })
        })
        .collect();
    let mut body = json!({
        "job_id": job_id,
        "status": status,
        "results": results,
        "metadata": {
            "total_products": count,
            "completed": count,
            "failed": 0,
            "processing_time_ms": 850 * u64::from(count),
            "cost_usd": (f64::from(count) * 0.003 * 1000.0).round() / 1000.0,
        },
    });
    if let Some(client_id) = client_id {
        body["client_id"] = json!(client_id);
    }
    if let Some(callback_url) = callback_url {
        body["callback_url"] = json!(callback_url);
    }
    body
}

#[cfg(test)]
mod tests {
    use rosetta_webhook::domain::CompletedJob;

    use super::*;

    #[test]
    fn the_sample_is_a_valid_webhook_with_every_field() {
        let job_id = Uuid::new_v4();
        let body = sample_body(job_id, "completed", 9, Some("acme"), None);
        let bytes = serde_json::to_vec(&body).unwrap();
        let job = CompletedJob::from_json(&bytes).unwrap();
        assert_eq!(job.job_id, job_id);
        assert_eq!(job.client_id.as_deref(), Some("acme"));
        assert_eq!(job.results.len(), 9);
        assert_eq!(job.progress.total, Some(9));
        assert_eq!(job.results[8].product_id, "SAMPLE-00009");
        assert!(job
            .results
            .iter()
            .any(|r| r.section_301_applies == Some(true)));
        assert!(job.results.iter().any(|r| !r.pga_flags.is_empty()));
        assert_eq!(job.results[1].extra["country_of_origin"], "CN");
        assert!(job.results.iter().all(|r| {
            r.hts_code.is_some() && r.confidence.is_some_and(|c| (0.0..=1.0).contains(&c))
        }));
    }

    #[test]
    fn the_url_may_be_the_base_or_the_webhook() {
        assert_eq!(
            webhook_url("http://127.0.0.1:8080").unwrap().as_str(),
            "http://127.0.0.1:8080/api/v1/webhooks/classification-complete"
        );
        assert_eq!(
            webhook_url("https://hooks.example.com/custom/path")
                .unwrap()
                .path(),
            "/custom/path"
        );
        assert!(webhook_url("127.0.0.1:8080").is_err());
        assert!(webhook_url("ftp://example.com").is_err());
    }
}
