"""The JupyterLab extension's sources (src/): strict TypeScript, linted, formatted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def test_typescript_is_strict() -> None:
    options = json.loads((ROOT / "tsconfig.json").read_text())["compilerOptions"]
    assert options["strict"] is True
    assert options["noUnusedLocals"] is True


def test_lint_check_passes() -> None:
    """``jlpm lint:check``: tsc --noEmit, prettier and eslint, as a person runs it."""
    if not (ROOT / "node_modules").is_dir():
        pytest.skip("no node_modules: installing the package (scripts/setup) runs jlpm install")
    bin_dir = Path(sys.executable).parent  # jlpm comes with jupyter-builder, in the venv
    result = subprocess.run(
        [str(bin_dir / "jlpm"), "lint:check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
