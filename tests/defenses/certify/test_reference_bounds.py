"""advlab's dual network against the authors' own implementation: bounds computed by
convex_adversarial 0.4.4 (Wong & Kolter 2018) for a fixed MLP and a fixed conv net, stored in
reference/convex_adversarial_bounds.json by reference/generate_convex_adversarial_bounds.py
(which needs convex_adversarial; this test does not)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from advlab.defenses.certify import LinfBall, dual_bounds, margin_bounds

REFERENCE = json.loads((Path(__file__).parent / "reference" / "convex_adversarial_bounds.json").read_text())
NETWORKS = REFERENCE["networks"]


def _network(entry: dict) -> nn.Sequential:
    net = nn.Sequential(*(getattr(nn, name)(*args, **kwargs) for name, args, kwargs in entry["layers"]))
    state = {k: torch.tensor(v, dtype=torch.float64) for k, v in entry["state_dict"].items()}
    net.load_state_dict(state)
    return net.double().eval().requires_grad_(False)


def _assert_matches(ours: torch.Tensor, theirs: list, what: str) -> float:
    """Close within 1e-9 relative to the bound's scale; returns the max relative difference."""
    reference = torch.tensor(theirs, dtype=torch.float64)
    scale = reference.abs().max().clamp_min(1e-12)
    difference = float((ours - reference).abs().max() / scale)
    assert difference < 1e-9, f"{what}: max relative difference {difference:.3g}"
    return difference


@pytest.mark.parametrize("name", sorted(NETWORKS))
@pytest.mark.parametrize("case", range(3))
def test_dual_bounds_match_convex_adversarial(name: str, case: int) -> None:
    entry = NETWORKS[name]
    expected = entry["cases"][case]
    net = _network(entry)
    x, y = torch.tensor(entry["x"], dtype=torch.float64), torch.tensor(entry["y"])
    box = expected["box"] or (None, None)
    ball = LinfBall(expected["eps"], *box)
    bounds = dual_bounds(net, x, ball)
    assert len(bounds.relu_bounds) == len(expected["relu_lower"])
    for i, (lower, upper) in enumerate(bounds.relu_bounds):
        _assert_matches(lower, expected["relu_lower"][i], f"ReLU {i} lower")
        _assert_matches(upper, expected["relu_upper"][i], f"ReLU {i} upper")
    _assert_matches(bounds.lower, expected["logit_lower"], "logit lower")
    _assert_matches(bounds.upper, expected["logit_upper"], "logit upper")
    _assert_matches(margin_bounds(net, x, y, ball), expected["margin_lower"], "margin lower")


def test_the_reference_networks_are_not_trivial() -> None:
    """Over 10% of the ReLUs are unstable (l < 0 < u) in every layer and case (14-98%), so the
    relaxation is at work."""
    for entry in NETWORKS.values():
        for case in entry["cases"]:
            for lower, upper in zip(case["relu_lower"], case["relu_upper"], strict=True):
                lo, up = torch.tensor(lower), torch.tensor(upper)
                assert float(((lo < 0) & (up > 0)).double().mean()) > 0.1
