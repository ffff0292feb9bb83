"""Running an experiment from the command line: build its config (quick or paper scale,
plus `--field value` overrides), run it, save config.json / result.json, render it."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import typing
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from advlab import experiments
from advlab.experiments.base import Rendered, RunContext
from advlab.options import coerce

log = logging.getLogger(__name__)


def build_config(module: ModuleType, scale: str = "quick", overrides: dict[str, str] | None = None,
                 seed: int | None = None) -> Any:  # fmt: skip
    """`module.Config.quick()` or `.paper()`, with string overrides coerced to field types.

    seed: when given, every ``seed`` field (the config's and its nested configs', e.g. the
    classifier training's) is set to it before the overrides (`reseeded`); a run with seed 1
    trains other models and draws other samples than one with seed 0.

    A field of a nested config dataclass (``training: TrainConfig``) is overridden by its own
    name (``--epochs 20``) when no top-level field has that name, or as ``--training.epochs``.
    """
    experiments.check_scale(scale)
    if scale == "demo" and not hasattr(module.Config, "demo"):
        scale = "quick"
    config = getattr(module.Config, scale)()
    if seed is not None:
        config = reseeded(config, seed)
    for key, text in (overrides or {}).items():
        config = _override(config, key.replace("-", "_").split("."), text, module.NAME)
    return config


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


def settable_fields(config_type: type) -> list[str]:
    """Every name `build_config` accepts for `config_type`: its fields, and the fields of its
    nested config dataclasses (as ``name`` and ``outer.name``)."""
    names: list[str] = []
    hints = typing.get_type_hints(config_type)
    for f in dataclasses.fields(config_type):
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            inner = [g.name for g in dataclasses.fields(kind)]
            names += inner + [f"{f.name}.{n}" for n in inner]
        else:
            names.append(f.name)
    return names


def _override(config: Any, path: list[str], text: str, owner: str, prefix: str = "") -> Any:
    """A copy of `config` with the field at `path` set from `text` (`prefix`: the path of
    `config` itself inside the experiment's config, for error messages)."""
    hints = typing.get_type_hints(type(config))
    fields = {f.name for f in dataclasses.fields(config)}
    name = path[0]
    if name not in fields and len(path) == 1:  # a nested config's field, by its own name
        holders = [f for f in fields if dataclasses.is_dataclass(hints[f])
                   and name in {g.name for g in dataclasses.fields(hints[f])}]  # fmt: skip
        if len(holders) == 1:
            return _override(config, [holders[0], name], text, owner, prefix)
    if name not in fields:
        valid = ", ".join(prefix + n for n in sorted(settable_fields(type(config))))
        raise ValueError(f"{owner} has no config field {prefix + '.'.join(path)!r}; valid fields: {valid}")
    if len(path) > 1:
        inner = getattr(config, name)
        if not dataclasses.is_dataclass(inner):
            raise ValueError(f"{owner}: {name!r} has no sub-fields (got {'.'.join(path)!r})")
        changed = _override(inner, path[1:], text, owner, f"{prefix}{name}.")
        return dataclasses.replace(config, **{name: changed})
    return dataclasses.replace(config, **{name: coerce(text, hints[name], name)})


@dataclass
class Outcome:
    name: str
    out_dir: Path
    seconds: float
    rendered: Rendered | None
    error: str | None = None


def run_experiment(
    name: str,
    scale: str,
    out_root: Path,
    overrides: dict[str, str] | None = None,
    ctx_kwargs: dict[str, Any] | None = None,
) -> Outcome:
    """Run experiment `name` at `scale` into `out_root/name`; write config.json, result.json
    (with timing and the paper reference) and rendered.json beside its figures."""
    module = experiments.get(name)
    config = build_config(module, scale, overrides, (ctx_kwargs or {}).get("seed"))
    out = out_root / name
    out.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(out_dir=out, **{k: v for k, v in (ctx_kwargs or {}).items() if not (k == "seed" and v is None)})
    (out / "config.json").write_text(json.dumps(
        {"experiment": name, "scale": scale, "config": dataclasses.asdict(config)}, indent=2, default=str
    ))  # fmt: skip
    start = time.perf_counter()
    result = module.run(config, ctx)
    seconds = time.perf_counter() - start
    payload = {"experiment": name, "title": module.TITLE, "paper": module.PAPER, "scale": scale,
               "seconds": round(seconds, 2), "result": dataclasses.asdict(result)}  # fmt: skip
    (out / "result.json").write_text(json.dumps(payload, indent=2, default=str))
    rendered = module.render(result, out)
    (out / "rendered.json").write_text(json.dumps(
        {**{k: payload[k] for k in ("experiment", "title", "paper", "scale", "seconds")}, **rendered.to_dict()},
        indent=2, default=str,
    ))  # fmt: skip
    return Outcome(name, out, seconds, rendered)
