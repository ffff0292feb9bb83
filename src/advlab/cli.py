"""The `advlab` command: datasets, training, evaluation, attacks, certification, GANs,
reproduction of the lecture's figures and tables, and the HTML report.

Only this module prints; everything it calls returns values (tables, paths) or logs.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table as RichTable

from advlab.tables import Table, format_cell

console = Console()
app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
data_app = typer.Typer(help="List and look at datasets.", no_args_is_help=True)
train_app = typer.Typer(help="Train models.", no_args_is_help=True)
app.add_typer(data_app, name="data")
gan_app = typer.Typer(help="Train GANs, sample from them, walk their latent space.", no_args_is_help=True)
app.add_typer(train_app, name="train")
app.add_typer(gan_app, name="gan")

DataRoot = Annotated[Path | None, typer.Option(help="Folder of torchvision datasets (default $ADVLAB_DATA or ~/.cache/advlab/data).")]
Device = Annotated[str, typer.Option(help="torch device, e.g. cpu, cuda, cuda:1.")]


class UserError(Exception):
    """An error caused by the command's input: shown as one red line, exit status 2."""


def show(table: Table) -> None:
    """Print an advlab Table with rich."""
    rich_table = RichTable(title=table.title, caption=table.caption or None, title_justify="left")
    for i, column in enumerate(table.columns):
        numeric = all(isinstance(row[i], int | float | type(None)) for row in table.rows)
        rich_table.add_column(column, justify="right" if numeric else "left",
                              style="yellow" if "paper" in column else None)  # fmt: skip
    for row in table.rows:
        rich_table.add_row(*(format_cell(v) for v in row))
    console.print(rich_table)


def _device(name: str) -> Any:
    import torch

    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise UserError(f"bad --device {name!r}: {error}") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but torch sees no CUDA device")
    return device


def _load_model_and_data(checkpoint: Path, data: str, split: str, n: int | None, data_root: Path | None,
                         device: Any) -> tuple[Any, Any, Any, Any]:  # fmt: skip
    from advlab import data as datasets
    from advlab import models

    model = models.load_checkpoint(checkpoint, device=device)
    dataset = datasets.load(data, split, root=data_root)
    x, y = datasets.as_tensors(dataset, limit=n)
    return model, dataset, x.to(device), y.to(device)


# ----------------------------------------------------------------------------- datasets
@data_app.command("list")
def data_list(data_root: DataRoot = None) -> None:
    """Every dataset advlab knows, its size, and whether it is available here."""
    from advlab import data as datasets
    from advlab.data.registry import default_root

    root = data_root or default_root()
    rows: list[list[Any]] = []
    for name in datasets.DATASETS.names():
        if name.endswith("<name>"):
            rows.append([name, "", "", "", "", "needs an argument"])
            continue
        spec = datasets.info(name)
        rows.append([name, spec.description, "x".join(map(str, spec.shape)), spec.sizes["train"],
                     spec.sizes["test"], "embedded" if spec.embedded else ("yes" if spec.available(root) else "no")])  # fmt: skip
    show(Table("Datasets", ["name", "description", "shape", "train", "test", "available"], rows,
               caption=f"torchvision datasets are looked for under {root}"))  # fmt: skip


@data_app.command("show")
def data_show(
    name: str,
    out: Annotated[Path, typer.Option(help="PNG file for the grid.")] = Path("grid.png"),
    split: str = "train",
    n: Annotated[int, typer.Option(help="Number of samples.")] = 32,
    download: Annotated[bool, typer.Option(help="Download the dataset if missing (needs a network).")] = False,
    data_root: DataRoot = None,
) -> None:
    """Save a grid of samples of dataset NAME with their labels."""
    from advlab import data as datasets
    from advlab.plotting import labelled_grid

    dataset = datasets.load(name, split, root=data_root, download=download)
    x, y = datasets.as_tensors(dataset, limit=n)
    labelled_grid(x, [dataset.classes[int(k)] for k in y], out, suptitle=f"{name} ({split})")
    console.print(f"{len(x)} samples of {name} ({split}, {len(dataset)} in all) -> [bold]{out}[/]")


