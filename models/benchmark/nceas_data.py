"""The NCEAS presence-only / presence-absence benchmark (Elith et al. 2020) per survey group.

Each region has presence-only training records (``Rtrain_po``), 10,000 random background
sites (``Rtrain_bg``) and presence-absence evaluation sites (``Rtest_env`` + ``Rtest_pa``).
In AWT and NSW the evaluation surveys differ by biological group, so every species is scored
only against the PA sites of its own group; :class:`NceasGroup` bundles one such group:
its training presences, the region's background, its PA sites and its species.

Data are read through the registry (``data.fetch("nceas")``); categorical covariates follow the
disdat vignette (``NCEAS_CATEGORICAL``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ecocube.errors import InvalidInputError

__all__ = [
    "NCEAS_CATEGORICAL",
    "NCEAS_GROUPS",
    "NCEAS_REGIONS",
    "NceasGroup",
    "load_nceas_group",
    "load_nceas_groups",
]

#: The six regions of the benchmark.
NCEAS_REGIONS: tuple[str, ...] = ("AWT", "CAN", "NSW", "NZ", "SA", "SWI")
#: Survey groups per region; regions whose test files carry a ``_group`` suffix have several.
NCEAS_GROUPS: dict[str, tuple[str, ...]] = {
    "AWT": ("bird", "plant"),
    "CAN": ("bird",),
    "NSW": ("ba", "db", "nb", "ot", "ou", "rt", "ru", "sr"),
    "NZ": ("plant",),
    "SA": ("plant",),
    "SWI": ("tree",),
}
#: Categorical covariates (integer codes), as in disdat's modelling vignette.
NCEAS_CATEGORICAL: dict[str, tuple[str, ...]] = {
    "AWT": (),
    "CAN": ("ontveg",),
    "NSW": ("vegsys",),
    "NZ": ("age", "toxicats"),
    "SA": (),
    "SWI": ("calc",),
}
_MULTI_FILE = {"AWT", "NSW"}


@dataclass(frozen=True)
class NceasGroup:
    """One region × survey group of the NCEAS benchmark.

    Attributes
    ----------
    region, group
        E.g. ``"NSW"``, ``"ba"``.
    covariates
        Covariate names (continuous and categorical), in file order.
    categorical
        The categorical subset of ``covariates``.
    species
        Species ids of the group (``spid``), sorted.
    train_po
        Presence records of the group's species: ``siteid, spid, x, y`` + covariates.
    train_bg
        The region's random background sites: ``siteid, x, y`` + covariates.
    test_env
        PA sites of the group: ``siteid, x, y`` + covariates.
    test_pa
        Presence (1) / absence (0) of each species at ``test_env``'s sites, same row order;
        columns ``siteid`` + ``species``.
    """

    region: str
    group: str
    covariates: tuple[str, ...]
    categorical: tuple[str, ...]
    species: tuple[str, ...]
    train_po: pd.DataFrame
    train_bg: pd.DataFrame
    test_env: pd.DataFrame
    test_pa: pd.DataFrame

    @property
    def name(self) -> str:
        """``"REGION"`` or ``"REGION-group"`` for regions with several groups."""
        return f"{self.region}-{self.group}" if self.region in _MULTI_FILE else self.region


def _root(root: Path | None) -> Path:
    if root is not None:
        return Path(root)
    from ecocube import data

    return data.fetch("nceas")


def _check_region(region: str) -> str:
    reg = str(region).upper()
    if reg not in NCEAS_REGIONS:
        raise InvalidInputError(
            f"region {region!r} is not an NCEAS region; choose one of {', '.join(NCEAS_REGIONS)}"
        )
    return reg


def load_nceas_group(
    region: str, group: str | None = None, *, root: Path | None = None
) -> NceasGroup:
    """Load one survey group of one region.

    Parameters
    ----------
    region
        One of :data:`NCEAS_REGIONS` (case-insensitive).
    group
        One of ``NCEAS_GROUPS[region]``; may be omitted for single-group regions.
    root
        Folder with the NCEAS parquet files; defaults to the registry (``data.fetch("nceas")``).

    Raises
    ------
    InvalidInputError
        For an unknown region or group.
    """
    reg = _check_region(region)
    groups = NCEAS_GROUPS[reg]
    if group is None:
        if len(groups) > 1:
            raise InvalidInputError(
                f"region {reg} has several survey groups; pass group= one of {', '.join(groups)}"
            )
        group = groups[0]
    if group not in groups:
        raise InvalidInputError(
            f"group {group!r} is not a survey group of {reg}; choose one of {', '.join(groups)}"
        )
    folder = _root(root)
    po = pd.read_parquet(folder / f"{reg}train_po.parquet")
    bg = pd.read_parquet(folder / f"{reg}train_bg.parquet")
    suffix = f"_{group}" if reg in _MULTI_FILE else ""
    env = pd.read_parquet(folder / f"{reg}test_env{suffix}.parquet")
    pa = pd.read_parquet(folder / f"{reg}test_pa{suffix}.parquet")
    covariates = tuple(po.columns[6:])
    species = tuple(sorted(pa.columns[4:]))
    po = po[po["spid"].isin(species)].reset_index(drop=True)
    keep = ["siteid", "spid", "x", "y", *covariates]
    return NceasGroup(
        region=reg,
        group=group,
        covariates=covariates,
        categorical=NCEAS_CATEGORICAL[reg],
        species=species,
        train_po=po[keep],
        train_bg=bg[["siteid", "x", "y", *covariates]].reset_index(drop=True),
        test_env=env[["siteid", "x", "y", *covariates]].reset_index(drop=True),
        test_pa=pa[["siteid", *species]].reset_index(drop=True),
    )


def load_nceas_groups(
    regions: Iterable[str] | None = None, *, root: Path | None = None
) -> list[NceasGroup]:
    """Every survey group of ``regions`` (all six by default), in benchmark order."""
    regs = [_check_region(r) for r in (NCEAS_REGIONS if regions is None else regions)]
    return [load_nceas_group(r, g, root=root) for r in regs for g in NCEAS_GROUPS[r]]
