"""Offline validation of a static STAC catalog folder.

Core objects are checked with the stac-pydantic models (no network). Extension fields are
checked by the rules below, written from the extension specifications (projection v2, raster
v1.1, eo v1.1, classification v2, datacube v2.2, file v2.1, machine learning model v1.5);
no JSON schema is downloaded.
Every JSON file of the folder is read, so every invalid object is reported with its path.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecocube.catalog._assets import EXT, PREFIX_EXT, multihash_sha256
from ecocube.catalog._map_items import MLM_EXT
from ecocube.data import sha256_of
from ecocube.errors import InvalidInputError

__all__ = ["NULL_GEOMETRY", "ValidationProblem", "validate_catalog"]

#: The problem (and its fix) of an item without a geometry: STAC allows ``geometry: null`` but
#: the STAC API backend (pgstac) cannot store such an item. Shared with ``catalog serve``.
NULL_GEOMETRY = (
    "geometry is null: the STAC API (`ecocube catalog serve`, pgstac) cannot serve an item "
    "without a footprint; give the item a GeoJSON geometry of its footprint (and its bbox), "
    "e.g. rebuild it with `ecocube catalog build`"
)

#: ``raster:bands`` data types (raster extension v1.1).
_DATA_TYPES = frozenset(
    "int8 int16 int32 int64 uint8 uint16 uint32 uint64 "
    "float16 float32 float64 cint16 cint32 cfloat32 cfloat64 other".split()
)
#: ``eo:bands`` common names (eo extension v1.1).
_COMMON_NAMES = frozenset(
    "pan coastal blue green green05 yellow red rededge rededge071 rededge075 rededge078 "
    "nir nir08 nir09 cirrus swir16 swir22 lwir lwir11 lwir12".split()
)
_CLASS_NAME = re.compile(r"^[0-9A-Za-z_-]+$")
#: Any version of the MLM extension (items may declare an older one).
_MLM_URI = re.compile(r"^https://stac-extensions\.github\.io/mlm/v1\.\d+\.\d+/schema\.json$")
_MLM_TASKS = frozenset(
    "regression classification scene-classification detection object-detection segmentation "
    "semantic-segmentation instance-segmentation panoptic-segmentation similarity-search "
    "generative image-captioning super-resolution downscaling".split()
)
_MLM_ACCELERATORS = frozenset(
    "amd64 cuda xla amd-rocm intel-ipex-cpu intel-ipex-gpu macos-arm".split()
)
_MLM_REQUIRED = ("mlm:name", "mlm:architecture", "mlm:tasks", "mlm:input", "mlm:output")
#: Model-wide fields that the MLM extension allows only in item properties, not on assets.
_MLM_ITEM_ONLY = ("mlm:name", "mlm:input", "mlm:output", "mlm:hyperparameters")
_DIM_NAME = re.compile(r"^[a-z-_]+$")
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$"
)
_DATETIME_FIELDS = ("datetime", "start_datetime", "end_datetime", "created", "updated")


@dataclass(frozen=True)
class ValidationProblem:
    """One invalid object: the file, the object id (when readable) and what is wrong."""

    path: Path
    object_id: str | None
    message: str

    def __str__(self) -> str:
        who = f" ({self.object_id})" if self.object_id else ""
        return f"{self.path}{who}: {self.message}"


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _walk_keys(x: Any) -> Iterator[str]:
    if isinstance(x, dict):
        for k, v in x.items():
            yield k
            yield from _walk_keys(v)
    elif isinstance(x, list):
        for v in x:
            yield from _walk_keys(v)


def _check_core(obj: dict[str, Any]) -> list[str]:
    from pydantic import ValidationError
    from stac_pydantic import Catalog, Collection, Item

    models: dict[Any, Any] = {"Feature": Item, "Collection": Collection, "Catalog": Catalog}
    model = models.get(obj.get("type"))
    if model is None:
        return [f"'type' is {obj.get('type')!r}; expected 'Feature', 'Collection' or 'Catalog'"]
    try:
        model.model_validate(obj)
    except ValidationError as err:
        return [
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in err.errors()
        ]
    return []


def _check_declared(obj: dict[str, Any]) -> list[str]:
    declared = set(obj.get("stac_extensions") or [])
    body = {k: v for k, v in obj.items() if k != "links"}
    used = {k.split(":", 1)[0] for k in _walk_keys(body) if isinstance(k, str) and ":" in k}
    out = []
    for prefix in sorted(used):
        ext = PREFIX_EXT.get(prefix, prefix)
        if ext in EXT and EXT[ext] not in declared:
            out.append(f"uses '{prefix}:' fields but does not declare {EXT[ext]}")
        elif ext == "mlm" and not any(_MLM_URI.match(str(u)) for u in declared):
            out.append(f"uses 'mlm:' fields but does not declare {MLM_EXT}")
    return out


def _check_proj(fields: dict[str, Any], where: str) -> list[str]:
    out = []
    code, epsg = fields.get("proj:code"), fields.get("proj:epsg")
    if code is not None and not isinstance(code, str):
        out.append(f"{where} proj:code must be a string like 'EPSG:4326', got {code!r}")
    if epsg is not None and not isinstance(epsg, int):
        out.append(f"{where} proj:epsg must be an integer, got {epsg!r}")
    if isinstance(code, str) and isinstance(epsg, int) and code.upper() != f"EPSG:{epsg}":
        out.append(f"{where} proj:code {code!r} disagrees with proj:epsg {epsg}")
    shape = fields.get("proj:shape")
    if shape is not None and not (
        isinstance(shape, list) and len(shape) == 2 and all(isinstance(v, int) for v in shape)
    ):
        out.append(f"{where} proj:shape must be [rows, cols] integers, got {shape!r}")
    tr = fields.get("proj:transform")
    if tr is not None and not (
        isinstance(tr, list) and len(tr) in (6, 9) and all(_is_num(v) for v in tr)
    ):
        out.append(f"{where} proj:transform must be 6 or 9 numbers, got {tr!r}")
    return out


def _check_bands(fields: dict[str, Any], where: str) -> list[str]:
    out = []
    rb = fields.get("raster:bands")
    if rb is not None:
        if not isinstance(rb, list):
            return [f"{where} raster:bands must be a list"]
        for i, b in enumerate(rb):
            w = f"{where} raster:bands[{i}]"
            if not isinstance(b, dict):
                out.append(f"{w} must be an object")
                continue
            if "data_type" in b and b["data_type"] not in _DATA_TYPES:
                out.append(f"{w} data_type {b['data_type']!r} not one of {sorted(_DATA_TYPES)}")
            nd = b.get("nodata")
            if nd is not None and not (_is_num(nd) or nd in ("nan", "inf", "-inf")):
                out.append(f"{w} nodata must be a number or 'nan'/'inf'/'-inf', got {nd!r}")
            for key in ("scale", "offset", "spatial_resolution"):
                if key in b and not (_is_num(b[key]) and math.isfinite(b[key])):
                    out.append(f"{w} {key} must be a finite number, got {b[key]!r}")
            out += _check_classes(b, w)
    eb = fields.get("eo:bands")
    if eb is not None:
        if not isinstance(eb, list):
            return [*out, f"{where} eo:bands must be a list"]
        for i, b in enumerate(eb):
            w = f"{where} eo:bands[{i}]"
            if not isinstance(b, dict) or not isinstance(b.get("name", ""), str):
                out.append(f"{w} must be an object with a string name")
                continue
            cn = b.get("common_name")
            if cn is not None and cn not in _COMMON_NAMES:
                out.append(f"{w} common_name {cn!r} is not an eo common name")
        if isinstance(rb, list) and len(rb) != len(eb):
            out.append(f"{where} has {len(rb)} raster:bands but {len(eb)} eo:bands")
    return out


def _check_classes(fields: dict[str, Any], where: str) -> list[str]:
    classes = fields.get("classification:classes")
    if classes is None:
        return []
    if not isinstance(classes, list) or not classes:
        return [f"{where} classification:classes must be a non-empty list"]
    out, seen = [], set()
    for c in classes:
        if not isinstance(c, dict) or not isinstance(c.get("value"), int):
            out.append(f"{where} class {c!r} needs an integer value")
            continue
        if not _CLASS_NAME.match(str(c.get("name", ""))):
            out.append(
                f"{where} class {c['value']} name {c.get('name')!r} must match [0-9A-Za-z_-]+"
            )
        if c["value"] in seen:
            out.append(f"{where} class value {c['value']} is listed twice")
        seen.add(c["value"])
    return out


def _is_zarr_asset(asset: dict[str, Any], href: str) -> bool:
    return "zarr" in str(asset.get("type", "")) or href.rstrip("/").endswith(".zarr")


def _check_file(asset: dict[str, Any], where: str, local: Path | None, hashes: bool) -> list[str]:
    out = []
    cs, size = asset.get("file:checksum"), asset.get("file:size")
    if cs is not None and not (isinstance(cs, str) and re.fullmatch(r"1220[0-9a-f]{64}", cs)):
        out.append(f"{where} file:checksum must be a sha2-256 multihash ('1220' + 64 hex)")
        cs = None
    if size is not None and not (isinstance(size, int) and size >= 0):
        out.append(f"{where} file:size must be a non-negative integer")
        size = None
    if local is not None and local.is_file():
        if size is not None and local.stat().st_size != size:
            out.append(f"{where} file:size {size} but the file has {local.stat().st_size} bytes")
        elif hashes and cs is not None and multihash_sha256(sha256_of(local)) != cs:
            out.append(f"{where} file:checksum does not match the file {local.name}")
    return out


def _check_cube(fields: dict[str, Any], where: str) -> list[str]:
    dims, variables = fields.get("cube:dimensions"), fields.get("cube:variables")
    if dims is None and variables is None:
        return []
    out = []
    if not isinstance(dims, dict):
        return [f"{where} cube:dimensions must be an object"]
    for name, d in dims.items():
        if not isinstance(d, dict) or not isinstance(d.get("type"), str):
            out.append(f"{where} cube:dimensions.{name} needs a 'type'")
        elif d["type"] == "spatial" and d.get("axis") not in ("x", "y", "z"):
            out.append(f"{where} cube:dimensions.{name} spatial axis must be x, y or z")
        elif d["type"] == "temporal" and "extent" not in d:
            out.append(f"{where} cube:dimensions.{name} temporal dimension needs an extent")
    for name, v in (variables or {}).items():
        if not isinstance(v, dict) or not isinstance(v.get("dimensions"), list):
            out.append(f"{where} cube:variables.{name} needs a dimensions list")
            continue
        missing = [d for d in v["dimensions"] if d not in dims]
        if missing:
            out.append(f"{where} cube:variables.{name} uses undeclared dimensions {missing}")
        if v.get("type") not in ("data", "auxiliary"):
            out.append(f"{where} cube:variables.{name} type must be 'data' or 'auxiliary'")
    return out


def _check_structure(value: Any, where: str) -> tuple[list[str], list[str]]:
    """Problems of an MLM input/result structure, and its ``dim_order``."""
    if not isinstance(value, dict):
        return [f"{where} must be an object with shape, dim_order and data_type"], []
    shape, dims = value.get("shape"), value.get("dim_order")
    out = []
    if not (
        isinstance(shape, list)
        and shape
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= -1 for v in shape)
    ):
        out.append(f"{where}.shape must be a non-empty list of integers >= -1, got {shape!r}")
        shape = None
    if not (
        isinstance(dims, list)
        and dims
        and all(isinstance(d, str) and _DIM_NAME.match(d) for d in dims)
        and len(set(dims)) == len(dims)
    ):
        out.append(f"{where}.dim_order must be distinct names matching [a-z-_]+, got {dims!r}")
        dims = None
    if shape is not None and dims is not None and len(shape) != len(dims):
        out.append(f"{where}: shape {shape} and dim_order {dims} differ in length")
    if value.get("data_type") not in _DATA_TYPES:
        out.append(f"{where}.data_type {value.get('data_type')!r} not one of {sorted(_DATA_TYPES)}")
    return out, list(dims or [])


def _check_references(entry: dict[str, Any], dims: list[str], shape: Any, where: str) -> list[str]:
    """``bands``/``variables`` of an MLM input or output against its dimensions."""
    out = []
    for key in ("bands", "variables"):
        refs = entry.get(key)
        if refs is None:
            continue
        if not isinstance(refs, list) or not all(
            isinstance(r, str) or (isinstance(r, dict) and isinstance(r.get("name"), str))
            for r in refs
        ):
            out.append(f"{where}.{key} must be a list of names or objects with a name")
            continue
        if refs and dims and key not in dims:
            out.append(f"{where} lists {key} but its dim_order {dims} has no {key!r} dimension")
        elif refs and key in dims and isinstance(shape, list) and len(shape) == len(dims):
            size = shape[dims.index(key)]
            if size not in (-1, len(refs)):
                out.append(
                    f"{where}: dimension {key!r} has size {size} but {len(refs)} {key} are listed"
                )
    return out


def _check_mlm(obj: dict[str, Any], props: dict[str, Any]) -> list[str]:
    """Machine Learning Model extension (v1.5) rules for an item."""
    if obj.get("type") != "Feature" or not any(str(k).startswith("mlm:") for k in props):
        return []
    out = [
        f"properties lacks {k} (required by the mlm extension)"
        for k in _MLM_REQUIRED
        if k not in props
    ]
    name = props.get("mlm:name")
    if "mlm:name" in props and not (isinstance(name, str) and name.strip()):
        out.append(f"mlm:name must be a non-empty string, got {name!r}")
    tasks = props.get("mlm:tasks")
    if "mlm:tasks" in props and not (
        isinstance(tasks, list)
        and tasks
        and set(tasks) <= _MLM_TASKS
        and len(set(tasks)) == len(tasks)
    ):
        out.append(f"mlm:tasks must be distinct names from {sorted(_MLM_TASKS)}, got {tasks!r}")
    version = props.get("mlm:framework_version")
    if version is not None and not (isinstance(version, str) and _SEMVER.match(version)):
        out.append(f"mlm:framework_version must be a semantic version, got {version!r}")
    acc = props.get("mlm:accelerator")
    if acc is not None and acc not in _MLM_ACCELERATORS:
        out.append(f"mlm:accelerator {acc!r} not one of {sorted(_MLM_ACCELERATORS)} (or null)")
    if props.get("mlm:pretrained") is False and props.get("mlm:pretrained_source", "") is not None:
        out.append("mlm:pretrained is false, so mlm:pretrained_source must be null")
    uses_variables = False
    for key, inner in (("mlm:input", "input"), ("mlm:output", "result")):
        entries = props.get(key)
        if key in props and not isinstance(entries, list):
            out.append(f"{key} must be a list of objects")
            continue
        for i, entry in enumerate(entries or []):
            where = f"{key}[{i}]"
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                out.append(f"{where} must be an object with a name")
                continue
            problems, dims = _check_structure(entry.get(inner), f"{where}.{inner}")
            out += problems
            shape = entry[inner].get("shape") if isinstance(entry.get(inner), dict) else None
            out += _check_references(entry, dims, shape, where)
            uses_variables |= bool(entry.get("variables"))
            if key == "mlm:output":
                otasks = entry.get("tasks")
                if not (isinstance(otasks, list) and otasks and set(otasks) <= _MLM_TASKS):
                    out.append(f"{where}.tasks must be names from {sorted(_MLM_TASKS)}")
                if entry.get("classification:classes") not in (None, []):
                    out += _check_classes(entry, where)
    declared = set(obj.get("stac_extensions") or [])
    if uses_variables and EXT["datacube"] not in declared:
        out.append(f"mlm inputs/outputs list variables but {EXT['datacube']} is not declared")
    raw_assets = obj.get("assets")
    assets: dict[str, Any] = raw_assets if isinstance(raw_assets, dict) else {}
    models = [
        a for a in assets.values() if isinstance(a, dict) and "mlm:model" in (a.get("roles") or [])
    ]
    if not models:
        out.append("no asset has the role 'mlm:model' (the mlm extension requires the model asset)")
    for key, asset in sorted(assets.items()):
        if not isinstance(asset, dict):
            continue
        if "mlm:model" in (asset.get("roles") or []) and not isinstance(
            asset.get("mlm:artifact_type"), str
        ):
            out.append(f"assets.{key} has the role 'mlm:model' but no mlm:artifact_type")
        misplaced = [k for k in _MLM_ITEM_ONLY if k in asset]
        if misplaced:
            out.append(f"assets.{key} holds {misplaced}, allowed only in item properties")
    return out


def _check_datetimes(obj: dict[str, Any]) -> list[str]:
    """Date fields that are not text (the core models take a number for a Unix time)."""
    fields: list[tuple[str, Any]] = []
    if obj.get("type") == "Feature":
        props = obj.get("properties")
        if isinstance(props, dict):
            fields = [(f"properties.{k}", props[k]) for k in _DATETIME_FIELDS if k in props]
    elif obj.get("type") == "Collection":
        extent = obj.get("extent")
        temporal = extent.get("temporal") if isinstance(extent, dict) else None
        intervals = temporal.get("interval") if isinstance(temporal, dict) else None
        for i, interval in enumerate(intervals if isinstance(intervals, list) else []):
            for j, value in enumerate(interval if isinstance(interval, list) else []):
                fields.append((f"extent.temporal.interval[{i}][{j}]", value))
    return [
        f"{where} must be an RFC 3339 date-time string such as '2020-01-01T00:00:00Z', "
        f"got {value!r}"
        for where, value in fields
        if value is not None and not isinstance(value, str)
    ]


def _check_href(href: str, path: Path, root: Path, what: str) -> tuple[Path | None, list[str]]:
    """The local target of a relative href, or a problem when it leaves the catalog folder."""
    target = (path.parent / href).resolve()
    if not target.is_relative_to(root):
        return None, [
            f"{what} href {href!r} points outside the catalog folder ({target}): the catalog "
            "is not self-contained, and a server of it would expose that path"
        ]
    return target, []


def _check_object(obj: dict[str, Any], path: Path, root: Path, hashes: bool) -> list[str]:
    out = _check_core(obj) + _check_declared(obj) + _check_datetimes(obj)
    if obj.get("type") == "Feature" and obj.get("geometry", ...) is None:
        out.append(NULL_GEOMETRY)
    props = obj.get("properties", obj) if obj.get("type") == "Feature" else obj
    cc = props.get("eo:cloud_cover")
    if cc is not None and not (_is_num(cc) and 0 <= cc <= 100):
        out.append(f"eo:cloud_cover must be within 0-100, got {cc!r}")
    out += _check_proj(props, "properties") + _check_cube(props, "properties")
    out += _check_mlm(obj, props)
    for key, asset in sorted((obj.get("assets") or {}).items()):
        where = f"assets.{key}"
        if not isinstance(asset, dict) or not isinstance(asset.get("href"), str):
            out.append(f"{where} needs a string href")
            continue
        href = asset["href"]
        local = None
        if "://" in href or href.startswith("/"):
            out.append(f"{where} href {href!r} is not relative: the catalog is not self-contained")
        else:
            local, escapes = _check_href(href, path, root, where)
            out += escapes
            if local is not None and _is_zarr_asset(asset, href):
                # a Zarr store is a folder; it is complete once its metadata is written
                if not any((local / m).is_file() for m in (".zmetadata", ".zgroup", "zarr.json")):
                    out.append(f"{where} href {href!r} is not a readable Zarr store")
                local = None
            elif local is not None and not local.is_file():
                out.append(f"{where} href {href!r} points to a missing file")
        out += _check_proj(asset, where) + _check_bands(asset, where)
        out += _check_classes(asset, where) + _check_file(asset, where, local, hashes)
        out += _check_cube(asset, where)
    for link in obj.get("links") or []:
        if not isinstance(link, dict):
            continue
        if link.get("rel") in ("child", "item", "parent", "root", "collection"):
            href = str(link.get("href", ""))
            if "://" in href:
                continue
            target, escapes = _check_href(href, path, root, f"link rel={link['rel']!r}")
            out += escapes
            if target is not None and not target.is_file():
                out.append(f"link rel={link['rel']!r} href {href!r} points to a missing file")
    return out


def validate_catalog(
    catalog_dir: str | Path, *, check_checksums: bool = True
) -> list[ValidationProblem]:
    """Validate every STAC JSON file of a static catalog folder, offline.

    Parameters
    ----------
    catalog_dir
        Folder holding ``catalog.json`` (or the path of ``catalog.json`` itself).
    check_checksums
        Also recompute the SHA-256 of every local asset and compare with ``file:checksum``.

    Returns
    -------
    list of ValidationProblem
        Empty when the catalog is valid; otherwise one entry per problem, with the file path.

    Raises
    ------
    InvalidInputError
        If the folder does not exist or holds no ``catalog.json``.
    """
    root = Path(catalog_dir).expanduser()
    if root.is_file() and root.name == "catalog.json":
        root = root.parent
    if not (root / "catalog.json").is_file():
        raise InvalidInputError(
            f"catalog_dir={str(root)!r} holds no catalog.json; build one with "
            "`ecocube catalog build --out DIR`"
        )
    problems: list[ValidationProblem] = []
    resolved_root = root.resolve()
    paths = sorted(root.rglob("*.json"))
    item_folders = {p.parent for p in paths if _is_item_file(p)}
    for path in paths:
        if not _is_stac_object_file(path):
            continue  # e.g. USGS metadata JSON stored as an asset
        if any(folder in item_folders for folder in path.parents[1:]) or (
            path.parent in item_folders and not _is_item_file(path)
        ):
            continue  # a file in an item's folder is one of its assets (e.g. a model's JSON)
        rel = path.relative_to(root)
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            problems.append(ValidationProblem(rel, None, f"malformed JSON: {err}"))
            continue
        if not isinstance(obj, dict):
            problems.append(ValidationProblem(rel, None, "not a JSON object"))
            continue
        oid = obj.get("id") if isinstance(obj.get("id"), str) else None
        problems += [
            ValidationProblem(rel, oid, msg)
            for msg in _check_object(obj, path, resolved_root, check_checksums)
        ]
    return problems


def _is_item_file(path: Path) -> bool:
    """Whether ``path`` is an item's JSON: ``<id>/<id>.json`` holding a GeoJSON Feature."""
    if path.stem != path.parent.name:
        return False
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(obj, dict) and obj.get("type") == "Feature"


def _is_stac_object_file(path: Path) -> bool:
    """Whether ``path`` is laid out as a catalog object (``<id>/<id>.json`` for items)."""
    return path.stem == path.parent.name or path.name in ("catalog.json", "collection.json")
