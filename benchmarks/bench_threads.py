"""Intra-op threads on an idle and on a busy machine: the demo's heavy parts as whole commands.

Each workload runs as its own `python -m advlab ...` process (start-up included) with
ADVLAB_THREADS=1 (advlab's default) and ADVLAB_THREADS=<cores> (PyTorch's default, one per core),
first on an otherwise idle machine, then with one competing busy process per core. Medians of
interleaved repeats; the ratios to read are busy/idle for each thread count (target: advlab's
default within 1.5x of idle) and threads=cores / threads=1 under load.

Workloads (the GAN rows are the README's Goodfellow MLP GAN and a DCGAN WGAN, the rows the
busy-machine slow-down was first measured on; wong-table demo and a LeNet epoch are the demo's
classifier and certification parts):
Run: python -m benchmarks.bench_threads [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from advlab.threads import available_cores
from benchmarks.common import save

WORKLOADS: dict[str, list[str]] = {
    "goodfellow-mlp-gan-150": ["gan", "train", "--loss", "nonsaturating", "--arch", "mlp", "--width", "16",
                               "--batch-size", "100", "--latent-prior", "uniform", "--iters", "150",
                               "--sample-every", "0", "--checkpoint-every", "0"],
    "dcgan-wgan-20": ["gan", "train", "--loss", "wgan", "--arch", "dcgan", "--width", "16", "--iters", "20",
                      "--sample-every", "0", "--checkpoint-every", "0"],
    "lenet-1-epoch": ["train", "classifier", "--model", "lenet", "--epochs", "1"],
}


@contextmanager
def busy_cores(count: int) -> Iterator[None]:
    """`count` processes spinning on the CPU (a stand-in for another user's job)."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        time.sleep(0.5)
        yield
    finally:
        for process in spinners:
            process.kill()
            process.wait()


def seconds_of(args: list[str], threads: int) -> tuple[float, float]:
    """(wall, CPU) seconds of one `advlab` command in a fresh process with `threads` intra-op
    threads; CPU is the child's user + system time (what it got of the cores)."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env["ADVLAB_THREADS"] = str(threads)
    with tempfile.TemporaryDirectory() as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "advlab", *args, "--out", f"{out}/run"], env=env,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


Medians = dict[str, dict[int, float]]


def measure(repeats: int, threads_options: tuple[int, ...]) -> tuple[Medians, Medians]:
    """Median wall and CPU seconds per workload and thread count, the thread counts interleaved."""
    walls: dict[str, dict[int, list[float]]] = {w: {t: [] for t in threads_options} for w in WORKLOADS}
    cpus: dict[str, dict[int, list[float]]] = {w: {t: [] for t in threads_options} for w in WORKLOADS}
    for _ in range(repeats):
        for name, args in WORKLOADS.items():
            for threads in threads_options:
                wall, cpu = seconds_of(args, threads)
                walls[name][threads].append(wall)
                cpus[name][threads].append(cpu)
    def medians(table: dict[str, dict[int, list[float]]]) -> Medians:
        return {w: {t: statistics.median(v) for t, v in per.items()} for w, per in table.items()}
    return medians(walls), medians(cpus)


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one-thread-only", action="store_true",
                        help="measure advlab's default (1 thread) only, not PyTorch's (one per core)")
    args = parser.parse_args()
    cores = available_cores()
    options = (1, cores) if cores > 1 and not args.one_thread_only else (1,)
    idle, idle_cpu = measure(args.repeats, options)
    with busy_cores(cores):
        busy, busy_cpu = measure(args.repeats, options)
    print(f"\nThreads on an idle machine and under {cores} busy processes ({cores} cores), "
          f"median of {args.repeats}, seconds per whole command")
    header = ["workload"] + [f"{s} t={t}" for s in ("idle", "busy") for t in options]
    header += [f"busy/idle t={t}" for t in options] + [f"CPU busy/idle t={t}" for t in options]
    header += [f"cores got busy t={t}" for t in options]
    print("  " + " | ".join(header))
    for name in WORKLOADS:
        cells = [f"{idle[name][t]:.1f}" for t in options] + [f"{busy[name][t]:.1f}" for t in options]
        cells += [f"{busy[name][t] / idle[name][t]:.2f}x" for t in options]
        # CPU time needed busy vs idle (cache and memory contention), and the share of the cores
        # the scheduler gave the command (CPU / wall; 1 thread beside `cores` spinners: 2/3 fair)
        cells += [f"{busy_cpu[name][t] / idle_cpu[name][t]:.2f}x" for t in options]
        cells += [f"{busy_cpu[name][t] / busy[name][t]:.2f}" for t in options]
        print("  " + " | ".join([name, *cells]))
    payload = {"cores": cores, "repeats": args.repeats, "idle": idle, "busy": busy,
               "idle_cpu": idle_cpu, "busy_cpu": busy_cpu}
    save("threads", payload)
    return payload


if __name__ == "__main__":
    main()
