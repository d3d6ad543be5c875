"""Every route the extension mounts, every method it implements: authenticated and authorized.

The routes come from the app's own handler list, so a route added later is checked without
anyone remembering to list it here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.auth.authorizer import AllowAllAuthorizer, Authorizer
from jupyter_server.auth.utils import HTTP_METHOD_TO_AUTH_ACTION
from libtmux.server import Server
from tornado.httpclient import HTTPClientError
from tornado.web import RequestHandler
from tornado.websocket import WebSocketHandler

from tests.helpers import Channel, running, saga_config

NAME = "saga__e__auth__1"
LAUNCH = {"epicSlug": "e", "storySlug": "launched", "command": "sleep 600"}
NO_TOKEN = {"Authorization": ""}


class DenySaga(Authorizer):
    """Allows everything but the extension's resource."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return resource != "saga"


class DenySagaWrites(Authorizer):
    """Allows reading the extension's resource, nothing else on it."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return resource != "saga" or action == "read"


@pytest.fixture
def authorizer_class() -> type[Authorizer]:
    return AllowAllAuthorizer


@pytest.fixture
def jp_server_config(
    server: Server, output_dir: Path, authorizer_class: type[Authorizer]
) -> dict[str, Any]:
    config = saga_config(server, output_dir, poll_interval=0.3, allow_control=True)
    config["ServerApp"]["authorizer_class"] = authorizer_class
    return config


def endpoints(saga_app: Any) -> list[tuple[str, str, bool]]:
    """(method, path, is a WebSocket) for every route and every method the extension implements.

    Jupyter's own methods on the base classes (``OPTIONS``, a CORS preflight) are not ours.
    """
    found = []
    for pattern, handler in saga_app.handlers:
        path = re.sub(r"\(\?P<\w+>[^)]*\)", NAME, pattern).lstrip("/")
        for method in RequestHandler.SUPPORTED_METHODS:
            function = getattr(handler, method.lower(), None)
            if getattr(function, "__module__", "").startswith("saga_jupyter."):
                found.append((method, path, issubclass(handler, WebSocketHandler)))
    assert len(found) >= 8, found  # the list is not empty by mistake
    return found


def action(method: str, websocket: bool) -> str:
    return "read" if websocket else HTTP_METHOD_TO_AUTH_ACTION[method]


async def answer(
    jp_fetch: Any, jp_ws_fetch: Any, method: str, path: str, websocket: bool, **headers: str
) -> int:
    """The status a request gets (101 for an opened WebSocket, closed again at once)."""
    try:
        if websocket:
            ws = await jp_ws_fetch(path, headers=headers)
            ws.close()
            return 101
        body = json.dumps(LAUNCH) if method == "POST" else None
        response = await jp_fetch(path, method=method, body=body, headers=headers)
    except HTTPClientError as error:
        return error.code
    return int(response.code)


async def answers(
    jp_fetch: Any, jp_ws_fetch: Any, saga_app: Any, **headers: str
) -> dict[tuple[str, str], int]:
    return {
        (method, path): await answer(jp_fetch, jp_ws_fetch, method, path, websocket, **headers)
        for method, path, websocket in endpoints(saga_app)
    }


async def assert_nothing_was_done(saga_app: Any, server: Server) -> None:
    assert [s.name for s in server.sessions] == [NAME]  # not stopped, nothing launched
    assert saga_app.serverapp.web_app.settings["terminal_manager"].list() == []  # no connect


async def test_every_route_and_method_without_a_token_is_403(
    jp_fetch: Any, jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    await running(saga_app, server, output_dir, NAME, "x\n")
    got = await answers(jp_fetch, jp_ws_fetch, saga_app, **NO_TOKEN)
    assert got == dict.fromkeys(got, 403)
    await assert_nothing_was_done(saga_app, server)


@pytest.mark.parametrize("authorizer_class", [DenySaga])
async def test_an_authorizer_denying_saga_gets_403_everywhere(
    jp_fetch: Any, jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    await running(saga_app, server, output_dir, NAME, "x\n")
    assert (await jp_fetch("api", "status")).code == 200  # the token is good: only saga is denied
    got = await answers(jp_fetch, jp_ws_fetch, saga_app)
    assert got == dict.fromkeys(got, 403)
    await assert_nothing_was_done(saga_app, server)


@pytest.mark.parametrize("authorizer_class", [DenySagaWrites])
async def test_an_authorizer_denying_writes_stops_control_and_keeps_reads(
    jp_fetch: Any, jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    await running(saga_app, server, output_dir, NAME, "x\n")
    expected = {
        (method, path): (403 if action(method, websocket) != "read" else 101 if websocket else 200)
        for method, path, websocket in endpoints(saga_app)
    }
    # Read, then not found: no story has the session's name for an id.
    expected["GET", f"api/saga/stories/{NAME}"] = 404
    assert sorted(key for key, code in expected.items() if code == 403) == [
        ("POST", "api/saga/sessions"),
        ("POST", f"api/saga/sessions/{NAME}/connect"),
        ("POST", f"api/saga/sessions/{NAME}/stop"),
    ]
    assert await answers(jp_fetch, jp_ws_fetch, saga_app) == expected
    await assert_nothing_was_done(saga_app, server)


async def login_cookie(jp_fetch: Any, **headers: str) -> str:
    """The login cookie a token-authenticated request is given, as a ``Cookie`` header.

    Its name holds the request's host: ask with the ``Host`` the cookie is to be used with.
    """
    response = await jp_fetch("api", "saga", "status", headers=headers)
    cookies = [c.split(";", 1)[0] for c in response.headers.get_list("Set-Cookie")]
    login = [c for c in cookies if c.startswith("username-")]
    assert login, cookies
    return login[0]


async def test_cookies_alone_from_another_origin_do_not_open_the_channel(
    jp_fetch: Any, jp_ws_fetch: Any, jp_http_port: int, saga_app: Any
) -> None:
    cookie = await login_cookie(jp_fetch, Host=f"localhost:{jp_http_port}")  # jp_ws_fetch's
    channel = ("api", "saga", "channels")
    with pytest.raises(HTTPClientError) as caught:
        await jp_ws_fetch(
            *channel, headers={**NO_TOKEN, "Cookie": cookie, "Origin": "http://evil.example"}
        )
    assert caught.value.code == 403
    # The same cookie from the server's own origin opens it: the cookie is a valid login.
    own = {**NO_TOKEN, "Cookie": cookie, "Origin": f"http://localhost:{jp_http_port}"}
    opened = Channel(await jp_ws_fetch(*channel, headers=own))
    assert (await opened.receive())["type"] == "sessions:updated"
    opened.close()


async def test_cookies_alone_cannot_write(
    jp_fetch: Any, jp_ws_fetch: Any, saga_app: Any, server: Server, output_dir: Path
) -> None:
    await running(saga_app, server, output_dir, NAME, "x\n")
    cookie = await login_cookie(jp_fetch)
    writes = [(m, p) for m, p, ws in endpoints(saga_app) if action(m, ws) != "read"]
    for method, path in writes:  # a cross-site form post carries cookies but no _xsrf token
        code = await answer(jp_fetch, jp_ws_fetch, method, path, False, **NO_TOKEN, Cookie=cookie)
        assert code == 403, (method, path)
    # The cookie is a valid login: it reads.
    status = await answer(
        jp_fetch, jp_ws_fetch, "GET", "api/saga/status", False, **NO_TOKEN, Cookie=cookie
    )
    assert status == 200
    await assert_nothing_was_done(saga_app, server)
