"""`advlab attack NAME` and `advlab certify`: attacks on a trained classifier (the protocols
universal and ensemble included) and certification by a bounding method, sharded under torchrun."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from advlab.cli.shared import (
    Count,
    DataRoot,
    Device,
    Force,
    UserError,
    extra_words,
    progress,
    say,
    show,
)

METHOD_HELP = ("Bounding method: interval (IBP), wong (Wong-Kolter dual network), fast-lin, "
               "crown or alpha-crown (optimised CROWN slopes; slowest, tightest).")


def attack(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(
        help="Attack name (advlab list --attacks), universal or ensemble.")],
    checkpoint: Annotated[Path | None, typer.Option(
        help="Run folder or checkpoint file of the classifier.")] = None,
    data: str = "mnist-5k",
    split: str = "test",
    n: Count = 1000,
    batch_size: Annotated[int, typer.Option(min=1, help="Images attacked at once (memory).")] = 500,
    out: Annotated[Path | None, typer.Option(
        help="Folder for result.json and the image grid (default runs/attack/NAME[-k]).")] = None,
    force: Force = False,
    seed: Annotated[int, typer.Option(
        help="Seed of the attack's random draws (per chunk of --batch-size).")] = 0,
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
    from advlab import attack_catalogue

    words = extra_words(ctx)
    # answered from the catalogue, before torch is imported (seconds): a bad name or a missing
    # required option, and a missing classifier
    attack_catalogue.check_request(name, words)
    if checkpoint is None and attack_catalogue.entry(name).kind == "attack":
        raise UserError(f"attack {name} needs --checkpoint (the classifier)")
    from advlab.commands.attack import build_attack, check_not_vacuous, run_attack
    from advlab.commands.attack_protocols import PROTOCOLS, parse_protocol, run_protocol
    from advlab.commands.common import distributed, load_model_and_data, output_dir

    folder = output_dir(out, "attack", name, force, "result.json")
    if name in PROTOCOLS:  # their own verbs: fit on a set, or a list of models
        protocol = parse_protocol(name, words)
        with distributed(device) as (_, dev):
            show(run_protocol(protocol, checkpoint, data, split, n, folder, seed, data_root, dev))
        say(f"results: [bold]{folder}/result.json[/]")
        return
    assert checkpoint is not None  # refused above; for the type checker
    built = build_attack(name, words)  # bad values fail before any loading
    with distributed(device) as (env, dev):
        model, dataset, x, y = load_model_and_data(checkpoint, data, split, n, data_root, dev)
        check_not_vacuous(built, dims=x[0].numel())  # the l2 ball's size needs the image size
        if built.targeted:
            y = (y + 1) % dataset.num_classes
        table, _ = run_attack(name, model, x, y, folder, dataset.classes, attack=built,
                              batch_size=batch_size, seed=seed,
                              progress=progress() if env.is_main else None)
        if env.is_main:
            show(table)
            say(f"results: [bold]{folder}/result.json[/]")


def certify(
    checkpoint: Annotated[Path, typer.Option(
        help="Run folder or checkpoint file of the classifier.")],
    data: str = "mnist-5k",
    split: str = "test",
    eps: Annotated[float, typer.Option(help="Linf radius (> 0).")] = 0.1,
    n: Annotated[int | None, typer.Option(
        "--samples", "--n", min=1, help="Number of test images (default: all).")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 50,
    pgd_steps: Annotated[int, typer.Option(
        min=1, help="PGD steps of the empirical attack beside the bound.")] = 40,
    method: Annotated[str, typer.Option(help=METHOD_HELP)] = "wong",
    out: Annotated[Path | None, typer.Option(
        help="Folder for result.json (default runs/certify/CHECKPOINT[-k]).")] = None,
    force: Force = False,
    seed: int = 0,
    data_root: DataRoot = None,
    device: Device = "cpu",
) -> None:
    """Certification of a classifier by a bounding method (--method; Wong-Kolter's dual network
    by default): test, FGSM and PGD error, the certified robust error bound and certified
    accuracy at radius eps (sharded under torchrun); result.json names the method."""
    from advlab.attacks.threat import vacuous_reason
    from advlab.commands.certify import certify_command, check_certifiable, check_method
    from advlab.commands.common import distributed, load_model_and_data, output_dir

    check_method(method)  # an unknown name lists the valid ones, before any work
    if not eps > 0:
        raise UserError(f"--eps must be > 0, got {eps}")
    reason = vacuous_reason("linf", eps, (0.0, 1.0))
    if reason is not None:
        raise UserError(f"--eps: {reason}")
    check_certifiable(checkpoint, data)  # an unsupported layer is refused before any work
    folder = output_dir(out, "certify", checkpoint.resolve().name, force, "result.json")
    with distributed(device) as (env, dev):
        model, _, x, y = load_model_and_data(checkpoint, data, split, n, data_root, dev)
        table, _ = certify_command(model, x, y, eps, folder, batch_size=batch_size, seed=seed,
                                   pgd_steps=pgd_steps, method=method,
                                   progress=progress() if env.is_main else None)
        if env.is_main:
            show(table)
            say(f"results: [bold]{folder}/result.json[/]")
