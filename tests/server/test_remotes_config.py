"""The ``remotes`` trait: checked when set, so a wrong entry stops the server with why."""

from __future__ import annotations

import pytest
from traitlets import TraitError

from saga_jupyter.server.app import SagaJupyterApp


def test_a_remote_over_plain_http_elsewhere_than_loopback_is_refused() -> None:
    app = SagaJupyterApp()
    with pytest.raises(TraitError, match="loopback only"):
        app.remotes = [{"name": "gpu", "url": "http://gpu.example/", "token_file": "/t"}]
    with pytest.raises(TraitError, match="used twice"):
        app.remotes = [
            {"name": "gpu", "url": "https://a/", "token_file": "/t"},
            {"name": "gpu", "url": "https://b/", "token_file": "/t"},
        ]
    app.remotes = [{"name": "gpu", "url": "https://gpu.example/", "token_file": "/t"}]
    assert app.remotes[0]["name"] == "gpu"


def test_the_help_says_how_to_write_one() -> None:
    help_text = SagaJupyterApp.class_traits()["remotes"].help
    assert "token_file" in help_text and "loopback" in help_text
