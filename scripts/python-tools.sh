#!/usr/bin/env bash
# Installs the Python tools the tests use (openapi-spec-validator, jsonschema:
# scripts/check-openapi.py) from PyPI into a virtual environment at
# .tools/pyenv (git-ignored), pinned by scripts/python-requirements.txt.
# Idempotent: does nothing when that environment already has those pins.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.tools/pyenv"
requirements="$root/scripts/python-requirements.txt"

if [ -x "$venv/bin/python" ] && cmp -s "$requirements" "$venv/installed-requirements.txt"; then
    exit 0
fi

command -v python3 >/dev/null || { echo "python-tools: python3 (3.9 or newer) is needed" >&2; exit 1; }
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
cp "$requirements" "$venv/installed-requirements.txt"
echo "python-tools: installed $(wc -l < "$requirements") pinned packages into $venv"
