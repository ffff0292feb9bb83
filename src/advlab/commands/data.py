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
        here = "embedded" if spec.embedded else _availability(spec, root)
        rows.append([name, spec.description, "x".join(map(str, spec.shape)), spec.sizes["train"],
                     spec.sizes["test"], here])  # fmt: skip
    return Table("Datasets", ["name", "description", "shape", "train", "test", "available"], rows,
                 caption=f"torchvision datasets are looked for under {root}; fashion-mnist also in "
                 "its system folder (Debian package dataset-fashion-mnist)")  # fmt: skip


def _availability(spec: Any, root: Path) -> str:
    """ "yes", or "yes (<folder>)" / "no: <how to get it>" for sets that say where they are
    read from (fashion-mnist: the root or the system folder)."""
    if not spec.available(root):
        return f"no: {spec.how_to_get}" if spec.how_to_get else "no"
    where = spec.where(root) if spec.where is not None else None
    return f"yes ({where})" if where else "yes"


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
