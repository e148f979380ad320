"""What a sweep shows on stderr: a live rich table on a terminal, one plain line per status change otherwise.

The table has one line per run: its cells (``2a:baseline s0 +3`` when three more cells reuse it), run id,
status, progress (last logged iteration / total, from ``metrics.jsonl``), latest metric and elapsed time.
A failure is printed above it at once, with the end of the run's log.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from nlx.sweep.runner import RunState

STYLES = {
    "done": "green",
    "running": "cyan",
    "queued": "blue",
    "held": "magenta",
    "failed": "bold red",
    "blocked": "red",
    "interrupted": "yellow",
    "pending": "dim",
}
ORDER = ("running", "queued", "held", "failed", "blocked", "interrupted", "pending", "done")


def elapsed(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def progress_text(state: RunState) -> str:
    if state.status == "done":
        return f"{state.total}/{state.total}"
    if state.progress is None:
        return ""
    return f"{state.progress.iteration}/{state.total}"


def summary(states: Sequence[RunState]) -> str:
    counts = Counter(s.status for s in states)
    reused = sum(1 for s in states if s.reused)
    parts = [f"{counts[k]} {k}" for k in ORDER if counts[k]]
    return f"{len(states)} runs: " + ", ".join(parts) + (f" ({reused} done before)" if reused else "")


class LiveDisplay:
    """A rich table refreshed in place while the sweep runs (stderr is a terminal)."""

    def __init__(self, console: Console, title: str) -> None:
        self.console = console
        self.title = title
        self._live: Live | None = None
        self._started = time.time()

    def start(self, states: Sequence[RunState]) -> None:
        self._live = Live(self._render(states), console=self.console, refresh_per_second=4, transient=False)
        self._live.start()

    def refresh(self, states: Sequence[RunState]) -> None:
        if self._live is not None:
            self._live.update(self._render(states))

    def changed(self, state: RunState, lines: Sequence[str]) -> None:
        if state.status != "failed":
            return
        body = Text("\n".join(lines) or "(no log)", style="dim")
        title = f"[bold red]failed[/bold red] {escape(state.label)} [{state.run_id}]: {escape(state.detail)}"
        self.console.print(
            Panel(body, title=title, title_align="left", border_style="red", subtitle=str(state.run.path))
        )

    def note(self, text: str) -> None:
        self.console.print(f"[yellow]{escape(text)}[/yellow]", highlight=False)

    def stop(self, states: Sequence[RunState]) -> None:
        if self._live is not None:
            self._live.update(self._render(states, everything=True))
            self._live.stop()
            self._live = None

    def _render(self, states: Sequence[RunState], everything: bool = False) -> RenderableType:
        shown = list(states)
        room = max(5, self.console.size.height - 8)
        hidden = Counter[str]()
        if not everything and len(shown) > room:
            keep = [s for s in shown if s.status not in ("pending", "done")]
            rest = [s for s in shown if s.status in ("pending", "done")]
            shown = keep + rest[: max(0, room - len(keep))]
            hidden = Counter(s.status for s in states if s not in shown)
        table = Table(title=self.title, header_style="bold", title_justify="left", expand=False)
        for name, justify in (("run", "left"), ("id", "left"), ("status", "left"), ("progress", "right"),
                              ("metric", "left"), ("elapsed", "right"), ("", "left")):  # fmt: skip
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for s in shown:
            detail = s.detail if len(s.detail) < 60 else s.detail[:57] + "..."
            status = Text(s.status, style=STYLES.get(s.status, ""))
            metric = s.progress.metric if s.progress else ""
            took = elapsed(s.elapsed)
            table.add_row(
                s.label, s.run_id, status, progress_text(s), metric, took, Text(detail, style="dim")
            )
        more = ", ".join(f"{n} more {k}" for k, n in hidden.items())
        footer = Text(
            f"{summary(states)}{'; ' + more if more else ''} · {elapsed(time.time() - self._started)}",
            style="bold",
        )
        return Group(table, footer)


class PlainDisplay:
    """One line per status change (stderr is not a terminal: CI, nohup, a log file)."""

    def __init__(self, console: Console, title: str, every_s: float = 300.0) -> None:
        self.console = console
        self.title = title
        self.every_s = every_s
        self._last = time.time()

    def _print(self, text: str) -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        self.console.print(f"{stamp} {text}", highlight=False, markup=False, soft_wrap=True)

    def start(self, states: Sequence[RunState]) -> None:
        self._print(f"{self.title}: {summary(states)}")
        for state in states:
            if state.status in ("failed", "held"):
                self.changed(state, [])

    def refresh(self, states: Sequence[RunState]) -> None:
        if time.time() - self._last >= self.every_s:
            self._last = time.time()
            self._print(summary(states))

    def changed(self, state: RunState, lines: Sequence[str]) -> None:
        took = (
            f" in {elapsed(state.elapsed)}"
            if state.status in ("done", "failed", "interrupted") and state.started
            else ""
        )
        detail = f": {state.detail}" if state.detail else ""
        self._print(f"{state.status:<11} {state.label} [{state.run_id}]{took}{detail}")
        for line in lines:
            self._print(f"    | {line}")

    def note(self, text: str) -> None:
        self._print(text)

    def stop(self, states: Sequence[RunState]) -> None:
        self._print(summary(states))
