-- rosetta-webhook: jobs, results and the one-transaction ingest function.
--
-- Supabase-compatible: apply with `psql -v ON_ERROR_STOP=1 -f` or copy into
-- `supabase/migrations/` unchanged. It expects the roles every Supabase
-- project has (anon, authenticated, service_role); scripts/supabase-roles.sql
-- creates them on a plain PostgreSQL (13 or newer: gen_random_uuid()).
--
-- Idempotent, and an upgrade for the Flask blueprint's tables: where they
-- already exist, the columns they lack are added and the unique key that
-- makes result upserts idempotent is created (see the end of this section).
--
-- Security model: RLS is enabled on every table and no policy exists for
-- anon or authenticated, and their grants are revoked, so the public anon key
-- reads nothing. The service calls PostgREST as service_role (BYPASSRLS).

create table if not exists public.classification_jobs (
    job_id             uuid primary key,
    client_id          text,
    status             text not null default 'pending'
                       check (status in ('pending', 'processing', 'partial', 'completed', 'failed')),
    callback_url       text,
    total_products     integer check (total_products >= 0),
    completed_products integer not null default 0 check (completed_products >= 0),
    failed_products    integer not null default 0 check (failed_products >= 0),
    created_at         timestamptz not null default now(),
    updated_at         timestamptz not null default now(),
    completed_at       timestamptz,
    metadata           jsonb not null default '{}'::jsonb,
    extra              jsonb not null default '{}'::jsonb
);

-- Client-scoped polls filter on (job_id, client_id); the primary key serves
-- them. This index serves "my jobs" listings and operator queries by client.
create index if not exists classification_jobs_client_id_idx
    on public.classification_jobs (client_id, created_at desc);

create table if not exists public.classification_results (
    id                  uuid primary key default gen_random_uuid(),
    job_id              uuid not null references public.classification_jobs (job_id) on delete cascade,
    product_id          text not null check (product_id <> ''),
    product_description text,
    hts_code            text,
    hts_description     text,
    confidence          double precision check (confidence between 0 and 1),
    duty_rate           double precision check (duty_rate >= 0),
    source              text,
    section_301_applies boolean,
    pga_flags           text[] not null default '{}',
    extra               jsonb not null default '{}'::jsonb,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    -- The idempotency key of a result; its index also serves the keyset
    -- pagination of a job's results (job_id = $1 and product_id > $2 order by product_id).
    constraint classification_results_job_product_key unique (job_id, product_id)
);

-- Upgrade path for tables the Flask blueprint created (its sketch had fewer
-- columns and no unique key): `create table if not exists` left them as
-- they were, so add what this service needs. No-ops on a fresh install.
alter table public.classification_jobs
    add column if not exists failed_products integer not null default 0,
    add column if not exists updated_at timestamptz not null default now(),
    add column if not exists extra jsonb not null default '{}'::jsonb;
alter table public.classification_results
    add column if not exists hts_description text,
    add column if not exists section_301_applies boolean,
    add column if not exists extra jsonb not null default '{}'::jsonb,
    add column if not exists updated_at timestamptz not null default now();

-- The blueprint's rows may hold nulls where this service keeps defaults.
alter table public.classification_jobs
    alter column completed_products set default 0,
    alter column metadata set default '{}'::jsonb;
alter table public.classification_results
    alter column pga_flags set default '{}';
update public.classification_jobs set completed_products = 0 where completed_products is null;
update public.classification_jobs set metadata = '{}'::jsonb where metadata is null;
update public.classification_results set pga_flags = '{}' where pga_flags is null;

do $$
begin
    if not exists (
        select 1 from pg_constraint
        where conname = 'classification_results_job_product_key'
          and conrelid = 'public.classification_results'::regclass
    ) then
        -- The blueprint's batch inserts may have stored a result twice; keep
        -- the newest copy, which is what an upsert would have left.
        delete from public.classification_results older
        using public.classification_results newer
        where older.job_id = newer.job_id
          and older.product_id = newer.product_id
          and (older.created_at, older.id::text) < (newer.created_at, newer.id::text);
        alter table public.classification_results
            add constraint classification_results_job_product_key unique (job_id, product_id);
    end if;
