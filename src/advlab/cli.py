"""The `advlab` command: datasets, training, evaluation, attacks, certification, GANs,
reproduction of the lecture's figures and tables, and the HTML report.

Only this module prints; everything it calls returns values (tables, paths, lines) or logs.
It imports no torch at start-up: `--help`, `list`, `data list` and usage errors answer at
once, and each command imports what it needs when it runs.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table as RichTable

from advlab.tables import Table, fit_to_width, format_cell

LOG_WIDTH = 120  # width of tables written to a file or pipe (a terminal uses its own width)


def _console(stderr: bool = False) -> Console:
    """A console as wide as the terminal, or LOG_WIDTH when the output is a file (rich would
    use 80 there) unless $COLUMNS says otherwise."""
    probe = Console(stderr=stderr)
    width = None if probe.is_terminal or "COLUMNS" in os.environ else LOG_WIDTH
    return Console(stderr=stderr, width=width)


console = _console()
app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
data_app = typer.Typer(help="List and look at datasets.", no_args_is_help=True)
train_app = typer.Typer(help="Train classifiers.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(train_app, name="train")

DataRoot = Annotated[Path | None, typer.Option(help="Folder of torchvision datasets (default $ADVLAB_DATA or ~/.cache/advlab/data).")]
Device = Annotated[str, typer.Option(help="torch device, e.g. cpu, cuda, cuda:1.")]
# --samples, not --n: torchrun's own parser refuses "--n" as an ambiguous abbreviation of its
# options even after `-m advlab`; --n stays accepted outside torchrun.
Count = Annotated[int, typer.Option("--samples", "--n", min=1, help="Number of test images (the first ones, class-balanced for embedded sets).")]
Force = Annotated[bool, typer.Option(help="Overwrite the results already in --out.")]
EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}


class UserError(Exception):
    """An error caused by the command's input: shown as one red line, exit status 2."""


def show(table: Table) -> None:
    """Print an advlab Table, split or transposed so that no cell is cut at the console's
    width (`advlab.tables.fit_to_width`)."""
    for part in fit_to_width(table, console.width):
        rich_table = RichTable(title=part.title, caption=part.caption or None, title_justify="left",
                               caption_justify="left")  # fmt: skip
        for i, column in enumerate(part.columns):
            cells = [row[i] for row in part.rows]
            numeric = all(isinstance(v, int | float | type(None)) for v in cells)
            longest = max([len(w) for w in column.split()] + [len(format_cell(v)) if numeric else 0 for v in cells])
            rich_table.add_column(column, justify="right" if numeric else "left", min_width=longest,
                                  overflow="fold", style="yellow" if "paper" in column else None)  # fmt: skip
        for row in part.rows:
            rich_table.add_row(*(format_cell(v) for v in row))
        console.print(rich_table)


def say(text: str) -> None:
    """One line of output (rich markup allowed)."""
    console.print(text, highlight=False)


def progress() -> Any:
    """Progress bars on stderr (one line per finished task when stderr is not a terminal)."""
    from advlab.progress import RichProgress

    return RichProgress(_console(stderr=True))


def _words(ctx: typer.Context) -> list[str]:
    return list(ctx.args)


# ----------------------------------------------------------------------------- datasets
@data_app.command("list")
def data_list(data_root: DataRoot = None) -> None:
    """Every dataset advlab knows, its size, and whether it is available here."""
    from advlab.commands.data import dataset_table

    show(dataset_table(data_root))


@data_app.command("show")
def data_show(
    name: str,
    out: Annotated[Path, typer.Option(help="PNG file for the grid.")] = Path("grid.png"),
    split: str = "train",
    n: Annotated[int, typer.Option("--samples", "--n", min=1, help="Number of samples.")] = 32,
    download: Annotated[bool, typer.Option(help="Download the dataset if missing (needs a network).")] = False,
    data_root: DataRoot = None,
) -> None:
    """Save a grid of samples of dataset NAME with their labels."""
    from advlab.commands.data import show_samples

    say(show_samples(name, out, split, n, download, data_root))


