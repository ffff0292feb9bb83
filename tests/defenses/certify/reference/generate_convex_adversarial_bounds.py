"""Regenerate convex_adversarial_bounds.json: reference bounds computed by convex_adversarial
(Wong & Kolter's own package, https://github.com/locuslab/convex_adversarial) for two small fixed
networks, an MLP and a conv net, so that tests/defenses/certify/test_reference_bounds.py can check
advlab's dual network against the authors' implementation without installing it.

    .venv/bin/pip install --no-deps convex-adversarial
    .venv/bin/python tests/defenses/certify/reference/generate_convex_adversarial_bounds.py

Weights come from torch's default initialisation under a fixed seed, scaled up (x2) so that
many ReLUs are unstable at the radii used, and are stored in the JSON with the inputs (float64),
so the test does not depend on torch's random streams. Stored per case (network, eps, input box
or none): every ReLU's pre-activation bounds (zl, zu of convex_adversarial's DualReLU layers),
the bounds of every logit (J(e_j) and -J(-e_j)) and the margin lower bounds J(e_y - e_j)
(convex_adversarial.DualNetwork on the same inputs).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

OUT = Path(__file__).with_name("convex_adversarial_bounds.json")
CASES = [(0.1, False), (0.1, True), (0.03, True)]  # (eps, clip the ball to [0, 1])

# Architectures as (module name, args, kwargs), rebuilt by the test with getattr(nn, name).
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "mlp": {
        "input_shape": [1, 6, 6],
        "layers": [
            ["Flatten", [], {}], ["Linear", [36, 20], {}], ["ReLU", [], {}],
            ["Linear", [20, 16], {}], ["ReLU", [], {}], ["Linear", [16, 4], {}],
        ],
    },
    "conv": {  # the paper's conv layers (4x4, stride 2, padding 1), smaller
        "input_shape": [1, 8, 8],
        "layers": [
            ["Conv2d", [1, 4, 4], {"stride": 2, "padding": 1}], ["ReLU", [], {}],
            ["Conv2d", [4, 8, 4], {"stride": 2, "padding": 1}], ["ReLU", [], {}],
            ["Flatten", [], {}], ["Linear", [32, 16], {}], ["ReLU", [], {}], ["Linear", [16, 4], {}],
        ],
    },
}  # fmt: skip


def build(arch: dict[str, Any]) -> nn.Sequential:
    return nn.Sequential(*(getattr(nn, name)(*args, **kwargs) for name, args, kwargs in arch["layers"]))


def main() -> None:
    from convex_adversarial import DualNetwork
    from convex_adversarial.dual_layers import DualReLU

    payload: dict[str, Any] = {
        "generator": "tests/defenses/certify/reference/generate_convex_adversarial_bounds.py",
        "convex_adversarial": "0.4.4",
        "torch": torch.__version__,
        "networks": {},
    }
    for seed, (name, arch) in enumerate(ARCHITECTURES.items()):
        torch.manual_seed(seed)
        net = build(arch).double()
        with torch.no_grad():
            for p in net.parameters():
                p.mul_(2.0)
        gen = torch.Generator().manual_seed(100 + seed)
        x = torch.rand(4, *arch["input_shape"], generator=gen, dtype=torch.float64)
        y = torch.randint(0, 4, (4,), generator=gen)
        eye = torch.eye(4, dtype=torch.float64)
        logits = eye.unsqueeze(0).expand(4, 4, 4)  # c = e_j for every sample
        margins = eye[y].unsqueeze(1) - eye.unsqueeze(0)  # c_j = e_y - e_j
        cases = []
        for eps, boxed in CASES:
            with torch.no_grad():
                dual = DualNetwork(net, x, eps, bounded_input=boxed, input_l=0.0, input_u=1.0)
                relus = [layer for layer in dual.dual_net if isinstance(layer, DualReLU)]
                cases.append({
                    "eps": eps, "box": [0.0, 1.0] if boxed else None,
                    "relu_lower": [r.zl.tolist() for r in relus],
                    "relu_upper": [r.zu.tolist() for r in relus],
                    "logit_lower": dual(logits).tolist(),
                    "logit_upper": (-dual(-logits)).tolist(),
                    "margin_lower": dual(margins).tolist(),
                })  # fmt: skip
        payload["networks"][name] = {
            **arch,
            "state_dict": {k: v.tolist() for k, v in net.state_dict().items()},
            "x": x.tolist(),
            "y": y.tolist(),
            "cases": cases,
        }
    OUT.write_text(json.dumps(payload))
    print(f"written {OUT} ({OUT.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
