#!/usr/bin/env bash
# The release binary's footprint: its size, its time from start to ready
# (first `200` from /readyz, which needs the store), and its resident memory
# once idle. Runs against a throw-away database on the local PostgreSQL and
# the PostgREST of scripts/fetch-postgrest.sh, on 127.0.0.1 only.
#   cargo build --release --locked && scripts/measure-footprint.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

binary=target/release/rosetta-webhook
[ -x "$binary" ] || { echo "measure-footprint: build $binary first (cargo build --release --locked)" >&2; exit 1; }
scripts/fetch-postgrest.sh
export PGOPTIONS="--client-min-messages=warning"
pg=(-h "${TEST_PGHOST:-127.0.0.1}" -p "${TEST_PGPORT:-5432}" -U postgres -v ON_ERROR_STOP=1 -q)
db="rw_footprint_$$"
secret=footprint-postgrest-jwt-secret-0123456789
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
header=$(printf '%s' '{"alg":"HS256","typ":"JWT"}' | b64url)
claims=$(printf '%s' '{"role":"service_role"}' | b64url)
jwt="$header.$claims.$(printf '%s' "$header.$claims" | openssl dgst -sha256 -hmac "$secret" -binary | b64url)"

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    psql "${pg[@]}" -d postgres -c "drop database if exists $db with (force)" >/dev/null
}
trap cleanup EXIT

psql "${pg[@]}" -d postgres -c "create database $db"
psql "${pg[@]}" -d "$db" -f scripts/supabase-roles.sql >/dev/null
for f in migrations/*.sql; do psql "${pg[@]}" -d "$db" -f "$f" >/dev/null; done

rest_port=$(free_port)
PGRST_DB_URI="postgres://authenticator@${TEST_PGHOST:-127.0.0.1}:${TEST_PGPORT:-5432}/$db" \
PGRST_DB_SCHEMAS=public PGRST_DB_ANON_ROLE=anon PGRST_JWT_SECRET="$secret" \
PGRST_SERVER_HOST=127.0.0.1 PGRST_SERVER_PORT="$rest_port" PGRST_LOG_LEVEL=warn \
    .tools/postgrest/postgrest >/dev/null 2>&1 &
pids+=($!)
until curl -sf -o /dev/null -X POST "http://127.0.0.1:$rest_port/rpc/rosetta_webhook_schema_version" \
    -H "Authorization: Bearer $jwt" -H 'Content-Type: application/json' -d '{}'; do sleep 0.05; done

port=$(free_port)
started=$(date +%s%N)
env -i HOST=127.0.0.1 PORT="$port" WEBHOOK_SECRET=footprint-secret API_KEYS=acme:footprint-key \
    POSTGREST_URL="http://127.0.0.1:$rest_port" SUPABASE_SERVICE_ROLE_KEY="$jwt" \
    CALLBACK_SIGNING_SECRET=whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD LOG_FORMAT=json \
    "$binary" >/dev/null &
service=$!
pids+=("$service")
until curl -sf -o /dev/null "http://127.0.0.1:$port/readyz"; do sleep 0.002; done
ready=$(date +%s%N)
sleep 3
rss_kib=$(awk '/^VmRSS/ {print $2}' "/proc/$service/status")

echo "binary size:          $(stat -c %s "$binary") bytes ($(du -h "$binary" | cut -f1))"
echo "start to ready:       $(( (ready - started) / 1000000 )) ms (spawn to the first 200 from /readyz, polled every 2 ms)"
echo "resident memory idle: ${rss_kib} KiB (VmRSS 3 s after ready)"
