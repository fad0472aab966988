"""Integrated presence-only + survey joint species distribution model (Pyro).

See :mod:`ecocube.models.integrated._model` for the model and
:mod:`ecocube.models.benchmark.integrated` for the NCEAS "integrated data help" experiment.
"""

from ecocube.models.integrated._model import (
    IntegratedConfig,
    IntegratedData,
    IntegratedSDM,
    PosteriorSummary,
)

__all__ = ["IntegratedConfig", "IntegratedData", "IntegratedSDM", "PosteriorSummary"]
