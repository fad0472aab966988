#!/usr/bin/env bash
# Install and start the system services the tests and the demo need. Idempotent and quick when
# everything is in place (a few checks, no apt call). See docs/stac_api.md.
#
# The STAC API (ecocube catalog serve) is pgstac on PostgreSQL/PostGIS, served by `rustac serve`:
#   1. Debian packages postgresql-$PG_MAJOR and postgresql-$PG_MAJOR-postgis-3 (apt, root only,
#      and only when missing);
#   2. the cluster is started when it is down (created first if it does not exist);
#   3. a role "ecocube" that is NOT a superuser: it may create databases and owns only its own.
#      It has no password and logs in only through the local Unix socket, as the user who ran
#      this script (peer authentication, pg_ident map "ecocube"). Its DSN goes to a file only
#      that user can read ($ECOCUBE_PGSTAC_DSN_FILE, default ~/.config/ecocube/pgstac.dsn, mode
#      0600), which `ecocube catalog serve` reads. A role left by an older version of this
#      script (SUPERUSER, password "ecocube") is demoted and loses its password;
#   4. the Python packages pypgstac[psycopg] and cql2 are installed into the venv when missing
#      (normally pyproject.toml already brings them);
#   5. what needs the admin, once: the pgstac roles, and a template database with PostGIS and
#      the pgstac schema of the venv's pypgstac version, which every served catalog copies.
# Environment: PG_MAJOR (default 15, Debian 12), PG_CLUSTER (default main), VENV (default .venv),
# ECOCUBE_PGSTAC_DSN_FILE, ECOCUBE_SKIP_SERVICES=1 to do nothing (for machines where
# ECOCUBE_PGSTAC_DSN points at an existing server).
set -euo pipefail

PG_MAJOR="${PG_MAJOR:-15}"
PG_CLUSTER="${PG_CLUSTER:-main}"
VENV="${VENV:-.venv}"
ROLE=ecocube
TEMPLATE_DB=ecocube_pgstac_template
PGSTAC_ROLES=(pgstac_admin pgstac_ingest pgstac_read)

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
cluster() { pg_lsclusters -h 2>/dev/null | awk -v v="$PG_MAJOR" -v c="$PG_CLUSTER" '$1==v && $2==c'; }
if ! cluster | grep -q .; then
  log "creating cluster ${PG_MAJOR}/${PG_CLUSTER}"
  as_root pg_createcluster "$PG_MAJOR" "$PG_CLUSTER"
fi
if ! cluster | awk '{print $4}' | grep -q online; then
  log "starting PostgreSQL ${PG_MAJOR}/${PG_CLUSTER}"
  as_root pg_ctlcluster "$PG_MAJOR" "$PG_CLUSTER" start
fi
port=$(cluster | awk '{print $3}')
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p "$port" && break
  sleep 1
done
pg_isready -q -h 127.0.0.1 -p "$port" || { log "PostgreSQL does not answer on port $port"; exit 1; }

# SQL as the cluster admin (peer authentication on the local socket).
admin_sql() {
  as_postgres env PGOPTIONS="--client-min-messages=warning" \
    psql -p "$port" -X -q -tA -v ON_ERROR_STOP=1 "$@"
}

# 3. The role: not a superuser, allowed to create databases (it owns only its own), with no
#    password. It logs in only through the local Unix socket, as the operating-system user
#    who runs this script (peer authentication with a pg_ident map), so no secret is needed
#    anywhere (rustac would show a password on its command line). Its DSN goes to a file only
#    that user can read.
user="${SUDO_USER:-$(id -un)}"
home=$(getent passwd "$user" | cut -d: -f6)
if [[ -n "${SUDO_USER:-}" ]]; then config="$home/.config"; else config="${XDG_CONFIG_HOME:-$home/.config}"; fi
dsn_file="${ECOCUBE_PGSTAC_DSN_FILE:-$config/ecocube/pgstac.dsn}"

super=$(admin_sql -d postgres -c "SELECT rolsuper FROM pg_roles WHERE rolname='${ROLE}'")
if [[ -z "$super" ]]; then
  log "creating role ${ROLE} (not a superuser; may create databases; no password)"
  admin_sql -d postgres -c "CREATE ROLE ${ROLE} LOGIN"
elif [[ "$super" == "t" ]]; then
  log "role ${ROLE} is a superuser with a known password (older setup): demoting it"
fi
admin_sql -d postgres -c "ALTER ROLE ${ROLE} LOGIN NOSUPERUSER CREATEDB NOCREATEROLE \
  NOREPLICATION NOBYPASSRLS PASSWORD NULL"