# ----------------------------------------------------------------------------- training
@train_app.command("classifier")
def train_classifier(
    model: Annotated[str, typer.Option(help="Model name (advlab list --models).")] = "lenet",
    data: Annotated[str, typer.Option(help="Dataset name (advlab data list).")] = "mnist-5k",
    epochs: int = 5,
    batch_size: int = 64,
    optimizer: Annotated[str, typer.Option(help="sgd (momentum) or adam.")] = "sgd",
    lr: float = 0.01,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    schedule: Annotated[str, typer.Option(help="constant, cosine or step.")] = "constant",
    seed: int = 0,
    out: Annotated[Path, typer.Option(help="Run folder: checkpoint, metrics.csv, TensorBoard.")] = Path("runs/classifier"),
    resume: Annotated[bool, typer.Option(help="Continue the run in --out bit-for-bit.")] = False,
    checkpoint_every: Annotated[int, typer.Option(help="Also checkpoint every N batches.")] = 0,
    robust: Annotated[str | None, typer.Option(help="Certified training: 'wong' (Wong-Kolter robust loss).")] = None,
    eps: Annotated[float, typer.Option(help="Linf radius for --robust.")] = 0.1,
    eps_warmup: Annotated[float, typer.Option(help="Fraction of training over which eps ramps up.")] = 0.5,
    projections: Annotated[int | None, typer.Option(help="Random projections for the robust bound (None: exact).")] = None,
    download: bool = False,
    data_root: DataRoot = None,
    device: Device = "cpu",
) -> None:
    """Train a classifier (standard or certified) with a progress bar, metrics.csv, TensorBoard
    curves and atomic safetensors checkpoints; prints the test accuracy at the end."""
    import torch

    from advlab import data as datasets
    from advlab import models
    from advlab.experiments.cache import model_args_for
    from advlab.progress import RichProgress
    from advlab.train import TrainConfig, cross_entropy_loss, fit

    dev = _device(device)
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr,  # type: ignore[arg-type]
                      momentum=momentum, weight_decay=weight_decay, schedule=schedule,  # type: ignore[arg-type]
                      seed=seed, checkpoint_every=checkpoint_every)  # fmt: skip
    train_set = datasets.load(data, "train", root=data_root, download=download)
    test_set = datasets.load(data, "test", root=data_root, download=download)
    args = model_args_for(model, data)
    torch.manual_seed(seed)
    net = models.create(model, **args).to(dev)
    batch_loss: Any = cross_entropy_loss
    meta: dict[str, Any] = {"model": model, "model_args": args, "dataset": data}
    if robust is not None:
        batch_loss = _robust_loss(robust, eps, eps_warmup, projections)
        meta["robust"] = {"method": robust, "eps": eps, "eps_warmup": eps_warmup, "projections": projections}
    summary = fit(net, train_set, test_set, cfg, out, batch_loss=batch_loss, resume=resume, meta=meta,
                  progress=RichProgress())  # fmt: skip
    last = summary.history[-1] if summary.history else {}
    show(Table(f"{model} on {data}", ["epochs", "train loss", "train acc", "test acc", "seconds"],
               [[summary.epochs, summary.train_loss, summary.train_accuracy, summary.test_accuracy,
                 round(summary.seconds, 1)]]))  # fmt: skip
    extra = {k: v for k, v in last.items() if k in ("robust_error", "eps")}
    if extra:
        console.print("last epoch: " + ", ".join(f"{k} {format_cell(v)}" for k, v in extra.items()))
    console.print(f"checkpoint: [bold]{summary.checkpoint}[/]  curves: {out}/metrics.csv, {out}/tb")


def _robust_loss(method: str, eps: float, warmup: float, projections: int | None) -> Any:
    if method != "wong":
        raise UserError(f"unknown --robust {method!r}; valid: wong")
    try:
        from advlab.defenses.certify.training import RobustBatchLoss
    except ImportError as error:
        raise UserError(f"certified training is not available in this build: {error}") from error
    return RobustBatchLoss(eps=eps, warmup_fraction=warmup, projections=projections, lower=0.0, upper=1.0)


