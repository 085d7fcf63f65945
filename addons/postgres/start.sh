#!/bin/sh
# Start the add-on's PostgreSQL, making its cluster on first start: the
# superuser `paas` with the password the platform generated
# (PAAS_ADDON_PASSWORD, read once here), a database `paas`, password
# (SCRAM) logins from the network and trusted ones on the socket inside.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$PAAS_ADDON_PASSWORD" > "$pwfile"
    initdb -D "$PGDATA" -U paas --pwfile="$pwfile" -E UTF8 --no-locale \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    echo "CREATE DATABASE paas" | postgres --single -D "$PGDATA" postgres >/dev/null
    echo "paas-postgres: made a new database cluster"
fi
unset PAAS_ADDON_PASSWORD
exec postgres -D "$PGDATA" -c listen_addresses='*' -c "shared_buffers=${PAAS_SHARED_BUFFERS:-128MB}" \
    -c "max_connections=${PAAS_MAX_CONNECTIONS:-100}"
