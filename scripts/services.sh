#!/usr/bin/env bash
# Install and start the system services the tests and the demo need. Idempotent and quick when
# everything is in place (a few checks, no apt call). See docs/stac_api.md.
#
# The STAC API (ecocube catalog serve) is pgstac on PostgreSQL/PostGIS, served by `rustac serve`:
#   1. Debian packages postgresql-$PG_MAJOR and postgresql-$PG_MAJOR-postgis-3 (apt, root only,
#      and only when missing);
#   2. the cluster "main" is started when it is down (created first if it does not exist);
#   3. a loopback role "ecocube" (password "ecocube", allowed to create databases and the
#      postgis extension) is created when missing: every served catalog gets its own temporary
#      database, dropped when the server stops;
#   4. the Python packages pypgstac[psycopg] and cql2 are installed into the venv when missing
#      (normally pyproject.toml already brings them).
# Environment: PG_MAJOR (default 15, Debian 12), VENV (default .venv), ECOCUBE_SKIP_SERVICES=1
# to do nothing (for machines where ECOCUBE_PGSTAC_DSN points at an existing server).
set -euo pipefail

PG_MAJOR="${PG_MAJOR:-15}"
VENV="${VENV:-.venv}"
ROLE=ecocube

log() { echo "services: $*"; }

if [[ "${ECOCUBE_SKIP_SERVICES:-0}" == "1" ]]; then
  log "ECOCUBE_SKIP_SERVICES=1, nothing to do"
  exit 0
fi

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else
    log "need root for: $*; run this script as root (sudo bash scripts/services.sh)"; return 1; fi
}

as_postgres() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else sudo -n -u postgres "$@"; fi
}

# 1. Packages (apt only when something is missing).
need=()
for pkg in "postgresql-${PG_MAJOR}" "postgresql-${PG_MAJOR}-postgis-3"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if ((${#need[@]})); then
  log "installing ${need[*]} (apt)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
fi

# 2. Cluster up.
if ! pg_lsclusters -h 2>/dev/null | awk -v v="$PG_MAJOR" '$1==v && $2=="main"' | grep -q .; then
  log "creating cluster ${PG_MAJOR}/main"
  as_root pg_createcluster "$PG_MAJOR" main
fi
if ! pg_lsclusters -h | awk -v v="$PG_MAJOR" '$1==v && $2=="main" {print $4}' | grep -q online; then
  log "starting PostgreSQL ${PG_MAJOR}/main"
  as_root pg_ctlcluster "$PG_MAJOR" main start
fi
port=$(pg_lsclusters -h | awk -v v="$PG_MAJOR" '$1==v && $2=="main" {print $3}')
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p "$port" && break
  sleep 1
done
pg_isready -q -h 127.0.0.1 -p "$port" || { log "PostgreSQL does not answer on port $port"; exit 1; }

# 3. Role for pgstac (superuser on the loopback-only cluster: pgstac creates extensions/roles).
if ! as_postgres psql -p "$port" -tAc "SELECT 1 FROM pg_roles WHERE rolname='${ROLE}'" | grep -q 1; then
  log "creating role ${ROLE}"
  as_postgres psql -p "$port" -q -c "CREATE ROLE ${ROLE} LOGIN SUPERUSER PASSWORD '${ROLE}'"
fi

# 4. Python clients (only when missing from the venv).
if [[ -x "$VENV/bin/python" ]] && ! "$VENV/bin/python" -c "import pypgstac, psycopg, cql2" 2>/dev/null; then
  log "installing pypgstac[psycopg] and cql2 into $VENV"
  "$VENV/bin/python" -m pip install -q "pypgstac[psycopg]>=0.10,<0.11" "cql2>=0.3"
fi

log "PostgreSQL ${PG_MAJOR} + PostGIS ready on 127.0.0.1:${port} (role ${ROLE})"
