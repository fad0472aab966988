"""Per-cell interaction statistics from joint community samples (or marginals only)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ecocube.errors import InvalidInputError
from ecocube.models.interactions._metaweb import MatchedWeb

__all__ = ["cell_statistics", "check_joint", "joint_samples"]


def joint_samples(
    estimator: Any, table: pd.DataFrame, n: int, *, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Joint presence samples ``(n, cells, S)`` uint8 from a model with latent factors, and
    the probabilities ``(n, cells, S)`` each was drawn from (species independent given them).

    Raises
    ------
    InvalidInputError
        As :func:`check_joint`.
    """
    check_joint(estimator)
    z, prob = estimator.sample_communities(table, n, seed=seed, return_probabilities=True)
    return np.asarray(z, dtype=np.uint8), np.asarray(prob, dtype=np.float32)


def check_joint(estimator: Any) -> None:
    """Raise unless ``estimator`` gives joint samples with latent factors.

    Raises
    ------
    InvalidInputError
        The model has no joint samples (no ``sample_communities``) or no latent factors (its
        samples would be independent between species given the parameters).
    """
    name = getattr(estimator, "name", type(estimator).__name__)
    if not hasattr(estimator, "sample_communities"):
        raise InvalidInputError(
            f"model {name!r} has no joint community samples, so co-occurrence cannot be "
            "estimated; fit an 'integrated' model with survey data and n_factors >= 1, or pass "
            "--marginals-only (product of the marginal probabilities)"
        )
    draws = getattr(estimator, "draws", {})
    if "loadings" not in draws:
        raise InvalidInputError(
            f"model {name!r} has no latent factors (fitted with n_factors=0 or without "
            "surveys), so its joint samples carry no residual co-occurrence; refit with "
            "n_factors >= 1 or pass --marginals-only (product of the marginal probabilities)"
        )


def cell_statistics(
    web: MatchedWeb,
    *,
    samples: np.ndarray | None = None,
    marginals: np.ndarray | None = None,
    focal: str | None = None,
    probabilities: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Interaction statistics per cell.

    Parameters
    ----------
    web
        The metaweb edges between the model's species (:func:`match_species`).
    samples
        Joint presence samples ``(n, cells, S)`` (0/1); ``None`` for marginals only.
    marginals
        Marginal presence probabilities ``(cells, S)``; default: the mean of ``samples``.
    focal
        A species whose co-occurrence with its enemies (consumers in the metaweb) is wanted.
    probabilities
        The probabilities ``(n, cells, S)`` the samples were drawn from
        (:func:`joint_samples`). Given them the species are independent, so
        ``E[z_c z_r] = E[pi_c pi_r]``: the interaction, expected-link and focal-enemy
        estimates (and the default marginals) average products of probabilities instead of
        0/1 samples (Rao-Blackwellised: the same expectation, less Monte-Carlo noise). The
        connectance, a ratio of sample counts, still uses the samples.

    Returns
    -------
    dict of str to numpy.ndarray
        float32 arrays. With ``samples``: ``interaction`` ``(E, cells)``, P(both present) x
        P(interaction | co-occurrence) from the joint samples; ``expected_links`` and
        ``expected_connectance`` ``(cells,)``: expectations over the samples of the realised
        links ``L = sum_e z_c z_r q_e`` and of ``L / S_present^2`` (0 where no species is
        present). Always: ``interaction_independent`` ``(E, cells)`` and
        ``expected_links_independent`` ``(cells,)`` from the product of the marginals. With
        ``focal``: ``focal_enemy`` (joint; with samples) and ``focal_enemy_independent``:
        P(focal present and at least one enemy present).

    Raises
    ------
    InvalidInputError
        Neither ``samples`` nor ``marginals``, arrays of the wrong shape, or a ``focal`` that
        is not a species of the model or has no enemy.
    """
    S = len(web.species)
    if samples is None and marginals is None:
        raise InvalidInputError("give samples (joint) or marginals (independent), or both")
    if samples is not None:
        samples = np.asarray(samples)
        if samples.ndim != 3 or samples.shape[2] != S:
            raise InvalidInputError(
                f"samples of shape {samples.shape}; expected (draws, cells, {S})"
            )
    if probabilities is not None:
        probabilities = np.asarray(probabilities, dtype=np.float32)
        if samples is None or probabilities.shape != samples.shape:
            raise InvalidInputError(
                f"probabilities of shape {probabilities.shape} need samples of the same shape "
                f"(got {None if samples is None else samples.shape})"
            )
    if marginals is None:
        assert samples is not None
        marginals = (probabilities if probabilities is not None else samples).mean(axis=0)
    p = np.asarray(marginals, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != S or (samples is not None and p.shape[0] != samples.shape[1]):
        raise InvalidInputError(f"marginals of shape {p.shape}; expected (cells, {S})")
    q = web.probability
    c, r = web.consumer, web.resource
    out: dict[str, np.ndarray] = {}
    indep = (p[:, c] * p[:, r] * q).T  # (E, cells)
    out["interaction_independent"] = indep.astype(np.float32)
    out["expected_links_independent"] = indep.sum(0).astype(np.float32)
    enemies = web.enemies(focal) if focal is not None else None
    if focal is not None:
        assert enemies is not None
        f = web.species.index(focal)
        none = np.prod(1.0 - p[:, enemies], axis=1)
        out["focal_enemy_independent"] = (p[:, f] * (1.0 - none)).astype(np.float32)
    if samples is not None:
        z = samples.astype(np.float32)
        qf = q.astype(np.float32)
        both = z[:, :, c] * z[:, :, r]  # (n, cells, E)
        links = both @ qf  # (n, cells)
        present = z.sum(-1)
        conn = np.divide(links, present**2, out=np.zeros_like(links), where=present > 0)
        out["expected_connectance"] = conn.mean(0).astype(np.float32)
        pi = probabilities if probabilities is not None else z
        both = pi[:, :, c] * pi[:, :, r]
        out["interaction"] = (both.mean(0) * qf).T.astype(np.float32)
        out["expected_links"] = (both @ qf).mean(0).astype(np.float32)
        if focal is not None:
            assert enemies is not None
            f = web.species.index(focal)
            no_enemy = np.prod(1.0 - pi[:, :, enemies], axis=-1)
            out["focal_enemy"] = (pi[:, :, f] * (1.0 - no_enemy)).mean(0).astype(np.float32)
    return out
