"""Robust accuracy, side by side in one run on the same model, images and eps: advlab's
robust_accuracy (the AutoAttack standard sequence of Croce & Hein 2020: APGD-CE, APGD-T, FAB-T,
Square 5,000) against torchattacks.AutoAttack(version="standard"), and APGD's cost per iteration
against one forward+backward pass.

Model (--model): LeNet trained 5 epochs on mnist-5k (`benchmarks.bench_attacks.trained_lenet`,
cached under ~/.cache/advlab/bench), or wong-small trained robustly at linf 0.1 with Wong &
Kolter's loss as wong-table trains it at quick scale (`wong_table.trained_model`, shared with
the experiment through the model cache; a few CPU minutes the first time). Images: the first --n (default 100) mnist-5k test digits; linf
eps --eps (default 0.1). torchattacks runs twice when importable: as its AutoAttack builds
the standard version (its APGD, APGD-T and FAB keep their default 10 steps, its APGD-T and FAB
target n_classes - 1 classes, its Square rescales the p schedule to 5,000 queries), and with the
authors' settings (100 steps, 9 targets, Square's schedule not rescaled); advlab runs at both
budgets too (`standard_attacks(steps=10, rescale_schedule=True)` for the standard one), and each
time ratio is taken at equal budget. Its four attacks run in
the order and on the points its MultiAttack would give them, each timed (`run_sequence`). Times: medians of
--repeats interleaved runs; the load average is printed with the figures (shared CPUs).
APGD iteration: a 100-step APGD at eps 1e-4 (no point is broken, so every point works every
step) minus one clean forward, divided by its steps, against one forward+backward of the batch.
With --whole-machine both also run once with every core (`whole_machine`): advlab evaluate
sharded by torchrun, torchattacks with one intra-op thread per core (needs a quiet machine).
Run: python -m benchmarks.bench_evaluate [--model lenet|wong-small] [--n 100] [--eps 0.1] [--repeats 3] [--peers standard,authors]
[--iteration-repeats 5] [--whole-machine] (on 2 shared cores one repeat of all three takes tens of minutes; torchattacks
missing: its rows are skipped; ``pip install --no-deps torchattacks``)
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from advlab import data
from advlab.attacks import APGD
from advlab.attacks.base import cpu_attack_copy
from advlab.evaluate import ThreatModel, robust_accuracy, standard_attacks
from benchmarks.bench_attacks import trained_lenet
from benchmarks.common import interleaved_medians, print_table, save

MODELS = ("lenet", "wong-small")


def bench_model(name: str) -> tuple[nn.Module, dict[str, Any]]:
    """The model under attack and its checkpoint meta (for `advlab evaluate --checkpoint`):
    "lenet" (plain training) or "wong-small" (wong-table's robust model at linf 0.1)."""
    if name == "lenet":
        return trained_lenet(), {"model": "lenet", "model_args": {}}
    if name != "wong-small":
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(MODELS)}")
    from advlab.experiments import wong_table
    from advlab.zoo.cache import model_args_for
    from advlab.zoo.context import RunContext, default_cache_dir

    config = wong_table.Config()
    ctx = RunContext(out_dir=Path("."), cache_dir=default_cache_dir())
    model = wong_table.trained_model(ctx, config, "mnist-5k", 0.1, robust=True)
    return model.eval(), {"model": config.model, "model_args": model_args_for(config.model, "mnist-5k")}


def ours(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
         torchattacks_budget: bool = False) -> tuple[float, dict[str, Any]]:  # fmt: skip
    """advlab's suite with the authors' budget, or with torchattacks' standard one (10 steps,
    Square's schedule rescaled) for the equal-budget comparison."""
    threat = ThreatModel("linf", eps)
    attacks = standard_attacks(threat, steps=10, rescale_schedule=True) if torchattacks_budget else None
    result = robust_accuracy(model, x, y, threat, attacks=attacks, generator=torch.Generator().manual_seed(0))
    per_attack = {a.name: {"attacked": a.attacked, "broken": a.broken, "seconds": a.seconds} for a in result.attacks}
    return result.robust_accuracy, {"attacks": per_attack, "warnings": list(result.warnings)}


