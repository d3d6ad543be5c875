"""``saga-jupyter ls --remote URL`` and ``ls --host H``: the hosts of a Jupyter server's remotes."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from tests.helpers import wait_until
from tests.hosts import Host
from tests.test_cli import saga


def listed(front: Host) -> list[str]:
    """The names in the front server's session list."""
    return [session["name"] for session in front.jupyter.get("api/saga/sessions")]


def test_ls_remote_shows_another_servers_hosts(front: Host, hosts: list[Host]) -> None:
    wait_until(lambda: len(listed(front)) == 3, timeout=15)
    env = {**os.environ, "SAGA_REMOTE_TOKEN": front.jupyter.token}
    shown = saga("ls", "--remote", front.jupyter.url, env=env)
    assert shown.returncode == 0, shown.stderr
    rows = [line.split() for line in shown.stdout.splitlines()]
    assert rows[0] == ["NAME", "HOST", "STATUS", "OUTCOME", "AGE"]
    assert sorted(row[:3] for row in rows[1:]) == [
        ["saga__alpha__work__1", "alpha", "running"],
        ["saga__beta__work__1", "beta", "running"],
        ["saga__front__work__1", "-", "running"],
    ]
    only = saga("ls", "--remote", front.jupyter.url, "--host", "beta", "--json", env=env)
    assert [s["name"] for s in json.loads(only.stdout)] == ["saga__beta__work__1"]
    refused = saga("ls", "--remote", front.jupyter.url, "--token", "wrong")
    assert refused.returncode == 1 and "token was refused" in refused.stderr
    plain = saga("ls", "--remote", "http://example.com/")
    assert plain.returncode == 1 and "loopback only" in plain.stderr


def test_ls_host_asks_this_machines_running_server(
    tmp_path: Path, front: Host, hosts: list[Host]
) -> None:
    wait_until(lambda: len(listed(front)) == 3, timeout=15)
    runtime = tmp_path / f"home-{front.jupyter.port}" / "runtime"  # where the front wrote its file
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime)}
    env.pop("SAGA_REMOTE_TOKEN", None)  # the token comes from the server's runtime file
    shown = saga("ls", "--host", "beta", env=env)
    assert shown.returncode == 0, shown.stderr
    rows = [line.split() for line in shown.stdout.splitlines()]
    assert [row[:3] for row in rows] == [
        ["NAME", "HOST", "STATUS"],
        ["saga__beta__work__1", "beta", "running"],
    ]
    own = saga("ls", "--host", "", "--json", env=env)
    assert [(s["name"], s["host"]) for s in json.loads(own.stdout)] == [
        ("saga__front__work__1", None)
    ]
    unknown = saga("ls", "--host", "gamma", env=env)
    assert unknown.returncode == 1
    assert "has a remote named 'gamma' (its remotes: alpha, beta)" in unknown.stderr
    (tmp_path / "empty").mkdir()
    none = saga("ls", "--host", "beta", env={**env, "JUPYTER_RUNTIME_DIR": str(tmp_path / "empty")})
    assert none.returncode == 1 and "no Jupyter server is running here" in none.stderr
    os.kill(hosts[1].jupyter.pid, signal.SIGSTOP)  # beta frozen: its sessions as last seen
    wait_until(lambda: "stale" in saga("ls", "--host", "beta", env=env).stdout, timeout=20)
    stale = saga("ls", "--host", "beta", env=env).stdout.splitlines()[1].split()
    assert stale[:4] == ["saga__beta__work__1", "beta", "(stale)", "running"]
