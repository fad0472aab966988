"""Shared fixtures: the data mirror, the torch device and temporary caches."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _mirror() -> Path | None:
    env = os.environ.get("ECOCUBE_DATA_MIRROR")
    if env and "://" not in env:
        return Path(env)
    local = REPO.parent / "shared" / "data"
    return local if (local / "MANIFEST.md").is_file() else None


MIRROR = _mirror()
if MIRROR is not None:
    os.environ.setdefault("ECOCUBE_DATA_MIRROR", str(MIRROR))
os.environ.setdefault("ECOCUBE_DATA_DIR", str(REPO / ".cache" / "data"))

requires_mirror = pytest.mark.skipif(
    MIRROR is None,
    reason="the ecocube data mirror is absent: set ECOCUBE_DATA_MIRROR to a copy of shared/data",
)


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The local data mirror (tests using it are skipped when it is absent)."""
    if MIRROR is None:
        pytest.skip("the ecocube data mirror is absent: set ECOCUBE_DATA_MIRROR")
    return MIRROR


@pytest.fixture(scope="session")
def device() -> str:
    """Torch device for tests, from ECOCUBE_TEST_DEVICE (default ``cpu``)."""
    return os.environ.get("ECOCUBE_TEST_DEVICE", "cpu")


def require_service(available: bool, reason: str) -> None:
    """The one rule for tests that need a system service (``scripts/services.sh``).

    Outside CI a missing service skips the test, saying why. In CI (``CI`` set) the services
    were started before pytest, so a missing one fails the test instead of hiding it.
    """
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: scripts/services.sh ran, so this is a failure)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pgstac() -> None:
    """PostgreSQL for the STAC API (pgstac) answers, by :func:`require_service`'s rule."""
    from ecocube.catalog import pgstac_available

    require_service(
        pgstac_available(),
        "PostgreSQL for pgstac is not running: run `sudo bash scripts/services.sh` "
        "(make test does it)",
    )
