"""Run mypy on the installed layout of the package.

The repository's folders (``core/``, ``catalog/``, ...) become ``ecocube``, ``ecocube.catalog``,
... only through ``setup.py``'s ``package_dir``; mypy cannot follow that mapping. This script
builds the ``ecocube`` tree as symbolic links under ``build/typecheck`` (from ``ROOTS`` in
``setup.py``) and runs ``mypy -p ecocube`` there with the project's configuration, so that
imports between the parts are type-checked as users import them.

Usage::

    python scripts/typecheck.py [extra mypy arguments]
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _roots() -> dict[str, str]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "ROOTS" for t in node.targets
        ):
            return dict(ast.literal_eval(node.value))
    raise SystemExit("setup.py defines no ROOTS mapping")


def build_tree(dest: Path) -> Path:
    """Link every mapped folder into ``dest`` at its import path; return the package root."""
    if dest.exists():
        shutil.rmtree(dest)
    for name, folder in sorted(_roots().items(), key=lambda kv: kv[0].count(".")):
        target = dest.joinpath(*name.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for entry in (ROOT / folder).iterdir():
            if entry.name == "__pycache__" or (target / entry.name).exists():
                continue
            (target / entry.name).symlink_to(entry)
    return dest / "ecocube"


def main(argv: list[str]) -> int:
    dest = ROOT / "build" / "typecheck"
    build_tree(dest)
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")]
    cmd += ["--cache-dir", str(ROOT / ".mypy_cache"), "-p", "ecocube", *argv]
    return subprocess.call(cmd, cwd=dest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
