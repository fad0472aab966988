"""``ecocube sdm benchmark nceas`` (``models/benchmark/_cli.py``): one small region, bad inputs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from ecocube.cli import app

pytestmark = pytest.mark.usefixtures("mirror")


def test_benchmark_cli_writes_predictions(tmp_path: Path) -> None:
    out = tmp_path / "preds.csv"
    summary = tmp_path / "summary.csv"
    res = CliRunner().invoke(
        app,
        [
            "sdm",
            "benchmark",
            "nceas",
            "--out",
            str(out),
            "--regions",
            "SA",
            "--model",
            "maxent-linear",
            "--seed",
            "3",
            "--summary",
            str(summary),
        ],
    )
    assert res.exit_code == 0, res.output
    preds = pd.read_csv(out)
    assert list(preds.columns) == ["region", "spid", "siteid", "score"]
    assert len(preds) == 30 * 152 and preds["spid"].nunique() == 30
    assert "ALL" in res.output and "4,560 predictions" in res.output
    table = pd.read_csv(summary)
    assert table["region"].tolist() == ["SA", "ALL"] and (table["mean_auc"] > 0.7).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preds.csv", "summary.csv"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "gbm"], "--model 'gbm' is unknown"),
        (["--regions", "SA,XX"], "holds unknown regions"),
        (["--threads", "0"], "--threads must be >= 1"),
        (["--workers", "-1"], "--workers must be >= 0"),
    ],
)
def test_benchmark_cli_bad_inputs(tmp_path: Path, args: list[str], message: str) -> None:
    res = CliRunner().invoke(
        app, ["sdm", "benchmark", "nceas", "--out", str(tmp_path / "p.csv"), *args]
    )
    assert res.exit_code != 0
    assert message in str(res.exception) + res.output


@pytest.mark.parametrize("which", ["out", "summary", "file-parent"])
def test_benchmark_cli_checks_output_paths_before_any_fitting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, which: str
) -> None:
    """A folder (or a path under a file) as --out/--summary fails before loading/training."""
    import ecocube.models.benchmark.nceas as bench

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the benchmark ran although the output path is bad")

    monkeypatch.setattr(bench, "run_nceas_benchmark", never)
    folder = tmp_path / "adir"
    folder.mkdir()
    out, extra, message = str(tmp_path / "p.csv"), [], ""
    if which == "out":
        out, message = str(folder), f"--out {str(folder)!r} is a folder; give a file path"
    elif which == "summary":
        extra = ["--summary", str(folder)]
        message = f"--summary {str(folder)!r} is a folder; give a file path"
    else:
        (tmp_path / "afile").write_text("")
        out = str(tmp_path / "afile" / "p.csv")
        message = f"{str(tmp_path / 'afile')!r} is a file, not a folder"
    res = CliRunner().invoke(
        app, ["sdm", "benchmark", "nceas", "--out", out, "--regions", "SA", *extra]
    )
    assert res.exit_code != 0
    assert message in str(res.exception) + res.output
    assert not isinstance(res.exception, AssertionError)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == (["adir", "afile"] if which == "file-parent" else ["adir"])  # nothing new


def test_benchmark_cli_refuses_an_unavailable_device_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    import ecocube.models.benchmark.nceas as bench

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the benchmark ran although --device is not available")

    monkeypatch.setattr(bench, "run_nceas_benchmark", never)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "p.csv"
    res = CliRunner().invoke(
        app, ["sdm", "benchmark", "nceas", "--out", str(out), "--regions", "SA", "--device", "cuda"]
    )
    assert res.exit_code != 0
    message = str(res.exception) + res.output
    assert "device 'cuda' was requested but CUDA is not available here" in message
    assert not isinstance(res.exception, AssertionError) and not out.exists()
