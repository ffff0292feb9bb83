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
    """Human formatting: ints as is, floats with 4 significant digits (whole numbers from
    1,000 to 1e9), None as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:  # NaN
            return "nan"
        if value == 0 or 1e-3 <= abs(value) < 1e3:
            return f"{value:.4g}"
        if 1e3 <= abs(value) < 1e9:  # 14920, not 1.492e+04
            return f"{value:.0f}"
        return f"{value:.3e}"
    return str(value)


# Each column of a boxed table costs its content plus one space of padding on each side and
# one border character; the table one more border.
_COLUMN_OVERHEAD = 3


def _min_width(header: str, cells: list[Cell]) -> int:
    """The narrowest a column can be without cutting anything: headers and text wrap at
    spaces (their longest word), numbers never wrap (their full formatted width)."""
    words = [len(w) for w in header.split()] or [0]
    for value in cells:
        text = format_cell(value)
        words += [len(w) for w in text.split()] if isinstance(value, str) else [len(text)]
    return max(words)


def table_width(table: Table) -> int:
    """Minimum rendered width of `table` in characters (with wrapping, without cuts)."""
    widths = [_min_width(c, [row[i] for row in table.rows]) for i, c in enumerate(table.columns)]
    return sum(widths) + _COLUMN_OVERHEAD * len(widths) + 1


def transpose(table: Table) -> Table:
    """Rows become columns: each row is named by its leading text cells (the key columns,
    e.g. "mnist-5k robust"), and every other column becomes a row. Wide tables with few rows
    (one row per model, many metrics) read better this way in a narrow terminal."""
    keys = 1
    while keys < len(table.columns) - 1 and all(isinstance(row[keys], str) for row in table.rows):
        keys += 1
    header = " / ".join(table.columns[:keys])
    names = [" ".join(format_cell(v) for v in row[:keys]) for row in table.rows]
    rows: list[list[Cell]] = [[column, *(row[i] for row in table.rows)]
                              for i, column in enumerate(table.columns) if i >= keys]  # fmt: skip
    return Table(table.title, [header, *names], rows, table.caption)


def fit_to_width(table: Table, width: int) -> list[Table]:
    """`table` as one or more tables that each fit in `width` characters without cutting a
    number or a word: as it is when it fits; else transposed when that fits; else its columns
    split into consecutive groups that fit, each repeating the first (key) column, titled
    "(columns i-j of n)". A single column wider than `width` is left to wrap."""
    if not table.columns or table_width(table) <= width:
        return [table]
    if len(table.rows) <= 8:
        flipped = transpose(table)
        if table_width(flipped) <= width:
            return [flipped]
    cells = [[row[i] for row in table.rows] for i in range(len(table.columns))]
    widths = [_min_width(c, cells[i]) + _COLUMN_OVERHEAD for i, c in enumerate(table.columns)]
    groups: list[list[int]] = []
    current: list[int] = []
    used = 1 + widths[0]
    for i in range(1, len(table.columns)):
        if current and used + widths[i] > width:
            groups.append(current)
            current, used = [], 1 + widths[0]
        current.append(i)
        used += widths[i]
    groups.append(current)
    parts = []
    for k, group in enumerate(groups):
        columns = [0, *group]
        title = f"{table.title} (columns {group[0] + 1}-{group[-1] + 1} of {len(table.columns)})"
        parts.append(Table(title, [table.columns[i] for i in columns],
                           [[row[i] for i in columns] for row in table.rows],
                           table.caption if k == len(groups) - 1 else ""))  # fmt: skip
    return parts
