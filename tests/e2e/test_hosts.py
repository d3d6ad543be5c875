"""Many hosts on one machine: real Jupyter servers on loopback, each with its own tmux socket,
output directory, port and token, merged by a front server through its ``remotes`` (the
harness, with the ``hosts`` and ``front`` fixtures: tests/hosts.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import itertools
import json
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import channel_of, start_worker, wait_for, wait_until
from tests.hosts import Host, front_config, listed, remote_of, remote_state, start_host, stop_host
from tests.sagaproject import epic, story, task


def http_error(call: Any) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of a request that fails."""
    with pytest.raises(urllib.error.HTTPError) as raised:
        call()
    return raised.value.code, json.loads(raised.value.read())


def test_sessions_of_every_host_in_one_list(front: Host, hosts: list[Host]) -> None:
    wait_until(lambda: len(listed(front)) == 3, timeout=15)
    sessions = listed(front)
    assert {(s["name"], s["host"], s["stale"]) for s in sessions} == {
        ("saga__front__work__1", None, False),
        ("saga__alpha__work__1", "alpha", False),
        ("saga__beta__work__1", "beta", False),
    }
    assert [s["name"] for s in listed(front, "?host=alpha")] == ["saga__alpha__work__1"]
    assert [s["name"] for s in listed(front, "?host=")] == ["saga__front__work__1"]
    assert listed(front, "?host=beta&status=completed") == []
    code, body = http_error(lambda: listed(front, "?host=gamma"))
    assert code == 404 and body["error"] == "Host not found" and "gamma" in body["message"]
    states = {r["name"]: r["state"] for r in front.jupyter.get("api/saga/status")["remotes"]}
    assert states == {"alpha": "connected", "beta": "connected"}

    # Detail and log: the remote's own answer, through the front server.
    detail = front.jupyter.get("api/saga/sessions/saga__alpha__work__1?host=alpha")
    assert detail["name"] == "saga__alpha__work__1" and detail["windows"]
    url = front.jupyter.url + "api/saga/sessions/saga__alpha__work__1/log?host=alpha&offset=2"
    request = urllib.request.Request(url, headers=front.jupyter.headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.read() == b"arted\n"
        assert response.headers["X-Log-Offset"] == "2"
        assert response.headers["Content-Type"].startswith("text/plain")
    code, body = http_error(
        lambda: front.jupyter.get("api/saga/sessions/saga__nope__x__1?host=beta")
    )
    assert code == 404 and body["error"] == "Session not found"

    # A remote that refuses control refuses it here too, in its own words.
    code, body = http_error(
        lambda: front.jupyter.request(
            "POST", "api/saga/sessions/saga__alpha__work__1/stop?host=alpha"
        )
    )
    assert code == 403 and "allow_control" in body["message"]
    assert hosts[0].tmux.has_session("saga__alpha__work__1")


class Follower:
    """A channel client of the front server taking every log frame, by (host, session)."""

    def __init__(self) -> None:
        self.text: dict[tuple[str | None, str], str] = {}
        self.offset: dict[tuple[str | None, str], int] = {}
        self.arrivals: dict[str | None, list[float]] = {}
        self.initials: list[tuple[str | None, str]] = []
        self.errors: list[dict[str, Any]] = []
        self.lists: list[list[dict[str, Any]]] = []

    async def follow(self, channel: Any, done: threading.Event) -> None:
        """Take frames until ``done`` is set."""
        while not done.is_set():
            try:
                message = await asyncio.wait_for(channel.ws.read_message(), 0.2)
            except asyncio.TimeoutError:
                continue
            assert message is not None, "the front server closed the channel"
            frame = json.loads(message)
            if frame["type"] == "sessions:updated":
                self.lists.append(frame["sessions"])
            elif frame["type"] == "logs:error":
                self.errors.append(frame)
            elif frame["type"] == "logs:data":
                key = (frame.get("host"), frame["sessionName"])
                assert not frame["reset"], frame
                if frame["isInitial"]:
                    self.initials.append(key)
                self.text[key] = self.text.get(key, "") + frame["data"]
                self.offset[key] = frame["offset"]
                self.arrivals.setdefault(key[0], []).append(time.monotonic())


def write_lines(paths: list[Path], writing: threading.Event) -> None:
    """Append a numbered line to every file every 5 ms until ``writing`` is cleared."""
    line = 0
    while writing.is_set():
        for path in paths:
            with path.open("a") as file:
                file.write(f"line {line} ✻ of {path.stem}\n")
        line += 1
        time.sleep(0.005)  # a worker's pace, not a wait for a condition


def log_of(host: Host) -> Path:
    """The output file of ``host``'s worker."""
    return host.output_dir / f"saga__{host.name}__work__1.out"


async def stream_through_trouble(front: Host, hosts: list[Host], trouble: Any) -> Follower:
    """Follow both remotes' workers through ``front`` while ``trouble(follower)`` runs.

    Checks that every byte of both files arrived exactly once, in order, at the end.
    """
    alpha, beta = hosts
    await wait_for(lambda: len(listed(front)) == 3, timeout=15)
    channel = await channel_of(front.jupyter)
    follower, done, writing = Follower(), threading.Event(), threading.Event()
    writing.set()
    writer = threading.Thread(target=write_lines, args=([log_of(alpha), log_of(beta)], writing))
    reader = asyncio.ensure_future(follower.follow(channel, done))
    try:
        for host in hosts:
            name = f"saga__{host.name}__work__1"
            await channel.send({"type": "subscribe:logs", "sessionName": name, "host": host.name})
        writer.start()
        await wait_for(lambda: len(follower.text.get(("alpha", "saga__alpha__work__1"), "")) > 500)
        await trouble(follower)
        writing.clear()
        await asyncio.to_thread(writer.join)
        sizes = {
            (host.name, f"saga__{host.name}__work__1"): log_of(host).stat().st_size
            for host in hosts
        }
        await wait_for(lambda: follower.offset == sizes, timeout=30)
    finally:
        writing.clear()
        done.set()
        await asyncio.gather(reader, return_exceptions=True)
        channel.close()
    reader.result()
    assert follower.errors == []
    for host in hosts:
        key = (host.name, f"saga__{host.name}__work__1")
        assert follower.text[key] == log_of(host).read_text(), "a gap or a duplicate"
    assert sorted(follower.initials) == sorted(sizes)  # one initial frame each, resumes continue
    return follower


async def test_a_frozen_remote_is_stale_and_holds_nobody_up(front: Host, hosts: list[Host]) -> None:
    alpha = hosts[0]

    async def freeze(follower: Follower) -> None:
        os.kill(alpha.jupyter.pid, signal.SIGSTOP)
        frozen = time.monotonic()
        try:
            state = await wait_for(
                lambda: remote_state(front, "alpha")["state"] == "stale", timeout=10
            )
            assert state
            took = time.monotonic() - frozen
            stale = {s["name"]: s["stale"] for s in listed(front)}
            assert stale == {
                "saga__alpha__work__1": True,
                "saga__beta__work__1": False,
                "saga__front__work__1": False,
            }
            assert "no answer" in remote_state(front, "alpha")["error"]
            code, body = http_error(
                lambda: front.jupyter.get("api/saga/sessions/saga__alpha__work__1?host=alpha")
            )
            assert code == 502 and "no answer" in body["message"]  # at once, not in 60 s
            # This server's own list and beta's stream go on meanwhile.
            start_worker(front.tmux, "saga__front__more__2", front.output_dir)
            await wait_for(
                lambda: any(s["name"] == "saga__front__more__2" for s in follower.lists[-1]),
                timeout=5,
            )
            beta_seen = len(follower.arrivals["beta"])
            await wait_for(lambda: len(follower.arrivals["beta"]) > beta_seen + 20, timeout=2)
            during = [t for t in follower.arrivals["beta"] if t > frozen]
            gaps = [b - a for a, b in itertools.pairwise(during)]
            assert max(gaps) < 1.0, f"beta's stream stalled {max(gaps):.2f} s"
            assert took < 10
        finally:
            os.kill(alpha.jupyter.pid, signal.SIGCONT)
        await wait_for(lambda: remote_state(front, "alpha")["state"] == "connected", timeout=40)

    await stream_through_trouble(front, hosts, freeze)


async def test_a_killed_remote_comes_back_and_its_streams_resume(
    front: Host, hosts: list[Host], tmp_path: Path
) -> None:
    alpha = hosts[0]

    async def kill_and_restart(follower: Follower) -> None:
        alpha.jupyter.process.kill()
        alpha.jupyter.process.wait(10)
        await wait_for(lambda: remote_state(front, "alpha")["state"] != "connected", timeout=10)
        await wait_for(
            lambda: "nothing listens" in (remote_state(front, "alpha")["error"] or ""), timeout=10
        )
        assert [s["stale"] for s in listed(front, "?host=alpha")] == [True]
        await asyncio.to_thread(alpha.restart, tmp_path)
        await wait_for(lambda: remote_state(front, "alpha")["state"] == "connected", timeout=40)
        assert [s["stale"] for s in listed(front, "?host=alpha")] == [False]

    await stream_through_trouble(front, hosts, kill_and_restart)


def test_a_wrong_token_and_a_port_nobody_listens_on(tmp_path: Path) -> None:
    alpha = start_host(tmp_path, "alpha")
    wrong = tmp_path / "wrong-token"
    wrong.write_text("not-the-token\n")
    with socket_port() as port:
        remotes = [
            {"name": "alpha", "url": alpha.jupyter.url, "token_file": str(wrong)},
            {"name": "ghost", "url": f"http://127.0.0.1:{port}/", "token_file": str(wrong)},
        ]
        front = start_host(tmp_path, "front", front_config(tmp_path, remotes))
    try:
        wait_until(
            lambda: remote_state(front, "alpha")["error"] != "connecting: no answer yet", timeout=10
        )
        wait_until(
            lambda: remote_state(front, "ghost")["error"] != "connecting: no answer yet", timeout=10
        )
        refused, ghost = remote_state(front, "alpha"), remote_state(front, "ghost")
        assert refused["state"] == "error" and refused["error"].startswith("token refused (403)")
        assert str(wrong) in refused["error"]
        assert ghost["state"] == "error" and ghost["error"].startswith("nothing listens at")
        assert [s["name"] for s in listed(front)] == ["saga__front__work__1"]
        code, _ = http_error(
            lambda: front.jupyter.get("api/saga/sessions/saga__alpha__work__1?host=alpha")
        )
        assert code == 403  # alpha's own answer to the wrong token
    finally:
        for host in (front, alpha):
            stop_host(host)


@contextlib.contextmanager
def socket_port() -> Iterator[int]:
    """A loopback port nothing listens on (bound, not listening, while in use)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        yield int(probe.getsockname()[1])


async def test_two_viewers_of_one_remote_session_each_get_every_byte(
    front: Host, hosts: list[Host]
) -> None:
    alpha = hosts[0]
    path = log_of(alpha)
    await wait_for(lambda: len(listed(front)) == 3, timeout=15)
    first, second = await channel_of(front.jupyter), await channel_of(front.jupyter)
    try:
        name = "saga__alpha__work__1"
        await first.send({"type": "subscribe:logs", "sessionName": name, "host": "alpha"})
        initial = await first.receive_log(name, timeout=10)
        assert initial["isInitial"] and initial["host"] == "alpha"
        assert initial["data"] == "started\n" and initial["offset"] == 8
        # The second from byte 3: a remote keeps one stream per session and connection, so
        # this one goes on a lane of its own, from its own offset.
        await second.send(
            {"type": "subscribe:logs", "sessionName": name, "host": "alpha", "offset": 3}
        )
        assert (await second.receive_log(name, timeout=10))["data"] == "rted\n"
        status = await asyncio.to_thread(alpha.jupyter.get, "api/saga/status")
        assert status["clients"] == 2  # the front's lane 0 and one more
        with path.open("a") as file:
            file.write("one more line ✻\n")
        for channel in (first, second):
            frame = await channel.receive_log(name, timeout=10)
            assert frame["data"] == "one more line ✻\n" and not frame["isInitial"]
        second.close()  # its lane closes with its last subscription
        await wait_for(lambda: alpha.jupyter.get("api/saga/status")["clients"] == 1, timeout=10)
        await first.send({"type": "unsubscribe:logs", "sessionName": name, "host": "alpha"})
        await wait_for(lambda: alpha.jupyter.get("api/saga/status")["logStreams"] == 0, timeout=10)
        await first.send({"type": "subscribe:logs", "sessionName": name, "host": "nowhere"})
        refused = await first.receive_log(timeout=10)
        assert refused["type"] == "logs:error" and "nowhere" in refused["error"]
    finally:
        first.close()
        second.close()


def stories_listed(front: Host, route: str = "stories") -> list[tuple[str, Any, bool, str]]:
    """The front server's stories (or epics): (id, host, stale, status) each."""
    found = front.jupyter.get(f"api/saga/{route}")
    return sorted((s["id"], s["host"], s["stale"], s["status"]) for s in found)


async def test_a_remotes_stories_merge_with_ours_and_their_changes_are_pushed(
    tmp_path: Path,
) -> None:
    remote_project, own_project = tmp_path / "app", tmp_path / "own"
    directory = story(remote_project, "docs", "site", {"t1": "pending"})
    epic(remote_project, "site", ["docs"])
    story(own_project, "mine", None, {"t1": "completed"})
    alpha = start_host(tmp_path, "alpha", f"--SagaJupyterApp.project_dirs={remote_project}")
    front = None
    try:
        config = front_config(tmp_path, [remote_of(alpha)])
        own = f"--SagaJupyterApp.project_dirs={own_project}"
        front = await asyncio.to_thread(start_host, tmp_path, "front", config, own)
        await wait_for(lambda: remote_state(front, "alpha")["state"] == "connected", timeout=15)
        await wait_for(lambda: len(stories_listed(front)) == 2, timeout=10)
        assert stories_listed(front) == [
            ("docs", "alpha", False, "pending"),
            ("mine", None, False, "completed"),
        ]
        assert stories_listed(front, "epics") == [("site", "alpha", False, "pending")]
        filtered = front.jupyter.get("api/saga/stories?status=pending")
        assert [(s["id"], s["host"]) for s in filtered] == [("docs", "alpha")]
        assert [s["id"] for s in front.jupyter.get("api/saga/stories?host=")] == ["mine"]
        stories = front.jupyter.get("api/saga/stories?host=alpha")  # alpha's own answer
        assert [(s["id"], s["status"]) for s in stories] == [("docs", "pending")]
        assert front.jupyter.get("api/saga/stories/docs?host=alpha")["id"] == "docs"
        channel = await channel_of(front.jupyter)
        try:
            task(directory, "t1", "in_progress")
            while True:  # bounded by receive's timeout
                frame = await channel.receive(timeout=10)
                if frame["type"] == "stories:updated":
                    break
            assert frame["host"] == "alpha"
            pushed = [(s["id"], s["host"], s["status"]) for s in frame["stories"]]
            assert pushed == [("docs", "alpha", "inProgress")]
        finally:
            channel.close()
        assert ("docs", "alpha", False, "inProgress") in stories_listed(front)  # held at once
        await wait_for(  # the epic's status: fetched again after the frame
            lambda: stories_listed(front, "epics") == [("site", "alpha", False, "inProgress")],
            timeout=10,
        )
        os.kill(alpha.jupyter.pid, signal.SIGSTOP)  # frozen: listed as last seen, stale
        await wait_for(lambda: remote_state(front, "alpha")["state"] == "stale", timeout=15)
        assert stories_listed(front) == [
            ("docs", "alpha", True, "inProgress"),
            ("mine", None, False, "completed"),
        ]
        assert stories_listed(front, "epics") == [("site", "alpha", True, "inProgress")]

        # Changed while it was away: the frame it sent then went nowhere; the front's fetch on
        # reconnecting finds the change and tells its clients.
        task(directory, "t1", "completed")
        channel = await channel_of(front.jupyter)
        try:
            os.kill(alpha.jupyter.pid, signal.SIGCONT)
            while True:  # bounded by receive's timeout
                frame = await channel.receive(timeout=15)
                if frame["type"] == "stories:updated":
                    break
            pushed = [(s["id"], s["host"], s["status"]) for s in frame["stories"]]
            assert (frame["host"], pushed) == ("alpha", [("docs", "alpha", "completed")])
        finally:
            channel.close()
    finally:
        for host in (front, alpha):
            if host is not None:
                stop_host(host)


def test_a_remote_redirecting_elsewhere_does_not_get_our_token_sent_there(tmp_path: Path) -> None:
    # A hostile remote answers every request with a redirect to another server, which notes
    # the Authorization headers it is sent.
    told: list[str | None] = []

    class Elsewhere(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            told.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    elsewhere = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere)
    target = f"http://127.0.0.1:{elsewhere.server_address[1]}/stolen"

    class Redirecting(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", target)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    hostile = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    servers = [elsewhere, hostile]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    token_file = tmp_path / "evil.token"
    token_file.write_text("our-secret-token")
    url = f"http://127.0.0.1:{hostile.server_address[1]}/"
    remotes = [{"name": "evil", "url": url, "token_file": str(token_file)}]
    front = start_host(tmp_path, "front", front_config(tmp_path, remotes))
    try:
        status, body = http_error(
            lambda: front.jupyter.get("api/saga/sessions/saga__e__s__1?host=evil")
        )
        assert told == [], "the remote's redirect was followed with our token"
        assert (status, body["message"]) == (502, "evil: answered a redirect, not followed"
                                             " (is it a saga_jupyter server?)")  # fmt: skip
    finally:
        stop_host(front)
        for server in servers:
            server.shutdown()
            server.server_close()
