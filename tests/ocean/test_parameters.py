"""Parameter registry: units and sources, the four default types, the three-type model."""

from __future__ import annotations

import dataclasses

import pytest

from ecocube.ocean.parameters import (
    COCCO,
    DEFAULT_PARAMETERS,
    DEFAULT_PHYTO,
    THREE_TYPES,
    CarbonateParameters,
    ModelParameters,
    PhysicsParameters,
    PhytoType,
    parameter_table,
)

ACID_TRAITS = (
    "pic_poc",
    "calc_exponent",
    "calc_half_saturation",
    "omega_growth_half",
    "co2_growth",
)
NEUTRAL = {"pic_poc": 0.0, "omega_growth_half": 0.0, "co2_growth": 0.0}


@pytest.mark.parametrize("cls", [PhytoType, PhysicsParameters, CarbonateParameters])
def test_every_field_has_units_source_and_description(cls) -> None:
    for f in dataclasses.fields(cls):
        if f.name == "name":
            continue
        assert f.metadata["units"], f.name  # dimensionless values say "1"
        assert f.metadata["source"] and f.metadata["description"], f.name


def test_parameter_table_lists_the_acidification_parameters_with_units() -> None:
    table = parameter_table()
    cocco = table[table["group"] == "cocco"].set_index("name")
    assert cocco.loc["pic_poc", "value"] == COCCO.pic_poc > 0
    assert cocco.loc["pic_poc", "units"] == "mol C (mol C)-1"
    assert cocco.loc["co2_growth", "units"] == "uatm-1"
    assert "Ridgwell" in cocco.loc["calc_exponent", "source"]
    carb = table[table["group"] == "carbonate"].set_index("name")
    assert carb.loc["pic_sinking", "units"] == "m d-1"
    assert carb.loc["pic_dissolution_rate", "units"] == "d-1"
    assert carb.loc["pic_dissolution_length", "units"] == "m"
    assert set(carb.index) == {f.name for f in dataclasses.fields(CarbonateParameters)}
    for group in DEFAULT_PARAMETERS.type_names:
        names = set(table[table["group"] == group]["name"])
        assert set(ACID_TRAITS) <= names, group


def test_three_types_are_the_model_before_acidification() -> None:
    assert [p.name for p in THREE_TYPES] == ["diatom", "nano", "pico"]
    for old in THREE_TYPES:
        for trait, value in NEUTRAL.items():
            assert getattr(old, trait) == value, (old.name, trait)
    legacy = ModelParameters(phyto=THREE_TYPES)
    assert legacy.type_names == ["diatom", "nano", "pico"]
    assert legacy.physics == DEFAULT_PARAMETERS.physics


def test_default_community_adds_a_calcifier_and_co2_responses() -> None:
    assert DEFAULT_PARAMETERS.phyto == DEFAULT_PHYTO
    assert DEFAULT_PARAMETERS.type_names == ["diatom", "nano", "pico", "cocco"]
    for old, new in zip(THREE_TYPES, DEFAULT_PHYTO[:3], strict=True):
        # the same types (every other trait unchanged), now responding to CO2, not calcifying
        assert dataclasses.replace(new, co2_growth=0.0) == old
        assert new.co2_growth > 0 and new.pic_poc == 0 and new.omega_growth_half == 0
    assert DEFAULT_PHYTO[-1] is COCCO
    assert COCCO.pic_poc > 0 and COCCO.omega_growth_half > 0 and COCCO.co2_growth == 0
    assert 0.5 <= COCCO.pic_poc <= 1.0  # coccolithophores, Zondervan (2007)


@pytest.mark.parametrize(
    "trait",
    ["mu_max", "t_min", "t_opt", "t_max", "alpha", "i_opt", "q_min", "q_max", "rho_max", "k_n"],
)
def test_calcifier_traits_lie_between_nano_and_pico(trait) -> None:
    nano, pico = (next(p for p in THREE_TYPES if p.name == n) for n in ("nano", "pico"))
    low, high = sorted((getattr(nano, trait), getattr(pico, trait)))
    assert low <= getattr(COCCO, trait) <= high


def test_calcifier_keeps_the_time_step_limit_of_the_three_types() -> None:
    def limit(types: tuple[PhytoType, ...]) -> float:  # days, as check_stability computes it
        return min(min(1 / p.mu_max, (p.q_max - p.q_min) / p.rho_max) for p in types)

    assert limit(DEFAULT_PHYTO) == limit(THREE_TYPES)


def test_pic_dissolution_background_is_the_sinking_over_the_length_scale() -> None:
    carb = DEFAULT_PARAMETERS.carbonate
    assert carb.pic_sinking / carb.pic_dissolution_length == pytest.approx(0.02)
    assert carb.pic_dissolution_rate > 0 and carb.pic_dissolution_order >= 1
