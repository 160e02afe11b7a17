#!/usr/bin/env bash
# Start the real servers that tests/test_checks_services.py and tests/test_checks_brokers.py talk
# to: Redis, PostgreSQL, RabbitMQ, memcached and MariaDB.
#
#   bash .ci/services.sh
#
# Run it as root on Debian 12 (it installs with apt-get and runs PostgreSQL, RabbitMQ, memcached
# and MariaDB as their own users). It is idempotent: packages already installed are not
# reinstalled, a server already answering is left alone, the test users, vhost and databases
# are created once and their passwords are reset to the known one on every run. Safe to run
# twice, or before every test run.
#
# What it leaves running (daemonized, so it outlives this script), every one on loopback only:
#   - redis-server on 127.0.0.1:6379, no persistence, log in /tmp/flask-status-redis.log
#   - a PostgreSQL cluster on 127.0.0.1:5432 (Debian's cluster on that port, e.g. 15/main)
#     with role "status" (password "status-secret") owning database "status_test"
#   - rabbitmq-server (node rabbit@localhost) with AMQP on 127.0.0.1:5672, its Erlang
#     distribution port and epmd on 127.0.0.1 too, no plugins; user "status" (password
#     "status-secret") with every permission on vhost "status_test"; logs in /var/log/rabbitmq.
#     Its CLI needs the node name: RABBITMQ_NODENAME=rabbit@localhost rabbitmqctl status
#   - memcached on 127.0.0.1:11211 (TCP only, 64 MB), startup errors in /tmp/flask-status-memcached.log
#   - MariaDB on 127.0.0.1:3306 (Debian's data directory /var/lib/mysql) with user "status"
#     (password "status-secret") owning database "status_test"; log in
#     /tmp/flask-status-mariadb.log
#
# It exports nothing. The tests read these variables and fall back to exactly these defaults:
#   FLASK_STATUS_TEST_REDIS_URL     redis://127.0.0.1:6379/0
#   FLASK_STATUS_TEST_POSTGRES_URL  postgresql+psycopg://status:status-secret@127.0.0.1:5432/status_test
#   FLASK_STATUS_TEST_RABBITMQ_URL  amqp://status:status-secret@127.0.0.1:5672/status_test
#   FLASK_STATUS_TEST_MEMCACHED     127.0.0.1:11211
#   FLASK_STATUS_TEST_MYSQL_URL     mysql+pymysql://status:status-secret@127.0.0.1:3306/status_test
# A test whose server does not answer is skipped, unless CI=true, where it fails.
# (SMTP needs no server here: tests/test_checks_brokers.py starts aiosmtpd itself.)
set -euo pipefail

