"""`advlab train classifier` and `advlab eval`: training a classifier and measuring it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from advlab.cli.shared import DataRoot, Device, Force, UserError, progress, say, show

train_app = typer.Typer(help="Train classifiers.", no_args_is_help=True)
L1_BUDGET_HELP = "l1 budget per neuron: GAMMA for every layer, or GAMMA1,...,GAMMAL (inf: free)."
FRONT_END_HELP = "Sparsifying front end BASIS:RHO[:LEVEL], e.g. coif1:0.035 or dct:0.1."


@train_app.command("classifier")
def classifier(
    model: Annotated[str, typer.Option(help="Model name (advlab list --models).")] = "lenet",
    data: Annotated[str, typer.Option(help="Dataset name (advlab data list).")] = "mnist-5k",
    epochs: Annotated[int, typer.Option(min=1)] = 5,
    batch_size: Annotated[int, typer.Option(min=1)] = 64,
    optimizer: Annotated[str, typer.Option(help="sgd (momentum) or adam.")] = "sgd",
    lr: float = 0.01,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    schedule: Annotated[str, typer.Option(help="constant, cosine or step.")] = "constant",
    warmup_steps: Annotated[int, typer.Option(
        min=0, help="Linear lr warm-up over the first N steps.")] = 0,
    seed: int = 0,
    out: Annotated[Path | None, typer.Option(
        help="Run folder (default runs/classifier/MODEL-DATA[-k]).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out bit-for-bit.")] = False,
    force: Force = False,
    checkpoint_every: Annotated[int, typer.Option(
        min=0, help="Also checkpoint every N batches.")] = 0,
    robust: Annotated[str | None, typer.Option(
        help="Certified training: 'wong' (Wong-Kolter robust loss) or 'crown-ibp' (CROWN-IBP, "
        "Zhang et al. 2020).")] = None,
    eps: Annotated[float, typer.Option(
        help="Linf radius for --robust (wong or crown-ibp).")] = 0.1,
    eps_warmup: Annotated[float, typer.Option(
        help="Fraction of training over which eps ramps up (wong: from 0.001; crown-ibp: from "
        "0, with kappa 1 -> 0 and beta 1 -> 0 over the same fraction).")] = 0.5,
    projections: Annotated[int | None, typer.Option(
        help="Random projections for the robust bound (None: exact).")] = None,
    front_end: Annotated[str | None, typer.Option(help=FRONT_END_HELP)] = None,
    l1_budget: Annotated[str | None, typer.Option(help=L1_BUDGET_HELP)] = None,
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
    from advlab.commands.train import RobustSpec, train_classifier
    from advlab.models.checkpoint import CHECKPOINT_FILE
    from advlab.train import TrainConfig

    cfg = TrainConfig(
        epochs=epochs, batch_size=batch_size, optimizer=optimizer,  # type: ignore[arg-type]
        lr=lr, momentum=momentum, weight_decay=weight_decay,
        schedule=schedule,  # type: ignore[arg-type]
        seed=seed, checkpoint_every=checkpoint_every, warmup_steps=warmup_steps,
    )
    if resume and out is None:
        raise UserError("--resume needs --out, the run folder to continue")
    if resume and out is not None:
        folder = out
    else:
        folder = output_dir(out, "classifier", f"{model}-{data}", force, CHECKPOINT_FILE)
    spec = RobustSpec(robust, eps, eps_warmup, projections) if robust is not None else None
    tables, lines = train_classifier(
        model, data, cfg, folder, resume=resume, robust=spec, front_end=front_end,
        l1_budget=l1_budget, download=download, data_root=data_root,
        device=torch_device(device), progress=progress(),
    )
    for table in tables:
        show(table)
    for line in lines:
        say(line)


def evaluate(
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
