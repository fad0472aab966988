"""Simulated communities over a real cube, on the topology of a real metaweb (tests, demo).

Nothing here is observed: the species are labelled ``simulated`` and their occurrences are
drawn from a latent-factor model, so that interaction maps can be checked against a known truth.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ecocube.errors import InvalidInputError
from ecocube.models.interactions._metaweb import Metaweb, read_metaweb

__all__ = ["KOPELKE_GALLERS", "KOPELKE_PARASITOIDS", "kopelke_metaweb", "simulate_surveys"]

#: Three willow gallers and four parasitoids of the Kopelke et al. (2017) metaweb.
KOPELKE_GALLERS = ("Obridg", "Ovaria", "Ovesic")
KOPELKE_PARASITOIDS = ("Chalci", "Ichnin", "Pdolic", "Eacicu")


def kopelke_metaweb(
    gallers: Sequence[str] = KOPELKE_GALLERS, parasitoids: Sequence[str] = KOPELKE_PARASITOIDS
) -> Metaweb:
    """The observed parasitoid -> galler edges among the given nodes of the Kopelke metaweb.

    Read through the data registry (dataset ``interactions_kopelke``, file
    ``galPara_pairs.parquet``); every edge is a recorded interaction (probability 1).

    Raises
    ------
    InvalidInputError
        The nodes give no edge.
    """
    from ecocube.data import fetch_file

    pairs = pd.read_parquet(fetch_file("interactions_kopelke", "galPara_pairs.parquet"))
    keep = (
        (pairs["interaction"] == 1).fillna(False)
        & pairs["galler"].isin(list(gallers))
        & pairs["parasitoid"].isin(list(parasitoids))
    )
    if not keep.any():
        raise InvalidInputError(
            f"no Kopelke edge links gallers {list(gallers)} and parasitoids {list(parasitoids)}; "
            "choose nodes of galPara_pairs.parquet"
        )
    edges = pairs.loc[keep, ["parasitoid", "galler"]]
    web = read_metaweb(edges.set_axis(["consumer", "resource"], axis=1).reset_index(drop=True))
    return Metaweb(web.edges, "interactions_kopelke/galPara_pairs.parquet")


def simulate_surveys(
    cube: xr.Dataset,
    species: Sequence[str],
    variables: Sequence[str],
    *,
    n_sites: int = 600,
    loadings: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Survey records of a simulated community at random land cells of a cube.

    Presence at a site follows ``1 - exp(-exp(alpha + beta . z + lambda . u))`` with ``z``
    the standardised covariates of the cell, ``u ~ N(0, I)`` one latent factor vector per
    site and ``lambda`` the species' loadings: species with loadings of the same sign
    co-occur more than their marginals imply.

    Parameters
    ----------
    cube
        Cube (in memory) with the ``(y, x)`` layers ``variables``.
    species
        Names of the simulated species.
    variables
        Covariates of the simulation (and of the records table).
    n_sites
        Surveyed cells (drawn among the cells where every variable is finite).
    loadings
        ``(S, K)`` latent loadings (default: one factor, alternating +-1.4).
    seed
        Seed of everything random.

    Returns
    -------
    records : pandas.DataFrame
        One ``survey`` row per site and species: ``species``, ``kind``, ``presence``,
        ``siteid``, ``x``, ``y`` (cube CRS) and the covariates.
    truth : dict of str to numpy.ndarray
        ``alpha`` ``(S,)``, ``beta`` ``(S, P)``, ``loadings`` ``(S, K)``, ``mean`` and
        ``scale`` ``(P,)`` of the standardisation.
    """
    rng = np.random.default_rng(seed)
    S = len(species)
    lam = (
        np.asarray(loadings, dtype=float)
        if loadings is not None
        else np.where(np.arange(S) % 2 == 0, 1.4, -1.4)[:, None]
    )
    if lam.shape[0] != S:
        raise InvalidInputError(f"loadings of shape {lam.shape}; expected ({S}, K)")
    block = np.stack([cube[v].transpose("y", "x").values.astype(float) for v in variables])
    rows, cols = np.nonzero(np.isfinite(block).all(axis=0))
    if rows.size < n_sites:
        raise InvalidInputError(f"the cube has {rows.size} valid cells; n_sites={n_sites} is more")
    pick = rng.choice(rows.size, size=n_sites, replace=False)
    r, c = rows[pick], cols[pick]
    x = block[:, r, c].T  # (n, P)
    mean, scale = x.mean(0), x.std(0) + 1e-12
    z = (x - mean) / scale
    alpha = rng.normal(-0.3, 0.3, size=S)
    beta = rng.normal(0, 0.8, size=(S, len(variables)))
    u = rng.normal(size=(n_sites, lam.shape[1]))
    eta = alpha + z @ beta.T + u @ lam.T
    pres = (rng.random(eta.shape) < 1 - np.exp(-np.exp(eta))).astype(float)
    site = np.repeat(np.arange(n_sites), S)
    records = pd.DataFrame(
        {
            "species": np.tile(np.asarray(species, dtype=object), n_sites),
            "kind": "survey",
            "presence": pres.ravel(),
            "siteid": site,
            "x": cube["x"].values[c][site],
            "y": cube["y"].values[r][site],
            **{v: x[site, j] for j, v in enumerate(variables)},
        }
    )
    truth = {"alpha": alpha, "beta": beta, "loadings": lam, "mean": mean, "scale": scale}
    return records, truth
