"""Interaction-likelihood maps: where the species of a metaweb are likely to meet and interact.

A metaweb (:func:`read_metaweb`) lists who may eat, parasitise or pollinate whom; a fitted
multi-species model says where each species is. :func:`match_species` links the model's
species to the metaweb's nodes (reporting every name left unmatched), :func:`cell_statistics`
turns joint community samples into per-cell interaction probabilities, and
:func:`interaction_map` writes them over a cube (``ecocube interactions map``).
"""

from ecocube.models.interactions._map import InteractionMap, interaction_map
from ecocube.models.interactions._metaweb import (
    MatchedWeb,
    Metaweb,
    match_species,
    read_mapping,
    read_metaweb,
)
from ecocube.models.interactions._simulate import kopelke_metaweb, simulate_surveys
from ecocube.models.interactions._stats import cell_statistics, check_joint, joint_samples

__all__ = [
    "InteractionMap",
    "MatchedWeb",
    "Metaweb",
    "cell_statistics",
    "check_joint",
    "interaction_map",
    "joint_samples",
    "kopelke_metaweb",
    "match_species",
    "read_mapping",
    "read_metaweb",
    "simulate_surveys",
]
