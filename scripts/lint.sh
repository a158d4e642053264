#!/usr/bin/env bash
# The gates `make lint` runs (and so the test command, and so CI): ruff, mypy,
# import-linter, and `distserver db check` on a scratch SQLite database built by the
# migrations. Stops at the first gate that fails.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}

say() { printf 'lint: %s\n' "$*" >&2; }

say "ruff"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
say "mypy"
"$VENV/bin/mypy"
say "import-linter"
"$VENV/bin/lint-imports"
say "db check (models equal migrations)"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export DISTSERVER_ENV=development
export DISTSERVER_DATABASE_URL="sqlite:///$scratch/schema.sqlite3"
export DISTSERVER_INSTANCE_DIR="$scratch/instance"
DISTSERVER_SECRET_KEY=$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(48))')
export DISTSERVER_SECRET_KEY
"$VENV/bin/distserver" db upgrade >/dev/null 2>&1 || "$VENV/bin/distserver" db upgrade
"$VENV/bin/distserver" db check
