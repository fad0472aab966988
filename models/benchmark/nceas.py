"""Run the NCEAS benchmark (Elith et al. 2020) with the per-group protocol.

For every region × survey group: fit one multi-species model on the group's presence-only
records (+ the region's random background when the model uses it), predict every species at
every presence-absence site of its own group, and score with AUC. The PA data are used only
to score.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ecocube.errors import InvalidInputError
from ecocube.models._features import SpatialFourierBasis
from ecocube.models.benchmark.nceas_data import NCEAS_REGIONS, NceasGroup, load_nceas_groups
from ecocube.models.evaluation import auc
from ecocube.models.local_frequency import LocalRecordFrequency
from ecocube.models.maxent_net import MaxentNet, MaxentNetConfig

__all__ = [
    "BENCHMARK_MODELS",
    "BenchmarkModel",
    "NceasResult",
    "add_local_frequency",
    "cross_validate_group",
    "cross_validate_region",
    "fit_predict_group",
    "fit_predict_region",
    "region_jobs",
    "run_nceas_benchmark",
    "with_spatial_basis",
]


#: Per-species L2 penalty of the benchmark's networks (``MaxentNetConfig.head_l2``); the
#: cross-validation that set it is in docs/sdm.md.
NCEAS_HEAD_L2 = 30.0


def _maxent_net(seed: int, device: str) -> MaxentNetConfig:
    return MaxentNetConfig(seed=seed, device=device, head_l2=NCEAS_HEAD_L2)


def _linear(seed: int, device: str) -> MaxentNetConfig:
    # the linear baseline: weight decay only, no per-species penalty
    return MaxentNetConfig(hidden=(), n_members=1, seed=seed, device=device, head_l2=0.0)


@dataclass(frozen=True)
class BenchmarkModel:
    """A ``--model`` choice: its hyper-parameters and its spatial basis.

    Attributes
    ----------
    config
        Factory ``(seed, device) -> MaxentNetConfig``.
    spatial_basis
        ``(n_features, length_scale)`` of the spatial Fourier basis appended to the
        covariates (:func:`with_spatial_basis`), or ``None`` for the covariates only.
    local_frequency
        ``(bandwidth, prior_weight, weight)``: add ``weight`` times the log local record
        frequency (:class:`~ecocube.models.local_frequency.LocalRecordFrequency`) to the
        scores (:func:`add_local_frequency`), or ``None``.
    joint_region
        Fit one network per region for all its survey groups, each species normalised over
        its own group's sites (:func:`fit_predict_region`), instead of one per group.
    """

    config: Callable[[int, str], MaxentNetConfig]
    spatial_basis: tuple[int, float] | None = None
    local_frequency: tuple[float, float, float] | None = None
    joint_region: bool = False


#: ``--model`` choices. ``maxent-net``: the covariates plus a spatial Fourier basis (8 features
#: at 0.7 of the region's extent), plus the local record frequency (bandwidth 0.02 of the
#: extent, prior weight 0.5, weight 0.25), one network per region for its survey groups;
#: ``maxent-net-group``: the same with one network per survey group; ``maxent-net-env``: the
#: covariates only; ``maxent-linear``: the linear baseline. The spatial-block CV on the training
#: data that set these (``benchmarks/experiments/tune_nceas.py``) is in docs/sdm.md.
BENCHMARK_MODELS: dict[str, BenchmarkModel] = {
    "maxent-net": BenchmarkModel(_maxent_net, (8, 0.7), (0.02, 0.5, 0.25), joint_region=True),
    "maxent-net-group": BenchmarkModel(_maxent_net, (8, 0.7), (0.02, 0.5, 0.25)),
    "maxent-net-env": BenchmarkModel(_maxent_net),
    "maxent-linear": BenchmarkModel(_linear),
}


def add_local_frequency(
    scores: pd.DataFrame,
    group: NceasGroup,
    sites: pd.DataFrame,
    local_frequency: tuple[float, float, float],
    records: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``scores + weight * log(local record frequency)`` of every species at ``sites``.

    Parameters
    ----------
    scores
        Model scores (log-intensities), rows aligned with ``sites``, one column per species.
    group
        The survey group; its random background sets the bandwidth's unit (the region's extent).
    sites
        Sites (``x``, ``y``) the scores are for.
    local_frequency
        ``(bandwidth, prior_weight, weight)``.
    records
        Presence records (``species``, ``x``, ``y``) the frequency is estimated from; default
        the group's training records (cross-validation passes its training folds). A species
        without records there keeps its scores unchanged.
    """
    bandwidth, prior_weight, weight = local_frequency
    if records is None:
        records = group.train_po.rename(columns={"spid": "species"})
    extent = pd.concat([records[["x", "y"]], group.train_bg[["x", "y"]]])
    lf = LocalRecordFrequency(bandwidth, prior_weight).fit(records, extent=extent)
    log_share = pd.DataFrame(lf.log_frequency(sites), columns=list(lf.species_))
    extra = log_share.reindex(columns=[str(c) for c in scores.columns], fill_value=0.0)
    return scores + weight * extra.to_numpy()


