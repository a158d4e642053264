#!/usr/bin/env bash
# Installs what the demo or the test suite needs on a fresh machine.
#   scripts/bootstrap.sh python   the virtualenv with the project and what the demo's tour
#                                 uses (huggingface_hub and its `hf` command)
#   scripts/bootstrap.sh all      that, plus the test tools and the services the tests use
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
what=${1:-all}

say() { printf 'bootstrap: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

python_env() {
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating the virtualenv in $VENV"
    python3 -m venv "$VENV" || die "python3 -m venv failed: install Python 3.11+ with venv"
  fi
  local extra="[demo]"
  [ "$what" = all ] && extra="[demo,test]"
  if [ ! -f "$VENV/.stamp$extra" ] || [ pyproject.toml -nt "$VENV/.stamp$extra" ]; then
    say "installing the project$extra"
    "$VENV/bin/pip" install --quiet --upgrade pip
    "$VENV/bin/pip" install --quiet -e ".$extra"
    touch "$VENV/.stamp$extra"
  fi
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root to run: $* (Debian's chromium is required by the browser tests)"; fi
}

chromium() {
  if [ ! -x /usr/bin/chromium ]; then
    say "installing Debian's chromium for the browser tests"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >/dev/null
  fi
  [ -x /usr/bin/chromium ] || die "Debian's chromium is not at /usr/bin/chromium"
}

oidc_provider() {
  command -v node >/dev/null || die "node is missing: the OIDC provider tests need Node.js 20"
  if [ ! -d tests/oidc/node_modules/oidc-provider ]; then
    say "installing the OIDC provider's npm packages"
    (cd tests/oidc && npm ci --no-audit --no-fund --loglevel=error)
  fi
  if [ ! -f tests/browser/axe/node_modules/axe-core/axe.min.js ]; then
    say "installing axe-core for the accessibility checks"
    (cd tests/browser/axe && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

services() {
  if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    say "starting PostgreSQL"
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  fi
  pg_isready -h 127.0.0.1 -p 5432 -q || die "PostgreSQL is not answering on 127.0.0.1:5432"
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    say "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
    for _ in $(seq 1 20); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.5; done
  fi
  redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || die "Redis is not answering on 127.0.0.1:6379"
}

python_env
if [ "$what" = all ]; then
  chromium
  oidc_provider
  services
fi
