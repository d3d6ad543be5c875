"""The remotes' stories and epics, merged with this server's own as the sessions are.

Each remote's lists are fetched over REST (``/api/saga/stories`` and ``/epics``) in the
background: when its channel (re)connects, and again after each ``stories:updated`` it sends
(debounced; one fetch at a time per remote; bounded in time and size). Stories a fetch finds
changed (while the remote was away, or first seen) are relayed as a ``stories:updated``.
Requests are answered from what is held, never waiting on a remote; a stale remote's stories
are listed as last fetched with ``"stale": true``. A remote's ``stories:updated`` is relayed to
this server's clients at once, each story stamped with ``host``, and applied to what is held,
so that a client re-reading the list after the frame sees it. The frames go through a callback
given the remote's name, so that ``saga-jupyter hub-service`` relays each only to the people who
may see that server.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Collection, Iterable
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from .remote_errors import CONNECT_TIMEOUT
from .remotes import Remote

FETCH_DELAY = 0.25  # a burst of stories:updated frames becomes one fetch
FETCH_TIMEOUT = 10.0
MAX_BODY = 16 << 20  # a remote's story list (a thousand stories is ~1 MiB)
ROUTES = ("stories", "epics")


def stamp(items: Iterable[Any], host: str | None, stale: bool) -> list[dict[str, Any]]:
    """Story or epic dicts with ``host`` and ``stale`` set (anything else dropped)."""
    return [
        {**item, "host": host, "stale": stale}
        for item in items
        if isinstance(item, dict) and isinstance(item.get("id"), str)
    ]


def by_key(stories: Iterable[dict[str, Any]]) -> dict[tuple[Any, str], dict[str, Any]]:
    """Stories by project and id (a later one of the same key wins)."""
    return {(story.get("project"), story["id"]): story for story in stories}


class RemoteProjects:
    """One remote's stories and epics as last fetched."""

    def __init__(
        self,
        remote: Remote,
        client: AsyncHTTPClient,
        changed: Callable[[], None],
        relay: Callable[[list[dict[str, Any]]], None],
    ) -> None:
        self.remote = remote
        self.lists: dict[str, list[dict[str, Any]]] = {route: [] for route in ROUTES}
        self.version = 0  # counts the changes of its lists
        self._client = client
        self._changed = changed
        self._relay = relay  # stories a fetch found changed, for the clients
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def request(self) -> None:
        """Fetch soon (once more after the fetch under way, if one is)."""
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())
        else:
            self._again = True

    def apply(self, stories: list[dict[str, Any]]) -> None:
        """Hold the stories of a ``stories:updated`` frame until the next fetch says all."""
        held = by_key(self.lists["stories"])
        held.update(by_key(stories))
        self.lists["stories"] = list(held.values())
        self._set_changed()

    def stop(self) -> None:
        """Cancel a fetch under way."""
        if self._task is not None:
            self._task.cancel()

    def _set_changed(self) -> None:
        self.version += 1
        self._changed()

    async def _run(self) -> None:
        while True:
            self._again = False
            await asyncio.sleep(FETCH_DELAY)
            if not self.remote.stale:
                await self._fetch()
            if not self._again:
                return

    async def _fetch(self) -> None:
        remote = self.remote
        found: dict[str, list[dict[str, Any]]] = {}
        for route in ROUTES:
            request = HTTPRequest(
                f"{remote.spec.url}api/saga/{route}",
                headers={"Authorization": f"token {remote.token}"},
                connect_timeout=CONNECT_TIMEOUT,
                request_timeout=FETCH_TIMEOUT,
                follow_redirects=False,
                validate_cert=True,
            )
            try:
                response = await self._client.fetch(request)
                listed = json.loads(response.body)
            except HTTPClientError as error:
                if error.code == 404:  # a saga_jupyter without projects: none
                    found[route] = []
                    continue
                self._failed(route, error)
                return
            except (OSError, ValueError, RecursionError, asyncio.TimeoutError) as error:
                self._failed(route, error)
                return
            found[route] = stamp(
                listed if isinstance(listed, list) else [], remote.spec.name, False
            )
        if found != self.lists:
            # Changed while no frame told (while it was away, say): the clients hear it now.
            held = by_key(self.lists["stories"])
            changed = [s for key, s in by_key(found["stories"]).items() if held.get(key) != s]
            self.lists = found
            self._set_changed()
            if changed:
                self._relay(changed)

    def _failed(self, route: str, error: BaseException) -> None:
        remote = self.remote
        remote.log.warning(
            "saga_jupyter: remote %s: reading its %s failed: %s", remote.spec.name, route, error
        )


