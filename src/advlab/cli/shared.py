"""What every verb of the `advlab` command shares: the typer app, the consoles, `show` /
`say` / `complain` / `progress`, `UserError`, and the option types used by several verbs.

Only `advlab.cli` prints; everything it calls returns values (tables, paths, lines) or logs.
Nothing here imports torch: `--help`, `list`, `data list` and usage errors answer at once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table as RichTable

from advlab.report.tables import Table, fit_to_width, format_cell

HELP = """advlab: GANs, adversarial examples and provable defences, from the lecture to your models.

Datasets, training, evaluation, attacks, certification, GANs, dissection, reproduction of the
lecture's figures and tables (`advlab reproduce NAME`) and the HTML report."""
LOG_WIDTH = 120  # width of tables written to a file or pipe (a terminal uses its own width)


def make_console(stderr: bool = False) -> Console:
    """A console as wide as the terminal, or LOG_WIDTH when the output is a file (rich would
    use 80 there) unless $COLUMNS says otherwise."""
    probe = Console(stderr=stderr)
    width = None if probe.is_terminal or "COLUMNS" in os.environ else LOG_WIDTH
    return Console(stderr=stderr, width=width)


console = make_console()
app = typer.Typer(
    help=HELP, rich_markup_mode="markdown", no_args_is_help=True, add_completion=False,
    pretty_exceptions_enable=False,
)

DataRoot = Annotated[Path | None, typer.Option(
    help="Folder of torchvision datasets (default $ADVLAB_DATA or ~/.cache/advlab/data).")]
def _device_name(name: str) -> str:
    """The one device check of every verb, while parsing (no torch): unknown names refused."""
    from advlab.devices import check_device_name

    try:
        return check_device_name(name)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


Device = Annotated[str, typer.Option(callback=_device_name,
                                     help="torch device: cpu, cuda, cuda:1, mps or auto.")]
AutoDevice = Annotated[str, typer.Option(callback=_device_name,
                                         help="torch device: auto (CUDA when available), cpu, "
                                              "cuda, cuda:1 or mps.")]
# --samples, not --n: torchrun's own parser refuses "--n" as an ambiguous abbreviation of its
# options even after `-m advlab`; --n stays accepted outside torchrun.
Count = Annotated[int, typer.Option(
    "--samples", "--n", min=1,
    help="Number of test images (the first ones, class-balanced for embedded sets).")]
Force = Annotated[bool, typer.Option(help="Overwrite the results already in --out.")]
EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}
"""Context settings of a verb whose other options are a dataclass's fields (advlab.options)."""


class UserError(Exception):
    """An error caused by the command's input: shown as one red line, exit status 2."""


def show(table: Table) -> None:
    """Print an advlab Table, split or transposed so that no cell is cut at the console's
    width (`advlab.report.tables.fit_to_width`)."""
    for part in fit_to_width(table, console.width):
        rich_table = RichTable(title=part.title, title_justify="left")
        for i, column in enumerate(part.columns):
            cells = [row[i] for row in part.rows]
            numeric = all(isinstance(v, int | float | type(None)) for v in cells)
            widths = [len(w) for w in column.split()]
            widths += [len(format_cell(v)) if numeric else 0 for v in cells]
            rich_table.add_column(column, justify="right" if numeric else "left",
                                  min_width=max(widths), overflow="fold",
                                  style="yellow" if "paper" in column else None)
        for row in part.rows:
            rich_table.add_row(*(format_cell(v) for v in row))
        console.print(rich_table)
        if part.caption:  # at the console's width, not wrapped to a narrow table's
            console.print(part.caption, style="dim", highlight=False, markup=False)


def say(text: str) -> None:
    """One line of output (rich markup allowed)."""
    console.print(text, highlight=False)


def complain(text: str) -> None:
    """One line on stderr (rich markup allowed, not wrapped): errors, interruptions, hints."""
    make_console(stderr=True).print(text, highlight=False, soft_wrap=True)


def progress() -> Any:
    """Progress bars on stderr (one line per finished task when stderr is not a terminal)."""
    from advlab.progress import RichProgress

    errors = make_console(stderr=True)
    return RichProgress(errors, write_line=lambda line: errors.print(line, highlight=False))


def extra_words(ctx: typer.Context) -> list[str]:
    """The words typer left for the verb's own grammar (``--eps 0.1 --inner pgd ...``)."""
    return list(ctx.args)


def given_on_command_line(ctx: typer.Context, name: str) -> bool:
    """Whether option `name` was typed (or set from the environment), not left at its default."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")