def torchattacks_sequence(model: nn.Module, eps: float, authors: bool) -> list[tuple[str, Any]]:
    """torchattacks' four attacks as its AutoAttack(version="standard") builds them, or with the
    authors' settings (100 steps, 9 targets, Square's schedule not rescaled)."""
    import torchattacks

    if not authors:
        auto = torchattacks.AutoAttack(model, norm="Linf", eps=eps, version="standard", n_classes=10, seed=0)
        attacks = auto._autoattack.attacks  # the MultiAttack it runs (APGD, APGDT, FAB, Square)
    else:
        attacks = [
            torchattacks.APGD(model, norm="Linf", eps=eps, steps=100, n_restarts=1, loss="ce", seed=0),
            torchattacks.APGDT(model, norm="Linf", eps=eps, steps=100, n_restarts=1, n_classes=10, seed=0),
            torchattacks.FAB(model, norm="Linf", eps=eps, steps=100, n_restarts=1, multi_targeted=True,
                             n_classes=10, seed=0),
            torchattacks.Square(model, norm="Linf", eps=eps, n_queries=5000, n_restarts=1, resc_schedule=False,
                                seed=0),
        ]  # fmt: skip
    return list(zip(("apgd-ce", "apgd-t", "fab-t", "square"), attacks, strict=True))


def run_sequence(model: nn.Module, attacks: list[tuple[str, Any]], x: torch.Tensor,
                 y: torch.Tensor) -> tuple[torch.Tensor, dict[str, dict[str, float]]]:  # fmt: skip
    """torchattacks' MultiAttack.forward (each attack on the points still classified correctly,
    an adversarial point kept once found), with each attack timed: (x_adv, per-attack record)."""
    x_adv, robust = x.clone(), torch.arange(x.shape[0])
    records = {}
    for name, attack in attacks:
        start = time.perf_counter()
        out = attack(x[robust], y[robust])
        with torch.no_grad():
            wrong = model(out).argmax(1) != y[robust]
        records[name] = {"attacked": int(robust.numel()), "broken": int(wrong.sum()),
                         "seconds": time.perf_counter() - start}
        x_adv[robust[wrong]] = out[wrong]
        robust = robust[~wrong]
        if robust.numel() == 0:
            break
    return x_adv, records


def robust_of(model: nn.Module, x_adv: torch.Tensor, x: torch.Tensor, y: torch.Tensor, eps: float) -> float:
    """Robust accuracy of a peer's output, counting only points inside the ball."""
    with torch.no_grad():
        correct = model(x_adv).argmax(1) == y
    outside = (x_adv - x).abs().flatten(1).amax(1) > eps + 1e-6
    return float((correct | outside).float().mean())


