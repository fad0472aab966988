"""The NCEAS loader (``ecocube.models.benchmark.nceas_data``) on the real data."""

from __future__ import annotations

import pytest

from ecocube.errors import InvalidInputError
from ecocube.models.benchmark.nceas_data import NCEAS_GROUPS, load_nceas_group, load_nceas_groups

pytestmark = pytest.mark.usefixtures("mirror")


def test_groups_follow_the_per_group_protocol() -> None:
    groups = load_nceas_groups()
    assert [g.name for g in groups][:3] == ["AWT-bird", "AWT-plant", "CAN"]
    assert sum(len(g.species) for g in groups) == 226
    # one prediction per species x own-group PA site
    assert sum(len(g.species) * len(g.test_env) for g in groups) == 1_659_172
    for g in groups:
        assert (g.test_pa["siteid"].to_numpy() == g.test_env["siteid"].to_numpy()).all()
        assert set(g.train_po["spid"]) == set(g.species)
        assert set(g.categorical) <= set(g.covariates)
    nsw = load_nceas_group("nsw", "ba")
    assert nsw.species == tuple(f"nsw0{i}" for i in range(1, 8))
    assert nsw.categorical == ("vegsys",) and len(nsw.test_env) == 570
    assert len(NCEAS_GROUPS["NSW"]) == 8


def test_loader_bad_inputs() -> None:
    with pytest.raises(InvalidInputError, match="region 'XX' is not an NCEAS region"):
        load_nceas_group("XX")
    with pytest.raises(InvalidInputError, match="has several survey groups"):
        load_nceas_group("AWT")
    with pytest.raises(InvalidInputError, match="group 'fish' is not a survey group of AWT"):
        load_nceas_group("AWT", "fish")
