"""Benchmark datasets for the SDMs (one module per dataset)."""

from ecocube.models.datasets.nceas import (
    NCEAS_CATEGORICAL,
    NCEAS_GROUPS,
    NCEAS_REGIONS,
    NceasGroup,
    load_nceas_group,
    load_nceas_groups,
)

__all__ = [
    "NCEAS_CATEGORICAL",
    "NCEAS_GROUPS",
    "NCEAS_REGIONS",
    "NceasGroup",
    "load_nceas_group",
    "load_nceas_groups",
]
