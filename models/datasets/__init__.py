"""Occurrence datasets for the SDMs (one module per dataset).

The NCEAS benchmark data are read by :mod:`ecocube.models.benchmark.nceas_data`.
"""

from ecocube.models.datasets.gbif import COSTA_RICA_GBIF_FILES, load_costa_rica_occurrences

__all__ = ["COSTA_RICA_GBIF_FILES", "load_costa_rica_occurrences"]