end
$$;

alter table public.classification_jobs enable row level security;
alter table public.classification_results enable row level security;

revoke all on table public.classification_jobs, public.classification_results from anon, authenticated;
grant usage on schema public to service_role;
grant select, insert, update, delete on table public.classification_jobs, public.classification_results to service_role;

-- Status order: a webhook never moves a job to a lower rank. Both terminal
-- statuses share the top rank, so a re-run that flips completed <-> failed is
-- applied, while a late `partial` retry is not.
create or replace function public.classification_status_rank(status text)
returns integer
language sql
immutable
parallel safe
set search_path = ''
as $$
    select case status
        when 'pending' then 0
        when 'processing' then 1
        when 'partial' then 2
        when 'completed' then 3
        when 'failed' then 3
    end
$$;

-- Called by the ingest, in its transaction, once the job row is final:
-- returns the id of the callback delivery it recorded, if any. This
-- migration records none; 20261203000100_callback_deliveries replaces it.
create or replace function public.record_ingest_callback(
    p_job_id uuid,
    p_callback_url text,
    p_payload jsonb
)
returns uuid
language sql
volatile
set search_path = ''
as $$ select null::uuid $$;

-- The whole webhook in one transaction (one PostgREST /rpc/ round trip).
--
-- `payload` is the service's validated, normalised form of the webhook:
--   job_id, status, client_id?, callback_url?, metadata (object),
--   extra (object: unknown top-level keys), total_products?,
--   completed_products?, failed_products?,
--   results: [{product_id, product_description, hts_code, hts_description,
--              confidence, duty_rate, source, section_301_applies,
--              pga_flags, extra}]
-- Absent optional fields keep what the job row already has.
create or replace function public.ingest_classification_webhook(payload jsonb)
returns jsonb
language plpgsql
security invoker
set search_path = ''
as $$
declare
    v_job_id uuid := (payload ->> 'job_id')::uuid;
    v_status text := payload ->> 'status';
    v_now timestamptz := now();
    v_stale boolean;
    v_results_stored integer;
    v_job public.classification_jobs;
    v_delivery_id uuid;
