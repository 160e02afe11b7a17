#!/usr/bin/env bash
# Start the real servers that tests/test_checks_services.py talks to: Redis and PostgreSQL.
#
#   bash .ci/services.sh
#
# Run it as root on Debian 12 (it installs with apt-get and runs PostgreSQL as the postgres
# user). It is idempotent: packages already installed are not reinstalled, a server already
# answering is left alone, the test role and database are created once and the role's password
# is reset to the known one on every run. Safe to run twice, or before every test run.
#
# What it leaves running (daemonized, so it outlives this script):
#   - redis-server on 127.0.0.1:6379, no persistence, log in /tmp/flask-status-redis.log
#   - a PostgreSQL cluster on 127.0.0.1:5432 (Debian's cluster on that port, e.g. 15/main)
#     with role "status" (password "status-secret") owning database "status_test"
#
# It exports nothing. The tests read these variables and fall back to exactly these defaults:
#   FLASK_STATUS_TEST_REDIS_URL     redis://127.0.0.1:6379/0
#   FLASK_STATUS_TEST_POSTGRES_URL  postgresql+psycopg://status:status-secret@127.0.0.1:5432/status_test
# A test whose server does not answer is skipped, unless CI=true, where it fails.
set -euo pipefail

REDIS_HOST=127.0.0.1
REDIS_PORT=6379
PG_HOST=127.0.0.1
PG_PORT=5432
PG_ROLE=status
PG_PASSWORD=status-secret
PG_DATABASE=status_test
WAIT_SECONDS=30

log() { printf 'services.sh: %s\n' "$*" >&2; }

pg_bindir() {
    # The newest installed PostgreSQL server's bin directory, if any.
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -n "$dir" && -x "$dir/pg_ctl" ]]; then
        printf '%s\n' "$dir"
    fi
}

# --- install what is missing -------------------------------------------------------------------
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
{ [[ -n "$(pg_bindir)" ]] && command -v psql >/dev/null 2>&1 && command -v pg_isready >/dev/null 2>&1; } \
    || missing+=(postgresql)
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends redis-server postgresql
fi

# --- Redis -------------------------------------------------------------------------------------
redis_up() { [[ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null || true)" == PONG ]]; }

if redis_up; then
    log "redis already answers on $REDIS_HOST:$REDIS_PORT"
else
    log "starting redis-server on $REDIS_HOST:$REDIS_PORT"
    redis-server --daemonize yes --bind "$REDIS_HOST" --port "$REDIS_PORT" \
        --save '' --appendonly no --dir /tmp \
        --pidfile /tmp/flask-status-redis.pid --logfile /tmp/flask-status-redis.log
fi

# --- PostgreSQL --------------------------------------------------------------------------------
pg_up() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" >/dev/null 2>&1; }

if pg_up; then
    log "postgresql already answers on $PG_HOST:$PG_PORT"
elif command -v pg_ctlcluster >/dev/null 2>&1; then
    # Debian's wrapper: use the cluster configured for the port, creating one if there is none.
    cluster=$(pg_lsclusters -h 2>/dev/null | awk -v port="$PG_PORT" '$3 == port { print $1 " " $2; exit }')
    if [[ -z "$cluster" ]]; then
        version=$(basename "$(dirname "$(pg_bindir)")")
        log "creating PostgreSQL $version cluster 'main' on port $PG_PORT"
        pg_createcluster "$version" main --port "$PG_PORT" >/dev/null
        cluster="$version main"
    fi
    log "starting PostgreSQL cluster $cluster"
    # shellcheck disable=SC2086 # "VERSION NAME" splits into two arguments on purpose
    pg_ctlcluster $cluster start || pg_up  # "already running" is fine if it answers
else
    # No Debian wrapper: a private data directory owned by postgres, started with pg_ctl.
    bindir=$(pg_bindir)
    datadir=/var/tmp/flask-status-postgres
    if [[ ! -s "$datadir/PG_VERSION" ]]; then
        log "initdb $datadir"
        install -d -o postgres -g postgres -m 0700 "$datadir"
        runuser -u postgres -- "$bindir/initdb" -D "$datadir" -U postgres \
            --auth-local=peer --auth-host=scram-sha-256 >/dev/null
    fi
    log "starting postgres from $datadir"
    runuser -u postgres -- "$bindir/pg_ctl" -D "$datadir" -l "$datadir/server.log" -w \
        -o "-c listen_addresses=$PG_HOST -p $PG_PORT -k /tmp" start
fi

# --- wait until both answer --------------------------------------------------------------------
deadline=$((SECONDS + WAIT_SECONDS))
until redis_up && pg_up; do
    if ((SECONDS >= deadline)); then
        redis_up || log "redis does not answer on $REDIS_HOST:$REDIS_PORT after ${WAIT_SECONDS}s"
        pg_up || log "postgresql does not answer on $PG_HOST:$PG_PORT after ${WAIT_SECONDS}s"
        exit 1
    fi
    sleep 0.5
done

# --- the test role and database ----------------------------------------------------------------
# Over TCP as the superuser would need a password; the local socket with peer auth does not.
psql_admin() {
    local socket_dir=/var/run/postgresql
    [[ -S "$socket_dir/.s.PGSQL.$PG_PORT" ]] || socket_dir=/tmp
    runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -h "$socket_dir" -p "$PG_PORT" -d postgres "$@"
}

psql_admin <<SQL
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') THEN
        CREATE ROLE $PG_ROLE LOGIN PASSWORD '$PG_PASSWORD';
    ELSE
        ALTER ROLE $PG_ROLE LOGIN PASSWORD '$PG_PASSWORD';
    END IF;
END
\$\$;
SQL
if [[ "$(psql_admin -tA -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'")" != 1 ]]; then
    log "creating database $PG_DATABASE"
    psql_admin -c "CREATE DATABASE $PG_DATABASE OWNER $PG_ROLE"
fi

# Prove the credentials the tests use work over TCP.
PGPASSWORD="$PG_PASSWORD" psql -X -q -h "$PG_HOST" -p "$PG_PORT" -U "$PG_ROLE" -d "$PG_DATABASE" \
    -tA -c 'SELECT 1' >/dev/null
log "ready: redis://$REDIS_HOST:$REDIS_PORT/0 and postgresql://$PG_ROLE:***@$PG_HOST:$PG_PORT/$PG_DATABASE"
