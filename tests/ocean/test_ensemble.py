"""Ensembles on Dask (``ocean/ensemble.py``, ``ocean/_dask.py``): Zarr cube + STAC item and its
registration in a catalog, equality with a direct run, the local cluster (loopback, one torch
thread per worker), errors."""

from __future__ import annotations

import json
from pathlib import Path

import distributed
import numpy as np
import psutil
import pystac
import pytest
import torch

from ecocube.errors import (
    CatalogError,
    ConfigurationError,
    DatasetNotFoundError,
    InvalidInputError,
)
from ecocube.ocean import _dask, open_ensemble, run_ensemble, sample_scenarios, simulate
from tests.ocean.conftest import SMALL

#: A torch thread count no ecocube code sets, to see whether a library call changed it.
SENTINEL_THREADS = 3


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A 5-scenario ensemble, run while this process may not change torch's thread count, and
    registered in the (empty) static catalog of its folder.

    Returns the store and this process's torch thread count after the run.
    """
    root = tmp_path_factory.mktemp("ens")
    catalog = pystac.Catalog("ensembles", "test catalog")
    catalog.normalize_hrefs(root.as_posix() + "/")
    catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    out = root / "ens.zarr"
    previous = torch.get_num_threads()
    torch.set_num_threads(SENTINEL_THREADS)

    def refuse(n: int) -> None:
        raise AssertionError(f"run_ensemble set this process's torch threads to {n}")

    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(torch, "set_num_threads", refuse)
            run_ensemble(5, out, seed=3, batch_size=2, progress=False, catalog=root, **SMALL)
        return out, torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)


def test_store_holds_every_scenario_with_cf_attributes_and_indices(ensemble) -> None:
    ds = open_ensemble(ensemble[0])
    assert ds.sizes["scenario"] == 5 and ds.sizes["time"] == 365
    assert ds.attrs["Conventions"].startswith("CF-") and ds.attrs["ecocube:complete"]
    assert ds["fgco2"].attrs["standard_name"] == "surface_downward_mole_flux_of_carbon_dioxide"
    indices = ("co2_uptake", "primary_production", "bloom_day", "shannon", "gini_simpson", "rao_q")
    for name in indices:
        assert ds[name].dims == ("scenario",)
    # batches were reassembled in scenario order: the stored parameters are the sampled ones
    table = sample_scenarios(5, seed=3)
    np.testing.assert_allclose(ds["warming"].values, table["warming"].values)
    # and the stored series equal a direct (non-Dask) run, up to float32 storage
    direct = simulate(table.iloc[[3]], **SMALL)
    np.testing.assert_allclose(ds["dissic"].values[3], direct["dissic"].values[0], rtol=1e-6)
    np.testing.assert_allclose(ds["phyc"].values[3], direct["phyc"].values[0], rtol=1e-5, atol=1e-6)


def test_ensemble_leaves_the_callers_torch_threads_alone(ensemble) -> None:
    """Worker processes set their own thread count; the caller's is never changed."""
    assert ensemble[1] == SENTINEL_THREADS


def test_stac_item_describes_the_cube(ensemble) -> None:
    path = ensemble[0].with_name("ens.item.json")
    item = pystac.Item.from_dict(json.loads(path.read_text()))
    assert item.assets["zarr"].href == "./ens.zarr"
    assert item.properties["start_datetime"].startswith("2000-01-01")
    dims = item.properties["cube:dimensions"]
    assert set(dims) == {"time", "scenario", "phyto_type", "depth"}
    assert item.properties["cube:variables"]["fgco2"]["unit"] == "mmol m-2 d-1"
    assert any("datacube" in ext for ext in item.stac_extensions)


def test_the_ensemble_is_registered_in_the_catalog(ensemble) -> None:
    from ecocube.catalog import validate_catalog
    from ecocube.catalog._ocean_items import OCEAN_ENSEMBLES_COLLECTION_ID

    root = ensemble[0].parent
    collection = pystac.Catalog.from_file(str(root / "catalog.json")).get_child(
        OCEAN_ENSEMBLES_COLLECTION_ID
    )
    (item,) = collection.get_items()
    assert Path(item.assets["zarr"].get_absolute_href()) == ensemble[0]
    assert item.properties["ecocube:geolocated"] is False
    assert item.properties["ecocube:ensemble_size"] == 5
    variables = item.properties["cube:variables"]
    assert variables["fgco2"]["standard_name"] == "surface_downward_mole_flux_of_carbon_dioxide"
    assert variables["co2_uptake"]["dimensions"] == ["scenario"]
    assert validate_catalog(root) == []


def test_a_catalog_that_is_not_one_is_refused_before_the_run(
    tmp_path: Path, no_simulation: None
) -> None:
    with pytest.raises(CatalogError, match=r"catalog='.*' is not a static STAC catalog"):
        run_ensemble(2, tmp_path / "a.zarr", catalog=tmp_path, progress=False, **SMALL)
    from ecocube.cli import main

    args = ["ocean", "ensemble", "--n", "2", "--out", str(tmp_path / "a.zarr")]
    assert main([*args, "--catalog", str(tmp_path)]) == 1
    assert not (tmp_path / "a.zarr").exists()