begin
    if v_status not in ('partial', 'completed', 'failed') then
        raise exception 'invalid webhook status %', v_status using errcode = '22023';
    end if;

    -- Lock the job row (or create it) first so concurrent webhooks for one
    -- job apply one after the other.
    insert into public.classification_jobs as j (
        job_id, client_id, status, callback_url, total_products,
        completed_products, failed_products, created_at, updated_at,
        completed_at, metadata, extra
    ) values (
        v_job_id,
        payload ->> 'client_id',
        v_status,
        payload ->> 'callback_url',
        (payload ->> 'total_products')::integer,
        coalesce((payload ->> 'completed_products')::integer, 0),
        coalesce((payload ->> 'failed_products')::integer, 0),
        v_now,
        v_now,
        case when public.classification_status_rank(v_status) = 3 then v_now end,
        coalesce(payload -> 'metadata', '{}'::jsonb),
        coalesce(payload -> 'extra', '{}'::jsonb)
    )
    on conflict (job_id) do nothing;

    select * into strict v_job
    from public.classification_jobs
    where job_id = v_job_id
    for update;

    v_stale := public.classification_status_rank(v_status)
             < public.classification_status_rank(v_job.status);

    update public.classification_jobs set
        client_id = coalesce(payload ->> 'client_id', client_id),
        callback_url = coalesce(payload ->> 'callback_url', callback_url),
        status = case when v_stale then status else v_status end,
        total_products = case
            when v_stale then total_products
            else coalesce((payload ->> 'total_products')::integer, total_products)
        end,
        completed_products = greatest(coalesce(completed_products, 0),
            coalesce((payload ->> 'completed_products')::integer, 0)),
        failed_products = greatest(failed_products,
            coalesce((payload ->> 'failed_products')::integer, 0)),
        -- A stale retry carries older metadata: keep the newer one.
        metadata = case when v_stale then metadata
                        else coalesce(metadata, '{}'::jsonb) || coalesce(payload -> 'metadata', '{}'::jsonb) end,
        extra = case when v_stale then extra
                     else coalesce(extra, '{}'::jsonb) || coalesce(payload -> 'extra', '{}'::jsonb) end,
        completed_at = coalesce(completed_at,
            case when not v_stale and public.classification_status_rank(v_status) = 3 then v_now end),
        updated_at = v_now
    where job_id = v_job_id;

    insert into public.classification_results as r (
        job_id, product_id, product_description, hts_code, hts_description,
        confidence, duty_rate, source, section_301_applies, pga_flags, extra,
        created_at, updated_at
    )
    select
        v_job_id, x.product_id, x.product_description, x.hts_code, x.hts_description,
        x.confidence, x.duty_rate, x.source, x.section_301_applies,
        coalesce(x.pga_flags, '{}'), coalesce(x.extra, '{}'::jsonb),
        v_now, v_now
    from jsonb_to_recordset(coalesce(payload -> 'results', '[]'::jsonb)) as x (
        product_id text,
        product_description text,
        hts_code text,
        hts_description text,
        confidence double precision,
        duty_rate double precision,
        source text,
        section_301_applies boolean,
        pga_flags text[],
        extra jsonb
    )
    on conflict (job_id, product_id) do update set
        product_description = excluded.product_description,
        hts_code = excluded.hts_code,
        hts_description = excluded.hts_description,
        confidence = excluded.confidence,
        duty_rate = excluded.duty_rate,
        source = excluded.source,
        section_301_applies = excluded.section_301_applies,
        pga_flags = excluded.pga_flags,
        extra = excluded.extra,
        updated_at = excluded.updated_at
    -- A stale webhook (a retry older than the job's status) adds the
    -- products it carries that are missing, but never overwrites newer values.
    where not v_stale;
    get diagnostics v_results_stored = row_count;

    -- An engine that sends no counters still shows progress: count what is stored.
    if payload -> 'completed_products' is null then
        update public.classification_jobs set
            completed_products = greatest(completed_products,
                (select count(*) from public.classification_results where job_id = v_job_id))
        where job_id = v_job_id;
    end if;

    select * into strict v_job from public.classification_jobs where job_id = v_job_id;

    -- The callback seam: a later migration records the callback delivery
    -- here, inside this transaction.
    v_delivery_id := public.record_ingest_callback(v_job_id, v_job.callback_url, payload);

    return jsonb_build_object(
        'job_id', v_job_id,
        'status', v_job.status,
        'results_stored', v_results_stored,
        'stale', v_stale,
        'delivery_id', v_delivery_id
    );
end;
$$;

-- The schema level, which /readyz compares with what the binary needs.
create or replace function public.rosetta_webhook_schema_version()
returns integer
language sql
stable
set search_path = ''
as $$ select 1 $$;

revoke execute on function public.ingest_classification_webhook(jsonb) from public, anon, authenticated;
revoke execute on function public.rosetta_webhook_schema_version() from public, anon, authenticated;
revoke execute on function public.classification_status_rank(text) from public, anon, authenticated;
revoke execute on function public.record_ingest_callback(uuid, text, jsonb) from public, anon, authenticated;
grant execute on function public.ingest_classification_webhook(jsonb) to service_role;
grant execute on function public.rosetta_webhook_schema_version() to service_role;
grant execute on function public.classification_status_rank(text) to service_role;
grant execute on function public.record_ingest_callback(uuid, text, jsonb) to service_role;
