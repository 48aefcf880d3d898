//! Integration tests: the real service, a real PostgREST 12 and the
//! machine's real PostgreSQL (a fresh database per test process).

mod api_keys;
mod binary;
mod callbacks;
mod cli;
mod conformance;
mod container;
mod health;
mod hostile;
mod internal;
mod jobs;
mod limits;
mod logs;
mod metrics;
mod migrations;
mod openapi;
mod outage;
mod polling;
mod standard_webhooks;
mod support;
mod webhooks;
