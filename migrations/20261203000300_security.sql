-- rosetta-webhook: replay protection for Standard Webhooks, and API keys
-- stored as hashes. Apply after the earlier files, in name order.
--
-- Security model as before: RLS on, no policy for anon or authenticated and
-- their grants revoked; only service_role (BYPASSRLS) is granted anything.

-- Each Standard Webhooks message id (`webhook-id`) the service has applied.
-- Written in the ingest's transaction, so a message is either applied and
-- remembered, or neither. Ids older than 7 days are pruned by the ingest
-- itself: a replay that old is refused by its timestamp anyway
-- (WEBHOOK_TOLERANCE_SECONDS is at most one day).
create table if not exists public.webhook_messages (
    message_id   text primary key check (length(message_id) between 1 and 256),
    job_id       uuid not null,
    received_at  timestamptz not null default now()
);

create index if not exists webhook_messages_received_at_idx
    on public.webhook_messages (received_at);

-- API keys for `X-Api-Key`. Only the SHA-256 of a key is stored (lowercase
-- hex); the key itself is shown once, when it is created, and never again.
-- client_id '*' reads every job (an operator key).
create table if not exists public.api_keys (
    key_hash    text primary key check (key_hash ~ '^[0-9a-f]{64}$'),
    client_id   text not null check (length(client_id) between 1 and 256),
    label       text not null default '' check (length(label) <= 256),
    created_at  timestamptz not null default now(),
    revoked_at  timestamptz
);

create index if not exists api_keys_client_id_idx on public.api_keys (client_id);

alter table public.webhook_messages enable row level security;
alter table public.api_keys enable row level security;

revoke all on table public.webhook_messages, public.api_keys from anon, authenticated;
grant select, insert, update, delete on table public.webhook_messages, public.api_keys to service_role;

-- The ingest of a Standard Webhooks message, once: records `message_id`
-- and applies the webhook with ingest_classification_webhook_counted, in one
-- transaction. A message id already recorded applies nothing and answers
-- with the job's current status and `"duplicate": true`. Two deliveries of
-- one message at once: the second waits on the first's row lock and is then
-- a duplicate (or, if the first rolled back, is applied).
create or replace function public.ingest_classification_webhook_once(payload jsonb, message_id text)
returns jsonb
language plpgsql
security invoker
set search_path = ''
as $$
declare
    v_job_id uuid := (payload ->> 'job_id')::uuid;
    v_recorded integer;
    v_first_job uuid;
    v_status text;
begin
    insert into public.webhook_messages as m (message_id, job_id)
    values (ingest_classification_webhook_once.message_id, v_job_id)
    on conflict on constraint webhook_messages_pkey do nothing;
    get diagnostics v_recorded = row_count;

    if v_recorded = 0 then
        select m.job_id into v_first_job
        from public.webhook_messages m
        where m.message_id = ingest_classification_webhook_once.message_id;
        select j.status into v_status
        from public.classification_jobs j
        where j.job_id = v_first_job;
        return jsonb_build_object(
            'job_id', v_first_job,
            -- The job may have been deleted since: say what the message said.
            'status', coalesce(v_status, payload ->> 'status'),
            'results_stored', 0,
            'stale', false,
            'delivery_id', null,
            'duplicate', true
        );
    end if;

    -- Forget ids past the replay window, a bounded batch per ingest, so the
    -- table stays small without a scheduled job.
    delete from public.webhook_messages w
    where w.message_id in (
        select old.message_id from public.webhook_messages old
        where old.received_at < now() - interval '7 days'
        order by old.received_at
        limit 100
        for update skip locked
    );

    -- The counted ingest (20261203000200) also remembers the body's digest.
    return public.ingest_classification_webhook_counted(payload);
end;
$$;

-- Revokes a key by its hash; true when an active key was revoked.
create or replace function public.revoke_api_key(p_key_hash text)
returns boolean
language sql
volatile
set search_path = ''
as $$
    with revoked as (
        update public.api_keys set revoked_at = now()
        where key_hash = p_key_hash and revoked_at is null
        returning 1
    )
    select exists (select 1 from revoked)
$$;

create or replace function public.rosetta_webhook_schema_version()
returns integer
language sql
stable
set search_path = ''
as $$ select 4 $$;

revoke execute on function public.ingest_classification_webhook_once(jsonb, text) from public, anon, authenticated;
revoke execute on function public.revoke_api_key(text) from public, anon, authenticated;
grant execute on function public.ingest_classification_webhook_once(jsonb, text) to service_role;
grant execute on function public.revoke_api_key(text) to service_role;
