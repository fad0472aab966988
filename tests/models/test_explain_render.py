"""The SHAP report renders in a real headless Chromium (Debian ``chromium``,
``scripts/chromium.sh``): a non-blank screenshot, every image loaded, no console errors.

Chromium is driven by its own command line: ``--screenshot`` for the picture, ``--dump-dom``
with console logging on stderr for a copy of the report holding a small probe script, which
counts the images that failed to load and logs one known console error (so the test sees that
console messages are captured at all).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("shap")
pytest.importorskip("torch")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
requires_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian chromium is not installed: run `bash scripts/chromium.sh` (needs root)",
)
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run")
_PROBE = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const broken = images.filter(i => !(i.complete && i.naturalWidth > 0)).length;
  document.body.setAttribute("data-probe", images.length + ":" + broken);
  console.error("ecocube-probe");
});
</script>"""
#: Console messages (``INFO:CONSOLE`` lines of chromium's log), with their level and text.
_CONSOLE = re.compile(r":(INFO|WARNING|ERROR):CONSOLE[^\]]*\] \"(.*?)\", source: (\S+)")


@pytest.fixture(scope="module")
def report(mirror: Path, cr_zarr: Path, cr_records: Any, tmp_path_factory) -> Path:
    """A SHAP report of a small integrated model of three Costa Rica species (CHELSA)."""
    from ecocube.models import SDM
    from ecocube.models.explain import shap_report

    out = tmp_path_factory.mktemp("render")
    sdm = SDM("integrated", seed=0, options={"steps": 150}, cv_folds=0).fit(
        cr_records[["species", "x", "y"]],
        cube=cr_zarr,
        variables=["bio1", "bio4", "bio12"],
        background=400,
        drop_outside=True,
    )
    model = sdm.save(out / "model")
    return shap_report(
        model,
        cr_zarr,
        out / "report.html",
        groups="temperature=bio1|bio4,rain=bio12",
        cells=200,
        map_stride=3,
        progress=False,
    ).report


def _run(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *_FLAGS, f"--user-data-dir={tmp / 'profile'}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@requires_chromium
def test_report_screenshot_is_not_blank(report: Path, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "shot.png"
    done = _run(["--window-size=1200,2400", f"--screenshot={shot}", report.as_uri()], tmp_path)
    assert shot.is_file(), done.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (2400, 1200)
    assert pixels.std() > 20  # text, figures and maps, not a blank page
    dark = (pixels < 128).mean()
    assert 0.01 < dark < 0.6


@requires_chromium
def test_every_image_loads_without_console_errors(report: Path, tmp_path: Path) -> None:
    page = report.read_text(encoding="utf-8")
    n_images = page.count("<img ")
    assert n_images >= 9
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    done = _run(
        [
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
            "--dump-dom",
            probe.as_uri(),
        ],
        tmp_path,
    )
    found = re.search(r'data-probe="(\d+):(\d+)"', done.stdout)
    assert found, f"the probe did not run: {done.stderr[-2000:]}"
    assert (int(found[1]), int(found[2])) == (n_images, 0)  # every image decoded
    messages = [(level, text) for level, text, _ in _CONSOLE.findall(done.stderr)]
    assert ("INFO", "ecocube-probe") in messages  # console messages are captured
    others = [m for m in messages if m[1] != "ecocube-probe"]
    assert not others, f"console messages from the report: {others}"
    assert "net::ERR" not in done.stderr  # nothing failed to load
