"""Wong-Kolter certification speed: advlab.defenses.certify vs convex_adversarial (the authors'
package), side by side in one run on the same wong-small weights and the same 50 MNIST inputs.

    python -m benchmarks.bench_certify [--repeats 3] [--ca-repeats 2]

Measures exact robust-loss forward and backward time and the same with 50 Cauchy projections,
timed in this process with the two implementations interleaved (A, B, A, B: load drift on the
shared machine hits both alike), and peak memory of one forward+backward in a fresh subprocess
per method: the increase of max RSS (resource.getrusage ru_maxrss) over the RSS just before. Also the max relative difference of the exact margin
lower bounds. Medians over repeats. Writes benchmarks/results/certify.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

EPS, BATCH, PROJ = 0.1, 50, 50
RESULTS = Path(__file__).parent / "results" / "certify.json"


def wong_small() -> nn.Sequential:
    try:
        from advlab.models import create

        return create("wong-small")
    except Exception:  # the model registry is not there: the same architecture by hand
        return nn.Sequential(
            nn.Conv2d(1, 16, 4, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 4, 2, 1), nn.ReLU(),
            nn.Flatten(), nn.Linear(32 * 7 * 7, 100), nn.ReLU(), nn.Linear(100, 10),
        )  # fmt: skip


def setup() -> tuple[nn.Sequential, torch.Tensor, torch.Tensor]:
    """Seeded wong-small briefly trained (200 SGD steps on mnist-5k) and 50 test digits."""
    torch.manual_seed(0)
    net = wong_small()
    try:
        from advlab import data

        x_tr, y_tr = data.as_tensors(data.load("mnist-5k", "train"))
        x_te, y_te = data.as_tensors(data.load("mnist-5k", "test"), limit=BATCH)
    except Exception:
        g = torch.Generator().manual_seed(0)
        x_tr, y_tr = torch.rand(1000, 1, 28, 28, generator=g), torch.randint(0, 10, (1000,), generator=g)
        x_te, y_te = x_tr[:BATCH], y_tr[:BATCH]
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    for step in range(200):
        idx = torch.arange(step * 64, step * 64 + 64) % len(x_tr)
        loss = nn.functional.cross_entropy(net(x_tr[idx]), y_tr[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval(), x_te[:BATCH].contiguous(), y_te[:BATCH].contiguous()


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


def _patch_convex_adversarial() -> None:
    """Import-time fixes for current torch, in this benchmark only (none needed as of 0.4.4)."""
    import convex_adversarial  # noqa: F401


def _loss_fns(net: nn.Sequential, x: torch.Tensor, y: torch.Tensor) -> dict:
    """(method, mode) -> callable returning the robust loss of that implementation."""
    from advlab.defenses.certify import LinfBall, robust_loss

    _patch_convex_adversarial()
    from convex_adversarial import robust_loss as ca_loss

    def ours(proj):
        return lambda: robust_loss(net, x, y, LinfBall(EPS), projections=proj,
                                   generator=torch.Generator().manual_seed(0))[0]

    def theirs(proj):
        if proj is None:
            return lambda: ca_loss(net, EPS, x, y)[0]
        return lambda: ca_loss(net, EPS, x, y, proj=proj, norm_type="l1_median")[0]

    return {("ours", "exact"): ours(None), ("convex_adversarial", "exact"): theirs(None),
            ("ours", "proj50"): ours(PROJ), ("convex_adversarial", "proj50"): theirs(PROJ)}


def _load(state: dict) -> tuple[nn.Sequential, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    net = wong_small()
    net.load_state_dict(state["weights"])
    return net.eval(), state["x"], state["y"]


def _time_once(net: nn.Sequential, fn) -> tuple[float, float]:
    net.zero_grad()
    t0 = time.perf_counter()
    loss = fn()
    t1 = time.perf_counter()
    loss.backward()
    return t1 - t0, time.perf_counter() - t1


def _memory_worker(method: str, mode: str, state: dict, queue: mp.Queue) -> None:
    """One forward+backward in a fresh process: peak max-RSS increase over the RSS before."""
    net, x, y = _load(state)
    fn = _loss_fns(net, x, y)[(method, mode)]
    base = _rss_kb()
    _time_once(net, fn)
    queue.put((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)


def _bounds_worker(state: dict, queue: mp.Queue) -> None:
    """Exact margin lower bounds of both implementations on the same inputs."""
    from convex_adversarial import DualNetwork

    from advlab.defenses.certify import LinfBall, dual_bounds, margin_spec

    net = wong_small()
    net.load_state_dict(state["weights"])
    net.eval()
    x, y = state["x"], state["y"]
    c = margin_spec(y, 10)
    with torch.no_grad():
        ours = dual_bounds(net, x, LinfBall(EPS), spec=c).lower
        theirs = DualNetwork(net, x, EPS)(c)
    diff = (ours - theirs).abs()
    queue.put({
        "max_abs_diff": float(diff.max()),
        "max_rel_diff": float((diff / theirs.abs().clamp_min(1e-3)).max()),
        "max_rel_diff_normwise": float(diff.max() / theirs.abs().max()),
    })


def _run(target, *args) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def parse_args(argv: Sequence[str] = ()) -> argparse.Namespace:
    """Options of this benchmark from an explicit argument list (never sys.argv: run.py's own
    arguments, such as `attacks certify`, are not ours)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_certify",
                                     description=__doc__.splitlines()[0])  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3, help="repeats of our exact pass")
    parser.add_argument("--ca-repeats", type=int, default=2, help="repeats of convex_adversarial's exact pass")
    parser.add_argument("--proj-repeats", type=int, default=5)
    return parser.parse_args(list(argv))


