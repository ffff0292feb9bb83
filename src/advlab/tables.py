"""A plain table value: experiments, commands and the report all speak it.

The CLI renders it with rich, the HTML report with jinja2; nothing here imports either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Cell = str | int | float | None


@dataclass
class Table:
    """A titled table. `rows` hold raw numbers; formatting happens at render time."""

    title: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    caption: str = ""

    def __post_init__(self) -> None:
        for i, row in enumerate(self.rows):
            if len(row) != len(self.columns):
                raise ValueError(
                    f"table {self.title!r}: row {i} has {len(row)} cells, "
                    f"expected {len(self.columns)} ({self.columns})"
                )

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "columns": self.columns, "rows": self.rows, "caption": self.caption}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Table:
        return cls(d["title"], list(d["columns"]), [list(r) for r in d["rows"]], d.get("caption", ""))


def format_cell(value: Cell) -> str:
    """Human formatting: ints as is, floats with 4 significant digits, None as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:  # NaN
            return "nan"
        if value == 0 or 1e-3 <= abs(value) < 1e5:
            return f"{value:.4g}"
        return f"{value:.3e}"
    return str(value)
