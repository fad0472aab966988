"""The SDM spine: registry, inputs, predictions, explanation hooks, and every model's save/load.

``test_every_option_round_trips`` fits each model with each option that changes its fitted
state (small, fast settings) and checks that predictions are equal, bit for bit, after
save/load.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from ecocube.errors import InvalidInputError
from ecocube.models import (
    SDM,
    IntegratedConfig,
    IntegratedData,
    IntegratedSDM,
    MaxentNet,
    MaxentNetConfig,
    ModelInputs,
    MultimodalConfig,
    MultimodalSDM,
    Prediction,
    SpeciesDistributionModel,
    model_class,
    register_model,
    registered_models,
)
from tests.models.test_estimator import _mixed_records
from tests.models.test_multimodal import synthetic_cube, synthetic_records


def _records(seed: int = 0, kinds: tuple[str, ...] = ("presence", "background", "survey")):
    """:func:`_mixed_records` (two species along ``t``) of ``kinds``, with a second covariate
    ``r``, a categorical ``soil`` and coordinates."""
    rec = _mixed_records(seed)
    rec = rec[rec["kind"].isin(kinds)].reset_index(drop=True)
    rng = np.random.default_rng(seed + 1)
    n = len(rec)
    return rec.assign(
        r=rng.normal(size=n),
        soil=rng.integers(1, 4, n),
        x=rng.uniform(0, 10, n),
        y=rng.uniform(0, 10, n),
    )


SITES = pd.DataFrame(
    {"t": np.linspace(-2, 2, 9), "r": np.linspace(1, -1, 9), "soil": [1, 2, 3] * 3}
)
INT = {"steps": 30, "num_samples": 20, "lr": 0.05}
MX = {"epochs": 3, "n_members": 2, "hidden": (8,)}


@dataclass(frozen=True)
class Case:
    """One fitted configuration: ``fit()`` returns the fitted object (an SDM or a model) and
    ``predict(obj)`` its predictions."""

    fit: Callable[[], Any]
    predict: Callable[[Any], Any]


def _sdm(model: str, options: dict, kinds=("presence", "background"), **kw: Any) -> Case:
    def fit() -> SDM:
        covs = kw.pop("covariates", ["t", "r"])
        return SDM(model, covs, options=options, cv_folds=kw.pop("cv_folds", 0), **kw).fit(
            _records(kinds=kinds)
        )

    return Case(fit, lambda sdm: sdm.predict(SITES))


def _integrated_blocks() -> Case:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(120, 2)).astype(np.float32)
    y = (rng.random((120, 2)) < 1 - np.exp(-np.exp(x @ [[1.0, -1.0], [0.5, 0.2]]))).astype(
        np.float32
    )
    data = IntegratedData(n_species=2, x_survey=x, y_survey=y, survey_block=np.arange(120) % 6)
    cfg = IntegratedConfig(**INT, block_effect=True, n_factors=1)
    x_new = rng.normal(size=(15, 2)).astype(np.float32)
    return Case(
        lambda: IntegratedSDM(cfg).fit(data),
        lambda m: m.predict(x_new, blocks=np.arange(15) % 3, seed=0),
    )


def _multimodal(patch: tuple[str, ...], **config: Any) -> Case:
    ds, signal = synthetic_cube(seed=0, size=24)
    ds["soil"] = (ds["t1"] * 3).astype(np.int64).astype(np.float32)
    records = synthetic_records(ds, signal, n=60, seed=1)
    cfg = MultimodalConfig(patch_channels=(4,), patch_embedding=4, hidden=(8,), epochs=3, **config)
    categorical = ["soil"] if config.get("background") == "both" else []
    covs = ["t1", "t2", *categorical]
    background = 100 if config.get("background") == "both" else None
    return Case(
        lambda: MultimodalSDM(covs, patch, categorical, cfg).fit(
            ds, records, background=background
        ),
        lambda m: m.predict(ds, records.iloc[:25]),
    )


CASES: dict[str, Callable[[], Case]] = {
    # maxent-net through the SDM front
    "maxent-net": lambda: _sdm("maxent-net", MX),
    "maxent-net/quantile": lambda: _sdm("maxent-net", {**MX, "scaling": "quantile"}),
    "maxent-net/categorical": lambda: _sdm("maxent-net", MX, categorical=["soil"]),
    "maxent-net/target-group": lambda: _sdm("maxent-net", {**MX, "background": "target-group"}),
    "maxent-net/both": lambda: _sdm("maxent-net", {**MX, "background": "both"}),
    "maxent-net/linear": lambda: _sdm("maxent-net", {**MX, "hidden": ()}),
    "maxent-net/architecture": lambda: _sdm(
        "maxent-net",
        {**MX, "n_members": 1, "linear_skip": False, "activation": "tanh", "dropout": 0.3},
    ),
    "maxent-net/penalty-minibatch": lambda: _sdm(
        "maxent-net", {**MX, "head_l2": 1.0, "batch_size": 64}
    ),
    "maxent-net/cv": lambda: _sdm("maxent-net", MX, cv_folds=2),
    # integrated through the SDM front
    "integrated/presence-only": lambda: _sdm("integrated", INT),
    "integrated/survey-only": lambda: _sdm("integrated", INT, kinds=("survey",)),
    "integrated/integrated": lambda: _sdm(
        "integrated", INT, kinds=("presence", "background", "survey")
    ),
    "integrated/bias-no-factors": lambda: _sdm(
        "integrated",
        {**INT, "n_factors": 0, "use_bias": "shared"},
        kinds=("presence", "background", "survey"),
    ),
    "integrated/network-lowrank": lambda: _sdm(
        "integrated", {**INT, "features": "network", "hidden": 8, "guide": "lowrank"}
    ),
    "integrated/linear-categorical": lambda: _sdm(
        "integrated", INT, quadratic=False, categorical=["soil"]
    ),
    "integrated/cv": lambda: _sdm("integrated", INT, cv_folds=2),
    "integrated/minibatch": lambda: _sdm(
        "integrated", {**INT, "batch_size": 16}, kinds=("presence", "background", "survey")
    ),
    "integrated/minibatch-network-lowrank": lambda: _sdm(
        "integrated",
        {**INT, "batch_size": 16, "features": "network", "hidden": 8, "guide": "lowrank"},
        kinds=("presence", "background", "survey"),
    ),
    "integrated/minibatch-presence-only": lambda: _sdm("integrated", {**INT, "batch_size": 16}),
    # models fitted on their own data
    "integrated/block-effect": _integrated_blocks,
    "multimodal/patch": lambda: _multimodal(("t1",), patch_size=3, n_members=2),
    "multimodal/tabular": lambda: _multimodal((), n_members=1),
    "multimodal/pixel-categorical-both": lambda: _multimodal(
        ("t2", "soil"), patch_size=1, background="both", dropout=0.2, activation="silu"
    ),
}


def _assert_same(a: Any, b: Any) -> None:
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        return
    assert a.species == b.species
    for key, value in a.as_dict().items():
        np.testing.assert_array_equal(b.as_dict()[key], value, err_msg=key)


@pytest.mark.parametrize("case", list(CASES))
def test_every_option_round_trips(case: str, tmp_path: Path) -> None:
    """Fitted with the option, saved, loaded: the same predictions, bit for bit."""
    spec = CASES[case]()
    fitted = spec.fit()
    before = spec.predict(fitted)
    folder = fitted.save(tmp_path / "model")
    loaded = type(fitted).load(folder)
    _assert_same(before, spec.predict(loaded))
    model = fitted.estimator_ if isinstance(fitted, SDM) else fitted
    assert model.name == case.split("/")[0]
    if isinstance(fitted, SDM):
        assert loaded.validation_ == json.loads(json.dumps(fitted.validation_))
        assert loaded.inputs == fitted.inputs
    # the model's own folder files read back without the front, as a ModelState too
    bare = SpeciesDistributionModel.load(folder)
    again = SpeciesDistributionModel.from_state(model.get_state())
    assert type(bare) is type(model) is type(again)
    assert bare.inputs == model.inputs and bare.species_ == model.species_


# ---------------------------------------------------------------------------- registry
def test_registry_holds_the_built_in_models() -> None:
    models = registered_models()
    assert models["maxent-net"] is MaxentNet and model_class("integrated") is IntegratedSDM
    assert models["multimodal"] is MultimodalSDM
    with pytest.raises(InvalidInputError, match=r"unknown model 'glm'; choose one of \["):
        model_class("glm")

    class Nameless(MaxentNet):
        name = ""

    with pytest.raises(InvalidInputError, match="Nameless has no name"):
        register_model(Nameless)

    class Clash(MaxentNet):
        pass

    with pytest.raises(InvalidInputError, match="model name 'maxent-net' is taken by"):
        register_model(Clash)


# ------------------------------------------------------------------------- value types
def test_model_inputs_name_what_a_cube_lacks() -> None:
    inputs = ModelInputs(("bio1", "bio12"), ("landcover",), ("frac_1", "bio1"), 5)
    assert inputs.variables == ("bio1", "bio12", "landcover", "frac_1")
    assert inputs.missing(["bio1", "frac_1"]) == ["bio12", "landcover"]
    inputs.check(["bio1", "bio12", "landcover", "frac_1", "extra"])
    with pytest.raises(
        InvalidInputError, match=r"the cube lacks the variable\(s\) \['bio12', 'landcover'\]"
    ):
        inputs.check(["bio1", "frac_1"])
    assert ModelInputs.from_dict(json.loads(json.dumps(inputs.to_dict()))) == inputs


def test_prediction_long_table() -> None:
    mean = np.array([[0.1, 0.2], [0.3, 0.4]], np.float32)
    pred = Prediction(mean, mean / 10, mean / 2, mean * 2, species=("a", "b"))
    table = pred.to_frame(site=["s1", "s2"])
    assert list(table.columns) == ["site", "species", "mean", "sd", "q05", "q95"]
    assert table["site"].tolist() == ["s1", "s1", "s2", "s2"]
    assert table["species"].tolist() == ["a", "b", "a", "b"]
    np.testing.assert_array_equal(table["mean"], mean.ravel())
    assert set(pred.as_dict()) == {"mean", "sd", "q05", "q95"}


# ------------------------------------------------------------------ explanation hooks
def test_explain_functions_reproduce_the_log_intensity() -> None:
    """Each model's explain function on its encoded inputs gives the log-intensity behind
    predict, averaged over draws or for one draw, and has gradients."""
    rec = _records(kinds=("presence", "background"))
    sdm = SDM("maxent-net", ["t", "r"], ["soil"], options=MX, cv_folds=0).fit(rec)
    mx = sdm.estimator_
    x = torch.from_numpy(mx.encoder.transform(SITES)).requires_grad_(True)
    f = mx.explain_function()
    assert f.feature_names == ("t", "r", "soil=1", "soil=2", "soil=3")
    assert sdm.explain_function(draw=0).draw == 0 and sdm.inputs.categorical == ("soil",)
    np.testing.assert_allclose(
        f(x).detach().numpy(), mx.predict_log_intensity(SITES), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        mx.explain_function(draw=1)(x).detach().numpy(),
        mx.member_log_intensity(SITES)[1],
        rtol=1e-5,
        atol=1e-6,
    )
    f(x)[:, 0].sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0

    ig = SDM("integrated", ["t"], options=INT, cv_folds=0).fit(_records()).estimator_
    xi = torch.from_numpy(ig.encoder.transform(SITES))
    eta = ig._eta(SITES).cpu().numpy()  # (draws, sites, S)
    assert ig.n_draws == eta.shape[0] == 20
    np.testing.assert_allclose(ig.explain_function()(xi).detach(), eta.mean(0), atol=1e-5)
    np.testing.assert_allclose(ig.explain_function(draw=7)(xi).detach(), eta[7], atol=1e-5)
    assert ig.explain_function().feature_names == ("t", "t^2")
    with pytest.raises(InvalidInputError, match=r"draw=20 is out of range: this model has 20"):
        ig.explain_function(draw=20)

    ds, signal = synthetic_cube(seed=0, size=24)
    records = synthetic_records(ds, signal, n=60, seed=1)
    cfg = MultimodalConfig(patch_size=3, patch_channels=(4,), hidden=(8,), epochs=2, n_members=2)
    mm = MultimodalSDM(["t1", "t2"], ["lu"], config=cfg).fit(ds, records)
    feats = mm.features(ds, records.iloc[:10])
    assert feats.shape == (10, len(mm.feature_names)) == (10, 2 + 2 * 9)
    assert mm.feature_names[2] == "lu[0,0]" and mm.feature_names[-1] == "valid[2,2]"
    np.testing.assert_allclose(
        mm.explain_function()(torch.from_numpy(feats)).detach(),
        mm.predict_log_intensity(ds, records.iloc[:10]),
        rtol=1e-5,
        atol=1e-6,
    )


# ----------------------------------------------------------------------- persistence
def test_load_names_the_folder_and_the_fix(tmp_path: Path) -> None:
    rec = _records(kinds=("presence", "background"))
    model = MaxentNet(["t", "r"], config=MaxentNetConfig(**MX, background="random"))
    model.fit(rec[rec.kind == "presence"], rec[rec.kind == "background"])
    folder = model.save(tmp_path / "mx")
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "model.npz"]
    with pytest.raises(InvalidInputError, match="is not an ecocube model folder"):
        SpeciesDistributionModel.load(tmp_path / "nothing")
    with pytest.raises(InvalidInputError, match=r"holds a 'maxent-net' model \(MaxentNet\), not a"):
        IntegratedSDM.load(folder)
    with pytest.raises(InvalidInputError, match="the state is of a 'maxent-net' model"):
        IntegratedSDM.from_state(model.get_state())
    doc = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text("{")
    with pytest.raises(InvalidInputError, match="is not valid JSON"):
        SpeciesDistributionModel.load(folder)
    (folder / "model.json").write_text(json.dumps({**doc, "format_version": 9}))
    with pytest.raises(InvalidInputError, match=r"version 9; this ecocube reads .*refit the model"):
        SpeciesDistributionModel.load(folder)
    (folder / "model.json").write_text(json.dumps({"format": doc["format"]}))
    with pytest.raises(InvalidInputError, match="not an ecocube model description"):
        SpeciesDistributionModel.load(folder)
    (folder / "model.json").write_text(json.dumps({**doc, "model": None}))
    with pytest.raises(InvalidInputError, match="does not name its model"):
        SpeciesDistributionModel.load(folder)
    (folder / "model.json").write_text(json.dumps({**doc, "model": "glm"}))
    with pytest.raises(InvalidInputError, match=r"model\.json': unknown model 'glm'"):
        SpeciesDistributionModel.load(folder)
    meta = {**doc["meta"], "encoder": {**doc["meta"]["encoder"], "mean": [0.0]}}
    (folder / "model.json").write_text(json.dumps({**doc, "meta": meta}))
    with pytest.raises(InvalidInputError, match=r"model\.json': encoder state 'mean' has shape"):
        SpeciesDistributionModel.load(folder)
    (folder / "model.json").write_text(
        json.dumps({**doc, "meta": {**doc["meta"], "n_features": 9}})
    )
    with pytest.raises(
        InvalidInputError, match=r"cannot be rebuilt from model\.json and model\.npz"
    ):
        SpeciesDistributionModel.load(folder)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match="is not an ecocube model folder"):
        model.save(tmp_path / "other")
    with pytest.raises(InvalidInputError, match="not fitted"):
        MaxentNet(["t"]).save(tmp_path / "unfitted")
    with pytest.raises(InvalidInputError, match=r"encoder= must be a fitted encoder of the cov"):
        MaxentNet(["t"]).fit(rec[rec.kind == "presence"], encoder=model.encoder)


def test_models_not_fitted_from_tables_say_how_to_fit_them() -> None:
    with pytest.raises(InvalidInputError, match="model 'multimodal' is not fitted from a records"):
        MultimodalSDM.fit_records(_records(), None, None, steps=1)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="model 'multimodal' is not fitted from a records"):
        MultimodalSDM.records_encoder(_records(), None)  # type: ignore[arg-type]


@pytest.mark.parametrize("shape", [(200, 300, 7), (5, 40, 3), (2, 9, 1), (1, 4, 2)])
def test_draw_quantiles_equal_numpys_linear_quantiles(shape):
    from ecocube.models._base import draw_quantiles

    draws = np.random.default_rng(3).normal(size=shape).astype(np.float32)
    probs = [0.05, 0.5, 0.95]
    expected = np.quantile(draws, probs, axis=0)
    got = draw_quantiles(draws, probs)
    assert got.dtype == expected.dtype and np.array_equal(got, expected)
