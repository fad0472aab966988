"""Scikit-learn-like species distribution model for a user's own records.

:class:`SDM` fits one of ecocube's SDMs to a records table (see :mod:`ecocube.models.records`
for the columns) and predicts the probability of detecting each species in a standard survey
(unit effort) at new sites, with posterior (or ensemble) uncertainty::

    from ecocube.models import SDM
    sdm = SDM(model="integrated", covariates=["bio1", "bio12"], seed=0).fit("records.csv")
    preds = sdm.predict("sites.csv")  # site, species, probability, sd, q05, q95
    sdm.save("model_dir")
    same = SDM.load("model_dir")

A model folder holds ``manifest.json`` (model type, covariates, categorical levels, scaling,
species, settings, versions) and ``model.pt`` (the fitted state); it is written to a temporary
folder and renamed into place, so an interrupted save never leaves a half-written model.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecocube._atomic import check_replaceable, swap_into_place
from ecocube.errors import InvalidInputError
from ecocube.models.integrated import IntegratedConfig, IntegratedData, IntegratedSDM
from ecocube.models.records import (
    CovariateEncoder,
    check_coordinates,
    check_crs,
    read_table,
    validate_records,
    validate_sites,
)

__all__ = ["FORMAT_VERSION", "MANIFEST_NAME", "MODELS", "SDM", "check_model_target"]

#: Model types :class:`SDM` can fit.
MODELS: tuple[str, ...] = ("integrated", "maxent-net")
MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1
_WEIGHTS = "model.pt"
PREDICTION_COLUMNS = ("site", "species", "probability", "sd", "q05", "q95")


def check_model_target(path: str | Path) -> None:
    """Raise unless ``path`` can receive a model folder (absent, empty or a model folder).

    :meth:`SDM.save` replaces an existing model folder but never a folder holding other files;
    the CLI calls this before fitting so that a bad ``--out`` fails before the work is done.
    """
    check_replaceable(path, markers=(MANIFEST_NAME,), what="an ecocube model folder")


class SDM:
    """Species distribution model with ``fit`` / ``predict`` / ``save`` / ``load``.

    Parameters
    ----------
    model
        ``"integrated"`` (Pyro integrated presence-only + survey model; any mix of record
        kinds) or ``"maxent-net"`` (multi-species maximum-entropy network; presence +
        background records).
    covariates
        Continuous covariate columns.
    categorical
        Categorical covariate columns (one-hot; a level unseen at fit time is an error at
        prediction).
    seed
        Seed of every random step.
    drop_na
        Drop records with NaN covariates instead of raising.
    quadratic
        Add squared terms of the continuous covariates to the design matrix.
    device
        Torch device (``"cpu"``, ``"cuda"``, ``"auto"``).
    options
        Extra settings of the model (fields of :class:`IntegratedConfig` for ``integrated``).
    """

    def __init__(
        self,
        model: str = "integrated",
        covariates: Sequence[str] = (),
        categorical: Sequence[str] = (),
        *,
        seed: int = 0,
        drop_na: bool = False,
        quadratic: bool = True,
        device: str = "cpu",
        options: dict[str, Any] | None = None,
    ) -> None:
        if model not in MODELS:
            raise InvalidInputError(f"model={model!r} is not supported; choose one of {MODELS}.")
        covariates = [covariates] if isinstance(covariates, str) else list(covariates)
        categorical = [categorical] if isinstance(categorical, str) else list(categorical)
        if not covariates and not categorical:
            raise InvalidInputError(
                "no covariates given: name the covariate columns, e.g. covariates=['bio1', "
                "'bio12'] or --covariates bio1,bio12."
            )
        both = sorted(set(covariates) & set(categorical))
        if both:
            raise InvalidInputError(
                f"columns {both} are listed as both continuous and categorical covariates; "
                "list each column once."
            )
        _check_options(model, options or {})
        self.model = model
        self.covariates = covariates
        self.categorical = categorical
        self.seed = int(seed)
        self.drop_na = bool(drop_na)
        self.quadratic = bool(quadratic)
        self.device = device
        self.options = dict(options or {})
        self.species_: list[str] = []
        self.encoder_: CovariateEncoder | None = None
        self.estimator_: Any = None
        self.crs_: str | None = None
        self.kinds_: dict[str, int] = {}
        self._progress = False

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        records: pd.DataFrame | str | Path,
        *,
        crs: str | int | None = None,
        progress: bool = False,
    ) -> SDM:
        """Fit to a records table (DataFrame or CSV/Parquet/GeoPackage path).

        ``crs`` is the CRS of ``x``/``y`` (GeoPackages are reprojected to it); ``progress``
        shows a progress bar over the optimisation.

        Raises
        ------
        InvalidInputError
            On any invalid record (see :func:`ecocube.models.records.validate_records`).
        """
        crs = check_crs(crs)
        df = records if isinstance(records, pd.DataFrame) else read_table(records, crs=crs)
        check_coordinates(df, crs)
        df = validate_records(
            df, self.covariates, categorical=self.categorical, drop_na=self.drop_na
        )
        self.crs_ = crs
        self.kinds_ = {k: int(v) for k, v in df["kind"].value_counts().items()}
        is_po, is_bg, is_sv = (df["kind"] == k for k in ("presence", "background", "survey"))
        self.species_ = sorted(set(df.loc[is_po | is_sv, "species"]))
        region = df.loc[is_bg | is_sv]
        enc = CovariateEncoder(self.covariates, self.categorical, quadratic=self.quadratic)
        enc.fit(region if len(region) else df)
        enc.fit_levels(df)
        self.encoder_ = enc
        self._progress = progress
        if self.model == "integrated":
            self.estimator_ = self._fit_integrated(df, is_po, is_bg, is_sv)
        else:
            self.estimator_ = self._fit_maxent_net(df, is_po, is_bg, is_sv)
        return self

    def _fit_integrated(
        self, df: pd.DataFrame, is_po: pd.Series, is_bg: pd.Series, is_sv: pd.Series
    ) -> IntegratedSDM:
        enc = self.encoder_
        sp_index = {s: i for i, s in enumerate(self.species_)}
        data = IntegratedData(n_species=len(self.species_))
        if is_po.any():
            data.x_background = enc.transform(df.loc[is_bg])
            data.x_presence = enc.transform(df.loc[is_po])
            data.presence_species = df.loc[is_po, "species"].map(sp_index).to_numpy(np.int64)
        if is_sv.any():
            x_sv, y_sv, off = _survey_matrix(df.loc[is_sv], enc, sp_index)
            data.x_survey, data.y_survey, data.survey_offset = x_sv, y_sv, off
        config = IntegratedConfig(**{**self.options, "seed": self.seed, "device": self.device})
        return IntegratedSDM(config).fit(data, progress=self._progress)

    def _fit_maxent_net(
        self, df: pd.DataFrame, is_po: pd.Series, is_bg: pd.Series, is_sv: pd.Series
    ) -> _MaxentNetEnsemble:
        if is_sv.any():
            raise InvalidInputError(
                f"model='maxent-net' learns from presence and background rows only, but the "
                f"records hold {int(is_sv.sum())} survey rows; use model='integrated' for "
                "survey data (or drop the survey rows)."
            )
        cols = self.covariates + self.categorical
        pres = df.loc[is_po, ["species", *cols]]
        return _MaxentNetEnsemble.fit(
            pres, df.loc[is_bg, cols], self.covariates, self.categorical,
            {**self.options, "seed": self.seed, "device": self.device}, self._progress,
        )  # fmt: skip

    # ------------------------------------------------------------------ predict
    def predict(self, sites: pd.DataFrame | str | Path) -> pd.DataFrame:
        """Detection probability of every species at every site (unit survey effort).

        Returns
        -------
        pandas.DataFrame
            Columns ``site`` (the ``siteid`` column if present, else the row number from 0),
            ``species``, ``probability`` (posterior predictive mean), ``sd``, ``q05``, ``q95``;
            one row per site x species, sites in input order.
        """
        self._check_fitted()
        df = sites if isinstance(sites, pd.DataFrame) else read_table(sites, crs=self.crs_)
        check_coordinates(df, self.crs_, "sites")
        df = validate_sites(df, self.covariates, categorical=self.categorical)
        x = self.encoder_.transform(df)  # also rejects categorical levels unseen at fit time
        if isinstance(self.estimator_, _MaxentNetEnsemble):
            summ = self.estimator_.predict(df)
        else:
            summ = self.estimator_.predict(x)
        site = df["siteid"].to_numpy() if "siteid" in df.columns else np.arange(len(df))
        n, s = summ.mean.shape
        return pd.DataFrame(
            {
                "site": np.repeat(site, s),
                "species": np.tile(np.asarray(self.species_, dtype=object), n),
                "probability": summ.mean.ravel(),
                "sd": summ.sd.ravel(),
                "q05": summ.q05.ravel(),
                "q95": summ.q95.ravel(),
            }
        )

    def sample_communities(self, sites: pd.DataFrame, n: int = 100) -> np.ndarray:
        """Joint community samples ``(n, n_sites, n_species)`` (integrated model only)."""
        self._check_fitted()
        if not hasattr(self.estimator_, "sample_communities"):
            raise InvalidInputError(f"model={self.model!r} has no joint community samples.")
        df = validate_sites(sites, self.covariates, categorical=self.categorical)
        return self.estimator_.sample_communities(self.encoder_.transform(df), n)

    def _check_fitted(self) -> None:
        if self.estimator_ is None:
            raise InvalidInputError("this SDM is not fitted; call fit(records) or SDM.load(dir).")

    # ------------------------------------------------------------------ persistence
    def manifest(self) -> dict[str, Any]:
        """The JSON manifest written by :meth:`save`."""
        from ecocube import __version__

        self._check_fitted()
        return {
            "format": "ecocube-sdm",
            "format_version": FORMAT_VERSION,
            "ecocube_version": __version__,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "model": self.model,
            "mode": getattr(self.estimator_, "mode", self.model),
            "covariates": self.covariates,
            "categorical": self.categorical,
            "categorical_levels": self.encoder_.levels,
            "encoder": self.encoder_.to_dict(),
            "species": self.species_,
            "seed": self.seed,
            "drop_na": self.drop_na,
            "quadratic": self.quadratic,
            "crs": self.crs_,
            "records": self.kinds_,
            "options": self.options,
            "weights": _WEIGHTS,
        }

    def save(self, path: str | Path) -> Path:
        """Write the fitted model to the folder ``path`` atomically; return it."""
        import torch

        target = Path(path)
        manifest = self.manifest()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            torch.save(self.estimator_.state(), tmp / _WEIGHTS)
            (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
            check_model_target(target)
            swap_into_place(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return target

    @classmethod
    def load(cls, path: str | Path, *, device: str = "cpu") -> SDM:
        """Read a model folder written by :meth:`save`."""
        import torch

        folder = Path(path)
        mpath = folder / MANIFEST_NAME
        if not mpath.is_file():
            raise InvalidInputError(
                f"{str(folder)!r} is not an ecocube model folder (no {MANIFEST_NAME}); give the "
                "--out folder of 'ecocube sdm fit'."
            )
        m = json.loads(mpath.read_text(encoding="utf-8"))
        if m.get("format") != "ecocube-sdm" or m.get("format_version") != FORMAT_VERSION:
            raise InvalidInputError(
                f"{str(mpath)!r} has format {m.get('format')!r} version "
                f"{m.get('format_version')!r}; this ecocube reads ecocube-sdm version "
                f"{FORMAT_VERSION}: refit the model."
            )
        obj = cls(
            m["model"],
            m["covariates"],
            m["categorical"],
            seed=m["seed"],
            drop_na=m["drop_na"],
            quadratic=m["quadratic"],
            device=device,
            options=m["options"],
        )
        obj.species_ = list(m["species"])
        obj.encoder_ = CovariateEncoder.from_dict(m["encoder"])
        obj.crs_ = m["crs"]
        obj.kinds_ = m["records"]
        state = torch.load(folder / m["weights"], map_location="cpu", weights_only=True)
        if m["model"] == "maxent-net":
            obj.estimator_ = _MaxentNetEnsemble.from_state(state, device=device)
        else:
            obj.estimator_ = IntegratedSDM.from_state(state, device=device)
        return obj


class _MaxentNetEnsemble:
    """:class:`ecocube.models.maxent_net.MaxentNet` with member spread as uncertainty.

    The network's independent members (8 by default) are an ensemble of seeds; the mean, sd and
    5 %/95 % quantiles of their cloglog outputs give ``probability``, ``sd``, ``q05``, ``q95``.
    With a user's own background every species is normalised over that random background
    (``background="random"``), since a single species has no target group.
    """

    mode = "presence-only"

    def __init__(self, net: Any) -> None:
        self.net = net

    @classmethod
    def fit(
        cls,
        presences: pd.DataFrame,
        background: pd.DataFrame,
        covariates: list[str],
        categorical: list[str],
        options: dict[str, Any],
        progress: bool = False,
    ) -> _MaxentNetEnsemble:
        from ecocube.models.maxent_net import MaxentNet, MaxentNetConfig

        config = MaxentNetConfig(**{"background": "random", "n_members": 8, **options})
        net = MaxentNet(covariates + categorical, categorical, config)
        return cls(net.fit(presences, background, species_col="species", progress=progress))

    def member_probabilities(self, sites: pd.DataFrame) -> np.ndarray:
        """Cloglog output of every member, ``(members, n_sites, S)``."""
        import math

        import torch

        net = self.net
        x = torch.from_numpy(net.encoder.transform(sites))
        device = next(net.network.parameters()).device
        net.network.eval()
        with torch.no_grad():
            f = net.network(x.to(device)).cpu()
        rel = (f - net._log_z + math.log(net._n_background)).numpy()
        return -np.expm1(-np.exp(np.clip(rel, -50, 20)))

    def predict(self, sites: pd.DataFrame) -> Any:
        from ecocube.models.integrated import PosteriorSummary

        p = self.member_probabilities(sites)
        q05, q95 = np.quantile(p, [0.05, 0.95], axis=0)
        return PosteriorSummary(mean=p.mean(0), sd=p.std(0), q05=q05, q95=q95)

    def state(self) -> dict[str, Any]:
        from dataclasses import asdict

        net = self.net
        enc = net.encoder
        return {
            "config": {k: list(v) if isinstance(v, tuple) else v
                       for k, v in asdict(net.config).items()},
            "covariates": list(net.covariates),
            "categorical": list(net.categorical),
            "species": list(net.species_),
            "n_features": len(enc.feature_names),
            "network": net.network.state_dict(),
            "log_z": net._log_z,
            "n_background": float(net._n_background),
            "mean": enc.mean_.tolist(),
            "std": enc.std_.tolist(),
            "levels": {c: np.asarray(v).tolist() for c, v in enc.levels_.items()},
        }  # fmt: skip

    @classmethod
    def from_state(cls, state: dict[str, Any], *, device: str = "cpu") -> _MaxentNetEnsemble:
        from ecocube.models.maxent_net import MaxentNet, MaxentNetConfig, MaxentNetwork

        cfg = dict(state["config"])
        cfg["hidden"] = tuple(cfg["hidden"])
        cfg["device"] = device
        config = MaxentNetConfig(**cfg)
        net = MaxentNet(state["covariates"], state["categorical"], config)
        net.encoder.mean_ = np.asarray(state["mean"], dtype=np.float64)
        net.encoder.std_ = np.asarray(state["std"], dtype=np.float64)
        net.encoder.levels_ = {c: np.asarray(v) for c, v in state["levels"].items()}
        net.species_ = tuple(state["species"])
        net.network = MaxentNetwork(
            state["n_features"], len(net.species_), hidden=config.hidden,
            activation=config.activation, dropout=config.dropout,
            linear_skip=config.linear_skip, n_members=config.n_members,
        )  # fmt: skip
        net.network.load_state_dict(state["network"])
        net.network.to(device)
        net._log_z = state["log_z"]
        net._n_background = state["n_background"]
        return cls(net)


def _check_options(model: str, options: dict[str, Any]) -> None:
    from dataclasses import fields

    if model == "integrated":
        valid = {f.name for f in fields(IntegratedConfig)}
    else:
        from ecocube.models.maxent_net import MaxentNetConfig

        valid = {f.name for f in fields(MaxentNetConfig)}
    bad = sorted(set(options) - valid)
    if bad:
        raise InvalidInputError(
            f"unknown option(s) {bad} for model={model!r}; valid options: {sorted(valid)}."
        )


def _survey_matrix(
    sv: pd.DataFrame, enc: CovariateEncoder, sp_index: dict[str, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Site x species detections from survey rows.

    Rows sharing a ``siteid`` are one survey (covariates and effort from its first row); without
    ``siteid`` every row is its own survey of one species. Species not recorded at a surveyed
    site are unknown (NaN), not absent.
    """
    sv = sv.reset_index(drop=True)
    key = (
        sv["siteid"].astype(str).to_numpy()
        if "siteid" in sv.columns
        else np.arange(len(sv)).astype(str)
    )
    codes, first = np.unique(key, return_index=True)
    site_of = np.searchsorted(codes, key)
    y = np.full((len(codes), len(sp_index)), np.nan, dtype=np.float32)
    y[site_of, sv["species"].map(sp_index).to_numpy()] = sv["presence"].to_numpy(np.float32)
    head = sv.iloc[first]
    if "effort" in sv.columns:
        effort = pd.to_numeric(head["effort"], errors="coerce").to_numpy(float)
        if not (np.isfinite(effort) & (effort > 0)).all():
            raise InvalidInputError(
                "the 'effort' column of survey rows must be a positive number (survey area or "
                "effort, e.g. in hectares or visits) on every survey row."
            )
        off = np.log(effort).astype(np.float32)
    else:
        off = np.zeros(len(codes), np.float32)
    return enc.transform(head), y, off
