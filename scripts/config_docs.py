"""The README's Configuration table, made from the traits' ``help=`` so that it cannot drift.

    .venv/bin/python scripts/config_docs.py          # rewrite the table in README.md
    .venv/bin/python scripts/config_docs.py --check  # exit status 1 when it is out of date

Each ``config=True`` trait that ``SagaJupyterApp`` defines is a row: its name, its default (the
help's "Default: ..." sentence when it has one, else the trait's default value) and the rest of
its help. The table sits between the two markers below; nothing else in the README is touched.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from traitlets import TraitType

REPO = Path(__file__).parents[1]
README = REPO / "README.md"
BEGIN = "<!-- configuration: made by scripts/config_docs.py from the traits' help; edit those -->"
END = "<!-- end of configuration -->"
DEFAULT = re.compile(r"\s*Default: (?P<default>.+?)\.?$", re.DOTALL)


def traits() -> list[TraitType[object, object]]:
    """The configurable traits ``SagaJupyterApp`` defines itself, in the order it defines them."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))  # this checkout's package, whatever the venv has installed
    from saga_jupyter.server.app import SagaJupyterApp

    found = []
    for value in vars(SagaJupyterApp).values():
        if isinstance(value, TraitType) and value.metadata.get("config"):
            found.append(value)
    return found


def row(trait: TraitType[object, object]) -> str:
    """One table row: `name` | default | meaning."""
    meaning = " ".join(trait.help.split())
    match = DEFAULT.search(meaning)
    if match is not None:
        default = match["default"]
        meaning = meaning[: match.start()]
    else:
        default = f"`{trait.default_value_repr()}`"
    return f"| `{trait.name}` | {escape(default)} | {escape(meaning)} |"


def escape(text: str) -> str:
    """Markdown table cell text: pipes and angle brackets escaped, $VARIABLES as code."""
    text = text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"(\$[A-Z_]+)", r"`\1`", text)


def table() -> str:
    """The whole generated block, markers included."""
    lines = [BEGIN, "| trait | default | meaning |", "|---|---|---|", *map(row, traits()), END]
    return "\n".join(lines)


def updated(readme: str) -> str:
    """The README with its table replaced by a fresh one."""
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    return readme[:start] + table() + readme[end:]


def main(argv: list[str] | None = None) -> int:
    """Rewrite the README's table, or with ``--check`` say whether it is up to date."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; 1 when out of date")
    args = parser.parse_args(argv)
    readme = README.read_text(encoding="utf-8")
    fresh = updated(readme)
    if args.check:
        if fresh != readme:
            print(
                f"README.md's Configuration table is out of date: run {__file__}", file=sys.stderr
            )
            return 1
        return 0
    README.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
