"""What ``advlab reproduce``, ``advlab demo``, ``advlab list`` and ``advlab report`` do:
validate everything first, run experiments one by one (one failure does not stop the others),
and hand each finished experiment back to the CLI to print."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from advlab import experiments
from advlab.report.tables import Table

if TYPE_CHECKING:
    from advlab.commands.reproduce import RunSettings

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


DEMO_EXPERIMENTS: tuple[str, ...] = (
    "classifier-baselines", "deepfool-table", "fgsm-figure",  # adversarial examples
    "spatial-table", "eot-table", "rp2-table",  # transformation attacks
    "universal", "transfer-table", "decision-regions",  # universal and transfer attacks
    "wong-table",  # certified defence
    "sparsity-table", "sparsity-curves",  # sparsity defences
    "inception-curves", "progressive-gan", "memorisation",  # GANs
    "classifier-dissection",  # dissection
)
"""What `make demo` (`advlab demo`) runs, at demo scale: every family of the lecture (about 6
minutes on a 2-core CPU with an empty model cache); each defines its own Config.demo()."""


def check_request(names: list[str], scale: str, overrides: list[str]) -> None:
    """Refuse unknown names and scales, and overrides for several experiments, before any
    experiment module (torch) is imported."""
    if overrides and len(names) > 1:
        raise ValueError("--field overrides apply to one experiment; name it instead of 'all'")
    for name in names:
        experiments.check_name_and_scale(name, scale)


def build_configs(
    names: list[str], scale: str, overrides: list[str], seed: int | None
) -> dict[str, Any]:
    """Every experiment's config at `scale` (with the overrides and the seed), built once,
    before anything runs: a bad override or an experiment without that size is refused
    here, naming it."""
    from advlab.commands.reproduce import build_config

    check_request(names, scale, overrides)
    configs = {}
    for name in names:
        try:
            configs[name] = build_config(experiments.get(name), scale, overrides, seed)
        except NotImplementedError as error:
            raise ValueError(f"experiment {name} has no {scale} size ({error})") from error
    return configs


def run_experiments(
    configs: dict[str, Any], scale: str, out: Path, settings: RunSettings,
    on_start: Callable[[str, int], None] | None = None,
    on_done: Callable[[Finished], None] | None = None,
) -> list[Finished]:
    """Run each experiment of `configs` (`build_configs`) at `scale` into `out/<name>` in
    order, all with the same `settings` (cache, device, seed, progress). Returns every outcome. A failure is recorded (with its message) and
    the next experiment runs, unless only one was asked."""
    from advlab.commands.reproduce import run_experiment

    finished = []
    for index, (name, config) in enumerate(configs.items()):
        if on_start:
            on_start(name, index)
        start = time.perf_counter()
        try:
            outcome = run_experiment(name, config, scale, out, settings)
            tables = outcome.rendered.tables if outcome.rendered else []
            done = Finished(name, outcome.seconds, tables, outcome.out_dir)
        except Exception as error:  # one failing experiment must not stop `reproduce all`
            if len(configs) == 1:
                raise
            log.exception("experiment %s failed", name)
            done = Finished(name, time.perf_counter() - start, [], None, str(error))
        finished.append(done)
        if on_done:
            on_done(done)
    return finished


def write_report(folder: Path, out: Path | None = None) -> Path:
    """The HTML report of every result under `folder` (refused when there is none)."""
    from advlab.report.html import write_report as render

    return render(folder, out, experiments.names())
