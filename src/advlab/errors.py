"""The errors advlab raises for bad input and stopped runs, in one light module (no torch),
so that the command line can tell them apart without importing the library.

Each carries a message for a person: what is wrong, the path or name involved, the valid
choices or the fix.
"""

from __future__ import annotations

from advlab.registry import UnknownNameError


class DatasetMissingError(FileNotFoundError):
    """The dataset's files are not on disk and downloading was not allowed (or failed)."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be trusted or used: missing, pickled, truncated, corrupt, or
    for another model. The message names the path."""


class PretrainedWeightsMissing(FileNotFoundError):
    """The pretrained weights are neither cached nor downloadable."""


class TrainingDiverged(RuntimeError):
    """Training produced NaN/inf (or exploding) losses or weights; the run stopped and the
    last good checkpoint is kept on disk."""


class TrainingInterrupted(RuntimeError):
    """Training stopped at the user's request (Ctrl-C) after saving a checkpoint of the step it
    had reached; `checkpoint` is its path, `step` the optimiser steps done. The run continues
    bit-for-bit with `--resume`."""

    def __init__(self, message: str, checkpoint: str, step: int) -> None:
        super().__init__(message)
        self.checkpoint = checkpoint
        self.step = step


class DiscriminatorCollapsed(TrainingDiverged):
    """The discriminator has won outright for many steps; G no longer gets a useful signal."""


BAD_INPUT: tuple[type[Exception], ...] = (
    UnknownNameError, DatasetMissingError, CheckpointError, PretrainedWeightsMissing,
    ValueError, FileNotFoundError,
)  # fmt: skip
"""What the command line reports as one line with exit status 2."""

__all__ = [
    "BAD_INPUT",
    "CheckpointError",
    "DatasetMissingError",
    "DiscriminatorCollapsed",
    "PretrainedWeightsMissing",
    "TrainingDiverged",
    "TrainingInterrupted",
    "UnknownNameError",
]
