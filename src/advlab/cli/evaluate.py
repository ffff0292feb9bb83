"""`advlab evaluate`: robust accuracy of a classifier under the standard worst-case suite."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from advlab.cli.shared import Count, DataRoot, Device, Force, progress, say, show


def evaluate(
    checkpoint: Annotated[Path, typer.Option(
        help="Run folder or checkpoint file of the classifier.")],
    eps: Annotated[float, typer.Option(help="Radius of the threat model (> 0).")],
    norm: Annotated[str, typer.Option(help="linf or l2.")] = "linf",
    data: str = "mnist-5k",
    split: str = "test",
    n: Count = 1000,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per chunk (memory; the "
                                                         "unit of sharding).")] = 500,
    out: Annotated[Path | None, typer.Option(
        help="Folder for result.json and adversarial.safetensors "
             "(default runs/evaluate/CHECKPOINT[-k]).")] = None,
    force: Force = False,
    seed: Annotated[int, typer.Option(help="Seed of the random starts (per chunk).")] = 0,
    steps: Annotated[int, typer.Option(min=1, help="Iterations of APGD-CE, APGD-T and FAB-T "
                                                    "(the authors': 100; torchattacks' "
                                                    "standard version: 10).")] = 100,
    queries: Annotated[int, typer.Option(min=1, help="Square's query budget per image.")] = 5000,
    data_root: DataRoot = None,
    device: Device = "cpu",
) -> None:
    """Robust accuracy as reviewers ask for it (Croce & Hein 2020): per image the worst case
    over APGD-CE, APGD-T, FAB-T and Square (AutoAttack's standard sequence, each attack on the
    points still robust), the attack that broke each point, each attack's share and time, and
    warnings when the model looks randomised, outputs probabilities, has vanishing input
    gradients, or Square (black-box) breaks points the gradient attacks missed (gradient
    masking). Under `torchrun --nproc_per_node=N -m advlab evaluate ...` the chunks are shared
    by N processes, with the single-process result."""
    from advlab.attacks.threat import vacuous_reason
    from advlab.commands.common import distributed, load_model_and_data, output_dir
    from advlab.commands.evaluate import evaluate_model
    from advlab.evaluate import ThreatModel

    if norm not in ("linf", "l2"):
        raise ValueError(f"--norm must be linf or l2, got {norm!r}")
    threat = ThreatModel(norm, eps)  # type: ignore[arg-type]  # norm checked above
    reason = vacuous_reason(norm, eps, threat.bounds)
    if reason is not None:
        raise ValueError(f"--eps: {reason}")
    folder = output_dir(out, "evaluate", checkpoint.resolve().name, force, "result.json")
    with distributed(device) as (env, dev):
        model, _, x, y = load_model_and_data(checkpoint, data, split, n, data_root, dev)
        reason = vacuous_reason(norm, eps, threat.bounds, dims=x[0].numel())
        if reason is not None:
            raise ValueError(f"--eps: {reason}")
        table, _ = evaluate_model(model, x, y, threat, folder,
                                  describe={"checkpoint": str(checkpoint), "data": data,
                                            "split": split, "seed": seed},
                                  batch_size=batch_size, seed=seed, steps=steps, queries=queries,
                                  progress=progress() if env.is_main else None)
        if env.is_main:
            show(table)
            say(f"results: [bold]{folder}/result.json[/], adversarial examples in "
                f"[bold]{folder}/adversarial.safetensors[/]")
