"""The main job (``make demo`` / ``ecocube demo``) and its HTML report.

The demo is a caller of the domain packages: each step in :mod:`ecocube.demo.steps` runs one
part (catalog, cube, SDMs, integrated SDM, ocean) on the registry data and returns a section of
one self-contained report (:mod:`ecocube.demo.report`). Steps share results through a typed
:class:`DemoState`.
"""

from ecocube.demo._context import DemoContext, DemoState
from ecocube.demo._runner import DEMO_STEPS, run_demo

__all__ = ["DEMO_STEPS", "DemoContext", "DemoState", "run_demo"]