hba=$(admin_sql -d postgres -c "SHOW hba_file")
ident=$(admin_sql -d postgres -c "SHOW ident_file")
socket_dir=$(admin_sql -d postgres -c "SHOW unix_socket_directories" | cut -d, -f1 | tr -d ' ')
reload=0
if ! as_root grep -qE "^local[[:space:]]+all[[:space:]]+${ROLE}[[:space:]]+peer[[:space:]]+map=${ROLE}" "$hba"; then
  log "peer authentication for ${ROLE} on the local socket (${hba})"
  # before the generic `local all all` rules: the first matching line decides
  as_root sed -i "0,/^local[[:space:]]/s//local   all             ${ROLE}                                 peer map=${ROLE}\n&/" "$hba"
  reload=1
fi
if ! as_root grep -qE "^${ROLE}[[:space:]]+${user}[[:space:]]+${ROLE}[[:space:]]*$" "$ident"; then
  log "operating-system user ${user} may log in as ${ROLE} (${ident})"
  printf '%-15s %-23s %s\n' "$ROLE" "$user" "$ROLE" | as_root tee -a "$ident" >/dev/null
  reload=1
fi
if ((reload)); then admin_sql -d postgres -c "SELECT pg_reload_conf()" >/dev/null; fi

socket_host=$(printf '%s' "$socket_dir" | sed 's#/#%2F#g')
dsn="postgresql://${ROLE}@${socket_host}:${port}/postgres"
if [[ ! -f "$dsn_file" || "$(cat "$dsn_file")" != "$dsn" ]]; then
  log "writing the DSN of ${ROLE} to ${dsn_file} (mode 0600)"
  (
    umask 077
    mkdir -p "$(dirname "$dsn_file")"
    printf '%s\n' "$dsn" >"${dsn_file}.tmp-$$"
    mv -f "${dsn_file}.tmp-$$" "$dsn_file"
  )
  if [[ "$user" != "$(id -un)" ]]; then chown "$user" "$dsn_file" "$(dirname "$dsn_file")"; fi
fi
chmod 600 "$dsn_file"

# 4. Python clients (only when missing from the venv).
if [[ -x "$VENV/bin/python" ]] && ! "$VENV/bin/python" -c "import pypgstac, psycopg, cql2" 2>/dev/null; then
  log "installing pypgstac[psycopg] and cql2 into $VENV"
  "$VENV/bin/python" -m pip install -q "pypgstac[psycopg]>=0.10,<0.11" "cql2>=0.3"
fi

# 5. pgstac roles, and the template database every served catalog is copied from: creating
#    PostGIS and roles needs the admin, so the role above never needs to be a superuser.
for r in "${PGSTAC_ROLES[@]}"; do
  if [[ -z $(admin_sql -d postgres -c "SELECT 1 FROM pg_roles WHERE rolname='${r}'") ]]; then
    admin_sql -d postgres -c "CREATE ROLE ${r} NOLOGIN"
  fi
  admin_sql -d postgres -c "ALTER ROLE ${r} SET search_path TO pgstac, public"
done
admin_sql -d postgres -c "GRANT $(IFS=,; echo "${PGSTAC_ROLES[*]}") TO ${ROLE}"

if [[ ! -x "$VENV/bin/python" ]]; then
  log "no venv at $VENV yet: the pgstac template database is made on the next run"
else
  version=$("$VENV/bin/python" -c "import pypgstac; print(pypgstac.__version__)")
  sql=$("$VENV/bin/python" -c "import os, pypgstac.migrate as m; print(os.path.join(m.migrations_dir, 'pgstac.${version}.sql'))")
  have=$(admin_sql -d postgres -c \
    "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname='${TEMPLATE_DB}' AND datistemplate")
  if [[ "$have" != "pgstac ${version}" ]]; then
    log "creating the template database ${TEMPLATE_DB} (PostGIS + pgstac ${version})"
    if [[ -n $(admin_sql -d postgres -c "SELECT 1 FROM pg_database WHERE datname='${TEMPLATE_DB}'") ]]; then
      admin_sql -d postgres -c "ALTER DATABASE ${TEMPLATE_DB} IS_TEMPLATE false"
      admin_sql -d postgres -c "DROP DATABASE ${TEMPLATE_DB} WITH (FORCE)"
    fi
    admin_sql -d postgres -c "CREATE DATABASE ${TEMPLATE_DB}"
    admin_sql -d "$TEMPLATE_DB" <"$sql" >/dev/null
    admin_sql -d postgres -c "COMMENT ON DATABASE ${TEMPLATE_DB} IS 'pgstac ${version}'"
    admin_sql -d postgres -c "ALTER DATABASE ${TEMPLATE_DB} IS_TEMPLATE true ALLOW_CONNECTIONS false"
  fi
fi

log "PostgreSQL ${PG_MAJOR} + PostGIS ready on 127.0.0.1:${port} (role ${ROLE}, DSN in ${dsn_file})"
