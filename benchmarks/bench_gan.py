"""GAN iteration speed: advlab's `d_step` / `g_step` against a plain hand-written PyTorch loop.

1. One WGAN-GP training iteration (Gulrajani et al. 2017, Algorithm 1): n_critic = 5 critic
   steps with the gradient penalty, then one generator step, for the DCGAN architecture at
   32 px (3 channels), batch 64, Adam 1e-4 (0, 0.9) on both sides.
2. One progressive-GAN iteration (Karras et al. 2018) at each resolution 4, 8, 16, 32 of the
   progressive-gan experiment's networks (width 8, at most 64 maps, 1 channel, batch 32):
   what the trainer does per iteration (set the level of detail, fade the real batch, one
   critic step with penalty and drift, one generator step, the EMA update) against the same
   networks in a plain loop (the same operations written directly).

Both loops start from the same weights and optimiser settings and see the same real batch;
they run in turn (A B, B A, ...) and we report medians and the ratio ours / plain, and a twin
of the plain loop for the noise floor. On CUDA, `--amp` adds our bfloat16 autocast variant
(the penalty stays float32).

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
import torch.nn.functional as F

from advlab.gan.growth import fade_reals
from advlab.gan.losses import OBJECTIVES
from advlab.gan.steps import d_step, ema_update_, g_step
from advlab.models.gan import build_gan, set_lod_
from advlab.models.gan.progressive import ProgressiveSwitches
from benchmarks.common import print_table, save

BATCH, SIZE, CHANNELS, LATENT = 64, 32, 3, 100


def fake_and_penalty(G, D, real, latent: int, gp_weight: float):
    """A detached fake batch and WGAN-GP's gradient penalty (Gulrajani et al. 2017, Eq. 3) on
    random interpolates between it and `real`, written directly."""
    z = torch.randn(real.shape[0], latent, device=real.device)
    with torch.no_grad():
        fake = G(z)
    eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
    return fake, gp_weight * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def plain_iteration(G, D, opt_g, opt_d, real, n_critic: int, gp_weight: float) -> None:
    """WGAN-GP Algorithm 1 written directly in PyTorch, the way the paper's pseudo-code reads."""
    for _ in range(n_critic):
        fake, penalty = fake_and_penalty(G, D, real, LATENT, gp_weight)
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


def plain_progressive_iteration(G, D, G_ema, opt_g, opt_d, real, lod: float, gp_weight: float,
                                drift: float, decay: float) -> None:
    """One progressive-GAN iteration written directly: the real batch box-downsampled to the
    working resolution and back, one WGAN-GP critic step with the drift term, one generator
    step, the EMA of G's weights."""
    G.set_lod_(lod), D.set_lod_(lod), G_ema.set_lod_(lod)
    factor = 2 ** int(lod)
    if factor > 1:
        real = F.interpolate(F.avg_pool2d(real, factor), scale_factor=factor, mode="nearest")
    fake, penalty = fake_and_penalty(G, D, real, G.latent_dim, gp_weight)
    real_scores = D(real)
    loss = D(fake).mean() - real_scores.mean() + penalty + drift * real_scores.pow(2).mean()
    opt_d.zero_grad(set_to_none=True)
    loss.backward()
    opt_d.step()
    for p in D.parameters():
        p.requires_grad_(False)
    g_loss = -D(G(torch.randn(real.shape[0], G.latent_dim, device=real.device))).mean()
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    opt_g.step()
    for p in D.parameters():
        p.requires_grad_(True)
    with torch.no_grad():
        for p_ema, p in zip(G_ema.parameters(), G.parameters(), strict=True):
            p_ema.lerp_(p, 1 - decay)


def progressive_main(repeats: int = 9, device: str = "auto", clock: str = "wall",
                     width: int = 8, batch: int = 32) -> dict:
    """Part 2 of the module docstring: ours / plain at each resolution."""
    from advlab.models.layers import use_channels_last

    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    objective = OBJECTIVES["wgan-gp-drift"]
    torch.manual_seed(0)
    G0, D0 = build_gan("progressive", image_size=32, channels=1, latent_dim=64, width=width,
                       switches=ProgressiveSwitches(max_width=64))
    G0, D0 = use_channels_last(G0), use_channels_last(D0)  # as the trainer keeps them
    real = torch.rand(batch, 1, 32, 32, device=dev) * 2 - 1
    use_cpu_clock = clock == "cpu" and dev.type == "cpu"
    results: dict[str, dict[str, float]] = {}
    for resolution in (4, 8, 16, 32):
        lod = float(5 - int(round(torch.log2(torch.tensor(float(resolution))).item())))

        def fresh():
            G, D = copy.deepcopy(G0).to(dev).train(), copy.deepcopy(D0).to(dev).train()
            G_ema = copy.deepcopy(G).eval().requires_grad_(False)
            rule = objective.rule
            return G, D, G_ema, rule.make_optimizer(G.parameters(), "G"), rule.make_optimizer(
                D.parameters(), "D")

        ours_nets, plain_nets, twin_nets = fresh(), fresh(), fresh()
        eps_gen = torch.Generator(device=dev).manual_seed(0)

        def ours(nets=ours_nets, lod=lod, eps_gen=eps_gen) -> None:
            G, D, G_ema, opt_g, opt_d = nets
            for network in (G, D, G_ema):
                set_lod_(network, lod)
            z = torch.randn(batch, 64, device=dev)
            d_step(G, D, opt_d, fade_reals(real, lod), z, objective, penalty_generator=eps_gen)
            g_step(G, D, opt_g, torch.randn(batch, 64, device=dev), objective)
            ema_update_(G_ema, G, 0.999)
            if dev.type == "cuda":
                torch.cuda.synchronize()

        def plain(nets=plain_nets, lod=lod) -> None:
            plain_progressive_iteration(*nets, real, lod, objective.gp_weight,
                                        objective.drift_weight, 0.999)
            if dev.type == "cuda":
                torch.cuda.synchronize()

        medians = abba_medians({"advlab": ours, "plain": plain,
                                "twin": lambda nets=twin_nets: plain(nets)},
                               repeats=repeats, warmup=2,
                               clock=time.process_time if use_cpu_clock else time.perf_counter)
        results[str(resolution)] = {
            "advlab_ms": medians["advlab"] * 1e3, "plain_ms": medians["plain"] * 1e3,
            "ratio": medians["advlab"] / medians["plain"],
            "twin_ratio": medians["twin"] / medians["plain"]}
    payload = {"benchmark": "progressive-GAN iteration per resolution (1 critic step with "
               "penalty and drift + 1 generator step + EMA)", "width": width, "batch": batch,
               "device": str(dev), "threads": torch.get_num_threads(), "repeats": repeats,
               "clock": "process CPU time" if use_cpu_clock else "wall time",
               "per_resolution": results}
    path = save("gan_progressive", payload)
    rows = [(f"{res}x{res}", f"{r['advlab_ms']:.1f} ms vs {r['plain_ms']:.1f} ms: "
             f"{r['ratio']:.3f} (twin {r['twin_ratio']:.3f}; target <= 1.1)")
            for res, r in results.items()]
    print_table(f"{payload['benchmark']}, width {width}, batch {batch}, {payload['device']}, "
                f"{payload['threads']} threads, {payload['clock']}", rows)
    print(f"  written to {path}")
    return payload


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
    payload["progressive"] = progressive_main(repeats, device, clock)
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
