"""GAN iteration speed: advlab's `d_step` / `g_step` against a plain hand-written PyTorch loop.

One WGAN-GP training iteration (Gulrajani et al. 2017, Algorithm 1): n_critic = 5 critic steps
with the gradient penalty, then one generator step, for the DCGAN architecture at 32 px
(3 channels), batch 64, Adam 1e-4 (0, 0.9) on both sides. Both loops start from the same
weights and optimiser settings and see the same real batch; they run in turn (A B, B A, ...)
and we report medians and the ratio ours / plain. On CUDA, `--amp` adds our bfloat16 autocast
variant (the penalty stays float32).

Run: python -m benchmarks.bench_gan [--width 64] [--repeats 9] [--threads N] [--device cpu]
     [--clock wall|cpu] [--amp]
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from advlab.gan.losses import OBJECTIVES
from advlab.gan.steps import d_step, g_step
from advlab.models.gan import build_gan
from benchmarks.common import print_table, save

BATCH, SIZE, CHANNELS, LATENT = 64, 32, 3, 100


def plain_iteration(G, D, opt_g, opt_d, real, n_critic: int, gp_weight: float) -> None:
    """WGAN-GP Algorithm 1 written directly in PyTorch, the way the paper's pseudo-code reads."""
    for _ in range(n_critic):
        z = torch.randn(real.shape[0], LATENT, device=real.device)
        with torch.no_grad():
            fake = G(z)
        eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
        penalty = gp_weight * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
        loss = D(fake).mean() - D(real).mean() + penalty
        opt_d.zero_grad(set_to_none=True)
        loss.backward()
        opt_d.step()
    z = torch.randn(real.shape[0], LATENT, device=real.device)
    g_loss = -D(G(z)).mean()
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    opt_g.step()


def abba_medians(candidates: dict[str, Callable[[], Any]], repeats: int = 5, warmup: int = 1,
                 clock: Callable[[], float] = time.perf_counter) -> dict[str, float]:
    """Median seconds of each candidate, run in turn with the order reversed on every other
    repeat (A B, B A, A B, ...) so neither side profits from going second (warm caches) or
    from a drift in machine load. clock: time.perf_counter (wall) or time.process_time (CPU
    seconds of this process: on an oversubscribed shared machine, wall time measures the
    neighbours as much as us)."""
    for _ in range(warmup):
        for fn in candidates.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    order = list(candidates)
    for r in range(repeats):
        for name in (order if r % 2 == 0 else order[::-1]):
            start = clock()
            candidates[name]()
            times[name].append(clock() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main(width: int = 64, repeats: int = 9, device: str = "auto", amp: bool = False,
         clock: str = "wall") -> dict:
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    objective = OBJECTIVES["wgan-gp"]
    torch.manual_seed(0)
    G0, D0 = build_gan("dcgan", image_size=SIZE, channels=CHANNELS, latent_dim=LATENT,
                       width=width, batchnorm_in_critic=False)
    real = torch.rand(BATCH, CHANNELS, SIZE, SIZE, device=dev) * 2 - 1

    def fresh():
        G, D = copy.deepcopy(G0).to(dev).train(), copy.deepcopy(D0).to(dev).train()
        return G, D, objective.rule.make_optimizer(G.parameters()), objective.rule.make_optimizer(D.parameters())

    ours_nets, plain_nets, plain_twin_nets = fresh(), fresh(), fresh()
    eps_gen = torch.Generator(device=dev).manual_seed(0)

    def ours(amp_dtype=None) -> None:
        G, D, opt_g, opt_d = ours_nets
        for _ in range(objective.n_critic):
            z = torch.randn(BATCH, LATENT, device=dev)
            d_step(G, D, opt_d, real, z, objective, penalty_generator=eps_gen, amp_dtype=amp_dtype)
        g_step(G, D, opt_g, torch.randn(BATCH, LATENT, device=dev), objective, amp_dtype=amp_dtype)
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def plain(nets=plain_nets) -> None:
        G, D, opt_g, opt_d = nets
        plain_iteration(G, D, opt_g, opt_d, real, objective.n_critic, objective.gp_weight)
        if dev.type == "cuda":
            torch.cuda.synchronize()

    # the same plain loop twice: the spread between the two copies is the noise floor
    candidates = {"advlab d_step/g_step": ours, "plain PyTorch loop": plain,
                  "plain PyTorch loop (twin)": lambda: plain(plain_twin_nets)}
    if amp and dev.type == "cuda":
        candidates["advlab bf16 autocast"] = lambda: ours(torch.bfloat16)
    use_cpu_clock = clock == "cpu" and dev.type == "cpu"
    medians = abba_medians(candidates, repeats=repeats, warmup=1,
                           clock=time.process_time if use_cpu_clock else time.perf_counter)
    ratio = medians["advlab d_step/g_step"] / medians["plain PyTorch loop"]
    noise = medians["plain PyTorch loop (twin)"] / medians["plain PyTorch loop"]
    payload = {
        "benchmark": "WGAN-GP iteration (5 critic steps with penalty + 1 generator step)",
        "arch": "dcgan", "image_size": SIZE, "channels": CHANNELS, "batch": BATCH,
        "width": width, "device": str(dev), "threads": torch.get_num_threads(),
        "torch": torch.__version__, "machine": platform.machine(), "repeats": repeats,
        "clock": "process CPU time" if use_cpu_clock else "wall time",
        "median_seconds": medians, "ratio_ours_over_plain": ratio,
        "ratio_twin_over_plain (noise floor)": noise,
    }  # fmt: skip
    if "advlab bf16 autocast" in medians:
        payload["ratio_amp_over_plain"] = medians["advlab bf16 autocast"] / medians["plain PyTorch loop"]
    report(payload)
    return payload


def report(result: dict) -> None:
    """Print the table and write results/gan.json (also when run through `make bench`)."""
    path = save("gan", result)
    rows = [(name, f"{seconds * 1e3:.1f} ms") for name, seconds in result["median_seconds"].items()]
    rows.append(("ratio ours / plain", f"{result['ratio_ours_over_plain']:.3f} (target <= 1.0)"))
    rows.append(("ratio twin / plain (noise)",
                 f"{result['ratio_twin_over_plain (noise floor)']:.3f}"))
    if "ratio_amp_over_plain" in result:
        rows.append(("ratio bf16 autocast / plain", f"{result['ratio_amp_over_plain']:.3f}"))
    print_table(f"{result['benchmark']}, DCGAN {SIZE}px width {result['width']}, batch {BATCH}, "
                f"{result['device']}, {result['threads']} threads, {result['clock']}", rows)
    print(f"  written to {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0 = torch's)")
    parser.add_argument("--amp", action="store_true", help="also time bf16 autocast (CUDA)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: process CPU seconds (robust on a busy shared CPU)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    main(args.width, args.repeats, args.device, args.amp, args.clock)