class RemoteProjectsSet:
    """Every remote's :class:`RemoteProjects`; the merged lists, encoded once per change."""

    def __init__(self, frames: Callable[[str, bytes], None], log: logging.Logger) -> None:
        self.frames = frames  # a remote's relayed frame, for the clients that may see it
        self.log = log
        self.of: dict[str, RemoteProjects] = {}
        # One client bounding every answer's size, closed at stop.
        self._client = AsyncHTTPClient(force_instance=True, max_body_size=MAX_BODY)
        self._bodies: dict[str, tuple[Any, bytes]] = {}

    def remote_stories(self, remote: Remote, frame: dict[str, Any] | None) -> None:
        """A remote's callback: it connected (``None``) or its stories changed (the frame)."""
        host = remote.spec.name
        held = self.of.get(host)
        if held is None:
            relay = lambda stories: self._relay(host, {"type": "stories:updated"}, stories)  # noqa: E731
            held = self.of[host] = RemoteProjects(remote, self._client, self._dirty, relay)
        stories = None if frame is None else frame.get("stories")
        if frame is not None and isinstance(stories, list):
            stamped = stamp(stories, host, False)
            self._relay(host, frame, stamped)
            held.apply(stamped)
        held.request()

    def _relay(self, host: str, frame: dict[str, Any], stories: list[dict[str, Any]]) -> None:
        relayed = {**frame, "stories": stories, "host": host}
        self.frames(host, json.dumps(relayed).encode())

    def forget(self, host: str) -> None:
        """Drop a remote no longer followed (a JupyterHub server that stopped)."""
        held = self.of.pop(host, None)
        if held is not None:
            held.stop()
            self._dirty()

    def stop(self) -> None:
        """Stop fetching."""
        for held in self.of.values():
            held.stop()
        self._client.close()

    def _dirty(self) -> None:
        self._bodies.clear()

    def merged(
        self, route: str, own: Callable[[], list[dict[str, Any]]], own_version: Any,
        filters: dict[str, str | None], hosts: Collection[str] | None = None,
    ) -> bytes:  # fmt: skip
        """The ``route`` list of this server (``own()``) and of the remotes, filtered, as JSON.

        ``hosts``: only those remotes (none: this server's own only); ``None``: every remote,
        and then, unfiltered, encoded once per change of any of them (or of a staleness).
        """
        unfiltered = hosts is None and all(value is None for value in filters.values())
        version = (own_version, tuple((h.version, h.remote.stale) for h in self.of.values()))
        held = self._bodies.get(route) if unfiltered else None
        if held is not None and held[0] == version:
            return held[1]
        lists = [stamp(own(), None, False)]
        for host, remote_projects in self.of.items():
            if hosts is not None and host not in hosts:
                continue
            stale = remote_projects.remote.stale
            lists.append(
                [
                    {**item, "stale": stale} if stale else item
                    for item in remote_projects.lists[route]
                    if all(want is None or item.get(key) == want for key, want in filters.items())
                ]
            )
        body = json.dumps([item for items in lists for item in items]).encode()
        if unfiltered:
            self._bodies[route] = (version, body)
        return body