@app.command("eval")
def eval_command(
    checkpoint: Annotated[Path, typer.Option(help="Run folder or checkpoint file.")],
    data: str = "mnist-5k",
    split: str = "test",
    data_root: DataRoot = None,
    device: Device = "cpu",
) -> None:
    """Accuracy of a trained classifier, with a per-class table."""
    from advlab.train import evaluate

    model, dataset, x, y = _load_model_and_data(checkpoint, data, split, None, data_root, _device(device))
    result = evaluate(model, (x, y), num_classes=dataset.num_classes)
    rows = [[dataset.classes[k], result.counts[k], result.per_class[k]] for k in range(len(result.counts))]
    show(Table(f"Per-class accuracy on {data} ({split})", ["class", "samples", "accuracy"], rows))
    show(Table("Overall", ["samples", "accuracy", "error %", "loss"],
               [[result.n, result.accuracy, 100 * result.error, result.loss]]))  # fmt: skip


# ----------------------------------------------------------------------------- attacks, certification
@app.command("attack")
def attack_command(
    name: Annotated[str, typer.Argument(help="fgsm, pgd, deepfool or lbfgs.")],
    checkpoint: Annotated[Path, typer.Option(help="Run folder or checkpoint file of the classifier.")],
    data: str = "mnist-5k",
    split: str = "test",
    n: Annotated[int, typer.Option(help="Number of test images (the first n, class-balanced for embedded sets).")] = 1000,
    eps: Annotated[float | None, typer.Option(help="Perturbation budget (fgsm, pgd).")] = None,
    norm: Annotated[str | None, typer.Option(help="linf or l2 (pgd, deepfool).")] = None,
    steps: Annotated[int | None, typer.Option(help="Iterations (pgd, deepfool).")] = None,
    step_size: Annotated[float | None, typer.Option(help="PGD step size (default 2.5 * eps / steps).")] = None,
    random_start: Annotated[bool | None, typer.Option(help="PGD: start uniformly in the eps-ball (default on).")] = None,
    restarts: Annotated[int | None, typer.Option(help="PGD random restarts.")] = None,
    overshoot: Annotated[float | None, typer.Option(help="DeepFool overshoot.")] = None,
    candidates: Annotated[int | None, typer.Option(help="DeepFool: candidate classes, the largest logits (>= 2).")] = None,
    c_init: Annotated[float | None, typer.Option(help="L-BFGS: first penalty weight c of the search.")] = None,
    search_steps: Annotated[int | None, typer.Option(help="L-BFGS: values of c tried per sample.")] = None,
    max_iter: Annotated[int | None, typer.Option(help="L-BFGS: iterations per value of c.")] = None,
    targeted: Annotated[bool, typer.Option(help="Targeted attack towards (label + 1) mod K (fgsm, pgd, lbfgs).")] = False,
    predicted_labels: Annotated[bool, typer.Option(help="FGSM: attack the model's predictions, not the labels.")] = False,
    out: Annotated[Path, typer.Option(help="Folder for result.json and the image grid.")] = Path("runs/attack"),
    seed: int = 0,
    data_root: DataRoot = None,
    device: Device = "cpu",
) -> None:
    """Attack a trained classifier: success rate, accuracy under attack, rho_adv, median norm,
    time per sample; writes result.json and a grid of originals / perturbations / adversarials.
    Options an attack does not take are refused with the list of those it does."""
    import torch

    from advlab.attacks import create_attack
    from advlab.commands.attack import run_attack

    params = {k: v for k, v in {
        "eps": eps, "norm": norm, "steps": steps, "step_size": step_size, "random_start": random_start,
        "restarts": restarts, "overshoot": overshoot, "candidates": candidates, "c_init": c_init,
        "search_steps": search_steps, "max_iter": max_iter}.items() if v is not None}  # fmt: skip
    if targeted:
        params["targeted"] = True
    if predicted_labels:
        params["use_predicted_labels"] = True
    create_attack(name, **params)  # bad names and values fail here, before any loading
    model, dataset, x, y = _load_model_and_data(checkpoint, data, split, n, data_root, _device(device))
    if targeted:
        y = (y + 1) % dataset.num_classes
    torch.manual_seed(seed)
    table, _ = run_attack(name, model, x, y, out, dataset.classes, **params)
    show(table)
    console.print(f"results: [bold]{out}/result.json[/]")


