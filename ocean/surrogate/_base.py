"""The :class:`Surrogate` workflow: data preparation, training, persistence and prediction.

The base class owns the workflow (encode the ensemble, split scenarios into training and
validation sets, train with the shared loop :mod:`ecocube.training`, save/load, decode
predictions into the same Dataset layout as :func:`ecocube.ocean.simulate`, horizontal dims of
a spatial model included). Architectures fill three hooks: ``_train`` (build and train the
network on encoded arrays), ``_forward`` (standardised mean and, where the model provides it,
standard deviation) and ``_extra_state``/``_load_extra``.
"""

from __future__ import annotations

import abc
import json
import os
import time
import warnings
from collections.abc import Hashable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr

from ecocube._atomic import check_replaceable, swap_into_place, temporary_sibling
from ecocube.errors import DataIntegrityError, EcocubeWarning, InvalidInputError
from ecocube.ocean.surrogate._data import (
    EMULATED,
    FieldCodec,
    ensemble_table,
    horizontal_dims,
    load_ensemble,
)

__all__ = [
    "ARCHITECTURES",
    "Surrogate",
    "SurrogateConfig",
    "SurrogateNotFittedError",
    "check_surrogate_target",
    "input_parameters",
    "model_fingerprint",
    "model_reference",
]

#: Architectures by name (filled by the architecture modules).
ARCHITECTURES: dict[str, type[Surrogate]] = {}

_FORMAT_VERSION = 1


def check_surrogate_target(directory: str | os.PathLike[str]) -> None:
    """Raise unless ``directory`` can receive a surrogate (absent, empty or a surrogate folder).

    :meth:`Surrogate.save` replaces an earlier surrogate but never a folder holding other
    files; ``ecocube ocean train`` calls this before training.
    """
    check_replaceable(directory, markers=("config.json", "weights.pt"), what="a surrogate folder")


class SurrogateNotFittedError(InvalidInputError):
    """``predict``/``save`` was called before ``fit``, or a surrogate folder is incomplete."""


@dataclass(frozen=True)
class SurrogateConfig:
    """Hyper-parameters of a surrogate (the same fields serve every architecture).

    Attributes
    ----------
    max_epochs, lr, batch_size, patience, weight_decay
        Training loop settings (:class:`ecocube.training.TrainConfig`). Weight decay (AdamW)
        steadies the extrapolation beyond the training range without costing in-range
        accuracy (figures in ``docs/ocean_surrogate.md``).
    width, depth
        Hidden width and number of hidden layers (MLP) or Fourier layers (FNO).
    members
        Deep-ensemble members of the POD-MLP (their spread is the predictive sd).
    head_members
        Members per index of the index head (``None``: ``members``). More members make the
        indices more accurate and a single-scenario prediction slower.
    modes
        POD modes kept per variable at most (POD-MLP) or Fourier modes (FNO).
    energy
        Fraction of the variance the POD modes of a variable must capture.
    log_transform
        Log-transform the positive, skewed variables (phytoplankton carbon, chlorophyll,
        nitrate, production) before standardising; ``False`` fits them on their linear scale,
        which weights the bloom peaks as the R² of the daily series does.
    val_fraction
        Fraction of the scenarios held out for early stopping.
    seed
        Seed of the split and of the network initialisation.
    device
        Torch device of training (``"auto"``, ``"cpu"``, ``"cuda"``...).
    progress
        Show the training loop's progress bar.
    index_head
        Train the POD-MLP's index head (:mod:`ecocube.ocean.surrogate._indices`): annual CO2
        uptake and bloom day emulated from the scenario parameters, with the daily ``fgco2`` and
        ``chl`` made consistent with them. Ignored by the FNO.
    distil_head
        After training the index head's ``head_members`` per index, replace them by one MLP
        per index fitted to their mean (:meth:`IndexHead.distil`): most of the accuracy of the
        larger ensemble at the single-call cost of one member.
    distil_scenarios, distil_epochs
        Points of the parameter space the student is fitted on, and its epochs.
    uptake_gp
        Also emulate the CO2-uptake target (``p_eff``) of the index head with a Gaussian
        process (:class:`~ecocube.ocean.surrogate._gp.MaternGP`) and predict the mean of the GP
        and the head's MLPs: the GP separates the smooth part of the target from the regime
        switches the networks otherwise chase, at the cost of one kernel row per predicted
        scenario. Ignored with fewer than 20 training scenarios.
    """

    max_epochs: int = 600
    lr: float = 2e-3
    batch_size: int = 32
    patience: int = 60
    weight_decay: float = 1e-4
    width: int = 256
    depth: int = 3
    members: int = 4
    head_members: int | None = None
    modes: int = 48
    energy: float = 0.999999
    val_fraction: float = 0.15
    log_transform: bool = False
    seed: int = 0
    device: str = "auto"
    progress: bool = False
    index_head: bool = True
    distil_head: bool = False
    distil_scenarios: int = 200_000
    distil_epochs: int = 80
    uptake_gp: bool = True

    def __post_init__(self) -> None:
        for name in (
            "max_epochs",
            "batch_size",
            "width",
            "depth",
            "members",
            "modes",
            "distil_scenarios",
            "distil_epochs",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"SurrogateConfig.{name}={value!r} must be an integer >= 1")
        if self.head_members is not None and (
            not isinstance(self.head_members, int) or self.head_members < 1
        ):
            raise InvalidInputError(
                f"SurrogateConfig.head_members={self.head_members!r} must be an integer >= 1 "
                "(or None for as many as members)"
            )
        if not 0.0 <= self.val_fraction < 0.9:
            raise InvalidInputError(
                f"SurrogateConfig.val_fraction={self.val_fraction!r} must be in [0, 0.9)"
            )
        if not 0.0 < self.energy <= 1.0:
            raise InvalidInputError(f"SurrogateConfig.energy={self.energy!r} must be in (0, 1]")


