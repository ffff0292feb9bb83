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
import shlex
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

from advlab.cli import attack, dissect, evaluate, experiments, train
from advlab.cli.data import data_app
from advlab.cli.gan import gan_app
from advlab.cli.shared import EXTRA, UserError, app, complain


@app.callback()
def global_options(
    threads: Annotated[str | None, typer.Option(
        "--threads", help="Intra-op threads of torch: N or auto (one per core). Default: "
        "$ADVLAB_THREADS, else $OMP_NUM_THREADS, else 1 (small models gain nothing from more, "
        "and a busy machine punishes them).")] = None,
) -> None:
    """Options of every verb, given before it: `advlab --threads 2 reproduce ...`."""
    from advlab.threads import apply_threads, choose_threads

    try:
        apply_threads(choose_threads(threads))
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


app.add_typer(data_app, name="data")
app.add_typer(train.train_app, name="train")
app.command("eval")(train.evaluate)
app.command("attack", context_settings=EXTRA)(attack.attack)
app.command("certify")(attack.certify)
app.command("evaluate")(evaluate.evaluate)
app.command("dissect")(dissect.dissect)
app.add_typer(gan_app, name="gan")
app.command("list")(experiments.list_experiments)
app.command("reproduce", context_settings=EXTRA)(experiments.reproduce)
app.command("report")(experiments.report)
app.command("demo")(experiments.demo)

__all__ = ["app", "main"]


def main() -> None:
    """Console entry point: clear one-line errors for bad input, full tracebacks otherwise."""
    from advlab.errors import BAD_INPUT, TrainingDiverged, TrainingInterrupted

    verbose = "-v" in sys.argv or "--verbose" in sys.argv
    argv = [a for a in sys.argv[1:] if a not in ("-v", "--verbose")]
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s",
                        handlers=[RichHandler(console=Console(stderr=True), show_path=False)])
    try:
        # standalone_mode=False: typer turns Ctrl-C into the return value 130 instead of exiting
        status = app(args=argv, standalone_mode=False)
    except BAD_INPUT + (UserError,) as error:
        complain(f"[red]error:[/] {error}")
        sys.exit(2)
    except TrainingDiverged as error:
        complain(f"[red]training stopped:[/] {error}")
        sys.exit(3)
    except TrainingInterrupted as error:
        complain(f"[yellow]{error}[/]\nresume with: {resume_command(argv, error.checkpoint)}")
        sys.exit(130)
    except (typer.Abort, KeyboardInterrupt):  # Ctrl-C at a prompt, or a second Ctrl-C
        complain("[yellow]interrupted[/]")
        sys.exit(130)
    except Exception as error:
        # usage errors of click (or of typer's vendored copy of it): show them as click would
        show_usage, exit_code = getattr(error, "show", None), getattr(error, "exit_code", None)
        if callable(show_usage) and isinstance(exit_code, int):
            show_usage()
            sys.exit(exit_code)
        raise
    if isinstance(status, int) and status != 0:
        if status == 130:
            complain("[yellow]interrupted[/]")
        sys.exit(status)


def resume_command(argv: list[str], checkpoint: str) -> str:
    """The command that continues an interrupted training run: the same words with
    ``--out <run folder> --resume`` (a `reproduce` run trains into the model cache, which it
    finds again by the same command)."""
    from pathlib import Path

    words = [w for w in argv if w != "--resume"]
    if words[:1] == ["reproduce"] or words[:1] == ["demo"]:
        return "advlab " + shlex.join(words) + "   (the cache keeps the checkpoint)"
    if "--out" not in words and not any(w.startswith("--out=") for w in words):
        words += ["--out", str(Path(checkpoint).parent)]
    return "advlab " + shlex.join([*words, "--resume"])