def with_spatial_basis(
    group: NceasGroup,
    n_features: int,
    length_scale: float,
    *,
    seed: int = 0,
    fit_on: Sequence[NceasGroup] | None = None,
) -> NceasGroup:
    """The group with a spatial Fourier basis of ``x, y`` appended to its covariates.

    The basis is fitted on the training sites (presences and the random background) only,
    of ``fit_on`` (default: the group itself; the groups of a region for a region-wide
    network), and applied to the training and evaluation tables alike.
    """
    basis = SpatialFourierBasis(n_features, length_scale, seed=seed)
    sources = [group] if fit_on is None else list(fit_on)
    basis.fit(
        pd.concat([g.train_po[["x", "y"]] for g in sources] + [sources[0].train_bg[["x", "y"]]])
    )
    return replace(
        group,
        covariates=(*group.covariates, *basis.names),
        train_po=basis.transform(group.train_po),
        train_bg=basis.transform(group.train_bg),
        test_env=basis.transform(group.test_env),
    )


def region_jobs(groups: Sequence[NceasGroup], joint: bool) -> list[list[NceasGroup]]:
    """The groups fitted together: one list per region with ``joint``, else one per group."""
    if not joint:
        return [[g] for g in groups]
    by_region: dict[str, list[NceasGroup]] = {}
    for g in groups:
        by_region.setdefault(g.region, []).append(g)
    return list(by_region.values())


@dataclass
class NceasResult:
    """Predictions and scores of one benchmark run.

    Attributes
    ----------
    predictions
        ``region, spid, siteid, score``: one row per species × own-group PA site.
    per_species
        ``region, group, spid, n_presence, n_absence, auc``.
    seconds
        Wall time of fitting and predicting (data loading excluded).
    """

    predictions: pd.DataFrame
    per_species: pd.DataFrame
    seconds: float

    def region_table(self) -> pd.DataFrame:
        """Mean AUC per region (species weighted equally) and overall, as a table."""
        g = self.per_species.groupby("region", sort=False)["auc"]
        table = pd.DataFrame({"n_species": g.size(), "mean_auc": g.mean()}).reset_index()
        overall = pd.DataFrame(
            [
                {
                    "region": "ALL",
                    "n_species": len(self.per_species),
                    "mean_auc": self.per_species["auc"].mean(),
                }
            ]
        )
        return pd.concat([table, overall], ignore_index=True)


#: Fit the covariate scaling on the region's random background also when the loss uses only
#: the target-group background; off, the scaling is fitted on the record sites then.
SCALE_ON_BACKGROUND = False


def fit_predict_group(
    group: NceasGroup,
    config: MaxentNetConfig,
    local_frequency: tuple[float, float, float] | None = None,
) -> pd.DataFrame:
    """Fit on one group's training data; return scores at its PA sites (rows) per species.

    With ``local_frequency``, the scores include the local record frequency
    (:func:`add_local_frequency`).
    """
    return fit_predict_region([group], config, local_frequency)[0]


def _fit_net(
    group: NceasGroup,
    config: MaxentNetConfig,
    records: pd.DataFrame,
    background: pd.DataFrame | None,
    *,
    scale_on: pd.DataFrame | None = None,
    group_col: str | None = None,
) -> MaxentNet:
    """A benchmark network fitted on ``records`` (sites keyed by ``x``, ``y``).

    PA sites may hold categorical levels absent from training (never seen by the model):
    their indicators are all zero rather than an error, as the benchmark must score them.
    """
    model = MaxentNet(group.covariates, group.categorical, config)
    model.encoder.handle_unknown = "ignore"
    return model.fit(
        records, background, site_cols=["x", "y"], scale_on=scale_on, group_col=group_col
    )


def _joint_records(groups: Sequence[NceasGroup]) -> pd.DataFrame:
    """Presence records of several groups, with their group in ``_group``."""
    return pd.concat([g.train_po.assign(_group=g.group) for g in groups], ignore_index=True).rename(
        columns={"spid": "species"}
    )


