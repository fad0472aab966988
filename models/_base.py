"""The contract every species distribution model (SDM) of ecocube fulfils, and the model registry.

:class:`SpeciesDistributionModel` owns what the models share; each model fills its hooks:

* ``fit(...)`` on the model's own kind of data (a covariate table, an :class:`IntegratedData`,
  a cube and records) and ``predict(...) -> Prediction``: posterior (or ensemble) ``mean``,
  ``sd``, ``q05`` and ``q95`` per site and species;
* :attr:`~SpeciesDistributionModel.inputs` (:class:`ModelInputs`): the names and roles of the
  inputs, so that a caller can check a table or a cube before predicting;
* :meth:`~SpeciesDistributionModel.explain_function`: the differentiable map from an encoded
  feature matrix to log-intensities (:class:`ExplainFunction`), per posterior draw or member;
* persistence: the hooks ``_state`` / ``_from_state`` turn the fitted model into a JSON-safe
  dict plus named arrays (:class:`ModelState`); :meth:`~SpeciesDistributionModel.save` writes
  them as ``model.json`` + ``model.npz`` atomically and
  :meth:`~SpeciesDistributionModel.load` reads any registered model back (nothing pickled, so
  loading a folder runs no code from it);
* optional hooks that let :class:`ecocube.models.SDM` fit the model to a records table
  (``record_kinds``, ``records_encoder``, ``fit_records``...).

Models register under a name with :func:`register_model` (the built-in ones when their module is
imported; :func:`model_class` imports them on first use), as the ocean surrogates do with
``ARCHITECTURES``.

**Presence-only convention.** With survey data (``mode`` ``"integrated"`` or ``"survey-only"``)
``mean`` is the posterior predictive probability of detecting the species in one standard
survey of unit effort at the site. Presence-only records identify the intensity of records only
up to a constant, so for a presence-only fit (``mode`` ``"presence-only"``: every ``maxent-net``
and ``multimodal`` model, an ``integrated`` model without surveys) the output is a **relative
suitability** in (0, 1), the complementary log-log transform ``1 - exp(-exp(eta))`` of a
normalised log relative occurrence rate ``eta`` (defined by each model's ``predict``): it ranks
sites for one species, but it is not a probability of presence and is not comparable in level
between species or between models.
"""

from __future__ import annotations

import abc
import importlib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

import numpy as np
import pandas as pd

from ecocube._atomic import (
    check_no_file_parent,
    check_replaceable,
    swap_into_place,
    temporary_sibling,
)
from ecocube.errors import InvalidInputError

if TYPE_CHECKING:
    import torch

    from ecocube.models._features import CovariateEncoder

__all__ = [
    "MODELS",
    "MODEL_ARRAYS",
    "MODEL_FILE",
    "RESTORE",
    "ExplainFunction",
    "ModelInputs",
    "ModelState",
    "Prediction",
    "RecordsSpec",
    "SpeciesDistributionModel",
    "check_model_folder",
    "cloglog",
    "json_config",
    "load_module_arrays",
    "model_class",
    "module_arrays",
    "read_json_object",
    "read_state",
    "register_model",
    "registered_models",
    "summarise_draws",
    "write_state",
]

_ModelType = TypeVar("_ModelType", bound="type[SpeciesDistributionModel]")

#: Registered models by name (see :func:`register_model`).
MODELS: dict[str, type[SpeciesDistributionModel]] = {}
#: Modules of the built-in models; :func:`model_class` imports them so that they register.
_BUILTIN_MODULES = (
    "ecocube.models.maxent_net",
    "ecocube.models.integrated._model",
    "ecocube.models.multimodal",
)
MODEL_FILE = "model.json"
MODEL_ARRAYS = "model.npz"
_FORMAT = "ecocube-sdm-model"
_FORMAT_VERSION = 1
#: The fix named by every error about a damaged model folder.
RESTORE = "restore the model folder from a backup or refit the model"


def register_model(cls: _ModelType) -> _ModelType:
    """Class decorator: register a :class:`SpeciesDistributionModel` under ``cls.name``.

    Raises
    ------
    InvalidInputError
        ``cls.name`` is empty or already taken by another class.
    """
    if not cls.name:
        raise InvalidInputError(f"{cls.__name__} has no name; set the class attribute 'name'")
    other = MODELS.get(cls.name)
    if other is not None and other is not cls:
        raise InvalidInputError(
            f"model name {cls.name!r} is taken by {other.__module__}.{other.__qualname__}; "
            f"give {cls.__qualname__} another name"
        )
    MODELS[cls.name] = cls
    return cls


