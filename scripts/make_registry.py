"""Regenerate ``core/data/registry.json`` from a local copy of the ecocube data.

Maintainer tool, not used at run time. Each dataset names its canonical public source (a
repository at a pinned commit); byte-identical files get a direct download URL, converted or
cropped files record what they were derived from and can only come from an ecocube mirror.

Usage::

    python scripts/make_registry.py ../shared/data
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

RAW = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"

# name: (mirror subdir, repo, commit, rule(relpath) -> (source path, is_byte_copy), license, citation,
#        description)
DISDAT = ("rspatial/disdat", "d0bbc328a46aaf5ba70793f4450dfdd8424abeef")
DEEPMAXENT = ("RYCKEWAERT/deepmaxent", "3587ad743b3c1898f61ac1c1c5f8b2884b750db4")
OPENEO = ("Open-EO/openeo-localprocessing-data", "42530229a36d9031737a2af7ee2030279be13589")
SEN2R = ("ranghetti/sen2r", "e47a78d67944036a491d685c1438e8a327d3228e")
SEN2RTS = ("ranghetti/sen2rts", "1b03977957076b9711c3051f89f9edb71a288d0b")
GDALCUBES = ("appelmar/gdalcubes", "29e9c3d4200453a913d94f615fb0bf42812dbaf2")
STACTOOLS_LANDSAT = ("stactools-packages/landsat", "bde55a5a35f9cf0968a9f8f91887ffda72dd1e32")
GAM = ("atlas-servicios-ecosistemicos-gam/datos", "625ebb0dfc0449e760d9e75ef877f9d67b40d95b")
GAM_OLD = ("atlas-servicios-ecosistemicos-gam/datos", "75dcc6f52fde330db363f3d833b7b90af02f5c89")
WORLDCOVER = ("stactools-packages/esa-worldcover", "164fcfea77954c87eb73d465d8da4bee00e1840c")
UCR = (
    "gf0604-procesamientodatosgeograficos/2021i-datos",
    "f44389d80b6ca8a7c9eed03797abb44a03e43a35",
)
DISMO = ("rspatial/dismo", "30385aeeca307f676f8bf6ff36001a0529fd583b")
ELAPID = ("earth-chris/elapid", "359355ae38b38c88d755c056e42429789e75d095")
ROMS = ("CWorthy-ocean/roms-tools-test-data", "c0bff272c751582c6fe19dc2d1aa61de2b9e9c8d")
ECONET = ("PoisotLab/EcologicalNetworks.jl", "7cfed0afc65111e6a616b98157ddf897483c4095")
ECONULL = ("ivaughan/econullnetr", "24c54347ded785885381b73c1f22173c7a7a9d48")
ALIEN = ("TheoreticalEcosystemEcology/alien", "b5ebdd9f47048d3b554e05b9c6579c5638c3cc9a")


def _nceas(rel: str):
    if rel.startswith("borders/"):
        return f"inst/extdata/{rel}", True
    return "inst/extdata/" + rel.replace(".parquet", ".rds"), False


def _gbif(rel: str):
    if rel == "gam_mammalia_gbif.geojson":
        return "biodiversidad/presencia/mammalia.geojson", True
    stem = rel.replace("_cr_gbif.parquet", "").replace("_", "-")
    if rel == "mammalia_cr_species_checklist.parquet":
        return "gbif/mammalia-cr-especies.csv", False
    return f"gbif/{stem}-cr-registros.csv", False


def _dismo(rel: str):
    if rel == "bradypus.csv":
        return "inst/ex/bradypus.csv", True
    if rel == "acaule.parquet":
        return "data/acaule.RData", False
    return "inst/ex/" + rel.replace(".tif", ".grd"), False


def _weboflife(rel: str):
    if rel.startswith("raw_matrices/"):
        return "data/weboflife/" + rel.split("/", 1)[1], True
    if rel == "WEB_OF_LIFE_README.txt":
        return "data/weboflife/README", True
    return "data/weboflife/", False


def _nzstream(rel: str):
    if rel.startswith("raw_matrices/"):
        return "data/nz_stream/" + rel.split("/", 1)[1], True
    return "data/nz_stream/", False


def _econull(rel: str):
    return "data/" + rel.replace("_", ".").replace(".parquet", ".rda").replace(
        ".edges.long.rda", ".rda"
    ), False


def _kopelke(rel: str):
    return ("data/salixGal.rda" if rel.startswith("salixGal") else "data/galPara.rda"), False


CC = "Contains modified Copernicus Sentinel data"
SPECS = {
    "nceas": dict(
        subdir="nceas",
        src=DISDAT,
        rule=_nceas,
        license="GPL-3.0-or-later",
        title="NCEAS SDM benchmark (Elith et al. 2020): 226 species in 6 regions",
        citation="Elith et al. (2020) Biodiversity Informatics 15:69-80, doi:10.17161/bi.v15i2.13384",
    ),
    "chelsa_costa_rica": dict(
        subdir="chelsa_costa_rica",
        src=DEEPMAXENT,
        rule=lambda r: (f"data/tutorial/cropped_rasters/{r}", True),
        license="CHELSA terms (attribution)",
        title="CHELSA V2.1 bioclim 1981-2010, Costa Rica, 30 arc-sec",
        citation="Karger et al. (2017) Sci. Data 4:170122; CHELSA V2.1 doi:10.16904/envidat.228.v2.1",
    ),
    "s2_south_tyrol": dict(
        subdir="sentinel2_l2a/openeo_south_tyrol",
        src=OPENEO,
        rule=lambda r: (f"sample_geotiff/{r}", True),
        license="Copernicus data policy (attribution)",
        title="Sentinel-2 L2A 2022-06-12, Bolzano (B04,B03,B02,B08,SCL), 10 m",
        citation=f"{CC} [2022]; openEO Platform",
    ),
    "s2_barbellino": dict(
        subdir="sentinel2_l2a/sen2r_barbellino",
        src=SEN2R,
        rule=lambda r: (
            ("inst/extdata/vector/" if r.endswith(".geojson") else "inst/extdata/out/") + r,
            True,
        ),
        license="GPL-3.0 (sen2r); Copernicus data policy",
        title="Sentinel-2 L2A/L1C, Lake Barbellino, 2017-07-03 and 2019-07-23",
        citation=f"Ranghetti et al. (2020) Comput. Geosci. 139:104473; {CC} 2017, 2019",
    ),
    "s2_emilia_ndvi_scl": dict(
        subdir="sentinel2_l2a/sen2rts_emilia_ndvi_scl",
        src=SEN2RTS,
        rule=lambda r: (f"inst/extdata/sen2r/sampleroi/{r}", True),
        license="GPL-3.0 (sen2rts); Copernicus data policy",
        title="Sentinel-2 L2A NDVI + SCL time series, 60 dates of 2020, Emilia-Romagna",
        citation=f"Ranghetti, sen2rts; {CC} 2020",
    ),
    "landsat_l8ny18": dict(
        subdir="landsat/gdalcubes_L8NY18",
        src=GDALCUBES,
        rule=lambda r: (f"inst/L8NY18/{r}", True),
        license="MIT (gdalcubes); USGS public domain",
        title="Landsat 8 L1TP, 19 scenes over New York 2018, downsampled to ~3 km",
        citation="Appel & Pebesma (2019) Data 4(3):92; Landsat-8 image courtesy of the USGS",
    ),
    "landsat_c2l2_colombia": dict(
        subdir="landsat/usgs_c2l2_LC08_008059_20191201",
        src=STACTOOLS_LANDSAT,
        rule=lambda r: (f"tests/data-files/assets3/{r}", True),
        license="Apache-2.0 (stactools); USGS public domain",
        title="Landsat 8 Collection-2 L2 (SR, ST), path 008 row 059, 2019-12-01, downsampled",
        citation="Landsat-8 Collection 2 Level-2 image courtesy of the U.S. Geological Survey",
    ),
    "landcover_gam_costa_rica": dict(
        subdir="landcover/costa_rica_gam_landuse_2020",
        src=GAM,
        rule=lambda r: ("indicadores/gam/uso-suelo/USO_SUELO_GAM_01HA_WEB.IMG", False),
        license="not stated (attribution required)",
        title="Land use 2020, Greater Metropolitan Area of Costa Rica, 10 m",
        citation="Atlas de servicios ecosistemicos de la GAM (CATIE / Biodiver_City), 2020",
    ),
    "worldcover_sao_tome": dict(
        subdir="landcover/esa_worldcover_sao_tome",
        src=WORLDCOVER,
        rule=lambda r: ("tests/data-files/", False),
        license="CC-BY-4.0",
        title="ESA WorldCover 10 m 2020 (v100) and 2021 (v200), Sao Tome island",
        citation="Zanaga et al. (2021) doi:10.5281/zenodo.5571936; (2022) doi:10.5281/zenodo.7254221",
    ),
    "gbif_costa_rica": dict(
        subdir="occurrences/costa_rica_gbif",
        src=UCR,
        rule=_gbif,
        license="CC-BY-NC-4.0",
        title="GBIF occurrences in Costa Rica: primates, pit vipers, Junco vulcani, ocelot, mammals",
        citation="GBIF.org (2020, 2021) GBIF Occurrence Downloads; download 0002762-200127171203522",
    ),
    "sdm_dismo": dict(
        subdir="sdm_dismo",
        src=DISMO,
        rule=_dismo,
        license="GPL-3.0 (dismo); WorldClim terms",
        title="dismo example data: Bradypus presences, WorldClim 0.5 deg bioclim, Solanum acaule",
        citation="Hijmans et al., dismo R package; Phillips et al. (2006) Ecol. Model. 190:231-259",
    ),
    "sdm_elapid": dict(
        subdir="sdm_elapid",
        src=ELAPID,
        rule=lambda r: (f"elapid/data/{r}", True),
        license="MIT (elapid); GPL (maxnet data)",
        title="Bradypus presence/background table with 14 covariates (maxnet/elapid)",
        citation="Anderson (2023) JOSS 8(84):4930; Phillips et al. (2017) Ecography 40:887-893",
    ),
    "ocean_north_atlantic": dict(
        subdir="ocean_bgc/north_atlantic_2012",
        src=ROMS,
        rule=lambda r: (r, True),
        license="CESM/NCAR, Copernicus Marine, Copernicus C3S terms",
        title="CESM2-MARBL BGC, GLORYS12 physics, ERA5 forcing and river inputs, North Atlantic 2012",
        citation="Danabasoglu et al. (2020) JAMES 12; Long et al. (2021) JAMES 13; "
        "Lellouche et al. (2021) Front. Earth Sci. 9:698876; Hersbach et al. (2020) QJRMS 146",
    ),
    "ocean_global_cesm": dict(
        subdir="ocean_bgc/global_cesm_marbl",
        src=ROMS,
        rule=lambda r: (r, True),
        license="CESM/NCAR terms",
        title="CESM2-MARBL global surface fluxes (1 deg) and 10 deg tracer climatology",
        citation="Danabasoglu et al. (2020) JAMES 12; Long et al. (2021) JAMES 13",
    ),
    "interactions_weboflife": dict(
        subdir="interactions/weboflife_plant_herbivore_host_parasite",
        src=ECONET,
        rule=_weboflife,
        license="MIT (EcologicalNetworks.jl); Web of Life terms",
        title="Web of Life plant-herbivore (4) and host-parasite (51) networks",
        citation="This work has used the Web of Life database (www.web-of-life.es); "
        "Joern (1979); Leather (1991); Hadfield et al. (2014) Am. Nat. 183:174-187",
    ),
    "interactions_nz_streams": dict(
        subdir="interactions/nz_stream_foodwebs",
        src=ECONET,
        rule=_nzstream,
        license="MIT (EcologicalNetworks.jl)",
        title="18 New Zealand stream food webs (predator-prey)",
        citation="Thompson & Townsend (2003) Ecology 84:145-161",
    ),
    "interactions_econullnetr": dict(
        subdir="interactions/econullnetr_stream_predator_prey",
        src=ECONULL,
        rule=_econull,
        license="MIT (econullnetr)",
        title="Broadstone Stream and Welsh streams predator gut contents",
        citation="Vaughan et al. (2018) Methods Ecol. Evol. 9:728-733",
    ),
    "interactions_kopelke": dict(
        subdir="interactions/kopelke_salix_galler_parasitoid",
        src=ALIEN,
        rule=_kopelke,
        license="MIT (alien)",
        title="European willow-galler-parasitoid metaweb with traits (Kopelke et al. 2017)",
        citation="Kopelke et al. (2017) Ecology 98(6):1730",
    ),
}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main(root: str) -> None:
    base = Path(root)
    out: dict[str, dict] = {}
    for name, spec in SPECS.items():
        repo, commit = spec["src"]
        files = {}
        for path in sorted((base / spec["subdir"]).rglob("*")):
            if not path.is_file():
                continue
            rel = path.relative_to(base / spec["subdir"]).as_posix()
            src, byte_copy = spec["rule"](rel)
            url = RAW.format(repo=repo, commit=commit, path=src)
            files[rel] = {
                "sha256": sha256(path),
                "size": path.stat().st_size,
                "url": url if byte_copy else None,
                "derived_from": None if byte_copy else url,
            }
        out[name] = {
            "subdir": spec["subdir"],
            "title": spec["title"],
            "source": f"https://github.com/{repo}/tree/{commit}",
            "license": spec["license"],
            "citation": spec["citation"],
            "files": files,
        }
    total = sum(len(d["files"]) for d in out.values())
    target = Path(__file__).resolve().parents[1] / "core" / "data" / "registry.json"
    target.write_text(json.dumps(out, indent=1, sort_keys=False) + "\n")
    print(f"wrote {target} with {len(out)} datasets and {total} files")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
