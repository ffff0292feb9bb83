"""Training curves: `metrics.csv` (rewritten whole from the history, so a resumed run's file
is the same as an uninterrupted one's) and TensorBoard scalars."""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class MetricsLog:
    """Rows of metrics (dicts) kept in order, mirrored to `<out>/metrics.csv` and TensorBoard."""

    def __init__(self, out_dir: Path, rows: list[dict[str, Any]] | None = None, tensorboard: bool = True) -> None:
        self.out_dir = out_dir
        self.rows: list[dict[str, Any]] = list(rows or [])
        self._writer: Any = None
        self._tensorboard = tensorboard

    def append(self, row: dict[str, Any], step: int) -> None:
        self.rows.append(row)
        self._write_csv()
        writer = self._tb()
        if writer is not None:
            for key, value in row.items():
                if isinstance(value, int | float) and key not in ("epoch", "step"):
                    writer.add_scalar(key, value, step)
            writer.flush()

    def _write_csv(self) -> None:
        columns: list[str] = []
        for row in self.rows:
            columns += [c for c in row if c not in columns]
        path = self.out_dir / "metrics.csv"
        tmp = path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(self.rows)
        tmp.replace(path)

    def _tb(self) -> Any:
        if not self._tensorboard:
            return None
        if self._writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is a dependency; stay usable without it
                log.warning("tensorboard is not installed; curves go to metrics.csv only")
                self._tensorboard = False
                return None
            self._writer = SummaryWriter(str(self.out_dir / "tb"))
        return self._writer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