# ----------------------------------------------------------------------------- training
@train_app.command("classifier")
def train_classifier(
    model: Annotated[str, typer.Option(help="Model name (advlab list --models).")] = "lenet",
    data: Annotated[str, typer.Option(help="Dataset name (advlab data list).")] = "mnist-5k",
    epochs: Annotated[int, typer.Option(min=1)] = 5,
    batch_size: Annotated[int, typer.Option(min=1)] = 64,
    optimizer: Annotated[str, typer.Option(help="sgd (momentum) or adam.")] = "sgd",
    lr: float = 0.01,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    schedule: Annotated[str, typer.Option(help="constant, cosine or step.")] = "constant",
    seed: int = 0,
    out: Annotated[Path | None, typer.Option(help="Run folder (default runs/classifier/MODEL-DATA[-k]).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out bit-for-bit.")] = False,
    force: Force = False,
    checkpoint_every: Annotated[int, typer.Option(min=0, help="Also checkpoint every N batches.")] = 0,
    robust: Annotated[str | None, typer.Option(help="Certified training: 'wong' (Wong-Kolter robust loss).")] = None,
    eps: Annotated[float, typer.Option(help="Linf radius for --robust.")] = 0.1,
    eps_warmup: Annotated[float, typer.Option(help="Fraction of training over which eps ramps up.")] = 0.5,
    projections: Annotated[int | None, typer.Option(help="Random projections for the robust bound (None: exact).")] = None,
    front_end: Annotated[str | None, typer.Option(help="Sparsifying front end BASIS:RHO[:LEVEL], e.g. coif1:0.035 or dct:0.1.")] = None,
    l1_budget: Annotated[str | None, typer.Option(help="l1 budget per neuron: GAMMA for every layer, or GAMMA1,...,GAMMAL (inf: free).")] = None,
    download: bool = False,
    data_root: DataRoot = None,
    device: Device = "cpu",
) -> None:
    """Train a classifier (standard, certified, behind a sparsifying front end, or with l1
    weight budgets) with a progress bar, metrics.csv, TensorBoard curves and atomic
    safetensors checkpoints; prints the test accuracy at the end (and the Theorem 2 bound
    at eps 0.1 with --l1-budget)."""
    from advlab.commands.common import device as torch_device
    from advlab.commands.common import output_dir
    from advlab.commands.train import RobustSpec
    from advlab.commands.train import train_classifier as run
    from advlab.models.checkpoint import CHECKPOINT_FILE
    from advlab.train import TrainConfig

    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr,  # type: ignore[arg-type]
                      momentum=momentum, weight_decay=weight_decay, schedule=schedule,  # type: ignore[arg-type]
                      seed=seed, checkpoint_every=checkpoint_every)  # fmt: skip
    if resume and out is None:
        raise UserError("--resume needs --out, the run folder to continue")
    folder = out if resume and out is not None else output_dir(out, "classifier", f"{model}-{data}", force,
                                                               CHECKPOINT_FILE)  # fmt: skip
    spec = RobustSpec(robust, eps, eps_warmup, projections) if robust is not None else None
    tables, lines = run(model, data, cfg, folder, resume=resume, robust=spec, front_end=front_end,
                        l1_budget=l1_budget, download=download, data_root=data_root,
                        device=torch_device(device), progress=progress())  # fmt: skip
    for table in tables:
        show(table)
    for line in lines:
        say(line)


@app.command("eval")
def eval_command(
    checkpoint: Annotated[Path, typer.Option(help="Run folder or checkpoint file.")],
    data: str = "mnist-5k",
    split: str = "test",
    data_root: DataRoot = None,
    device: Device = "cpu",
) -> None:
    """Accuracy of a trained classifier, with a per-class table."""
    from advlab.commands.common import device as torch_device
    from advlab.commands.train import evaluate_checkpoint

    for table in evaluate_checkpoint(checkpoint, data, split, data_root, torch_device(device)):
        show(table)


