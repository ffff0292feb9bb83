"""What an experiment's `render` returns: its tables and the figures it wrote."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from advlab.report.tables import Table


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
