"""Settings read from the environment: the data mirror and the cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecocube.cli import main
from ecocube.errors import ConfigurationError
from ecocube.settings import get_settings


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ECOCUBE_DATA_MIRROR", str(tmp_path))
    monkeypatch.setenv("ECOCUBE_DATA_DIR", str(tmp_path / "cache"))
    s = get_settings()
    assert s.mirror_is_local and s.data_dir == tmp_path / "cache"
    monkeypatch.setenv("ECOCUBE_DATA_MIRROR", "https://example.org/ecocube-data")
    assert not get_settings().mirror_is_local
    monkeypatch.setenv("ECOCUBE_DATA_MIRROR", "HTTP://example.org/ecocube-data")
    assert get_settings().data_mirror == "HTTP://example.org/ecocube-data"
    monkeypatch.setenv("ECOCUBE_DATA_MIRROR", str(tmp_path / "missing"))
    with pytest.raises(ConfigurationError, match="is not a directory"):
        get_settings()


@pytest.mark.parametrize("url", ["ftp://example.org/data", "s3://bucket/data", "file:///data"])
def test_mirror_with_unsupported_scheme_names_variable_value_and_accepted_forms(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("ECOCUBE_DATA_MIRROR", url)
    scheme = url.split(":")[0]
    with pytest.raises(
        ConfigurationError,
        match=rf"ECOCUBE_DATA_MIRROR='{url}' uses the unsupported scheme '{scheme}'; give a "
        r"local directory .* or an http:// or https:// base URL",
    ):
        get_settings()


def test_cli_reports_an_ftp_mirror_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ECOCUBE_DATA_MIRROR", "ftp://example.org/data")
    monkeypatch.setenv("ECOCUBE_DATA_DIR", str(tmp_path / "cache"))
    assert main(["data", "fetch", "sdm_elapid"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith("error: ECOCUBE_DATA_MIRROR='ftp://example.org/data' uses the")
    assert "Traceback" not in err and not (tmp_path / "cache").exists()
