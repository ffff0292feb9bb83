"""The experiment convention (DESIGN.md 3): every lecture figure or table is a module with

    NAME, TITLE, PAPER              strings: registry name, what it shows, the source
    Config                          frozen dataclass with classmethods quick() and paper(),
                                    and optionally demo() (the size `make demo` runs; quick()
                                    when absent)
    Result                          dataclass of JSON-serialisable fields
    run(config, ctx) -> Result      computes; no printing, no plotting
    render(result, out_dir) -> Rendered   tables and PNG figures

This module holds the types those modules share.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch

from advlab.progress import Progress, SilentProgress, track
from advlab.tables import Table

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Figure:
    """A figure written by `render`: `path` relative to the experiment's output folder."""

    path: str
    caption: str = ""


@dataclass
class Rendered:
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tables": [t.to_dict() for t in self.tables],
            "figures": [{"path": f.path, "caption": f.caption} for f in self.figures],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Rendered:
        return cls(
            [Table.from_dict(t) for t in d.get("tables", [])],
            [Figure(f["path"], f.get("caption", "")) for f in d.get("figures", [])],
        )


@dataclass
class RunContext:
    """What a running experiment may use: where to write, where to cache trained models,
    the device, the base seed, and a progress reporter (silent unless the CLI passes one)."""

    out_dir: Path
    cache_dir: Path
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    seed: int = 0
    reporter: Progress = field(default_factory=SilentProgress)
    data_root: Path | None = None

    def progress(self, iterable: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
        """Iterate over `iterable` with a progress bar named `description`."""
        return track(self.reporter, iterable, description, total)


def default_cache_dir() -> Path:
    """Trained models are cached here across runs: $ADVLAB_CACHE or ~/.cache/advlab/models."""
    import os

    env = os.environ.get("ADVLAB_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "advlab" / "models"