@app.command("certify")
def certify_command(
    checkpoint: Annotated[Path, typer.Option(help="Run folder or checkpoint file of the classifier.")],
    data: str = "mnist-5k",
    split: str = "test",
    eps: Annotated[float, typer.Option(help="Linf radius.")] = 0.1,
    n: Annotated[int | None, typer.Option(help="Number of test images (default: all).")] = None,
    batch_size: int = 50,
    out: Annotated[Path, typer.Option(help="Folder for result.json.")] = Path("runs/certify"),
    data_root: DataRoot = None,
    device: Device = "cpu",
) -> None:
    """Wong-Kolter certification of a classifier: test, FGSM and PGD error, the certified
    robust error bound and certified accuracy at radius eps."""
    from advlab.commands.certify import certify_command as run_certify

    model, _, x, y = _load_model_and_data(checkpoint, data, split, n, data_root, _device(device))
    table, _ = run_certify(model, x, y, eps, out, batch_size=batch_size)
    show(table)
    console.print(f"results: [bold]{out}/result.json[/]")


# ----------------------------------------------------------------------------- GANs
def _given_on_command_line(ctx: typer.Context, name: str) -> bool:
    """Whether option `name` was typed (or set from the environment), not left at its default."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")


@gan_app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def gan_train(
    ctx: typer.Context,
    loss: Annotated[str, typer.Option(help="minimax, nonsaturating, lsgan, wgan or wgan-gp.")] = "wgan-gp",
    arch: Annotated[str, typer.Option(help="dcgan, dcgan-nobn-const, mlp, mlp512, nonorm, gated, tanh, resnet.")] = "dcgan",
    data: str = "mnist-5k",
    iters: Annotated[int, typer.Option(help="Total generator iterations of the run.")] = 2000,
    eval_every: Annotated[int, typer.Option(help="FID/KID/IS every N generator steps (0: off).")] = 0,
    width: Annotated[int, typer.Option(help="Base number of filters (16 is a good CPU size).")] = 64,
    batch_size: int = 64,
    seed: int = 0,
    out: Annotated[Path, typer.Option(help="Run folder: checkpoints, samples/, metrics.csv, tb/.")] = Path("runs/gan"),
    resume: Annotated[bool, typer.Option(help="Continue the run in --out up to --iters, with its saved settings.")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, ...")] = "auto",
) -> None:
    """Train a GAN with the objective's paper defaults (Goodfellow, DCGAN, LSGAN, WGAN,
    WGAN-GP). Any other GANTrainConfig field is an extra option, e.g. --n-critic 5, --lr 1e-4,
    --betas 0,0.9, --ema-decay 0.999, --latent-prior uniform, --eval-features classifier:runs/lenet.
    With --resume the run's saved settings are used and only the options given change them.
    Under `torchrun --nproc_per_node=N -m advlab gan train ...` it trains with DDP."""
    import dataclasses
    import typing

    from advlab.commands.gan import resumed_config, train_command
    from advlab.experiments.runner import coerce
    from advlab.gan.config import GANTrainConfig
    from advlab.progress import RichProgress

    extras = _overrides(list(ctx.args))
    hints = typing.get_type_hints(GANTrainConfig)
    fields = {f.name for f in dataclasses.fields(GANTrainConfig)}
    values: dict[str, Any] = {}
    for key, text in extras.items():
        name = key.replace("-", "_")
        if name not in fields:
            raise UserError(f"unknown option --{key}; GAN config fields: {', '.join(sorted(fields))}")
        values[name] = coerce(text, hints[name], name)
    named: dict[str, Any] = {"loss": loss, "arch": arch, "data": data, "iters": iters, "eval_every": eval_every,
             "width": width, "batch_size": batch_size, "seed": seed, "device": device}
    if resume:  # the saved settings, changed only by what the command line gives
        given = {k: v for k, v in named.items() if _given_on_command_line(ctx, k)}
        cfg = resumed_config(out, {**given, **values})
    else:
        cfg = GANTrainConfig(**named, **values)
    show(train_command(cfg, out, resume=resume, reporter=RichProgress()))
    console.print(f"run folder: [bold]{out}[/] (samples/, metrics.csv, tb/, checkpoint)")


@gan_app.command("sample")
def gan_sample(
    checkpoint: Annotated[Path, typer.Option(help="GAN run folder or checkpoint file.")],
    n: int = 64,
    out: Path = Path("grid.png"),
    seed: int = 0,
    ema: Annotated[bool, typer.Option(help="Use the EMA generator when the run has one.")] = True,
    device: str = "cpu",
) -> None:
    """A grid of n samples from a trained generator."""
    from advlab.commands.gan import sample_command

    console.print(f"samples -> [bold]{sample_command(checkpoint, n, out, seed, ema, device)}[/]")


@gan_app.command("interpolate")
def gan_interpolate(
    checkpoint: Annotated[Path, typer.Option(help="GAN run folder or checkpoint file.")],
    out: Path = Path("interpolation.png"),
    steps: int = 10,
    rows: int = 8,
    seed: int = 0,
    method: Annotated[str, typer.Option(help="slerp or linear.")] = "slerp",
    ema: bool = True,
    device: str = "cpu",
) -> None:
    """Latent-space walks between random latent pairs, one row each."""
    from advlab.commands.gan import interpolate_command

    path = interpolate_command(checkpoint, out, steps, rows, seed, method, ema, device)
    console.print(f"interpolation -> [bold]{path}[/]")


# ----------------------------------------------------------------------------- experiments
@app.command("list")
def list_command(
    models_: Annotated[bool, typer.Option("--models", help="List the classifiers instead.")] = False,
) -> None:
    """Every experiment (lecture figure or table) with its paper reference."""
    if models_:
        from advlab import models

        show(Table("Classifiers", ["name", "description"], [[n, models.describe(n) if not n.endswith("<name>") else "any torchvision model"] for n in models.names()]))
        return
    from advlab import experiments

    rows = []
    for name in experiments.names():
        try:
            module = experiments.get(name)
            rows.append([name, module.TITLE, module.PAPER])
        except ImportError as error:
            rows.append([name, f"(unavailable: {error})", ""])
    show(Table("Experiments (advlab reproduce NAME)", ["name", "what", "paper"], rows))


def _overrides(args: list[str]) -> dict[str, str]:
    """`--field value` / `--field=value` pairs after the known options."""
    pairs: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            raise UserError(f"unexpected argument {arg!r}; overrides look like --field value")
        if "=" in arg:
            key, value = arg[2:].split("=", 1)
            i += 1
        else:
            if i + 1 >= len(args):
                raise UserError(f"override {arg} has no value")
            key, value = arg[2:], args[i + 1]
            i += 2
        pairs[key] = value
    return pairs


@app.command("reproduce", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def reproduce(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Experiment name (advlab list) or 'all'.")],
    scale: Annotated[str, typer.Option(help="quick (CPU, embedded data, minutes) or paper (full data, GPU).")] = "quick",
    out: Annotated[Path, typer.Option(help="Results folder; one sub-folder per experiment.")] = Path("runs/reproduce"),
    cache_dir: Annotated[Path | None, typer.Option(help="Cache of trained models (default ~/.cache/advlab/models).")] = None,
    seed: int = 0,
    data_root: DataRoot = None,
    device: Device = "cpu",
) -> None:
    """Reproduce a figure or table of the lecture. Extra `--field value` options override the
    experiment's config fields (see config.json in the output for the names)."""
    from advlab import experiments

    overrides = _overrides(list(ctx.args))
    names = experiments.names() if name == "all" else [name]
    if name != "all":
        experiments.get(name)  # unknown names fail before any work
    failures = _run_experiments(names, scale, out, overrides, cache_dir, seed, data_root, device)
    report = _report(out)
    console.print(f"report: [bold]{report}[/]")
    if failures:
        raise UserError(f"{len(failures)} experiment(s) failed: {', '.join(failures)}")