class Surrogate(abc.ABC):
    """A reduced model of :func:`ecocube.ocean.simulate` trained on a scenario ensemble.

    Use an architecture subclass (``Surrogate.create("pod_mlp")`` or ``"fno"``), then
    :meth:`fit` on an ensemble, :meth:`save` to a folder and :meth:`load` it back;
    :meth:`predict` accepts the same scenario tables as ``simulate``.

    Examples
    --------
    >>> from ecocube.ocean.surrogate import Surrogate
    >>> sur = Surrogate.create("pod_mlp", max_epochs=50)  # doctest: +SKIP
    >>> sur.fit("ens.zarr").save("surrogate/")  # doctest: +SKIP
    >>> Surrogate.load("surrogate/").predict(scenarios)  # doctest: +SKIP
    """

    arch: ClassVar[str] = ""

    def __init__(self, config: SurrogateConfig | None = None, **overrides: Any) -> None:
        config = config or SurrogateConfig()
        self.config = replace(config, **overrides) if overrides else config
        self.codec: FieldCodec | None = None
        self.meta: dict[str, Any] = {}
        self.history: list[dict[str, float]] = []
        #: Scenario parameters the surrogate takes as inputs (set by ``fit`` and ``load``).
        self.parameters: list[str] = []
        self._device = "cpu"
        self._static_coords: Any = None

    # ------------------------------------------------------------------ construction
    @staticmethod
    def create(arch: str, config: SurrogateConfig | None = None, **overrides: Any) -> Surrogate:
        """Instantiate the architecture called ``arch`` (see :data:`ARCHITECTURES`)."""
        if arch not in ARCHITECTURES:
            raise InvalidInputError(
                f"unknown surrogate architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}"
            )
        return ARCHITECTURES[arch](config, **overrides)

    # ------------------------------------------------------------------ hooks
    @abc.abstractmethod
    def _train(
        self, table: pd.DataFrame, z: np.ndarray, train: np.ndarray, val: np.ndarray
    ) -> None:
        """Architecture hook (see the module docstring)."""

    @abc.abstractmethod
    def _forward(
        self, table: pd.DataFrame, uncertainty: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Architecture hook (see the module docstring)."""

    def _predict_fields(
        self, table: pd.DataFrame, uncertainty: bool
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Physical fields (and sd where available) per variable; architectures may fuse it."""
        codec = self._check_fitted()
        mean, sd = self._forward(table, uncertainty)
        fields_ = codec.decode(mean)
        sds = codec.decode_sd(mean, sd) if (sd is not None and uncertainty) else {}
        return fields_, sds

    def _extra_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {}, {}

    def _load_extra(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        return None

    @abc.abstractmethod
    def _modules(self) -> Any:
        """Architecture hook (see the module docstring)."""

    @abc.abstractmethod
    def _build_from_state(self, state: dict[str, Any]) -> None:
        """Architecture hook (see the module docstring)."""

    # ------------------------------------------------------------------ workflow
    def fit(self, ensemble: xr.Dataset | str | os.PathLike[str]) -> Surrogate:
        """Train on an ensemble (Dataset or Zarr path written by ``ecocube ocean ensemble``).

        Returns ``self``; ``self.history`` holds the per-epoch losses and ``self.meta`` the
        ensemble description (size, days, model settings) and training time.
        """
        from ecocube.training import resolve_device

        ds = load_ensemble(ensemble)
        variables = [v for v in EMULATED if v in ds]
        table = ensemble_table(ds)
        self.codec = FieldCodec.fit(ds, variables, log=self.config.log_transform)
        z = self.codec.encode(ds)
        n = len(table)
        rng = np.random.default_rng(self.config.seed)
        order = rng.permutation(n)
        n_val = round(self.config.val_fraction * n) if n >= 8 else 0
        val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
        self._device = str(resolve_device(self.config.device))
        self.parameters = list(table.columns)
        start = time.perf_counter()
        self._train(table, z, train, val)
        self.meta = _template_meta(ds, table)
        self.meta.update(
            {
                "arch": self.arch,
                "train_seconds": time.perf_counter() - start,
                "n_train": len(train),
                "n_val": len(val),
                "train_device": self._device,
                "model_fingerprint": model_fingerprint(),
                "model_reference": model_reference(ds, table),
            }
        )
        return self

    def _check_fitted(self) -> FieldCodec:
        if self.codec is None or not self.meta:
            raise SurrogateNotFittedError(
                "this surrogate is not trained: call fit(ensemble) or Surrogate.load(DIR)"
            )
        return self.codec

    def predict(self, scenarios: pd.DataFrame | Any, *, uncertainty: bool = True) -> xr.Dataset:
        """Emulate :func:`ecocube.ocean.simulate` for a batch of scenarios.

        Parameters
        ----------
        scenarios
            Scenario table (``sample_scenarios``, ``default_scenario`` or a mapping).
        uncertainty
            Add ``<name>_sd`` variables (predictive standard deviation) where the architecture
            provides them (the POD-MLP deep ensemble).

        Returns
        -------
        xarray.Dataset
            Dims ``(scenario, time[, phyto_type][, x])`` with the emulated variables (``phyc``,
            ``intphyc``, ``chl``, ``dissic``, ``talk``, ``no3``, ``spco2``, ``fgco2``, ``intpp``,
            ``tos``) plus the exact ``pco2atm``, the same dims, attributes, coordinates
            (horizontal ones included) and time axis as the ensemble the surrogate was trained
            on.

        Warns
        -----
        EcocubeWarning
            A scenario sets a parameter the surrogate does not take as input (an optional
            parameter its ensemble lacked) to another value than its default: the prediction
            does not depend on it.
        """
        from ecocube.ocean.scenarios import validate_scenarios

        self._check_fitted()
        table = validate_scenarios(scenarios)
        if len(self.parameters) < table.shape[1]:
            _warn_ignored_parameters(table, self.parameters)
        fields_, sds = self._predict_fields(table, uncertainty)
        if self._static_coords is None:
            self._static_coords = _static_coords(self.meta)
        return _to_dataset(fields_, sds, table, self.meta, self._static_coords)

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``config.json``, ``weights.pt`` and ``arrays.npz`` to ``directory`` atomically."""
        import torch

        codec = self._check_fitted()
        directory = Path(directory)
        check_surrogate_target(directory)
        with temporary_sibling(directory, directory=True) as tmp:
            extra, arrays = self._extra_state()
            state = {
                "format_version": _FORMAT_VERSION,
                "arch": self.arch,
                "config": asdict(self.config),
                "codec": codec.state(),
                "meta": self.meta,
                "extra": extra,
                "history": self.history,
            }
            (tmp / "config.json").write_text(json.dumps(state, indent=1, default=_json_default))
            cpu_state = {k: v.detach().cpu() for k, v in self._modules().state_dict().items()}
            torch.save(cpu_state, tmp / "weights.pt")
            named: dict[str, Any] = dict(arrays)  # every key is an array name, none an option
            np.savez(tmp / "arrays.npz", **named)
            check_surrogate_target(directory)
            swap_into_place(tmp, directory)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike[str], *, device: str = "cpu") -> Surrogate:
        """Load a surrogate written by :meth:`save` (the architecture is read from the folder).

        ``weights.pt`` is read with ``torch.load(weights_only=True)``: a file holding anything
        but tensors is refused, and none of its code runs.

        Raises
        ------
        SurrogateNotFittedError
            ``directory`` lacks ``config.json`` or ``weights.pt``.
        DataIntegrityError
            A file of the folder is truncated, corrupt, tampered with or inconsistent with
            the others (the message names it).
        InvalidInputError
            ``config.json`` names an unknown architecture.
        ConfigurationError
            ``device`` is not a torch device or is not available here.
        """
        from ecocube.training import resolve_device

        directory = Path(directory)
        cfg_path = directory / "config.json"
        if not cfg_path.is_file() or not (directory / "weights.pt").is_file():
            raise SurrogateNotFittedError(
                f"{str(directory)!r} is not a surrogate folder (config.json and weights.pt "
                "expected); train one with `ecocube ocean train --ensemble ens.zarr --out DIR`"
            )
        resolve_device(device)
        state = _read_config(cfg_path)
        arch = state.get("arch")
        if arch not in ARCHITECTURES:
            raise InvalidInputError(
                f"{cfg_path}: unknown architecture {arch!r}; known: {sorted(ARCHITECTURES)}"
            )
        try:
            known = {f.name for f in fields(SurrogateConfig)}
            config = SurrogateConfig(**{k: v for k, v in state["config"].items() if k in known})
            sur = ARCHITECTURES[arch](config)
            sur.codec = FieldCodec.from_state(state["codec"])
            sur.meta = _current_meta(state["meta"])
            sur.parameters = input_parameters(sur.meta)
            sur.history = state.get("history", [])
            sur._build_from_state({**state["extra"], "n_channels": len(sur.codec.channels)})
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
            raise _damaged(cfg_path, f"has a missing or malformed entry ({_reason(err)})") from None
        sur._device = device
        arrays = _read_arrays(directory / "arrays.npz")
        try:
            sur._load_extra(state["extra"], arrays)
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise _damaged(
                directory / "arrays.npz", f"does not match config.json ({_reason(err)})"
            ) from None
        weights_path = directory / "weights.pt"
        weights = _read_weights(weights_path)
        try:
            sur._modules().load_state_dict(weights)
        except (RuntimeError, TypeError, ValueError, KeyError, AttributeError) as err:
            raise _damaged(
                weights_path,
                f"does not match config.json (missing, unexpected or mis-shaped weights: "
                f"{_reason(err)})",
            ) from None
        sur._modules().to(device).eval()
        return sur


def input_parameters(meta: dict[str, Any]) -> list[str]:
    """Scenario parameters a saved surrogate takes as inputs (``meta["parameters"]``).

    Surrogates saved before the list was recorded took the parameters their ensemble held,
    which are the keys of ``meta["training_ranges"]``.
    """
    names = meta.get("parameters")
    if names is None:
        names = list(meta["training_ranges"])
    return [str(n) for n in names]


def _warn_ignored_parameters(table: pd.DataFrame, parameters: list[str]) -> None:
    from ecocube.ocean.scenarios import SCENARIO_PARAMETERS

    ignored = [
        p.name
        for p in SCENARIO_PARAMETERS
        if p.name not in parameters and not np.all(table[p.name].to_numpy() == p.default)
    ]
    if ignored:
        warnings.warn(
            f"scenario parameter(s) {ignored} are not inputs of this surrogate (its training "
            "ensemble lacked them): its prediction does not depend on them; train a surrogate "
            "on an ensemble that varies them",
            EcocubeWarning,
            stacklevel=3,
        )


def _damaged(path: Path, problem: str) -> DataIntegrityError:
    """The error for a surrogate folder's file that cannot be used, naming it and the fix."""
    return DataIntegrityError(
        f"surrogate file {str(path)!r} {problem}; the folder is damaged or was not written by "
        "ecocube (nothing in it was run): train the surrogate again with "
        f"`ecocube ocean train --ensemble ENS.zarr --out {path.parent}`"
    )


def _reason(err: BaseException) -> str:
    """The first line of ``err`` (at most 160 characters) after its type name."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:160]}" if text else type(err).__name__


def _read_config(path: Path) -> dict[str, Any]:
    """``config.json`` of a surrogate folder as a dict (a clear error when it is not one)."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _damaged(path, f"is not valid JSON ({_reason(err)})") from None
    if not isinstance(state, dict):
        raise _damaged(path, f"holds a JSON {type(state).__name__}, not an object")
    return state


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays of ``arrays.npz`` (Python objects refused: ``allow_pickle=False``)."""
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise _damaged(path, "is missing") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise _damaged(path, f"cannot be read: truncated or corrupt ({_reason(err)})") from None


def _read_weights(path: Path) -> dict[str, Any]:
    """The tensors of ``weights.pt`` on the CPU, read without running any code of the file."""
    import pickle

    import torch

    try:
        weights = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # torch's own message suggests weights_only=False, the one thing never to do here
        raise _damaged(path, "holds Python objects other than tensors and was not loaded") from None
    except Exception as err:  # torch raises several unrelated types for corrupt files
        raise _damaged(
            path, f"cannot be read: truncated, corrupt or not a torch file ({type(err).__name__})"
        ) from None
    if not isinstance(weights, dict):
        raise _damaged(path, f"holds a {type(weights).__name__}, not a dict of tensors")
    return weights


def model_fingerprint() -> str:
    """Short hash of the full model's parameter registry and source (changes when it changes).

    The source is that of every module of the model: the driver (``simulate``), the physical
    schemes (``physics``, ``schemes``, each module of the ``multilayer`` package), the
    biogeochemistry (``biogeochemistry``, ``phyto_carbonate``, ``biology``, ``carbonate``) and
    the outputs (``diagnostics``). A surrogate records it at training;
    :func:`ecocube.ocean.validate.validate_surrogate` warns when the full model it is compared
    with is not the one it was trained on.
    """
    import hashlib
    import importlib
    import inspect
    import pkgutil

    from ecocube.ocean.parameters import DEFAULT_PARAMETERS

    # modules by name: ``ecocube.ocean.simulate`` is also the name of the function
    names = [
        f"ecocube.ocean.{name}"
        for name in (
            "simulate",
            "physics",
            "biology",
            "carbonate",
            "biogeochemistry",
            "diagnostics",
            "phyto_carbonate",
            "schemes",
        )
    ]
    try:  # the multilayer scheme: the package and each of its modules, in name order
        multilayer = importlib.import_module("ecocube.ocean.multilayer")
    except ImportError:  # pragma: no cover - an install without it
        pass
    else:
        names.append(multilayer.__name__)
        names += [
            f"{multilayer.__name__}.{m.name}" for m in pkgutil.iter_modules(multilayer.__path__)
        ]
    modules = [importlib.import_module(name) for name in names]
    h = hashlib.sha256(repr(DEFAULT_PARAMETERS).encode())
    for module in modules:
        try:
            h.update(inspect.getsource(module).encode())
        except (OSError, TypeError):  # pragma: no cover - frozen installs
            h.update(module.__name__.encode())
    return h.hexdigest()[:16]


#: Variables of the full model's output that :func:`model_reference` keeps.
REFERENCE_VARIABLES = ("intphyc", "dissic", "fgco2")


def model_reference(ds: xr.Dataset, table: pd.DataFrame) -> dict[str, Any]:
    """The full model's output for the ensemble's first scenario, to tell later if it changed.

    A behavioural fingerprint: :func:`ecocube.ocean.validate.validate_surrogate` reruns the
    full model on this scenario and compares (edits that do not change the model's output,
    such as comments or input checks, do not count as a change, unlike a source hash). Keeps
    ``scenario`` (its parameters) and, for each of :data:`REFERENCE_VARIABLES` in the
    ensemble, at most about 256 time steps (``stride``) of its values; of a spatial model,
    their basin means (the dims averaged are listed under ``horizontal``).
    """
    stride = max(1, int(ds.sizes["time"]) // 256)
    ref: dict[str, Any] = {
        "scenario": {str(k): float(v) for k, v in table.iloc[0].items()},
        "stride": stride,
    }
    hdims = horizontal_dims(ds)
    if hdims:
        ref["horizontal"] = hdims
    for name in REFERENCE_VARIABLES:
        if name in ds:
            da = ds[name].isel(scenario=0, time=slice(None, None, stride))
            values = da.mean([d for d in hdims if d in da.dims]).values
            ref[name] = np.asarray(values, dtype=float).ravel().tolist()
    return ref


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj)}")


def _template_meta(ds: xr.Dataset, table: pd.DataFrame) -> dict[str, Any]:
    """What predict needs to rebuild a simulate-shaped Dataset, and validate to rerun it."""
    time_attrs = dict(ds["time"].attrs)
    first = ds["time"].values[0]
    calendar = getattr(first, "calendar", None) or "standard"
    traits = {}
    for name in ("t_min", "t_opt", "t_max", "mu_max"):
        if name in ds.coords:
            traits[name] = {
                "values": np.asarray(ds[name].values, dtype=float).tolist(),
                "attrs": dict(ds[name].attrs),
            }
    meta: dict[str, Any] = {
        "n_days": int(ds.sizes["time"]),
        "time_start": str(first)[:10],
        "calendar": str(calendar),
        "time_attrs": time_attrs,
        "phyto_type": [str(v) for v in ds["phyto_type"].values] if "phyto_type" in ds else [],
        "traits": traits,
        "var_attrs": _current_var_attrs(
            {v: dict(ds[v].attrs) for v in [*EMULATED, "pco2atm"] if v in ds}
        ),
        "scenario_attrs": {c: dict(ds[c].attrs) for c in table.columns},
        "simulate": {
            "years": int(ds.sizes["time"]) // 365,
            "dt": float(ds.attrs.get("time_step_s", 10800.0)),
            "n_layers": int(ds.attrs.get("n_layers", 20)),
        },
        "n_scenarios": len(table),
        "ensemble_seed": ds.attrs.get("ecocube:ensemble_seed"),
        "training_ranges": {c: [float(table[c].min()), float(table[c].max())] for c in table},
        "parameters": list(table.columns),
        "dims": {v: [str(d) for d in ds[v].dims] for v in [*EMULATED, "pco2atm"] if v in ds},
    }
    hdims = horizontal_dims(ds)
    if hdims:
        meta["horizontal"] = _horizontal_coords(ds, hdims)
        meta["simulate"] = _spatial_settings(ds)
    return meta


def _horizontal_coords(ds: xr.Dataset, hdims: list[str]) -> dict[str, Any]:
    """Sizes of the horizontal dims of ``ds`` and the coordinates along them only (``x``,
    cell bathymetry...): ``{"sizes": {dim: n}, "coords": {name: {"dims", "values", "attrs"}}}``.
    """
    coords: dict[str, Any] = {}
    for name, coord in ds.coords.items():
        if coord.dims and set(coord.dims) <= set(hdims):
            coords[str(name)] = {
                "dims": [str(d) for d in coord.dims],
                "values": np.asarray(coord.values).tolist(),
                "attrs": dict(coord.attrs),
            }
    return {"sizes": {d: int(ds.sizes[d]) for d in hdims}, "coords": coords}


def _spatial_settings(ds: xr.Dataset) -> dict[str, Any]:
    """Keyword arguments of ``simulate`` that reproduce a spatial ensemble, from its attributes.

    ``physics`` (attribute ``physics``, else ``"multilayer"``) and ``years`` always; the time
    step and layer count only where the ensemble records them (``time_step_s``, ``n_layers``).
    Settings that are not attributes (a basin configuration) are passed to
    :func:`~ecocube.ocean.validate.validate_surrogate` as ``simulate_options``.
    """
    settings: dict[str, Any] = {
        "physics": str(ds.attrs.get("physics", "multilayer")),
        "years": int(ds.sizes["time"]) // 365,
    }
    if "time_step_s" in ds.attrs:
        settings["dt"] = float(ds.attrs["time_step_s"])
    if "n_layers" in ds.attrs:
        settings["n_layers"] = int(ds.attrs["n_layers"])
    return settings


def _current_var_attrs(var_attrs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``var_attrs`` with the CF names of today's :func:`~ecocube.ocean.simulate` output.

    Ensembles written before ``fgco2`` became a mole flux carry the mass-flux standard name,
    inconsistent with its mmol m-2 d-1; a surrogate trained on them (or saved then) predicts
    with the current name.
    """
    from ecocube.ocean.simulate import FGCO2_STANDARD_NAME

    fgco2 = var_attrs.get("fgco2")
    if fgco2 is not None and "mass_flux" in str(fgco2.get("standard_name", "")):
        var_attrs["fgco2"] = {**fgco2, "standard_name": FGCO2_STANDARD_NAME}
    return var_attrs


def _current_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` of a saved surrogate with :func:`_current_var_attrs` applied."""
    if isinstance(meta.get("var_attrs"), dict):
        meta["var_attrs"] = _current_var_attrs(meta["var_attrs"])
    return meta


def _time_index(meta: dict) -> Any:
    return xr.date_range(
        meta["time_start"],
        periods=int(meta["n_days"]),
        freq="D",
        calendar=meta["calendar"],
        use_cftime=meta["calendar"] not in ("standard", "gregorian", "proleptic_gregorian"),
    )


def _static_coords(meta: dict) -> xr.Coordinates:
    """Coordinates that do not depend on the scenarios (time, phytoplankton types, traits,
    horizontal coordinates of a spatial model).

    Built once per surrogate: indexing a cftime axis costs more than the prediction itself.
    """
    coords: dict[str, Any] = {"time": ("time", _time_index(meta), meta.get("time_attrs", {}))}
    if meta.get("phyto_type"):
        coords["phyto_type"] = ("phyto_type", np.array(meta["phyto_type"]))
        for name, spec in meta.get("traits", {}).items():
            coords[name] = ("phyto_type", np.array(spec["values"]), spec["attrs"])
    for name, spec in meta.get("horizontal", {}).get("coords", {}).items():
        coords[name] = (tuple(spec["dims"]), np.array(spec["values"]), spec["attrs"])
    return xr.Coordinates(coords)


def _ordered(var: xr.Variable, dims: list[str]) -> xr.Variable:
    """``var`` with its dims in the order of the ensemble's variable (already so, normally)."""
    return var if list(var.dims) == list(dims) else var.transpose(*dims)


#: Whether this xarray has the direct (no-merge) Dataset constructor ``_to_dataset`` uses.
_DIRECT_CONSTRUCTOR: bool = hasattr(xr.Dataset, "_construct_direct") and hasattr(xr, "indexes")


def _to_dataset(
    values: dict[str, np.ndarray],
    sds: dict[str, np.ndarray],
    table: pd.DataFrame,
    meta: dict,
    static: xr.Coordinates,
) -> xr.Dataset:
    """The CF Dataset of a prediction, assembled from ready ``xarray.Variable`` objects.

    Every variable, coordinate and index is built here, already aligned, so the generic
    constructor's merging and alignment (half the cost of a single-scenario prediction) is
    skipped where xarray offers its direct constructor; the public constructor is used
    otherwise and gives the same Dataset (``test_surrogate_dataset_matches_public_constructor``).
    """
    n_days = int(meta["n_days"])
    ds_dims: dict[str, list[str]] = meta.get("dims", {})
    variables: dict[str, xr.Variable] = {}
    for name, arr in values.items():
        order = ds_dims.get(name)
        if order is None:  # surrogates saved before the dims were recorded
            order = ["scenario", "time"] + (["phyto_type"] if arr.ndim == 3 else [])
        dims = ("scenario", "time", *(d for d in order if d not in ("scenario", "time")))
        attrs = dict(meta["var_attrs"].get(name, {}))
        variables[name] = _ordered(xr.Variable(dims, arr, attrs), order)
        if name in sds:
            sd_attrs = {
                "long_name": f"Predictive standard deviation of {name} (deep ensemble)",
                "units": attrs.get("units", ""),
            }
            variables[f"{name}_sd"] = _ordered(xr.Variable(dims, sds[name], sd_attrs), order)
    day = np.arange(n_days, dtype=float) + 0.5
    co2 = table["co2_start"].to_numpy()[:, None] + table["co2_trend"].to_numpy()[:, None] * (
        day / 365.0
    )
    co2_attrs = dict(meta["var_attrs"].get("pco2atm", {}))
    co2_dims = ds_dims.get("pco2atm", ["scenario", "time"])
    extra = [d for d in co2_dims if d not in ("scenario", "time")]
    if extra:  # uniform over the basin
        shape = co2.shape + tuple(meta["horizontal"]["sizes"][d] for d in extra)
        co2 = np.ascontiguousarray(
            np.broadcast_to(co2.reshape(*co2.shape, *[1] * len(extra)), shape)
        )
    variables["pco2atm"] = _ordered(
        xr.Variable(("scenario", "time", *extra), co2, co2_attrs), co2_dims
    )
    attrs = {
        "Conventions": "CF-1.10",
        "title": f"ecocube ocean surrogate ({meta['arch']}) emulating ecocube.ocean.simulate",
        "source": f"ecocube.ocean.surrogate.{meta['arch']}",
    }
    coords: dict[str, xr.Variable] = {"scenario": xr.Variable("scenario", table.index.to_numpy())}
    for c in table.columns:
        coords[c] = xr.Variable("scenario", table[c].to_numpy(), meta["scenario_attrs"].get(c, {}))
    if not _DIRECT_CONSTRUCTOR:
        ds = xr.Dataset(
            {k: (v.dims, v.data, v.attrs) for k, v in variables.items()},
            coords=xr.Coordinates(coords).merge(static).coords,
        )
        ds.attrs = attrs
        return ds
    scenario_index = xr.indexes.PandasIndex(pd.Index(coords["scenario"].values), "scenario")
    coords["scenario"] = xr.IndexVariable("scenario", scenario_index.index, {})
    all_vars: dict[Any, xr.Variable] = {**variables, **coords, **dict(static.variables)}
    indexes: dict[Hashable, Any] = {"scenario": scenario_index, **dict(static.xindexes)}
    return xr.Dataset._construct_direct(
        all_vars, set(coords) | set(static.variables), attrs=attrs, indexes=indexes
    )
