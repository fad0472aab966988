"""The PostgreSQL side of the STAC API: which server, and one pgstac database per served catalog.

The server is named by a DSN: the ``dsn`` argument, else ``ECOCUBE_PGSTAC_DSN``, else the file
``scripts/services.sh`` writes (``ECOCUBE_PGSTAC_DSN_FILE``, default
``~/.config/ecocube/pgstac.dsn``, mode 0600), else :data:`DEFAULT_PGSTAC_DSN`. The role
``services.sh`` creates is not a superuser and has no password: it logs in through the local
Unix socket as the operating-system user that ran the script (peer authentication). Each served
catalog gets a database copied from the template ``services.sh`` prepares (PostGIS and the
pgstac schema installed by the admin), dropped when the server stops.
"""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ecocube.errors import ConfigurationError, MissingDependencyError, StacApiError

__all__ = [
    "DEFAULT_PGSTAC_DSN",
    "ENV_PGSTAC_DSN",
    "ENV_PGSTAC_DSN_FILE",
    "TEMPLATE_DATABASE",
    "admin_dsn",
    "create_database",
    "drop_database",
    "dsn_file",
    "load_catalog",
    "pgstac_available",
    "url_dsn",
    "with_dbname",
]

#: Environment variable naming the PostgreSQL server (a role allowed to create databases).
ENV_PGSTAC_DSN = "ECOCUBE_PGSTAC_DSN"
#: Environment variable naming the file that holds the DSN (default :func:`dsn_file`).
ENV_PGSTAC_DSN_FILE = "ECOCUBE_PGSTAC_DSN_FILE"
#: The server and role ``scripts/services.sh`` sets up: the local socket, peer authentication.
DEFAULT_PGSTAC_DSN = "postgresql://ecocube@%2Fvar%2Frun%2Fpostgresql:5432/postgres"
#: Database with PostGIS and pgstac that ``scripts/services.sh`` prepares; copied per catalog.
TEMPLATE_DATABASE = "ecocube_pgstac_template"
#: Advisory lock that serialises database creation and pgstac migrations across processes.
_LOCK_ID = 74027

FIX = (
    "run `sudo bash scripts/services.sh` (installs and starts PostgreSQL 15 + PostGIS, the "
    f"'ecocube' role and its DSN file) or set {ENV_PGSTAC_DSN} to a PostgreSQL server where you "
    "may create databases"
)


def dsn_file() -> Path:
    """The file holding the DSN: ``ECOCUBE_PGSTAC_DSN_FILE`` or ``~/.config/ecocube/pgstac.dsn``."""
    env = os.environ.get(ENV_PGSTAC_DSN_FILE)
    if env:
        return Path(env).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "ecocube" / "pgstac.dsn"


def _read_dsn_file(path: Path) -> str | None:
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8").strip()
    dsn = text.splitlines()[0].strip() if text else None
    mode = path.stat().st_mode
    if dsn and _has_password(dsn) and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigurationError(
            f"the PostgreSQL DSN file {path} holds a password and other users may read it (mode "
            f"{stat.S_IMODE(mode):04o}); restrict it with `chmod 600 {path}`"
        )
    return dsn


def _has_password(dsn: str) -> bool:
    from psycopg.conninfo import conninfo_to_dict

    try:
        return bool(conninfo_to_dict(dsn).get("password"))
    except Exception:  # a malformed DSN fails later, with the server's message
        return False


def admin_dsn(dsn: str | None = None) -> str:
    """The DSN of the PostgreSQL server: ``dsn``, ``ECOCUBE_PGSTAC_DSN``, the DSN file or the default.

    Raises
    ------
    ConfigurationError
        The DSN file holds a password and other users may read it.
    """
    return dsn or os.environ.get(ENV_PGSTAC_DSN) or _read_dsn_file(dsn_file()) or DEFAULT_PGSTAC_DSN


