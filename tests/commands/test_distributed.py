"""`torchrun --nproc_per_node=2 -m advlab attack|certify ...` (2 gloo processes on CPU) gives
the single-process result: chunks of --batch-size go to rank i mod 2 with per-chunk seeds and
are gathered in order."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest


def _checkpoint(folder: Path, model: str = "fc500-150-10") -> Path:
    import torch

    from advlab import models
    from advlab.zoo.cache import model_args_for

    args = model_args_for(model, "digits")
    torch.manual_seed(0)
    net = models.create(model, **args)
    return models.save_checkpoint(folder / "checkpoint.safetensors", net, {"model": model, "model_args": args})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _advlab(args: list[str], processes: int, cwd: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    launcher = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}",
                "--master_addr=127.0.0.1", f"--master_port={_free_port()}"] if processes > 1 else [sys.executable]  # fmt: skip
    # a session of its own: torchrun signals its process group when the workers exit, which
    # would otherwise interrupt pytest itself
    done = subprocess.run([*launcher, "-m", "advlab", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, start_new_session=True)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]


@pytest.mark.parametrize("command", ["attack", "certify", "evaluate"])
def test_two_processes_equal_one(tmp_path: Path, command: str) -> None:
    if command == "evaluate":
        checkpoint = _checkpoint(tmp_path)
        args = ["evaluate", "--checkpoint", str(checkpoint), "--data", "digits", "--samples", "24",
                "--batch-size", "8", "--eps", "0.1", "--seed", "2"]
        keys = ("robust_accuracy", "clean_accuracy", "broken_by", "points")
    elif command == "attack":
        checkpoint = _checkpoint(tmp_path)
        args = ["attack", "pgd", "--checkpoint", str(checkpoint), "--data", "digits", "--samples", "35",
                "--batch-size", "10", "--eps", "0.1", "--steps", "3", "--seed", "4"]  # fmt: skip
        keys = ("success_rate", "accuracy_clean", "accuracy_adversarial", "rho_adv", "median_norm", "mean_steps")
    else:
        checkpoint = _checkpoint(tmp_path, "wong-small")
        args = ["certify", "--checkpoint", str(checkpoint), "--data", "digits", "--samples", "25",
                "--batch-size", "10", "--eps", "0.02"]  # fmt: skip
        keys = ("test_error", "fgsm_error", "pgd_error", "robust_error_bound", "certified_accuracy")
    results = {}
    for processes in (1, 2):
        out = tmp_path / f"out{processes}"
        _advlab([*args, "--out", str(out)], processes, tmp_path)
        results[processes] = json.loads((out / "result.json").read_text())
    if command != "evaluate":
        assert results[2]["processes"] == 2 and results[1]["processes"] == 1
    assert {k: results[2][k] for k in keys} == {k: results[1][k] for k in keys}


def test_reproduce_under_two_processes_equals_one(tmp_path: Path) -> None:
    """deepfool-table under torchrun: rank 0 trains the (cached) classifier while rank 1 waits,
    the attacks are sharded, and only rank 0 writes results (identical to one process)."""
    args = ["reproduce", "deepfool-table", "--rows", "fc500-150-10@digits", "--epochs", "2",
            "--n-attack", "40", "--n-lbfgs", "6", "--attack-batch", "10", "--deepfool-steps", "10",
            "--lbfgs-search-steps", "2", "--lbfgs-max-iter", "3"]  # fmt: skip
    rows = {}
    for processes in (1, 2):
        out = tmp_path / f"out{processes}"
        _advlab([*args, "--out", str(out), "--cache-dir", str(tmp_path / f"cache{processes}")], processes, tmp_path)
        rows[processes] = json.loads((out / "deepfool-table" / "result.json").read_text())["result"]["rows"]
    drop = ("ms",)
    clean = [{k: ({kk: vv for kk, vv in v.items() if kk not in drop} if isinstance(v, dict) else v)
              for k, v in r.items()} for r in rows[1]]  # fmt: skip
    assert [{k: ({kk: vv for kk, vv in v.items() if kk not in drop} if isinstance(v, dict) else v)
             for k, v in r.items()} for r in rows[2]] == clean
