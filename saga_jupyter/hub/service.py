"""``saga-jupyter hub-service``: every running single-user server of a JupyterHub, one view.

Runs as a Hub-managed service. Every few seconds it asks the Hub's REST API for the running
servers (its token needs ``list:users`` and ``read:servers``) and follows each one's channel
through the Hub's proxy with its own token (``access:servers``), as a server follows its
``remotes`` (:mod:`saga_jupyter.server.remotes`), their stories and epics with them
(:mod:`saga_jupyter.server.remote_projects`). It serves the merged sessions, stories and epics,
status, the pass-through routes and the channel at ``/services/<name>/api/saga/...`` behind Hub
OAuth: a person sees exactly the servers their own scopes let them access (``access:servers``
with its filters, checked by the Hub's own :func:`check_scopes`), and only their stories.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from typing import Any

from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated, check_scopes
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.ioloop import IOLoop
from tornado.websocket import WebSocketHandler

from ..core.hosts import RemoteSpec, matches, merge
from ..server.federation import pass_through
from ..server.remote_projects import RemoteProjectsSet
from ..server.remotes import Proxied, Remote

log = logging.getLogger("saga_jupyter.hub")
DISCOVER_EVERY = 5.0  # seconds between two asks of the Hub for its running servers


class HubHosts:
    """The running single-user servers, each a :class:`Remote` named ``user`` or ``user/server``."""

    def __init__(self, api_url: str, token: str, proxy_url: str) -> None:
        self.api_url = api_url.rstrip("/") + "/"
        self.token = token
        self.proxy_url = proxy_url.rstrip("/")
        self.remotes: dict[str, Remote] = {}
        self.scope_of: dict[str, str] = {}  # host -> the access:servers scope it needs
        self.clients: set[ChannelHandler] = set()
        self.projects = RemoteProjectsSet(self.relay, log)

    async def discover(self) -> None:
        """Follow every running server and only those (one ask of the Hub)."""
        request = HTTPRequest(
            self.api_url + "users?state=active",
            headers={"Authorization": f"token {self.token}"},
            request_timeout=30,
        )
        response = await AsyncHTTPClient().fetch(request)
        found: dict[str, tuple[str, str]] = {}
        for user in json.loads(response.body):
            for server_name, server in (user.get("servers") or {}).items():
                if server.get("ready") and server.get("url"):
                    host = user["name"] + (f"/{server_name}" if server_name else "")
                    scope = f"access:servers!server={user['name']}/{server_name}"
                    found[host] = (self.proxy_url + server["url"], scope)
        for host in set(self.remotes) - set(found):
            self.remotes.pop(host).stop()
            self.projects.forget(host)
            self.changed()
        for host, (url, scope) in found.items():
            if host not in self.remotes:
                spec = RemoteSpec(host, url, "(the service's token)")
                remote = Remote(spec, self.changed, log, self.projects.remote_stories)
                self.remotes[host], self.scope_of[host] = remote, scope
                remote.start(self.token)

    async def run(self) -> None:
        """Discover forever; a Hub that fails to answer is asked again next time."""
        while True:
            try:
                await self.discover()
            except Exception:  # the Hub restarting: keep what we follow, ask again
                log.exception("saga hub-service: asking the Hub for its servers failed")
            await asyncio.sleep(DISCOVER_EVERY)

    def allowed(self, user: dict[str, Any]) -> list[str]:
        """The hosts whose server ``user``'s scopes let them access."""
        return [host for host in self.remotes if self.may_access(user, host)]

    def may_access(self, user: dict[str, Any], host: str) -> bool:
        """Whether ``user``'s scopes let them access ``host``'s server."""
        return bool(check_scopes({self.scope_of[host]}, set(user.get("scopes") or [])))

    def sessions(self, hosts: list[str]) -> list[dict[str, Any]]:
        """The merged list of ``hosts``."""
        return merge([self.remotes[host].sessions for host in hosts])

    def changed(self, urgent: bool = False) -> None:
        """A server's list changed: every channel client gets its own view again."""
        for client in list(self.clients):
            client.send_sessions()

    def relay(self, host: str, frame: bytes) -> None:
        """A server's ``stories:updated``: to the channel clients who may access that server."""
        for client in list(self.clients):
            if self.may_access(client.current_user, host):
                client.write_frame(frame)


