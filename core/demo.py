"""The main job (``make demo`` / ``ecocube demo``): every part adds a section to one report.

Each step is a module with ``run(ctx: DemoContext) -> ReportSection``. Steps share objects
(catalog folder, STAC API URL, cube path...) through ``ctx.state``; later steps build on
earlier ones, in the order of :data:`DEMO_STEPS`.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from ecocube.report import ReportSection, write_report

__all__ = ["DEMO_STEPS", "DemoContext", "run_demo"]

#: Modules that contribute a section, in order.
DEMO_STEPS: tuple[str, ...] = (
    "ecocube.catalog._demo",
    "ecocube.cube._demo",
    "ecocube.models._demo",
    "ecocube.models._demo_integrated",
    "ecocube.ocean._demo",
)


@dataclass
class DemoContext:
    """What every demo step receives.

    Attributes
    ----------
    out_dir
        Report folder; steps write their files under it (figures in ``out_dir/figures``).
    seed
        Seed for every stochastic step.
    device
        Torch device name (``"auto"`` picks CUDA when available).
    quick
        Smaller settings for smoke tests.
    state
        Objects shared between steps (e.g. ``"catalog_dir"``, ``"stac_url"``).
    """

    out_dir: Path
    seed: int = 0
    device: str = "auto"
    quick: bool = False
    state: dict[str, Any] = field(default_factory=dict)
    console: Console = field(default_factory=Console)


def run_demo(out_dir: Path, *, seed: int = 0, device: str = "auto", quick: bool = False) -> Path:
    """Run every demo step and write ``out_dir/index.html``; return its path."""
    ctx = DemoContext(out_dir=Path(out_dir), seed=seed, device=device, quick=quick)
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    sections: list[ReportSection] = []
    try:
        for name in DEMO_STEPS:
            module = importlib.import_module(name)
            start = time.perf_counter()
            ctx.console.rule(f"[bold]{name}")
            section = module.run(ctx)
            section.meta.setdefault("seconds", time.perf_counter() - start)
            sections.append(section)
            ctx.console.print(f"{name}: done in {section.meta['seconds']:.1f} s")
    finally:
        for closer in reversed(ctx.state.get("_cleanup", [])):
            closer()
    return write_report(sections, ctx.out_dir, title="ecocube demo")
