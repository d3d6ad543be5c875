"""The one exception hierarchy of saga_jupyter; the server maps it to HTTP status in one place."""

from __future__ import annotations


class SagaError(Exception):
    """Base class of every error saga_jupyter raises on purpose."""


class InvalidSessionName(SagaError, ValueError):
    """A name that is not ``saga__<epic>__<story>__<suffix>`` per the contract."""


class SessionNotFound(SagaError, LookupError):
    """No SAGA session of that name is running or remembered."""


class HostNotFound(SagaError, LookupError):
    """No remote of that name (the ``host`` of a request) in the ``remotes`` trait."""


class TmuxUnavailable(SagaError):
    """tmux cannot be asked: not installed, not answering in time, or failing."""


class InvalidRequest(SagaError, ValueError):
    """A request that cannot be carried out as given (a bad launch body, cwd or repository)."""


class TooManySessions(SagaError):
    """Launching would exceed ``max_sessions`` running SAGA sessions."""

    code = "MAX_SESSIONS"


class SessionNotRunning(SagaError):
    """The session exists but has ended: it cannot be attached to."""


class ControlDisabled(SagaError):
    """Stop, attach and launch are off unless the operator enables them (``allow_control``)."""


class StoryNotFound(SagaError, LookupError):
    """No story of that id in the projects watched (or in the project named)."""


class AmbiguousStory(SagaError):
    """Two projects hold a story of that id: the project must be named (``?project=``)."""


class AmbiguousSessionName(SagaError, LookupError):
    """What a person typed for a session fits several: ``candidates`` names them."""

    def __init__(self, message: str, candidates: list[str]) -> None:
        super().__init__(message)
        self.candidates = candidates
