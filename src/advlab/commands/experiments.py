"""What ``advlab reproduce``, ``advlab demo``, ``advlab list`` and ``advlab report`` do:
validate everything first, run experiments one by one (one failure does not stop the others),
and hand each finished experiment back to the CLI to print."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advlab import experiments
from advlab.tables import Table

log = logging.getLogger(__name__)


@dataclass
class Finished:
    """One experiment's outcome as the CLI shows it."""

    name: str
    seconds: float
    tables: list[Table]
    out_dir: Path | None
    error: str | None = None


def experiment_table() -> Table:
    """``advlab list``: every experiment with what it shows and its paper (no torch import)."""
    rows: list[list[Any]] = [[name, *experiments.describe(name)] for name in experiments.names()]
    return Table("Experiments (advlab reproduce NAME)", ["name", "what", "paper"], rows)


def validate(names: list[str], scale: str, overrides: dict[str, str]) -> None:
    """Fail before any work: unknown names, scales and config fields are refused here."""
    if overrides and len(names) > 1:
        raise ValueError("--field overrides apply to one experiment; name it instead of 'all'")
    for name in names:  # names and scale first: no experiment module (torch) imported yet
        experiments.check_name_and_scale(name, scale)
    if overrides:
        from advlab.experiments.runner import build_config

        build_config(experiments.get(names[0]), scale, overrides)


def run_experiments(
    names: list[str], scale: str, out: Path, overrides: dict[str, str], ctx_kwargs: dict[str, Any],
    on_start: Callable[[str, int], None] | None = None,
    on_done: Callable[[Finished], None] | None = None,
) -> list[Finished]:
    """Run `names` at `scale` into `out/<name>` in order; returns every outcome. A failure
    is recorded (with its message) and the next experiment runs, unless only one was asked."""
    from advlab.experiments.runner import run_experiment

    finished = []
    for index, name in enumerate(names):
        if on_start:
            on_start(name, index)
        start = time.perf_counter()
        try:
            outcome = run_experiment(name, scale, out, overrides if len(names) == 1 else None, ctx_kwargs)
            done = Finished(name, outcome.seconds, outcome.rendered.tables if outcome.rendered else [],
                            outcome.out_dir)  # fmt: skip
        except Exception as error:  # one failing experiment must not stop `reproduce all`
            if len(names) == 1:
                raise
            log.exception("experiment %s failed", name)
            done = Finished(name, time.perf_counter() - start, [], None, str(error))
        finished.append(done)
        if on_done:
            on_done(done)
    return finished


def write_report(folder: Path, out: Path | None = None) -> Path:
    """The HTML report of every result under `folder` (refused when there is none)."""
    from advlab.report import write_report as render

    return render(folder, out)
