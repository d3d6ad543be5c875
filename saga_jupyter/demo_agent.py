"""What a demo worker writes: SAGA's format around a coding agent's stream, at a human pace.

``saga implement <story> --attached --stream`` prints a header, cycles between ``--- Worker <n>
started ---`` and ``--- Worker <n> result: ... ---`` with ``[Tool: ...]`` markers in the agent's
ANSI-coloured, carriage-return-animated stream, and the loop's result as JSON (see
:mod:`saga_jupyter.core.saga.worker`). :class:`Agent` makes that as timed events.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from .core.saga.names import name_from_output_file, parse_name

RESET, BOLD, DIM, ITALIC = "\x1b[0m", "\x1b[1m", "\x1b[2m", "\x1b[3m"
RED, GREEN, YELLOW, CYAN, ORANGE = "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[36m", "\x1b[38;5;208m"

Event = tuple[str, float]  # text to append, then seconds to wait


class Story(NamedTuple):
    """What one demo worker pretends to implement, and how its loop ends (``FINISH`` ...)."""

    epic: str
    story: str
    files: tuple[str, ...]
    test_command: str
    outcome: str = "FINISH"
    blocker: str | None = None


STORIES = (
    Story("auth", "login-form", ("src/auth/LoginForm.tsx", "src/auth/login.ts",
          "src/auth/session.ts", "tests/auth/login.test.ts"), "npm test -- auth/login"),
    Story("billing", "invoice-pdf", ("src/billing/invoice.py", "src/billing/pdf/render.py",
          "templates/invoice.html", "tests/billing/test_invoice_pdf.py"),
          "pytest tests/billing -q"),
    Story("search", "ranking", ("src/search/rank.rs", "src/search/bm25.rs",
          "src/search/index.rs", "benches/ranking.rs"), "cargo test -p search ranking",
          "BLOCKED", "The story does not say whether freshness may outrank relevance: "
          "which should win when they disagree?"),
    Story("auth", "password-reset", ("src/auth/reset.ts", "src/mail/templates/reset.html",
          "api/routes/password.ts", "tests/auth/reset.test.ts"), "npm test -- auth/reset",
          "ERROR"),
    Story("billing", "refunds", ("src/billing/refunds.py", "src/billing/stripe_client.py",
          "migrations/0042_refunds.sql", "tests/billing/test_refunds.py"),
          "pytest tests/billing/test_refunds.py -q"),
    Story("search", "typo-tolerance", ("src/search/fuzzy.rs", "src/search/query.rs",
          "tests/typo.rs"), "cargo test -p search typo"),
)  # fmt: skip
STORY_BY_SLUGS = {(story.epic, story.story): story for story in STORIES}

EDITS = {
    ".ts": [
        ("const user = await fetchUser(id)", "const user = await fetchUser(id, { signal })"),
        ("if (!email) return", "if (!isValidEmail(email)) return setError('Enter a valid email')"),
        ("export function submit(form) {", "export async function submit(form: FormData) {"),
    ],
    ".tsx": [
        ('<button type="submit">Log in</button>', '<button type="submit" disabled={pending}>'
         "Log in</button>"),
        ('<input name="email" />', '<input name="email" type="email" autoComplete="username" />'),
    ],
    ".html": [
        ('<a href="{{ link }}">Reset</a>', '<a href="{{ link }}">Reset your password</a>'),
        ("<td>{{ line.amount }}</td>", '<td class="num">{{ line.amount | money }}</td>'),
    ],
    ".sql": [
        ("amount INTEGER NOT NULL,", "amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),"),
        ("CREATE INDEX ON refunds (charge_id);", "CREATE UNIQUE INDEX ON refunds (charge_id, "
         "idempotency_key);"),
    ],
    ".py": [
        ("total = sum(line.amount for line in lines)", "total = sum(line.amount for line in lines)"
         " or Decimal(0)"),
        ("def refund(charge):", "def refund(charge: Charge, amount: Decimal | None = None):"),
        ("return render(template, invoice)", "return render(template, invoice, locale=locale)"),
    ],
    ".rs": [
        ("let score = tf * idf;", "let score = idf * (tf * (K1 + 1.0)) / (tf + K1 * norm);"),
        ("fn distance(a: &str, b: &str) -> usize {", "fn distance(a: &str, b: &str, max: usize)"
         " -> Option<usize> {"),
        ("results.sort_by(|a, b| b.score.cmp(&a.score));", "results.sort_by(|a, b| b.score"
         ".total_cmp(&a.score));"),
    ],
}  # fmt: skip
THOUGHTS = [
    "{file} owns this behaviour; reading it before changing anything.",
    "The {story} acceptance criteria mention the error path, so the tests need a failing case.",
    "Two call sites use the old signature; updating both keeps the change small.",
    "The existing helper almost fits: extending it beats adding a second one.",
    "Checking how {file} is tested before touching it.",
]


class Agent:
    """Generates one worker's output as events, paced and varied by ``rng``."""

    def __init__(self, story: Story, rng: random.Random) -> None:
        self.story = story
        self.rng = rng
        self.edited: set[str] = set()
        self.tests = rng.randint(12, 40)

    def line(self, text: str, slow: bool = False) -> Event:
        """A full line, then a human-paced pause."""
        return text + "\n", self.rng.uniform(0.8, 2.2) if slow else self.rng.uniform(0.15, 0.6)

    def progress(self, label: str, width: int = 24) -> Iterator[Event]:
        """A bar redrawn in place (carriage returns), ending with a newline."""
        done = 0
        while done < 100:
            done = min(100, done + self.rng.randint(3, 13))
            bar = "#" * (done * width // 100)
            yield (
                f"\r  {DIM}⎿{RESET}  {label} [{bar:<{width}}] {done:3d}%",
                self.rng.uniform(0.05, 0.2),
            )
        yield f" {GREEN}✔{RESET}\n", self.rng.uniform(0.2, 0.5)

    def opening(self) -> Iterator[Event]:
        """``saga implement``'s header, then the banner and the workspace scan."""
        epic, story = self.story.epic, self.story.story
        yield self.line("Starting story implementation...")
        yield self.line(f"  Epic: {epic}")
        yield self.line(f"  Story: {story}")
        yield self.line(f"  Worktree: ~/work/app-saga-worktrees/saga/{epic}/{story}")
        yield self.line("  Streaming: enabled")
        title = f" ✻ SAGA worker · {epic} / {story} "
        yield self.line(f"{ORANGE}╭{'─' * len(title)}╮{RESET}")
        yield self.line(f"{ORANGE}│{RESET}{BOLD}{title}{RESET}{ORANGE}│{RESET}")
        yield self.line(f"{ORANGE}╰{'─' * len(title)}╯{RESET}")
        yield self.line(f"{BOLD}>{RESET} Implement story {CYAN}{story}{RESET}")
        yield self.line(f"{BOLD}⏺{RESET} Indexing workspace")
        yield from self.progress(f"{self.rng.randint(180, 900)} files")

    def cycle_start(self, cycle: int) -> Iterator[Event]:
        """A worker cycle begins: a headless agent session of its own."""
        session = "".join(self.rng.choice("0123456789abcdef") for _ in range(8))
        yield self.line(f"--- Worker {cycle} started ---")
        yield f"[Session started: {session}-{cycle:04d}]", 0.2  # the stream: no newline

    def cycle_end(
        self, cycle: int, seconds: float, result: str, failed: bool = False
    ) -> Iterator[Event]:
        """A worker cycle ends with its result."""
        verb = "failed" if failed else "completed"
        yield f"[Worker {verb} in {seconds:.1f}s]\n", 0.1
        yield self.line(f"--- Worker {cycle} result: {result} ---")

    def steps(self) -> Iterator[Iterator[Event]]:
        """An endless sequence of agent steps: think, read, search, edit, test."""
        while True:
            file = self.rng.choice(self.story.files)
            yield self.think(file)
            yield self.read(file)
            if self.rng.random() < 0.5:
                yield self.search()
            yield self.edit(file)
            if self.rng.random() < 0.6:
                yield self.run_tests()

    def think(self, file: str) -> Iterator[Event]:
        """A pause to think, then one line of reasoning."""
        yield self.line(f"{ORANGE}✻{RESET} {ITALIC}Thinking…{RESET}", slow=True)
        thought = self.rng.choice(THOUGHTS).format(file=file, story=self.story.story)
        yield self.line(f"  {DIM}{thought}{RESET}")

    def read(self, file: str) -> Iterator[Event]:
        """A Read tool call."""
        yield f"[Tool: Read]{GREEN}⏺{RESET} {BOLD}Read{RESET}({file})\n", 0.3
        yield self.line(f"  {DIM}⎿{RESET}  Read {self.rng.randint(30, 420)} lines")

    def search(self) -> Iterator[Event]:
        """A Grep tool call."""
        word = self.rng.choice(["TODO", "deprecated", self.story.story.split("-")[0], "fixture"])
        yield self.line(
            f'[Tool: Grep]{GREEN}⏺{RESET} {BOLD}Grep{RESET}(pattern: "{word}", path: "src/")'
        )
        yield self.line(f"  {DIM}⎿{RESET}  Found {self.rng.randint(1, 9)} files")

    def edit(self, file: str) -> Iterator[Event]:
        """An Update tool call with a small coloured diff."""
        old, new = self.rng.choice(EDITS[Path(file).suffix])
        at = self.rng.randint(12, 240)
        added, removed = self.rng.randint(1, 14), self.rng.randint(0, 5)
        self.edited.add(file)
        yield self.line(f"[Tool: Edit]{GREEN}⏺{RESET} {BOLD}Update{RESET}({file})")
        yield self.line(
            f"  {DIM}⎿{RESET}  Updated {file} with {added} additions, {removed} removals"
        )
        yield self.line(f"     {DIM}{at - 1:4d} │{RESET}   ...")
        yield self.line(f"     {DIM}{at:4d} │{RESET} {RED}-  {old}{RESET}")
        yield self.line(f"     {DIM}{at:4d} │{RESET} {GREEN}+  {new}{RESET}")

    def run_tests(self) -> Iterator[Event]:
        """A Bash tool call running the tests; now and then one fails and gets fixed later."""
        yield self.line(f"[Tool: Bash]{GREEN}⏺{RESET} {BOLD}Bash{RESET}({self.story.test_command})")
        self.tests += self.rng.randint(0, 2)
        yield from self.progress(f"{self.tests} tests")
        seconds = self.rng.uniform(0.8, 9.0)
        if self.rng.random() < 0.25:
            yield self.line(
                f"     {RED}✘ 1 failed{RESET}, {self.tests - 1} passed ({seconds:.1f}s)"
            )
            yield self.line(f"     {YELLOW}AssertionError: expected 200, received 422{RESET}")
        else:
            yield self.line(
                f"     {GREEN}✔ {self.tests} passed{RESET} {DIM}({seconds:.1f}s){RESET}"
            )

    def summary(self, elapsed: float, cycles: int) -> Iterator[Event]:
        """The last cycle's closing lines, then the loop's result as ``saga implement`` does."""
        epic, story, outcome = self.story.epic, self.story.story, self.story.outcome
        if outcome == "FINISH":
            commit = f'{BOLD}Bash{RESET}(git commit -am "feat({epic}): {story}")'
            yield self.line(f"[Tool: Bash]{GREEN}⏺{RESET} {commit}")
            sha = "".join(self.rng.choice("0123456789abcdef") for _ in range(7))
            yield self.line(f"  {DIM}⎿{RESET}  [saga/{epic}/{story} {sha}] feat({epic}): {story}")
            files = max(1, len(self.edited))
            changed = f"{files} file{'s' if files > 1 else ''} changed"
            summary = f"Story {epic}/{story} complete: {changed}, {self.tests} tests passing."
            yield self.line(f"{BOLD}{GREEN}✔ {summary}{RESET}")
        elif outcome == "BLOCKED":
            yield self.line(f"{YELLOW}⏸ Blocked: {self.story.blocker}{RESET}")
            summary = f"Stopped before changing the {story} ordering: a product decision is needed."
        else:
            yield self.line(f"{RED}✘ The agent exited with status 1{RESET}")
            summary = "The worker failed: the agent exited with status 1 twice in a row."
        result = {"FINISH": "FINISH", "BLOCKED": "BLOCKED"}.get(outcome, "ONGOING")
        yield from self.cycle_end(cycles, elapsed / cycles, result, failed=outcome == "ERROR")
        document = {
            "status": outcome,
            "summary": summary,
            "cycles": cycles,
            "elapsedMinutes": round(elapsed / 60, 1),
            "blocker": self.story.blocker,
            "epicSlug": epic,
            "storySlug": story,
        }
        yield json.dumps(document, indent=2) + "\n", 0.0


def story_of(output_file: Path) -> Story:
    """The story a worker's output file is named after (any other name: the first story)."""
    name = name_from_output_file(output_file.name)
    if name is None:
        return STORIES[0]
    parts = parse_name(name)
    return STORY_BY_SLUGS.get((parts.epic or "", parts.story), STORIES[0])