def model_class(name: str) -> type[SpeciesDistributionModel]:
    """The registered model class called ``name`` (the built-in models are imported first).

    Raises
    ------
    InvalidInputError
        No model of that name is registered (the message lists those that are).
    """
    if name not in MODELS:
        for module in _BUILTIN_MODULES:
            importlib.import_module(module)
    if name not in MODELS:
        raise InvalidInputError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name]


def registered_models() -> dict[str, type[SpeciesDistributionModel]]:
    """Every registered model by name, the built-in ones included."""
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    return dict(MODELS)


# ---------------------------------------------------------------------------------- value types
@dataclass(frozen=True)
class ModelInputs:
    """Names and roles of a model's inputs.

    Attributes
    ----------
    covariates
        Continuous covariates (columns of a sites table, variables of a cube), in order.
    categorical
        Categorical covariates (one-hot encoded; levels in the model's encoder).
    patch_variables
        Cube variables stacked as the bands of an image patch around each site.
    patch_size
        Side of that patch in cube pixels (``None`` without patches).
    """

    covariates: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    patch_variables: tuple[str, ...] = ()
    patch_size: int | None = None

    def __post_init__(self) -> None:
        for name in ("covariates", "categorical", "patch_variables"):
            object.__setattr__(self, name, tuple(str(v) for v in getattr(self, name)))

    @property
    def variables(self) -> tuple[str, ...]:
        """Every input variable once: covariates, categorical, then patch variables."""
        return tuple(dict.fromkeys((*self.covariates, *self.categorical, *self.patch_variables)))

    def missing(self, available: Iterable[str]) -> list[str]:
        """The input variables absent from ``available``, in input order."""
        have = {str(v) for v in available}
        return [v for v in self.variables if v not in have]

    def check(self, available: Iterable[str], what: str = "the cube") -> None:
        """Raise unless every input variable is among ``available`` (e.g. a cube's variables).

        Raises
        ------
        InvalidInputError
            Naming the missing variables and those ``what`` has.
        """
        names = sorted({str(v) for v in available})
        missing = self.missing(names)
        if missing:
            raise InvalidInputError(
                f"{what} lacks the variable(s) {missing} the model was fitted on (it has "
                f"{names}); give {what} with these variables, or refit the model on the "
                "variables available."
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types."""
        return {
            "covariates": list(self.covariates),
            "categorical": list(self.categorical),
            "patch_variables": list(self.patch_variables),
            "patch_size": self.patch_size,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelInputs:
        """The inputs of :meth:`to_dict`."""
        size = d.get("patch_size")
        return cls(
            tuple(d.get("covariates", ())),
            tuple(d.get("categorical", ())),
            tuple(d.get("patch_variables", ())),
            None if size is None else int(size),
        )


@dataclass
class Prediction:
    """Predictive summary of every species at every site, each array ``(n_sites, n_species)``.

    What the values are follows the presence-only convention of :mod:`ecocube.models._base`:
    probabilities of detection in a standard survey for fits with survey data, relative
    suitabilities in (0, 1) for presence-only fits.

    Attributes
    ----------
    mean, sd
        Posterior (or ensemble) predictive mean and standard deviation.
    q05, q95
        5 % and 95 % quantiles (``q05 <= q95``; the mean may lie outside for skewed draws).
    samples
        ``(n_draws, n_sites, n_species)`` draws, when asked for.
    species
        Species names in column order (empty when the model was fitted without names).
    """

    mean: np.ndarray
    sd: np.ndarray
    q05: np.ndarray
    q95: np.ndarray
    samples: np.ndarray | None = field(default=None, repr=False)
    species: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, np.ndarray]:
        """``{"mean", "sd", "q05", "q95"}`` arrays (the form map writers take)."""
        return {"mean": self.mean, "sd": self.sd, "q05": self.q05, "q95": self.q95}

    def to_frame(self, site: Sequence[Any] | np.ndarray | None = None) -> pd.DataFrame:
        """Long table ``site, species, mean, sd, q05, q95``: one row per site x species.

        ``site`` labels the rows of the arrays (default ``0..n_sites-1``); sites stay in order,
        species within each site in column order.
        """
        n, s = self.mean.shape
        site = np.arange(n) if site is None else np.asarray(site)
        names = self.species or tuple(f"species_{j}" for j in range(s))
        return pd.DataFrame(
            {
                "site": np.repeat(site, s),
                "species": np.tile(np.asarray(names, dtype=object), n),
                "mean": self.mean.ravel(),
                "sd": self.sd.ravel(),
                "q05": self.q05.ravel(),
                "q95": self.q95.ravel(),
            }
        )


def draw_quantiles(draws: np.ndarray, probs: Sequence[float]) -> np.ndarray:
    """Quantiles over the first axis of ``draws``, equal to ``np.quantile(draws, probs, axis=0)``.

    The draws are sorted along a contiguous last axis and the two order statistics around each
    quantile interpolated as numpy's default (``linear``) method does, bit for bit; this is
    several times faster than numpy's partition along a strided first axis. ``draws`` must be
    finite (NaN sorts last here, while numpy would return NaN). Returns ``(len(probs),
    *draws.shape[1:])``.
    """
    ordered = np.sort(np.moveaxis(np.asarray(draws), 0, -1), axis=-1)
    n = ordered.shape[-1]
    out = []
    for q in probs:
        h = q * (n - 1)
        lo = int(np.floor(h))
        t = np.float64(h - lo)
        a, b = ordered[..., lo], ordered[..., min(lo + 1, n - 1)]
        diff = np.subtract(b, a)
        out.append(np.subtract(b, diff * (1 - t)) if t >= 0.5 else np.add(a, diff * t))
    return np.stack(out)


def summarise_draws(
    draws: np.ndarray, species: Sequence[str] = (), *, keep: bool = False
) -> Prediction:
    """Mean, sd, 5 % and 95 % quantiles over the first axis of ``draws`` ``(n_draws, n, S)``."""
    q05, q95 = draw_quantiles(draws, [0.05, 0.95])
    return Prediction(
        mean=draws.mean(0),
        sd=draws.std(0),
        q05=q05,
        q95=q95,
        samples=draws if keep else None,
        species=tuple(species),
    )


def cloglog(eta: np.ndarray) -> np.ndarray:
    """``1 - exp(-exp(eta))`` with ``eta`` clipped to [-50, 20] (finite for any input)."""
    return -np.expm1(-np.exp(np.clip(eta, -50, 20)))


@dataclass(frozen=True)
class ExplainFunction:
    """The differentiable function an explanation method (e.g. SHAP) attributes.

    ``self(x)`` maps an encoded feature matrix ``x`` ``(n, len(feature_names))`` (float32, any
    device) to log-intensities ``(n, len(species))`` on the model's device, with autograd;
    ``eta`` of the model's ``predict`` before the cloglog link (latent site factors and block
    effects left out, unit survey effort).

    Attributes
    ----------
    function
        The map itself.
    feature_names
        Names of the columns of ``x`` (the encoder's feature names).
    species
        Names of the output columns.
    draw
        Posterior draw (or ensemble member) the function is for; ``None``: the mean of the
        log-intensity over all draws.
    """

    function: Callable[[torch.Tensor], torch.Tensor]
    feature_names: tuple[str, ...]
    species: tuple[str, ...]
    draw: int | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.function(x)


@dataclass(frozen=True)
class ModelState:
    """A fitted model as JSON-safe settings plus named arrays (what :meth:`save` writes).

    Attributes
    ----------
    model
        Registry name of the model class.
    meta
        JSON-safe dict: config, inputs, species, encoder and the model's own entries.
    arrays
        Named NumPy arrays: weights, posterior draws, normalisers.
    """

    model: str
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]


@dataclass(frozen=True)
class RecordsSpec:
    """What :class:`ecocube.models.SDM` asks of a model fitted to a records table.

    Attributes
    ----------
    covariates, categorical
        Continuous and categorical covariate columns of the records.
    species
        Every species of the records (presence or survey rows), sorted.
    quadratic
        Whether the design matrix has squared terms (for models with a linear predictor).
    seed, device
        Seed of every random step; torch device.
    options
        The model's settings (fields of its config class).
    progress
        Show a progress bar while fitting.
    """

    covariates: tuple[str, ...]
    categorical: tuple[str, ...]
    species: tuple[str, ...]
    quadratic: bool = True
    seed: int = 0
    device: str = "cpu"
    options: Mapping[str, Any] = field(default_factory=dict)
    progress: bool = False


# ------------------------------------------------------------------------------ the base class
class SpeciesDistributionModel(abc.ABC):
    """Base class of ecocube's SDMs: the contract of the module docstring.

    Subclasses set :attr:`name` (and register with :func:`register_model`), fill
    ``fit``, ``predict``, :attr:`inputs`, :meth:`explain_function`, :attr:`n_draws`,
    ``_check_fitted``, ``_state`` and ``_from_state``; :meth:`save`, :meth:`load`,
    :meth:`get_state` and :meth:`from_state` are shared.

    Attributes
    ----------
    name
        Registry name (``"maxent-net"``, ``"integrated"``, ``"multimodal"``).
    config_class
        The dataclass of the model's settings (its fields are the valid ``options`` of
        :class:`ecocube.models.SDM`).
    species_
        Species names of the fitted model, in output column order.
    mode
        ``"presence-only"``, ``"survey-only"`` or ``"integrated"``: which data the fit used,
        which sets what ``predict`` returns (module docstring).
    encoder
        Tabular models: the :class:`~ecocube.models.CovariateEncoder` of their inputs.

    Hooks for :class:`ecocube.models.SDM` (a model without them is not fitted from a table):

    record_kinds
        Record kinds the model learns from (``presence``, ``background``, ``survey``).
    steps_option, steps_unit
        The config field counting optimisation steps (``"epochs"``, ``"steps"``), its unit.
    per_part_species
        A model fitted on part of the records knows only the species with presences there.
    cv_all_folds
        Cheap enough to score every cross-validation fold (not only the early-stopping one).
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type[Any]]
    record_kinds: ClassVar[tuple[str, ...]] = ()
    steps_option: ClassVar[str] = ""
    steps_unit: ClassVar[str] = "steps"
    per_part_species: ClassVar[bool] = False
    cv_all_folds: ClassVar[bool] = False

    species_: tuple[str, ...]
    mode: str

    # ------------------------------------------------------------------ contract
    @abc.abstractmethod
    def fit(self, *args: Any, **kwargs: Any) -> Self:
        """Fit on the model's data; returns ``self``."""

    @abc.abstractmethod
    def predict(self, *args: Any, **kwargs: Any) -> Prediction:
        """Mean, sd, 5 % and 95 % quantiles per site and species (module docstring)."""

    @property
    @abc.abstractmethod
    def inputs(self) -> ModelInputs:
        """Names and roles of the model's inputs."""

    @property
    @abc.abstractmethod
    def n_draws(self) -> int:
        """Posterior draws (or ensemble members) behind ``predict``'s summaries."""

    @abc.abstractmethod
    def explain_function(self, *, draw: int | None = None) -> ExplainFunction:
        """The differentiable encoded-features -> log-intensity map of draw ``draw``
        (``None``: averaged over draws); see :class:`ExplainFunction`."""

    @abc.abstractmethod
    def _check_fitted(self) -> None:
        """Raise :class:`~ecocube.errors.InvalidInputError` unless the model is fitted."""

    @abc.abstractmethod
    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The fitted state: JSON-safe entries and named arrays (persistence hook)."""

    @classmethod
    @abc.abstractmethod
    def _from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray], device: str) -> Self:
        """Rebuild a fitted model from :meth:`_state`'s output (persistence hook)."""

    def training_steps(self) -> tuple[int, int]:
        """``(best step, steps run)`` of the last fit (the same number without early stopping)."""
        return 0, 0

    def _check_draw(self, draw: int | None) -> None:
        if draw is not None and not 0 <= draw < self.n_draws:
            raise InvalidInputError(
                f"draw={draw!r} is out of range: this model has {self.n_draws} draws "
                f"(0..{self.n_draws - 1}); give one of them, or None for their mean"
            )

    # ------------------------------------------------------------------ records hooks
    @classmethod
    def records_encoder(cls, records: pd.DataFrame, spec: RecordsSpec) -> CovariateEncoder:
        """The covariate encoder of a fit to ``records`` (all rows of the table), fitted.

        Raises
        ------
        InvalidInputError
            The model is not fitted from a records table.
        """
        raise InvalidInputError(cls._no_records_message())

    @classmethod
    def fit_records(
        cls,
        records: pd.DataFrame,
        spec: RecordsSpec,
        encoder: CovariateEncoder,
        *,
        steps: int,
        validation: pd.DataFrame | None = None,
        patience: int | None = None,
    ) -> Self:
        """A model fitted to validated ``records`` for at most ``steps``, early-stopped on the
        held-out ``validation`` records when given.

        Raises
        ------
        InvalidInputError
            The model is not fitted from a records table.
        """
        raise InvalidInputError(cls._no_records_message())

    @classmethod
    def default_patience(cls, max_steps: int) -> int:
        """Steps without improvement before early stopping, for a budget of ``max_steps``."""
        return max(5, max_steps // 5)

    @classmethod
    def _no_records_message(cls) -> str:
        return (
            f"model {cls.name!r} is not fitted from a records table; use "
            f"{cls.__module__}.{cls.__qualname__}.fit directly"
        )

    # ------------------------------------------------------------------ persistence
    def get_state(self) -> ModelState:
        """The fitted model as a :class:`ModelState` (what :meth:`save` writes)."""
        self._check_fitted()
        meta, arrays = self._state()
        base = {"species": list(self.species_), "mode": self.mode, "inputs": self.inputs.to_dict()}
        return ModelState(self.name, {**base, **meta}, dict(arrays))

    @classmethod
    def from_state(cls, state: ModelState, *, device: str = "cpu") -> SpeciesDistributionModel:
        """The fitted model of ``state`` (of ``state.model``'s class, on ``device``).

        Raises
        ------
        InvalidInputError
            ``state.model`` is not registered or not a ``cls``, or its entries or arrays are
            missing or malformed.
        """
        klass = model_class(state.model)
        if not issubclass(klass, cls):
            raise InvalidInputError(
                f"the state is of a {state.model!r} model ({klass.__qualname__}), not a "
                f"{cls.__qualname__}; load it with SpeciesDistributionModel.load"
            )
        return klass._from_state(dict(state.meta), dict(state.arrays), device)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``model.json`` and ``model.npz`` to the folder ``path`` atomically; return it.

        Raises
        ------
        InvalidInputError
            The model is not fitted, or ``path`` is a file, lies under a file or is a folder
            holding other files.
        """
        target = Path(path)
        check_model_folder(target)
        state = self.get_state()
        with temporary_sibling(target, directory=True) as tmp:
            write_state(tmp, state)
            check_model_folder(target)
            swap_into_place(tmp, target)
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, device: str = "cpu") -> SpeciesDistributionModel:
        """Read a model folder written by :meth:`save` (any registered model).

        Raises
        ------
        InvalidInputError
            ``path`` is not a model folder, or a file of it is damaged, truncated or of
            another format (the message names the file and the fix).
        ConfigurationError
            ``device`` is not available here.
        """
        from ecocube.training import resolve_device

        resolve_device(device)
        folder = Path(path)
        state = read_state(folder)
        where = repr(str(folder / MODEL_FILE))
        try:
            klass = model_class(state.model)
        except InvalidInputError as err:
            raise InvalidInputError(f"{where}: {err}") from err
        if not issubclass(klass, cls):
            raise InvalidInputError(
                f"{where} holds a {state.model!r} model ({klass.__qualname__}), not a "
                f"{cls.__qualname__}; load it with {klass.__qualname__}.load or "
                "SpeciesDistributionModel.load"
            )
        try:
            return klass._from_state(dict(state.meta), dict(state.arrays), device)
        except InvalidInputError as err:
            raise InvalidInputError(f"{where}: {err}") from err
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError, AttributeError) as err:
            raise InvalidInputError(
                f"the model in {str(folder)!r} cannot be rebuilt from {MODEL_FILE} and "
                f"{MODEL_ARRAYS} ({type(err).__name__}: {_first_line(err)}); the files are "
                f"damaged or inconsistent: {RESTORE}."
            ) from err


def check_model_folder(
    path: str | os.PathLike[str], markers: Sequence[str] = (MODEL_FILE,)
) -> None:
    """Raise unless ``path`` can receive a model folder: absent, empty, or a folder holding one
    of ``markers`` (an earlier model folder, which a save replaces).

    Raises
    ------
    InvalidInputError
        ``path`` is a file, a folder holding other files, or lies under a file.
    """
    check_no_file_parent(path, f"model folder {str(path)!r}")
    check_replaceable(path, markers=markers, what="an ecocube model folder")


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0][:200] if lines else ""


def write_state(directory: Path, state: ModelState) -> None:
    """Write ``state`` as ``model.json`` and ``model.npz`` into the existing ``directory``."""
    from ecocube import __version__

    doc = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "ecocube_version": __version__,
        "model": state.model,
        "meta": state.meta,
    }
    (directory / MODEL_FILE).write_text(
        json.dumps(doc, indent=1, allow_nan=False), encoding="utf-8"
    )
    arrays: dict[str, Any] = {k: np.ascontiguousarray(v) for k, v in state.arrays.items()}
    np.savez(directory / MODEL_ARRAYS, **arrays)


def read_state(directory: Path) -> ModelState:
    """The :class:`ModelState` of a model folder (``model.json`` + ``model.npz``).

    ``model.npz`` is read with ``allow_pickle=False``: arrays of Python objects are refused. A
    folder of :class:`ecocube.models.SDM` of format version 1 (``manifest.json`` and
    ``model.pt``) is read by :func:`ecocube.models._legacy.read_v1_state`.

    Raises
    ------
    InvalidInputError
        No ``model.json``; a file that is not valid, of another format or version, truncated or
        damaged (the message names it and the fix).
    """
    import zipfile

    mpath = directory / MODEL_FILE
    if not mpath.is_file():
        legacy = _legacy_manifest(directory)
        if legacy is not None:
            from ecocube.models._legacy import read_v1_state

            return read_v1_state(directory, legacy)
        raise InvalidInputError(
            f"{str(directory)!r} is not an ecocube model folder (no {MODEL_FILE}); give a folder "
            "written by a model's save() or by 'ecocube sdm fit'."
        )
    doc = read_json_object(mpath, "an ecocube model description", f"{RESTORE}.")
    if not isinstance(doc.get("meta"), dict):
        raise InvalidInputError(
            f"{str(mpath)!r} is not an ecocube model description (a JSON object with 'meta'); "
            f"{RESTORE}."
        )
    if doc.get("format") != _FORMAT or doc.get("format_version") != _FORMAT_VERSION:
        raise InvalidInputError(
            f"{str(mpath)!r} has format {doc.get('format')!r} version "
            f"{doc.get('format_version')!r}; this ecocube reads {_FORMAT} version "
            f"{_FORMAT_VERSION}: refit the model."
        )
    if not isinstance(doc.get("model"), str):
        raise InvalidInputError(f"{str(mpath)!r} does not name its model; {RESTORE}.")
    apath = directory / MODEL_ARRAYS
    if not apath.is_file():
        raise InvalidInputError(f"the model folder has no arrays file {str(apath)!r}; {RESTORE}.")
    try:
        with np.load(apath, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except PermissionError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise InvalidInputError(
            f"cannot load the arrays {str(apath)!r}: the file is truncated, damaged or not "
            f"written by ecocube ({type(err).__name__}); {RESTORE}."
        ) from err
    return ModelState(doc["model"], doc["meta"], arrays)


def read_json_object(path: Path, what: str, fix: str) -> dict[str, Any]:
    """The JSON object in ``path``; an error naming the file and ``fix`` when it is not one.

    Raises
    ------
    InvalidInputError
        ``path`` is not valid JSON, or holds another JSON type than an object (``what``).
    """
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidInputError(f"{str(path)!r} is not valid JSON ({err}); {fix}") from err
    if not isinstance(doc, dict):
        raise InvalidInputError(
            f"{str(path)!r} holds a JSON {type(doc).__name__}, not {what} (a JSON object); {fix}"
        )
    return doc


def _legacy_manifest(directory: Path) -> dict[str, Any] | None:
    """The manifest of an :class:`ecocube.models.SDM` folder of format version 1, else ``None``."""
    path = directory / "manifest.json"
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if (
        isinstance(manifest, dict)
        and manifest.get("format") == "ecocube-sdm"
        and manifest.get("format_version") == 1
    ):
        return manifest
    return None


# ------------------------------------------------------------------------ tensor helpers
def module_arrays(module: torch.nn.Module, prefix: str) -> dict[str, np.ndarray]:
    """The ``state_dict`` of ``module`` as CPU NumPy arrays named ``prefix + key``."""
    return {prefix + k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}


def load_module_arrays(
    module: torch.nn.Module, arrays: Mapping[str, np.ndarray], prefix: str
) -> None:
    """Load the arrays named ``prefix + key`` into ``module`` (every key must match)."""
    import torch

    state = {
        k[len(prefix) :]: torch.from_numpy(np.array(v))
        for k, v in arrays.items()
        if k.startswith(prefix)
    }
    module.load_state_dict(state)


def json_config(config: Any) -> dict[str, Any]:
    """A config dataclass as JSON types (tuples become lists)."""
    from dataclasses import asdict

    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}
