"""The Python version check that runs first when the package is imported."""

from __future__ import annotations

import sys

import pytest

from saga_jupyter._python import MINIMUM, check_python


def test_a_supported_python_passes() -> None:
    check_python()  # this one
    check_python(MINIMUM)


@pytest.mark.parametrize("program", ["saga-jupyter", "-m"])
def test_the_command_line_says_why_without_a_traceback(program: str) -> None:
    with pytest.raises(SystemExit) as exited:
        check_python((3, 9, 18), program)
    message = str(exited.value.code)
    assert message.startswith("saga-jupyter needs Python 3.10 or newer; this is Python 3.9.18 (")
    assert sys.executable in message


def test_an_import_says_why() -> None:
    with pytest.raises(ImportError, match=r"needs Python 3\.10 or newer; this is Python 3\.8\.10"):
        check_python((3, 8, 10), "python")
