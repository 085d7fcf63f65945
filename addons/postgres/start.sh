#!/bin/sh
# Start the add-on's PostgreSQL, making its cluster on first start: the
# superuser `paas` with the password the platform generated
# (PAAS_ADDON_PASSWORD, read once here), a database `paas`, password
# (SCRAM) logins from the network and trusted ones on the socket inside, and
# a self-signed certificate of its own, so clients that require TLS (as
# Heroku's apps do: sslmode=require) connect too.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$PAAS_ADDON_PASSWORD" > "$pwfile"
    initdb -D "$PGDATA" -U paas --pwfile="$pwfile" -E UTF8 --no-locale \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    echo "CREATE DATABASE paas" | postgres --single -D "$PGDATA" postgres >/dev/null
    openssl req -new -x509 -days 3650 -nodes -subj "/CN=$(hostname)" \
        -keyout "$PGDATA/server.key" -out "$PGDATA/server.crt" 2>/dev/null
    chmod 600 "$PGDATA/server.key"
    echo "paas-postgres: made a new database cluster"
fi
unset PAAS_ADDON_PASSWORD
# A stop (SIGTERM) becomes PostgreSQL's fast shutdown (SIGINT): connected
# apps are disconnected and the data is checkpointed, rather than waiting
# for every client to leave until the platform's grace runs out.
ssl=off
[ -s "$PGDATA/server.key" ] && ssl=on
postgres -D "$PGDATA" -c listen_addresses='*' -c "ssl=$ssl" -c "shared_buffers=${PAAS_SHARED_BUFFERS:-128MB}" \
    -c "max_connections=${PAAS_MAX_CONNECTIONS:-100}" &
pid=$!
trap 'kill -INT "$pid"' TERM INT
status=0
wait "$pid" || status=$?
# A trapped signal ends the first wait early: wait for the shutdown itself.
if kill -0 "$pid" 2>/dev/null; then
    wait "$pid" || status=$?
fi
exit "$status"
