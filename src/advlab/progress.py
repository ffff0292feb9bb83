"""Progress reporting that library code can call without printing.

Library loops take a `Progress` (default: silent). The CLI passes `RichProgress`, which draws
rich progress bars on the terminal; tests and library users get no output.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class Task(Protocol):
    def advance(self, n: int = 1, **fields: Any) -> None: ...


class Progress(Protocol):
    """Something that shows progress: `task(description, total)` returns a context manager
    whose value has `advance(n, **fields)` (fields such as loss=0.31 are shown beside the bar)."""

    def task(self, description: str, total: int | None) -> AbstractContextManager[Task]: ...


class _SilentTask:
    def advance(self, n: int = 1, **fields: Any) -> None:
        return None


class _SilentContext(AbstractContextManager):
    def __enter__(self) -> _SilentTask:
        return _SilentTask()

    def __exit__(self, *exc: object) -> None:
        return None


class SilentProgress:
    """The default: shows nothing."""

    def task(self, description: str, total: int | None) -> AbstractContextManager[Task]:
        return _SilentContext()


class _RichTask:
    def __init__(self, owner: RichProgress, task_id: Any) -> None:
        self._owner, self._id = owner, task_id

    def advance(self, n: int = 1, **fields: Any) -> None:
        info = "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in fields.items())
        self._owner.bars.update(self._id, advance=n, info=info)


class _RichContext(AbstractContextManager):
    def __init__(self, owner: RichProgress, description: str, total: int | None) -> None:
        self._owner, self._description, self._total = owner, description, total
        self._id: Any = None
        self._start = 0.0

    def __enter__(self) -> _RichTask:
        owner = self._owner
        if owner.depth == 0:
            owner.start()
        indent = "  " * owner.depth  # nested work is indented under the task that runs it
        self._id = owner.bars.add_task(indent + self._description, total=self._total, info="")
        owner.depth += 1
        self._start = time.perf_counter()
        return _RichTask(owner, self._id)

    def __exit__(self, *exc: object) -> None:
        owner = self._owner
        owner.depth -= 1
        task = owner.bars.tasks[[t.id for t in owner.bars.tasks].index(self._id)]
        if not owner.live:  # a log file: one line per finished task instead of live bars
            done = f"{int(task.completed)}/{int(task.total)}" if task.total else f"{int(task.completed)}"
            extra = f"  {task.fields['info']}" if task.fields.get("info") else ""
            owner.write_line(f"{'  ' * owner.depth}{self._description}: {done} in "
                             f"{time.perf_counter() - self._start:.1f} s{extra}")  # fmt: skip
        if owner.depth > 0:
            owner.bars.remove_task(self._id)  # finished inner bars leave the outer ones readable
        else:
            owner.stop()


class RichProgress:
    """Rich progress bars on the terminal (used by the CLI): nested tasks share one display,
    inner ones indented under the outer ones with their own count, elapsed time and ETA,
    and disappear when done. When the output is not a terminal (a log file), each finished
    task gives one line with its count and time to `write_line` instead (the CLI passes its
    printer; default: the ``advlab.progress`` logger at INFO)."""

    def __init__(self, console: Any = None, write_line: Callable[[str], None] | None = None) -> None:
        from rich.console import Console

        self.console = console or Console(stderr=True)
        self.write_line = write_line or log.info
        self.live = self.console.is_terminal
        self.depth = 0
        self.bars: Any = None

    def start(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichBar

        self.bars = RichBar(
            TextColumn("{task.description}"), BarColumn(bar_width=24), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
            console=self.console, transient=False, disable=not self.live,
        )  # fmt: skip
        self.bars.start()

    def stop(self) -> None:
        self.bars.stop()

    def task(self, description: str, total: int | None) -> AbstractContextManager[Task]:
        return _RichContext(self, description, total)


def track(progress: Progress, iterable: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate while advancing a progress task by one per item."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    with progress.task(description, total) as task:
        for item in iterable:
            yield item
            task.advance()
