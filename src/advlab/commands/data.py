"""What ``advlab data list`` and ``advlab data show`` do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advlab.report.tables import Table


def dataset_table(data_root: Path | None) -> Table:
    """Every dataset advlab knows: description, shape, sizes, and whether it is here (reads
    the registry only: no torch import)."""
    from advlab import data as datasets
    from advlab.data.registry import default_root

    root = data_root or default_root()
    rows: list[list[Any]] = []
    for name in datasets.DATASETS.names():
        if name.endswith("<name>"):
            rows.append([name, "needs an argument", "", None, None, ""])
            continue
        spec = datasets.info(name)
        here = "embedded" if spec.embedded else ("yes" if spec.available(root) else "no")
        rows.append([name, spec.description, "x".join(map(str, spec.shape)), spec.sizes["train"],
                     spec.sizes["test"], here])  # fmt: skip
    return Table("Datasets", ["name", "description", "shape", "train", "test", "available"], rows,
                 caption=f"torchvision datasets are looked for under {root}")  # fmt: skip


def show_samples(name: str, out: Path, split: str, n: int, download: bool, data_root: Path | None) -> str:
    """Save a grid of `n` samples of dataset `name` with their labels; returns a summary line."""
    from advlab import data as datasets
    from advlab.report.figures import labelled_grid

    if n < 1:
        raise ValueError(f"--n must be >= 1, got {n}")
    dataset = datasets.load(name, split, root=data_root, download=download)
    x, y = datasets.as_tensors(dataset, limit=n)
    labelled_grid(x, [dataset.classes[int(k)] for k in y], out, suptitle=f"{name} ({split})")
    return f"{len(x)} samples of {name} ({split}, {len(dataset)} in all) -> {out}"
