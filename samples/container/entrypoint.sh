#!/bin/sh
# Entrypoint of an application container with Ferry: restore on boot, then run the application under
# `ferry replicate --exec`, which forwards SIGINT/SIGTERM to it and ships its last commits when it exits.
#
#   DB           the application's database, e.g. /data/app.db (its directory must exist)
#   REPLICA_URL  where Ferry keeps the replica: a directory, file:///dir or s3://bucket/prefix
#   FERRY        how to run ferry (default: ferry); may be a command with arguments, e.g. "dotnet /opt/ferry/ferry.dll"
#   the arguments, or APP when there are none: the application's command line
#
# Boots:  the database is there (the volume survived)   -> nothing restored, the application starts on it
#         no database, and storage holds a replica      -> restored, then the application starts on it
#         no database, no replica (a new application)   -> nothing restored, the application creates it
# Storage that can't be reached fails the boot (exit non-zero) rather than starting an empty database.
set -eu

: "${DB:?set DB to the database path, e.g. /data/app.db}"
: "${REPLICA_URL:?set REPLICA_URL to the replica, e.g. s3://bucket/app}"
FERRY=${FERRY:-ferry}

# The application's command line for --exec, each argument single-quoted so that spaces and quotes survive.
if [ "$#" -gt 0 ]; then
    APP=
    for arg in "$@"; do
        APP="${APP:+$APP }'$(printf '%s' "$arg" | sed "s/'/'\\\\''/g")'"
    done
fi
: "${APP:?give the application as arguments or in APP}"

# shellcheck disable=SC2086 # FERRY may be a command with arguments.
$FERRY restore --if-db-not-exists --if-replica-exists -o "$DB" --from "$REPLICA_URL"
# shellcheck disable=SC2086
exec $FERRY replicate "$DB" --to "$REPLICA_URL" --exec "$APP"
