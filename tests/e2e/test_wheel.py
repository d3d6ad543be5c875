"""The wheel on its own: built, installed with ``[lab]`` into a fresh venv, run from elsewhere.

What a person who runs ``pip install 'saga-jupyter[lab]'`` gets: the extension enabled, the
command line, and ``saga-jupyter demo`` opening the dashboard notebook that ships in the wheel,
from a directory that has nothing of this repository. Nothing of the repository's venv or
source is on the path. pip downloads what the wheel needs (its cache makes later runs quick).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server

from tests.helpers import wait_until

pytestmark = [pytest.mark.wheel, pytest.mark.timeout(600)]

REPO = Path(__file__).parents[2]
READY = re.compile(r"(http://127\.0\.0\.1:\d+/)api/saga/sessions\?token=(\w+)")
PIP_TIMEOUT = 480  # seconds: a first run downloads JupyterLab and the rest


def clean_environment(home: Path) -> dict[str, str]:
    """This process's environment without what points at the repository or its venv."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}
        and not name.startswith("JUPYTER")
    }
    env.update(
        HOME=str(home),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_ROOT_USER_ACTION="ignore",
        PATH=os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if ".venv" not in p),
    )
    # pip's download cache is the machine's, not the temporary home's: quick the second time.
    env.setdefault("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
    return env


def run(
    command: list[str], env: dict[str, str], cwd: Path, timeout: float = 120, stderr: bool = False
) -> str:
    """Run a command to its end; its output (and its stderr after it), or fail showing both."""
    result = subprocess.run(
        command,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    return result.stdout + (result.stderr if stderr else "")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, freshly built from the repository (what ships in it checked)."""
    tmp = tmp_path_factory.mktemp("wheel")
    env = clean_environment(tmp / "home")
    dist = tmp / "dist"
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(REPO)],
        env,
        tmp,
        timeout=PIP_TIMEOUT,
    )
    (wheel,) = dist.glob("saga_jupyter-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for shipped in (
        "saga_jupyter/notebooks/dashboard.ipynb",
        "saga_jupyter/widgets/logviewer.js",
        "saga_jupyter/widgets/logviewer.css",
        "saga_jupyter/rest-api.yml",
        "saga_jupyter/py.typed",
    ):
        assert shipped in names
    assert any(
        name.endswith("etc/jupyter/jupyter_server_config.d/saga_jupyter.json") for name in names
    )
    # The JupyterLab extension, prebuilt: no Node.js needed where the wheel is installed.
    labextension = "share/jupyter/labextensions/saga-jupyter/package.json"
    assert any(name.endswith(labextension) for name in names)
    return wheel


@pytest.fixture(scope="module")
def venv(
    wheel: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, dict[str, str]]]:
    """A fresh venv with the freshly built wheel and its ``lab`` extra; and its environment."""
    tmp = tmp_path_factory.mktemp("venv")
    env = clean_environment(tmp / "home")
    root = tmp / "venv"
    run([sys.executable, "-m", "venv", str(root)], env, tmp)
    run(
        [str(root / "bin" / "python"), "-m", "pip", "install", "-q", f"{wheel}[lab]"],
        env,
        tmp,
        timeout=PIP_TIMEOUT,
    )
    yield root, env


def test_the_wheel_carries_its_license_and_the_readme(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (info,) = {name.split("/")[0] for name in archive.namelist() if ".dist-info/" in name}
        metadata = archive.read(f"{info}/METADATA").decode()
        license_text = archive.read(f"{info}/licenses/LICENSE").decode()
    assert license_text == (REPO / "LICENSE").read_text()
    assert license_text.startswith("BSD 3-Clause License\n\nCopyright (c) 2026, saga_jupyter")
    headers, _, description = metadata.partition("\n\n")
    fields = [tuple(line.split(": ", 1)) for line in headers.splitlines()]
    assert ("License-Expression", "BSD-3-Clause") in fields  # PEP 639, what pip and PyPI show
    assert ("License-File", "LICENSE") in fields
    assert ("Description-Content-Type", "text/markdown") in fields
    assert description.strip() == (REPO / "README.md").read_text().strip()  # the long description
    # SAGA's page, the one public page there is to point at (pyproject.toml says why).
    urls = [field[1] for field in fields if field[0] in {"Project-URL", "Home-page"}]
    assert urls == ["SAGA, https://github.com/Roeia1/claude-task-system"]


def test_the_installed_package_is_the_wheels(
    venv: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    root, env = venv
    where = run(
        [str(root / "bin" / "python"), "-c", "import saga_jupyter; print(saga_jupyter.__file__)"],
        env,
        tmp_path,
    )
    assert where.startswith(str(root)) and str(REPO) not in where
    jupyter = str(root / "bin" / "jupyter")
    listed = run([jupyter, "server", "extension", "list"], env, tmp_path, stderr=True)
    extensions = re.sub(r"\x1b\[[0-9;]*m", "", listed)  # its colours
    assert "saga_jupyter enabled" in extensions and "saga_jupyter 0.1.0 OK" in extensions
    listed = run([jupyter, "labextension", "list"], env, tmp_path, stderr=True)
    labextensions = re.sub(r"\x1b\[[0-9;]*m", "", listed)
    assert re.search(r"saga-jupyter v\S+ enabled OK", labextensions), labextensions
    help_all = run([str(root / "bin" / "saga-jupyter"), "server", "--help-all"], env, tmp_path)
    assert "--SagaJupyterApp.output_dir=" in help_all


def test_the_demo_runs_from_the_wheel_in_any_directory(
    venv: tuple[Path, dict[str, str]], server: Server, tmp_path: Path
) -> None:
    root, env = venv
    cwd = tmp_path / "anywhere"
    cwd.mkdir()
    output_dir = tmp_path / "sessions"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        str(root / "bin" / "saga-jupyter"), "demo", "--workers", "2", "--port", str(port),
        "--output-dir", str(output_dir), "--tmux-socket", server.socket_name,
    ]  # fmt: skip
    printed = tmp_path / "printed.txt"
    with printed.open("wb") as out:
        demo = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        ready = wait_until(lambda: READY.search(printed.read_text()), timeout=120, interval=0.2)
        base, token = ready.groups()
        workers = {session.name for session in server.sessions}
        assert len(workers) == 2
        listed = fetch(f"{base}api/saga/sessions?token={token}")
        assert {session["name"] for session in listed} == workers
        # The notebook the page opens comes from the wheel, trusted.
        assert f"{base}lab/tree/dashboard.ipynb?token={token}" in printed.read_text()
        notebook = fetch(f"{base}api/contents/dashboard.ipynb?token={token}")
        assert "saga.Dashboard()" in notebook["content"]["cells"][0]["source"]
        assert notebook["content"]["cells"][0]["metadata"]["trusted"] is True
        with urllib.request.urlopen(f"{base}lab/tree/dashboard.ipynb?token={token}") as page:
            assert page.status == 200 and b"JupyterLab" in page.read()
        # The command line of the same install sees the same sessions.
        saga = str(root / "bin" / "saga-jupyter")
        where = ["--output-dir", str(output_dir), "--tmux-socket", server.socket_name]
        ls = run([saga, "ls", "--json", *where], env, cwd)
        assert {session["name"] for session in json.loads(ls)} == workers
        demo.send_signal(signal.SIGINT)
        assert demo.wait(60) == 0, printed.read_text()
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(30)
            except subprocess.TimeoutExpired:
                demo.kill()
                demo.wait()
    assert not [session.name for session in server.sessions]
    assert list(cwd.iterdir()) == []  # nothing written where it was started


def fetch(url: str) -> Any:
    """GET a JSON document."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())
