"""Scikit-learn-like species distribution model for a user's own records.

:class:`SDM` fits one of ecocube's registered SDMs (:func:`ecocube.models.model_class`: those
with records hooks, ``maxent-net`` and ``integrated``) to a records table (see
:mod:`ecocube.models.records` for the columns) and predicts, with posterior (or ensemble)
uncertainty, the probability of detecting each species in a standard survey (unit effort) at
new sites, or for presence-only fits a relative suitability (see
:class:`~ecocube.models.Prediction`)::

    from ecocube.models import SDM
    sdm = SDM(model="integrated", covariates=["bio1", "bio12"], seed=0).fit("records.csv")
    preds = sdm.predict("sites.csv")  # site, species, probability, sd, q05, q95
    sdm.save("model_dir")
    same = SDM.load("model_dir")

The front owns what is common to every model fitted from a table: reading and validating the
records, the cross-validation (early stopping and held-out AUC) and the output table; the model
itself (:class:`~ecocube.models.SpeciesDistributionModel`) owns its encoder, its fit and its
state. A model folder holds ``manifest.json`` (the front's settings, species, record counts and
validation, format version 2) beside the model's own ``model.json`` and ``model.npz``; it is
written to a temporary folder and renamed into place, so an interrupted save never leaves a
half-written model. Folders of format version 1 (a ``model.pt`` file) still load.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from ecocube._atomic import swap_into_place, temporary_sibling
from ecocube.errors import InvalidInputError
from ecocube.models._base import (
    MODELS,
    ExplainFunction,
    ModelInputs,
    Prediction,
    RecordsSpec,
    SpeciesDistributionModel,
    check_model_folder,
    model_class,
    read_json_object,
    registered_models,
    write_state,
)
from ecocube.models._features import CovariateEncoder
from ecocube.models.novelty import Novelty
from ecocube.models.records import (
    check_coordinates,
    check_crs,
    read_table,
    survey_table,
    validate_records,
    validate_sites,
)

if TYPE_CHECKING:
    import xarray as xr

    from ecocube.models.cube_records import CubeRecords

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "MODELS",
    "NOVELTY_NAME",
    "SDM",
    "check_model_target",
    "front_model",
    "front_models",
    "table_model",
    "table_models",
]

MANIFEST_NAME = "manifest.json"
#: The novelty of the training covariates in a model folder (absent in older folders).
NOVELTY_NAME = "novelty.json"
#: Registered models the front fits from a cube only (records placed on it, image patches).
_CUBE_ONLY = ("multimodal",)
FORMAT_VERSION = 2
#: Format versions :meth:`SDM.load` reads (1: before the models saved themselves).
_READABLE_VERSIONS = (1, 2)
PREDICTION_COLUMNS = ("site", "species", "probability", "sd", "q05", "q95")


class _FitPart(Protocol):
    """Fits the model on part of the records, early-stopped on the held-out rows if given."""

    def __call__(
        self,
        part: pd.DataFrame,
        val: pd.DataFrame | None,
        steps: int,
        patience: int | None = None,
    ) -> SpeciesDistributionModel: ...


def table_models() -> tuple[str, ...]:
    """Names of the registered models :class:`SDM` can fit to a records table, sorted."""
    return tuple(sorted(n for n, c in registered_models().items() if c.record_kinds))


def front_models() -> tuple[str, ...]:
    """Names of the models :class:`SDM` fits: the table models and those fitted from a cube."""
    return tuple(sorted({*table_models(), *(m for m in _CUBE_ONLY if m in registered_models())}))


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
    check_model_folder(path, markers=(MANIFEST_NAME,))


def front_model(model: str) -> type[SpeciesDistributionModel]:
    """The registered class of ``model``, which :class:`SDM` must be able to fit.

    Raises
    ------
    InvalidInputError
        ``model`` is not one of :func:`front_models` (the message lists them).
    """
    if model in _CUBE_ONLY and model in registered_models():
        return model_class(model)
    if model not in registered_models():
        raise InvalidInputError(
            f"model={model!r} is not supported; choose one of {front_models()}."
        )
    return table_model(model)


def table_model(model: str) -> type[SpeciesDistributionModel]:
    """The registered class of ``model``, which must be fitted from a records table.

    Raises
    ------
    InvalidInputError
        ``model`` is not registered, or it is not fitted from a table (the message lists the
        models that are).
    """
    names = table_models()
    if model not in registered_models():
        raise InvalidInputError(f"model={model!r} is not supported; choose one of {names}.")
    cls = model_class(model)
    if not cls.record_kinds:
        raise InvalidInputError(
            f"model={model!r} is not fitted from a records table (it needs "
            f"{cls.__qualname__}.fit's own data, e.g. a cube); choose one of {names}."
        )
    return cls


class SDM:
    """Species distribution model with ``fit`` / ``predict`` / ``save`` / ``load``.

    Parameters
    ----------
    model
        A model of :func:`front_models`: ``"integrated"`` (Pyro integrated presence-only +
        survey model; any mix of record kinds) or ``"maxent-net"`` (multi-species
        maximum-entropy network; presence + background records), fitted from a records
        table or from records placed on a cube; ``"multimodal"`` (image patches of the cube
        fused with the covariates; presence + background records) from a cube only.
    covariates
        Continuous covariate columns of a records table. Fitting from a cube they are the
        cube variables to use (as ``variables=`` of :meth:`fit`); empty: chosen there.
    categorical
        Categorical covariate columns (one-hot; a level unseen at fit time is an error at
        prediction).
    patch_variables
        ``multimodal`` only: cube variables stacked as the bands of the image patch around
        each site (default: the covariates).
    patch_size
        ``multimodal`` only: side of the patch in cube pixels (the ``patch_size`` option).
    seed
        Seed of every random step.
    drop_na
        Drop records with NaN or infinite covariates instead of raising. Records without
        ``x``/``y`` (NaN or infinite) are kept; the cross-validation is then random.
    quadratic
        Add squared terms of the continuous covariates to the design matrix of a model with a
        linear predictor (``integrated``); the network of ``maxent-net`` learns its own
        non-linear responses and ignores it.
    device
        Torch device (``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"auto"``); a device that is not
        available here is an error at construction, before any data are read.
    options
        Extra settings of the model: fields of its config class (:class:`IntegratedConfig`
        for ``integrated``, :class:`~ecocube.models.MaxentNetConfig` for ``maxent-net``).
    cv_folds
        Folds of the cross-validation run by :meth:`fit` (spatial blocks when the records
        have ``x``/``y``, else random): fold 0 is the validation split for early stopping,
        and held-out AUCs per species go to :attr:`validation_`. ``0`` skips it (fixed
        number of steps, no held-out AUC).

    Attributes
    ----------
    estimator_
        The fitted :class:`~ecocube.models.SpeciesDistributionModel`.
    encoder_
        Its covariate encoder.
    validation_
        After :meth:`fit` (and in the manifest): the split (``method`` ``spatial-block`` or
        ``random``, ``spatial``, ``block_size``, ``note``), the early-stopping outcome
        (``early_stopping``, ``final_steps``), and ``cv_auc``: per species the mean held-out
        AUC (``None`` when fewer than 2 held-out presences), held-out presences, folds scored
        and ``basis`` (``presence-background`` or ``presence-absence``).
    n_dropped_
        Records dropped by ``drop_na`` in the last :meth:`fit`.
    novelty_
        :class:`~ecocube.models.novelty.Novelty` of the continuous training covariates
        (presence, background and survey rows), ``None`` without continuous covariates or
        for a folder saved before it was kept.
    cube_
        After a fit from a cube: ``path`` (``None`` for an in-memory cube), ``crs`` (the
        cube's), ``variables``, ``background`` (source and rows added) and ``dropped``
        (records per reason); ``None`` after a fit from a table.
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
        patch_variables: Sequence[str] | None = None,
        patch_size: int | None = None,
    ) -> None:
        from ecocube.training import resolve_device

        cls = front_model(model)
        resolve_device(device)  # an unknown or unavailable device fails now, not after the fit
        covariates = [covariates] if isinstance(covariates, str) else list(covariates)
        categorical = [categorical] if isinstance(categorical, str) else list(categorical)
        options = dict(options or {})
        if model not in _CUBE_ONLY and (patch_variables is not None or patch_size is not None):
            raise InvalidInputError(
                f"patch_variables= / patch_size= (--patch-variables / --patch-size) are inputs "
                f"of model='multimodal' only, not of model={model!r}; drop them or use "
                "model='multimodal'."
            )
        if patch_size is not None:
            if options.get("patch_size", patch_size) != patch_size:
                raise InvalidInputError(
                    f"patch_size={patch_size!r} and options['patch_size']="
                    f"{options['patch_size']!r} disagree; give one of them."
                )
            options["patch_size"] = patch_size
        both = sorted(set(covariates) & set(categorical))
        if both:
            raise InvalidInputError(
                f"columns {both} are listed as both continuous and categorical covariates; "
                "list each column once."
            )
        _check_options(cls, model, options)
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
        self.options = options
        self.cv_folds = int(cv_folds)
        self.patch_variables = None if patch_variables is None else list(patch_variables)
        self.validation_: dict[str, Any] = {}
        self.n_dropped_ = 0
        self._basis_: dict[str, str] = {}
        self.species_: list[str] = []
        self.encoder_: CovariateEncoder | None = None
        self.estimator_: Any = None
        self.crs_: str | None = None
        self.kinds_: dict[str, int] = {}
        self.novelty_: Novelty | None = None
        self.cube_: dict[str, Any] | None = None
        self._cls = cls

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        records: pd.DataFrame | str | Path,
        *,
        crs: str | int | None = None,
        progress: bool = False,
        cube: xr.Dataset | str | Path | None = None,
        variables: Sequence[str] | None = None,
        background: int | str | None = None,
        drop_outside: bool = False,
        mask: str = "land",
    ) -> SDM:
        """Fit to a records table (DataFrame or CSV/Parquet/GeoPackage path), or to records
        placed on a cube.

        ``crs`` is the CRS of ``x``/``y`` (GeoPackages are reprojected to it; default
        EPSG:4326 with a cube); ``progress`` shows a progress bar over the optimisation.

        **From a cube** (``cube=``, a path or an ``xarray.Dataset``) the records need only
        ``x``/``y``, ``species``, ``kind`` (default ``presence``) and ``presence`` (surveys):
        :func:`ecocube.models.cube_records.cube_records` reads the covariates at their cells
        (``variables``: default the constructor's covariates and categorical columns, else
        every ``(y, x)`` cube variable, categorical ones by their ``ecocube:kind``), adds
        background rows (``background``: ``N`` random valid cells drawn with ``seed`` from
        the cells ``mask`` keeps, or ``"target-group"``: every record's cell) and rejects
        records it cannot place unless ``drop_outside``. ``multimodal`` also cuts image
        patches of ``patch_variables`` around the sites; it is fitted for all its epochs
        without cross-validation.

        With ``cv_folds`` >= 2 the records are split into ``cv_folds`` folds: of square
        spatial blocks when they have ``x``/``y`` (a GeoPackage geometry gives them), else at
        random (not spatial; :attr:`validation_` says so). Fold 0 is the validation split
        for early stopping: the number of optimisation steps (SVI steps for ``integrated``,
        epochs for ``maxent-net``) with the best held-out loss is kept, and the final model is
        refitted on all records for that many. The held-out AUC of every species is computed
        on the held-out folds (all folds for a model cheap enough, ``cv_all_folds``, such as
        ``maxent-net``; fold 0 only for ``integrated``, whose full CV would cost ``cv_folds``
        more fits) and stored in :attr:`validation_`.

        The novelty of the training covariates (:attr:`novelty_`) is fitted on the
        continuous covariates of every row.

        Raises
        ------
        InvalidInputError
            On any invalid record (see :func:`ecocube.models.records.validate_records` and,
            from a cube, :func:`~ecocube.models.cube_records.cube_records`), including
            NaN/infinite covariates unless ``drop_na``, and record kinds the model does not
            learn from; cube options without ``cube``; a ``multimodal`` model without one.
        """
        if cube is not None:
            return self._fit_cube(
                records,
                cube,
                crs=crs,
                progress=progress,
                variables=variables,
                background=background,
                drop_outside=drop_outside,
                mask=mask,
            )
        given = {
            "variables": variables is not None,
            "background": background is not None,
            "drop_outside": drop_outside,
            "mask": mask != "land",
        }
        used = [k for k, v in given.items() if v]
        if used:
            raise InvalidInputError(
                f"{', '.join(f'{k}=' for k in used)} place records on a cube: pass cube= "
                "(--cube) as well, or drop them to fit a table with its covariate columns."
            )
        if self.model in _CUBE_ONLY:
            raise InvalidInputError(
                f"model={self.model!r} is fitted from a cube (image patches around the "
                "records): pass cube= (--cube CUBE.zarr)."
            )
        if not self.covariates and not self.categorical:
            raise InvalidInputError(
                "no covariates given: name the covariate columns, e.g. covariates=['bio1', "
                "'bio12'] or --covariates bio1,bio12, or fit from a cube (cube=, --cube)."
            )
        crs = check_crs(crs)
        df = records if isinstance(records, pd.DataFrame) else read_table(records, crs=crs)
        check_coordinates(df, crs)
        self.cube_ = None
        return self._fit_table(df, crs, progress)

    def _fit_table(self, df: pd.DataFrame, crs: str | None, progress: bool) -> SDM:
        """Validate the records table, fit the model with its cross-validation."""
        n_in = len(df)
        df = validate_records(
            df, self.covariates, categorical=self.categorical, drop_na=self.drop_na
        )
        self.n_dropped_ = n_in - len(df)
        self.crs_ = crs
        self.kinds_ = {k: int(v) for k, v in df["kind"].value_counts().items()}
        self._check_kinds()
        is_po, is_sv = df["kind"] == "presence", df["kind"] == "survey"
        self.species_ = sorted(set(df.loc[is_po | is_sv, "species"]))
        spec = RecordsSpec(
            covariates=tuple(self.covariates),
            categorical=tuple(self.categorical),
            species=tuple(self.species_),
            quadratic=self.quadratic,
            seed=self.seed,
            device=self.device,
            options=dict(self.options),
            progress=progress,
        )
        encoder = self._cls.records_encoder(df, spec)
        self.encoder_ = encoder

        def fit_part(
            part: pd.DataFrame, val: pd.DataFrame | None, steps: int, patience: int | None = None
        ) -> SpeciesDistributionModel:
            """The model fitted on ``part`` for at most ``steps``, early-stopped on ``val``."""
            return self._cls.fit_records(
                part, spec, encoder, steps=steps, validation=val, patience=patience
            )

        self.validation_ = self._fit_validated(df, fit_part)
        self.novelty_ = _fit_novelty(df, self.covariates)
        return self

    def _fit_cube(
        self,
        records: pd.DataFrame | str | Path,
        cube: xr.Dataset | str | Path,
        *,
        crs: str | int | None,
        progress: bool,
        variables: Sequence[str] | None,
        background: int | str | None,
        drop_outside: bool,
        mask: str,
    ) -> SDM:
        """Place the records on the cube (:func:`cube_records`), then fit."""
        from ecocube.models.cube_records import cube_records

        crs_text = str(check_crs("EPSG:4326" if crs is None else crs))
        ds, path = _open_cube(cube)
        categorical: Sequence[str] | None = None
        if self.covariates or self.categorical:
            if variables is not None:
                raise InvalidInputError(
                    f"the cube variables are given twice: covariates={self.covariates} / "
                    f"categorical={self.categorical} and variables={list(variables)}; give "
                    "them once (variables=, --variables)."
                )
            variables = [*self.covariates, *self.categorical]
            categorical = self.categorical
        df = records if isinstance(records, pd.DataFrame) else read_table(records, crs=crs_text)
        placed = cube_records(
            df,
            ds,
            variables=variables,
            categorical=categorical,
            crs=crs_text,
            background=background,
            drop_outside=drop_outside,
            mask=mask,
            seed=self.seed,
        )
        self.covariates, self.categorical = list(placed.covariates), list(placed.categorical)
        self.cube_ = {
            "path": path,
            "crs": placed.cube_crs,
            "variables": list(placed.variables),
            "background": {"source": placed.background, "added": placed.n_added},
            "dropped": dict(placed.dropped),
        }
        if self.model in _CUBE_ONLY:
            return self._fit_multimodal(ds, placed, progress)
        return self._fit_table(placed.table, crs_text, progress)

    def _fit_multimodal(self, ds: xr.Dataset, placed: CubeRecords, progress: bool) -> SDM:
        """Fit a ``multimodal`` model on the placed presences and background rows."""
        from ecocube.models.multimodal import MultimodalConfig, MultimodalSDM

        table = placed.table
        kinds = table["kind"]
        if (kinds == "survey").any():
            raise InvalidInputError(
                f"model={self.model!r} learns from presence and background rows only, but the "
                f"records hold {int((kinds == 'survey').sum())} survey rows; use "
                "model='integrated' for survey data (or drop the survey rows)."
            )
        df = validate_records(table, self.covariates, categorical=self.categorical)
        presences = df[df["kind"] == "presence"]
        # target-group: the model's own target-group background (every presence site), so
        # the added cells are not passed twice; other background rows are random background
        bg_rows = (df["kind"] == "background").to_numpy()
        if placed.background == "target-group":
            bg_rows &= ~placed.added
        background = df.loc[bg_rows, ["x", "y"]] if bg_rows.any() else None
        config = MultimodalConfig(**{**self.options, "seed": self.seed, "device": self.device})
        est = MultimodalSDM(
            [*self.covariates, *self.categorical],
            self.patch_variables,
            self.categorical,
            config,
        )
        est.fit(ds, presences, background=background, crs=placed.crs, progress=progress)
        self.estimator_, self.encoder_ = est, est.encoder
        self.n_dropped_ = 0
        self.crs_ = placed.crs
        self.kinds_ = {k: int(v) for k, v in df["kind"].value_counts().items()}
        self.species_ = list(est.species_)
        self.validation_ = {
            "n_folds": 0,
            "method": "none",
            "spatial": False,
            "unit": "epochs",
            "max_steps": config.epochs,
            "final_steps": config.epochs,
            "folds_scored": 0,
            "cv_auc": {},
            "note": f"model={self.model!r}: fitted for all {config.epochs} epochs, no "
            "cross-validation (see ecocube.models.multimodal.block_cv_auc)",
        }
        self.novelty_ = _fit_novelty(df, self.covariates)
        return self

    def _check_kinds(self) -> None:
        """Raise when the records hold kinds the model does not learn from."""
        kinds = self._cls.record_kinds
        for kind, n in self.kinds_.items():
            if kind in kinds:
                continue
            others = [m for m in table_models() if kind in model_class(m).record_kinds]
            use = " or ".join(f"model={m!r}" for m in others)
            raise InvalidInputError(
                f"model={self.model!r} learns from {' and '.join(kinds)} rows only, but the "
                f"records hold {n} {kind} rows; use {use} for {kind} data (or drop the "
                f"{kind} rows)."
            )

    # ------------------------------------------------------------------ validation
    def _max_steps(self) -> tuple[int, str]:
        """Steps of the configured model and their unit."""
        option = self._cls.steps_option
        default = getattr(self._cls.config_class, option)
        return int(self.options.get(option, default)), self._cls.steps_unit

    def _fit_validated(self, df: pd.DataFrame, fit_part: _FitPart) -> dict[str, Any]:
        """Early stopping on the validation fold, held-out AUCs, then the final fit."""
        n_max, unit = self._max_steps()
        info: dict[str, Any] = {"n_folds": self.cv_folds, "unit": unit, "max_steps": n_max}
        if self.cv_folds == 0:
            self.estimator_ = fit_part(df, None, n_max)
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
            self.estimator_ = fit_part(df, None, n_max)
            info.update(
                folds_scored=0,
                final_steps=n_max,
                cv_auc={},
                note=f"{split['note']}; validation skipped ({problem}): fitted for all "
                f"{n_max} {unit}, no held-out AUC",
            )
            return info
        patience = self._cls.default_patience(n_max)
        first = fit_part(df[folds != 0], df[folds == 0], n_max, patience)
        best_step, run = first.training_steps()
        best = max(1, int(best_step))
        scores = [self._heldout_auc(first, df[folds == 0])]
        if self._cls.cv_all_folds:  # cheap: the other folds too, for that many steps
            for k in range(1, self.cv_folds):
                if self._split_problem(df, folds == k) is None:
                    est = fit_part(df[folds != k], None, best)
                    scores.append(self._heldout_auc(est, df[folds == k]))
        self.estimator_ = fit_part(df, None, best)
        info.update(
            early_stopping={"best_step": best, "steps_run": int(run), "patience": patience},
            final_steps=best,
            folds_scored=len(scores),
            cv_auc=self._summarise_auc(scores),
        )
        if len(scores) == 1:  # one fold, the one that also chose the step count
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
        surveys = "survey" in self._cls.record_kinds

        def has(d: pd.DataFrame, kind: str) -> bool:
            return bool((d["kind"] == kind).any())

        if not surveys and not (has(train, "presence") and has(train, "background")):
            return "the training folds lack presence or background rows"
        if not (has(train, "presence") or has(train, "survey")):
            return "the training folds hold no presence or survey rows"
        if has(train, "presence") and not has(train, "background"):
            return "the training folds hold presence records but no background points"
        po_ok = has(val, "presence") and has(val, "background")
        if self._cls.per_part_species:
            trained = set(train.loc[train["kind"] == "presence", "species"])
            po_ok = po_ok and bool(set(val.loc[val["kind"] == "presence", "species"]) & trained)
        if not (po_ok or (surveys and has(val, "survey"))):
            return "the held-out fold has no presences with background points nor surveys"
        return None

    def _probabilities(self, est: SpeciesDistributionModel, sites: pd.DataFrame) -> np.ndarray:
        """Mean prediction ``(n_sites, S)`` of a fitted part; NaN for a species the part did
        not see (a fold without its presences)."""
        mean = est.predict(sites).mean
        if tuple(est.species_) == tuple(self.species_):
            return mean
        out = np.full((len(sites), len(self.species_)), np.nan)
        for j, s in enumerate(est.species_):
            out[:, self.species_.index(s)] = mean[:, j]
        return out

    def _basis(self, df: pd.DataFrame) -> dict[str, str]:
        """How each species is scored: its surveys if it has any, else presence vs background."""
        surveyed = set(df.loc[df["kind"] == "survey", "species"])
        return {
            s: "presence-absence" if s in surveyed else "presence-background" for s in self.species_
        }

    def _heldout_auc(
        self, est: SpeciesDistributionModel, val: pd.DataFrame
    ) -> dict[str, tuple[float, int]]:
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
        if is_sv.any() and "survey" in self._cls.record_kinds:
            sites, y_sv, off = survey_table(val.loc[is_sv], self.species_)
            mean = est.predict(sites, offset=off).mean
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

        For a presence-only fit (``estimator_.mode == "presence-only"``) ``probability`` is a
        relative suitability, not a probability of presence (see
        :class:`~ecocube.models.Prediction`).

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
        self._check_tabular("predict(sites)", "predict_points(cube, points)")
        df = sites if isinstance(sites, pd.DataFrame) else read_table(sites, crs=self.crs_)
        check_coordinates(df, self.crs_, "sites")
        df = df.reset_index(drop=True)  # row labels = input row numbers, kept by drop_na
        df = validate_sites(df, self.covariates, categorical=self.categorical, drop_na=drop_na)
        summ = self.estimator_.predict(df)  # also rejects categorical levels unseen at fit time
        site = df["siteid"].to_numpy() if "siteid" in df.columns else df.index.to_numpy()
        return summ.to_frame(site).rename(columns={"mean": "probability"})

    def predict_cells(self, cells: pd.DataFrame) -> Prediction:
        """The model's :class:`~ecocube.models.Prediction` at cells given by their covariates.

        The fast path of wall-to-wall maps: no site validation beyond the model's own, so
        ``cells`` must hold every column of :attr:`inputs` (``covariates`` and
        ``categorical``) with finite values (leave masked and nodata cells out first).

        Returns
        -------
        Prediction
            ``mean``, ``sd``, ``q05``, ``q95`` of shape ``(len(cells), len(species_))``.

        Raises
        ------
        InvalidInputError
            Not fitted, a ``multimodal`` model (it needs image patches: use
            :meth:`predict_points`), or columns missing.
        """
        self._check_fitted()
        self._check_tabular("predict_cells(cells)", "predict_points(cube, points)")
        missing = [c for c in (*self.covariates, *self.categorical) if c not in cells.columns]
        if missing:
            raise InvalidInputError(
                f"cells lacks the covariate columns {missing} of the model; it has "
                f"{list(map(str, cells.columns))}."
            )
        pred: Prediction = self.estimator_.predict(cells)
        return pred

    def predict_points(
        self,
        cube: xr.Dataset | str | Path,
        points: pd.DataFrame,
        *,
        crs: str | int | None = None,
    ) -> Prediction:
        """The model's :class:`~ecocube.models.Prediction` at points of a cube (any model).

        The covariates (and, for ``multimodal``, the image patches) are read from ``cube`` at
        each point's cell; a window of a cube works (with a margin of ``patch_size // 2``
        cells for ``multimodal`` patches).

        Parameters
        ----------
        cube
            Cube path or ``xarray.Dataset`` holding the variables of :attr:`inputs`.
        points
            Table with ``x`` and ``y`` in ``crs``.
        crs
            CRS of the points (default: the cube's).

        Returns
        -------
        Prediction
            Arrays ``(len(points), len(species_))``, rows in point order.

        Raises
        ------
        InvalidInputError
            Not fitted, the cube lacks an input variable, or a point lies outside the cube or
            on a nodata cell.
        """
        self._check_fitted()
        ds, _ = _open_cube(cube)
        self.inputs.check(map(str, ds.data_vars))
        where = ds.ecocube.crs if crs is None else crs
        if self.model in _CUBE_ONLY:
            pred: Prediction = self.estimator_.predict(ds, points, crs=where)
            return pred
        for col in ("x", "y"):
            if col not in points.columns:
                raise InvalidInputError(
                    f"points has no column {col!r} (columns: {list(map(str, points.columns))})."
                )
        names = [*self.covariates, *self.categorical]
        table = ds.ecocube.sample_points(
            points["x"].to_numpy(float), points["y"].to_numpy(float), crs=where, variables=names
        )
        bad = ~table["inside"].to_numpy(bool) | table[names].isna().any(axis=1).to_numpy()
        if bad.any():
            rows = np.flatnonzero(bad)[:5].tolist()
            raise InvalidInputError(
                f"{int(bad.sum())} of {len(points)} points lie outside the cube or on nodata "
                f"cells (first rows {rows}); leave them out, or give crs= if the points are "
                "not in the cube's CRS."
            )
        return self.predict_cells(table)

    def _check_tabular(self, call: str, instead: str) -> None:
        if self.model in _CUBE_ONLY:
            raise InvalidInputError(
                f"model={self.model!r} predicts from a cube (image patches around each site), "
                f"not with {call}; use {instead}."
            )

    def sample_communities(self, sites: pd.DataFrame, n: int = 100) -> np.ndarray:
        """Joint community samples ``(n, n_sites, n_species)`` (integrated model only)."""
        self._check_fitted()
        if not hasattr(self.estimator_, "sample_communities"):
            raise InvalidInputError(f"model={self.model!r} has no joint community samples.")
        df = validate_sites(sites, self.covariates, categorical=self.categorical)
        return np.asarray(self.estimator_.sample_communities(df, n))

    @property
    def inputs(self) -> ModelInputs:
        """Names and roles of the fitted model's inputs."""
        self._check_fitted()
        return self.estimator_.inputs

    def explain_function(self, *, draw: int | None = None) -> ExplainFunction:
        """The fitted model's :meth:`~ecocube.models.SpeciesDistributionModel.explain_function`
        (its inputs: ``encoder_.transform(sites)``)."""
        self._check_fitted()
        return self.estimator_.explain_function(draw=draw)

    def _check_fitted(self) -> None:
        if self.estimator_ is None:
            raise InvalidInputError("this SDM is not fitted; call fit(records) or SDM.load(dir).")

    # ------------------------------------------------------------------ persistence
    def manifest(self) -> dict[str, Any]:
        """The JSON manifest written by :meth:`save` (the model's own state is beside it)."""
        from ecocube import __version__

        self._check_fitted()
        enc = self.estimator_.encoder
        return {
            "format": "ecocube-sdm",
            "format_version": FORMAT_VERSION,
            "ecocube_version": __version__,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "model": self.model,
            "mode": self.estimator_.mode,
            "covariates": self.covariates,
            "categorical": self.categorical,
            "categorical_levels": {c: list(v) for c, v in enc.levels_.items()},
            "inputs": self.estimator_.inputs.to_dict(),
            "patch_variables": self.patch_variables,
            "cube": _json_safe(self.cube_),
            "species": self.species_,
            "seed": self.seed,
            "drop_na": self.drop_na,
            "quadratic": self.quadratic,
            "crs": self.crs_,
            "records": self.kinds_,
            "options": _json_safe(self.options),
            "cv_folds": self.cv_folds,
            "records_dropped": self.n_dropped_,
            "validation": _json_safe(self.validation_),
        }

    def save(self, path: str | Path) -> Path:
        """Write the fitted model to the folder ``path`` atomically; return it.

        The folder holds ``manifest.json`` and the model's own ``model.json`` and ``model.npz``
        (:meth:`SpeciesDistributionModel.save <ecocube.models.SpeciesDistributionModel.save>`'s
        files, so :meth:`SpeciesDistributionModel.load` reads the model alone).
        """
        target = Path(path)
        manifest = self.manifest()
        state = self.estimator_.get_state()
        with temporary_sibling(target, directory=True) as tmp:
            write_state(tmp, state)
            (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
            if self.novelty_ is not None:
                text = json.dumps(self.novelty_.to_dict(), allow_nan=False)
                (tmp / NOVELTY_NAME).write_text(text, encoding="utf-8")
            check_model_target(target)
            swap_into_place(tmp, target)
        return target

    @classmethod
    def load(cls, path: str | Path, *, device: str = "cpu") -> SDM:
        """Read a model folder written by :meth:`save` (format version 1 or 2).

        Raises
        ------
        InvalidInputError
            ``path`` is not a model folder, or its manifest or model files are damaged,
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
                patch_variables=m.get("patch_variables"),
            )
            obj.cube_ = m.get("cube")
            obj.validation_ = m.get("validation", {})
            obj.n_dropped_ = m.get("records_dropped", 0)
            obj.species_ = list(m["species"])
            obj.crs_ = m["crs"]
            obj.kinds_ = m["records"]
        except (KeyError, TypeError, ValueError) as err:
            raise InvalidInputError(
                f"{str(mpath)!r} is not a valid model manifest ({type(err).__name__}: {err}); "
                f"{_RESTORE}"
            ) from err
        est = SpeciesDistributionModel.load(folder, device=device)
        if est.name != obj.model or list(est.species_) != obj.species_:
            raise InvalidInputError(
                f"the model files of {str(folder)!r} hold a {est.name!r} model of species "
                f"{list(est.species_)}, but {MANIFEST_NAME} describes a {obj.model!r} model of "
                f"{obj.species_}; {_RESTORE}"
            )
        obj.estimator_ = est
        obj.encoder_ = getattr(est, "encoder", None)
        obj.novelty_ = _read_novelty(folder)
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
    "crs",
    "records",
)
#: Keys only format version 1 has.
_MANIFEST_KEYS_V1 = ("encoder", "weights")


def _read_novelty(folder: Path) -> Novelty | None:
    """The novelty saved in a model folder, ``None`` when the folder has none (older ones)."""
    path = folder / NOVELTY_NAME
    if not path.is_file():
        return None
    state = read_json_object(path, "a novelty state", _RESTORE)
    try:
        return Novelty.from_dict(state)
    except InvalidInputError as err:
        raise InvalidInputError(f"{str(path)!r}: {err}; {_RESTORE}") from err


def _read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a model folder, checked for its format, version and keys."""
    mpath = folder / MANIFEST_NAME
    if not mpath.is_file():
        raise InvalidInputError(
            f"{str(folder)!r} is not an ecocube model folder (no {MANIFEST_NAME}); give the "
            "--out folder of 'ecocube sdm fit'."
        )
    m = read_json_object(mpath, "a model manifest", _RESTORE)
    if m.get("format") != "ecocube-sdm" or m.get("format_version") not in _READABLE_VERSIONS:
        raise InvalidInputError(
            f"{str(mpath)!r} has format {m.get('format')!r} version "
            f"{m.get('format_version')!r}; this ecocube reads ecocube-sdm versions "
            f"{', '.join(map(str, _READABLE_VERSIONS))}: refit the model."
        )
    keys = _MANIFEST_KEYS + (_MANIFEST_KEYS_V1 if m["format_version"] == 1 else ())
    missing = [k for k in keys if k not in m]
    if missing:
        raise InvalidInputError(f"{str(mpath)!r} lacks the key(s) {missing}; {_RESTORE}")
    if m["format_version"] == 1:
        name = m["weights"]
        if not isinstance(name, str) or not name or Path(name).name != name:
            raise InvalidInputError(
                f"{str(mpath)!r}: 'weights' must name a file inside the model folder, got "
                f"{name!r}; {_RESTORE}"
            )
    return m


def _open_cube(cube: xr.Dataset | str | Path) -> tuple[xr.Dataset, str | None]:
    """The cube as a Dataset and its path (``None`` for an in-memory Dataset)."""
    import xarray as xr

    import ecocube.cube  # noqa: F401  (registers ds.ecocube)

    if isinstance(cube, xr.Dataset):
        return cube, None
    if isinstance(cube, str | Path):
        from ecocube.cube import open_cube

        return open_cube(cube), str(cube)
    raise InvalidInputError(
        f"cube= must be an xarray.Dataset or the path of a Zarr cube, got {type(cube).__name__}."
    )


def _fit_novelty(df: pd.DataFrame, covariates: Sequence[str]) -> Novelty | None:
    """Novelty of the continuous covariates of every row, ``None`` without any."""
    if not covariates:
        return None
    table = df[list(covariates)].apply(pd.to_numeric, errors="coerce")
    return Novelty.fit(table, variables=list(covariates))


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


def _check_options(
    cls: type[SpeciesDistributionModel], model: str, options: dict[str, Any]
) -> None:
    valid = {f.name for f in fields(cls.config_class)}
    bad = sorted(set(options) - valid)
    if bad:
        raise InvalidInputError(
            f"unknown option(s) {bad} for model={model!r}; valid options: {sorted(valid)}."
        )
