"""One self-contained `report.html` for every experiment result under a folder.

Each experiment folder written by `advlab reproduce` holds `rendered.json` (tables, figure
paths, title, paper reference, scale, run time) and `config.json`; figures are embedded as
base64 PNGs, so the page can be mailed or archived alone.

The page is laid out for a 1280 px wide browser window: a table too wide for the page is
shown transposed or split into column groups (`tables.fit_to_width`), and a column of paper
values that is empty for every row shown is left out, with one note at the top of its
section instead of a column of dashes.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from advlab import __version__
from advlab.report.tables import Table, fit_to_width, format_cell

log = logging.getLogger(__name__)

PAGE_CHARS = 130
"""The widest table (in characters, `tables.table_width`) shown as it is. Measured in headless
Chromium at 1280 px on the demo's tables: up to 134 characters fit the 1,100 px content column
(header words wrap), 141 and more overflowed it; wider tables are transposed or split, and a
table that still does not fit scrolls inside its section."""

DATA_FIELDS = ("data", "dataset")
MODEL_FIELDS = ("model", "models", "arch", "classifier")
ROW_FIELDS = ("row", "rows")  # "model@data" pairs


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
    notes: list[str] = field(default_factory=list)
    setup: str = ""  # "data: digits; models: fc500-150-10, ..." from config.json


def is_paper_column(name: str) -> bool:
    return "paper" in name.lower()


def drop_empty_paper_columns(table: Table) -> tuple[Table, list[str]]:
    """`table` without its paper columns (header names "paper") that hold no value in any row,
    and the names of the dropped columns. A table without rows is returned as it is."""
    if not table.rows:
        return table, []
    empty = [i for i, name in enumerate(table.columns)
             if is_paper_column(name) and all(row[i] is None for row in table.rows)]
    if not empty:
        return table, []
    keep = [i for i in range(len(table.columns)) if i not in empty]
    trimmed = Table(table.title, [table.columns[i] for i in keep],
                    [[row[i] for i in keep] for row in table.rows], table.caption)
    return trimmed, [table.columns[i] for i in empty]


def is_empty(table: Table) -> bool:
    """Whether a table has rows but no value in any of them past the first (key) column."""
    return bool(table.rows) and all(v is None for row in table.rows for v in row[1:])


def empty_paper_note(dropped: list[str]) -> str:
    """The one note a section shows for the paper columns it leaves out."""
    names = ", ".join(f"'{name}'" for name in dict.fromkeys(dropped))
    return (f"Not shown: {names}: no paper value for any row of this run (the table's "
            "caption says why).")


def _pairs(value: Any) -> list[tuple[str, str]]:
    """(model, data) of "model@data" strings; "data@eps"-style rows (a number after the @)
    are not model@data pairs and give nothing."""
    items = value if isinstance(value, list) else [value]
    pairs = []
    for item in items:
        model, sep, data = str(item).partition("@")
        if sep and model and data and not data.replace(".", "", 1).isdigit():
            pairs.append((model, data))
    return pairs


def describe_data(name: str) -> str:
    """`name` with what the data registry says of it ("digits (scikit-learn 8x8 handwritten
    digits; 1,437 train / 360 test images)"); the bare name for a dataset it does not know."""
    from advlab import data

    try:
        spec = data.info(name)
    except Exception:  # an unknown or unparsable name: the report still renders
        return name
    what = spec.description.replace(" (offline)", "")
    sizes = " / ".join(f"{n:,} {split}" for split, n in spec.sizes.items() if n > 0)
    return f"{name} ({what}; {sizes} images)" if sizes else f"{name} ({what})"


def describe_setup(config: dict[str, Any]) -> str:
    """"data: ...; models: ..." from an experiment's config (its top-level data / model
    fields and "model@data" rows); "" when the config names neither."""
    data: list[str] = []
    models: list[str] = []
    for key in ROW_FIELDS:
        for model, dataset in _pairs(config.get(key, [])):
            models.append(model)
            data.append(dataset)
    for key in DATA_FIELDS:
        if isinstance(config.get(key), str) and config[key]:
            data.append(config[key])
    for key in MODEL_FIELDS:
        value = config.get(key)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and item:
                models.append(item)
    parts = []
    if data:
        parts.append("data: " + ", ".join(describe_data(d) for d in dict.fromkeys(data)))
    if models:
        parts.append("models: " + ", ".join(dict.fromkeys(models)))
    return "; ".join(parts)


def _read_setup(folder: Path) -> str:
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text()).get("config", {})
    except (OSError, json.JSONDecodeError, AttributeError):
        return ""
    return describe_setup(config) if isinstance(config, dict) else ""


def _section(path: Path, info: dict[str, Any]) -> Section:
    section = Section(
        name=info.get("experiment", path.parent.name), title=info.get("title", ""),
        paper=info.get("paper", ""), scale=info.get("scale", ""),
        seconds=float(info.get("seconds", 0)), setup=_read_setup(path.parent),
    )
    dropped: list[str] = []
    for raw in info.get("tables", []):
        original = Table.from_dict(raw)
        if is_empty(original):
            section.notes.append(f"Not shown: the table '{original.title}', which has no value "
                                 f"for any row of this run. {original.caption}".strip())
            continue
        table, empty = drop_empty_paper_columns(original)
        dropped += empty
        section.tables += fit_to_width(table, PAGE_CHARS)
    if dropped:
        section.notes.append(empty_paper_note(dropped))
    for fig in info.get("figures", []):
        png = path.parent / fig["path"]
        if png.is_file():
            uri = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
            section.figures.append({"caption": fig.get("caption", ""), "data_uri": uri})
        else:
            section.problems.append(f"figure {fig['path']} is missing")
    return section


def collect_sections(root: Path, order_of: Sequence[str] = ()) -> list[Section]:
    """Read every `rendered.json` under `root`, in the order of the experiment names
    `order_of` (the lecture's, passed by the caller: the report sits below the experiments),
    then by folder name for anything else."""
    order = {name: i for i, name in enumerate(order_of)}
    paths = sorted(root.rglob("rendered.json"),
                   key=lambda p: (order.get(p.parent.name, len(order)), str(p)))
    sections = []
    for path in paths:
        try:
            info: dict[str, Any] = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            log.warning("skipping unreadable %s: %s", path, error)
            continue
        sections.append(_section(path, info))
    return sections


def _paper_cell(table: Table, row: list[Any], index: int) -> bool:
    """Whether a cell holds a paper value: its column is a paper column, or (in a transposed
    table) its row is named after one."""
    return is_paper_column(table.columns[index]) or (
        isinstance(row[0], str) and is_paper_column(row[0]) and index > 0)


def write_report(root: str | Path, out: str | Path | None = None,
                 order_of: Sequence[str] = ()) -> Path:
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
    env = Environment(loader=PackageLoader("advlab.report", "templates"),
                      autoescape=select_autoescape())
    env.filters["cell"] = format_cell
    env.globals["paper_cell"] = _paper_cell
    html = env.get_template("report.html").render(
        sections=sections, version=__version__, root=str(root),
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    target = Path(out) if out else root / "report.html"
    target.write_text(html, encoding="utf-8")
    return target
