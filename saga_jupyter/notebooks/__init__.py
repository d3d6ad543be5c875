"""The notebooks that ship in the package, and how the demo puts the dashboard in place.

The demo's JupyterLab serves a directory of its own (its ``root_dir``) holding a copy of
``dashboard.ipynb``: the wheel's copy cannot be opened in place (site-packages may be
read-only, and is no place for checkpoints). The copy is signed with the Jupyter notary of this
machine, as ``jupyter trust`` does, so that it opens trusted; its ``language_info`` is what the
kernel will report, so that starting the kernel leaves it unchanged (not marked unsaved).
"""

from __future__ import annotations

import json
import platform
from importlib.resources import files
from pathlib import Path

DASHBOARD = "dashboard.ipynb"
# What ipykernel reports for this Python (ipykernel.ipkernel.IPythonKernel.language_info).
LANGUAGE_INFO = {
    "name": "python",
    "version": platform.python_version(),
    "mimetype": "text/x-python",
    "codemirror_mode": {"name": "ipython", "version": 3},
    "pygments_lexer": "ipython3",
    "nbconvert_exporter": "python",
    "file_extension": ".py",
}


def dashboard_text() -> str:
    """The dashboard notebook as it ships (JSON text)."""
    return files(__name__).joinpath(DASHBOARD).read_text(encoding="utf-8")


def install_dashboard(directory: Path) -> Path:
    """Write the dashboard notebook into ``directory``, trusted; keep one already there.

    Returns its path. A notebook already there is someone's (a ``--notebook-dir`` of theirs):
    it is neither replaced nor signed.
    """
    path = directory / DASHBOARD
    if path.exists():
        return path
    notebook = json.loads(dashboard_text())
    notebook["metadata"]["language_info"] = LANGUAGE_INFO
    with path.open("x", encoding="utf-8") as file:  # as nbformat writes it
        json.dump(notebook, file, indent=1, sort_keys=True, ensure_ascii=False)
        file.write("\n")
    trust(path)
    return path


def trust(path: Path) -> None:
    """Sign a notebook as ``jupyter trust`` does: Jupyter then opens it trusted on this machine."""
    # Here, not at the top: nbformat (jsonschema and its format checkers) takes seconds to
    # import, and the command line imports this module for every command, `ls` too.
    import nbformat
    from nbformat.sign import NotebookNotary

    # nbformat has no type hints.
    notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    notary = NotebookNotary()  # type: ignore[no-untyped-call]
    try:
        notary.sign(notebook)  # type: ignore[no-untyped-call]
    finally:
        notary.close()  # type: ignore[no-untyped-call]
