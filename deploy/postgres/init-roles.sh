#!/usr/bin/env bash
# Runs once, when the postgres service initialises an empty cluster (docker-entrypoint-initdb.d).
# Roles (docs/operations.md "Database roles"):
#   exchange_owner  owns the hub's database; migrations run as it (EXCHANGE_DATABASE_ADMIN_URL)
#   exchange_app    the hub workers (EXCHANGE_DATABASE_URL); `exchange db upgrade` grants it what it needs:
#                   it may append to the audit log, never UPDATE, DELETE or TRUNCATE it
#   airflow         owns Airflow's own metadata database
set -euo pipefail
owner=$(cat /run/secrets/owner_password)
hub=$(cat /run/secrets/hub_password)
airflow=$(cat /run/secrets/airflow_password)
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v owner="$owner" -v hub="$hub" -v airflow="$airflow" <<'SQL'
CREATE ROLE exchange_owner LOGIN NOSUPERUSER NOCREATEROLE PASSWORD :'owner';
CREATE ROLE exchange_app LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB PASSWORD :'hub';
CREATE ROLE airflow LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB PASSWORD :'airflow';
CREATE DATABASE exchange OWNER exchange_owner ENCODING 'UTF8';
CREATE DATABASE airflow OWNER airflow ENCODING 'UTF8';
REVOKE ALL ON DATABASE exchange FROM PUBLIC;
GRANT CONNECT ON DATABASE exchange TO exchange_app;
SQL
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname exchange <<'SQL'
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO exchange_owner;
GRANT USAGE ON SCHEMA public TO exchange_app;
SQL
