"""Benchmark: catalog build time and STAC API search latency (p50/p95 over 200 queries).

Builds the full catalog from the data mirror into a temporary folder (3 times), serves it with
``ecocube.catalog.serve_catalog`` (pgstac + rustac) and runs 200 seeded mixed queries (bbox,
datetime, CQL2 filter on ``eo:cloud_cover``, collections, combinations):

* ``client``: one pystac-client ``Client`` reused, ``search(...).item_collection()`` per query;
* ``ecocube``: :func:`ecocube.catalog.search` end to end (opens the API, checks collections);
* baseline: a plain ``GET /`` of the landing page, measured in the same run.

Reproduce (needs PostgreSQL from ``scripts/services.sh`` and the data mirror)::

    ECOCUBE_DATA_MIRROR=../shared/data .venv/bin/python benchmarks/bench_stac_search.py
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

COMMAND = "ECOCUBE_DATA_MIRROR=../shared/data .venv/bin/python benchmarks/bench_stac_search.py"


def _queries(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    # (collection, bbox, year): queries that usually match items, like a user's would
    scenes = [
        ("landsat-8-l1-new-york", (-75.5, 39.5, -72.0, 42.5), 2018),
        ("sentinel-2-l2a-emilia", (11.9, 44.8, 12.1, 44.9), 2020),
        ("ocean-north-atlantic", (-20.0, 45.0, 10.0, 70.0), 2012),
        (None, (-86.0, 8.1, -82.5, 11.3), None),
        (None, (11.0, 44.5, 12.5, 46.6), None),
    ]
    for _ in range(n):
        coll, (x0, y0, x1, y1), year = rng.choice(scenes)
        kind = rng.choice(["bbox", "datetime", "filter", "mixed"])
        q: dict = {"collections": [coll]} if coll else {}
        if kind in ("bbox", "mixed") or coll is None:
            w, h = (x1 - x0) * rng.uniform(0.3, 1), (y1 - y0) * rng.uniform(0.3, 1)
            q["bbox"] = [x0, y0, x0 + w, y0 + h]
        if kind in ("datetime", "mixed") and year:
            m = rng.randint(1, 9)
            q["datetime"] = f"{year}-{m:02d}-01/{year}-{m + 3:02d}-28"
        if kind in ("filter", "mixed") and coll and not coll.startswith("ocean"):
            q["filter"] = {"op": "<", "args": [{"property": "eo:cloud_cover"}, rng.randint(5, 90)]}
        out.append(q)
    return out


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def _summary(name: str, ms: list[float]) -> str:
    return (
        f"{name:<28} n={len(ms):4d}  p50={_pct(ms, 50):7.1f} ms  p95={_pct(ms, 95):7.1f} ms  "
        f"mean={statistics.fmean(ms):7.1f} ms"
    )


def main() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from pystac_client import Client

    from ecocube.catalog import build_catalog, search, serve_catalog

    tmp = Path(tempfile.mkdtemp(prefix="ecocube-bench-"))
    builds = []
    for k in range(3):
        t0 = time.perf_counter()
        cat = build_catalog(tmp / f"catalog{k}")
        builds.append(time.perf_counter() - t0)
    n_items = sum(1 for _ in cat.get_items(recursive=True))
    print(
        f"catalog build ({n_items} items): "
        + ", ".join(f"{b:.2f} s" for b in builds)
        + " (each build verifies every registry SHA-256; the first reads files cold)"
    )
    queries = _queries(200, seed=0)
    t0 = time.perf_counter()
    with serve_catalog(tmp / "catalog0") as url:
        print(f"server ready in {time.perf_counter() - t0:.2f} s at {url}")
        client = Client.open(url)
        base, raw, full, counts = [], [], [], []
        for q in queries:
            t = time.perf_counter()
            with urllib.request.urlopen(url + "/") as resp:
                resp.read()
            base.append(1000 * (time.perf_counter() - t))
            t = time.perf_counter()
            items = client.search(**q, limit=100).item_collection()
            raw.append(1000 * (time.perf_counter() - t))
            counts.append(len(items))
            t = time.perf_counter()
            again = search(url, **q)
            full.append(1000 * (time.perf_counter() - t))
            assert len(again) == len(items)
    print(
        f"queries: 200 mixed (bbox/datetime/filter/collections), items per query: "
        f"median {statistics.median(counts):.0f}, max {max(counts)}"
    )
    print(_summary("baseline GET / (landing)", base))
    print(_summary("pystac-client search", raw))
    print(_summary("ecocube.catalog.search", full))
    print(f"ratio p50 search / baseline: {_pct(raw, 50) / _pct(base, 50):.1f}x")
    print(f"reproduce: {COMMAND}")


if __name__ == "__main__":
    main()
