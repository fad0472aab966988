"""The PostgreSQL side of the STAC API (ecocube.catalog._postgres): which server, the role
``scripts/services.sh`` creates (no superuser, no password) and its private DSN file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ecocube.catalog._postgres import (
    DEFAULT_PGSTAC_DSN,
    ENV_PGSTAC_DSN,
    ENV_PGSTAC_DSN_FILE,
    admin_dsn,
    dsn_file,
    pgstac_available,
    url_dsn,
    with_dbname,
)
from ecocube.errors import ConfigurationError


def test_dsn_argument_then_environment_then_file_then_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "pgstac.dsn"
    monkeypatch.setenv(ENV_PGSTAC_DSN_FILE, str(file))
    monkeypatch.delenv(ENV_PGSTAC_DSN, raising=False)
    assert dsn_file() == file
    assert admin_dsn() == DEFAULT_PGSTAC_DSN  # no file
    file.write_text("postgresql://me@%2Frun%2Fpg:5433/postgres\n")
    file.chmod(0o644)  # no secret in it: other users may read it
    assert admin_dsn() == "postgresql://me@%2Frun%2Fpg:5433/postgres"
    monkeypatch.setenv(ENV_PGSTAC_DSN, "postgresql://env@127.0.0.1:5432/postgres")
    assert admin_dsn() == "postgresql://env@127.0.0.1:5432/postgres"
    assert admin_dsn("postgresql://arg@h:1/d") == "postgresql://arg@h:1/d"


def test_a_password_in_a_readable_dsn_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "pgstac.dsn"
    file.write_text("postgresql://me:s3cret@127.0.0.1:5432/postgres\n")
    file.chmod(0o640)
    monkeypatch.setenv(ENV_PGSTAC_DSN_FILE, str(file))
    monkeypatch.delenv(ENV_PGSTAC_DSN, raising=False)
    with pytest.raises(ConfigurationError, match=r"holds a password .*mode 0640.*chmod 600"):
        admin_dsn()
    with pytest.raises(ConfigurationError, match=r"chmod 600"):
        pgstac_available()  # a configuration problem, not "no server"
    file.chmod(0o600)
    assert admin_dsn() == "postgresql://me:s3cret@127.0.0.1:5432/postgres"


def test_rustac_urls_of_socket_and_password_dsns() -> None:
    assert url_dsn(with_dbname(DEFAULT_PGSTAC_DSN, "db1")) == (
        "postgresql://ecocube@%2Fvar%2Frun%2Fpostgresql:5432/db1"
    )
    assert url_dsn(with_dbname("host=h port=7 user=u password=p@ss dbname=x", "y")) == (
        "postgresql://u:p%40ss@h:7/y"
    )


# --- the machine's setup by scripts/services.sh (CI runs it before the tests) -----------------


@pytest.fixture()
def services_setup(pgstac: None) -> None:
    if os.environ.get(ENV_PGSTAC_DSN):
        pytest.skip(f"{ENV_PGSTAC_DSN} names another server than scripts/services.sh sets up")


def test_the_role_is_no_superuser_and_owns_only_its_databases(services_setup: None) -> None:
    import psycopg

    with psycopg.connect(admin_dsn()) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles "
            "WHERE rolname = current_user"
        ).fetchone()
        assert row == (False, False, True, False)
        # no membership that runs programs or reads files as the server
        powerful = conn.execute(
            "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
            "WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = current_user) "
            "AND (r.rolsuper OR r.rolname LIKE 'pg\\_%')"
        ).fetchone()
        assert powerful == (0,)


def test_the_old_public_password_no_longer_logs_in(services_setup: None) -> None:
    import psycopg

    port = psycopg.conninfo.conninfo_to_dict(admin_dsn()).get("port", 5432)
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        psycopg.connect(
            f"postgresql://ecocube:ecocube@127.0.0.1:{port}/postgres", connect_timeout=5
        )


def test_the_dsn_file_is_private_and_holds_no_password(services_setup: None) -> None:
    from psycopg.conninfo import conninfo_to_dict

    file = dsn_file()
    assert file.is_file(), f"scripts/services.sh writes {file}"
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert file.stat().st_uid == os.getuid()
    dsn = file.read_text().strip()
    assert admin_dsn() == dsn and not conninfo_to_dict(dsn).get("password")