def _run_experiments(names: list[str], scale: str, out: Path, overrides: dict[str, str],
                     cache_dir: Path | None, seed: int, data_root: Path | None, device: str) -> list[str]:  # fmt: skip
    from advlab.experiments.base import default_cache_dir
    from advlab.experiments.runner import run_experiment
    from advlab.progress import RichProgress

    ctx_kwargs = {"cache_dir": cache_dir or default_cache_dir(), "device": _device(device), "seed": seed,
                  "reporter": RichProgress(), "data_root": data_root}  # fmt: skip
    failures = []
    for name in names:
        console.rule(f"[bold]{name}[/] ({scale})")
        try:
            outcome = run_experiment(name, scale, out, overrides, ctx_kwargs)
        except Exception as error:  # one failing experiment must not stop `reproduce all`
            if len(names) == 1:
                raise
            logging.getLogger("advlab").exception("experiment %s failed", name)
            console.print(f"[red]{name} failed: {error}[/]")
            failures.append(name)
            continue
        for table in outcome.rendered.tables if outcome.rendered else []:
            show(table)
        console.print(f"{name}: {outcome.seconds:.1f} s, results in {outcome.out_dir}")
    return failures


def _report(out: Path) -> Path:
    from advlab.report import write_report

    return write_report(out)


