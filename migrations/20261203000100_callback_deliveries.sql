-- rosetta-webhook: the callback outbox. Every callback a webhook causes is a
-- row here, written in the ingest transaction and delivered by workers in
-- any number of service instances, which claim due rows with
-- FOR UPDATE SKIP LOCKED and a lease. A delivery whose instance died is
-- claimed again once its lease expires.

create table if not exists public.callback_deliveries (
    -- Sent as `webhook-id`: the same on every retry, so receivers dedupe on it.
    delivery_id      uuid primary key default gen_random_uuid(),
    job_id           uuid not null references public.classification_jobs (job_id) on delete cascade,
    -- md5 of the ingested payload: one delivery per (job, distinct webhook).
    webhook_digest   text not null,
    target_url       text not null,
    -- pending: not tried yet; failed: last attempt failed, a retry is due at
    -- next_attempt_at; delivered; exhausted: retry schedule used up;
    -- disabled: receiver answered 410 Gone, or the URL was refused.
    state            text not null default 'pending'
                     check (state in ('pending', 'delivered', 'failed', 'exhausted', 'disabled')),
    attempts         integer not null default 0 check (attempts >= 0),
    -- Null once the delivery is final.
    next_attempt_at  timestamptz default now(),
    lease_owner      text,
    lease_expires_at timestamptz,
    last_status      integer,
    last_error       text,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    delivered_at     timestamptz,
    constraint callback_deliveries_job_webhook_key unique (job_id, webhook_digest)
);

-- The sweeper's claim: due rows only.
create index if not exists callback_deliveries_due_idx
    on public.callback_deliveries (next_attempt_at)
    where state in ('pending', 'failed');
-- The poll's "latest delivery of this job".
create index if not exists callback_deliveries_job_idx
    on public.callback_deliveries (job_id, created_at desc);

alter table public.callback_deliveries enable row level security;
revoke all on table public.callback_deliveries from anon, authenticated;
grant select, insert, update, delete on table public.callback_deliveries to service_role;

-- The ingest of 20261203000000, plus the callback outbox row (see there for the payload).
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
        completed_products = greatest(completed_products,
            coalesce((payload ->> 'completed_products')::integer, 0)),
        failed_products = greatest(failed_products,
            coalesce((payload ->> 'failed_products')::integer, 0)),
        -- A stale retry carries older metadata: keep the newer one.
        metadata = case when v_stale then metadata
                        else metadata || coalesce(payload -> 'metadata', '{}'::jsonb) end,
        extra = case when v_stale then extra
                     else extra || coalesce(payload -> 'extra', '{}'::jsonb) end,
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
        updated_at = excluded.updated_at;
    get diagnostics v_results_stored = row_count;

    -- An engine that sends no counters still shows progress: count what is stored.
    if payload -> 'completed_products' is null then
        update public.classification_jobs set
            completed_products = greatest(completed_products,
                (select count(*) from public.classification_results where job_id = v_job_id))
        where job_id = v_job_id;
    end if;

    select * into strict v_job from public.classification_jobs where job_id = v_job_id;

    -- The callback is recorded in the same transaction, so a 200 to the
    -- engine implies it will be delivered. One delivery per distinct
    -- webhook: the engine re-sending the same body adds none.
    if v_job.callback_url is not null then
        insert into public.callback_deliveries (job_id, webhook_digest, target_url)
        values (v_job_id, md5(payload::text), v_job.callback_url)
        on conflict (job_id, webhook_digest) do nothing
        returning delivery_id into v_delivery_id;
    end if;

    return jsonb_build_object(
        'job_id', v_job_id,
        'status', v_job.status,
        'results_stored', v_results_stored,
        'stale', v_stale,
        'delivery_id', v_delivery_id
    );
end;
$$;

-- Claims up to p_limit due deliveries for p_owner for p_lease_seconds.
-- SKIP LOCKED lets instances claim side by side without waiting or sharing.
create or replace function public.claim_callback_deliveries(
    p_owner text,
    p_limit integer,
    p_lease_seconds double precision
)
returns setof public.callback_deliveries
language sql
security invoker
set search_path = ''
as $$
    update public.callback_deliveries d set
        lease_owner = p_owner,
        lease_expires_at = now() + make_interval(secs => p_lease_seconds),
        updated_at = now()
    where d.delivery_id in (
        select delivery_id
        from public.callback_deliveries
        where state in ('pending', 'failed')
          and next_attempt_at <= now()
          and (lease_expires_at is null or lease_expires_at <= now())
        order by next_attempt_at
        limit p_limit
        for update skip locked
    )
    returning d.*
$$;

-- Records one attempt's outcome and ends the lease. Null when p_owner no
-- longer holds the lease (it expired and another instance took over).
create or replace function public.record_callback_attempt(
    p_delivery_id uuid,
    p_owner text,
    p_state text,
    p_status integer,
    p_error text,
    p_retry_in_seconds double precision
)
returns boolean
language sql
security invoker
set search_path = ''
as $$
    update public.callback_deliveries set
        state = p_state,
        attempts = attempts + 1,
        last_status = p_status,
        last_error = p_error,
        next_attempt_at = case
            when p_retry_in_seconds is null then null
            else now() + make_interval(secs => p_retry_in_seconds)
        end,
        delivered_at = case when p_state = 'delivered' then now() else delivered_at end,
        lease_owner = null,
        lease_expires_at = null,
        updated_at = now()
    where delivery_id = p_delivery_id
      and lease_owner = p_owner
    returning true
$$;

-- Gives back every lease p_owner holds (graceful shutdown), so another
-- instance takes those deliveries at once instead of after the lease.
create or replace function public.release_callback_deliveries(p_owner text)
returns integer
language sql
security invoker
set search_path = ''
as $$
    with released as (
        update public.callback_deliveries set
            lease_owner = null,
            lease_expires_at = null,
            updated_at = now()
        where lease_owner = p_owner
        returning 1
    )
    select count(*)::integer from released
$$;

create or replace function public.rosetta_webhook_schema_version()
returns integer
language sql
stable
set search_path = ''
as $$ select 2 $$;

revoke execute on function public.claim_callback_deliveries(text, integer, double precision) from public, anon, authenticated;
revoke execute on function public.record_callback_attempt(uuid, text, text, integer, text, double precision) from public, anon, authenticated;
revoke execute on function public.release_callback_deliveries(text) from public, anon, authenticated;
grant execute on function public.claim_callback_deliveries(text, integer, double precision) to service_role;
grant execute on function public.record_callback_attempt(uuid, text, text, integer, text, double precision) to service_role;
grant execute on function public.release_callback_deliveries(text) to service_role;
