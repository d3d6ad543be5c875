"""The 20-second soak of the suite: 200 channel clients, 50 sessions at 100 lines/s.

The five-minute one is its own command: ``.venv/bin/python -m tests.soak --minutes 5``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from libtmux.server import Server

from tests.soak import Plan, render, soak


@pytest.mark.soak
@pytest.mark.timeout(300)
async def test_soak_20_seconds(server: Server, tmp_path: Path) -> None:
    report = await soak(Plan(seconds=20), tmp_path, server)
    table = render(report)
    print(table)  # the figures, with -s or on failure
    assert report.complete == report.plan.clients and not report.problems, table
    assert report.after.held() == report.before.held(), table  # files, threads, watches
    assert report.flat, table  # and RSS within RSS_SLACK
