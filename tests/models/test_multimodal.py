"""The multimodal (patch CNN + tabular) maxent SDM: a seeded synthetic cube, then Costa Rica GBIF
records on a CHELSA cube (real data)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from scipy.ndimage import uniform_filter

from ecocube.errors import InvalidInputError
from ecocube.models.evaluation import auc
from ecocube.models.multimodal import (
    MultimodalConfig,
    MultimodalMaxentNet,
    MultimodalSDM,
    block_cv_auc,
)


def synthetic_cube(
    seed: int = 0, size: int = 64, res: float = 0.1
) -> tuple[xr.Dataset, np.ndarray]:
    """A lon/lat cube with two smooth tabular layers ``t1``, ``t2`` and white-noise ``lu``.

    The signal of the synthetic species lives in the 5x5 neighbourhood mean of ``lu``
    (returned z-scored next to the cube, not a variable of it): the centre pixel
    of ``lu`` correlates only weakly (about 0.2) with it, and ``t1``/``t2`` not at all.
    """
    import rioxarray  # noqa: F401

    rng = np.random.default_rng(seed)
    x = np.arange(size) * res + res / 2
    y = (np.arange(size) * res + res / 2)[::-1]
    yy, xx = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size), indexing="ij")
    t1 = (xx + 0.05 * rng.normal(size=xx.shape)).astype(np.float32)
    t2 = (np.sin(3 * yy) + 0.05 * rng.normal(size=yy.shape)).astype(np.float32)
    lu = rng.uniform(size=(size, size)).astype(np.float32)
    ds = xr.Dataset(
        {n: (("y", "x"), v) for n, v in {"t1": t1, "t2": t2, "lu": lu}.items()},
        coords={"x": x, "y": y},
    ).rio.write_crs("EPSG:4326")
    signal = uniform_filter(lu.astype(np.float64), size=5, mode="nearest")
    return ds, (signal - signal.mean()) / signal.std()


def synthetic_records(
    ds: xr.Dataset, signal: np.ndarray, n: int = 600, seed: int = 1
) -> pd.DataFrame:
    """Records of three species: ``up`` (more where the signal is high), ``down`` (low) and
    ``flat`` (uniform), at pixel centres drawn from their intensities."""
    rng = np.random.default_rng(seed)
    border = 2  # keep the 5x5 neighbourhood inside the cube
    h, w = signal.shape
    inner = np.zeros_like(signal, dtype=bool)
    inner[border : h - border, border : w - border] = True
    frames = []
    for name, beta in (("up", 2.0), ("down", -2.0), ("flat", 0.0)):
        p = np.where(inner, np.exp(beta * signal), 0.0).ravel()
        pick = rng.choice(p.size, size=n, p=p / p.sum())
        r, c = np.unravel_index(pick, signal.shape)
        frames.append(
            pd.DataFrame({"species": name, "x": ds["x"].values[c], "y": ds["y"].values[r]})
        )
    return pd.concat(frames, ignore_index=True)


FAST = MultimodalConfig(
    patch_size=5, patch_channels=(8,), patch_embedding=8, hidden=(32,), epochs=40, lr=2e-2
)


@pytest.fixture(scope="module")
def cube():
    return synthetic_cube(seed=0)


@pytest.fixture(scope="module")
def records(cube):
    ds, signal = cube
    return synthetic_records(ds, signal, seed=1)


def _heldout_auc(model: MultimodalSDM, ds, signal) -> dict[str, float]:
    test = synthetic_records(ds, signal, seed=2)
    sites = test.groupby(["x", "y"])["species"].agg(set).reset_index()
    pred = model.suitability(ds, sites)
    return {
        sp: auc(np.array([sp in s for s in sites["species"]], dtype=int), pred[sp].to_numpy())
        for sp in ("up", "down")
    }


@pytest.fixture(scope="module")
def fitted(cube, records, device):
    ds, _ = cube
    config = dataclasses.replace(FAST, device=device)
    return MultimodalSDM(["t1", "t2", "lu"], ["lu"], config=config).fit(ds, records)


def test_network_shapes_and_dtypes():
    torch.manual_seed(0)
    net = MultimodalMaxentNet(3, 2, 4, patch_size=7, hidden=(8,), n_members=2)
    out = net(torch.randn(10, 3), torch.randn(10, 2, 7, 7))
    assert out.shape == (2, 10, 4) and out.dtype == torch.float32
    one = MultimodalMaxentNet(3, 2, 4, patch_size=1, hidden=(8,))
    assert one(torch.randn(5, 3), torch.randn(5, 2, 1, 1)).shape == (1, 5, 4)
    tab = MultimodalMaxentNet(3, 0, 4, hidden=(8,))
    assert tab.encoder is None and tab(torch.randn(5, 3)).shape == (1, 5, 4)


def test_fit_predict_shapes(fitted, cube, records):
    ds, _ = cube
    assert fitted.species_ == ("down", "flat", "up")
    pred = fitted.suitability(ds, records.iloc[:17])
    assert pred.shape == (17, 3) and list(pred.columns) == ["down", "flat", "up"]
    assert all(np.issubdtype(t, np.floating) for t in pred.dtypes)
    assert ((pred.to_numpy() > 0) & (pred.to_numpy() < 1)).all()
    eta = fitted.predict_log_intensity(ds, records)
    assert eta.shape == (len(records), 3) and np.isfinite(eta).all()
    # background normalisation: mean relative rate over the training sites is ~1 per species
    sites = records.drop_duplicates(["x", "y"])
    rel = np.exp(fitted.predict_log_intensity(ds, sites))
    np.testing.assert_allclose(rel.mean(0), 1.0, rtol=1e-3)


def test_predict_summarises_the_members_and_round_trips(cube, records, tmp_path):
    """With members, predict gives mean/sd/q05/q95 of the members' suitabilities; save/load
    (the model's own state) gives the same numbers."""
    ds, _ = cube
    cfg = dataclasses.replace(FAST, n_members=3, epochs=10)
    model = MultimodalSDM(["t1", "t2", "lu"], ["lu"], config=cfg).fit(ds, records)
    pred = model.predict(ds, records.iloc[:20])
    assert pred.species == ("down", "flat", "up") and pred.mean.shape == (20, 3)
    assert (pred.sd > 0).all() and (pred.q05 <= pred.q95).all()
    rel = model.member_log_intensity(ds, records.iloc[:20]).numpy()
    np.testing.assert_allclose(pred.mean, (-np.expm1(-np.exp(rel))).mean(0), rtol=1e-5)
    again = MultimodalSDM.load(model.save(tmp_path / "mm"))
    assert isinstance(again, MultimodalSDM) and again.inputs == model.inputs
    assert again.inputs.patch_variables == ("lu",) and again.inputs.patch_size == 5
    same = again.predict(ds, records.iloc[:20])
    for key, value in pred.as_dict().items():
        np.testing.assert_array_equal(same.as_dict()[key], value)


def test_patch_size_one_falls_back_to_mlp(cube, records):
    ds, _ = cube
    cfg = MultimodalConfig(patch_size=1, patch_channels=(8,), hidden=(8,), epochs=5)
    model = MultimodalSDM(["t1", "t2"], ["lu"], config=cfg).fit(ds, records)
    assert isinstance(model.network.encoder.body[0], torch.nn.Flatten)
    assert model.suitability(ds, records.iloc[:3]).shape == (3, 3)


def test_seeded_fit_is_deterministic(cube, records, fitted):
    ds, _ = cube
    again = MultimodalSDM(["t1", "t2", "lu"], ["lu"], config=fitted.config).fit(ds, records)
    np.testing.assert_array_equal(
        fitted.predict_log_intensity(ds, records), again.predict_log_intensity(ds, records)
    )
    other = MultimodalSDM(["t1", "t2", "lu"], ["lu"], config=fitted.with_config(seed=1).config)
    other.fit(ds, records)
    assert not np.array_equal(
        fitted.predict_log_intensity(ds, records), other.predict_log_intensity(ds, records)
    )


def test_encoder_uses_the_patch(cube, fitted):
    """The signal is the 5x5 neighbourhood mean of ``lu``: only the patch branch sees it (the
    tabular model has ``lu`` at the centre pixel, which correlates ~0.2 with the signal)."""
    ds, signal = cube
    records = synthetic_records(ds, signal, seed=1)
    tabular = MultimodalSDM(["t1", "t2", "lu"], (), config=fitted.config).fit(ds, records)
    multi = _heldout_auc(fitted, ds, signal)
    tab = _heldout_auc(tabular, ds, signal)
    assert min(multi.values()) > 0.85, multi
    assert max(tab.values()) < 0.75, tab
    assert min(multi.values()) - max(tab.values()) > 0.15


def test_random_background_and_drop_na(cube, records):
    ds, _ = cube
    cfg = MultimodalConfig(
        patch_size=3, patch_channels=(4,), hidden=(8,), epochs=5, background="both"
    )
    outside = pd.DataFrame({"species": ["up"], "x": [100.0], "y": [100.0]})
    recs = pd.concat([records, outside], ignore_index=True)
    with pytest.raises(InvalidInputError, match=r"1 records fall outside the cube.*drop_na=True"):
        MultimodalSDM(["t1"], ["lu"], config=cfg).fit(ds, recs, background=200)
    with pytest.warns(UserWarning, match="dropped"):
        model = MultimodalSDM(["t1"], ["lu"], config=cfg).fit(
            ds, recs, background=200, drop_na=True
        )
    assert model.suitability(ds, records.iloc[:2]).shape == (2, 3)
    with pytest.raises(InvalidInputError, match="needs random background"):
        MultimodalSDM(["t1"], ["lu"], config=cfg).fit(ds, records)
    with pytest.raises(InvalidInputError, match="background must be an int, a DataFrame"):
        MultimodalSDM(["t1"], ["lu"], config=cfg).fit(ds, records, background="many")


def test_block_cv_auc_sees_the_neighbourhood_signal(cube, records):
    """Spatial-block CV AUC of ``up``/``down`` (presences vs the held-out target group): the
    patch model finds the signal in the 5x5 neighbourhood of ``lu``, the tabular-only baseline
    (same covariates, same folds) hardly does."""
    ds, _ = cube

    def cv(patch_variables: tuple[str, ...]):
        return block_cv_auc(
            ds,
            records,
            lambda: MultimodalSDM(["t1", "t2", "lu"], patch_variables, config=FAST),
            block_size=1.6,
            n_splits=2,
        )

    multi, tabular = cv(("lu",)), cv(())
    assert list(multi.columns) == ["species", "fold", "n_presence", "n_background", "auc"]
    assert set(multi["fold"]) == {0, 1} and (multi["n_presence"] >= 5).all()
    signal = ["up", "down"]
    patch_auc = multi[multi["species"].isin(signal)]["auc"]
    tabular_auc = tabular[tabular["species"].isin(signal)]["auc"]
    assert len(patch_auc) == len(tabular_auc) == 4  # two species x two folds
    assert patch_auc.min() > 0.85, multi
    assert tabular_auc.max() < 0.7, tabular
    assert patch_auc.mean() - tabular_auc.mean() > 0.25


# -- bad input -------------------------------------------------------------------------------
def test_patch_larger_than_cube(cube, records):
    ds, _ = cube
    model = MultimodalSDM(["t1"], ["lu"], config=MultimodalConfig(patch_size=65, epochs=1))
    with pytest.raises(InvalidInputError, match=r"patch_size=65 is larger than the cube \(64 x 64"):
        model.fit(ds, records)


def test_band_mismatch(cube, records, fitted):
    ds, _ = cube
    with pytest.raises(InvalidInputError, match=r"patch_variables \['ndvi'\] are not variables"):
        MultimodalSDM(["t1"], ["ndvi"], config=FAST).fit(ds, records)
    with pytest.raises(InvalidInputError, match=r"\['lu'\] are not variables of the cube"):
        fitted.predict(ds.drop_vars("lu"), records)
    with pytest.raises(InvalidInputError, match=r"lacks the variable\(s\) \['lu'\] the model"):
        fitted.inputs.check(ds.drop_vars("lu").data_vars)
    with pytest.raises(InvalidInputError, match=r"covariates \['t9'\] are not variables"):
        MultimodalSDM(["t9"], ["lu"], config=FAST).fit(ds, records)
    with pytest.raises(InvalidInputError, match=r"bands of the patch must match"):
        fitted.network.encoder(torch.zeros(2, 5, 5, 5))
    with pytest.raises(InvalidInputError, match=r"encoder expects 5x5"):
        fitted.network.encoder(torch.zeros(2, 2, 3, 3))
    with pytest.raises(InvalidInputError, match="pass patch="):
        fitted.network(torch.zeros(2, 3))


def test_bad_arguments(cube, records):
    ds, _ = cube
    with pytest.raises(InvalidInputError, match="patch_size must be an integer >= 1"):
        MultimodalConfig(patch_size=0)
    with pytest.raises(InvalidInputError, match="patch_channels must be"):
        MultimodalConfig(patch_channels=())
    with pytest.raises(InvalidInputError, match="patch_embedding must be >= 1"):
        MultimodalConfig(patch_embedding=0)
    with pytest.raises(InvalidInputError, match="background 'x' is unknown"):
        MultimodalConfig(background="x")
    with pytest.raises(InvalidInputError, match="activation 'x' is unknown"):
        MultimodalConfig(activation="x")
    with pytest.raises(InvalidInputError, match="hidden widths"):
        MultimodalConfig(hidden=(0,))
    with pytest.raises(InvalidInputError, match="n_members must be"):
        MultimodalConfig(n_members=0)
    with pytest.raises(InvalidInputError, match="epochs must be"):
        MultimodalConfig(epochs=0)
    with pytest.raises(InvalidInputError, match="dropout must be"):
        MultimodalConfig(dropout=1.0)
    with pytest.raises(InvalidInputError, match="batch_size must be"):
        MultimodalConfig(batch_size=1)
    with pytest.raises(InvalidInputError, match="precision must be"):
        MultimodalConfig(precision="16")
    with pytest.raises(InvalidInputError, match="covariates is empty"):
        MultimodalSDM([])
    with pytest.raises(InvalidInputError, match=r"categorical columns \['soil'\] are not among"):
        MultimodalSDM(["t1"], ["lu"], ["soil"])
    with pytest.raises(InvalidInputError, match="n_features must be >= 1"):
        MultimodalMaxentNet(0, 1, 1)
    model = MultimodalSDM(["t1"], ["lu"], config=FAST)
    with pytest.raises(InvalidInputError, match="not fitted"):
        model.predict(ds, records)
    with pytest.raises(InvalidInputError, match="records has no column 'lon'"):
        model.fit(ds, records, x_col="lon")
    with pytest.raises(InvalidInputError, match="records is empty"):
        model.fit(ds, records.iloc[:0])
    with pytest.raises(InvalidInputError, match=r"cube must be an xarray\.Dataset or the path"):
        model.fit(42, records)


# -- real data ---------------------------------------------------------------------------
BIO = [f"bio{i}" for i in range(1, 20)]

#: Floor on the mean held-out AUC (presence vs target-group sites of the held-out 0.5-degree
#: blocks, 11 species with >= 10 held-out presence sites). Measured: 0.724 with this seed
#: (tabular-only, same split and settings: 0.748); random ranking gives 0.5. The margin
#: allows for platform-dependent float differences.
AUC_FLOOR = 0.68


@pytest.mark.slow
def test_costa_rica_block_holdout_auc(mirror: Path) -> None:
    from ecocube import data
    from ecocube.cube import SpatialBlockKFold, anchor_of, build_cube
    from ecocube.cube.testing import chelsa_items

    items = chelsa_items()
    anchor, res = anchor_of(items[0])
    ds = build_cube(items, bbox=items[0].bbox, resolution=res, anchor=anchor).compute()
    folder = Path(data.fetch("gbif_costa_rica"))
    occ = pd.concat(
        [
            pd.read_parquet(folder / f"{n}_cr_gbif.parquet")[
                ["species", "decimalLongitude", "decimalLatitude"]
            ]
            for n in ("primates", "viperidae", "junco_vulcani", "leopardus_pardalis")
        ],
        ignore_index=True,
    ).dropna()
    occ.columns = ["species", "x", "y"]
    train, test = next(SpatialBlockKFold(block_size=0.5, n_splits=3).split(occ["x"], occ["y"]))
    cfg = MultimodalConfig(
        patch_size=5,
        patch_channels=(8, 16),
        patch_embedding=8,
        hidden=(32,),
        epochs=40,
        lr=1e-2,
        weight_decay=1e-2,
    )
    model = MultimodalSDM(BIO, ["bio1", "bio4", "bio12", "bio15"], config=cfg)
    with pytest.warns(UserWarning, match="dropped"):  # a few records fall on nodata pixels
        model.fit(ds, occ.iloc[train], drop_na=True)
    held = occ.iloc[test]
    table = ds.ecocube.sample_points(held["x"].to_numpy(), held["y"].to_numpy(), variables=BIO)
    ok = (table["inside"] & table[BIO].notna().all(axis=1)).to_numpy()
    held = held[ok].assign(pix=(table["row"] * ds.sizes["x"] + table["col"]).to_numpy()[ok])
    sites = held.groupby("pix").first().reset_index()
    present = pd.crosstab(held["pix"], held["species"]).reindex(sites["pix"]).fillna(0)
    pred = model.suitability(ds, sites)
    scores = [
        auc((present[sp].to_numpy() > 0).astype(int), pred[sp].to_numpy())
        for sp in model.species_
        if sp in present and (present[sp] > 0).sum() >= 10
    ]
    assert len(scores) >= 5
    assert np.mean(scores) > AUC_FLOOR, (np.mean(scores), scores)