def with_dbname(dsn: str, dbname: str) -> str:
    """``dsn`` pointing at database ``dbname``."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params: dict[str, Any] = dict(conninfo_to_dict(dsn))
    params["dbname"] = dbname
    return make_conninfo("", **params)


def url_dsn(dsn: str) -> str:
    """A ``postgresql://`` URL for rustac (it does not read key=value strings)."""
    from urllib.parse import quote

    from psycopg.conninfo import conninfo_to_dict

    p = conninfo_to_dict(dsn)
    auth = quote(str(p.get("user", "")), safe="")
    if p.get("password"):
        auth += ":" + quote(str(p["password"]), safe="")
    host = str(p.get("host", "127.0.0.1"))
    if host.startswith("/"):  # a Unix socket folder
        host = quote(host, safe="")
    return f"postgresql://{auth}@{host}:{p.get('port', 5432)}/{p['dbname']}"


def _psycopg() -> Any:
    try:
        import psycopg
    except ModuleNotFoundError as err:
        raise MissingDependencyError(
            "the STAC API needs pypgstac and psycopg; install them with: "
            "pip install 'pypgstac[psycopg]>=0.10,<0.11'"
        ) from err
    return psycopg


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())


def pgstac_available(dsn: str | None = None) -> bool:
    """Whether the PostgreSQL server for pgstac answers (``dsn`` or the configured one).

    Raises
    ------
    ConfigurationError
        The DSN file holds a password and other users may read it.
    """
    target = admin_dsn(dsn)
    try:
        psycopg = _psycopg()
        with psycopg.connect(target, connect_timeout=3):
            return True
    except Exception:
        return False


@contextlib.contextmanager
def _locked(admin: str) -> Iterator[Any]:
    """An admin connection holding the advisory lock (released when the connection closes)."""
    psycopg = _psycopg()
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        yield conn


def _template(conn: Any) -> str | None:
    """The pgstac template database when it matches the installed pypgstac version."""
    from pypgstac import __version__

    row = conn.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
        "WHERE datname = %s AND datistemplate",
        (TEMPLATE_DATABASE,),
    ).fetchone()
    return TEMPLATE_DATABASE if row and row[0] == f"pgstac {__version__}" else None


def create_database(admin: str) -> str:
    """Create a fresh database ``ecocube_stac_<random>`` for one served catalog; return its name.

    It is a copy of :data:`TEMPLATE_DATABASE` when that holds the installed pgstac version
    (then no migration, and no superuser right, is needed), else an empty database.

    Raises
    ------
    StacApiError
        PostgreSQL is unreachable or refuses to create the database.
    """
    psycopg = _psycopg()
    name = f"ecocube_stac_{uuid.uuid4().hex[:12]}"
    try:
        with _locked(admin) as conn:
            template = _template(conn)
            clause = f' TEMPLATE "{template}"' if template else ""
            conn.execute(f'CREATE DATABASE "{name}"{clause}')
            conn.execute(f'ALTER DATABASE "{name}" SET search_path = pgstac, public')
    except psycopg.OperationalError as err:
        raise StacApiError(f"cannot reach PostgreSQL for pgstac ({_one_line(err)}); {FIX}") from err
    except psycopg.Error as err:
        raise StacApiError(f"cannot create a pgstac database ({_one_line(err)}); {FIX}") from err
    return name


def drop_database(admin: str, name: str) -> None:
    """Drop database ``name`` (closing its connections); errors are ignored."""
    psycopg = _psycopg()
    with contextlib.suppress(psycopg.Error):
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def load_catalog(admin: str, dsn: str, collections: list[dict], items: list[dict]) -> None:
    """Install pgstac in database ``dsn`` when missing, then insert collections and items.

    Raises
    ------
    StacApiError
        pgstac cannot be installed (the role lacks the rights and the template is missing).
    """
    from pypgstac.db import PgstacDB
    from pypgstac.load import Loader, Methods
    from pypgstac.migrate import Migrate

    psycopg = _psycopg()
    # pgstac's migration creates cluster-wide roles: serialise concurrent migrations (other
    # test sessions, demos) with the advisory lock.
    with _locked(admin), PgstacDB(dsn=dsn) as db:
        try:
            Migrate(db).run_migration()  # a no-op on a copy of the template
        except psycopg.Error as err:
            raise StacApiError(
                f"cannot install the pgstac schema ({_one_line(err)}); the template database "
                f"{TEMPLATE_DATABASE!r} with this pypgstac version is missing: {FIX}"
            ) from err
        loader = Loader(db=db)
        loader.load_collections(iter(collections), insert_mode=Methods.insert)
        if items:
            loader.load_items(iter(items), insert_mode=Methods.insert)
