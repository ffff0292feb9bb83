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

log = logging.getLogger(__name__)
SCALES = ("quick", "paper")


def build_config(module: ModuleType, scale: str = "quick", overrides: dict[str, str] | None = None) -> Any:
    """`module.Config.quick()` or `.paper()`, with string overrides coerced to field types."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; valid: {', '.join(SCALES)}")
    config = getattr(module.Config, scale)()
    if not overrides:
        return config
    hints = typing.get_type_hints(module.Config)
    fields = {f.name for f in dataclasses.fields(module.Config)}
    values: dict[str, Any] = {}
    for key, text in overrides.items():
        name = key.replace("-", "_")
        if name not in fields:
            raise ValueError(
                f"{module.NAME} has no config field {key!r}; valid fields: {', '.join(sorted(fields))}"
            )
        values[name] = coerce(text, hints[name], name)
    return dataclasses.replace(config, **values)


def coerce(text: str, kind: Any, name: str) -> Any:
    """Parse `text` as the type `kind` (int, float, bool, str, tuple[X, ...], X | None)."""
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if text.lower() in ("none", "null") and type(None) in args:
            return None
        kind = next(a for a in args if a is not type(None))
        return coerce(text, kind, name)
    if origin is tuple:
        item = args[0] if args else str
        return tuple(coerce(part.strip(), item, name) for part in text.split(",") if part.strip())
    if origin is typing.Literal:
        if text not in args:
            raise ValueError(f"{name} must be one of {', '.join(map(str, args))}, got {text!r}")
        return text
    try:
        if kind is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        return kind(text)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} expects {getattr(kind, '__name__', kind)}, got {text!r}") from error


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
    config = build_config(module, scale, overrides)
    out = out_root / name
    out.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(out_dir=out, **(ctx_kwargs or {}))
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