def main(argv: Sequence[str] = ()) -> dict:
    """Run the benchmark with options `argv` (run.py calls ``main()``: the defaults)."""
    args = parse_args(argv)
    net, x, y = setup()
    state = {"weights": net.state_dict(), "x": x, "y": y}
    runs = {
        ("ours", "exact"): args.repeats,
        ("convex_adversarial", "exact"): args.ca_repeats,
        ("ours", "proj50"): args.proj_repeats,
        ("convex_adversarial", "proj50"): args.proj_repeats,
    }
    results: dict = {"setup": {"model": "wong-small (200 SGD steps on mnist-5k)", "batch": BATCH,
                               "eps": EPS, "projections": PROJ, "threads": torch.get_num_threads(),
                               "memory": "peak max-RSS increase in a fresh process (getrusage)"}}
    for key in runs:  # memory first, each in its own fresh process
        results[f"{key[0]}/{key[1]}"] = {"peak_rss_delta_mb": _run(_memory_worker, *key, state),
                                          "forward_s": [], "backward_s": []}
    fns = _loss_fns(net, x, y)
    for key in runs:  # warm-up (one-time allocations, lazy imports)
        if key[1] == "proj50":
            _time_once(net, fns[key])
    for rep in range(max(runs.values())):  # interleaved, so load drift hits both alike
        for key, reps in runs.items():
            if rep < reps:
                fwd, bwd = _time_once(net, fns[key])
                results[f"{key[0]}/{key[1]}"]["forward_s"].append(fwd)
                results[f"{key[0]}/{key[1]}"]["backward_s"].append(bwd)
    for key in runs:
        r = results[f"{key[0]}/{key[1]}"]
        r["forward_median_s"] = statistics.median(r["forward_s"])
        r["backward_median_s"] = statistics.median(r["backward_s"])
    results["bounds"] = _run(_bounds_worker, state)
    for mode in ("exact", "proj50"):
        o, c = results[f"ours/{mode}"], results[f"convex_adversarial/{mode}"]
        results[f"speedup/{mode}"] = {
            "forward": c["forward_median_s"] / o["forward_median_s"],
            "backward": c["backward_median_s"] / o["backward_median_s"],
            "total": (c["forward_median_s"] + c["backward_median_s"])
            / (o["forward_median_s"] + o["backward_median_s"]),
        }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(f"{'method':28s} {'forward s':>10s} {'backward s':>11s} {'peak MB':>9s}")
    for key in ("ours/exact", "convex_adversarial/exact", "ours/proj50", "convex_adversarial/proj50"):
        r = results[key]
        print(f"{key:28s} {r['forward_median_s']:10.3f} {r['backward_median_s']:11.3f} "
              f"{r['peak_rss_delta_mb']:9.0f}")
    for mode in ("exact", "proj50"):
        s = results[f"speedup/{mode}"]
        print(f"speed-up {mode}: forward {s['forward']:.2f}x, backward {s['backward']:.2f}x, total {s['total']:.2f}x")
    b = results["bounds"]
    print(f"bounds: max |diff| {b['max_abs_diff']:.2e}, max rel diff {b['max_rel_diff']:.2e} "
          f"(normwise {b['max_rel_diff_normwise']:.2e})")
    print(f"written to {RESULTS}")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
