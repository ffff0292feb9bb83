"""`make gpu-check`'s report: one `Row` per check (median seconds per device, errors) and the
Markdown table of all rows, CPU and CUDA side by side."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Row:
    """One check: its median time per device (s) and what went wrong on which device."""

    section: str
    name: str
    seconds: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    note: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors


def _cell(row: Row, device: str, present: bool) -> str:
    if not present:
        return "no GPU"
    if device in row.errors:
        return "FAIL"
    return f"{row.seconds[device]:.3f}" if device in row.seconds else "-"


def table(rows: list[Row], cuda: bool) -> str:
    lines = ["| section | check | CPU s | CUDA s | CPU / CUDA | status |",
             "|---|---|---:|---:|---:|---|"]
    for row in rows:
        ratio = "-"
        if "cpu" in row.seconds and "cuda" in row.seconds and row.seconds["cuda"] > 0:
            ratio = f"{row.seconds['cpu'] / row.seconds['cuda']:.1f}x"
        status = "ok" if row.ok else "; ".join(f"{d}: {e}" for d, e in row.errors.items())
        if row.note:
            status = f"{status} ({row.note})"
        lines.append(f"| {row.section} | {row.name} | {_cell(row, 'cpu', True)} | "
                     f"{_cell(row, 'cuda', cuda)} | {ratio} | {status.replace('|', '/')} |")
    return "\n".join(lines)
