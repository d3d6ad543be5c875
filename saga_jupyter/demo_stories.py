"""The stories today's-SAGA demo workers implement: one table, the demo project's contents.

Each row is what a SAGA project would hold for the story (its epic, title, tasks, PR) and how
its demo worker's run goes (how it ends, in how many cycles). The project's files (``.saga/``)
can be written from this table alone.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

#: How a run ends (SAGA-V4.md §3): ``pipeline_end`` completed (exit 0) or incomplete (its
#: cycles ran out, exit 2), or a fatal error before the first cycle (exit 1, no pipeline_end).
Ending = Literal["completed", "incomplete", "fatal"]

REPOSITORY = "https://github.com/example/shop"
EPICS = {
    "auth": "Sign-in and accounts",
    "billing": "Invoices and payments",
}


class Task(NamedTuple):
    """A task of a story: SAGA's ``<taskId>.json``."""

    id: str
    subject: str


class StorySpec(NamedTuple):
    """A story of the demo project and how its worker's run goes."""

    id: str
    epic: str
    title: str
    tasks: tuple[Task, ...]
    files: tuple[str, ...]  # the first is its test file
    pr: int
    ending: Ending
    cycles: int  # how many it runs (``incomplete``: all of ``max_cycles``)
    max_cycles: int = 10

    @property
    def pr_url(self) -> str:
        """The story's draft PR."""
        return f"{REPOSITORY}/pull/{self.pr}"


def _tasks(*subjects: str) -> tuple[Task, ...]:
    return tuple(Task(f"t{number}", subject) for number, subject in enumerate(subjects, 1))


STORY_TABLE = (
    StorySpec("auth-login-flow", "auth", "Log in with email and password",
              _tasks("Login form with validation", "POST /api/session",
                     "Remember-me cookie", "Lock out after five failures"),
              ("src/auth/login.test.ts", "src/auth/LoginForm.tsx", "src/auth/session.ts",
               "src/api/routes/session.ts"),
              pr=41, ending="completed", cycles=2),
    StorySpec("billing-invoice-pdf", "billing", "Download an invoice as PDF",
              _tasks("Invoice totals with tax lines", "Render the invoice template",
                     "GET /api/invoices/:id.pdf", "Cache rendered PDFs"),
              ("src/billing/invoice-pdf.test.ts", "src/billing/invoice.ts",
               "src/billing/pdf/render.ts", "templates/invoice.html"),
              pr=44, ending="completed", cycles=3),
    StorySpec("auth-password-reset", "auth", "Reset a forgotten password",
              (), ("src/auth/reset.test.ts", "src/auth/reset.ts"),
              pr=42, ending="fatal", cycles=0),
    StorySpec("billing-tax-rates", "billing", "Tax rates per country",
              _tasks("Tax rate table and migration", "Apply rates at checkout",
                     "Admin page for rates", "Reverse charge for EU businesses"),
              ("src/billing/tax.test.ts", "src/billing/tax.ts", "src/checkout/total.ts",
               "migrations/0042_tax_rates.sql"),
              pr=45, ending="incomplete", cycles=3, max_cycles=3),
    StorySpec("auth-session-timeout", "auth", "Sign out idle sessions",
              _tasks("Idle timer in the client", "Expire sessions on the server"),
              ("src/auth/timeout.test.ts", "src/auth/idle.ts", "src/auth/session.ts"),
              pr=43, ending="completed", cycles=1),
)  # fmt: skip
STORIES_BY_ID = {story.id: story for story in STORY_TABLE}
