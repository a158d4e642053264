#!/usr/bin/env bash
# Runs the whole test suite in the project's virtualenv. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export PYTHONUNBUFFERED=1
mkdir -p test-artifacts
"$VENV/bin/ruff" check . || exit 1
"$VENV/bin/ruff" format --check . || exit 1
"$VENV/bin/python" -m pytest "$@"
rc=$?
# pytest exits 5 when it collected nothing: that is a failure here, not a pass.
[ "$rc" = 5 ] && { echo "run-tests: no test was collected" >&2; exit 1; }
exit "$rc"
