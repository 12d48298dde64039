#!/usr/bin/env bash
# The whole suite: once on PostgreSQL+pgvector+Redis (the production shape), then the
# model/service tests once more on the embedded default (SQLite, in-memory layer, eager Celery).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export PYTHONUNBUFFERED=1
status=0
step() { echo; echo "==== $*"; }

scripts/services.sh start || exit 1
trap 'scripts/services.sh stop' EXIT
eval "$(scripts/services.sh env)"

step "lint (ruff)"
.venv/bin/ruff check . || status=1
.venv/bin/ruff format --check . || status=1

step "migrations are up to date"
$PY manage.py makemigrations --check --dry-run || status=1

step "PostgreSQL + pgvector + Redis: unit, API and worker tests"
$PY -m pytest -m "not e2e" "$@" || status=1

step "PostgreSQL + pgvector + Redis: browser tests"
$PY -m pytest -m e2e "$@"; rc=$?; [ $rc = 0 ] || [ $rc = 5 ] || status=1

step "embedded default (SQLite, in-memory channel layer, eager Celery)"
env -u DATABASE_URL -u REDIS_URL $PY -m pytest -m "not e2e and not services" "$@" || status=1

echo
[ $status = 0 ] && echo "ALL TEST RUNS PASSED" || echo "SOME TEST RUNS FAILED"
exit $status
