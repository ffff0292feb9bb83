"""What a running experiment may use (`RunContext`) and where trained models are cached."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import torch

from advlab.progress import Progress, SilentProgress, track

T = TypeVar("T")


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
    env = os.environ.get("ADVLAB_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "advlab" / "models"
