#!/usr/bin/env bash
# The whole suite: once on PostgreSQL+pgvector+Redis (the production shape), then the
# model/service tests once more on the embedded default (SQLite, in-memory layer, eager Celery).
# The three runs are independent (own test database, own Redis database), so they run side by side: most tests
# wait on sockets, workers and the browser, and two cores are then busy instead of one.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export PYTHONUNBUFFERED=1
status=0
step() { echo; echo "==== $*"; }

logs=$(mktemp -d)
scripts/services.sh start || exit 1
trap 'scripts/services.sh stop; rm -rf "$logs"' EXIT
eval "$(scripts/services.sh env)"

step "lint (ruff) and import layers"
.venv/bin/ruff check . || status=1
.venv/bin/ruff format --check . || status=1
$PY scripts/check_imports.py || status=1

step "migrations are up to date"
$PY manage.py makemigrations --check --dry-run || status=1

base_db=${DATABASE_URL%/*}
redis_base=${REDIS_URL%/*}
run() {  # run NAME ENV... -- PYTEST ARGS: one pytest run in the background, its output in $logs/NAME
  local name=$1; shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  (env "${envs[@]}" $PY -m pytest "$@" > "$logs/$name" 2>&1; echo $? > "$logs/$name.rc") &
}
# The fault tests kill and restart processes and fill the machine: they run alone, after the others.
SERIAL=(tests/test_faults.py tests/test_faults_postgres.py tests/test_make_run.py)
run postgres DATABASE_URL="$base_db/engram" REDIS_URL="$redis_base/0" -- -m "not e2e" "${SERIAL[@]/#/--ignore=}" "$@"
run browser DATABASE_URL="$base_db/engram_e2e" REDIS_URL="$redis_base/1" -- -m e2e "$@"
run sqlite -u DATABASE_URL -u REDIS_URL TEST_DATABASE_NAME="$logs/test.sqlite3" -- -m "not e2e and not services" "$@"
wait
run faults DATABASE_URL="$base_db/engram_faults" REDIS_URL="$redis_base/2" -- -m "not e2e" "${SERIAL[@]}" "$@"
wait

for name in postgres browser sqlite faults; do
  case $name in
    postgres) step "PostgreSQL + pgvector + Redis: unit, API, worker and fault tests" ;;
    browser) step "PostgreSQL + pgvector + Redis: browser tests" ;;
    sqlite) step "embedded default (SQLite, in-memory channel layer, eager Celery)" ;;
    faults) step "PostgreSQL + Redis: fault tests (processes killed and restarted), alone" ;;
  esac
  cat "$logs/$name"
  rc=$(cat "$logs/$name.rc")
  [ "$rc" = 0 ] || { [ "$name" = browser ] && [ "$rc" = 5 ]; } || status=1
done

echo
[ $status = 0 ] && echo "ALL TEST RUNS PASSED" || echo "SOME TEST RUNS FAILED"
exit $status
