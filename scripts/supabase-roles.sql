-- The roles every Supabase project has, for a plain PostgreSQL (tests, local
-- PostgREST). Roles are cluster-wide, so this is idempotent and safe to run
-- once per test database. Never run it against Supabase itself.
do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'anon') then
        create role anon nologin noinherit;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'authenticated') then
        create role authenticated nologin noinherit;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'service_role') then
        create role service_role nologin noinherit bypassrls;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'authenticator') then
        create role authenticator login noinherit;
    end if;
exception when duplicate_object or unique_violation then
    -- Another test run created them between the check and the create.
    null;
end
$$;

grant anon, authenticated, service_role to authenticator;
