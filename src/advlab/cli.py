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
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table as RichTable

from advlab.tables import Table, fit_to_width, format_cell

HELP = """advlab: GANs, adversarial examples and provable defences, from the lecture to your models.

Datasets, training, evaluation, attacks, certification, GANs, dissection, reproduction of the
lecture's figures and tables (`advlab reproduce NAME`) and the HTML report."""
LOG_WIDTH = 120  # width of tables written to a file or pipe (a terminal uses its own width)


def _console(stderr: bool = False) -> Console:
    """A console as wide as the terminal, or LOG_WIDTH when the output is a file (rich would
    use 80 there) unless $COLUMNS says otherwise."""
    probe = Console(stderr=stderr)
    width = None if probe.is_terminal or "COLUMNS" in os.environ else LOG_WIDTH
    return Console(stderr=stderr, width=width)


console = _console()
app = typer.Typer(help=HELP, rich_markup_mode="markdown", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
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
        rich_table = RichTable(title=part.title, title_justify="left")
        for i, column in enumerate(part.columns):
            cells = [row[i] for row in part.rows]
            numeric = all(isinstance(v, int | float | type(None)) for v in cells)
            longest = max([len(w) for w in column.split()] + [len(format_cell(v)) if numeric else 0 for v in cells])
            rich_table.add_column(column, justify="right" if numeric else "left", min_width=longest,
                                  overflow="fold", style="yellow" if "paper" in column else None)  # fmt: skip
        for row in part.rows:
            rich_table.add_row(*(format_cell(v) for v in row))
        console.print(rich_table)
        if part.caption:  # at the console's width, not wrapped to a narrow table's
            console.print(part.caption, style="dim", highlight=False, markup=False)


def say(text: str) -> None:
    """One line of output (rich markup allowed)."""
    console.print(text, highlight=False)


def progress() -> Any:
    """Progress bars on stderr (one line per finished task when stderr is not a terminal)."""
    from advlab.progress import RichProgress

    errors = _console(stderr=True)
    return RichProgress(errors, write_line=lambda line: errors.print(line, highlight=False))


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
    masks: Annotated[bool, typer.Option(help="Each image above its concept mask (scenes, scenes-32).")] = False,
    data_root: DataRoot = None,
) -> None:
    """Save a grid of samples of dataset NAME with their labels (--masks: with concept masks)."""
    if masks:
        from advlab.commands.dissect import show_masks

        say(f"saved {show_masks(name, out, split, n)}")
        return
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
    warmup_steps: Annotated[int, typer.Option(min=0, help="Linear lr warm-up over the first N steps.")] = 0,
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
                      seed=seed, checkpoint_every=checkpoint_every, warmup_steps=warmup_steps)  # fmt: skip
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


# ----------------------------------------------------------------------------- dissection
@app.command("dissect")
def dissect_command(
    checkpoint: Annotated[Path, typer.Option(help="Classifier or GAN checkpoint folder.")],
    layer: Annotated[list[str], typer.Option(help="Layer to dissect (repeat the option; 'all': every conv layer).")],
    data: Annotated[str, typer.Option(help="Images with concept masks for a classifier (scenes, scenes-32).")] = "scenes",
    split: str = "test",
    n: Annotated[int, typer.Option("--samples", "--n", min=1, help="Number of images (a GAN: generated samples).")] = 1000,
    segmenter: Annotated[Path | None, typer.Option(help="Segmenter checkpoint that labels the images (a GAN's always).")] = None,
    quantile: Annotated[float, typer.Option(help="Top fraction of activations that counts as 'on' (the paper: 0.01).")] = 0.01,
    iou_threshold: Annotated[float, typer.Option(help="IoU above which a unit is labelled with its concept.")] = 0.04,
    mask_size: Annotated[int | None, typer.Option(help="Compare at this resolution (default: the images').")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for dissection.json and figures (default runs/dissect/CHECKPOINT[-k]).")] = None,
    force: Force = False,
    seed: int = 0,
    device: Device = "cpu",
) -> None:
    """Network dissection (Bau et al. 2017, 2019): label each unit of the layers with the concept
    its top activations overlap best (IoU), with figures of the best units."""
    from advlab.commands.common import output_dir
    from advlab.commands.dissect import dissect_command as run_dissect

    if not 0 < quantile < 1:
        raise UserError(f"--quantile must be in (0, 1), got {quantile}")
    folder = output_dir(out, "dissect", checkpoint.resolve().name, force, "dissection.json")
    for table in run_dissect(checkpoint, layer, folder, data, split, n, segmenter, quantile, iou_threshold,
                             mask_size=mask_size, seed=seed, device=device):  # fmt: skip
        show(table)
    say(f"results: [bold]{folder}[/]")


from advlab import cli_experiments, cli_gan  # noqa: E402, F401  (more commands on this app)

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
