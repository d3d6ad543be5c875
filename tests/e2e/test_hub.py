"""``saga-jupyter hub-service`` under a real JupyterHub: each person sees their own servers.

The Hub (``jupyterhub`` from PyPI, ``configurable-http-proxy`` from npm) spawns alice's and
bob's servers with ``SimpleLocalProcessSpawner``, each with its own tmux socket and output
directory and one worker, and its own SAGA project (``$SAGA_PROJECT_DIR``) with one story;
``DummyAuthenticator`` logs people in. Skipped where the Hub is not
installed (``scripts/setup`` installs it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from libtmux.server import Server
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from tests.helpers import Channel, start_worker, wait_until
from tests.sagaproject import epic, story, story_dir, task

pytest.importorskip("jupyterhub")
if shutil.which("configurable-http-proxy") is None:
    pytest.skip("configurable-http-proxy (npm) is not installed", allow_module_level=True)

PASSWORD = "saga-test-password"
USERS = ("alice", "bob")


def free_port() -> int:
    """A loopback port free right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


HUB_CONFIG = """
import sys
c = get_config()  # noqa
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.JupyterHub.db_url = "sqlite:///{tmp}/hub.sqlite"
c.JupyterHub.cookie_secret_file = "{tmp}/cookie_secret"
c.ConfigurableHTTPProxy.pid_file = "{tmp}/proxy.pid"
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = "{password}"
c.Authenticator.allowed_users = {{"alice", "bob", "admin"}}
c.Authenticator.admin_users = {{"admin"}}
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "{tmp}/home-{{username}}"
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
c.JupyterHub.tornado_settings = {{"slow_spawn_timeout": 0}}  # POST .../server: 202 at once
c.Spawner.args = ["--allow-root", "--SagaJupyterApp.poll_interval=0.5", *{spawner_args!r}]
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.Spawner.environment = {{
    "PYTHONPATH": {pythonpath!r},
    "SAGA_SESSIONS_DIR": lambda spawner: "{tmp}/out-" + spawner.user.name,
    "SAGA_TMUX_SOCKET": lambda spawner: "{socket_prefix}-" + spawner.user.name,
    "SAGA_STATE_FILE": lambda spawner: "{tmp}/state-" + spawner.user.name + ".json",
    "SAGA_PROJECT_DIR": lambda spawner: "{tmp}/project-" + spawner.user.name,
}}
c.JupyterHub.services = [
    {{
        "name": "saga",
        "url": "http://127.0.0.1:{service_port}",
        "command": [sys.executable, "-m", "saga_jupyter", "hub-service",
                    "--proxy-url", "http://127.0.0.1:{port}"],
        "environment": {{"PYTHONPATH": {pythonpath!r}}},
        "oauth_no_confirm": True,
        "oauth_client_allowed_scopes": ["access:servers"],
    }},
    {{"name": "tester", "api_token": "{admin_token}"}},
]
c.JupyterHub.load_roles = [
    {{"name": "saga", "scopes": ["list:users", "read:servers", "access:servers"],
      "services": ["saga"]}},
    {{"name": "tester", "scopes": ["admin:servers", "admin:users"], "services": ["tester"]}},
    {{"name": "user", "scopes": ["self", "access:services"]}},
]
"""