def fit_predict_region(
    groups: Sequence[NceasGroup],
    config: MaxentNetConfig,
    local_frequency: tuple[float, float, float] | None = None,
) -> list[pd.DataFrame]:
    """One network for the survey groups of one region; scores at each group's PA sites.

    The records of all groups train one shared network; each species is normalised over the
    sites of its own survey group only (``MaxentNet.fit(group_col=...)``), so every species
    keeps its own group's target-group background. Each group's scores (rows: its PA sites,
    columns: its species) include the local record frequency of its own records. With one
    group this is :func:`fit_predict_group`.
    """
    if len({g.region for g in groups}) > 1:
        raise InvalidInputError("fit_predict_region needs the groups of one region")
    background = groups[0].train_bg if config.background != "target-group" else None
    model = _fit_net(
        groups[0],
        config,
        _joint_records(groups),
        background,
        scale_on=groups[0].train_bg if SCALE_ON_BACKGROUND else None,
        group_col="_group" if len(groups) > 1 else None,
    )
    out = []
    for g in groups:
        scores = pd.DataFrame(
            model.predict_log_intensity(g.test_env), columns=list(model.species_)
        )[[str(sp) for sp in g.species]]
        if local_frequency is not None:
            scores = add_local_frequency(scores, g, g.test_env, local_frequency)
        out.append(scores)
    return out


def run_nceas_benchmark(
    model: str = "maxent-net",
    *,
    seed: int = 0,
    regions: Iterable[str] | None = None,
    device: str = "cpu",
    config: MaxentNetConfig | None = None,
    progress: Callable[[str], None] | None = None,
    workers: int = 1,
    spatial_basis: tuple[int, float] | None = None,
    local_frequency: tuple[float, float, float] | None = None,
    joint_region: bool = False,
) -> NceasResult:
    """Fit, predict and score every survey group of ``regions`` (all by default).

    Parameters
    ----------
    model
        One of :data:`BENCHMARK_MODELS` (ignored when ``config`` is given).
    seed
        Seed of every model.
    regions
        Subset of :data:`~ecocube.models.datasets.NCEAS_REGIONS`.
    device
        Torch device.
    config
        Explicit hyper-parameters instead of a named model.
    progress
        Called with the name of each group when it is done.
    workers
        Processes fitting groups in parallel (each with one torch thread); results do not
        depend on it because every group's model is seeded on its own.
    spatial_basis
        With an explicit ``config``: ``(n_features, length_scale)`` of a spatial Fourier basis
        added to the covariates (``None``: covariates only). A named model uses its own
        (:data:`BENCHMARK_MODELS`).
    local_frequency
        With an explicit ``config``: ``(bandwidth, prior_weight, weight)`` of the local record
        frequency added to the scores (:func:`add_local_frequency`; ``None``: none). A named
        model uses its own.
    joint_region
        With an explicit ``config``: one network per region for its survey groups
        (:func:`fit_predict_region`). A named model uses its own.
    """
    if config is None:
        if model not in BENCHMARK_MODELS:
            raise InvalidInputError(
                f"model {model!r} is unknown; choose one of {', '.join(BENCHMARK_MODELS)}"
            )
        config = BENCHMARK_MODELS[model].config(seed, device)
        spatial_basis = BENCHMARK_MODELS[model].spatial_basis
        local_frequency = BENCHMARK_MODELS[model].local_frequency
        joint_region = BENCHMARK_MODELS[model].joint_region
    else:
        config = replace(config, seed=seed, device=device)
    if not isinstance(workers, int) or workers < 1:
        raise InvalidInputError(f"workers must be an integer >= 1, got {workers!r}")
    jobs = region_jobs(
        load_nceas_groups(NCEAS_REGIONS if regions is None else regions), joint_region
    )
    if spatial_basis is not None:
        jobs = [[with_spatial_basis(g, *spatial_basis, fit_on=job) for g in job] for job in jobs]
    groups = [g for job in jobs for g in job]
    preds, rows = [], []
    tic = time.perf_counter()
    for group, scores in zip(
        groups, _fit_all(jobs, config, local_frequency, workers, progress), strict=True
    ):
        sites = group.test_env["siteid"].astype(str).to_numpy()
        for sp in group.species:
            s = scores[sp].to_numpy(dtype=np.float64)
            y = group.test_pa[sp].to_numpy()
            rows.append(
                {
                    "region": group.region,
                    "group": group.group,
                    "spid": sp,
                    "n_presence": int(y.sum()),
                    "n_absence": int((y == 0).sum()),
                    "auc": auc(y, s),
                }
            )
            preds.append(
                pd.DataFrame({"region": group.region, "spid": sp, "siteid": sites, "score": s})
            )
    seconds = time.perf_counter() - tic
    return NceasResult(pd.concat(preds, ignore_index=True), pd.DataFrame(rows), seconds)


