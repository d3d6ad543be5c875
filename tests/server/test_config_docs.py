"""The settings are documented where Jupyter users look, from the traits' own help."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from saga_jupyter.server.app import SagaJupyterApp

SCRIPT = Path(__file__).parents[2] / "scripts" / "config_docs.py"


@pytest.fixture(scope="module")
def docs() -> dict[str, Any]:
    """scripts/config_docs.py's functions."""
    return runpy.run_path(str(SCRIPT))


def configurable() -> list[str]:
    return list(SagaJupyterApp.class_own_traits(config=True))


def test_every_trait_has_help() -> None:
    own = SagaJupyterApp.class_own_traits(config=True)
    assert len(own) >= 8 and all(trait.help for trait in own.values())


def test_the_readme_table_is_the_traits_help(docs: dict[str, Any]) -> None:
    # Fails when a help= changed without the README (run scripts/config_docs.py), or the table
    # was edited by hand.
    assert docs["main"](["--check"]) == 0
    readme = docs["README"].read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| `")]
    for name in configurable():
        (line,) = [row for row in rows if row.startswith(f"| `{name}` |")]
        assert line in docs["table"]()
    state = next(row for row in rows if row.startswith("| `state_file` |"))
    assert "| `$SAGA_STATE_FILE`, else saga_jupyter/sessions.json in the Jupyter data" in state
    assert "| `poll_interval` | `3.0` | Seconds between tmux scans" in readme


def test_a_changed_help_makes_the_table_out_of_date(
    docs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SagaJupyterApp.max_sessions, "help", "Something else entirely.")
    assert docs["main"](["--check"]) == 1
    assert "| `max_sessions` | `4` | Something else entirely. |" in docs["table"]()


def test_help_all_lists_every_setting_with_its_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "saga_jupyter", "server", "--help-all"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    for name in configurable():
        assert f"--SagaJupyterApp.{name}=" in result.stdout
    words = " ".join(result.stdout.split())  # as wrapped to the terminal's width
    assert "Where the output files live: <name>.out (the seeds' SAGA)" in words
