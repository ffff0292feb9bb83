"""Attack speed, side by side in one run: advlab's DeepFool against its floor, foolbox and
torchattacks; advlab's PGD step against one forward+backward pass and torchattacks' PGD.

Model: LeNet (advlab.models "lenet") trained 5 epochs on mnist-5k by a plain SGD loop (cached
under ~/.cache/advlab/bench). Images: the first N (default 1,000) mnist-5k test digits.

DeepFool floor: the passes the algorithm cannot avoid, replayed with the per-step active
counts of our own run: at step i, one forward of every sample still being checked and, for
the m_i samples still not fooled, the K-1 candidate-class vector-Jacobian products through
that forward graph (no bookkeeping, no norms, no argmin). Peers are optional (`pip install
--no-deps foolbox eagerpy torchattacks`); rows for missing ones are skipped.
PGD: one step against one forward+backward pass of the clean batch (the target), and against
its floor at its own inputs: the model's cost depends on the data (max-pooling and ReLU on
noisy iterates cost more than on clean digits), so the steps' forward+backward passes and the
final forward are replayed on the very inputs PGD gave the model (captured by a forward
pre-hook). ours / floor is the overhead of the attack's own code.
Run: python -m benchmarks.bench_attacks [--n 1000] [--repeats 3] [--ta-n 10] [--fb-repeats 1]
[--only deepfool|pgd] (torchattacks' DeepFool loops over samples, ~0.3 s each, so it runs on
the first ta-n only)
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from advlab import data, models
from advlab.attacks import PGD, DeepFool, rho_adv
from benchmarks.common import print_table, save

CACHE = Path.home() / ".cache" / "advlab" / "bench" / "lenet-mnist5k-5ep.safetensors"
CANDIDATES, OVERSHOOT, STEPS = 10, 0.02, 50


def trained_lenet() -> nn.Module:
    """LeNet after 5 epochs of plain SGD (momentum 0.9, lr 0.01, batch 64) on mnist-5k."""
    from safetensors.torch import load_file, save_file

    net = models.create("lenet")
    if CACHE.exists():
        net.load_state_dict(load_file(str(CACHE)))
        return net.eval()
    x, y = data.as_tensors(data.load("mnist-5k", "train"))
    torch.manual_seed(0)
    net = models.create("lenet").train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    for _ in range(5):
        order = torch.randperm(x.shape[0])
        for i in range(0, x.shape[0], 64):
            idx = order[i : i + 64]
            opt.zero_grad()
            F.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(CACHE))
    return net.eval()


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def deepfool_floor(model: nn.Module, x: torch.Tensor, steps: torch.Tensor) -> None:
    """Replay the unavoidable passes of a DeepFool run whose per-sample step counts are `steps`."""
    for i in range(int(steps.max()) + 1):
        active = int((steps > i).sum())  # samples that take a gradient step at iteration i
        finishing = int((steps == i).sum())  # checked at iteration i, then done
        if finishing:
            with torch.no_grad():
                model(x[:finishing])
        if active == 0:
            continue
        with torch.enable_grad():
            xa = x[:active].clone().requires_grad_(True)
            out = model(xa)
            cot = torch.zeros_like(out)
            for j in range(CANDIDATES - 1):
                cot.zero_()
                cot[:, j + 1] = 1.0
                cot[:, 0] = -1.0
                torch.autograd.grad(out, xa, cot, retain_graph=j < CANDIDATES - 2)


def bench_deepfool(model: nn.Module, x: torch.Tensor, y: torch.Tensor, pred: torch.Tensor, repeats: int,
                   ta_n: int, fb_repeats: int) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """DeepFool against its floor, foolbox and torchattacks: (results, table rows)."""
    n = x.shape[0]
    attack = DeepFool(steps=STEPS, overshoot=OVERSHOOT, candidates=CANDIDATES)
    result = attack(model, x, y)  # warm-up, and the step counts the floor replays
    ours_t, floor_t, fb_t = [], [], []
    fb_adv = None
    try:
        import foolbox as fb

        fmodel = fb.PyTorchModel(model, bounds=(0, 1))
        fb_attack = fb.attacks.L2DeepFoolAttack(steps=STEPS, overshoot=OVERSHOOT, candidates=CANDIDATES)
    except ImportError:
        fb = None
    for r in range(repeats):  # interleaved so load drift hits all alike
        t, result = timed(lambda: attack(model, x, y))
        ours_t.append(t)
        floor_t.append(timed(lambda s=result.steps: deepfool_floor(model, x, s))[0])
        if fb is not None and r < fb_repeats:  # foolbox is slow: fewer repeats by default
            t, (_, fb_adv, fb_success) = timed(lambda: fb_attack(fmodel, x, pred, epsilons=None))
            fb_t.append(t)
    ours, floor = statistics.median(ours_t) / n, statistics.median(floor_t) / n
    df: dict[str, Any] = {
        "ms_per_sample": 1000 * ours, "floor_ms_per_sample": 1000 * floor, "ratio_to_floor": ours / floor,
        "success": result.success_rate, "mean_steps": float(result.steps.float().mean()),
        "rho_adv": rho_adv(x, result.x_adv),
    }  # fmt: skip
    if fb is not None and fb_adv is not None:
        fb_rho = rho_adv(x, fb_adv)
        df["foolbox"] = {"ms_per_sample": 1000 * statistics.median(fb_t) / n, "rho_adv": fb_rho,
                         "success": float(fb_success.float().mean()),
                         "speedup": statistics.median(fb_t) / n / ours,
                         "rho_relative_difference": abs(df["rho_adv"] - fb_rho) / fb_rho}  # fmt: skip
    try:
        import torchattacks

        ta = torchattacks.DeepFool(model, steps=STEPS, overshoot=OVERSHOOT)
        xs, ps = x[:ta_n], pred[:ta_n]
        t, ta_adv = timed(lambda: ta(xs, ps))
        ours_sub = attack(model, xs, ps)
        df["torchattacks"] = {"n": ta_n, "ms_per_sample": 1000 * t / ta_n, "speedup": t / ta_n / ours,
                              "rho_adv": rho_adv(xs, ta_adv), "ours_rho_adv_same_samples": rho_adv(xs, ours_sub.x_adv)}  # fmt: skip
    except ImportError:
        pass
    rows = [
        ("DeepFool ms/sample (ours)", f"{df['ms_per_sample']:.2f}"),
        ("DeepFool floor ms/sample", f"{df['floor_ms_per_sample']:.2f}  (ours/floor = {df['ratio_to_floor']:.2f}, target <= 1.25)"),
        ("DeepFool success / mean steps", f"{df['success']:.3f} / {df['mean_steps']:.2f}"),
        ("DeepFool rho_adv (ours)", f"{df['rho_adv']:.6f}"),
    ]
    if "foolbox" in df:
        f = df["foolbox"]
        rows += [("foolbox L2DeepFool ms/sample", f"{f['ms_per_sample']:.2f}  (ours {f['speedup']:.1f}x faster, target >= 2)"),
                 ("foolbox rho_adv / success", f"{f['rho_adv']:.6f} / {f['success']:.3f}  (rel. diff {f['rho_relative_difference']:.2e}, target <= 1e-2)")]  # fmt: skip
    if "torchattacks" in df:
        t = df["torchattacks"]
        rows += [("torchattacks DeepFool ms/sample", f"{t['ms_per_sample']:.1f} on {t['n']} samples  (ours {t['speedup']:.0f}x faster, target >= 25)")]
    return df, rows


def model_inputs(model: nn.Module, run: Any) -> list[torch.Tensor]:
    """Copies of every input `run()` passes to `model`, in order (a forward pre-hook)."""
    inputs: list[torch.Tensor] = []
    handle = model.register_forward_pre_hook(lambda _module, args: inputs.append(args[0].detach().clone()))
    try:
        run()
    finally:
        handle.remove()
    return inputs


def bench_pgd(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, repeats: int) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """A PGD step against one forward+backward of the clean batch and against its floor."""
    pgd_steps = 20
    pgd = PGD(eps=0.3, step_size=0.01, steps=pgd_steps)

    def attack() -> Any:
        return pgd(model, xb, yb, generator=torch.Generator().manual_seed(0))

    def forward_backward(x: torch.Tensor) -> None:
        with torch.enable_grad():
            xr = x.clone().requires_grad_(True)
            torch.autograd.grad(F.cross_entropy(model(xr), yb), xr)

    inputs = model_inputs(model, attack)  # steps gradient passes, then the final forward
    assert len(inputs) == pgd_steps + 1, len(inputs)

    def floor() -> None:
        for x in inputs[:-1]:
            forward_backward(x)
        with torch.no_grad():
            model(inputs[-1])

    def passes() -> None:  # pgd_steps forward+backward passes of the batch
        for _ in range(pgd_steps):
            forward_backward(xb)

    pgd_t, fb_pass_t, floor_t, ta_pgd_t = [], [], [], []  # per step; fwd+bwd timed as 20 passes too
    try:
        import torchattacks

        ta_pgd = torchattacks.PGD(model, eps=0.3, alpha=0.01, steps=pgd_steps, random_start=True)
    except ImportError:
        ta_pgd = None
    forward_backward(xb)
    for _ in range(repeats):  # interleaved so load drift hits all alike
        pgd_t.append(timed(attack)[0] / pgd_steps)
        fb_pass_t.append(timed(passes)[0] / pgd_steps)
        floor_t.append(timed(floor)[0] / pgd_steps)
        if ta_pgd is not None:
            ta_pgd_t.append(timed(lambda: ta_pgd(xb, yb))[0] / pgd_steps)
    step, fwd_bwd, at_floor = statistics.median(pgd_t), statistics.median(fb_pass_t), statistics.median(floor_t)
    out: dict[str, Any] = {"batch": xb.shape[0], "steps": pgd_steps, "ms_per_step": 1000 * step,
                           "fwd_bwd_ms": 1000 * fwd_bwd, "ratio_to_fwd_bwd": step / fwd_bwd,
                           "floor_ms_per_step": 1000 * at_floor, "ratio_to_floor": step / at_floor}  # fmt: skip
    if ta_pgd_t:
        out["torchattacks_ms_per_step"] = 1000 * statistics.median(ta_pgd_t)
        out["torchattacks_ratio"] = statistics.median(ta_pgd_t) / step
    rows = [("PGD ms/step (ours)", f"{out['ms_per_step']:.2f}  (batch {out['batch']})"),
            ("one forward+backward ms", f"{out['fwd_bwd_ms']:.2f}  (ratio {out['ratio_to_fwd_bwd']:.2f}, target <= 1.15)"),
            ("PGD floor ms/step at its inputs", f"{out['floor_ms_per_step']:.2f}  (ours/floor = {out['ratio_to_floor']:.3f})")]  # fmt: skip
    if "torchattacks_ms_per_step" in out:
        rows += [("torchattacks PGD ms/step", f"{out['torchattacks_ms_per_step']:.2f}  (torchattacks / ours = {out['torchattacks_ratio']:.2f})")]
    return out, rows


def main(n: int = 1000, repeats: int = 3, ta_n: int = 10, pgd_batch: int = 500, fb_repeats: int = 1,
         only: str | None = None, layout: str = "channels-last") -> dict:
    """layout: the memory order of the conv weights of the ONE model every library attacks:
    "channels-last" as `advlab.models.load_checkpoint` returns models, "nchw" torch's default."""
    torch.manual_seed(0)
    model = trained_lenet()
    if layout == "channels-last":
        models.use_channels_last(model)
    x, y = data.as_tensors(data.load("mnist-5k", "test"), limit=n)
    with torch.no_grad():
        pred = model(x).argmax(1)
    out: dict[str, Any] = {"n": n, "threads": torch.get_num_threads(), "layout": layout,
                           "accuracy": float((pred == y).float().mean())}  # fmt: skip
    rows: list[tuple[str, str]] = []
    if only in (None, "deepfool"):
        out["deepfool"], part = bench_deepfool(model, x, y, pred, repeats, ta_n, fb_repeats)
        rows += part
    if only in (None, "pgd"):
        out["pgd"], part = bench_pgd(model, x[:pgd_batch], y[:pgd_batch], repeats)
        rows += part
    print_table(f"Attacks: LeNet ({layout} weights) on mnist-5k, {n} test images, medians of {repeats}", rows)
    save("attacks" if only is None else f"attacks-{only}", out)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ta-n", type=int, default=10)
    parser.add_argument("--fb-repeats", type=int, default=1)
    parser.add_argument("--only", choices=["deepfool", "pgd"], default=None)
    parser.add_argument("--layout", choices=["channels-last", "nchw"], default="channels-last",
                        help="memory order of the model's conv weights (the same model for all)")
    args = parser.parse_args()
    main(args.n, args.repeats, args.ta_n, fb_repeats=args.fb_repeats, only=args.only,
         layout=args.layout)