def test_existing_output_is_not_overwritten(ensemble) -> None:
    with pytest.raises(InvalidInputError, match="already exists; pass overwrite=True"):
        run_ensemble(2, ensemble[0], progress=False, **SMALL)


def test_missing_ensemble_and_bad_options(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="does not exist; create it"):
        open_ensemble(tmp_path / "none.zarr")
    with pytest.raises(InvalidInputError, match="batch_size=0 must be a positive integer"):
        run_ensemble(2, tmp_path / "a.zarr", batch_size=0, progress=False, **SMALL)
    with pytest.raises(InvalidInputError, match=r"n_workers=-1 must be a positive integer"):
        run_ensemble(2, tmp_path / "a.zarr", n_workers=-1, progress=False, **SMALL)
    with pytest.raises(InvalidInputError, match=r"dt=7000 s must divide one day"):
        run_ensemble(2, tmp_path / "a.zarr", years=1, n_layers=6, dt=7000.0, progress=False)
    with pytest.raises(InvalidInputError, match=r"86,400,000 steps per simulated day"):
        run_ensemble(2, tmp_path / "a.zarr", years=1, n_layers=6, dt=0.001, progress=False)
    assert not any(tmp_path.iterdir())


def test_overwrite_never_replaces_a_folder_of_other_files(
    tmp_path: Path, keepdir: Path, no_simulation: None
) -> None:
    with pytest.raises(InvalidInputError, match=r"'.*keepdir' exists and is not a Zarr store"):
        run_ensemble(2, keepdir, overwrite=True, progress=False, **SMALL)
    (tmp_path / "file.zarr").write_text("x")
    with pytest.raises(InvalidInputError, match="exists and is a file, not a Zarr store"):
        run_ensemble(2, tmp_path / "file.zarr", overwrite=True, progress=False, **SMALL)
    (tmp_path / "a.item.json").mkdir()
    with pytest.raises(InvalidInputError, match=r"STAC item .*a.item.json', which is a folder"):
        run_ensemble(2, tmp_path / "a.zarr", progress=False, **SMALL)
    assert [p.name for p in keepdir.iterdir()] == ["notes.txt"]


def test_unknown_device_is_refused_before_the_cluster(tmp_path: Path, no_simulation: None) -> None:
    with pytest.raises(ConfigurationError, match="device 'gpu' is not a torch device"):
        run_ensemble(2, tmp_path / "a.zarr", device="gpu", progress=False, **SMALL)


def test_unreachable_scheduler(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="could not be reached"):
        run_ensemble(
            2, tmp_path / "a.zarr", scheduler="tcp://127.0.0.1:9", scheduler_timeout=1.0, **SMALL
        )
    assert not (tmp_path / "a.zarr").exists()


def _listening(process: psutil.Process) -> set[tuple[str, int]]:
    """Addresses the process and its children listen on (TCP)."""
    found = set()
    for proc in (process, *process.children(recursive=True)):
        for conn in proc.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN:
                found.add((conn.laddr.ip, conn.laddr.port))
    return found


def test_local_cluster_is_loopback_only_with_one_torch_thread_per_worker_process() -> None:
    me = psutil.Process()
    before = _listening(me)
    client, cluster = _dask.connect(None, n_workers=1, timeout=10.0, dashboard=True)
    try:
        opened = _listening(me) - before
        threads = client.run(torch.get_num_threads)
        pids = client.run(lambda: __import__("os").getpid())
        link = client.dashboard_link
    finally:
        client.close()
        cluster.close()
    # scheduler, worker, nanny and the dashboard: every one on 127.0.0.1, none on 0.0.0.0
    assert len(opened) >= 3 and {ip for ip, _ in opened} == {"127.0.0.1"}, opened
    assert link.startswith("http://127.0.0.1:")
    assert int(link.split(":")[2].split("/")[0]) in {port for _, port in opened}
    # a worker process (not this one), whose torch runs one thread
    assert list(threads.values()) == [1] and list(pids.values()) != [me.pid]


def test_dashboard_is_off_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}

    def record(**kwargs: object) -> None:
        seen.update(kwargs)
        raise RuntimeError("Nanny failed to start.")

    monkeypatch.setattr(distributed, "LocalCluster", record)
    with pytest.raises(ConfigurationError, match=r"did not start .*if __name__ == \"__main__\""):
        _dask.connect(None, n_workers=2, timeout=1.0)
    assert seen["scheduler_kwargs"] == {"dashboard": False}
    assert seen["host"] == "127.0.0.1" and seen["dashboard_address"] == "127.0.0.1:0"
    assert seen["processes"] is True and seen["threads_per_worker"] == 1


def test_prechecks_accept_a_default_multilayer_ensemble(
    tmp_path: Path, no_simulation: None
) -> None:
    """The checks before the cluster use the scenarios' winds and the basin's top layer.

    A stable default run gets past them (to the simulation, stubbed here to fail); with the
    valid range's 25 m s-1 wind in place of the scenarios', the 3 h step was refused.
    """
    with pytest.raises(AssertionError, match="the model ran"):
        run_ensemble(4, tmp_path / "ml.zarr", physics="multilayer", progress=False)
    assert not (tmp_path / "ml.zarr").exists()
