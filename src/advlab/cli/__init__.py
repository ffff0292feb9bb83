"""The `advlab` command: datasets, training, evaluation, attacks, certification, GANs,
reproduction of the lecture's figures and tables, and the HTML report.

One module per verb group (`data`, `train`, `attack`, `dissect`, `gan`, `experiments`), each
on the shared helpers of `advlab.cli.shared`; this module assembles them into `app` and is the
entry point (`advlab`, `python -m advlab`, `torchrun -m advlab`). Imports run one way: the
verb modules import `app`'s helpers, this module imports the verb modules. No torch is
imported at start-up: each command imports what it needs when it runs.
"""

from __future__ import annotations

import logging
import sys

import typer
from rich.console import Console
from rich.logging import RichHandler

from advlab.cli import attack, dissect, experiments, train
from advlab.cli.data import data_app
from advlab.cli.gan import gan_app
from advlab.cli.shared import EXTRA, UserError, app

app.add_typer(data_app, name="data")
app.add_typer(train.train_app, name="train")
app.command("eval")(train.evaluate)
app.command("attack", context_settings=EXTRA)(attack.attack)
app.command("certify")(attack.certify)
app.command("dissect")(dissect.dissect)
app.add_typer(gan_app, name="gan")
app.command("list")(experiments.list_experiments)
app.command("reproduce", context_settings=EXTRA)(experiments.reproduce)
app.command("report")(experiments.report)
app.command("demo")(experiments.demo)

__all__ = ["app", "main"]


def main() -> None:
    """Console entry point: clear one-line errors for bad input, full tracebacks otherwise."""
    from advlab.errors import BAD_INPUT, TrainingDiverged

    verbose = "-v" in sys.argv or "--verbose" in sys.argv
    argv = [a for a in sys.argv[1:] if a not in ("-v", "--verbose")]
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s",
                        handlers=[RichHandler(console=Console(stderr=True), show_path=False)])
    errors = Console(stderr=True)
    try:
        app(args=argv, standalone_mode=False)
    except BAD_INPUT + (UserError,) as error:
        errors.print(f"[red]error:[/] {error}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except TrainingDiverged as error:
        errors.print(f"[red]training stopped:[/] {error}", highlight=False, soft_wrap=True)
        sys.exit(3)
    except typer.Abort:  # Ctrl-C at a prompt
        sys.exit(130)
    except Exception as error:
        # usage errors of click (or of typer's vendored copy of it): show them as click would
        show_usage, exit_code = getattr(error, "show", None), getattr(error, "exit_code", None)
        if callable(show_usage) and isinstance(exit_code, int):
            show_usage()
            sys.exit(exit_code)
        raise
