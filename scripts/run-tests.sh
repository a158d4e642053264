#!/usr/bin/env bash
# Runs the whole test suite in the project's virtualenv. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export PYTHONUNBUFFERED=1
# Keep bytecode caches even where the environment turns them off: each worker would
# otherwise redo pytest's assertion rewriting of every test module (2.6 s a worker).
unset PYTHONDONTWRITEBYTECODE
mkdir -p test-artifacts
scripts/lint.sh || exit 1  # the gates of `make lint` come first
# pytest-xdist workers (scripts/test-workers.sh), each with its own databases; loadgroup
# hands tests out one by one in collection order (slow files first: tests/conftest.py).
"$VENV/bin/python" -m pytest -n "$(scripts/test-workers.sh)" --dist loadgroup "$@"
rc=$?
# pytest exits 5 when it collected nothing: that is a failure here, not a pass.
[ "$rc" = 5 ] && { echo "run-tests: no test was collected" >&2; exit 1; }
exit "$rc"
