"""Checkpoints: one safetensors file of tensors plus JSON metadata in its header.

Layout of a file (``<run dir>/checkpoint.safetensors``):
  tensors  "model.<param>" weights, "optim.<group>.<id>.<key>" optimiser state, "rng.*" RNG
           states as uint8, and whatever a trainer adds (G/D weights, EMA, ...);
  metadata {"advlab": JSON}: model name and arguments, dataset, epoch/step, optimiser
           hyper-parameters, and a SHA-256 of all tensor bytes (so a flipped byte is caught).

Writes are atomic (temporary file in the same folder, fsync, rename): a run killed while
writing leaves the previous checkpoint intact. Loading never unpickles: torch.save/pickle
files are refused with their path.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from advlab.errors import CheckpointError

CHECKPOINT_FILE = "checkpoint.safetensors"
FORMAT_VERSION = 1
_PICKLE_MAGICS = (b"PK\x03\x04", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def resolve(path: str | Path) -> Path:
    """A run directory means its `checkpoint.safetensors`; a file path is used as is."""
    p = Path(path)
    return p / CHECKPOINT_FILE if p.is_dir() or p.suffix == "" else p


def _digest(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key]
        h.update(key.encode())
        h.update(str(t.dtype).encode() + str(tuple(t.shape)).encode())
        h.update(t.contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save_state(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Write `tensors` and JSON-serialisable `meta` to one safetensors file, atomically."""
    target = resolve(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # safetensors refuses shared storage; copies also detach from autograd and the device.
    flat = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    header = dict(meta, format_version=FORMAT_VERSION, sha256=_digest(flat))
    blob = st_save(flat, metadata={"advlab": json.dumps(header)})
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def load_state(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint written by `save_state`; refuse anything else with `CheckpointError`."""
    target = resolve(path)
    if not target.is_file():
        raise CheckpointError(f"no checkpoint at {target}")
    data = target.read_bytes()
    if data.startswith(_PICKLE_MAGICS):
        raise CheckpointError(
            f"{target} is a pickle/torch.save file; advlab never unpickles files (they can run "
            f"arbitrary code). Convert trusted weights with safetensors.torch.save_file."
        )
    try:
        tensors = st_load(data)
        raw = _read_header_metadata(data)
    except (SafetensorError, ValueError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{target} is truncated or corrupt: {error}") from error
    if "advlab" not in raw:
        raise CheckpointError(f"{target} is a safetensors file without advlab metadata")
    meta = json.loads(raw["advlab"])
    if meta.get("sha256") != _digest(tensors):
        raise CheckpointError(f"{target} is corrupt: tensor checksum does not match its header")
    return tensors, meta


def _read_header_metadata(data: bytes) -> dict[str, str]:
    if len(data) < 8:
        raise ValueError("file shorter than a safetensors header")
    n = int.from_bytes(data[:8], "little")
    if n <= 0 or 8 + n > len(data):
        raise ValueError("header length exceeds the file")
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    return dict(header.get("__metadata__", {}))


def prefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """{"w": t} -> {"<prefix>.w": t}."""
    return {f"{prefix}.{k}": v for k, v in tensors.items()}


def unprefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inverse of `prefixed`: the entries under `<prefix>.` with the prefix removed."""
    start = prefix + "."
    return {k[len(start) :]: v for k, v in tensors.items() if k.startswith(start)}


def optimizer_state_to_tensors(
    optimizer: torch.optim.Optimizer, prefix: str = "optim"
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimiser's state_dict into tensors (for safetensors) and JSON metadata."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, entries in state["state"].items():
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}.{pid}.{key}"] = value
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def optimizer_state_from_tensors(
    optimizer: torch.optim.Optimizer,
    tensors: dict[str, torch.Tensor],
    meta: dict[str, Any],
    prefix: str = "optim",
) -> None:
    """Restore what `optimizer_state_to_tensors` saved into `optimizer` (in place)."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in unprefixed(prefix, tensors).items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    for pid, entries in meta.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(entries)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


@dataclass
class Checkpoint:
    """A loaded checkpoint: its tensors, its metadata and where it came from."""

    path: Path
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]

    def model_state(self) -> dict[str, torch.Tensor]:
        return unprefixed("model", self.tensors)


def read_checkpoint(path: str | Path) -> Checkpoint:
    tensors, meta = load_state(path)
    return Checkpoint(resolve(path), tensors, meta)


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    meta: dict[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
    extra_tensors: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Save model weights (+ optimiser state and extra tensors) with `meta`, atomically.

    `meta` should carry {"model": registry name, "model_args": {...}} so that
    `advlab.models.loading.load_checkpoint` can rebuild the model."""
    tensors = prefixed("model", model.state_dict())
    meta = dict(meta)
    if optimizer is not None:
        optim_tensors, meta["optimizer_state"] = optimizer_state_to_tensors(optimizer)
        tensors.update(optim_tensors)
    tensors.update(extra_tensors or {})
    return save_state(path, tensors, meta)


def load_weights(model: nn.Module, checkpoint: Checkpoint, expected_model: str | None = None) -> None:
    """Copy the checkpoint's model weights into `model`; refuse a checkpoint of another model."""
    name = checkpoint.meta.get("model")
    if expected_model is not None and name != expected_model:
        raise CheckpointError(
            f"{checkpoint.path} holds a {name!r} model, not the expected {expected_model!r}"
        )
    saved = checkpoint.model_state()
    own = model.state_dict()
    missing = [k for k in own if k not in saved]
    unexpected = [k for k in saved if k not in own]
    mismatched = [k for k, v in saved.items() if k in own and own[k].shape != v.shape]
    if missing or unexpected or mismatched:
        raise CheckpointError(
            f"{checkpoint.path} does not match the model ({name!r}): missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}, wrong shapes {mismatched[:5]}"
        )
    model.load_state_dict(saved)
