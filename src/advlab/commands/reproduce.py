"""Running an experiment from the command line: build its config (demo, quick or paper scale,
plus `--field value` overrides), run it, save config.json / result.json, render it."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from advlab import experiments
from advlab.options import apply_options
from advlab.progress import Progress, SilentProgress
from advlab.report.rendered import Rendered
from advlab.threads import chosen_threads
from advlab.zoo.context import RunContext

log = logging.getLogger(__name__)


Overrides = Sequence[str] | Mapping[str, str]
"""Command-line words (``["--training-epochs", "20"]``), or a mapping of option name to text
(``{"training-epochs": "20"}``, the same as ``--training-epochs=20``)."""


def build_config(
    module: ModuleType, scale: str = "quick", overrides: Overrides | None = None,
    seed: int | None = None,
) -> Any:
    """`module.Config.demo()`, `.quick()` or `.paper()`, with `overrides` applied in the one
    option grammar (`advlab.options`): ``--field value``, a nested config's part as
    ``--<field>-<part> value`` (``--training-epochs 20``), or by its bare name when no field
    has it and only one nested config does (``--epochs 20``). An experiment that has no size
    at `scale` is refused (its NotImplementedError).

    seed: when given, every ``seed`` field (the config's and its nested configs', e.g. the
    classifier training's) is set to it before the overrides (`reseeded`); a run with seed 1
    trains other models and draws other samples than one with seed 0.
    """
    from advlab.attacks import ATTACKS, Attack

    experiments.check_scale(scale)
    size = getattr(module.Config, scale, None)
    if size is None:  # a Config that is no ExperimentConfig: the same answer as its demo()'s
        raise NotImplementedError(f"{module.__name__}.Config has no {scale} size")
    config = size()
    if seed is not None:
        config = reseeded(config, seed)
    if isinstance(overrides, Mapping):
        overrides = [f"--{key}={text}" for key, text in overrides.items()]
    return apply_options(config, list(overrides or ()), module.NAME, {Attack: ATTACKS.get})


def reseeded(config: Any, seed: int) -> Any:
    """A copy of the config dataclass with every field named ``seed``, its own and those of
    nested config dataclasses, set to `seed`."""
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name == "seed":
            changes[f.name] = seed
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            changes[f.name] = reseeded(value, seed)
    return dataclasses.replace(config, **changes)


@dataclass
class Outcome:
    name: str
    out_dir: Path
    seconds: float
    rendered: Rendered | None
    error: str | None = None


@dataclass(frozen=True)
class RunSettings:
    """What the experiments of one `advlab reproduce` share: their `RunContext` but the folder.
    seed: `--seed` (None: each config's own seeds and a context seed of 0)."""

    cache_dir: Path
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    seed: int | None = None
    reporter: Progress | None = None
    data_root: Path | None = None

    def context(self, out_dir: Path) -> RunContext:
        return RunContext(
            out_dir=out_dir, cache_dir=self.cache_dir, device=self.device,
            seed=0 if self.seed is None else self.seed,
            reporter=self.reporter or SilentProgress(), data_root=self.data_root,
        )


def run_experiment(
    name: str, config: Any, scale: str, out_root: Path, settings: RunSettings
) -> Outcome:
    """Run experiment `name` with its `config` (`build_config`) into `out_root/name`; write
    config.json, result.json (with timing and the paper reference) and rendered.json beside
    its figures."""
    module = experiments.get(name)
    out = out_root / name
    out.mkdir(parents=True, exist_ok=True)
    ctx = settings.context(out)
    threads = chosen_threads().describe()  # the run's metadata: timings depend on it
    (out / "config.json").write_text(json.dumps(
        {"experiment": name, "scale": scale, "threads": threads,
         "config": dataclasses.asdict(config)}, indent=2, default=str))
    start = time.perf_counter()
    result = module.run(config, ctx)
    seconds = time.perf_counter() - start
    payload = {"experiment": name, "title": module.TITLE, "paper": module.PAPER, "scale": scale,
               "seconds": round(seconds, 2), "threads": threads,
               "result": dataclasses.asdict(result)}
    (out / "result.json").write_text(json.dumps(payload, indent=2, default=str))
    rendered = module.render(result, out)
    shown = ("experiment", "title", "paper", "scale", "seconds", "threads")
    (out / "rendered.json").write_text(json.dumps(
        {**{k: payload[k] for k in shown}, **rendered.to_dict()}, indent=2, default=str))
    return Outcome(name, out, seconds, rendered)
