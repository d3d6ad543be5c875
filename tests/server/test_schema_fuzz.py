"""Schemathesis over rest-api.yml against a real server: no 5xx, every answer as documented.

The server runs in its own process (pytest-jupyter's runs on this thread's loop, which a
blocking client would stall). It has allow_control on with max_sessions 1 and one running
session that no generated case names: a launch the schema allows meets the limit (409) instead
of starting workers. The name in rest-api.yml's examples runs, so examples reach the 200s (and
stop, fuzzed before connect, ends it: connect meets a completed session, 409).
"""

from __future__ import annotations

import json
import os
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from libtmux.server import Server
from schemathesis.specs.openapi.checks import positive_data_acceptance

import saga_jupyter
from tests.helpers import JupyterProcess, start_worker
from tests.sagaproject import epic, story

SPEC = Path(saga_jupyter.__file__).parent / "rest-api.yml"
RUNNING = "saga__auth__login-form__4242"  # the spec's example name: running
COMPLETED = "saga__auth__login-form__4241"
STORY = "login-form"  # the spec's example story id
GUARD = "saga__fuzz-guard__holds-the-limit__987654321"  # keeps launch at max_sessions

# Loaded at import (the spec is a file); the server's address is given to each call.
schema = schemathesis.openapi.from_path(SPEC)
# Without a token Jupyter answers 403 (the contract; tests/server/test_auth.py checks it for
# every route); this check insists on 401.
schema.config.checks.update(excluded_check_names=["missing_required_header"])
# The server's token: known at import, as schemathesis asks for it while collecting.
TOKEN = secrets.token_hex(16)


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterProcess]:
    root = tmp_path_factory.mktemp("schema-fuzz")
    output_dir = root / "sessions"
    output_dir.mkdir()
    tmux = Server(socket_name=f"saga-fuzz-{secrets.token_hex(4)}")
    start_worker(tmux, GUARD)
    start_worker(tmux, RUNNING, output_dir)
    (output_dir / f"{COMPLETED}.out").write_text("done ✻\n" * 1000)
    # A SAGA project whose story is the spec's example id: examples reach the 200s.
    project = root / "project"
    epic(project, "auth", [STORY])
    story(project, STORY, "auth", {"t1": "in_progress"}, journal="## Blocker: A key\n")
    process = JupyterProcess(
        root,
        f"--SagaJupyterApp.output_dir={output_dir}",
        f"--SagaJupyterApp.tmux_socket_name={tmux.socket_name}",
        f"--SagaJupyterApp.state_file={root / 'state.json'}",
        "--SagaJupyterApp.poll_interval=0.3",
        "--SagaJupyterApp.allow_control=True",
        "--SagaJupyterApp.max_sessions=1",
        f"--SagaJupyterApp.project_dirs={project}",
        token=TOKEN,
    )
    try:
        yield process
    finally:
        process.stop()
        tmux.kill()
        # tmux leaves its socket file behind when killed.
        tmpdir = Path(os.environ.get("TMUX_TMPDIR", "/tmp"))
        (tmpdir / f"tmux-{os.geteuid()}" / str(tmux.socket_name)).unlink(missing_ok=True)


@schema.auth()
class JupyterToken:
    """The server's token where the scheme wants it; cases testing its absence go without."""

    def get(self, case: Any, context: Any) -> str:
        return TOKEN

    def set(self, case: Any, token: str, context: Any) -> None:
        case.headers["Authorization"] = f"token {token}"


@schema.parametrize()
@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_is_documented(case: Any, jupyter: JupyterProcess) -> None:
    excluded = []
    if case.method == "POST" and isinstance(case.body, dict) and "cwd" in case.body:
        # Whether cwd names an existing directory no schema can say: a 400 is its answer.
        excluded.append(positive_data_acceptance)
    case.call_and_validate(base_url=jupyter.url.rstrip("/"), excluded_checks=excluded)


# --- what the fuzzer found, pinned: each failed before its fix --------------------------------


def call(jupyter: JupyterProcess, method: str, path: str, body: str | None = None) -> Any:
    """One request with the token: the response, whatever its status."""
    request = urllib.request.Request(
        jupyter.url + path,
        data=None if body is None else body.encode(),
        method=method,
        headers={"Authorization": f"token {jupyter.token}"},
    )
    try:
        return urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as error:
        return error


def test_an_empty_log_range_is_still_text(jupyter: JupyterProcess) -> None:
    for query in ("length=0", f"offset={1 << 40}"):
        response = call(jupyter, "GET", f"api/saga/sessions/{RUNNING}/log?{query}")
        assert response.status == 200 and response.read() == b""
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"  # was JSON


@pytest.mark.parametrize("method", ["DELETE", "PUT", "TRACE"])
def test_a_405_says_which_methods_there_are(jupyter: JupyterProcess, method: str) -> None:
    for path, allowed in (
        ("api/saga/sessions", {"GET", "POST", "OPTIONS"}),
        (f"api/saga/sessions/{RUNNING}/stop", {"POST", "OPTIONS"}),
        ("api/saga/status", {"GET", "OPTIONS"}),
    ):
        response = call(jupyter, method, path, body="" if method == "PUT" else None)
        assert response.status == 405
        assert set(response.headers["Allow"].split(", ")) == allowed


@pytest.mark.parametrize(
    "cwd",
    [
        "~\ud800",  # a lone surrogate (JSON writes it "\\ud800"): no path can encode it
        "/tmp/\udc80",
        "~no-such-user-saga-fuzz",  # expanduser: RuntimeError
    ],
)
def test_a_launch_cwd_that_names_no_directory_is_400(jupyter: JupyterProcess, cwd: str) -> None:
    body = json.dumps({"epicSlug": "e", "storySlug": "s", "command": "true", "cwd": cwd})
    response = call(jupyter, "POST", "api/saga/sessions", body)
    answer = json.loads(response.read())
    assert response.status == 400, answer
