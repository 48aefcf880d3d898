//! The migrations as an operator applies them: on the Flask blueprint's
//! existing tables, and twice in a row.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::*;

/// The tables as the Flask blueprint's spec sketched them, with its data:
/// null metadata, and a result stored twice by its batch insert.
const FLASK_ERA_SCHEMA: &str = "
create table classification_jobs (
    job_id uuid primary key, client_id text, status text, callback_url text,
    total_products int, completed_products int, created_at timestamptz default now(),
    completed_at timestamptz, metadata jsonb);
create table classification_results (
    id uuid primary key default gen_random_uuid(),
    job_id uuid references classification_jobs (job_id), product_id text,
    product_description text, hts_code text, confidence double precision,
    duty_rate double precision, source text, pga_flags text[],
    created_at timestamptz default now());
insert into classification_jobs (job_id, client_id, status, callback_url, total_products, completed_products)
    values ('0b7e3c1a-5d2f-4e8a-9c6b-1a2b3c4d5e6f', 'acme', 'processing', null, 3, 1);
insert into classification_results (job_id, product_id, hts_code, created_at) values
    ('0b7e3c1a-5d2f-4e8a-9c6b-1a2b3c4d5e6f', 'A', '0000.00.00', now() - interval '1 hour'),
    ('0b7e3c1a-5d2f-4e8a-9c6b-1a2b3c4d5e6f', 'A', '6109.10.00', now()),
    ('0b7e3c1a-5d2f-4e8a-9c6b-1a2b3c4d5e6f', 'B', '8211.91.50', now());
";

#[tokio::test]
async fn migrations_upgrade_the_flask_blueprint_tables_in_place() {
    let db = TestDb::unmigrated("flask");
    db.scalar(FLASK_ERA_SCHEMA);
    db.apply_migrations();
    db.apply_migrations(); // applying again changes nothing and does not fail
    let job_id = "0b7e3c1a-5d2f-4e8a-9c6b-1a2b3c4d5e6f";
    assert_eq!(
        db.scalar(&format!(
            "select string_agg(product_id || '=' || hts_code, ',' order by product_id) \
             from classification_results where job_id = '{job_id}'"
        )),
        "A=6109.10.00,B=8211.91.50",
        "the duplicate is gone and the newest copy kept"
    );

    let postgrest = Postgrest::start_with_pool(&db, 2);
    let app = TestApp::spawn_on(Arc::new(Stack { db, postgrest }), |_| {}).await;
    json_body(app.get("/readyz").await, StatusCode::OK).await;
    let mut body = webhook(job_id, "completed", 0);
    body["results"] = json!([result("A", 0), result("C", 2)]);
    body["metadata"] = json!({"total_products": 3, "completed": 3, "failed": 0});
    let receipt = json_body(app.post_webhook(&body).await, StatusCode::OK).await;
    assert_eq!(receipt["results_stored"], 2);

    let job = app.job_row(job_id);
    assert_eq!(job["status"], "completed");
    assert_eq!(job["client_id"], "acme", "kept from the blueprint's row");
    assert_eq!(
        job["metadata"], body["metadata"],
        "null metadata is replaced, not kept null"
    );
    let rows = app.result_rows(job_id);
    let ids: Vec<&str> = rows
        .iter()
        .map(|r| r["product_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["A", "B", "C"]);
    assert_eq!(
        rows[0]["hts_description"],
        result("A", 0)["hts_description"]
    );
    let polled = json_body(app.poll(job_id, Some(ACME_KEY), "").await, StatusCode::OK).await;
    assert_eq!(polled["results"].as_array().unwrap().len(), 3);
}
