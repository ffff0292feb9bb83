"""One self-contained `report.html` for every experiment result under a folder.

Each experiment folder written by `advlab reproduce` holds `rendered.json` (tables, figure
paths, title, paper reference, scale, run time); figures are embedded as base64 PNGs, so the
page can be mailed or archived alone.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Sequence
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from advlab import __version__
from advlab.report.tables import Table, format_cell

log = logging.getLogger(__name__)


@dataclass
class Section:
    name: str
    title: str
    paper: str
    scale: str
    seconds: float
    tables: list[Table] = field(default_factory=list)
    figures: list[dict[str, str]] = field(default_factory=list)  # {"caption", "data_uri"}
    problems: list[str] = field(default_factory=list)


def collect_sections(root: Path, order_of: Sequence[str] = ()) -> list[Section]:
    """Read every `rendered.json` under `root`, in the order of the experiment names
    `order_of` (the lecture's, passed by the caller: the report sits below the experiments),
    then by folder name for anything else."""
    order = {name: i for i, name in enumerate(order_of)}
    paths = sorted(root.rglob("rendered.json"), key=lambda p: (order.get(p.parent.name, len(order)), str(p)))
    sections = []
    for path in paths:
        try:
            info: dict[str, Any] = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            log.warning("skipping unreadable %s: %s", path, error)
            continue
        section = Section(
            name=info.get("experiment", path.parent.name), title=info.get("title", ""),
            paper=info.get("paper", ""), scale=info.get("scale", ""), seconds=float(info.get("seconds", 0)),
            tables=[Table.from_dict(t) for t in info.get("tables", [])],
        )  # fmt: skip
        for fig in info.get("figures", []):
            png = path.parent / fig["path"]
            if png.is_file():
                uri = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
                section.figures.append({"caption": fig.get("caption", ""), "data_uri": uri})
            else:
                section.problems.append(f"figure {fig['path']} is missing")
        sections.append(section)
    return sections


def write_report(root: str | Path, out: str | Path | None = None, order_of: Sequence[str] = ()) -> Path:
    """Render every result under `root` into `out` (default `<root>/report.html`), sections
    in the order of the experiment names `order_of`."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no results folder at {root}")
    sections = collect_sections(root, order_of)
    if not sections:
        raise FileNotFoundError(
            f"no experiment results under {root} (no rendered.json); run "
            f"`advlab reproduce NAME --out {root}` first"
        )
    env = Environment(loader=PackageLoader("advlab.report", "templates"), autoescape=select_autoescape())
    env.filters["cell"] = format_cell
    html = env.get_template("report.html").render(
        sections=sections, version=__version__, root=str(root),
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )  # fmt: skip
    target = Path(out) if out else root / "report.html"
    target.write_text(html, encoding="utf-8")
    return target
