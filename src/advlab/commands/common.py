"""What several commands share: fresh output folders, loading a classifier with the data it
is evaluated on (with a clear error when the two do not fit), devices, and the process group
under torchrun."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

RUNS = Path("runs")


def output_dir(out: Path | None, command: str, name: str, force: bool, marker: str) -> Path:
    """The folder a command writes into.

    out given: used as is, but refused when it already holds `marker` (a previous run's
    result or checkpoint) unless `force`. out None: ``runs/<command>/<name>``, or the first of
    ``<name>-2``, ``<name>-3``, ... that holds no `marker`, so that no run overwrites another.
    """
    if out is not None:
        if (out / marker).exists() and not force:
            raise ValueError(
                f"{out} already holds a run ({out / marker}); pass --force to overwrite it or "
                "choose another --out"
            )
        return out
    base = RUNS / command / re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    candidate, k = base, 1
    while (candidate / marker).exists():
        k += 1
        candidate = base.with_name(f"{base.name}-{k}")
    return candidate


def positive(value: int | None, option: str) -> int | None:
    """Check a count option (``--n``, ``--batch-size``): None or an integer >= 1."""
    if value is not None and value < 1:
        raise ValueError(f"{option} must be >= 1, got {value}")
    return value


def device(name: str) -> Any:
    """A torch.device from --device (`advlab.devices.resolve_device`: refused in one line when
    the name is unknown or this machine lacks the device)."""
    from advlab.devices import resolve_device

    return resolve_device(name)


def load_model_and_data(checkpoint: Path, data: str, split: str, n: int | None,
                        data_root: Path | None, dev: Any) -> tuple[Any, Any, Any, Any]:  # fmt: skip
    """(model, dataset, x (n, C, H, W), y (n,)) for evaluating `checkpoint` on `data`.

    The model must accept the dataset's images: a checkpoint trained on 28x28 digits given
    8x8 ones is refused in one line naming both, instead of a shape error deep in a layer.
    """
    from advlab import data as datasets
    from advlab import models

    positive(n, "--n")
    model = models.load_checkpoint(checkpoint, device=dev)
    dataset = datasets.load(data, split, root=data_root)
    x, y = datasets.as_tensors(dataset, limit=n)
    if x.shape[0] == 0:
        raise ValueError(f"{data} ({split}) holds no samples")
    from advlab.models.registry import check_fits

    check_fits(model, x[:1].to(dev), f"checkpoint {checkpoint}", f"{data} images")
    return model, dataset, x.to(dev), y.to(dev)


@contextmanager
def distributed(device_name: str) -> Iterator[tuple[Any, Any]]:
    """``with distributed("cuda") as (env, device):`` the command's process group under
    torchrun (one process: a no-op), left when the block ends, however it ends. env: the
    `advlab.train.distributed.DistEnv` (rank, world size, is_main); device: this
    process's torch.device (under torchrun on CUDA, its local GPU)."""
    from advlab.train.distributed import init_from_env, shutdown

    env, dev = init_from_env(device_name)
    try:
        yield env, dev
    finally:
        shutdown(env)
