"""Fixtures for every test, the doctests in ``saga_jupyter/`` too (the rest: tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from saga_jupyter.core.settings import STATE_FILE_ENV


@pytest.fixture(autouse=True)
def own_state_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test, and no kernel it starts, reads or writes the machine's metadata store.

    Kernel-side discovery starts from the store's records; one left there by the demo would
    otherwise show up in a test's session list.
    """
    monkeypatch.setenv(STATE_FILE_ENV, str(tmp_path / "state" / "sessions.json"))