# ----------------------------------------------------------------------------- attacks, certification
@app.command("attack", context_settings=EXTRA)
def attack_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Attack name (advlab list --attacks), universal or ensemble.")],
    checkpoint: Annotated[Path | None, typer.Option(help="Run folder or checkpoint file of the classifier.")] = None,
    data: str = "mnist-5k",
    split: str = "test",
    n: Count = 1000,
    batch_size: Annotated[int, typer.Option(min=1, help="Images attacked at once (memory).")] = 500,
    out: Annotated[Path | None, typer.Option(help="Folder for result.json and the image grid (default runs/attack/NAME[-k]).")] = None,
    force: Force = False,
    seed: Annotated[int, typer.Option(help="Seed of the attack's random draws (per chunk of --batch-size).")] = 0,
    data_root: DataRoot = None,
    device: Device = "cpu",
) -> None:
    """Attack a trained classifier: success rate, accuracy under attack, rho_adv, median norm,
    time per sample; writes result.json and a grid of originals / perturbations / adversarials.
    Every hyperparameter of the attack is an option (--eps 0.1, --steps 40, --no-random-start,
    --targeted, ...; `advlab list --attacks` shows them). --targeted aims at (label + 1) mod K.
    `attack universal` fits one perturbation for the whole set (--xi, --n-fit, --variant, ...);
    `attack ensemble --checkpoints A,B,C [--held-out D]` attacks an ensemble (Liu et al.).
    Under `torchrun --nproc_per_node=N -m advlab attack ...` the images are shared by N processes."""
    from advlab.commands.attack import build_attack, run_attack
    from advlab.commands.attack_protocols import PROTOCOLS, parse_protocol_options, run_protocol
    from advlab.commands.common import load_model_and_data, output_dir
    from advlab.train.distributed import init_from_env, shutdown

    folder = output_dir(out, "attack", name, force, "result.json")
    if name in PROTOCOLS:  # their own verbs: fit on a set, or a list of models
        options = parse_protocol_options(name, _words(ctx))
        dev = init_from_env(device)[1]
        show(run_protocol(name, options, checkpoint, data, split, n, folder, seed, data_root, dev))
        say(f"results: [bold]{folder}/result.json[/]")
        return
    attack = build_attack(name, _words(ctx))  # bad names and values fail before any loading
    if checkpoint is None:
        raise UserError(f"attack {name} needs --checkpoint (the classifier)")
    env, dev = init_from_env(device)
    try:
        model, dataset, x, y = load_model_and_data(checkpoint, data, split, n, data_root, dev)
        if attack.targeted:
            y = (y + 1) % dataset.num_classes
        table, _ = run_attack(name, model, x, y, folder, dataset.classes, attack=attack,
                              batch_size=batch_size, seed=seed, progress=progress() if env.is_main else None)  # fmt: skip
        if env.is_main:
            show(table)
            say(f"results: [bold]{folder}/result.json[/]")
    finally:
        shutdown(env)