class Hub:
    """A running JupyterHub with the saga service."""

    def __init__(self, tmp_path: Path, *spawner_args: str) -> None:
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.socket_prefix = f"saga-hub-{secrets.token_hex(3)}"
        config = tmp_path / "jupyterhub_config.py"
        config.write_text(
            HUB_CONFIG.format(
                port=self.port, hub_port=free_port(), proxy_api_port=free_port(),
                service_port=free_port(), tmp=tmp_path, password=PASSWORD,
                admin_token=self.token, socket_prefix=self.socket_prefix,
                pythonpath=os.environ.get("PYTHONPATH", ""), spawner_args=spawner_args,
            )
        )  # fmt: skip
        self.log = (tmp_path / "hub.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)],
            cwd=tmp_path, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(self._answers, timeout=60, interval=0.2)

    def _answers(self) -> bool:
        assert self.process.poll() is None, "the Hub exited"
        try:
            return requests.get(self.url + "/hub/api/", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def api(self, method: str, path: str) -> Any:
        """Call the Hub's REST API as an admin service."""
        answer = requests.request(
            method, f"{self.url}/hub/api/{path}", headers={"Authorization": f"token {self.token}"},
            timeout=30,
        )  # fmt: skip
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def stop(self) -> None:
        """Stop the Hub (its servers and services with it)."""
        for user in USERS:
            try:
                self.api("DELETE", f"users/{user}/server")
            except requests.RequestException:
                pass
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def logged_in(hub: Hub, user: str) -> requests.Session:
    """A browser-like session of ``user``, logged in to the Hub."""
    browser = requests.Session()
    browser.get(hub.url + "/hub/login", timeout=30)
    form = {"username": user, "password": PASSWORD, "_xsrf": browser.cookies.get("_xsrf", "")}
    answer = browser.post(hub.url + "/hub/login", data=form, timeout=60)
    assert answer.status_code == 200, answer.text[:500]
    return browser


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    """A Hub whose users alice and bob each run a server with one worker."""
    with running_hub(tmp_path) as hub:
        yield hub


@contextlib.contextmanager
def running_hub(tmp_path: Path, *spawner_args: str) -> Iterator[Hub]:
    """A Hub whose users alice and bob each run a server (``spawner_args`` added) with one
    worker.
    """
    tmux_servers = []
    hub = Hub(tmp_path, *spawner_args)
    try:
        for user in USERS:
            out = tmp_path / f"out-{user}"
            out.mkdir()
            tmux = Server(socket_name=f"{hub.socket_prefix}-{user}")
            tmux_servers.append(tmux)
            start_worker(tmux, f"saga__{user}__work__1", out)
            epic(project_of(tmp_path, user), "work", [f"{user}-story"])
            story(project_of(tmp_path, user), f"{user}-story", "work", {"t1": "pending"})
            hub.api("POST", f"users/{user}/server")
        for user in USERS:
            wait_until(
                lambda user=user: (
                    hub.api("GET", f"users/{user}")["servers"].get("", {}).get("ready")
                ),
                timeout=120,
                interval=0.5,
            )
        yield hub
    finally:
        hub.stop()
        for tmux in tmux_servers:
            tmux.kill()


def project_of(tmp_path: Path, user: str) -> Path:
    """The SAGA project of ``user``'s server."""
    return tmp_path / f"project-{user}"


def sessions_seen(browser: requests.Session, hub: Hub) -> Any:
    """What the service lists for that person (after the OAuth dance, done by redirects)."""
    answer = browser.get(hub.url + "/services/saga/api/saga/sessions", timeout=60)
    if answer.status_code != 200:
        return None
    return sorted((s["host"], s["name"]) for s in json.loads(answer.text))


@pytest.mark.timeout(400)
def test_each_person_sees_their_own_servers_and_an_admin_all(hub: Hub) -> None:
    alice, admin = logged_in(hub, "alice"), logged_in(hub, "admin")
    everything = [("alice", "saga__alice__work__1"), ("bob", "saga__bob__work__1")]
    wait_until(lambda: sessions_seen(admin, hub) == everything, timeout=60, interval=0.5)
    assert sessions_seen(alice, hub) == [("alice", "saga__alice__work__1")]
    detail = alice.get(
        hub.url + "/services/saga/api/saga/sessions/saga__bob__work__1?host=bob", timeout=30
    )
    assert detail.status_code == 404  # bob's server is not alice's to see
    own = alice.get(
        hub.url + "/services/saga/api/saga/sessions/saga__alice__work__1/log?host=alice",
        timeout=30,
    )
    assert own.status_code == 200 and own.text == "started\n"

    # The channel: the person's own list, and their own server's log; another's is refused.
    cookies = "; ".join(f"{c.name}={c.value}" for c in alice.cookies)
    ws_url = hub.url.replace("http", "ws", 1) + "/services/saga/api/saga/channels"

    async def channel() -> None:
        ws = await websocket_connect(HTTPRequest(ws_url, headers={"Cookie": cookies}))
        channel = Channel(ws)
        first = await channel.receive(timeout=30)
        assert [(s["host"], s["name"]) for s in first["sessions"]] == [
            ("alice", "saga__alice__work__1")
        ]
        await channel.send(
            {"type": "subscribe:logs", "sessionName": "saga__alice__work__1", "host": "alice"}
        )
        frame = await channel.receive_log("saga__alice__work__1", timeout=30)
        assert frame["data"] == "started\n" and frame["host"] == "alice"
        await channel.send(
            {"type": "subscribe:logs", "sessionName": "saga__bob__work__1", "host": "bob"}
        )
        refused = await channel.receive_log("saga__bob__work__1", timeout=30)
        assert refused["type"] == "logs:error"
        channel.close()

    asyncio.run(channel())


def listed_by_host(browser: requests.Session, hub: Hub, route: str) -> Any:
    """``(host, id)`` of each story (epic) the service lists for that person."""
    answer = browser.get(f"{hub.url}/services/saga/api/saga/{route}", timeout=60)
    if answer.status_code != 200:
        return None
    return sorted((item["host"], item["id"]) for item in json.loads(answer.text))


def ws_cookies(browser: requests.Session) -> dict[str, str]:
    """The headers that open the service's channel as that person."""
    return {"Cookie": "; ".join(f"{c.name}={c.value}" for c in browser.cookies)}


async def stories_frame(channel: Channel) -> dict[str, Any]:
    """The next ``stories:updated`` frame (session lists skipped)."""
    while True:
        frame = await channel.receive(timeout=30)
        if frame["type"] == "stories:updated":
            return frame


@pytest.mark.timeout(400)
def test_each_person_sees_the_stories_of_their_own_servers(hub: Hub, tmp_path: Path) -> None:
    alice, admin = logged_in(hub, "alice"), logged_in(hub, "admin")
    every = [("alice", "alice-story"), ("bob", "bob-story")]
    wait_until(lambda: listed_by_host(admin, hub, "stories") == every, timeout=60, interval=0.5)
    assert listed_by_host(alice, hub, "stories") == [("alice", "alice-story")]
    assert listed_by_host(alice, hub, "epics") == [("alice", "work")]
    assert listed_by_host(admin, hub, "epics") == [("alice", "work"), ("bob", "work")]
    assert listed_by_host(alice, hub, "stories?status=completed") == []
    api = hub.url + "/services/saga/api/saga/"
    page = alice.get(api + "stories/alice-story?host=alice", timeout=30)
    assert page.status_code == 200 and [t["id"] for t in page.json()["tasks"]] == ["t1"]
    for path in ("stories/bob-story?host=bob", "stories?host=bob", "epics?host=bob"):
        assert alice.get(api + path, timeout=30).status_code == 404, path  # not alice's

    # A story changed on a server reaches the channels of those who may see it, and only them.
    ws_url = hub.url.replace("http", "ws", 1) + "/services/saga/api/saga/channels"

    async def channels() -> None:
        opened = [
            Channel(await websocket_connect(HTTPRequest(ws_url, headers=ws_cookies(person))))
            for person in (alice, admin)
        ]
        alice_channel, admin_channel = opened
        for channel in opened:
            await channel.receive(timeout=30)  # the session list
        task(story_dir(project_of(tmp_path, "bob"), "bob-story"), "t1", "completed")
        frame = await stories_frame(admin_channel)
        assert frame["host"] == "bob" and frame["stories"][0]["host"] == "bob"
        task(story_dir(project_of(tmp_path, "alice"), "alice-story"), "t1", "completed")
        frame = await stories_frame(alice_channel)  # bob's frame came first, not to alice
        assert frame["host"] == "alice"
        assert [(s["host"], s["id"], s["status"]) for s in frame["stories"]] == [
            ("alice", "alice-story", "completed")
        ]
        for channel in opened:
            channel.close()

    asyncio.run(channels())
