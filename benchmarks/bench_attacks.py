"""Attack speed, side by side in one run: advlab's DeepFool against its floor, foolbox and
torchattacks; advlab's PGD step against one forward+backward pass and torchattacks' PGD.

Model: LeNet (advlab.models "lenet") trained 5 epochs on mnist-5k by a plain SGD loop (cached
under ~/.cache/advlab/bench). Images: the first N (default 1,000) mnist-5k test digits.

DeepFool floor: the passes the algorithm cannot avoid, replayed with the per-step active
counts of our own run: at step i, one forward of every sample still being checked and, for
the m_i samples still not fooled, the K-1 candidate-class vector-Jacobian products through
that forward graph (no bookkeeping, no norms, no argmin). Peers are optional (`pip install
--no-deps foolbox eagerpy torchattacks`); rows for missing ones are skipped.
Run: python -m benchmarks.bench_attacks [--n 1000] [--repeats 3] [--ta-n 10] [--fb-repeats 1]
(torchattacks' DeepFool loops over samples, ~0.3 s each, so it runs on the first ta-n only)
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


def main(n: int = 1000, repeats: int = 3, ta_n: int = 10, pgd_batch: int = 500, fb_repeats: int = 1) -> dict:
    torch.manual_seed(0)
    model = trained_lenet()
    x, y = data.as_tensors(data.load("mnist-5k", "test"), limit=n)
    with torch.no_grad():
        pred = model(x).argmax(1)
    out: dict[str, Any] = {"n": n, "threads": torch.get_num_threads(), "accuracy": float((pred == y).float().mean())}

    # ---------------------------------------------------------------- DeepFool
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
    out["deepfool"] = df

    # ---------------------------------------------------------------- PGD
    xb, yb = x[:pgd_batch], y[:pgd_batch]
    pgd_steps = 20
    pgd = PGD(eps=0.3, step_size=0.01, steps=pgd_steps)

    def forward_backward() -> None:
        with torch.enable_grad():
            xr = xb.clone().requires_grad_(True)
            torch.autograd.grad(F.cross_entropy(model(xr), yb), xr)

    pgd_t, fb_pass_t, ta_pgd_t = [], [], []  # per step; fwd+bwd timed as 20 passes too
    try:
        import torchattacks

        ta_pgd = torchattacks.PGD(model, eps=0.3, alpha=0.01, steps=pgd_steps, random_start=True)
    except ImportError:
        ta_pgd = None
    forward_backward()
    for _ in range(repeats):
        pgd_t.append(timed(lambda: pgd(model, xb, yb, generator=torch.Generator().manual_seed(0)))[0] / pgd_steps)
        fb_pass_t.append(timed(lambda: [forward_backward() for _ in range(pgd_steps)])[0] / pgd_steps)
        if ta_pgd is not None:
            ta_pgd_t.append(timed(lambda: ta_pgd(xb, yb))[0] / pgd_steps)
    step, fwd_bwd = statistics.median(pgd_t), statistics.median(fb_pass_t)
    out["pgd"] = {"batch": pgd_batch, "steps": pgd_steps, "ms_per_step": 1000 * step,
                  "fwd_bwd_ms": 1000 * fwd_bwd, "ratio_to_fwd_bwd": step / fwd_bwd}  # fmt: skip
    if ta_pgd_t:
        out["pgd"]["torchattacks_ms_per_step"] = 1000 * statistics.median(ta_pgd_t)
        out["pgd"]["torchattacks_ratio"] = statistics.median(ta_pgd_t) / step

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
    p = out["pgd"]
    rows += [("PGD ms/step (ours)", f"{p['ms_per_step']:.2f}  (batch {p['batch']})"),
             ("one forward+backward ms", f"{p['fwd_bwd_ms']:.2f}  (ratio {p['ratio_to_fwd_bwd']:.2f}, target <= 1.15)")]  # fmt: skip
    if "torchattacks_ms_per_step" in p:
        rows += [("torchattacks PGD ms/step", f"{p['torchattacks_ms_per_step']:.2f}  (torchattacks / ours = {p['torchattacks_ratio']:.2f})")]
    print_table(f"Attacks: LeNet on mnist-5k, {n} test images, medians of {repeats}", rows)
    save("attacks", out)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ta-n", type=int, default=10)
    parser.add_argument("--fb-repeats", type=int, default=1)
    args = parser.parse_args()
    main(args.n, args.repeats, args.ta_n, fb_repeats=args.fb_repeats)