@app.command("certify")
def certify_command(
    checkpoint: Annotated[Path, typer.Option(help="Run folder or checkpoint file of the classifier.")],
    data: str = "mnist-5k",
    split: str = "test",
    eps: Annotated[float, typer.Option(help="Linf radius (> 0).")] = 0.1,
    n: Annotated[int | None, typer.Option("--samples", "--n", min=1, help="Number of test images (default: all).")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 50,
    pgd_steps: Annotated[int, typer.Option(min=1, help="PGD steps of the empirical attack beside the bound.")] = 40,
    out: Annotated[Path | None, typer.Option(help="Folder for result.json (default runs/certify/CHECKPOINT[-k]).")] = None,
    force: Force = False,
    seed: int = 0,
    data_root: DataRoot = None,
    device: Device = "cpu",
) -> None:
    """Wong-Kolter certification of a classifier: test, FGSM and PGD error, the certified
    robust error bound and certified accuracy at radius eps (sharded under torchrun)."""
    from advlab.commands.certify import certify_command as run_certify
    from advlab.commands.common import load_model_and_data, output_dir
    from advlab.train.distributed import init_from_env, shutdown

    if not eps > 0:
        raise UserError(f"--eps must be > 0, got {eps}")
    folder = output_dir(out, "certify", checkpoint.resolve().name, force, "result.json")
    env, dev = init_from_env(device)
    try:
        model, _, x, y = load_model_and_data(checkpoint, data, split, n, data_root, dev)
        table, _ = run_certify(model, x, y, eps, folder, batch_size=batch_size, seed=seed, pgd_steps=pgd_steps,
                               progress=progress() if env.is_main else None)  # fmt: skip
        if env.is_main:
            show(table)
            say(f"results: [bold]{folder}/result.json[/]")
    finally:
        shutdown(env)


# ----------------------------------------------------------------------------- experiments
@app.command("list")
def list_command(
    models_: Annotated[bool, typer.Option("--models", help="List the classifiers instead.")] = False,
    attacks: Annotated[bool, typer.Option("--attacks", help="List the attacks and their options instead.")] = False,
) -> None:
    """Every experiment (lecture figure or table) with its paper reference."""
    if models_:
        from advlab import models

        show(Table("Classifiers", ["name", "description"],
                   [[n, models.describe(n) if not n.endswith("<name>") else "any torchvision model"]
                    for n in models.names()]))  # fmt: skip
        return
    if attacks:
        from advlab.attacks import ATTACKS
        from advlab.commands.attack_protocols import PROTOCOLS
        from advlab.options import describe_fields

        for name, cls in [*ATTACKS.items(), *PROTOCOLS.items()]:
            doc = " ".join((cls.__doc__ or "").split("\n\n")[0].split())
            show(Table(f"advlab attack {name}", ["option", "type", "default"],
                       [list(r) for r in describe_fields(cls)], caption=doc))  # fmt: skip
        return
    from advlab.commands.experiments import experiment_table

    show(experiment_table())


@app.command("reproduce", context_settings=EXTRA)
def reproduce(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Experiment name (advlab list) or 'all'.")],
    scale: Annotated[str, typer.Option(help="demo (make demo's size), quick (CPU, embedded data, minutes) or paper (full data, GPU).")] = "quick",
    out: Annotated[Path, typer.Option(help="Results folder; one sub-folder per experiment.")] = Path("runs/reproduce"),
    cache_dir: Annotated[Path | None, typer.Option(help="Cache of trained models (default ~/.cache/advlab/models).")] = None,
    seed: int = 0,
    data_root: DataRoot = None,
    device: Device = "cpu",
) -> None:
    """Reproduce a figure or table of the lecture. Extra `--field value` options override the
    experiment's config fields (see config.json in the output for the names)."""
    from advlab import experiments
    from advlab.options import split_words

    names = experiments.names() if name == "all" else [name]
    _run_experiments(names, scale, out, split_words(_words(ctx), set()), cache_dir, seed, data_root, device)


def _run_experiments(names: list[str], scale: str, out: Path, overrides: dict[str, str],
                     cache_dir: Path | None, seed: int, data_root: Path | None, device: str) -> None:  # fmt: skip
    """Validate, run each experiment with a running total, print its tables, write the report."""
    from advlab.commands.experiments import run_experiments, validate, write_report
    from advlab.experiments.base import default_cache_dir
    from advlab.train.distributed import init_from_env, shutdown

    validate(names, scale, overrides)  # before anything is printed or run
    env, dev = init_from_env(device)
    start = time.perf_counter()
    main = env.is_main

    def started(name: str, index: int) -> None:
        if main:
            console.rule(f"[bold]{name}[/] ({scale}, {index + 1} of {len(names)})")

    def done(outcome: Any) -> None:
        if not main:
            return
        for table in outcome.tables:
            show(table)
        total = time.perf_counter() - start
        if outcome.error:
            say(f"[red]{outcome.name} failed: {outcome.error}[/]")
        say(f"{outcome.name}: {outcome.seconds:.1f} s (running total {total:.0f} s), results in {outcome.out_dir}")

    ctx_kwargs = {"cache_dir": cache_dir or default_cache_dir(), "device": dev, "seed": seed,
                  "reporter": progress() if main else None, "data_root": data_root}  # fmt: skip
    if not main:  # other ranks compute the same experiments; only rank 0 writes the results
        import tempfile

        out = Path(tempfile.mkdtemp(prefix=f"advlab-rank{env.rank}-"))
        del ctx_kwargs["reporter"]
    try:
        finished = run_experiments(names, scale, out, overrides, ctx_kwargs, started, done)
    finally:
        shutdown(env)
    if not main:
        return
    report = write_report(out)
    say(f"finished in {time.perf_counter() - start:.0f} s; report: [bold]{report.resolve()}[/]")
    failures = [f.name for f in finished if f.error]
    if failures:
        raise UserError(f"{len(failures)} experiment(s) failed: {', '.join(failures)}")


@app.command("report")
def report_command(
    folder: Annotated[Path, typer.Argument(help="Folder with experiment results (advlab reproduce --out).")],
    out: Annotated[Path | None, typer.Option(help="HTML file (default FOLDER/report.html).")] = None,
) -> None:
    """Render every result in FOLDER into one self-contained report.html."""
    from advlab.commands.experiments import write_report

    say(f"report: [bold]{write_report(folder, out)}[/]")


DEMO_EXPERIMENTS: tuple[str, ...] = ("classifier-baselines", "deepfool-table", "fgsm-figure", "wong-table",
                                     "inception-curves")


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option(help="Results folder.")] = Path("runs/demo"),
    cache_dir: Annotated[Path | None, typer.Option(help="Cache of trained models.")] = None,
) -> None:
    """The main job on the embedded default: every family of the lecture at demo size (one
    experiment or two each), with a running total, then the HTML report."""
    from advlab import experiments

    names = [n for n in DEMO_EXPERIMENTS if n in experiments.names()]
    _run_experiments(names, "demo", out, {}, cache_dir, 0, None, "cpu")


from advlab import cli_gan  # noqa: E402  (the `advlab gan ...` commands, on this app)

app.add_typer(cli_gan.gan_app, name="gan")


# ----------------------------------------------------------------------------- entry point
def main() -> None:
    """Console entry point: clear one-line errors for bad input, full tracebacks otherwise."""
    from advlab.errors import BAD_INPUT, TrainingDiverged

    verbose = "-v" in sys.argv or "--verbose" in sys.argv
    argv = [a for a in sys.argv[1:] if a not in ("-v", "--verbose")]
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s",
                        handlers=[RichHandler(console=Console(stderr=True), show_path=False)])  # fmt: skip
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


if __name__ == "__main__":
    main()
