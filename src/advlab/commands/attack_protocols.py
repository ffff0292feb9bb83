"""``advlab attack universal`` and ``advlab attack ensemble``: the two attacks whose protocol
is not ``attack(model, x, y)`` (DESIGN.md 3). Each protocol holds the library's attack itself
(`UniversalPerturbation`; an ensemble attack of `advlab.attacks.ensemble`) beside what only
the protocol needs, parsed in the one option grammar (`advlab.options`): the attack's fields
as ``--attack-<field>`` (``--attack-xi 0.3``, ``--attack-inner-steps 20``) or, where
unambiguous, by their bare names (``--xi 0.3 --variant batched``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from advlab.attacks import ATTACKS, Attack
from advlab.attacks.ensemble import ENSEMBLE_ATTACKS, ModelListAttack, create_ensemble_attack
from advlab.attacks.universal import UniversalPerturbation
from advlab.options import Choosers, apply_options
from advlab.report.tables import Table

CHOOSERS: Choosers = {Attack: ATTACKS.get, ModelListAttack: ENSEMBLE_ATTACKS.get}
"""``--attack NAME`` and ``--attack-attack NAME`` resolve through the attack registries."""


@dataclass(frozen=True)
class UniversalProtocol:
    """Moosavi-Dezfooli et al. 2017, Algorithm 1, on the checkpoint: ``attack`` fitted on the
    first ``n_fit`` training images (a seeded sample), evaluated on the held-out test images."""

    attack: UniversalPerturbation = field(default_factory=lambda: UniversalPerturbation(xi=0.3))
    n_fit: int = 500


@dataclass(frozen=True)
class EnsembleProtocol:
    """Liu et al. 2017 on an ensemble of checkpoints (comma-separated run folders), judged on
    every member and on the ``held_out`` checkpoints (transfer). ``attack``: an ensemble
    attack by name (`advlab.attacks.ensemble.ENSEMBLE_ATTACKS`: ensemble, on-ensemble) with its
    fields as ``--attack-<field>`` (``--attack on-ensemble --attack-attack pgd
    --attack-attack-eps 0.1``)."""

    checkpoints: tuple[str, ...] = ()
    held_out: tuple[str, ...] = ()
    attack: ModelListAttack = field(default_factory=lambda: create_ensemble_attack("ensemble"))


PROTOCOLS: dict[str, type] = {"universal": UniversalProtocol, "ensemble": EnsembleProtocol}


def parse_protocol(name: str, words: list[str]) -> Any:
    """The protocol ``advlab attack universal|ensemble`` runs, from the command-line words."""
    protocol = apply_options(PROTOCOLS[name](), words, f"attack {name}", CHOOSERS)
    if isinstance(protocol, EnsembleProtocol) and len(protocol.checkpoints) < 1:
        raise ValueError("attack ensemble needs --checkpoints DIR1,DIR2,... (the ensemble's models)")
    return protocol


def run_protocol(
    protocol: UniversalProtocol | EnsembleProtocol, checkpoint: Path | None, data: str,
    split: str, n: int, out: Path, seed: int, data_root: Path | None, device: Any,
) -> Table:
    """Load what the protocol needs and run it; returns the summary table."""
    from advlab import data as datasets
    from advlab.commands.common import load_model_and_data

    if isinstance(protocol, UniversalProtocol):
        from advlab.commands.universal import run_universal

        if checkpoint is None:
            raise ValueError("attack universal needs --checkpoint (the classifier)")
        model, dataset, x_eval, _ = load_model_and_data(checkpoint, data, split, n, data_root,
                                                        device)
        train_set = datasets.load(data, "train", root=data_root)
        x_fit, _ = datasets.as_tensors(train_set, limit=protocol.n_fit, seed=seed)
        table, _ = run_universal(protocol.attack, model, x_fit.to(device), x_eval, out,
                                 dataset.classes, seed=seed)
        return table
    from advlab.commands.ensemble import run_ensemble_attack

    def load(folder: str) -> tuple[Any, Any, Any, Any]:
        return load_model_and_data(Path(folder), data, split, n, data_root, device)

    loaded = [load(c) for c in protocol.checkpoints]
    held = [load(c)[0] for c in protocol.held_out]
    _, dataset, x, y = loaded[0]
    goal = (y + 1) % dataset.num_classes if protocol.attack.targeted else y
    table, _ = run_ensemble_attack(
        protocol.attack, [model for model, *_ in loaded], [Path(c).name for c in protocol.checkpoints],
        x, goal, out, dataset.classes, held_out=held,
        held_out_names=[Path(c).name for c in protocol.held_out], labels=y,
    )
    return table
