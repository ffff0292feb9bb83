"""`advlab gan train | memorisation | sample | interpolate`: GAN runs, the memorisation check,
samples and latent walks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from advlab.cli.shared import (
    EXTRA,
    AutoDevice,
    Device,
    UserError,
    extra_words,
    given_on_command_line,
    progress,
    say,
    show,
)

gan_app = typer.Typer(help="Train GANs, sample from them, walk their latent space.",
                      rich_markup_mode="markdown", no_args_is_help=True)


@gan_app.command("train", context_settings=EXTRA)
def gan_train(
    ctx: typer.Context,
    loss: Annotated[str, typer.Option(help="minimax, nonsaturating, lsgan, wgan, wgan-gp or wgan-gp-drift (progressive GAN).")] = "wgan-gp",
    arch: Annotated[str, typer.Option(help="dcgan, dcgan-nobn-const, mlp, mlp512, nonorm, gated, tanh, resnet or progressive.")] = "dcgan",
    data: str = "mnist-5k",
    iters: Annotated[int, typer.Option(min=1, help="Total generator iterations of the run.")] = 2000,
    eval_every: Annotated[int, typer.Option(min=0, help="FID/KID/IS every N generator steps (0: off).")] = 0,
    width: Annotated[int, typer.Option(min=1, help="Base number of filters (16 is a good CPU size).")] = 64,
    batch_size: Annotated[int, typer.Option(min=1)] = 64,
    seed: int = 0,
    out: Annotated[Path | None, typer.Option(help="Run folder: checkpoints, samples/, metrics.csv, tb/ (default runs/gan/LOSS-ARCH[-k]).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out up to --iters, with its saved settings.")] = False,
    force: Annotated[bool, typer.Option(help="Overwrite the run already in --out.")] = False,
    device: AutoDevice = "auto",
) -> None:
    """Train a GAN with the objective's paper defaults (Goodfellow, DCGAN, LSGAN, WGAN,
    WGAN-GP). Any other GANTrainConfig field is an extra option, e.g. --n-critic 5,
    --ema-decay 0.999, --latent-prior uniform, --eval-features classifier:runs/lenet; the
    learning rule's parts as --rule-lr 1e-4 or --lr 1e-4, --betas 0,0.9; with --arch progressive
    the growth schedule's and switches' too: --fade-images 20000 --stable-images 20000
    --initial-resolution 4 --batch-sizes 32,32,16 --no-pixel-norm --no-equalized-lr.
    With --resume the run's saved settings are used and only the options given change them.
    Under `torchrun --nproc_per_node=N -m advlab gan train ...` it trains with DDP."""
    from advlab.commands.common import output_dir
    from advlab.commands.gan import train_command, train_config
    from advlab.models.checkpoint import CHECKPOINT_FILE

    named: dict[str, Any] = {"loss": loss, "arch": arch, "data": data, "iters": iters,
                             "eval_every": eval_every, "width": width, "batch_size": batch_size,
                             "seed": seed, "device": device}
    if resume:  # the saved settings, changed only by what the command line gives
        if out is None:
            raise UserError("--resume needs --out, the run folder to continue")
        given = {k: v for k, v in named.items() if given_on_command_line(ctx, k)}
        cfg = train_config(extra_words(ctx), given, resume_from=out)
        folder = out
    else:
        cfg = train_config(extra_words(ctx), named)
        folder = output_dir(out, "gan", f"{loss}-{arch}", force, CHECKPOINT_FILE)
    show(train_command(cfg, folder, resume=resume, reporter=progress()))
    say(f"run folder: [bold]{folder}[/] (samples/, metrics.csv, tb/, checkpoint)")


@gan_app.command("memorisation")
def gan_memorisation(
    checkpoint: Annotated[Path, typer.Option(help="GAN run folder or checkpoint file.")],
    out: Annotated[Path | None, typer.Option(help="Folder for the figures and result.json (default CHECKPOINT/memorisation).")] = None,
    features: Annotated[str, typer.Option(help="auto (the run's feature classifier, else a cached LeNet), classifier, vgg16, pixels or classifier:CKPT.")] = "auto",
    n: Annotated[int, typer.Option("--samples", "--n", min=1, help="Generated samples and held-out images compared.")] = 1000,
    k: Annotated[int, typer.Option(min=1, help="Nearest training images shown per sample.")] = 5,
    shown: Annotated[int, typer.Option(min=1, help="Samples shown in the figure.")] = 8,
    seed: int = 0,
    device: Device = "cpu",
) -> None:
    """Nearest-neighbour memorisation check (Karras et al. 2018, Figure 10): generated samples
    beside their nearest training images, and their distances against held-out real images'."""
    from advlab.commands.gan import memorisation_command

    folder = out or (checkpoint if checkpoint.is_dir() else checkpoint.parent) / "memorisation"
    show(memorisation_command(checkpoint, folder, features, n, k, shown, seed, device))
    say(f"results: [bold]{folder}[/]")


@gan_app.command("sample")
def gan_sample(
    checkpoint: Annotated[Path, typer.Option(help="GAN run folder or checkpoint file.")],
    n: Annotated[int, typer.Option("--samples", "--n", min=1, help="Number of samples.")] = 64,
    out: Path = Path("grid.png"),
    seed: int = 0,
    ema: Annotated[bool, typer.Option(help="Use the EMA generator when the run has one.")] = True,
    device: Device = "cpu",
) -> None:
    """A grid of n samples from a trained generator."""
    from advlab.commands.gan import sample_command

    say(f"samples -> [bold]{sample_command(checkpoint, n, out, seed, ema, device)}[/]")


@gan_app.command("interpolate")
def gan_interpolate(
    checkpoint: Annotated[Path, typer.Option(help="GAN run folder or checkpoint file.")],
    out: Path = Path("interpolation.png"),
    steps: Annotated[int, typer.Option(min=2)] = 10,
    rows: Annotated[int, typer.Option(min=1)] = 8,
    seed: int = 0,
    method: Annotated[str, typer.Option(help="slerp or linear.")] = "slerp",
    ema: bool = True,
    device: Device = "cpu",
) -> None:
    """Latent-space walks between random latent pairs, one row each."""
    from advlab.commands.gan import interpolate_command

    path = interpolate_command(checkpoint, out, steps, rows, seed, method, ema, device)
    say(f"interpolation -> [bold]{path}[/]")
