"""Progress reporting that library code can call without printing.

Library loops take a `Progress` (default: silent). The CLI passes `RichProgress`, which draws
rich progress bars on the terminal; tests and library users get no output.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


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
    def __init__(self, progress: Any, task_id: Any) -> None:
        self._progress, self._id = progress, task_id

    def advance(self, n: int = 1, **fields: Any) -> None:
        info = "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in fields.items())
        self._progress.update(self._id, advance=n, info=info)


class _RichContext(AbstractContextManager):
    def __init__(self, description: str, total: int | None) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )  # fmt: skip
        from rich.progress import (
            Progress as RichBar,
        )

        self._bar = RichBar(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
            transient=False,
        )  # fmt: skip
        self._description, self._total = description, total

    def __enter__(self) -> _RichTask:
        self._bar.start()
        return _RichTask(self._bar, self._bar.add_task(self._description, total=self._total, info=""))

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()


class RichProgress:
    """Rich progress bars on the terminal (used by the CLI)."""

    def task(self, description: str, total: int | None) -> AbstractContextManager[Task]:
        return _RichContext(description, total)


def track(progress: Progress, iterable: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate while advancing a progress task by one per item."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    with progress.task(description, total) as task:
        for item in iterable:
            yield item
            task.advance()