class HubHandler(HubOAuthenticated, web.RequestHandler):  # type: ignore[misc]
    """A route of the service: Hub OAuth, JSON errors."""

    @property
    def hosts(self) -> HubHosts:
        """The servers this service follows."""
        hosts: HubHosts = self.settings["saga_hosts"]
        return hosts

    def allowed_remote(self, host: str | None) -> Remote:
        """The remote ``host`` if the person may access it; else 404, as if it did not exist."""
        if host is None or host not in self.hosts.allowed(self.current_user):
            raise web.HTTPError(404, f"no host named {str(host)[:64]!r}", reason="Host not found")
        return self.hosts.remotes[host]

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """``{"error", "message"}`` as the extension answers."""
        error = kwargs.get("exc_info", (None, None, None))[1]
        message = error.log_message if isinstance(error, web.HTTPError) else None
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": self._reason, "message": message or self._reason}))


class SessionsHandler(HubHandler):
    """``GET api/saga/sessions``: the sessions of every server the person may access."""

    @web.authenticated
    def get(self) -> None:
        """The merged list, with the extension's filters and ``?host=``."""
        hosts = self.hosts.allowed(self.current_user)
        host = self.get_query_argument("host", None)
        if host is not None:
            self.allowed_remote(host)
            hosts = [host]
        filters = {
            key: self.get_query_argument(key, None)
            for key in ("status", "epicSlug", "storySlug", "outcome")
        }
        found = [s for s in self.hosts.sessions(hosts) if matches(s, filters)]
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(found))


class ProjectsHandler(HubHandler):
    """``GET api/saga/stories`` and ``epics``: those of every server the person may access."""

    @web.authenticated
    async def get(self, route: str) -> None:
        """The merged list, with the extension's filters; ``?host=``: that server's answer."""
        host = self.get_query_argument("host", None)
        if host is not None:
            await pass_through(self, self.allowed_remote(host), "api/saga/" + route)
            return
        keys = ("epic", "status", "project") if route == "stories" else ()
        filters = {key: self.get_query_argument(key, None) for key in keys}
        allowed = self.hosts.allowed(self.current_user)
        projects = self.hosts.projects  # the service has no stories of its own
        self.set_header("Content-Type", "application/json")
        self.finish(projects.merged(route, lambda: [], None, filters, allowed))


class StoryHandler(HubHandler):
    """``GET api/saga/stories/{id}?host=``: one story, from its server."""

    @web.authenticated
    async def get(self, path: str) -> None:
        """The story in full."""
        remote = self.allowed_remote(self.get_query_argument("host", None))
        await pass_through(self, remote, "api/saga/stories/" + path)


class StatusHandler(HubHandler):
    """``GET api/saga/status``: the state of every server the person may access."""

    @web.authenticated
    def get(self) -> None:
        """``{"remotes": [...]}``."""
        remotes = [self.hosts.remotes[h].status() for h in self.hosts.allowed(self.current_user)]
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"remotes": remotes, "hub": True}))


class PassThroughHandler(HubHandler):
    """Detail, log, stop, connect: to the session's server, with ``?host=`` required."""

    @web.authenticated
    async def get(self, path: str) -> None:
        """Detail or log."""
        remote = self.allowed_remote(self.get_query_argument("host", None))
        await pass_through(self, remote, "api/saga/sessions/" + path)

    @web.authenticated
    async def post(self, path: str) -> None:
        """Stop or connect: the server's own rules decide."""
        remote = self.allowed_remote(self.get_query_argument("host", None))
        await pass_through(self, remote, "api/saga/sessions/" + path)


