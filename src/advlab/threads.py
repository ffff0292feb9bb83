"""How many intra-op threads torch uses, chosen on purpose.

PyTorch's default is one thread per core. The lecture's models are small: on an idle 2-core
machine a whole command runs within 10-15% with 1 or 2 threads, but when another job is busy on
the cores every parallel region waits for its slowest thread (`benchmarks/bench_threads.py`,
2 cores, two spinning processes: the Goodfellow MLP GAN, 150 iterations, 16.1 s with one thread
against 91.5 s with two; idle 10.4 s and 9.3 s). So advlab uses one thread unless told
otherwise: ``--threads N`` (or ``auto``: one per core), else ``$ADVLAB_THREADS``, else
``$OMP_NUM_THREADS`` when the user set it, else 1. Light module: torch is imported only by
`apply_threads`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_THREADS = 1
ENV_VAR = "ADVLAB_THREADS"


@dataclass(frozen=True)
class ThreadChoice:
    """threads: intra-op threads to use; source: where the number came from (for the run's
    metadata): "--threads", "$ADVLAB_THREADS", "$OMP_NUM_THREADS" or "default"."""

    threads: int
    source: str

    def describe(self) -> str:
        return f"{self.threads} intra-op thread{'s' if self.threads != 1 else ''} ({self.source})"


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def parse_threads(text: str, origin: str) -> int:
    """A positive whole number of threads, or ``auto`` (one per available core)."""
    if text.strip().lower() == "auto":
        return available_cores()
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{origin} must be a whole number of threads >= 1 or 'auto', got {text!r}")
    return value


def choose_threads(requested: str | None = None, environ: Mapping[str, str] | None = None) -> ThreadChoice:
    """The thread count by precedence: `requested` (the --threads option), $ADVLAB_THREADS,
    $OMP_NUM_THREADS, then `DEFAULT_THREADS`."""
    env = os.environ if environ is None else environ
    if requested is not None:
        return ThreadChoice(parse_threads(requested, "--threads"), "--threads")
    if env.get(ENV_VAR):
        return ThreadChoice(parse_threads(env[ENV_VAR], f"${ENV_VAR}"), f"${ENV_VAR}")
    if env.get("OMP_NUM_THREADS"):
        return ThreadChoice(parse_threads(env["OMP_NUM_THREADS"], "$OMP_NUM_THREADS"), "$OMP_NUM_THREADS")
    return ThreadChoice(DEFAULT_THREADS, "default")


_chosen: ThreadChoice | None = None


def apply_threads(choice: ThreadChoice) -> None:
    """Use `choice` for the rest of the process: torch's intra-op thread count (inter-op
    threads are left alone: advlab runs one graph at a time). Before torch is imported this
    only sets $OMP_NUM_THREADS, which torch reads when it starts, so `advlab list` stays free
    of torch."""
    import sys

    global _chosen
    _chosen = choice
    os.environ["OMP_NUM_THREADS"] = str(choice.threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(choice.threads)


def chosen_threads() -> ThreadChoice:
    """The choice `apply_threads` made in this process (the default rule when none was made),
    for the run's metadata."""
    return _chosen if _chosen is not None else choose_threads()


def current_threads() -> int:
    """torch's intra-op thread count now (for run metadata)."""
    import torch

    return torch.get_num_threads()
