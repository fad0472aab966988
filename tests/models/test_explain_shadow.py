"""Variable groups and the shadow distribution."""

from __future__ import annotations

import numpy as np
import pytest

from ecocube.errors import InvalidInputError
from ecocube.models.explain.shadow import (
    group_values,
    parse_groups,
    resolve_groups,
    shadow_mask,
)

VARIABLES = ("bio1", "bio12", "landuse_frac_1", "landuse_frac_3", "elev")


def test_parse_groups_reads_patterns_and_alternatives() -> None:
    groups = parse_groups("climate=bio*, landcover=landuse_*|lc_*,climate=tmax")
    assert groups == {"climate": ("bio*", "tmax"), "landcover": ("landuse_*", "lc_*")}
    assert parse_groups(None) == {}
    assert parse_groups("  ") == {}


@pytest.mark.parametrize("text", ["climate", "=bio*", "climate="])
def test_parse_groups_rejects_malformed_entries(text: str) -> None:
    with pytest.raises(InvalidInputError, match=r"is not NAME=PATTERN"):
        parse_groups(text)


def test_resolve_groups_keeps_model_order() -> None:
    groups = resolve_groups(parse_groups("landcover=landuse_*,climate=bio*"), VARIABLES)
    assert groups == {
        "landcover": ("landuse_frac_1", "landuse_frac_3"),
        "climate": ("bio1", "bio12"),
    }


def test_group_matching_nothing_is_an_error_naming_it() -> None:
    with pytest.raises(InvalidInputError, match=r"group 'imagery' \(s2_\*\) matches none"):
        resolve_groups(parse_groups("climate=bio*,imagery=s2_*"), VARIABLES)


def test_group_values_sum_members() -> None:
    values = np.arange(10, dtype=float).reshape(2, 5)  # (cells, variables)
    groups = resolve_groups(parse_groups("climate=bio*,landcover=landuse_*"), VARIABLES)
    np.testing.assert_allclose(group_values(values, VARIABLES, groups), [[1, 5], [11, 15]])


def test_shadow_is_positive_climate_and_negative_land_cover() -> None:
    climate = np.array([1.0, 1.0, -1.0, np.nan, 0.5])
    land = np.array([-1.0, 1.0, -1.0, -1.0, np.nan])
    np.testing.assert_array_equal(shadow_mask(climate, land), [True, False, False, False, False])
