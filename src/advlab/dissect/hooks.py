"""Context managers on any named layer of any nn.Module: record what it outputs, ablate units
(set them to zero), insert units (set them to chosen values at chosen locations).

Bau et al. 2020 (PNAS, "Understanding the role of individual units in a deep neural
network", arXiv:2009.05041): a unit is one channel of a layer's output, u in
{0, ..., C-1} of a (N, C, H, W) feature map (or of a (N, C) vector); removing a unit sets
its activation to 0 everywhere (Fig. 2, 4a), inserting sets it to a high value (e.g. its
99.5th percentile) at chosen positions (Fig. 4c, d).

    >>> with record(net, ["conv3_1", "conv4_1"]) as seen:
    ...     net(x)
    >>> seen["conv4_1"].shape                   # (N, C, H, W), detached copy
    >>> with ablate(net, "conv4_1", [3, 17]):   # units 3 and 17 output 0
    ...     net(x)
    >>> with insert(net, "net.5", units, values, where):  # values (U,), where (H, W) bool
    ...     G(z)

Every context removes its hook on exit, also when the body raises: the model is never
changed (no parameter, buffer or mode is touched; only a forward hook is added for the
duration). Edits nest and compose in the order they are entered; `record` entered inside an
edit sees the edited output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn

OutputRule = Callable[[Tensor], Tensor]


def module_named(model: nn.Module, name: str) -> nn.Module:
    """The submodule of `model` called `name` (as in `model.named_modules()`); unknown
    names raise a ValueError listing the valid ones."""
    modules = dict(model.named_modules())
    if name not in modules or name == "":
        valid = [n for n in modules if n]
        shown = ", ".join(valid[:60]) + (f", ... ({len(valid)} in all)" if len(valid) > 60 else "")
        raise ValueError(f"{type(model).__name__} has no layer {name!r}; valid layers: {shown}")
    return modules[name]


def _unit_index(units: Sequence[int] | Tensor, channels: int, layer: str) -> Tensor:
    """Units as a long tensor, checked against the layer's channel count."""
    index = torch.as_tensor(units, dtype=torch.long).flatten()
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= channels):
        raise ValueError(f"layer {layer!r} has {channels} units (0..{channels - 1}); "
                         f"got units {index.tolist()}")
    return index


@contextmanager
def edit_output(model: nn.Module, layer: str, rule: OutputRule) -> Iterator[None]:
    """While inside, the output y of `layer` is replaced by rule(y) (which must not modify
    y in place). The hook is removed on exit, also on an exception."""
    module = module_named(model, layer)
    handle = module.register_forward_hook(lambda _module, _inputs, output: rule(output))
    try:
        yield
    finally:
        handle.remove()


class Recording(dict[str, Tensor]):
    """Layer name -> the (detached, copied) output of the last forward pass inside `record`."""


@contextmanager
def record(model: nn.Module, layers: str | Sequence[str]) -> Iterator[Recording]:
    """Record the outputs of one or more layers during forward passes inside the block.

    Outputs are detached copies (a later in-place op such as ReLU(inplace=True) cannot
    change them); each forward pass overwrites the previous one."""
    names = [layers] if isinstance(layers, str) else list(layers)
    seen = Recording()
    handles = []
    try:
        for name in names:
            def keep(_module: nn.Module, _inputs: object, output: Tensor, name: str = name) -> None:
                seen[name] = output.detach().clone()
            handles.append(module_named(model, name).register_forward_hook(keep))
        yield seen
    finally:
        for handle in handles:
            handle.remove()


def ablation_rule(layer: str, units: Sequence[int] | Tensor) -> OutputRule:
    """The output edit of `ablate`: y -> y with channels `units` set to 0."""

    def rule(output: Tensor) -> Tensor:
        index = _unit_index(units, output.shape[1], layer)
        keep = torch.ones(output.shape[1], dtype=output.dtype, device=output.device)
        keep[index.to(output.device)] = 0
        return output * keep.view(1, -1, *([1] * (output.ndim - 2)))  # (N, C, ...)
    return rule


@contextmanager
def ablate(model: nn.Module, layer: str, units: Sequence[int] | Tensor) -> Iterator[None]:
    """Remove `units` of `layer`: their activations are 0 at every position (Bau et al.
    2020, Fig. 2 and 4a). Works on (N, C) and (N, C, H, W) outputs."""
    with edit_output(model, layer, ablation_rule(layer, units)):
        yield


def _insertion_rule(layer: str, units: Sequence[int] | Tensor, values: Tensor | float,
                    where: Tensor) -> OutputRule:
    def rule(output: Tensor) -> Tensor:
        if output.ndim != 4:
            raise ValueError(f"insert needs a (N, C, H, W) output; layer {layer!r} gives "
                             f"{tuple(output.shape)}")
        index = _unit_index(units, output.shape[1], layer).to(output.device)
        n, _, h, w = output.shape
        mask = where.to(device=output.device, dtype=torch.bool)
        if mask.shape not in ((h, w), (n, h, w)):
            raise ValueError(f"insert: `where` must be ({h}, {w}) or ({n}, {h}, {w}) for layer "
                             f"{layer!r}, got {tuple(mask.shape)}")
        level = torch.as_tensor(values, dtype=output.dtype, device=output.device)
        level = level.expand(index.numel()) if level.ndim == 0 else level
        if level.shape != (index.numel(),):
            raise ValueError(f"insert: {index.numel()} units but values of shape "
                             f"{tuple(level.shape)}")
        mask = mask.expand(n, h, w)[:, None]  # (N, 1, H, W)
        chosen = output[:, index]  # (N, U, H, W), a copy
        edited = output.clone()
        edited[:, index] = torch.where(mask, level.view(1, -1, 1, 1), chosen)
        return edited
    return rule


@contextmanager
def insert(model: nn.Module, layer: str, units: Sequence[int] | Tensor, values: Tensor | float,
           where: Tensor) -> Iterator[None]:
    """Insert `units` of `layer`: set unit units[i] to values[i] at the positions where
    `where` ((H, W) for every image, or (N, H, W) per image) is true, leaving every other
    position and unit as computed (Bau et al. 2020, Fig. 4c, d: activating door units)."""
    with edit_output(model, layer, _insertion_rule(layer, units, values, where)):
        yield


def layer_shapes(model: nn.Module, layers: Sequence[str], example: Tensor) -> dict[str, tuple[int, ...]]:
    """The output shape (without the batch) of each layer for one example input (1, ...)."""
    with torch.no_grad(), record(model, layers) as seen:
        model(example)
    return {name: tuple(seen[name].shape[1:]) for name in layers}
