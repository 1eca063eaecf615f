"""The rich progress display of `up`/`down`: one line per component, live."""

from __future__ import annotations

from collections import Counter
from types import TracebackType

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from chaosctl.console import markup

_STYLE = {
    "starting": "yellow", "ready": "green", "running": "green", "failed": "bold red",
    "stopping": "yellow", "stopped": "dim",
}
_DONE = {"ready", "running", "failed", "stopped"}


class ProgressReporter:
    """A `Reporter` (component, event, detail) that draws a line per component."""

    def __init__(self, console: Console, title: str) -> None:
        self._progress = Progress(
            SpinnerColumn(finished_text="[green]✓[/]"),
            TextColumn("{task.fields[name]:<20}"),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._title = title
        self._tasks: dict[str, TaskID] = {}
        self._last: dict[str, str] = {}

    def __enter__(self) -> ProgressReporter:
        self._progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._progress.stop()

    def __call__(self, component: str, event: str, detail: str) -> None:
        if event == "stopped" and self._last.get(component) == "failed":
            return  # keep the failure on screen
        style = _STYLE.get(event, "white")
        # `detail` carries paths and error text from processes: shown as written, never as markup.
        text = f"[{style}]{markup(event)}[/]" + (f" {markup(detail)}" if detail else "")
        task = self._tasks.get(component)
        if task is None:
            task = self._progress.add_task(text, total=1, name=markup(component))  # TextColumn parses markup
            self._tasks[component] = task
        done = event in _DONE
        self._progress.update(task, description=text, completed=1 if done else 0)
        if done:
            self._progress.stop_task(task)
        self._last[component] = event

    def count(self, event: str) -> int:
        return Counter(self._last.values())[event]

    @property
    def all_already_running(self) -> bool:
        return bool(self._last) and all(e == "running" for e in self._last.values())
