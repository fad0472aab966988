"""Benchmark datasets for the SDMs (one module per dataset)."""

from ecocube.models.datasets.gbif import COSTA_RICA_GBIF_FILES, load_costa_rica_occurrences
from ecocube.models.datasets.nceas import (
    NCEAS_CATEGORICAL,
    NCEAS_GROUPS,
    NCEAS_REGIONS,
    NceasGroup,
    load_nceas_group,
    load_nceas_groups,
)

__all__ = [
    "COSTA_RICA_GBIF_FILES",
    "NCEAS_CATEGORICAL",
    "NCEAS_GROUPS",
    "NCEAS_REGIONS",
    "NceasGroup",
    "load_costa_rica_occurrences",
    "load_nceas_group",
    "load_nceas_groups",
]
