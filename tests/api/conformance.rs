//! The store conformance suite: every behaviour of the `JobStore` trait is
//! one async function over a [`Backend`], and the macro below makes one
//! `#[tokio::test]` per backend of it, `conformance::sqlite::<name>` and
//! `conformance::postgrest::<name>` (the real PostgREST 12 + PostgreSQL).
//! Neither backend can drift from the other without a test failing.
//!
//! The HTTP tests (`webhooks.rs`, `jobs.rs`, `callbacks.rs`) keep their own
//! assertions on the same rules: they test the HTTP layer on top.

mod backend;
mod ingest;
mod keys;
mod outbox;
mod reads;

use std::sync::Arc;

use rosetta_webhook::domain::CompletedJob;
use rosetta_webhook::store::{IngestReceipt, JobStore};
use serde_json::Value;
use uuid::Uuid;

pub use self::backend::{Backend, Isolation};

/// `Shared` tests may use the process-wide PostgREST stack; `Isolated` ones
/// get a database and PostgREST of their own (see [`Isolation`]).
macro_rules! conformance {
    ($($isolation:ident => [$($module:ident :: $test:ident),* $(,)?]),* $(,)?) => {
        mod sqlite {
            $($(
                #[tokio::test]
                async fn $test() {
                    super::$module::$test(super::Backend::sqlite(stringify!($test))).await;
                }
            )*)*
        }
        mod postgrest {
            $($(
                #[tokio::test]
                async fn $test() {
                    let backend = super::Backend::postgrest(
                        super::Isolation::$isolation,
                        stringify!($test),
                    );
                    super::$module::$test(backend).await;
                }
            )*)*
        }
    };
}

conformance! {
    Shared => [
        ingest::the_same_webhook_twice_leaves_the_state_of_one,
        ingest::a_later_webhook_adds_results_and_its_newer_values_win,
        ingest::a_stale_webhook_never_downgrades_and_never_overwrites,
        ingest::counters_never_go_backwards,
        ingest::completed_at_is_set_once,
        reads::reads_are_scoped_to_the_client,
        reads::pages_return_every_result_exactly_once_in_byte_order,
        reads::the_schema_is_complete,
        keys::a_message_id_is_applied_once,
        keys::stored_keys_are_found_until_revoked,
    ],
    Isolated => [
        ingest::ingest_stores_every_field,
        ingest::a_pre_existing_job_row_keeps_what_the_webhook_lacks,
        outbox::a_delivery_is_recorded_once_per_distinct_webhook_with_a_callback_url,
        outbox::concurrent_claimers_each_get_a_delivery_exactly_once,
        outbox::a_lease_blocks_other_claims_until_it_expires,
        outbox::only_the_lease_owner_records_an_attempt,
        outbox::released_deliveries_are_claimable_at_once,
        outbox::a_retry_is_not_claimed_before_its_time,
        outbox::final_states_are_never_claimed,
        outbox::a_gone_receiver_stops_every_callback_of_its_job,
        outbox::outbox_stats_count_what_is_unfinished_and_due,
    ],
}

/// The webhook body as the service hands it to the store.
fn parsed(body: &Value) -> CompletedJob {
    CompletedJob::from_json(&serde_json::to_vec(body).unwrap()).unwrap()
}

async fn ingest(store: &Arc<dyn JobStore>, body: &Value) -> IngestReceipt {
    store.ingest(&parsed(body)).await.unwrap()
}

fn uuid(text: &str) -> Uuid {
    Uuid::parse_str(text).unwrap()
}

/// The row without the columns named (ids and timestamps the store fills).
fn without(mut row: Value, keys: &[&str]) -> Value {
    let object = row.as_object_mut().expect("a row");
    for key in keys {
        object.remove(*key);
    }
    row
}

/// RFC 3339 as PostgREST writes `timestamptz`: `YYYY-MM-DDTHH:MM:SS`, an
/// optional fraction, and `Z` or a `±HH:MM` offset.
fn is_rfc3339(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|b| b.iter().all(u8::is_ascii_digit))
    };
    let date_time = bytes.len() >= 19
        && digits(0..4)
        && bytes[4] == b'-'
        && digits(5..7)
        && bytes[7] == b'-'
        && digits(8..10)
        && bytes[10] == b'T'
        && digits(11..13)
        && bytes[13] == b':'
        && digits(14..16)
        && bytes[16] == b':'
        && digits(17..19);
    if !date_time {
        return false;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let length = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if length == 0 {
            return false;
        }
        rest = &fraction[length..];
    }
    rest == "Z"
        || (rest.len() == 6
            && matches!(rest.as_bytes()[0], b'+' | b'-')
            && rest.as_bytes()[3] == b':'
            && rest[1..3].bytes().all(|b| b.is_ascii_digit())
            && rest[4..6].bytes().all(|b| b.is_ascii_digit()))
}

#[test]
fn the_rfc3339_check_refuses_what_is_not() {
    assert!(is_rfc3339("2026-12-03T16:48:45.199947+00:00"));
    assert!(is_rfc3339("2026-12-03T16:48:45+00:00"));
    assert!(is_rfc3339("2026-12-03T16:48:45.1Z"));
    for bad in [
        "2026-12-03 16:48:45+00",
        "2026-12-03T16:48:45",
        "2026-12-03T16:48:45.+00:00",
        "1796316525",
    ] {
        assert!(!is_rfc3339(bad), "{bad}");
    }
}
