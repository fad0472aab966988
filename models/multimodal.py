"""Multimodal multi-species maximum-entropy network: image patches fused with tabular covariates.

The tabular branch is the DeepMaxent-style shared extractor of :mod:`ecocube.models.maxent_net`
(an MLP over the z-scored covariates at the site, plus a linear skip path); the image branch is a
small CNN (:class:`~ecocube.models._patch_encoder.PatchEncoder`) over a multi-band patch centred
on the site, cut from a cube by :class:`ecocube.cube.PointPatchDataset`. The two embeddings are
concatenated and mapped to one log-intensity per species. Training minimises the same normalised
Poisson (maximum-entropy) loss, :func:`ecocube.models.maxent_net.maxent_loss`, with target-group
background, through the shared loop :class:`ecocube.training.Trainer`.

Data flow of :meth:`MultimodalSDM.fit`:

1. records (``species``, ``x``, ``y``) are placed on the cube's pixels; records in the same pixel
   form one site with per-species counts (presence sites of all species are each other's
   target-group background);
2. the covariates at each site come from ``ds.ecocube.sample_points`` and go through the shared
   :class:`~ecocube.models.CovariateEncoder` (z-scored on the background sites);
3. the patches come from :class:`ecocube.cube.PointPatchDataset`; each band is z-scored with the
   mean and sd of the background sites' centre pixels, NaN (nodata, outside the cube) becomes 0
   and one extra channel marks the valid pixels.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
import xarray as xr

from ecocube.errors import EcocubeWarning, InvalidInputError
from ecocube.models._base import (
    ExplainFunction,
    ModelInputs,
    Prediction,
    SpeciesDistributionModel,
    cloglog,
    json_config,
    load_module_arrays,
    module_arrays,
    register_model,
    summarise_draws,
)
from ecocube.models._features import CovariateEncoder
from ecocube.models._patch_encoder import PatchEncoder
from ecocube.models.maxent_net import (
    _ACTIVATIONS,
    _BatchedLinear,
    _site_batches,
    check_network_options,
    maxent_loss,
    site_log_weights,
)
from ecocube.training import TrainConfig, Trainer, resolve_device

__all__ = [
    "MultimodalConfig",
    "MultimodalMaxentNet",
    "MultimodalSDM",
    "block_cv_auc",
]


@dataclass(frozen=True)
class MultimodalConfig:
    """Hyper-parameters of :class:`MultimodalSDM`.

    Attributes
    ----------
    patch_size
        Side of the square patch in cube pixels (>= 1; 1 uses an MLP over the bands at the site).
    patch_channels
        Output channels of the conv blocks of the patch encoder (2-3 blocks is typical).
    patch_embedding
        Size of the patch embedding concatenated with the tabular embedding.
    hidden, activation, dropout, linear_skip, n_members
        Tabular branch, as in :class:`ecocube.models.MaxentNetConfig`. With ``n_members > 1``
        the tabular branch and head are replicated; the patch encoder is shared by the members.
    epochs, lr, weight_decay, batch_size
        AdamW training; ``batch_size=None`` normalises over all sites at once.
    background, random_weight
        Normalising sites, as in :class:`ecocube.models.MaxentNetConfig`.
    precision
        ``"32"`` or ``"auto"`` (mixed precision on CUDA), see :class:`ecocube.training.TrainConfig`.
    seed, device
        Seed of initialisation and batching; torch device.
    """

    patch_size: int = 5
    patch_channels: tuple[int, ...] = (16, 32)
    patch_embedding: int = 16
    hidden: tuple[int, ...] = (64, 64)
    activation: str = "relu"
    dropout: float = 0.0
    linear_skip: bool = True
    n_members: int = 1
    epochs: int = 150
    lr: float = 5e-3
    weight_decay: float = 1e-3
    batch_size: int | None = None
    background: str = "target-group"
    random_weight: float = 0.2
    precision: str = "32"
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not isinstance(self.patch_size, (int, np.integer)) or self.patch_size < 1:
            raise InvalidInputError(f"patch_size must be an integer >= 1, got {self.patch_size!r}")
        if not self.patch_channels or any(int(c) < 1 for c in self.patch_channels):
            raise InvalidInputError(
                f"patch_channels must be one or more positive widths, got {self.patch_channels!r}"
            )
        if self.patch_embedding < 1:
            raise InvalidInputError(f"patch_embedding must be >= 1, got {self.patch_embedding!r}")
        check_network_options(self)
        if self.precision not in ("32", "auto"):
            raise InvalidInputError(f"precision must be '32' or 'auto', got {self.precision!r}")
        object.__setattr__(self, "patch_size", int(self.patch_size))
        object.__setattr__(self, "patch_channels", tuple(int(c) for c in self.patch_channels))


class MultimodalMaxentNet(torch.nn.Module):
    """Tabular MLP embedding ⊕ CNN patch embedding → one log-intensity per species.

    Input ``x`` ``(sites, n_features)`` and ``patch`` ``(sites, n_bands, P, P)``; output
    ``(members, sites, species)``. With ``n_bands=0`` there is no patch branch and the network
    is the tabular DeepMaxent network (useful as the ablation baseline).

    Parameters
    ----------
    n_features
        Tabular input width (>= 1).
    n_bands
        Patch channels (0: tabular only).
    n_species
        Outputs.
    patch_size
        Patch side ``P``.
    hidden, activation, dropout, linear_skip, n_members
        Tabular branch (see :class:`ecocube.models.MaxentNetwork`).
    patch_channels, patch_embedding
        Patch encoder (see :class:`~ecocube.models._patch_encoder.PatchEncoder`).
    """

    def __init__(
        self,
        n_features: int,
        n_bands: int,
        n_species: int,
        *,
        patch_size: int = 5,
        hidden: Sequence[int] = (64, 64),
        activation: str = "relu",
        dropout: float = 0.0,
        linear_skip: bool = True,
        n_members: int = 1,
        patch_channels: Sequence[int] = (16, 32),
        patch_embedding: int = 16,
    ) -> None:
        super().__init__()
        if n_features < 1:
            raise InvalidInputError(
                f"n_features must be >= 1, got {n_features!r}; name at least one covariate"
            )
        self.n_members = n_members
        self.n_bands = n_bands
        act = _ACTIVATIONS[activation]
        layers: list[torch.nn.Module] = []
        width = n_features
        for h in hidden:
            layers += [_BatchedLinear(n_members, width, h), act()]
            if dropout > 0:
                layers.append(torch.nn.Dropout(dropout))
            width = h
        self.trunk = torch.nn.Sequential(*layers)
        self.encoder: PatchEncoder | None = None
        if n_bands > 0:
            self.encoder = PatchEncoder(
                n_bands,
                patch_size,
                channels=patch_channels,
                embedding=patch_embedding,
                activation=act,
                dropout=dropout,
            )
            width += patch_embedding
        self.head = _BatchedLinear(n_members, width, n_species)
        self.skip = _BatchedLinear(n_members, n_features, n_species) if linear_skip else None

    def forward(self, x: torch.Tensor, patch: torch.Tensor | None = None) -> torch.Tensor:
        """Log-intensity ``(members, sites, species)``."""
        xb = x.unsqueeze(0).expand(self.n_members, -1, -1)
        z = self.trunk(xb)
        if self.encoder is not None:
            if patch is None:
                raise InvalidInputError("this network has a patch branch; pass patch=")
            emb = self.encoder(patch)
            z = torch.cat([z, emb.unsqueeze(0).expand(self.n_members, -1, -1)], dim=-1)
        out = self.head(z)
        if self.skip is not None:
            out = out + self.skip(xb)
        return out


class _Objective(torch.nn.Module):
    """The maxent loss of :mod:`maxent_net` as the ``training_step`` hook of the trainer."""

    def __init__(self, net: MultimodalMaxentNet) -> None:
        super().__init__()
        self.net = net

    def training_step(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, patch, counts, log_w = batch
        return maxent_loss(self.net(x, patch).float(), counts, log_w)


def _open(cube: xr.Dataset | str | Path) -> xr.Dataset:
    import ecocube.cube  # noqa: F401  (registers the ds.ecocube accessor)

    if isinstance(cube, xr.Dataset):
        return cube
    if isinstance(cube, (str, Path)):
        from ecocube.cube import open_cube

        return open_cube(cube)
    raise InvalidInputError(
        f"cube must be an xarray.Dataset or the path of a Zarr cube, got {type(cube).__name__}"
    )


@register_model
@dataclass
class MultimodalSDM(SpeciesDistributionModel):
    """Multi-species SDM on a cube: patch CNN ⊕ tabular covariates, scikit-learn-like.

    Presence-only: :meth:`predict` gives relative suitabilities with the spread of the
    ``n_members`` members as uncertainty (no spread with one member).

    Parameters
    ----------
    covariates
        Cube variables used as tabular covariates at the site's pixel.
    patch_variables
        Cube variables stacked as the bands of the patch (e.g. land-use class fractions);
        ``None`` uses ``covariates``; ``()`` gives a tabular-only model (the ablation baseline).
    categorical
        Categorical subset of ``covariates`` (one-hot encoded).
    config
        Hyper-parameters (:class:`MultimodalConfig`).

    Examples
    --------
    >>> sdm = MultimodalSDM(["bio1", "bio12"], ["landuse_frac_1", "landuse_frac_3"])
    >>> sdm.fit(cube, records)  # doctest: +SKIP
    >>> sdm.predict(cube, sites).mean  # doctest: +SKIP
    """

    name: ClassVar[str] = "multimodal"
    config_class: ClassVar[type[Any]] = MultimodalConfig
    steps_option: ClassVar[str] = "epochs"
    steps_unit: ClassVar[str] = "epochs"
    mode = "presence-only"

    covariates: Sequence[str]
    patch_variables: Sequence[str] | None = None
    categorical: Sequence[str] = ()
    config: MultimodalConfig = field(default_factory=MultimodalConfig)
    species_: tuple[str, ...] = field(init=False, default=())
    history_: list[dict[str, float]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.covariates = tuple(self.covariates)
        if not self.covariates:
            raise InvalidInputError("covariates is empty; name at least one cube variable")
        self.patch_variables = (
            self.covariates if self.patch_variables is None else tuple(self.patch_variables)
        )
        self.categorical = tuple(self.categorical)
        self.encoder = CovariateEncoder.of_columns(
            self.covariates, self.categorical, level_order="value"
        )

    # -- data assembly -------------------------------------------------------------------------
    def _check_cube(self, ds: xr.Dataset) -> None:
        names = set(map(str, ds.data_vars))
        for what, wanted in (
            ("covariates", self.covariates),
            ("patch_variables", self.patch_variables or ()),
        ):
            missing = [v for v in wanted if v not in names]
            if missing:
                raise InvalidInputError(
                    f"{what} {missing} are not variables of the cube; it has {sorted(names)}. "
                    "Build the cube with those layers or fit the model on the cube's bands"
                )
        size = min(int(ds.sizes["y"]), int(ds.sizes["x"]))
        if self.config.patch_size > size:
            raise InvalidInputError(
                f"patch_size={self.config.patch_size} is larger than the cube ({ds.sizes['y']} x "
                f"{ds.sizes['x']} pixels); use patch_size <= {size} or a larger cube"
            )

    def _inputs(
        self,
        ds: xr.Dataset,
        x: np.ndarray,
        y: np.ndarray,
        crs: Any,
    ) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, np.ndarray, np.ndarray]:
        """Pixel rows/cols, inside flag, covariate table and raw patches at points."""
        table = ds.ecocube.sample_points(x, y, crs=crs, variables=list(self.covariates))
        inside = table["inside"].to_numpy()
        patches = np.zeros((len(x), 0, 1, 1), dtype=np.float32)
        if self.patch_variables:
            from ecocube.cube import PointPatchDataset

            pts = pd.DataFrame({"x": x, "y": y})
            pds = PointPatchDataset(
                ds,
                pts,
                patch_size=self.config.patch_size,
                variables=list(self.patch_variables),
                crs=crs,
                drop_outside=True,
            )
            batch = pds.__getitems__(np.arange(len(pds)))
            patches = np.full(
                (len(x), len(self.patch_variables), self.config.patch_size, self.config.patch_size),
                np.nan,
                dtype=np.float32,
            )
            patches[pds.index] = batch["image"].numpy()
        return (
            table["row"].to_numpy(),
            table["col"].to_numpy(),
            table[list(self.covariates)],
            patches,
            inside,
        )

    def _usable(
        self, cov: pd.DataFrame, inside: np.ndarray, what: str, drop_na: bool
    ) -> np.ndarray:
        ok = inside & ~cov.isna().any(axis=1).to_numpy()
        if not ok.all():
            msg = (
                f"{int((~inside).sum())} {what} fall outside the cube and "
                f"{int((inside & ~ok).sum())} have missing covariates (nodata) at their pixel"
            )
            if not drop_na:
                raise InvalidInputError(
                    msg + "; pass drop_na=True to drop them, or build a cube covering them"
                )
            warnings.warn(msg + "; dropped (drop_na=True)", EcocubeWarning, stacklevel=3)
        return ok

    def _scale_patches(self, patches: np.ndarray) -> np.ndarray:
        """Z-score each band with the background statistics; NaN -> 0 plus a validity channel."""
        if patches.shape[1] == 0:
            return patches
        z = (patches - self._patch_mean[None, :, None, None]) / self._patch_std[None, :, None, None]
        valid = np.isfinite(z).all(axis=1, keepdims=True)
        z = np.where(np.isfinite(z), z, 0.0).astype(np.float32)
        return np.concatenate([z, valid.astype(np.float32)], axis=1)

    # -- public API ----------------------------------------------------------------------------
    def fit(
        self,
        cube: xr.Dataset | str | Path,
        records: pd.DataFrame,
        *,
        background: int | pd.DataFrame | None = None,
        species_col: str = "species",
        x_col: str = "x",
        y_col: str = "y",
        crs: Any = "EPSG:4326",
        drop_na: bool = False,
        progress: bool = False,
    ) -> MultimodalSDM:
        """Fit on presence records placed on a cube.

        Parameters
        ----------
        cube
            ``xarray.Dataset`` or path of a Zarr cube holding ``covariates`` and
            ``patch_variables`` as ``(y, x)`` variables.
        records
            Presence records: ``x_col``, ``y_col`` (in ``crs``) and ``species_col`` (optional;
            one species if absent). Records in one pixel are merged into one site.
        background
            Random background: a number of random valid pixels of the cube, or a table with
            ``x_col``/``y_col``; ``None`` for target-group only (``config.background``).
        crs
            CRS of the coordinates (default lon/lat).
        drop_na
            Drop records outside the cube or on nodata pixels (with a warning) instead of raising.
        progress
            Show a progress bar over epochs.
        """
        cfg = self.config
        ds = _open(cube)
        self._check_cube(ds)
        for col in (x_col, y_col):
            if col not in records.columns:
                raise InvalidInputError(
                    f"records has no column {col!r} (columns: {list(records.columns)}); "
                    "pass x_col=/y_col="
                )
        if len(records) == 0:
            raise InvalidInputError("records is empty; give at least one presence record")
        if species_col in records.columns:
            spp = records[species_col].astype(str).to_numpy()
        else:
            spp = np.full(len(records), "species")
        x = records[x_col].to_numpy(dtype=np.float64)
        y = records[y_col].to_numpy(dtype=np.float64)
        rows, cols, cov, patches, inside = self._inputs(ds, x, y, crs)
        ok = self._usable(cov, inside, "records", drop_na)
        rows, cols, cov, patches, spp = rows[ok], cols[ok], cov[ok], patches[ok], spp[ok]
        species = tuple(sorted(set(spp)))
        if not species:
            raise InvalidInputError("no record is left inside the cube with valid covariates")
        # one site per occupied pixel, with per-species counts
        pixel = rows.astype(np.int64) * int(ds.sizes["x"]) + cols
        uniq, first, site = np.unique(pixel, return_index=True, return_inverse=True)
        counts = np.zeros((len(uniq), len(species)), dtype=np.float32)
        np.add.at(counts, (site, np.searchsorted(species, spp)), 1.0)
        cov = cov.iloc[first].reset_index(drop=True)
        patches = patches[first]
        is_bg = np.zeros(len(uniq), dtype=bool)
        if background is not None:
            if isinstance(background, (int, np.integer)):
                from ecocube.cube import background_points

                bg = background_points(
                    ds, int(background), seed=cfg.seed, variable=self.covariates[0]
                )
                bcrs = ds.ecocube.crs
            elif isinstance(background, pd.DataFrame):
                bg, bcrs = background.rename(columns={x_col: "x", y_col: "y"}), crs
            else:
                raise InvalidInputError(
                    f"background must be an int, a DataFrame or None, got {type(background).__name__}"
                )
            _, _, bcov, bpatch, binside = self._inputs(
                ds, bg["x"].to_numpy(float), bg["y"].to_numpy(float), bcrs
            )
            bok = self._usable(bcov, binside, "background points", True)
            cov = pd.concat([cov, bcov[bok].reset_index(drop=True)], ignore_index=True)
            patches = np.concatenate([patches, bpatch[bok]])
            counts = np.concatenate([counts, np.zeros((int(bok.sum()), len(species)), np.float32)])
            is_bg = np.concatenate([is_bg, np.ones(int(bok.sum()), dtype=bool)])
        log_w = site_log_weights(counts, is_bg, cfg.background, cfg.random_weight)
        ref = is_bg if is_bg.any() else np.ones_like(is_bg)
        self.encoder.fit(cov[ref])
        xt = self.encoder.transform(cov)
        if self.patch_variables:
            centre = patches[ref][:, :, cfg.patch_size // 2, cfg.patch_size // 2]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN bands -> mean 0, sd 1
                mean = np.nanmean(centre, axis=0)
                std = np.nanstd(centre, axis=0)
            self._patch_mean = np.nan_to_num(mean).astype(np.float32)
            self._patch_std = np.where(np.isfinite(std) & (std > 0), std, 1.0).astype(np.float32)
        pt = self._scale_patches(patches)
        self.species_ = species
        device = resolve_device(cfg.device)
        tensors = tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in (xt, pt, counts, log_w))
        batches = _site_batches(tensors, cfg.batch_size, cfg.seed, device)
        train_cfg = TrainConfig(
            max_epochs=cfg.epochs,
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            optimizer="adamw",
            patience=None,
            restore_best=False,
            device=str(device),
            precision=cfg.precision,
            seed=cfg.seed,
            progress=progress,
        )
        torch.manual_seed(cfg.seed)  # initialisation is reproducible too
        self.network = self._new_network(xt.shape[1], pt.shape[1])
        result = Trainer(train_cfg).fit(_Objective(self.network), batches)
        self.history_ = result.history
        self.n_sites_ = len(uniq)
        with torch.no_grad():
            f = self._forward(tensors[0], tensors[1])
            self._log_z = torch.logsumexp(f + tensors[3], dim=1, keepdim=True)
            self._n_background = float(torch.exp(tensors[3]).sum(0).mean())
        return self

    def _new_network(self, n_features: int, n_bands: int) -> MultimodalMaxentNet:
        """An untrained network of the configured shape for the species of ``species_``."""
        cfg = self.config
        return MultimodalMaxentNet(
            n_features,
            n_bands,
            len(self.species_),
            patch_size=cfg.patch_size,
            hidden=cfg.hidden,
            activation=cfg.activation,
            dropout=cfg.dropout,
            linear_skip=cfg.linear_skip,
            n_members=cfg.n_members,
            patch_channels=cfg.patch_channels,
            patch_embedding=cfg.patch_embedding,
        )

    def _forward(self, xt: torch.Tensor, pt: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
        device = next(self.network.parameters()).device
        self.network.eval()
        outs = []
        with torch.no_grad():
            for s in range(0, len(xt), chunk):
                outs.append(
                    self.network(xt[s : s + chunk].to(device), pt[s : s + chunk].to(device))
                    .float()
                    .cpu()
                )
        return torch.cat(outs, dim=1)

    def _check_fitted(self) -> None:
        if not hasattr(self, "network"):
            raise InvalidInputError("the model is not fitted; call fit(cube, records) first")

    def _encoded(
        self, cube: xr.Dataset | str | Path, points: pd.DataFrame, x_col: str, y_col: str, crs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoded covariates ``(n, F)`` and scaled patches ``(n, B, P, P)`` at ``points``."""
        self._check_fitted()
        ds = _open(cube)
        self._check_cube(ds)
        for col in (x_col, y_col):
            if col not in points.columns:
                raise InvalidInputError(
                    f"points has no column {col!r} (columns: {list(points.columns)}); "
                    "pass x_col=/y_col="
                )
        x = points[x_col].to_numpy(dtype=np.float64)
        y = points[y_col].to_numpy(dtype=np.float64)
        _, _, cov, patches, inside = self._inputs(ds, x, y, crs)
        self._usable(cov, inside, "points", drop_na=False)
        xt = torch.from_numpy(self.encoder.transform(cov))
        pt = torch.from_numpy(self._scale_patches(patches))
        return xt, pt

    def member_log_intensity(
        self,
        cube: xr.Dataset | str | Path,
        points: pd.DataFrame,
        *,
        x_col: str = "x",
        y_col: str = "y",
        crs: Any = "EPSG:4326",
    ) -> torch.Tensor:
        """Log relative occurrence rate of every member at points, ``(members, n_points, S)``.

        Normalised over the training background (mean of ``exp`` over background sites is 1).
        Points outside the cube or on nodata pixels raise.
        """
        xt, pt = self._encoded(cube, points, x_col, y_col, crs)
        f = self._forward(xt, pt)
        return f - self._log_z + math.log(self._n_background)

    def predict_log_intensity(
        self,
        cube: xr.Dataset | str | Path,
        points: pd.DataFrame,
        *,
        x_col: str = "x",
        y_col: str = "y",
        crs: Any = "EPSG:4326",
    ) -> np.ndarray:
        """Log relative occurrence rate at points, shape ``(n_points, n_species)``.

        Normalised over the training background (mean of ``exp`` over background sites is 1),
        averaged over members. Points outside the cube or on nodata pixels raise.
        """
        rel = self.member_log_intensity(cube, points, x_col=x_col, y_col=y_col, crs=crs)
        return rel.mean(0).numpy()

    def predict(
        self,
        cube: xr.Dataset | str | Path,
        points: pd.DataFrame,
        *,
        x_col: str = "x",
        y_col: str = "y",
        crs: Any = "EPSG:4326",
        return_samples: bool = False,
    ) -> Prediction:
        """Relative suitability at points: mean, sd, 5 % and 95 % quantiles over the members.

        Each member's suitability is ``1 - exp(-exp(eta))`` with ``eta`` its log relative
        occurrence rate (:meth:`member_log_intensity`); presence-only data fix the rate only
        up to a constant, so this ranks sites for a species but is not a probability of
        presence. Arrays ``(n_points, n_species)``, rows in point order.
        """
        rel = self.member_log_intensity(cube, points, x_col=x_col, y_col=y_col, crs=crs)
        return summarise_draws(cloglog(rel.numpy()), self.species_, keep=return_samples)

    def suitability(
        self,
        cube: xr.Dataset | str | Path,
        points: pd.DataFrame,
        *,
        x_col: str = "x",
        y_col: str = "y",
        crs: Any = "EPSG:4326",
    ) -> pd.DataFrame:
        """Suitability in (0, 1) of the member-averaged log rate, one column per species.

        ``1 - exp(-exp(eta))`` with ``eta`` :meth:`predict_log_intensity`; rows in point order.
        """
        eta = self.predict_log_intensity(cube, points, x_col=x_col, y_col=y_col, crs=crs)
        return pd.DataFrame(cloglog(eta), columns=list(self.species_))

    # -- the spine -----------------------------------------------------------------------------
    @property
    def inputs(self) -> ModelInputs:
        """Tabular covariates, categorical ones and the patch variables with the patch size."""
        patch = tuple(self.patch_variables or ())
        return ModelInputs(
            tuple(self.encoder.covariates),
            tuple(self.encoder.categorical),
            patch,
            self.config.patch_size if patch else None,
        )

    @property
    def n_draws(self) -> int:
        """Number of members."""
        return self.config.n_members

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Columns of :meth:`features`: the encoder's, then every patch pixel of every band
        (``band[row,col]``, the last band ``valid`` marking pixels with data)."""
        self._check_fitted()
        names = list(self.encoder.feature_names)
        if self.patch_variables:
            size = self.config.patch_size
            bands = [*self.patch_variables, "valid"]
            names += [f"{b}[{i},{j}]" for b in bands for i in range(size) for j in range(size)]
        return tuple(names)

    def features(
        self,
        cube: xr.Dataset | str | Path,
        points: pd.DataFrame,
        *,
        x_col: str = "x",
        y_col: str = "y",
        crs: Any = "EPSG:4326",
    ) -> np.ndarray:
        """The encoded inputs at points as one matrix ``(n_points, len(feature_names))``:
        encoded covariates, then the scaled patch flattened (the input of
        :meth:`explain_function`)."""
        xt, pt = self._encoded(cube, points, x_col, y_col, crs)
        return torch.cat([xt, pt.reshape(len(pt), -1)], dim=1).numpy()

    def explain_function(self, *, draw: int | None = None) -> ExplainFunction:
        """:meth:`features` ``(n, p)`` -> log relative rate ``(n, S)`` of member ``draw``
        (``None``: the mean over members, as :meth:`predict_log_intensity`)."""
        self._check_fitted()
        self._check_draw(draw)
        net = self.network.eval()
        device = next(net.parameters()).device
        shift = (math.log(self._n_background) - self._log_z).to(device)
        n_tab = len(self.encoder.feature_names)
        bands, size = net.n_bands, self.config.patch_size

        def function(x: torch.Tensor) -> torch.Tensor:
            x = x.to(device)
            patch = x[:, n_tab:].reshape(len(x), bands, size, size) if bands else None
            eta = net(x[:, :n_tab], patch).float() + shift
            return eta.mean(0) if draw is None else eta[draw]

        return ExplainFunction(function, self.feature_names, tuple(self.species_), draw)

    def training_steps(self) -> tuple[int, int]:
        """``(epochs run, epochs run)``: the multimodal fit has no early stopping."""
        return len(self.history_), len(self.history_)

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        meta = {
            "config": json_config(self.config),
            "covariates": list(self.covariates),
            "patch_variables": list(self.patch_variables or ()),
            "categorical": list(self.categorical),
            "encoder": self.encoder.to_dict(),
            "n_features": len(self.encoder.feature_names),
            "n_bands": int(self.network.n_bands),
            "n_background": float(self._n_background),
            "n_sites": int(self.n_sites_),
            "epochs_run": len(self.history_),
        }
        arrays = module_arrays(self.network, "network.")
        arrays["log_z"] = self._log_z.detach().cpu().numpy()
        if self.patch_variables:
            arrays["patch_mean"], arrays["patch_std"] = self._patch_mean, self._patch_std
        return meta, arrays

    @classmethod
    def _from_state(
        cls, meta: dict[str, Any], arrays: dict[str, np.ndarray], device: str
    ) -> MultimodalSDM:
        cfg = dict(meta["config"])
        for key in ("hidden", "patch_channels"):
            cfg[key] = tuple(cfg[key])
        config = MultimodalConfig(**{**cfg, "device": device})
        model = cls(meta["covariates"], meta["patch_variables"], meta["categorical"], config)
        model.encoder = CovariateEncoder.from_dict(meta["encoder"])
        model.species_ = tuple(meta["species"])
        model.n_sites_ = int(meta["n_sites"])
        model.network = model._new_network(int(meta["n_features"]), int(meta["n_bands"]))
        load_module_arrays(model.network, arrays, "network.")
        model.network.to(resolve_device(device)).eval()
        model._log_z = torch.from_numpy(np.array(arrays["log_z"]))
        model._n_background = float(meta["n_background"])
        if model.patch_variables:
            model._patch_mean = np.array(arrays["patch_mean"], dtype=np.float32)
            model._patch_std = np.array(arrays["patch_std"], dtype=np.float32)
        return model

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments (scikit-learn style)."""
        return {
            "covariates": self.covariates,
            "patch_variables": self.patch_variables,
            "categorical": self.categorical,
            "config": asdict(self.config),
        }

    def with_config(self, **changes: Any) -> MultimodalSDM:
        """A new, unfitted model with some hyper-parameters changed."""
        return MultimodalSDM(
            self.covariates, self.patch_variables, self.categorical, replace(self.config, **changes)
        )


