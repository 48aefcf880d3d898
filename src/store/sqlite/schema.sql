-- rosetta-webhook on embedded SQLite: the tables and columns of migrations/
-- (PostgreSQL), in SQLite's types. Run on every open, in one transaction;
-- every statement is idempotent.
--
--   uuid         text, lowercase and hyphenated (36 characters)
--   timestamptz  text, RFC 3339 in UTC with six fractional digits
--                (2026-12-03T16:48:45.199947+00:00): fixed width, so text
--                order is time order. Rows inserted by hand get the same
--                shape from the defaults (SQLite's clock has milliseconds).
--   jsonb        text holding JSON (json_valid)
--   text[]       text holding a JSON array of strings
--   boolean      integer 0 or 1
--
-- STRICT tables refuse a value of the wrong type, as PostgreSQL would.
-- The ingest, claim, record and release logic that PostgreSQL runs as SQL
-- functions lives in Rust beside this file (ingest.rs, outbox.rs).

create table if not exists classification_jobs (
    job_id             text primary key not null check (length(job_id) = 36),
    client_id          text,
    status             text not null default 'pending'
                       check (status in ('pending', 'processing', 'partial', 'completed', 'failed')),
    callback_url       text,
    total_products     integer check (total_products >= 0),
    completed_products integer not null default 0 check (completed_products >= 0),
    failed_products    integer not null default 0 check (failed_products >= 0),
    created_at         text not null default (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    updated_at         text not null default (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    completed_at       text,
    metadata           text not null default '{}' check (json_valid(metadata)),
    extra              text not null default '{}' check (json_valid(extra))
) strict;

create index if not exists classification_jobs_client_id_idx
    on classification_jobs (client_id, created_at desc);

create table if not exists classification_results (
    id                  text primary key not null,
    job_id              text not null references classification_jobs (job_id) on delete cascade,
    product_id          text not null check (product_id <> ''),
    product_description text,
    hts_code            text,
    hts_description     text,
    confidence          real check (confidence between 0 and 1),
    duty_rate           real check (duty_rate >= 0),
    source              text,
    section_301_applies integer check (section_301_applies in (0, 1)),
    pga_flags           text not null default '[]' check (json_valid(pga_flags)),
    extra               text not null default '{}' check (json_valid(extra)),
    created_at          text not null default (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    updated_at          text not null default (strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')),
    -- The idempotency key of a result, and the index behind result pages.
    -- Text compares byte by byte (BINARY), so pages are in byte order.
    unique (job_id, product_id)
) strict;

create table if not exists callback_deliveries (
    delivery_id      text primary key not null,
    job_id           text not null references classification_jobs (job_id) on delete cascade,
    -- One delivery per (job, distinct webhook): SHA-256 of the payload.
    webhook_digest   text not null,
    target_url       text not null,
    state            text not null default 'pending'
                     check (state in ('pending', 'delivered', 'failed', 'exhausted', 'disabled')),
    attempts         integer not null default 0 check (attempts >= 0),
    -- Null once the delivery is final.
    next_attempt_at  text,
    lease_owner      text,
    lease_expires_at text,
    last_status      integer,
    last_error       text,
    created_at       text not null,
    updated_at       text not null,
    delivered_at     text,
    unique (job_id, webhook_digest)
) strict;

create index if not exists callback_deliveries_due_idx
    on callback_deliveries (next_attempt_at)
    where state in ('pending', 'failed');
create index if not exists callback_deliveries_job_idx
    on callback_deliveries (job_id, created_at desc);
