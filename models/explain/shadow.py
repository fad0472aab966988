"""Variable groups (modalities) and the shadow distribution of a species.

Groups are named sets of input variables given by glob patterns
(``climate=bio*,landcover=landuse_*``); a group's SHAP value is the sum of its members'.

The **shadow distribution** (after "Deconstructing the geography of human impacts on species'
natural distribution", Nature Communications 2024) of a species is where its climate group
contributes positively to the log-intensity while its land-cover group contributes
negatively: climate that suits the species, lost to land use.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence

import numpy as np

from ecocube.errors import InvalidInputError

__all__ = [
    "CLIMATE",
    "LANDCOVER",
    "group_values",
    "parse_groups",
    "resolve_groups",
    "shadow_mask",
]

#: Group names the shadow distribution compares.
CLIMATE = "climate"
LANDCOVER = "landcover"


def parse_groups(text: str | None) -> dict[str, tuple[str, ...]]:
    """``"climate=bio*,landcover=landuse_*"`` -> ``{"climate": ("bio*",), ...}``.

    Several patterns of one group are joined with ``|`` (``imagery=s2_*|ls_*``) or by
    repeating the group name.

    Raises
    ------
    InvalidInputError
        An entry without ``=``, an empty name or pattern.
    """
    groups: dict[str, tuple[str, ...]] = {}
    if text is None or not text.strip():
        return groups
    for entry in text.split(","):
        entry = entry.strip()
        if not entry:
            continue
        name, sep, patterns = entry.partition("=")
        name = name.strip()
        pats = tuple(p.strip() for p in patterns.split("|") if p.strip())
        if not sep or not name or not pats:
            raise InvalidInputError(
                f"--groups entry {entry!r} is not NAME=PATTERN; give e.g. "
                "'climate=bio*,landcover=landuse_*'"
            )
        groups[name] = groups.get(name, ()) + pats
    return groups


def resolve_groups(
    groups: Mapping[str, Sequence[str]], variables: Sequence[str]
) -> dict[str, tuple[str, ...]]:
    """The variables of each group: those matching any of its glob patterns, in model order.

    Raises
    ------
    InvalidInputError
        A group matching none of ``variables`` (the message names the group, its patterns and
        the variables).
    """
    out: dict[str, tuple[str, ...]] = {}
    for name, patterns in groups.items():
        members = tuple(v for v in variables if any(fnmatch.fnmatchcase(v, p) for p in patterns))
        if not members:
            raise InvalidInputError(
                f"group {name!r} ({'|'.join(patterns)}) matches none of the model's variables "
                f"{list(variables)}; change its pattern or drop the group"
            )
        out[name] = members
    return out


def group_values(
    values: np.ndarray, variables: Sequence[str], groups: Mapping[str, Sequence[str]]
) -> np.ndarray:
    """``(..., n_variables)`` SHAP values summed per group: ``(..., n_groups)``, groups in
    the order of ``groups``."""
    index = {v: j for j, v in enumerate(variables)}
    cols = [values[..., [index[v] for v in members]].sum(-1) for members in groups.values()]
    return np.stack(cols, axis=-1) if cols else np.zeros((*values.shape[:-1], 0))


def shadow_mask(climate: np.ndarray, landcover: np.ndarray) -> np.ndarray:
    """Where the climate group's SHAP value is positive and the land-cover group's negative
    (same shapes; NaN counts as neither)."""
    with np.errstate(invalid="ignore"):
        return np.asarray((climate > 0) & (landcover < 0))
