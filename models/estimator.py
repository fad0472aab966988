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
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ecocube._atomic import (
    check_no_file_parent,
    check_replaceable,
    swap_into_place,
    temporary_sibling,
)
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

    :meth:`SDM.save` replaces an existing model folder but never a folder holding other files,
    and no parent of ``path`` may be a file; the CLI calls this before fitting so that a bad
    ``--out`` fails before the work is done.

    Raises
    ------
    InvalidInputError
        ``path`` is a file, a folder holding other files, or lies under a file.
    """
    check_no_file_parent(path, f"model folder {str(path)!r}")
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
        Drop records with NaN or infinite covariates instead of raising. Records without
        ``x``/``y`` (NaN or infinite) are kept; the cross-validation is then random.
    quadratic
        Add squared terms of the continuous covariates to the design matrix.
    device
        Torch device (``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"auto"``); a device that is not
        available here is an error at construction, before any data are read.
    options
        Extra settings of the model (fields of :class:`IntegratedConfig` for ``integrated``,
        of :class:`~ecocube.models.MaxentNetConfig` for ``maxent-net``).
    cv_folds
        Folds of the cross-validation run by :meth:`fit` (spatial blocks when the records
        have ``x``/``y``, else random): fold 0 is the validation split for early stopping,
        and held-out AUCs per species go to :attr:`validation_`. ``0`` skips it (fixed
        number of steps, no held-out AUC).

    Attributes
    ----------
    validation_
        After :meth:`fit` (and in the manifest): the split (``method`` ``spatial-block`` or
        ``random``, ``spatial``, ``block_size``, ``note``), the early-stopping outcome
        (``early_stopping``, ``final_steps``), and ``cv_auc``: per species the mean held-out
        AUC (``None`` when fewer than 2 held-out presences), held-out presences, folds scored
        and ``basis`` (``presence-background`` or ``presence-absence``).
    n_dropped_
        Records dropped by ``drop_na`` in the last :meth:`fit`.
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
        cv_folds: int = 3,
    ) -> None:
        from ecocube.training import resolve_device

        if model not in MODELS:
            raise InvalidInputError(f"model={model!r} is not supported; choose one of {MODELS}.")
        resolve_device(device)  # an unknown or unavailable device fails now, not after the fit
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
        if (
            isinstance(cv_folds, bool)
            or not isinstance(cv_folds, int | np.integer)
            or (cv_folds < 0 or cv_folds == 1)
        ):
            raise InvalidInputError(
                f"cv_folds={cv_folds!r} is not valid; give 0 (no validation split) or an "
                "integer >= 2 (e.g. 3)."
            )
        self.model = model
        self.covariates = covariates
        self.categorical = categorical
        self.seed = int(seed)
        self.drop_na = bool(drop_na)
        self.quadratic = bool(quadratic)
        self.device = device
        self.options = dict(options or {})
        self.cv_folds = int(cv_folds)
        self.validation_: dict[str, Any] = {}
        self.n_dropped_ = 0
        self._basis_: dict[str, str] = {}
        self.species_: list[str] = []
        self.encoder_: CovariateEncoder | None = None
        self.estimator_: Any = None
        self.crs_: str | None = None
        self.kinds_: dict[str, int] = {}
        self._progress = False
        self._region_bg: pd.DataFrame | None = None

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

        With ``cv_folds`` >= 2 the records are split into ``cv_folds`` folds: of square
        spatial blocks when they have ``x``/``y`` (a GeoPackage geometry gives them), else at
        random (not spatial; :attr:`validation_` says so). Fold 0 is the validation split
        for early stopping: the number of SVI steps (``integrated``) or epochs
        (``maxent-net``) with the best held-out loss is kept, and the final model is refitted
        on all records for that many. The held-out AUC of every species is computed on the
        held-out folds (all folds for ``maxent-net``; fold 0 only for ``integrated``, whose
        full CV would cost ``cv_folds`` more fits) and stored in :attr:`validation_`.

        Raises
        ------
        InvalidInputError
            On any invalid record (see :func:`ecocube.models.records.validate_records`),
            including NaN/infinite covariates unless ``drop_na``.
        """
        crs = check_crs(crs)
        df = records if isinstance(records, pd.DataFrame) else read_table(records, crs=crs)
        check_coordinates(df, crs)
        n_in = len(df)
        df = validate_records(
            df, self.covariates, categorical=self.categorical, drop_na=self.drop_na
        )
        self.n_dropped_ = n_in - len(df)
        self.crs_ = crs
        self.kinds_ = {k: int(v) for k, v in df["kind"].value_counts().items()}
        is_po, is_bg, is_sv = (df["kind"] == k for k in ("presence", "background", "survey"))
        if self.model == "maxent-net" and is_sv.any():
            raise InvalidInputError(
                f"model='maxent-net' learns from presence and background rows only, but the "
                f"records hold {int(is_sv.sum())} survey rows; use model='integrated' for "
                "survey data (or drop the survey rows)."
            )
        self.species_ = sorted(set(df.loc[is_po | is_sv, "species"]))
        region = df.loc[is_bg | is_sv]
        enc = CovariateEncoder(self.covariates, self.categorical, quadratic=self.quadratic)
        enc.fit(region if len(region) else df)
        enc.fit_levels(df)
        self.encoder_ = enc
        self._progress = progress
        # the maxent-net folds scale (and one-hot) like the final fit: over all background rows
        self._region_bg = df.loc[is_bg, self.covariates + self.categorical]
        self.validation_ = self._fit_validated(df)
        return self

    # ------------------------------------------------------------------ validation
    def _max_steps(self) -> tuple[int, str]:
        """Steps of the configured model and their unit."""
        if self.model == "integrated":
            return int(self.options.get("steps", IntegratedConfig.steps)), "SVI steps"
        from ecocube.models.maxent_net import MaxentNetConfig

        return int(self.options.get("epochs", MaxentNetConfig.epochs)), "epochs"

    def _fit_validated(self, df: pd.DataFrame) -> dict[str, Any]:
        """Early stopping on the validation fold, held-out AUCs, then the final fit."""
        n_max, unit = self._max_steps()
        info: dict[str, Any] = {"n_folds": self.cv_folds, "unit": unit, "max_steps": n_max}
        if self.cv_folds == 0:
            self.estimator_ = self._fit_part(df, None, n_max)
            info.update(
                method="none",
                spatial=False,
                folds_scored=0,
                final_steps=n_max,
                cv_auc={},
                note="cv_folds=0: no validation split, no early stopping, no held-out AUC",
            )
            return info
        folds, split = self._cv_folds(df)
        info.update(split)
        self._basis_ = self._basis(df)
        problem = self._split_problem(df, folds == 0)
        if problem is not None:
            self.estimator_ = self._fit_part(df, None, n_max)
            info.update(
                folds_scored=0,
                final_steps=n_max,
                cv_auc={},
                note=f"{split['note']}; validation skipped ({problem}): fitted for all "
                f"{n_max} {unit}, no held-out AUC",
            )
            return info
        patience = max(50, n_max // 10) if self.model == "integrated" else max(5, n_max // 5)
        first = self._fit_part(df[folds != 0], df[folds == 0], n_max, patience)
        best, run = _best_step(first)
        scores = [self._heldout_auc(first, df[folds == 0])]
        if self.model == "maxent-net":  # cheap: the other folds too, for that many epochs
            for k in range(1, self.cv_folds):
                if self._split_problem(df, folds == k) is None:
                    est = self._fit_part(df[folds != k], None, best)
                    scores.append(self._heldout_auc(est, df[folds == k]))
        self.estimator_ = self._fit_part(df, None, best)
        info.update(
            early_stopping={"best_step": best, "steps_run": run, "patience": patience},
            final_steps=best,
            folds_scored=len(scores),
            cv_auc=self._summarise_auc(scores),
        )
        if len(scores) == 1:  # integrated: one fold, the one that also chose the step count
            info["note"] += (
                "; the held-out AUC is from fold 0, which also chose the number of steps "
                "(slightly optimistic)"
            )
        aucs = [v["auc"] for v in info["cv_auc"].values() if v["auc"] is not None]
        info["mean_auc"] = float(np.mean(aucs)) if aucs else None
        return info

    def _cv_folds(self, df: pd.DataFrame) -> tuple[np.ndarray, dict[str, Any]]:
        """Fold (0..cv_folds-1) of every record and a description of the split.

        Rows of one survey (sharing a ``siteid``) always fall in one fold. With ``x``/``y``
        the folds are made of square blocks of 1/5 of the larger side of the extent
        (:class:`ecocube.cube.splitters.SpatialBlockKFold`, seeded); finer blocks (1/10,
        1/20) are tried when fewer blocks than folds hold records. Otherwise the folds are
        a seeded random split of the surveys/records, which is not spatial.
        """
        from ecocube.cube.splitters import SpatialBlockKFold

        k = self.cv_folds
        sv = (df["kind"] == "survey").to_numpy()
        rows = np.arange(len(df)).astype(str)
        if "siteid" in df.columns:
            keys = np.where(sv, "site:" + df["siteid"].astype(str).to_numpy(), "row:" + rows)
        else:
            keys = "row:" + rows
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        inverse = inverse.ravel()
        reason = "the records have no x/y coordinates"
        no_xy = 0
        if {"x", "y"} <= set(df.columns):
            no_xy = int((~np.isfinite(df[["x", "y"]].to_numpy(float))).any(axis=1).sum())
            reason = f"{no_xy} of {len(df)} records have no x/y coordinates"
        if {"x", "y"} <= set(df.columns) and no_xy == 0:
            x, y = df["x"].to_numpy(float), df["y"].to_numpy(float)
            extent = float(max(np.ptp(x), np.ptp(y)))
            reason = "all records share one location"
            for divisions in (5, 10, 20) if extent > 0 else ():
                size = extent / divisions
                shown = f"{size:,.0f}" if size >= 1000 else f"{size:.4g}"
                try:
                    labels = SpatialBlockKFold(size, n_splits=k, seed=self.seed).fold_labels(x, y)
                except InvalidInputError:  # fewer blocks than folds: try smaller blocks
                    reason = f"fewer than {k} blocks of 1/20 of the extent hold records"
                    continue
                return labels[first][inverse], {
                    "method": "spatial-block",
                    "spatial": True,
                    "block_size": size,
                    "note": f"spatial-block CV: {k} folds of square blocks of {shown} "
                    f"{'coordinate units' if self.crs_ is None else self.crs_ + ' units'} (1/"
                    f"{divisions} of the extent), seed {self.seed}",
                }
        rng = np.random.default_rng(self.seed)
        fold_of = np.empty(len(first), dtype=np.int64)
        fold_of[rng.permutation(len(first))] = np.arange(len(first)) % k
        return fold_of[inverse], {
            "method": "random",
            "spatial": False,
            "block_size": None,
            "note": f"the CV is NOT spatial ({reason}): {k} folds of a random split, seed "
            f"{self.seed}; give x/y columns for a spatial-block CV",
        }

    def _split_problem(self, df: pd.DataFrame, held: np.ndarray) -> str | None:
        """Why fitting on ``~held`` and validating on ``held`` is impossible, or ``None``."""
        train, val = df[~held], df[held]

        def has(d: pd.DataFrame, kind: str) -> bool:
            return bool((d["kind"] == kind).any())

        if self.model == "maxent-net" and not (has(train, "presence") and has(train, "background")):
            return "the training folds lack presence or background rows"
        if not (has(train, "presence") or has(train, "survey")):
            return "the training folds hold no presence or survey rows"
        if has(train, "presence") and not has(train, "background"):
            return "the training folds hold presence records but no background points"
        po_ok = has(val, "presence") and has(val, "background")
        if self.model == "maxent-net":
            trained = set(train.loc[train["kind"] == "presence", "species"])
            po_ok = po_ok and bool(set(val.loc[val["kind"] == "presence", "species"]) & trained)
        if not (po_ok or (self.model == "integrated" and has(val, "survey"))):
            return "the held-out fold has no presences with background points nor surveys"
        return None

    def _fit_part(
        self,
        df: pd.DataFrame,
        val: pd.DataFrame | None,
        steps: int,
        patience: int | None = None,
    ) -> Any:
        """Fit the model on ``df`` for at most ``steps``, early-stopped on ``val`` if given."""
        if self.model == "integrated":
            config = IntegratedConfig(
                **{**self.options, "seed": self.seed, "device": self.device, "steps": steps}
            )
            vdata = None if val is None else self._integrated_data(val)
            return IntegratedSDM(config).fit(
                self._integrated_data(df),
                progress=self._progress,
                validation=vdata,
                patience=patience,
            )
        cols = self.covariates + self.categorical
        is_po, is_bg = df["kind"] == "presence", df["kind"] == "background"
        validation = None
        if val is not None:
            v_po, v_bg = val["kind"] == "presence", val["kind"] == "background"
            validation = (val.loc[v_po, ["species", *cols]], val.loc[v_bg, cols])
        options = {**self.options, "seed": self.seed, "device": self.device, "epochs": steps}
        return _MaxentNetEnsemble.fit(
            df.loc[is_po, ["species", *cols]],
            df.loc[is_bg, cols],
            self.covariates,
            self.categorical,
            options,
            self._progress,
            validation=validation,
            patience=patience,
            scale_on=self._region_bg,
        )

    def _encoder(self) -> CovariateEncoder:
        """The fitted covariate encoder."""
        if self.encoder_ is None:
            raise InvalidInputError("this SDM is not fitted; call fit(records) or SDM.load(dir).")
        return self.encoder_

    def _integrated_data(self, df: pd.DataFrame) -> IntegratedData:
        enc = self._encoder()
        sp_index = {s: i for i, s in enumerate(self.species_)}
        is_po, is_bg, is_sv = (df["kind"] == k for k in ("presence", "background", "survey"))
        data = IntegratedData(n_species=len(self.species_))
        if is_po.any():
            data.x_background = enc.transform(df.loc[is_bg])
            data.x_presence = enc.transform(df.loc[is_po])
            data.presence_species = df.loc[is_po, "species"].map(sp_index).to_numpy(np.int64)
        if is_sv.any():
            x_sv, y_sv, off = _survey_matrix(df.loc[is_sv], enc, sp_index)
            data.x_survey, data.y_survey, data.survey_offset = x_sv, y_sv, off
        return data

    def _probabilities(self, est: Any, sites: pd.DataFrame) -> np.ndarray:
        """Mean detection probability ``(n_sites, S)`` of a fitted part; NaN for a species
        the part did not see (a maxent-net fold without its presences)."""
        if isinstance(est, _MaxentNetEnsemble):
            mean = est.predict(sites).mean
            out = np.full((len(sites), len(self.species_)), np.nan)
            for j, s in enumerate(est.net.species_):
                out[:, self.species_.index(s)] = mean[:, j]
            return out
        return est.predict(self._encoder().transform(sites)).mean

    def _basis(self, df: pd.DataFrame) -> dict[str, str]:
        """How each species is scored: its surveys if it has any, else presence vs background."""
        surveyed = set(df.loc[df["kind"] == "survey", "species"])
        return {
            s: "presence-absence" if s in surveyed else "presence-background" for s in self.species_
        }

    def _heldout_auc(self, est: Any, val: pd.DataFrame) -> dict[str, tuple[float, int]]:
        """AUC and number of held-out presences per species scored on one held-out fold.

        Presence-only species: held-out presence records against held-out background points;
        surveyed species: detections against non-detections at held-out survey sites (at
        their effort). Species with fewer than 2 held-out presences (or no negatives) get a
        NaN AUC (skipped) but their presences are counted.
        """
        from ecocube.models.evaluation import auc

        basis = self._basis_
        out: dict[str, tuple[float, int]] = {}
        is_po, is_bg, is_sv = (val["kind"] == k for k in ("presence", "background", "survey"))
        if is_po.any() and is_bg.any():
            pres, bg = val.loc[is_po], val.loc[is_bg]
            prob = self._probabilities(est, pd.concat([pres, bg], ignore_index=True))
            for j, s in enumerate(self.species_):
                pos = (pres["species"] == s).to_numpy()
                n_pos = int(pos.sum())
                if basis[s] != "presence-background":
                    continue
                score = np.r_[prob[: len(pres)][pos, j], prob[len(pres) :, j]]
                y = np.r_[np.ones(n_pos), np.zeros(len(bg))]
                usable = n_pos >= 2 and np.isfinite(score).all()
                out[s] = (auc(y, score) if usable else np.nan, n_pos)
        if is_sv.any() and isinstance(est, IntegratedSDM):
            sp_index = {s: i for i, s in enumerate(self.species_)}
            x_sv, y_sv, off = _survey_matrix(val.loc[is_sv], self._encoder(), sp_index)
            mean = est.predict(x_sv, offset=off).mean
            for j, s in enumerate(self.species_):
                col = y_sv[:, j]
                ok = np.isfinite(col)
                n_pos = int((col[ok] == 1).sum())
                if basis[s] != "presence-absence" or not ok.any():
                    continue
                usable = n_pos >= 2 and n_pos < ok.sum()
                out[s] = (auc(col[ok], mean[ok, j]) if usable else np.nan, n_pos)
        return out

    def _summarise_auc(
        self, scores: list[dict[str, tuple[float, int]]]
    ) -> dict[str, dict[str, Any]]:
        """Per species: mean held-out AUC over the scored folds, presences, folds, basis."""
        out = {}
        for s in self.species_:
            got = [f[s] for f in scores if s in f]
            aucs = [a for a, _ in got if np.isfinite(a)]
            out[s] = {
                "auc": float(np.mean(aucs)) if aucs else None,
                "n_presences": int(sum(n for _, n in got)),
                "folds": len(aucs),
                "basis": self._basis_[s],
            }
        return out

    # ------------------------------------------------------------------ predict
    def predict(self, sites: pd.DataFrame | str | Path, *, drop_na: bool = False) -> pd.DataFrame:
        """Detection probability of every species at every site (unit survey effort).

        Parameters
        ----------
        sites
            Sites table (DataFrame or CSV/Parquet/GeoPackage path) with the covariates.
        drop_na
            Skip sites with a NaN or infinite covariate instead of raising; they are absent
            from the output (their row numbers, or ``siteid`` values, are missing from
            ``site``).

        Returns
        -------
        pandas.DataFrame
            Columns ``site`` (the ``siteid`` column if present, else the row number of the
            input from 0), ``species``, ``probability`` (posterior predictive mean), ``sd``,
            ``q05``, ``q95``; one row per site x species, sites in input order.

        Raises
        ------
        InvalidInputError
            Missing or non-numeric covariate columns, NaN or infinite covariates (unless
            ``drop_na``), or a categorical level not seen at fit time.
        """
        self._check_fitted()
        df = sites if isinstance(sites, pd.DataFrame) else read_table(sites, crs=self.crs_)
        check_coordinates(df, self.crs_, "sites")
        df = df.reset_index(drop=True)  # row labels = input row numbers, kept by drop_na
        df = validate_sites(df, self.covariates, categorical=self.categorical, drop_na=drop_na)
        x = self._encoder().transform(df)  # also rejects categorical levels unseen at fit time
        if isinstance(self.estimator_, _MaxentNetEnsemble):
            summ = self.estimator_.predict(df)
        else:
            summ = self.estimator_.predict(x)
        site = df["siteid"].to_numpy() if "siteid" in df.columns else df.index.to_numpy()
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
        return self.estimator_.sample_communities(self._encoder().transform(df), n)

    def _check_fitted(self) -> None:
        if self.estimator_ is None:
            raise InvalidInputError("this SDM is not fitted; call fit(records) or SDM.load(dir).")

    # ------------------------------------------------------------------ persistence
    def manifest(self) -> dict[str, Any]:
        """The JSON manifest written by :meth:`save`."""
        from ecocube import __version__

        self._check_fitted()
        enc = self._encoder()
        return {
            "format": "ecocube-sdm",
            "format_version": FORMAT_VERSION,
            "ecocube_version": __version__,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "model": self.model,
            "mode": getattr(self.estimator_, "mode", self.model),
            "covariates": self.covariates,
            "categorical": self.categorical,
            "categorical_levels": enc.levels,
            "encoder": enc.to_dict(),
            "species": self.species_,
            "seed": self.seed,
            "drop_na": self.drop_na,
            "quadratic": self.quadratic,
            "crs": self.crs_,
            "records": self.kinds_,
            "options": self.options,
            "cv_folds": self.cv_folds,
            "records_dropped": self.n_dropped_,
            "validation": _json_safe(self.validation_),
            "weights": _WEIGHTS,
        }

    def save(self, path: str | Path) -> Path:
        """Write the fitted model to the folder ``path`` atomically; return it."""
        import torch

        target = Path(path)
        manifest = self.manifest()
        with temporary_sibling(target, directory=True) as tmp:
            torch.save(self.estimator_.state(), tmp / _WEIGHTS)
            (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
            check_model_target(target)
            swap_into_place(tmp, target)
        return target

    @classmethod
    def load(cls, path: str | Path, *, device: str = "cpu") -> SDM:
        """Read a model folder written by :meth:`save`.

        Raises
        ------
        InvalidInputError
            ``path`` is not a model folder, or its manifest or weights file is damaged,
            truncated or from another format version (the message names the file).
        ConfigurationError
            ``device`` is not available here.
        """
        from ecocube.training import resolve_device

        resolve_device(device)
        folder = Path(path)
        mpath = folder / MANIFEST_NAME
        m = _read_manifest(folder)
        try:
            obj = cls(
                m["model"],
                m["covariates"],
                m["categorical"],
                seed=m["seed"],
                drop_na=m["drop_na"],
                quadratic=m["quadratic"],
                device=device,
                options=m["options"],
                cv_folds=m.get("cv_folds", 3),
            )
            obj.validation_ = m.get("validation", {})
            obj.n_dropped_ = m.get("records_dropped", 0)
            obj.species_ = list(m["species"])
            obj.encoder_ = CovariateEncoder.from_dict(m["encoder"])
            obj.crs_ = m["crs"]
            obj.kinds_ = m["records"]
        except (KeyError, TypeError, ValueError) as err:
            raise InvalidInputError(
                f"{str(mpath)!r} is not a valid model manifest ({type(err).__name__}: {err}); "
                f"{_RESTORE}"
            ) from err
        obj.estimator_ = _load_weights(folder, m, device)
        return obj


#: The fix named by every error about a damaged model folder.
_RESTORE = "restore the model folder from a backup or refit it with 'ecocube sdm fit'."
_MANIFEST_KEYS = (
    "model",
    "covariates",
    "categorical",
    "seed",
    "drop_na",
    "quadratic",
    "options",
    "species",
    "encoder",
    "crs",
    "records",
    "weights",
)


def _read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a model folder, checked for its format, version and keys."""
    mpath = folder / MANIFEST_NAME
    if not mpath.is_file():
        raise InvalidInputError(
            f"{str(folder)!r} is not an ecocube model folder (no {MANIFEST_NAME}); give the "
            "--out folder of 'ecocube sdm fit'."
        )
    try:
        m = json.loads(mpath.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidInputError(f"{str(mpath)!r} is not valid JSON ({err}); {_RESTORE}") from err
    if not isinstance(m, dict):
        raise InvalidInputError(
            f"{str(mpath)!r} holds a JSON {type(m).__name__}, not a model manifest (a JSON "
            f"object); {_RESTORE}"
        )
    if m.get("format") != "ecocube-sdm" or m.get("format_version") != FORMAT_VERSION:
        raise InvalidInputError(
            f"{str(mpath)!r} has format {m.get('format')!r} version "
            f"{m.get('format_version')!r}; this ecocube reads ecocube-sdm version "
            f"{FORMAT_VERSION}: refit the model."
        )
    missing = [k for k in _MANIFEST_KEYS if k not in m]
    if missing:
        raise InvalidInputError(f"{str(mpath)!r} lacks the key(s) {missing}; {_RESTORE}")
    name = m["weights"]
    if not isinstance(name, str) or not name or Path(name).name != name:
        raise InvalidInputError(
            f"{str(mpath)!r}: 'weights' must name a file inside the model folder, got "
            f"{name!r}; {_RESTORE}"
        )
    return m


def _load_weights(folder: Path, manifest: dict[str, Any], device: str) -> Any:
    """The fitted estimator from the weights file named by ``manifest``.

    The file is read with ``torch.load(weights_only=True)`` (tensors and plain data only, no
    code runs); a truncated, tampered or foreign file is one error naming the file.
    """
    import pickle
    import zipfile

    import torch

    wpath = folder / manifest["weights"]
    if not wpath.is_file():
        raise InvalidInputError(f"the model folder has no weights file {str(wpath)!r}; {_RESTORE}")
    try:
        state = torch.load(wpath, map_location="cpu", weights_only=True)
        if manifest["model"] == "maxent-net":
            return _MaxentNetEnsemble.from_state(state, device=device)
        return IntegratedSDM.from_state(state, device=device)
    except PermissionError:
        raise
    except (
        OSError,  # torch's zip reader on a truncated file
        pickle.UnpicklingError,
        zipfile.BadZipFile,
        EOFError,
        RuntimeError,
        KeyError,
        IndexError,
        TypeError,
        ValueError,
        AttributeError,
    ) as err:
        # the raw message of a refused pickle suggests weights_only=False: never do that
        raise InvalidInputError(
            f"cannot load the weights {str(wpath)!r}: the file is truncated, damaged or not "
            f"written by ecocube ({type(err).__name__}); {_RESTORE}"
        ) from err


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
        *,
        validation: tuple[pd.DataFrame, pd.DataFrame] | None = None,
        patience: int | None = None,
        scale_on: pd.DataFrame | None = None,
    ) -> _MaxentNetEnsemble:
        from ecocube.models.maxent_net import MaxentNet, MaxentNetConfig

        config = MaxentNetConfig(**{"background": "random", "n_members": 8, **options})
        net = MaxentNet(covariates + categorical, categorical, config)
        net.fit(
            presences,
            background,
            species_col="species",
            progress=progress,
            validation=validation,
            patience=patience,
            scale_on=scale_on,
        )
        return cls(net)

    def member_probabilities(self, sites: pd.DataFrame) -> np.ndarray:
        """Cloglog output of every member, ``(members, n_sites, S)``."""
        rel = self.net.member_log_intensity(sites)
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
            "config": {
                k: list(v) if isinstance(v, tuple) else v for k, v in asdict(net.config).items()
            },
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
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], *, device: str = "cpu") -> _MaxentNetEnsemble:
        from ecocube.models.maxent_net import MaxentNet, MaxentNetConfig

        cfg = dict(state["config"])
        cfg["hidden"] = tuple(cfg["hidden"])
        cfg["device"] = device
        config = MaxentNetConfig(**cfg)
        net = MaxentNet(state["covariates"], state["categorical"], config)
        net.encoder.mean_ = np.asarray(state["mean"], dtype=np.float64)
        net.encoder.std_ = np.asarray(state["std"], dtype=np.float64)
        net.encoder.levels_ = {c: np.asarray(v) for c, v in state["levels"].items()}
        net.species_ = tuple(state["species"])
        net.network = net._new_network(state["n_features"])
        net.network.load_state_dict(state["network"])
        net.network.to(device)
        net._log_z = state["log_z"]
        net._n_background = state["n_background"]
        return cls(net)


def _best_step(est: Any) -> tuple[int, int]:
    """``(best step, steps run)`` of a part fitted with early stopping."""
    if isinstance(est, _MaxentNetEnsemble):
        return max(1, int(est.net.best_epoch_)), len(est.net.history_)
    return max(1, int(est.best_step_)), int(est.steps_run_)


def _json_safe(value: Any) -> Any:
    """``value`` with NaN floats as ``None`` and NumPy scalars as Python ones (for JSON)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


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