class ChannelHandler(HubOAuthenticated, WebSocketHandler):  # type: ignore[misc]
    """The channel: the person's merged list, and remote logs by ``host``."""

    @property
    def hosts(self) -> HubHosts:
        """The servers this service follows."""
        hosts: HubHosts = self.settings["saga_hosts"]
        return hosts

    async def get(self, *args: Any, **kwargs: Any) -> None:
        """Only a person the Hub knows: else 403 before the upgrade."""
        if self.current_user is None:
            raise web.HTTPError(403)
        await super().get(*args, **kwargs)

    def open(self, *args: str, **kwargs: str) -> None:
        """Register and send the list."""
        self.hosts.clients.add(self)
        self.send_sessions()

    def on_close(self) -> None:
        """Release every subscription."""
        self.hosts.clients.discard(self)
        for remote in self.hosts.remotes.values():
            remote.client_gone(self)

    def send_sessions(self) -> None:
        """Send the list of the servers this person may access."""
        sessions = self.hosts.sessions(self.hosts.allowed(self.current_user))
        frame = {"type": "sessions:updated", "total": len(sessions), "sessions": sessions}
        self.write_frame(json.dumps(frame).encode())

    def write_frame(self, frame: bytes) -> asyncio.Future[None] | None:
        """Write a frame's JSON; ``None`` once closed."""
        if self.ws_connection is None or self.ws_connection.is_closing():
            return None
        return self.write_message(frame.decode())

    async def send_frame(self, frame: dict[str, Any]) -> bool:
        """Write a frame; ``False`` once closed."""
        return self.write_frame(json.dumps(frame).encode()) is not None

    async def on_message(self, message: str | bytes) -> None:
        """``ping``, ``subscribe:logs`` and ``unsubscribe:logs`` with a ``host``."""
        try:
            frame = json.loads(message)
            kind, host, name = frame["type"], frame.get("host"), frame.get("sessionName")
        except (ValueError, TypeError, KeyError, RecursionError):
            await self.send_frame({"type": "error", "error": "a JSON object with a type"})
            return
        if kind == "ping":
            await self.send_frame({"type": "pong"})
            return
        if host not in self.hosts.allowed(self.current_user) or not isinstance(name, str):
            error = {"type": "logs:error", "sessionName": str(name)[:200], "host": host}
            await self.send_frame({**error, "error": f"no host named {str(host)[:64]!r}"})
            return
        remote = self.hosts.remotes[host]
        remote.unsubscribe(self, name)
        if kind == "subscribe:logs":
            offset = frame.get("offset") if isinstance(frame.get("offset"), int) else None
            view = frame.get("view") if frame.get("view") in ("raw", "transcript") else "raw"
            remote.subscribe(Proxied(self, name, view, offset))


def make_app(hosts: HubHosts, prefix: str) -> web.Application:
    """The service's routes under its prefix (``/services/<name>/``)."""
    api = prefix + "api/saga/"
    return web.Application(
        [
            (prefix + "oauth_callback", HubOAuthCallbackHandler),
            (api + "sessions", SessionsHandler),
            (api + "sessions/(.+)", PassThroughHandler),
            (api + "(stories|epics)", ProjectsHandler),
            (api + "stories/(.+)", StoryHandler),
            (api + "status", StatusHandler),
            (api + "channels", ChannelHandler),
        ],
        cookie_secret=os.urandom(32),
        saga_hosts=hosts,
    )


def main(proxy_url: str | None = None) -> int:
    """Run the service with the environment the Hub gives a managed service."""
    logging.basicConfig(level=logging.INFO)
    token, api_url = os.environ.get("JUPYTERHUB_API_TOKEN"), os.environ.get("JUPYTERHUB_API_URL")
    if not token or not api_url:
        print(
            "saga-jupyter hub-service: run it as a JupyterHub service (c.JupyterHub.services, "
            "see the README's 'Under JupyterHub'): JUPYTERHUB_API_TOKEN and JUPYTERHUB_API_URL "
            "are not set",
            file=sys.stderr,
        )
        return 2
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/saga/")
    service_url = os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:10102")
    proxy = proxy_url or os.environ.get("SAGA_HUB_PROXY_URL") or "http://127.0.0.1:8000"
    hosts = HubHosts(api_url, token, proxy)
    app = make_app(hosts, prefix)
    port = int(service_url.rsplit(":", 1)[1].split("/")[0])
    app.listen(port, address="127.0.0.1")
    loop = IOLoop.current()
    loop.add_callback(hosts.run)
    loop.start()
    return 0
