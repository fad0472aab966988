"""``ecocube sdm benchmark nceas`` end to end on one small region, and its bad inputs."""

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
