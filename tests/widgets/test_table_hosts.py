"""``SessionTable(server=...)``: a Jupyter server's merged list, its remotes' hosts shown."""

from __future__ import annotations

import os
import re
import signal

from saga_jupyter.widgets.table import OWN, SessionTable
from tests.helpers import wait_until
from tests.hosts import Host


def host_cells(table: SessionTable) -> dict[str, str]:
    """Each shown row's host cell, by session name."""
    rows = re.findall(
        r'<tr data-name="([^"]+)"[^>]*><td>[^<]*</td><td>([^<]*)</td>', table.rows.html
    )
    return dict(rows)


def test_a_servers_table_shows_each_host_and_greys_a_stale_one(
    front: Host, hosts: list[Host]
) -> None:
    table = SessionTable(server=front.jupyter.url, token=front.jupyter.token, interval=0.3)
    try:
        wait_until(lambda: len(table.sessions) == 3, timeout=15)
        assert "<th>host</th>" in table.rows.html
        assert host_cells(table) == {
            "saga__front__work__1": "this server",
            "saga__alpha__work__1": "alpha",
            "saga__beta__work__1": "beta",
        }
        assert [value for _, value in table.host_filter.options] == ["", OWN, "alpha", "beta"]
        table.host_filter.value = "alpha"
        assert [info.name for info in table.shown] == ["saga__alpha__work__1"]
        table.host_filter.value = OWN
        assert [info.name for info in table.shown] == ["saga__front__work__1"]
        table.host_filter.value = ""
        os.kill(hosts[1].jupyter.pid, signal.SIGSTOP)  # beta frozen: its row as last seen
        wait_until(lambda: 'class="saga-stale"' in table.rows.html, timeout=20)
        row = re.search(r'<tr data-name="saga__beta__work__1"[^>]*>', table.rows.html)
        assert row is not None and "beta is stale (" in row.group(0)
        assert host_cells(table)["saga__beta__work__1"] == "beta (stale)"
        assert "beta stale: " in table.summary.value
    finally:
        table.close()


def test_a_table_of_a_server_that_refuses_says_why(front: Host) -> None:
    table = SessionTable(server=front.jupyter.url, token="wrong", interval=0.3)
    try:
        assert "the token was refused" in table.rows.html
        assert "<th>host</th>" not in table.rows.html
    finally:
        table.close()
