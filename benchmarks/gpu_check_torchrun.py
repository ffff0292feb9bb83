"""`make gpu-check`'s launcher checks: `torchrun --nproc_per_node=1 -m advlab attack|certify` on
each device (one rank: the launcher path) and an NCCL process group of one rank with an
all-reduce on the GPU."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.gpu_check_report import Row


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _launch(args: list[str], cwd: Path, timeout: int = 240) -> None:
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=1",
               "--master_addr=127.0.0.1", f"--master_port={_free_port()}", *args]
    done = subprocess.run(command, cwd=cwd, env=dict(os.environ, OMP_NUM_THREADS="1"),
                          capture_output=True, text=True, timeout=timeout,
                          start_new_session=True)
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}: {(done.stdout + done.stderr)[-600:]}")


_NCCL_PROBE = """
import torch, torch.distributed as dist
dist.init_process_group("nccl")
torch.cuda.set_device(0)
t = torch.ones(4, device="cuda")
dist.all_reduce(t)
assert t.sum().item() == 4 * dist.get_world_size(), t
dist.destroy_process_group()
"""


def torchrun_rows(devices: list[torch.device], samples: int) -> list[Row]:
    from advlab import models
    from advlab.zoo.cache import model_args_for

    folder = Path(tempfile.mkdtemp(prefix="gpu-check-torchrun-"))
    checkpoints = {}
    for name in ("lenet", "wong-small"):
        args = model_args_for(name, "mnist-5k")
        torch.manual_seed(0)
        checkpoints[name] = models.save_checkpoint(folder / name / "checkpoint.safetensors",
                                                   models.create(name, **args),
                                                   {"model": name, "model_args": args})
    commands = {
        "advlab attack pgd": ["attack", "pgd", "--checkpoint", str(checkpoints["lenet"]),
                              "--eps", "0.1", "--steps", "10"],
        "advlab certify": ["certify", "--checkpoint", str(checkpoints["wong-small"]),
                           "--eps", "0.05"],
    }
    rows = []
    for label, args in commands.items():
        row = Row("torchrun", f"{label} (1 rank)")
        for device in devices:
            out = folder / f"{label.split()[-1]}-{device.type}"
            start = time.perf_counter()
            try:
                _launch(["-m", "advlab", *args, "--data", "mnist-5k", "--samples", str(samples),
                         "--batch-size", "32", "--device", device.type, "--out", str(out)], folder)
                result = json.loads((out / "result.json").read_text())
                assert result.get("processes", 1) == 1, result.get("processes")
                row.seconds[device.type] = time.perf_counter() - start
            except Exception as error:
                row.errors[device.type] = f"{type(error).__name__}: {error}"[:300]
        rows.append(row)
    row = Row("torchrun", "NCCL group of 1 rank, all-reduce",
              note="" if len(devices) > 1 else "CUDA only")
    if len(devices) > 1:
        start = time.perf_counter()
        try:
            _launch(["-c", _NCCL_PROBE], folder, timeout=120)
            row.seconds["cuda"] = time.perf_counter() - start
        except Exception as error:
            row.errors["cuda"] = f"{type(error).__name__}: {error}"[:300]
    rows.append(row)
    return rows