REDIS_HOST=127.0.0.1
REDIS_PORT=6379
PG_HOST=127.0.0.1
PG_PORT=5432
PG_ROLE=status
PG_PASSWORD=status-secret
PG_DATABASE=status_test
RABBITMQ_HOST=127.0.0.1
RABBITMQ_PORT=5672
RABBITMQ_USER=status
RABBITMQ_PASSWORD=status-secret
RABBITMQ_VHOST=status_test
MEMCACHED_HOST=127.0.0.1
MEMCACHED_PORT=11211
MYSQL_HOST=127.0.0.1
MYSQL_PORT=3306
MYSQL_USER=status
MYSQL_PASSWORD=status-secret
MYSQL_DATABASE=status_test
WAIT_SECONDS=30
RABBITMQ_WAIT_SECONDS=90  # Erlang boots slowly on a cold machine

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
[[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] || missing+=(rabbitmq-server)
command -v memcached >/dev/null 2>&1 || missing+=(memcached)
{ command -v mariadbd >/dev/null 2>&1 && command -v mariadb >/dev/null 2>&1; } || missing+=(mariadb-server)
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    # Debian's own init scripts do not start them here (policy-rc.d, or no init at all): this
    # script starts each server itself, on loopback.
    apt-get install -y --no-install-recommends "${missing[@]}"
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

# --- RabbitMQ ----------------------------------------------------------------------------------
# A fixed node name (not rabbit@$(hostname), which may not resolve on a CI runner); AMQP, the
# distribution port and epmd on loopback; CLI tools (short-lived Erlang nodes) on loopback too.
# runuser drops root: the server and its CLI run as rabbitmq, with its home and Erlang cookie.
rabbitmq() {
    local tool=$1
    shift
    runuser -u rabbitmq -- env HOME=/var/lib/rabbitmq \
        RABBITMQ_NODENAME=rabbit@localhost \
        RABBITMQ_NODE_IP_ADDRESS="$RABBITMQ_HOST" RABBITMQ_NODE_PORT="$RABBITMQ_PORT" \
        ERL_EPMD_ADDRESS=127.0.0.1 \
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
        RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
        "/usr/lib/rabbitmq/bin/$tool" "$@"
}

# Answers: the AMQP 0-9-1 protocol header gets a frame back (type 1, the Connection.Start method).
rabbitmq_up() {
    [[ "$(timeout 3 bash -c "exec 3<>/dev/tcp/$RABBITMQ_HOST/$RABBITMQ_PORT && printf 'AMQP\\0\\0\\11\\1' >&3 \
        && head -c 1 <&3 | od -An -tx1" 2>/dev/null | tr -d ' ' || true)" == 01 ]]
}

if rabbitmq_up; then
    log "rabbitmq already answers on $RABBITMQ_HOST:$RABBITMQ_PORT"
else
    log "starting rabbitmq-server on $RABBITMQ_HOST:$RABBITMQ_PORT"
    install -d -o rabbitmq -g rabbitmq /var/log/rabbitmq /var/lib/rabbitmq
    (cd /var/lib/rabbitmq && rabbitmq rabbitmq-server -detached)
fi

# --- memcached ---------------------------------------------------------------------------------
# Answers: "version" gets "VERSION x.y.z".
memcached_up() {
    [[ "$(timeout 3 bash -c "exec 3<>/dev/tcp/$MEMCACHED_HOST/$MEMCACHED_PORT && printf 'version\\r\\n' >&3 \
        && head -c 8 <&3" 2>/dev/null || true)" == "VERSION " ]]
}

if memcached_up; then
    log "memcached already answers on $MEMCACHED_HOST:$MEMCACHED_PORT"
else
    log "starting memcached on $MEMCACHED_HOST:$MEMCACHED_PORT"
    memcached -d -u memcache -l "$MEMCACHED_HOST" -p "$MEMCACHED_PORT" -U 0 -m 64 \
        -P /tmp/flask-status-memcached.pid >>/tmp/flask-status-memcached.log 2>&1
fi

# --- MariaDB -----------------------------------------------------------------------------------
# Answers: mariadb-admin ping exits 0 once the server answers, even with "Access denied".
mysql_up() {
    mariadb-admin --no-defaults --protocol=tcp -h "$MYSQL_HOST" -P "$MYSQL_PORT" --connect-timeout=2 -u nobody \
        ping >/dev/null 2>&1
}

if mysql_up; then
    log "mariadb already answers on $MYSQL_HOST:$MYSQL_PORT"
else
    if [[ ! -d /var/lib/mysql/mysql ]]; then
        log "mariadb-install-db /var/lib/mysql"
        mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
    fi
    log "starting mariadb on $MYSQL_HOST:$MYSQL_PORT"
    install -d -o mysql -g root -m 0755 /run/mysqld
    touch /tmp/flask-status-mariadb.log && chown mysql /tmp/flask-status-mariadb.log
    # mariadbd does not daemonize itself: a session of its own, so it outlives this script.
    setsid mariadbd --user=mysql --datadir=/var/lib/mysql --bind-address="$MYSQL_HOST" --port="$MYSQL_PORT" \
        --socket=/run/mysqld/mysqld.sock --pid-file=/run/mysqld/mysqld.pid \
        --log-error=/tmp/flask-status-mariadb.log </dev/null >/dev/null 2>&1 &
fi

# --- wait until all answer ---------------------------------------------------------------------
deadline=$((SECONDS + WAIT_SECONDS))
until redis_up && pg_up && memcached_up && mysql_up; do
    if ((SECONDS >= deadline)); then
        redis_up || log "redis does not answer on $REDIS_HOST:$REDIS_PORT after ${WAIT_SECONDS}s"
        pg_up || log "postgresql does not answer on $PG_HOST:$PG_PORT after ${WAIT_SECONDS}s"
        memcached_up || log "memcached does not answer on $MEMCACHED_HOST:$MEMCACHED_PORT after ${WAIT_SECONDS}s"
        mysql_up || log "mariadb does not answer on $MYSQL_HOST:$MYSQL_PORT after ${WAIT_SECONDS}s" \
            "(see /tmp/flask-status-mariadb.log)"
        exit 1
    fi
    sleep 0.5
done
deadline=$((SECONDS + RABBITMQ_WAIT_SECONDS))
until rabbitmq_up; do
    if ((SECONDS >= deadline)); then
        log "rabbitmq does not answer on $RABBITMQ_HOST:$RABBITMQ_PORT after ${RABBITMQ_WAIT_SECONDS}s" \
            "(see /var/log/rabbitmq)"
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

# --- the RabbitMQ user and vhost ---------------------------------------------------------------
rabbitmq rabbitmqctl -q await_startup --timeout "$RABBITMQ_WAIT_SECONDS" >/dev/null
if ! rabbitmq rabbitmqctl -q list_vhosts --no-table-headers 2>/dev/null | grep -qx "$RABBITMQ_VHOST"; then
    log "creating rabbitmq vhost $RABBITMQ_VHOST"
    rabbitmq rabbitmqctl -q add_vhost "$RABBITMQ_VHOST" >/dev/null
fi
if rabbitmq rabbitmqctl -q list_users --no-table-headers 2>/dev/null | cut -f1 | grep -qx "$RABBITMQ_USER"; then
    rabbitmq rabbitmqctl -q change_password "$RABBITMQ_USER" "$RABBITMQ_PASSWORD" >/dev/null
else
    log "creating rabbitmq user $RABBITMQ_USER"
    rabbitmq rabbitmqctl -q add_user "$RABBITMQ_USER" "$RABBITMQ_PASSWORD" >/dev/null
fi
rabbitmq rabbitmqctl -q set_permissions -p "$RABBITMQ_VHOST" "$RABBITMQ_USER" '.*' '.*' '.*' >/dev/null
# Prove the credentials the tests use work (the node checks them as an AMQP login would).
rabbitmq rabbitmqctl -q authenticate_user "$RABBITMQ_USER" "$RABBITMQ_PASSWORD" >/dev/null

# --- the MariaDB user and database -------------------------------------------------------------
# As root over the local socket: Debian's root@localhost logs in by unix_socket, no password.
mariadb --protocol=socket -S /run/mysqld/mysqld.sock -u root <<SQL
CREATE DATABASE IF NOT EXISTS $MYSQL_DATABASE;
CREATE USER IF NOT EXISTS '$MYSQL_USER'@'localhost' IDENTIFIED BY '$MYSQL_PASSWORD';
CREATE USER IF NOT EXISTS '$MYSQL_USER'@'127.0.0.1' IDENTIFIED BY '$MYSQL_PASSWORD';
ALTER USER '$MYSQL_USER'@'localhost' IDENTIFIED BY '$MYSQL_PASSWORD';
ALTER USER '$MYSQL_USER'@'127.0.0.1' IDENTIFIED BY '$MYSQL_PASSWORD';
GRANT ALL PRIVILEGES ON $MYSQL_DATABASE.* TO '$MYSQL_USER'@'localhost';
GRANT ALL PRIVILEGES ON $MYSQL_DATABASE.* TO '$MYSQL_USER'@'127.0.0.1';
SQL
# Prove the credentials the tests use work over TCP.
MYSQL_PWD="$MYSQL_PASSWORD" mariadb --protocol=tcp -h "$MYSQL_HOST" -P "$MYSQL_PORT" -u "$MYSQL_USER" \
    -D "$MYSQL_DATABASE" -N -e 'SELECT 1' >/dev/null

log "ready: redis://$REDIS_HOST:$REDIS_PORT/0, postgresql://$PG_ROLE:***@$PG_HOST:$PG_PORT/$PG_DATABASE," \
    "amqp://$RABBITMQ_USER:***@$RABBITMQ_HOST:$RABBITMQ_PORT/$RABBITMQ_VHOST, memcached $MEMCACHED_HOST:$MEMCACHED_PORT" \
    "and mysql://$MYSQL_USER:***@$MYSQL_HOST:$MYSQL_PORT/$MYSQL_DATABASE"
