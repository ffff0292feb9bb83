"""Ctrl-C during training: finish the step, checkpoint, stop with `TrainingInterrupted`.

The first SIGINT only sets a flag that the training loops read after each optimiser step, so
the checkpoint they then write is a consistent position of the run (weights, optimiser, RNG
and data position of the same step) and `--resume` continues it bit-for-bit. A second Ctrl-C
interrupts at once (Python's KeyboardInterrupt). Light module: no torch.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class StopRequest:
    """`requested` becomes True at the first Ctrl-C while `graceful_interrupt` is active."""

    requested: bool = False


@contextmanager
def graceful_interrupt(enabled: bool = True) -> Iterator[StopRequest]:
    """Catch the first SIGINT as a stop request for the duration of the block.

    enabled: False leaves SIGINT alone (e.g. under torchrun, where every rank would have to
    agree on the step to stop at); outside the main thread signals cannot be caught and the
    request simply never comes. An ignored SIGINT stays ignored: a shell starts background
    jobs (``cmd &``, nohup) that way on purpose, and Ctrl-C at the terminal must not stop them.
    """
    request = StopRequest()
    if (not enabled or threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is signal.SIG_IGN):
        yield request
        return

    def on_interrupt(signum: int, frame: object) -> None:
        if request.requested:  # the second Ctrl-C: stop now
            raise KeyboardInterrupt
        request.requested = True
        log.warning("interrupted: stopping after this step to save a checkpoint "
                    "(Ctrl-C again to stop at once)")

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield request
    finally:
        signal.signal(signal.SIGINT, previous)