def block_cv_auc(
    cube: xr.Dataset | str | Path,
    records: pd.DataFrame,
    make_model: Callable[[], Any],
    *,
    block_size: float,
    n_splits: int = 5,
    seed: int = 0,
    min_presences: int = 5,
    species_col: str = "species",
    x_col: str = "x",
    y_col: str = "y",
    crs: Any = "EPSG:4326",
) -> pd.DataFrame:
    """Spatial-block cross-validated AUC, presences vs target-group background.

    Records are grouped into square blocks (:class:`ecocube.cube.SpatialBlockKFold`); each fold
    the model (a fresh ``make_model()`` with ``fit(cube, records)`` and
    ``suitability(cube, points)``) is fitted on the other folds. On the held-out fold, every occupied pixel is a site; a species'
    AUC compares its presence sites with the other held-out sites (the target group), for
    species with at least ``min_presences`` held-out presence sites.

    Returns
    -------
    pandas.DataFrame
        ``species``, ``fold``, ``n_presence``, ``n_background``, ``auc``.
    """
    from ecocube.cube import SpatialBlockKFold
    from ecocube.models.evaluation import auc

    ds = _open(cube)
    rec = records.reset_index(drop=True)
    table = ds.ecocube.sample_points(
        rec[x_col].to_numpy(float), rec[y_col].to_numpy(float), crs=crs, variables=[]
    )
    rec = rec[table["inside"].to_numpy()].reset_index(drop=True)
    table = table[table["inside"]].reset_index(drop=True)
    cv = SpatialBlockKFold(block_size=block_size, n_splits=n_splits, seed=seed)
    rows = []
    for fold, (train, test) in enumerate(cv.split(rec[x_col].to_numpy(), rec[y_col].to_numpy())):
        model = make_model().fit(
            ds,
            rec.iloc[train],
            species_col=species_col,
            x_col=x_col,
            y_col=y_col,
            crs=crs,
            drop_na=True,
        )
        held = rec.iloc[test].assign(_pix=(table["row"] * ds.sizes["x"] + table["col"]).iloc[test])
        sites = held.groupby("_pix", sort=True).first().reset_index()
        presence = pd.crosstab(held["_pix"], held[species_col]).reindex(sites["_pix"]).fillna(0)
        cov = ds.ecocube.sample_points(
            sites[x_col].to_numpy(float),
            sites[y_col].to_numpy(float),
            crs=crs,
            variables=list(model.covariates),
        )
        ok = cov[list(model.covariates)].notna().all(axis=1).to_numpy()
        if not ok.any():
            continue
        scores = model.suitability(ds, sites[ok], x_col=x_col, y_col=y_col, crs=crs)
        for sp in model.species_:
            if sp not in presence.columns:
                continue
            yv = (presence[sp].to_numpy()[ok] > 0).astype(int)
            if yv.sum() < min_presences or yv.sum() == len(yv):
                continue
            rows.append(
                {
                    "species": sp,
                    "fold": fold,
                    "n_presence": int(yv.sum()),
                    "n_background": int(len(yv) - yv.sum()),
                    "auc": auc(yv, scores[sp].to_numpy()),
                }
            )
    return pd.DataFrame(rows, columns=["species", "fold", "n_presence", "n_background", "auc"])
