"""The Python version check, run first on import: a clear message, not a syntax error later.

Written for old Pythons too: nothing here needs more than Python 3.7.
"""

from __future__ import annotations

import os
import sys

MINIMUM = (3, 10)


def check_python(version: tuple[int, ...] | None = None, program: str | None = None) -> None:
    """Raise when this Python is older than :data:`MINIMUM`.

    On the command line (``saga-jupyter``, ``python -m``) a ``SystemExit`` with the message,
    without a traceback; elsewhere (``import saga_jupyter``) an ``ImportError``.

    >>> check_python((3, 12, 1))
    >>> check_python((3, 9, 18), "saga-jupyter")
    Traceback (most recent call last):
    SystemExit: saga-jupyter needs Python 3.10 or newer; this is Python 3.9.18 ...
    """
    running = tuple(sys.version_info[:3]) if version is None else version
    if running >= MINIMUM:
        return
    if program is None:
        program = os.path.basename(sys.argv[0]) if sys.argv else ""
    message = (
        "saga-jupyter needs Python {}.{} or newer; this is Python {} ({}). "
        "Install it with a newer Python, e.g. `python3.12 -m pip install saga-jupyter`."
    ).format(*MINIMUM, ".".join(str(part) for part in running), sys.executable)
    if program in ("saga-jupyter", "-m"):
        raise SystemExit(message)
    raise ImportError(message)
