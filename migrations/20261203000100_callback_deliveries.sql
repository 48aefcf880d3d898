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

-- Replaces the ingest's callback seam: the delivery is recorded in the
-- ingest transaction, so a 200 to the engine implies it will be sent. One
-- delivery per distinct webhook: the engine re-sending the same body adds none.
create or replace function public.record_ingest_callback(
    p_job_id uuid,
    p_callback_url text,
    p_payload jsonb
)
returns uuid
language plpgsql
volatile
set search_path = ''
as $$
declare
    v_delivery_id uuid;
begin
    if p_callback_url is null then
        return null;
    end if;
    -- A receiver that answered 410 Gone wants no more callbacks for this job.
    if exists (
        select 1 from public.callback_deliveries
        where job_id = p_job_id and state = 'disabled' and last_status = 410
    ) then
        return null;
    end if;
    insert into public.callback_deliveries (job_id, webhook_digest, target_url)
    values (p_job_id, md5(p_payload::text), p_callback_url)
    on conflict (job_id, webhook_digest) do nothing
    returning delivery_id into v_delivery_id;
    return v_delivery_id;
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
-- A 410 Gone also disables the job's other unfinished deliveries.
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
    update public.callback_deliveries other set
        state = 'disabled',
        last_error = 'the receiver answered 410 Gone to another callback of this job',
        next_attempt_at = null,
        updated_at = now()
    where p_state = 'disabled' and p_status = 410
      and other.job_id = (select job_id from public.callback_deliveries where delivery_id = p_delivery_id)
      and other.delivery_id <> p_delivery_id
      and other.state in ('pending', 'failed');

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
