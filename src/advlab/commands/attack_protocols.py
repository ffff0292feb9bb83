"""``advlab attack universal`` and ``advlab attack ensemble``: the two attacks whose protocol
is not ``attack(model, x, y)`` (DESIGN.md 3). Their options are the fields of the small
dataclasses below, parsed like every attack's (`advlab.options.parse_field_options`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from advlab.tables import Table


@dataclass(frozen=True)
class UniversalOptions:
    """Moosavi-Dezfooli et al. 2017, Algorithm 1, on the checkpoint: fitted on the first
    ``n_fit`` training images (a seeded sample), evaluated on the held-out test images."""

    xi: float = 0.3
    norm: Literal["linf", "l2"] = "linf"
    delta: float = 0.2
    max_passes: int = 10
    variant: Literal["sequential", "batched"] = "sequential"
    minibatch: int = 32  # points per update of the batched variant
    n_fit: int = 500
    steps: int = 50
    overshoot: float = 0.02
    candidates: int = 10


@dataclass(frozen=True)
class EnsembleOptions:
    """Liu et al. 2017 on an ensemble of checkpoints (comma-separated run folders), judged on
    every member and on the ``held_out`` checkpoints (transfer)."""

    checkpoints: tuple[str, ...] = ()
    weights: tuple[float, ...] | None = None
    held_out: tuple[str, ...] = ()
    method: Literal["optimization", "fgsm", "pgd"] = "optimization"
    lam: float = 1.0
    steps: int | None = None
    lr: float = 0.01
    eps: float | None = None
    targeted: bool = False


PROTOCOLS = {"universal": UniversalOptions, "ensemble": EnsembleOptions}


def parse_protocol_options(name: str, words: list[str]) -> Any:
    """The options of ``advlab attack universal|ensemble`` from the command-line words."""
    from advlab.options import parse_field_options

    options = PROTOCOLS[name](**parse_field_options(words, PROTOCOLS[name], f"attack {name}"))
    if isinstance(options, EnsembleOptions) and len(options.checkpoints) < 1:
        raise ValueError("attack ensemble needs --checkpoints DIR1,DIR2,... (the ensemble's models)")
    return options


def run_protocol(name: str, options: Any, checkpoint: Path | None, data: str, split: str, n: int,
                 out: Path, seed: int, data_root: Path | None, device: Any) -> Table:  # fmt: skip
    """Load what the protocol needs and run it; returns the summary table."""
    from advlab import data as datasets
    from advlab.commands.common import load_model_and_data

    if isinstance(options, UniversalOptions):
        from advlab.commands.universal import run_universal

        if checkpoint is None:
            raise ValueError("attack universal needs --checkpoint (the classifier)")
        model, dataset, x_eval, _ = load_model_and_data(checkpoint, data, split, n, data_root, device)
        x_fit, _ = datasets.as_tensors(datasets.load(data, "train", root=data_root), limit=options.n_fit, seed=seed)
        params = {k: v for k, v in asdict(options).items() if k not in ("n_fit", "minibatch")}
        table, _ = run_universal(model, x_fit.to(device), x_eval, out, dataset.classes, seed=seed,
                                 batch_size=options.minibatch, **params)  # fmt: skip
        return table
    from advlab.commands.ensemble import build_ensemble_attack, run_ensemble_attack

    loaded = [load_model_and_data(Path(c), data, split, n, data_root, device) for c in options.checkpoints]
    held = [load_model_and_data(Path(c), data, split, n, data_root, device)[0] for c in options.held_out]
    _, dataset, x, y = loaded[0]
    attack = build_ensemble_attack(options.method, weights=options.weights, targeted=options.targeted,
                                   lam=options.lam, steps=options.steps, lr=options.lr, eps=options.eps)  # fmt: skip
    goal = (y + 1) % dataset.num_classes if options.targeted else y
    table, _ = run_ensemble_attack(attack, [m for m, *_ in loaded], [Path(c).name for c in options.checkpoints],
                                   x, goal, out, dataset.classes, held_out=held,
                                   held_out_names=[Path(c).name for c in options.held_out], labels=y)  # fmt: skip
    return table
