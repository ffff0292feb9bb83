"""One check of a `--device` value for every verb.

`check_device_name` validates the spelling without torch (the CLI calls it while parsing, so
`--device gpu` is refused at once); `resolve_device` turns the name into a torch.device and
refuses a device this machine does not have, in one line, before any work.
"""

from __future__ import annotations

import re
from typing import Any

VALID = "cpu, cuda, cuda:N, mps or auto (CUDA when available, else cpu)"
_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def check_device_name(name: str) -> str:
    """`name` if it is a device advlab can run on, else ValueError listing the valid ones."""
    if not _PATTERN.fullmatch(name):
        raise ValueError(f"unknown device {name!r}; valid: {VALID}")
    return name


def resolve_device(name: str, local_rank: int = 0) -> Any:
    """The torch.device of `name` ("auto" -> cuda:<local_rank> when CUDA is available, else cpu;
    "cuda" -> cuda:<local_rank>, the process's own GPU under torchrun); a device this machine
    lacks is refused naming what torch sees."""
    import torch

    check_device_name(name)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"--device {name}: torch sees no CUDA device on this machine "
                             "(no GPU or no driver); use --device cpu")
        index = int(name.partition(":")[2] or local_rank)
        if index >= torch.cuda.device_count():
            raise ValueError(f"--device {name}: this machine has {torch.cuda.device_count()} "
                             f"CUDA device(s), cuda:0 to cuda:{torch.cuda.device_count() - 1}")
        return torch.device("cuda", index)
    if name == "mps" and not torch.backends.mps.is_available():
        raise ValueError("--device mps: torch sees no MPS device on this machine; use --device cpu")
    return torch.device(name)
