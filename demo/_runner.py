"""Run the demo steps in order and write one report."""

from __future__ import annotations

import importlib
import time
from pathlib import Path

from ecocube.demo._context import DemoContext
from ecocube.demo.report import ReportSection, write_report

__all__ = ["DEMO_STEPS", "run_demo"]

#: Modules that contribute a section, in order; each defines ``run(ctx) -> ReportSection``.
DEMO_STEPS: tuple[str, ...] = (
    "ecocube.demo.steps.catalog",
    "ecocube.demo.steps.cube",
    "ecocube.demo.steps.sdm",
    "ecocube.demo.steps.explain",
    "ecocube.demo.steps.interactions",
    "ecocube.demo.steps.sdm_integrated",
    "ecocube.demo.steps.ocean",
)


def run_demo(out_dir: Path, *, seed: int = 0, device: str = "auto", quick: bool = False) -> Path:
    """Run every demo step and write ``out_dir/index.html``.

    Parameters
    ----------
    out_dir
        Report folder (created if missing).
    seed
        Seed of every stochastic step.
    device
        Torch device for the training steps (``"auto"``, ``"cpu"``, ``"cuda"``...).
    quick
        Smaller settings, for smoke tests.

    Returns
    -------
    Path
        The written ``index.html``.
    """
    ctx = DemoContext(out_dir=Path(out_dir), seed=seed, device=device, quick=quick)
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    sections: list[ReportSection] = []
    with ctx.resources:
        for name in DEMO_STEPS:
            module = importlib.import_module(name)
            start = time.perf_counter()
            ctx.console.rule(f"[bold]{name}")
            section = module.run(ctx)
            section.meta.setdefault("seconds", time.perf_counter() - start)
            sections.append(section)
            ctx.console.print(f"{name}: done in {section.meta['seconds']:.1f} s")
    return write_report(sections, ctx.out_dir, title="ecocube demo")
