"""Local record frequency: definition, leakage-free CV use, and its effect on NCEAS (real data)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecocube.errors import InvalidInputError
from ecocube.models.local_frequency import LocalRecordFrequency


def _records(seed: int = 0) -> pd.DataFrame:
    """Two species recorded in two clusters, a third everywhere (a realistic clumped layout)."""
    rng = np.random.default_rng(seed)
    a = rng.normal([0.0, 0.0], 5.0, size=(60, 2))
    b = rng.normal([100.0, 100.0], 5.0, size=(40, 2))
    c = rng.uniform(-20.0, 120.0, size=(50, 2))
    xy = np.vstack([a, b, c])
    species = ["a"] * 60 + ["b"] * 40 + ["c"] * 50
    return pd.DataFrame({"species": species, "x": xy[:, 0], "y": xy[:, 1]})


def test_matches_the_kernel_formula() -> None:
    records = _records()
    lf = LocalRecordFrequency(bandwidth=0.05, prior_weight=0.5).fit(records)
    q = pd.DataFrame({"x": [0.0, 50.0, 100.0, 500.0], "y": [0.0, 50.0, 100.0, 500.0]})
    got = lf.log_frequency(q)
    # brute force over the distinct record sites
    sites = records.drop_duplicates(["x", "y"])
    labels = pd.crosstab([records.x, records.y], records.species).clip(upper=1)
    labels = labels.reindex(pd.MultiIndex.from_frame(sites[["x", "y"]]))
    xy = np.array(labels.index.tolist())
    h = 0.05 * max(np.ptp(records.x), np.ptp(records.y))
    d = np.sqrt(((q.to_numpy()[:, None, :] - xy[None]) ** 2).sum(-1))
    k = np.where(d <= 4 * h, np.exp(-0.5 * (d / h) ** 2), 0.0)
    prior = labels.to_numpy().mean(0)
    want = np.log((k @ labels.to_numpy() + 0.5 * prior) / (k.sum(1)[:, None] + 0.5))
    assert lf.species_ == ("a", "b", "c")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # near cluster a, species a dominates; near b, b does; far away, the overall shares
    assert got[0].argmax() == 0 and got[2].argmax() == 1
    np.testing.assert_allclose(np.exp(got[3]), prior, rtol=1e-6)


def test_bad_inputs() -> None:
    with pytest.raises(InvalidInputError, match="bandwidth must be > 0"):
        LocalRecordFrequency(bandwidth=0.0)
    with pytest.raises(InvalidInputError, match="prior_weight must be > 0"):
        LocalRecordFrequency(prior_weight=-1.0)
    with pytest.raises(InvalidInputError, match="lacks the 'species' column"):
        LocalRecordFrequency().fit(pd.DataFrame({"x": [0.0], "y": [0.0]}))
    with pytest.raises(InvalidInputError, match="records is empty"):
        LocalRecordFrequency().fit(pd.DataFrame({"species": [], "x": [], "y": []}))
    with pytest.raises(InvalidInputError, match="1 rows have NaN"):
        LocalRecordFrequency().fit(
            pd.DataFrame({"species": ["a", "a"], "x": [0.0, np.nan], "y": [0.0, 1.0]})
        )
    with pytest.raises(InvalidInputError, match="not fitted"):
        LocalRecordFrequency().log_frequency(pd.DataFrame({"x": [0.0], "y": [0.0]}))
    lf = LocalRecordFrequency().fit(_records())
    with pytest.raises(InvalidInputError, match="coordinate columns \\['y'\\] are missing"):
        lf.log_frequency(pd.DataFrame({"x": [0.0]}))


@pytest.mark.usefixtures("mirror")
def test_nceas_local_frequency_ranks_held_out_presences_and_uses_training_records_only() -> None:
    from ecocube.models.benchmark.nceas import BENCHMARK_MODELS, add_local_frequency
    from ecocube.models.benchmark.nceas_data import load_nceas_group
    from ecocube.models.evaluation import auc

    group = load_nceas_group("SA")
    setting = BENCHMARK_MODELS["maxent-net"].local_frequency
    assert setting is not None
    zero = pd.DataFrame(0.0, index=range(len(group.test_env)), columns=list(group.species))
    scores = add_local_frequency(zero, group, group.test_env, setting)
    # on its own, the frequency of training records ranks the PA presences above absences
    aucs = [auc(group.test_pa[sp].to_numpy(), scores[sp].to_numpy()) for sp in group.species]
    assert np.nanmean(aucs) > 0.65, np.nanmean(aucs)
    # only the records passed in count: dropping one species' records leaves it at the prior
    po = group.train_po.rename(columns={"spid": "species"})
    first = group.species[0]
    other = add_local_frequency(zero, group, group.test_env, setting, po[po.species != first])
    assert other[first].eq(0.0).all()
    assert np.allclose(other.drop(columns=first).std(), scores.drop(columns=first).std(), rtol=0.2)