def whole_machine(model: nn.Module, meta: dict[str, Any], x: torch.Tensor, y: torch.Tensor, n: int, eps: float,
                  cores: int, peers: tuple[str, ...]) -> dict[str, Any]:  # fmt: skip
    """Both sides with every core of the machine, as a user would run them: `advlab evaluate`
    sharded over `cores` processes of one thread each (torchrun, the images in `cores` chunks)
    and in one process with `--threads <cores>`, against torchattacks with PyTorch's default
    intra-op threads (one per core), each at the budget of the peer runs asked for. Returns per
    run its robust accuracy and wall seconds (start-up of the processes included)."""
    import json
    import subprocess
    import sys
    import tempfile

    from advlab import models

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = models.save_checkpoint(f"{tmp}/model/checkpoint.safetensors", model, meta).parent
        env = {**os.environ, "ADVLAB_THREADS": "1", "OMP_NUM_THREADS": "1"}
        for budget, steps in (("standard", "10"), ("authors", "100")):
            if budget not in peers:
                continue
            evaluate = ["evaluate", "--checkpoint", str(folder), "--data", "mnist-5k", "--samples", str(n),
                        "--eps", str(eps), "--steps", steps]  # fmt: skip
            sharded = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={cores}", "-m", "advlab",
                       *evaluate, "--batch-size", str(-(-n // cores)), "--out", f"{tmp}/ev-{budget}"]  # fmt: skip
            threaded = [sys.executable, "-m", "advlab", "--threads", str(cores), *evaluate,
                        "--out", f"{tmp}/ev-{budget}-threads"]  # fmt: skip
            for key, command, folder_out in ((f"advlab_{budget}", sharded, f"{tmp}/ev-{budget}"),
                                             (f"advlab_{budget}_threads", threaded, f"{tmp}/ev-{budget}-threads")):  # fmt: skip
                start = time.perf_counter()
                subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                seconds = time.perf_counter() - start
                result = json.loads(Path(folder_out, "result.json").read_text())
                out[key] = {"robust_accuracy": result["robust_accuracy"], "seconds": seconds}
            threads = torch.get_num_threads()
            torch.set_num_threads(cores)
            try:
                start = time.perf_counter()
                x_adv, _ = run_sequence(model, torchattacks_sequence(model, eps, budget == "authors"), x, y)
                out[f"torchattacks_{budget}"] = {"robust_accuracy": robust_of(model, x_adv, x, y, eps),
                                                 "seconds": time.perf_counter() - start}  # fmt: skip
            finally:
                torch.set_num_threads(threads)
    return out


def forward_pass(net: nn.Module, x: torch.Tensor, calls: int = 1) -> Callable[[], None]:
    """`calls` forward passes of the batch without autograd."""
    def run() -> None:
        with torch.no_grad():
            for _ in range(calls):
                net(x)
    return run


def forward_backward_pass(net: nn.Module, x: torch.Tensor, y: torch.Tensor, calls: int = 1) -> Callable[[], None]:
    """`calls` forward+backward passes to the input (cross-entropy), as an attack step does."""
    def run() -> None:
        for _ in range(calls):
            x_req = x.clone().requires_grad_(True)
            torch.autograd.grad(F.cross_entropy(net(x_req), y), x_req)
    return run


def apgd_iteration(model: nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int) -> dict[str, float]:
    steps = 100
    attack = APGD(eps=1e-4, steps=steps)
    medians = interleaved_medians({"apgd": lambda: attack(model, x, y, generator=torch.Generator().manual_seed(0)),
                                   "fb": forward_backward_pass(model, x, y), "f": forward_pass(model, x)},
                                  repeats=repeats)  # fmt: skip
    # APGD = 1 clean forward + (steps + 1) forward+backward + 1 forward in finalize
    per_step = (medians["apgd"] - 2 * medians["f"]) / (steps + 1)
    return {"apgd_seconds": medians["apgd"], "forward_backward_seconds": medians["fb"],
            "forward_seconds": medians["f"], "apgd_per_step_seconds": per_step,
            "apgd_step_over_forward_backward": per_step / medians["fb"]}  # fmt: skip


def attack_copy_gain(model: nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int) -> dict[str, float]:
    """Forward and forward+backward of the batch (35 images at most: the suite's survivors)
    on the model as given and on the suite's `cpu_attack_copy` of it, medians of 20 calls."""
    x, y = x[:35], y[:35]
    twin = cpu_attack_copy(model, x)
    medians = interleaved_medians({"f": forward_pass(model, x, 20), "f_cl": forward_pass(twin, x, 20),
                                   "fb": forward_backward_pass(model, x, y, 20),
                                   "fb_cl": forward_backward_pass(twin, x, y, 20)}, repeats=repeats)  # fmt: skip
    return {f"{k}_ms": 1e3 * v / 20 for k, v in medians.items()}


def main(n: int = 100, eps: float = 0.1, repeats: int = 3, peers: tuple[str, ...] = ("standard", "authors"),
         iteration_repeats: int = 5, machine: bool = False, model_name: str = "lenet") -> dict[str, Any]:  # fmt: skip
    torch.manual_seed(0)
    model, meta = bench_model(model_name)
    x, y = data.as_tensors(data.load("mnist-5k", "test"), limit=n)
    load_before = os.getloadavg()
    try:
        import torchattacks  # noqa: F401

        have_ta = True
    except ModuleNotFoundError:
        have_ta = False
        print("torchattacks is not importable: its rows are skipped")
    times: dict[str, list[float]] = {"advlab": [], "advlab_10_steps": [], "torchattacks": [],
                                     "torchattacks_authors": []}  # fmt: skip
    accuracy: dict[str, float] = {}
    details: dict[str, Any] = {}
    peer_details: dict[str, Any] = {}
    details_10: dict[str, Any] = {}
    for _ in range(repeats):
        start = time.perf_counter()
        accuracy["advlab"], details = ours(model, x, y, eps)
        times["advlab"].append(time.perf_counter() - start)
        print(f"advlab: {100 * accuracy['advlab']:.1f}% in {times['advlab'][-1]:.1f} s", flush=True)
        if "standard" in peers:  # ours at the standard version's budget, for the equal-budget ratio
            start = time.perf_counter()
            accuracy["advlab_10_steps"], details_10 = ours(model, x, y, eps, torchattacks_budget=True)
            times["advlab_10_steps"].append(time.perf_counter() - start)
            print(f"advlab, 10 steps: {100 * accuracy['advlab_10_steps']:.1f}% in "
                  f"{times['advlab_10_steps'][-1]:.1f} s", flush=True)
        if have_ta:
            for key, authors in (("torchattacks", False), ("torchattacks_authors", True)):
                if ("authors" if authors else "standard") not in peers:
                    continue
                start = time.perf_counter()
                x_adv, peer_details[key] = run_sequence(model, torchattacks_sequence(model, eps, authors), x, y)
                times[key].append(time.perf_counter() - start)
                accuracy[key] = robust_of(model, x_adv, x, y, eps)
                print(f"{key}: {100 * accuracy[key]:.1f}% in {times[key][-1]:.1f} s", flush=True)
    medians = {k: statistics.median(v) for k, v in times.items() if v}
    with torch.no_grad():
        clean = float((model(x).argmax(1) == y).float().mean())
    cores = os.cpu_count() or 1
    machine_runs = whole_machine(model, meta, x, y, n, eps, cores, peers) if machine and have_ta and cores > 1 else {}
    iteration = apgd_iteration(model, x, y, iteration_repeats)
    layout = attack_copy_gain(model, x, y, iteration_repeats)
    load_after = os.getloadavg()
    out: dict[str, Any] = {"model": model_name, "n": n, "eps": eps, "repeats": repeats, "clean_accuracy": clean, "robust_accuracy": accuracy,
                           "median_seconds": medians, "advlab_details": details,
                           "torchattacks_details": peer_details,
                           "attack_copy": layout, "apgd_iteration": iteration, "whole_machine": machine_runs,
                           "load_average_before": load_before, "load_average_after": load_after,
                           "threads": torch.get_num_threads()}  # fmt: skip
    rows = [("clean accuracy", f"{100 * clean:.1f}%"),
            ("advlab robust_accuracy", f"{100 * accuracy['advlab']:.1f}%  {medians['advlab']:.1f} s"),
            ("  per attack (last run)", "  ".join(f"{k}: {v['broken']}/{v['attacked']} in {v['seconds']:.1f} s"
                                                  for k, v in details["attacks"].items()))]  # fmt: skip
    if "advlab_10_steps" in medians:
        out["advlab_10_steps_details"] = details_10
        rows.append(("advlab at torchattacks' standard budget", f"{100 * accuracy['advlab_10_steps']:.1f}%  "
                     f"{medians['advlab_10_steps']:.1f} s  (10 steps, Square's schedule rescaled)"))  # fmt: skip
        rows.append(("  per attack (last run)", "  ".join(f"{k}: {v['broken']}/{v['attacked']} in {v['seconds']:.1f} s"
                                                          for k, v in details_10["attacks"].items())))  # fmt: skip
    # each peer against ours at the same budget: standard vs 10 steps, authors' settings vs ours
    for key, label, same_budget in (("torchattacks", "torchattacks AutoAttack standard", "advlab_10_steps"),
                                    ("torchattacks_authors", "torchattacks, authors' settings", "advlab")):  # fmt: skip
        if key in medians:
            ratio = medians[key] / medians[same_budget]
            out[f"time_ratio_{key}_over_{same_budget}"] = ratio
            rows.append((label, f"{100 * accuracy[key]:.1f}%  {medians[key]:.1f} s  ({ratio:.2f}x the time of "
                         f"{same_budget.replace('_', ' ')}, the same budget)"))  # fmt: skip
            rows.append(("  per attack (last run)", "  ".join(f"{k}: {v['broken']}/{v['attacked']} in {v['seconds']:.1f} s"
                                                          for k, v in peer_details[key].items())))  # fmt: skip
    for budget in ("standard", "authors"):
        if f"advlab_{budget}" in machine_runs:
            ours_run, peer_run = machine_runs[f"advlab_{budget}"], machine_runs[f"torchattacks_{budget}"]
            threads_run = machine_runs[f"advlab_{budget}_threads"]
            rows.append((f"whole machine ({cores} cores), {budget} budget",
                         f"advlab sharded {100 * ours_run['robust_accuracy']:.1f}% {ours_run['seconds']:.1f} s, "
                         f"advlab --threads {cores} {100 * threads_run['robust_accuracy']:.1f}% "
                         f"{threads_run['seconds']:.1f} s, "
                         f"torchattacks {cores} threads {100 * peer_run['robust_accuracy']:.1f}% "
                         f"{peer_run['seconds']:.1f} s ({peer_run['seconds'] / ours_run['seconds']:.2f}x, "
                         f"{peer_run['seconds'] / threads_run['seconds']:.2f}x)"))  # fmt: skip
    rows += [("APGD step / forward+backward", f"{iteration['apgd_step_over_forward_backward']:.2f}  "
              f"({1e3 * iteration['apgd_per_step_seconds']:.2f} ms vs {1e3 * iteration['forward_backward_seconds']:.2f} ms)"),
             ("CPU attack copy (35 images)", f"forward {layout['f_ms']:.2f} -> {layout['f_cl_ms']:.2f} ms, "
              f"forward+backward {layout['fb_ms']:.2f} -> {layout['fb_cl_ms']:.2f} ms"),
             ("load average before / after", f"{load_before[0]:.2f} / {load_after[0]:.2f} on {os.cpu_count()} CPUs, "
              f"{torch.get_num_threads()} torch threads")]  # fmt: skip
    print_table(f"Robust accuracy: {model_name} on mnist-5k, {n} test digits, linf eps = {eps} "
                f"(medians of {repeats})", rows)  # fmt: skip
    save("evaluate" if model_name == "lenet" else f"evaluate-{model_name}", out)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="lenet", choices=MODELS)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peers", default="standard,authors", help="torchattacks runs: standard, authors")
    parser.add_argument("--iteration-repeats", type=int, default=5)
    parser.add_argument("--whole-machine", action="store_true",
                        help="also run both with every core: advlab evaluate under torchrun, torchattacks threaded")
    args = parser.parse_args()
    main(args.n, args.eps, args.repeats, tuple(args.peers.split(",")), args.iteration_repeats, args.whole_machine,
         args.model)