def _fit_all(
    jobs: list[list[NceasGroup]],
    config: MaxentNetConfig,
    local_frequency: tuple[float, float, float] | None,
    workers: int,
    progress: Callable[[str], None] | None,
) -> list[pd.DataFrame]:
    """Scores of every group of every job, in order; in ``workers`` spawned processes when > 1.

    A job is a list of groups fitted together (:func:`fit_predict_region`).
    """
    if workers == 1:
        out = []
        for job in jobs:
            out.extend(fit_predict_region(job, config, local_frequency))
            if progress is not None:
                for g in job:
                    progress(g.name)
        return out
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # Largest jobs first so the pool ends evenly loaded.
    order = sorted(range(len(jobs)), key=lambda i: -sum(len(g.train_po) for g in jobs[i]))
    results: dict[int, list[pd.DataFrame]] = {}
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_one_thread,
    ) as pool:
        futures = {
            pool.submit(fit_predict_region, jobs[i], config, local_frequency): i for i in order
        }
        for future in as_completed(futures):
            i = futures[future]
            results[i] = future.result()
            if progress is not None:
                for g in jobs[i]:
                    progress(g.name)
    return [scores for i in range(len(jobs)) for scores in results[i]]


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _block_folds(
    po: pd.DataFrame, bg: pd.DataFrame, n_folds: int, blocks_per_side: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Spatial-block fold of every presence record and background site.

    Square blocks (``blocks_per_side`` across the larger side of the record sites and the
    background together) are assigned to ``n_folds`` folds; records at one site share a fold.
    """
    from ecocube.cube.splitters import SpatialBlockKFold

    xy_sites = po[["x", "y"]].drop_duplicates().reset_index(drop=True)
    all_xy = pd.concat([xy_sites, bg[["x", "y"]]], ignore_index=True)
    span = max(np.ptp(all_xy["x"]), np.ptp(all_xy["y"]))
    cv = SpatialBlockKFold(block_size=span / blocks_per_side * 1.0001, n_splits=n_folds, seed=seed)
    folds = cv.fold_labels(all_xy["x"].to_numpy(), all_xy["y"].to_numpy())
    site_fold = pd.Series(folds[: len(xy_sites)], index=pd.MultiIndex.from_frame(xy_sites))
    po_fold = site_fold.reindex(pd.MultiIndex.from_frame(po[["x", "y"]])).to_numpy()
    return po_fold, folds[len(xy_sites) :]


def _held_out_sites(records: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Distinct sites of held-out records and the 0/1 presence of each species there."""
    sites = records.drop_duplicates(["x", "y"]).reset_index(drop=True)
    present = (
        records.assign(one=1)
        .pivot_table(index=["x", "y"], columns="species", values="one", aggfunc="max")
        .reindex(pd.MultiIndex.from_frame(sites[["x", "y"]]))
        .fillna(0)
    )
    return sites, present


def cross_validate_group(
    group: NceasGroup,
    config: MaxentNetConfig,
    *,
    n_folds: int = 3,
    blocks_per_side: int = 8,
    seed: int = 0,
    local_frequency: tuple[float, float, float] | None = None,
) -> pd.DataFrame:
    """Spatial-block cross-validation on the TRAINING data of one group (no PA data).

    Presence sites and background sites are grouped into square blocks (``blocks_per_side``
    across the larger side of the region) and the blocks into ``n_folds`` folds. Each fold is
    held out in turn; the model is fitted on the rest and every species is scored on the
    held-out fold by two AUCs: its held-out presence sites against the held-out sites of the
    rest of its survey group (``auc_tg``, the closest proxy for the survey-site evaluation)
    and against the held-out random background (``auc_bg``). With ``local_frequency``, the
    scores include the local record frequency of the training folds' records
    (:func:`add_local_frequency`).

    Returns
    -------
    pandas.DataFrame
        ``spid``, ``fold``, ``n_presence``, ``auc_tg``, ``auc_bg``.
    """
    po = group.train_po.rename(columns={"spid": "species"})
    bg = group.train_bg
    po_fold, bg_fold = _block_folds(po, bg, n_folds, blocks_per_side, seed)
    rows = []
    for k in range(n_folds):
        train_po, test_po = po[po_fold != k], po[po_fold == k]
        background = bg[bg_fold != k] if config.background != "target-group" else None
        scale_on = bg[bg_fold != k] if SCALE_ON_BACKGROUND else None
        model = _fit_net(group, config, train_po, background, scale_on=scale_on)
        sites, present = _held_out_sites(test_po)
        held_bg = bg[bg_fold == k]
        s_sites = model.predict_log_intensity(sites)
        s_bg = model.predict_log_intensity(held_bg) if len(held_bg) else None
        if local_frequency is not None:  # one frequency fit for both sets of sites
            where = [sites[["x", "y"]]] + ([held_bg[["x", "y"]]] if s_bg is not None else [])
            both = np.vstack([s_sites] + ([s_bg] if s_bg is not None else []))
            both = add_local_frequency(
                pd.DataFrame(both, columns=list(model.species_)),
                group,
                pd.concat(where, ignore_index=True),
                local_frequency,
                train_po,
            ).to_numpy()
            s_sites, s_bg = both[: len(sites)], (both[len(sites) :] if s_bg is not None else None)
        for j, sp in enumerate(model.species_):
            if sp not in present.columns:
                continue
            y = present[sp].to_numpy()
            if y.sum() < 2:
                continue
            row = {
                "spid": sp,
                "fold": k,
                "n_presence": int(y.sum()),
                "auc_tg": auc(y, s_sites[:, j]),
                "auc_bg": np.nan,
            }
            if s_bg is not None:
                yb = np.r_[np.ones(int(y.sum())), np.zeros(len(held_bg))]
                row["auc_bg"] = auc(yb, np.r_[s_sites[y == 1, j], s_bg[:, j]])
            rows.append(row)
    return pd.DataFrame(rows)


def cross_validate_region(
    groups: Sequence[NceasGroup],
    config: MaxentNetConfig,
    *,
    joint: bool,
    n_folds: int = 3,
    blocks_per_side: int = 8,
    seed: int = 0,
    local_frequency: tuple[float, float, float] | None = None,
) -> pd.DataFrame:
    """Spatial-block CV on the TRAINING data of a region's groups: per-group or joint networks.

    The folds are blocks over the whole region (all groups' record sites and the random
    background), so both ways of fitting are scored on the same held-out sites. With ``joint``,
    one network is fitted per fold for all groups (:func:`fit_predict_region`'s model), else one
    per group. Each species is scored by ``auc_tg``: its held-out presence sites against the
    held-out sites of the rest of its OWN survey group (as :func:`cross_validate_group`). No
    PA data are read.

    Returns
    -------
    pandas.DataFrame
        ``region``, ``group``, ``spid``, ``fold``, ``n_presence``, ``auc_tg``.
    """
    if len({g.region for g in groups}) != 1:
        raise InvalidInputError("cross_validate_region needs the groups of one region")
    po = _joint_records(groups)
    bg = groups[0].train_bg
    po_fold, bg_fold = _block_folds(po, bg, n_folds, blocks_per_side, seed)

    def background(k: int) -> pd.DataFrame | None:  # the training folds' random background
        return bg[bg_fold != k] if config.background != "target-group" else None

    rows = []
    for k in range(n_folds):
        train, test = po[po_fold != k], po[po_fold == k]
        fitted: dict[str, MaxentNet] = {}
        if joint and len(groups) > 1:
            model = _fit_net(groups[0], config, train, background(k), group_col="_group")
            fitted = {g.group: model for g in groups}
        for g in groups:
            tr, te = train[train["_group"] == g.group], test[test["_group"] == g.group]
            if len(te) == 0 or len(tr) == 0:
                continue
            model = fitted.get(g.group) or _fit_net(g, config, tr, background(k))
            sites, present = _held_out_sites(te)
            names = [str(sp) for sp in g.species if str(sp) in model.species_]
            scores = pd.DataFrame(model.predict_log_intensity(sites), columns=list(model.species_))[
                names
            ]
            if local_frequency is not None:
                scores = add_local_frequency(scores, g, sites[["x", "y"]], local_frequency, tr)
            for sp in names:
                if sp not in present.columns or present[sp].sum() < 2:
                    continue
                y = present[sp].to_numpy()
                rows.append(
                    {
                        "region": g.region,
                        "group": g.group,
                        "spid": sp,
                        "fold": k,
                        "n_presence": int(y.sum()),
                        "auc_tg": auc(y, scores[sp].to_numpy()),
                    }
                )
    return pd.DataFrame(rows)