@app.command("report")
def report_command(
    folder: Annotated[Path, typer.Argument(help="Folder with experiment results (advlab reproduce --out).")],
    out: Annotated[Path | None, typer.Option(help="HTML file (default FOLDER/report.html).")] = None,
) -> None:
    """Render every result in FOLDER into one self-contained report.html."""
    from advlab.report import write_report

    console.print(f"report: [bold]{write_report(folder, out)}[/]")


DEMO_EXPERIMENTS: tuple[str, ...] = ("classifier-baselines", "deepfool-table", "fgsm-figure", "wong-table",
                                     "inception-curves")


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option(help="Results folder.")] = Path("runs/demo"),
    cache_dir: Annotated[Path | None, typer.Option(help="Cache of trained models.")] = None,
) -> None:
    """The main job on the embedded default: the quick-scale demo selection and its report."""
    from advlab import experiments

    start = time.perf_counter()
    names = [n for n in DEMO_EXPERIMENTS if n in experiments.names()]
    failures = _run_experiments(names, "quick", out, {}, cache_dir, 0, None, "cpu")
    report = _report(out)
    console.print(f"demo finished in {time.perf_counter() - start:.0f} s; open [bold]{report.resolve()}[/] in a browser")
    if failures:
        raise UserError(f"{len(failures)} experiment(s) failed: {', '.join(failures)}")


# ----------------------------------------------------------------------------- entry point
def main() -> None:
    """Console entry point: clear one-line errors for bad input, full tracebacks otherwise."""
    from advlab.data import DatasetMissingError
    from advlab.models import CheckpointError
    from advlab.registry import UnknownNameError

    verbose = "-v" in sys.argv or "--verbose" in sys.argv
    argv = [a for a in sys.argv[1:] if a not in ("-v", "--verbose")]
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s",
                        handlers=[RichHandler(console=Console(stderr=True), show_path=False)])  # fmt: skip
    try:
        app(args=argv, standalone_mode=False)
    except (UserError, UnknownNameError, DatasetMissingError, CheckpointError, ValueError, FileNotFoundError) as error:
        Console(stderr=True).print(f"[red]error:[/] {error}", highlight=False)
        sys.exit(2)
    except typer.Abort:  # Ctrl-C at a prompt
        sys.exit(130)
    except Exception as error:
        # usage errors of click (or of typer's vendored copy of it): show them as click would
        show, exit_code = getattr(error, "show", None), getattr(error, "exit_code", None)
        if callable(show) and isinstance(exit_code, int):
            show()
            sys.exit(exit_code)
        if type(error).__name__ in ("TrainingDiverged", "DiscriminatorCollapsed"):
            Console(stderr=True).print(f"[red]training stopped:[/] {error}", highlight=False)
            sys.exit(3)
        raise


if __name__ == "__main__":
    main()

