//! Realistic webhook bodies (shared with benches/parse.rs, which includes
//! this file).

use serde_json::{json, Value};
use uuid::Uuid;

pub fn webhook_body(job_id: Uuid, size: usize, run_tag: &str) -> Value {
    let results: Vec<Value> = (0..size)
        .map(|i| {
            json!({
                "product_id": format!("SKU-{i:06}"),
                "product_description": "Men's 100% cotton knit crew-neck T-shirt, short sleeves",
                "hts_code": "6109.10.00",
                "hts_description": "T-shirts, singlets, tank tops and similar garments, knitted or crocheted: Of cotton",
                "confidence": 0.92,
                "duty_rate": 0.167,
                "source": if i.is_multiple_of(3) { "gemini" } else { "rosetta" },
                "section_301_applies": i.is_multiple_of(2),
                "pga_flags": if i.is_multiple_of(5) { json!(["FDA"]) } else { json!([]) },
            })
        })
        .collect();
    json!({
        "job_id": job_id,
        "status": "completed",
        "client_id": "bench",
        "results": results,
        "metadata": {"total_products": size, "completed": size, "failed": 0,
                     "processing_time_ms": 12500, "cost_usd": 0.15, "bench_run": run_tag}
    })
}
