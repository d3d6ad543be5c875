"""Why a remote could not be reached, in words a person can act on."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl

from tornado.httpclient import HTTPClientError

from ..core.hosts import RemoteSpec

CONNECT_TIMEOUT = 5.0
CHANNEL_PATH = "api/saga/channels"


def describe(error: BaseException, spec: RemoteSpec) -> tuple[str, bool]:
    """Why connecting failed, in words a person can act on, and whether retrying soon is moot."""
    url = spec.url
    if isinstance(error, HTTPClientError) and error.code != 599:
        if error.code in (401, 403):
            return (
                f"token refused ({error.code}): check that token_file {spec.token_file} holds "
                f"a valid token of {url}",
                True,
            )
        if error.code == 404:
            return f"{url} answered 404 for {CHANNEL_PATH}: is saga_jupyter enabled there?", True
        return f"{url} answered {error.code} {error.message}", True
    if isinstance(error, ConnectionRefusedError):
        why = f"nothing listens at {url} (connection refused): is its Jupyter server running?"
        return why, True
    if isinstance(error, socket.gaierror):
        return f"cannot resolve the host of {url}: {error.strerror}", True
    if isinstance(error, ssl.SSLError):
        return f"TLS with {url} failed: {error} (its certificate must be valid for that name)", True
    if isinstance(error, asyncio.TimeoutError | TimeoutError) or (
        isinstance(error, HTTPClientError) and error.code == 599
    ):
        return f"{url} did not answer within {CONNECT_TIMEOUT:.0f} s: frozen or overloaded?", False
    if isinstance(error, OSError):
        return f"cannot reach {url}: {error.strerror or error}", False
    with contextlib.suppress(Exception):
        return f"cannot connect to {url}: {type(error).__name__}: {error}", False
    return f"cannot connect to {url}", False
