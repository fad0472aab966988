"""Settings read from the environment, normalised once at the public boundary."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ecocube.errors import ConfigurationError

__all__ = ["ENV_DATA_DIR", "ENV_DATA_MIRROR", "ENV_DEVICE", "Settings", "get_settings"]

ENV_DATA_MIRROR = "ECOCUBE_DATA_MIRROR"
ENV_DATA_DIR = "ECOCUBE_DATA_DIR"
ENV_DEVICE = "ECOCUBE_DEVICE"
#: URL schemes a remote data mirror may use.
_URL_SCHEMES = ("http", "https")


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ecocube"


@dataclass(frozen=True)
class Settings:
    """Run-time settings of ecocube.

    Attributes
    ----------
    data_dir
        Local cache where registry files are stored after verification
        (``ECOCUBE_DATA_DIR``, default ``~/.cache/ecocube``).
    data_mirror
        Where registry files are fetched from instead of their canonical public source
        (``ECOCUBE_DATA_MIRROR``): a local directory or an ``http(s)://`` base URL laid out like
        ``shared/data``. ``None`` means the canonical sources.
    device
        Default torch device for training and inference (``ECOCUBE_DEVICE``, default ``"auto"``).
    """

    data_dir: Path
    data_mirror: str | None
    device: str = "auto"

    @property
    def mirror_is_local(self) -> bool:
        """Whether the mirror is a local directory rather than a URL."""
        return self.data_mirror is not None and "://" not in self.data_mirror


def get_settings() -> Settings:
    """Read settings from the environment.

    Returns
    -------
    Settings
        The current settings.

    Raises
    ------
    ConfigurationError
        If ``ECOCUBE_DATA_MIRROR`` names a local directory that does not exist, or a URL whose
        scheme is not ``http`` or ``https``.
    """
    mirror = os.environ.get(ENV_DATA_MIRROR) or None
    if mirror is not None and "://" in mirror:
        scheme = mirror.split("://", 1)[0]
        if scheme.lower() not in _URL_SCHEMES:
            raise ConfigurationError(
                f"{ENV_DATA_MIRROR}={mirror!r} uses the unsupported scheme {scheme!r}; give a "
                "local directory laid out like shared/data (e.g. ../shared/data) or an http:// "
                f"or https:// base URL, or unset {ENV_DATA_MIRROR} to use the canonical sources"
            )
    elif mirror is not None:
        path = Path(mirror).expanduser()
        if not path.is_dir():
            raise ConfigurationError(
                f"{ENV_DATA_MIRROR}={mirror!r} is not a directory; point it at a local copy of the "
                "ecocube data (e.g. ../shared/data) or an http(s):// base URL, or unset it to use "
                "the canonical public sources"
            )
        mirror = str(path.resolve())
    data_dir = Path(os.environ.get(ENV_DATA_DIR) or _default_cache()).expanduser()
    return Settings(
        data_dir=data_dir, data_mirror=mirror, device=os.environ.get(ENV_DEVICE, "auto")
    )
