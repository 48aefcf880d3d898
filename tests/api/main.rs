//! Integration tests: the real service, a real PostgREST 12 and the
//! machine's real PostgreSQL (a fresh database per test process).

mod binary;
mod callbacks;
mod cli;
mod conformance;
mod container;
mod health;
mod internal;
mod jobs;
mod logs;
mod metrics;
mod migrations;
mod openapi;
mod outage;
mod polling;
mod support;
mod webhooks;
