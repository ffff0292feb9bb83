"""What a GAN run records: `metrics.csv` (one row per generator step) and TensorBoard scalars.

Columns are fixed so that a resumed run appends to the same file: training statistics every
step, evaluation metrics only on evaluation steps (empty cells otherwise).
"""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

TRAIN_COLUMNS = ["d_loss", "g_loss", "wasserstein", "gradient_penalty", "d_real", "d_fake",
                 "d_grad_norm", "g_grad_norm", "images_seen", "lod"]
EVAL_COLUMNS = ["fid", "kid_mean", "kid_std", "inception_score", "inception_std"]
COLUMNS = ["step", "wall_seconds", *TRAIN_COLUMNS, *EVAL_COLUMNS]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return str(value)


class MetricsLog:
    """Appends rows to `<out>/metrics.csv` and scalars to TensorBoard (`<out>/tb`).

    `resume_step`: rows with a step above it (written after the last checkpoint of an
    interrupted run) are dropped, so the file matches the restored state exactly.
    `tensorboard=False` skips the TensorBoard writer (tests, benchmarks).
    """

    def __init__(self, out_dir: Path, resume_step: int | None = None, tensorboard: bool = True):
        self.path = out_dir / "metrics.csv"
        rows: list[dict[str, str]] = []
        if resume_step is not None and self.path.is_file():
            with self.path.open(newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
        self._file = self.path.open("w", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=COLUMNS)
        self._writer.writeheader()
        self._writer.writerows(rows)
        self._file.flush()
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(out_dir / "tb"), purge_step=resume_step)
            except ImportError as error:  # tensorboard is a dependency; degrade, don't die
                log.warning("TensorBoard logging off: %s", error)

    def write(self, step: int, wall_seconds: float, values: dict[str, float | None]) -> None:
        """One row: `values` may hold any of TRAIN_COLUMNS and EVAL_COLUMNS."""
        unknown = set(values) - set(COLUMNS)
        if unknown:
            raise ValueError(f"unknown metric columns {sorted(unknown)}; valid: {COLUMNS}")
        row = {"step": str(step), "wall_seconds": _cell(round(wall_seconds, 4))}
        row.update({k: _cell(values.get(k)) for k in COLUMNS[2:]})
        self._writer.writerow(row)
        self._file.flush()
        if self._tb is not None:
            for key, value in values.items():
                if value is not None:
                    group = "eval" if key in EVAL_COLUMNS else "train"
                    self._tb.add_scalar(f"{group}/{key}", value, step)

    def close(self) -> None:
        """Close the CSV file and the TensorBoard writer."""
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def read_metrics(path: str | Path) -> list[dict[str, float | None]]:
    """Rows of a metrics.csv as dicts of floats (None for empty cells)."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.csv"
    with path.open(newline="") as f:
        return [{k: (float(v) if v not in ("", None) else None) for k, v in r.items()}
                for r in csv.DictReader(f)]
