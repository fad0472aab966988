"""``ecocube cube build`` end to end on a static catalog, and the accessor's to_grid."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import requires_mirror

pytestmark = requires_mirror


@pytest.fixture()
def static_catalog(tmp_path, chelsa_items, gam_items):
    import pystac

    cat = pystac.Catalog("ecocube-test", "test catalog")
    for cid, items in (("chelsa-costa-rica", chelsa_items[:2]), ("landcover-gam", gam_items)):
        coll = pystac.Collection(
            cid,
            cid,
            pystac.Extent(
                pystac.SpatialExtent([items[0].bbox]), pystac.TemporalExtent([[None, None]])
            ),
        )
        cat.add_child(coll)
        for it in items:
            clone = it.clone()
            clone.collection_id = cid
            coll.add_item(clone)
    cat.normalize_hrefs(str(tmp_path / "catalog"))
    cat.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return tmp_path / "catalog"


def test_cli_build_writes_registers_and_reads_back(static_catalog, tmp_path):
    import pystac

    from ecocube.cli import main
    from ecocube.cube import open_cube

    out = tmp_path / "cube.zarr"
    code = main(
        [
            "cube",
            "build",
            "--catalog",
            str(static_catalog),
            "--collections",
            "chelsa-costa-rica,landcover-gam",
            "--bbox=-84.3,9.8,-83.9,10.1",
            "--crs",
            "EPSG:4326",
            "--resolution",
            "0.0083333333",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    ds = open_cube(out)
    assert {"bio1", "bio2", "landuse", "landuse_frac_1"} <= set(ds.data_vars)
    cat = pystac.Catalog.from_file(str(static_catalog / "catalog.json"))
    assert any(c.id == "ecocube-cubes" for c in cat.get_children())
    # a second build refuses to overwrite
    code = main(
        [
            "cube",
            "build",
            "--catalog",
            str(static_catalog),
            "--bbox=-84.3,9.8,-83.9,10.1",
            "--resolution",
            "0.0083333333",
            "--out",
            str(out),
        ]
    )
    assert code == 1


def test_cli_reports_bad_input_as_one_line(static_catalog, tmp_path, capsys):
    from ecocube.cli import main

    code = main(
        [
            "cube",
            "build",
            "--catalog",
            str(static_catalog),
            "--bbox=0,0,1,1",
            "--resolution",
            "-1",
            "--out",
            str(tmp_path / "x.zarr"),
        ]
    )
    assert code == 1
    assert "resolution=-1.0 must be > 0" in capsys.readouterr().err.replace("\n", "")


def test_to_grid_coarsens_with_valid_classes(gam_items):
    from ecocube.cube import anchor_of, build_cube

    anchor, _ = anchor_of(gam_items[0])
    fine = build_cube(
        gam_items, bbox=(-84.1, 9.9, -84.05, 9.95), crs="EPSG:3857", resolution=10, anchor=anchor
    ).compute()
    coarse = fine.ecocube.to_grid(crs="EPSG:3857", resolution=200)
    codes = coarse["landuse"].values
    assert coarse["landuse"].attrs["ecocube:resampling"] == "mode"
    assert set(np.unique(codes[np.isfinite(codes)])) <= set(range(1, 9))
    assert coarse.sizes["x"] < fine.sizes["x"] / 10
    with pytest.raises(ValueError, match=r"to_grid needs another dataset or crs="):
        fine.ecocube.to_grid()


def test_cli_sample_writes_covariates_at_points(chelsa_zarr, mirror, tmp_path, capsys):
    import pandas as pd

    from ecocube.cli import main

    src = mirror / "occurrences/costa_rica_gbif/leopardus_pardalis_cr_gbif.parquet"
    out = tmp_path / "ocelot.parquet"
    code = main(
        [
            "cube",
            "sample",
            str(chelsa_zarr),
            "--points",
            str(src),
            "--out",
            str(out),
            "--variables",
            "bio1,bio12",
        ]
    )
    assert code == 0
    table = pd.read_parquet(out)
    assert len(table) == 50 and {"bio1", "bio12", "species", "inside"} <= set(table.columns)
    assert table.loc[table["inside"], "bio1"].between(3.75, 27.35).all()
    code = main(
        [
            "cube",
            "sample",
            str(chelsa_zarr),
            "--points",
            str(src),
            "--out",
            str(tmp_path / "x.parquet"),
            "--x-col",
            "lon",
        ]
    )
    assert code == 1
    assert "no column(s) ['lon']" in capsys.readouterr().err
    # a point far outside: NaN values and no pixel index; a text coordinate: a clear error
    pts = pd.DataFrame({"x": [-84.2, -10.0], "y": ["9.7", "9.7"]})
    pts.to_csv(tmp_path / "pts.csv", index=False)
    args = ["cube", "sample", str(chelsa_zarr), "--points", str(tmp_path / "pts.csv"),
            "--x-col", "x", "--y-col", "y", "--variables", "bio1"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "s.csv")]) == 0
    s = pd.read_csv(tmp_path / "s.csv")
    assert s["inside"].tolist() == [True, False] and s.loc[1, ["row", "col"]].tolist() == [-1, -1]
    assert s.loc[0, "row"] >= 0 and np.isfinite(s.loc[0, "bio1"]) and np.isnan(s.loc[1, "bio1"])
    pts.loc[1, "y"] = "north"
    pts.to_csv(tmp_path / "pts.csv", index=False)
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "t.csv")]) == 1
    assert "column 'y' holds 1 non-numeric value(s) (e.g. ['north'])" in capsys.readouterr().err
