"""Without allow_control (the default) every control route is 403 and nothing happens."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server
from tornado.httpclient import HTTPClientError

from tests.helpers import saga_config, start_worker, wait_for


@pytest.fixture
def jp_server_config(server: Server, output_dir: Path) -> dict[str, Any]:
    return saga_config(server, output_dir, poll_interval=0.3)


async def test_control_is_off_by_default(
    jp_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    name = "saga__e__s__1"
    start_worker(server, name)
    await wait_for(lambda: saga_app.poller.by_name.get(name), timeout=3)
    launch = {"epicSlug": "e", "storySlug": "s", "command": "touch /tmp/should-not-exist"}
    for parts, body in (
        (("sessions",), json.dumps(launch)),
        (("sessions",), "{not json"),  # refused before the body is read
        (("sessions", name, "stop"), "{}"),
        (("sessions", name, "connect"), "{}"),
    ):
        with pytest.raises(HTTPClientError) as caught:
            await jp_fetch("api", "saga", *parts, method="POST", body=body)
        assert caught.value.code == 403
        answer = json.loads(caught.value.response.body)
        assert "allow_control" in answer["message"]
    assert [s.name for s in server.sessions] == [name]
    assert list(output_dir.iterdir()) == []
    status = json.loads((await jp_fetch("api", "saga", "status")).body)
    assert status["allowControl"] is False  # the JupyterLab panel hides stop and attach
    assert not Path("/tmp/should-not-exist").exists()


@pytest.mark.parametrize("parts", [("sessions",), ("sessions", "saga__e__s__1", "stop")])
async def test_control_routes_need_a_token(
    jp_fetch: Any, saga_app: Any, parts: tuple[str, ...]
) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(
            "api", "saga", *parts, method="POST", body="{}", headers={"Authorization": ""}
        )
    assert caught.value.code == 403
