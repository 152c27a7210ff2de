#!/bin/sh
# Run by the postgres image once, when its data directory is empty: creates
# the pgherd demo (deploy/compose/demo.sql, generated from internal/demo)
# with every login role's password set to $PGHERD_DEMO_PASSWORD.
set -eu
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  -v demo_password="${PGHERD_DEMO_PASSWORD:?set PGHERD_DEMO_PASSWORD}" -f /pgherd/demo.sql
