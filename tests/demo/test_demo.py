"""The main job end to end: ``ecocube demo --quick`` on the registry data."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ecocube.catalog import validate_catalog
from ecocube.demo import DEMO_STEPS


@pytest.mark.slow
def test_quick_demo_writes_a_complete_report_and_a_quiet_log(
    mirror: Path, pgstac: None, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "2", "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [sys.executable, "-m", "ecocube", "demo", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    log = done.stdout + done.stderr
    # a log, not a terminal: progress as lines, no carriage-return frames, no warnings
    assert "\r" not in log and "Warning" not in log
    page = (out / "index.html").read_text()
    assert len(re.findall(r"<section id=", page)) == len(DEMO_STEPS)
    for src in re.findall(r'<img src="([^"]+)"', page):
        assert (out / src).is_file(), src
    assert "Registered back into the catalog" in page
    assert "NCEAS benchmark (Elith et al. 2020" in page
    # GBIF x/y -> fit from the cube -> sdm map -> a maps item the served STAC API finds
    assert "SDM.fit(records, cube=..., background=5000)" in page
    assert re.search(
        r"search of the served STAC API for the collection finds: costa-rica-sdm-", page
    )
    assert (out / "figures" / "sdm_costa_rica_maps.png").is_file()
    assert "simulated" in page and (out / "figures" / "interactions_map.png").is_file()
    assert (out / "shap_report.html").is_file() and 'href="shap_report.html"' in page
    maps = out / "catalog" / "maps" / "costa-rica-sdm.zarr"
    assert (maps / ".zmetadata").is_file() and len(list(maps.parent.glob("*-cogs/*.tif"))) > 4
    # the cube lives inside the catalog it is registered in: the catalog stays self-contained
    assert validate_catalog(out / "catalog", check_checksums=False) == []
