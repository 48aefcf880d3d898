//! The webhook body parser and validator: any bytes give a webhook or an
//! error naming a field, never a panic; a webhook it accepts keeps every
//! limit, and what the store would be sent for it is valid JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rosetta_webhook::domain::limits::*;
use rosetta_webhook::domain::{BodyLimits, CompletedJob};
use rosetta_webhook::store::ingest_rpc_body;

fuzz_target!(|body: &[u8]| {
    let limits = BodyLimits { max_results: 64 };
    match CompletedJob::from_json_with(body, &limits) {
        Err(error) => assert!(!error.field().is_empty(), "{error:?}"),
        Ok(job) => {
            assert!(job.results.len() <= 64);
            for result in &job.results {
                assert!(!result.product_id.trim().is_empty());
                assert!(result.product_id.len() <= MAX_PRODUCT_ID_BYTES);
                assert!(result
                    .hts_code
                    .as_ref()
                    .is_none_or(|c| c.len() <= MAX_HTS_CODE_BYTES));
                assert!(result.pga_flags.len() <= MAX_PGA_FLAGS);
                assert!(result.confidence.is_none_or(|c| (0.0..=1.0).contains(&c)));
                assert!(result.duty_rate.is_none_or(|d| d >= 0.0));
            }
            // What the store is sent is valid JSON.
            let encoded = ingest_rpc_body(&job).expect("a parsed job encodes");
            serde_json::from_str::<serde_json::Value>(&encoded).expect("valid JSON");
        }
    }
});
