"""SagaJupyterApp's traits: the contract's defaults, environment variables, bounds."""

from __future__ import annotations

import pytest
from traitlets import TraitError

from saga_jupyter.server.app import SagaJupyterApp


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAGA_SESSIONS_DIR", raising=False)
    monkeypatch.delenv("SAGA_TMUX_SOCKET", raising=False)
    app = SagaJupyterApp()
    assert app.output_dir == "/tmp/saga-sessions"
    assert app.tmux_socket_name is None
    assert (app.poll_interval, app.initial_log_bytes) == (3.0, 262144)
    assert (app.allow_control, app.max_sessions) == (False, 4)
    assert app.max_unsent_bytes == 16 << 20
    assert app.max_unsent_bytes_total == 256 << 20
    assert app.state_file.endswith("sessions.json")


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAGA_SESSIONS_DIR", "/srv/out")
    monkeypatch.setenv("SAGA_TMUX_SOCKET", "agents")
    app = SagaJupyterApp()
    assert (app.output_dir, app.tmux_socket_name) == ("/srv/out", "agents")


@pytest.mark.parametrize(
    ("trait", "value"),
    [("poll_interval", 0), ("poll_interval", -1), ("max_sessions", 0), ("initial_log_bytes", 0),
     ("max_unsent_bytes", 0), ("max_unsent_bytes_total", 0), ("tmux_socket_name", "../sock")],
)  # fmt: skip
def test_bounds(trait: str, value: object) -> None:
    with pytest.raises(TraitError):
        setattr(SagaJupyterApp(), trait, value)
