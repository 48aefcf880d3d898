-- rosetta-webhook: what operators need to see. Apply after
-- 20261203000100_callback_deliveries.sql.
--
-- 1. The outbox's depth and the age of its oldest due delivery, read by
--    GET /metrics (callback_outbox_stats).
-- 2. Duplicate webhooks told apart: the ingest remembers the digest of the
--    last webhook it applied to each job, and reports whether the next one
--    is the very same body again (an engine retry). The ingest itself is
--    unchanged; ingest_classification_webhook_counted wraps it.

-- md5 of the normalised payload last applied to the job (the same digest the
-- callback outbox keys deliveries on). Null until the first webhook.
alter table public.classification_jobs
    add column if not exists last_webhook_digest text;

-- The ingest, plus `duplicate`: true when this payload equals the last one
-- applied to the job. It is applied again all the same (idempotent); only
-- the report differs. Two identical first webhooks racing for a job that
-- does not exist yet both report false.
create or replace function public.ingest_classification_webhook_counted(payload jsonb)
returns jsonb
language plpgsql
security invoker
set search_path = ''
as $$
declare
    v_job_id uuid := (payload ->> 'job_id')::uuid;
    v_digest text := md5(payload::text);
    v_previous text;
    v_receipt jsonb;
begin
    -- Locks the job row when it exists, so the digest read here is the one
    -- this webhook replaces.
    select last_webhook_digest into v_previous
    from public.classification_jobs
    where job_id = v_job_id
    for update;

    v_receipt := public.ingest_classification_webhook(payload);

    update public.classification_jobs
    set last_webhook_digest = v_digest
    where job_id = v_job_id;

    return v_receipt || jsonb_build_object('duplicate', v_previous is not null and v_previous = v_digest);
end;
$$;

-- Deliveries not yet final (pending, or failed with a retry scheduled), how
-- many of them are due now, and how long the oldest due one has waited.
-- Reads only the rows of the partial index callback_deliveries_due_idx.
create or replace function public.callback_outbox_stats()
returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
    select jsonb_build_object(
        'unfinished', count(*),
        'due', count(*) filter (where next_attempt_at <= now()),
        'oldest_due_age_seconds', coalesce(
            extract(epoch from now() - min(next_attempt_at) filter (where next_attempt_at <= now())),
            0
        )
    )
    from public.callback_deliveries
    where state in ('pending', 'failed')
$$;

create or replace function public.rosetta_webhook_schema_version()
returns integer
language sql
stable
set search_path = ''
as $$ select 3 $$;

revoke execute on function public.ingest_classification_webhook_counted(jsonb) from public, anon, authenticated;
revoke execute on function public.callback_outbox_stats() from public, anon, authenticated;
grant execute on function public.ingest_classification_webhook_counted(jsonb) to service_role;
grant execute on function public.callback_outbox_stats() to service_role;
