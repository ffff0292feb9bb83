"""The worst-case suite as the experiments run it: attacks per class count, the lecture's radii,
and the checks' warnings carried into the summary a result row holds."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advlab.evaluate import ThreatModel
from advlab.zoo.worst_case import (
    LECTURE_EPS,
    SuiteSummary,
    checks_sentence,
    lecture_eps,
    run_suite,
    suite_attacks,
)


def test_apgd_t_is_left_out_below_four_classes() -> None:
    threat = ThreatModel("linf", 0.1)
    names = {k: [name for name, _ in suite_attacks(threat, k)] for k in (2, 3, 4, 10)}
    assert names[10] == names[4] == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert names[2] == names[3] == ["apgd-ce", "fab-t", "square"]
    assert all(a.radius == 0.1 and a.norm == "linf" for _, a in suite_attacks(threat, 2))


def test_lecture_eps_per_dataset() -> None:
    # Wong & Kolter 2018, Table 1 (the lecture's provable-defence table): MNIST 0.1, SVHN 0.01
    assert lecture_eps("mnist") == lecture_eps("mnist-5k") == 0.1
    assert lecture_eps("svhn") == 0.01
    assert lecture_eps("folder:imagenet/val@224") == LECTURE_EPS["imagenet"] == 0.007
    with pytest.raises(ValueError, match="--suite-eps"):
        lecture_eps("celeba")


class Rounding(nn.Module):
    """Rounds pixels to {0, 1}: zero input gradients everywhere (a masking front end)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.round()


def test_a_masked_gradient_shows_in_the_summary() -> None:
    torch.manual_seed(0)
    x = torch.rand(6, 1, 4, 4)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(16, 10))
    y = linear(x).argmax(1).detach()  # every point correct: the attacks all run
    masked = run_suite(nn.Sequential(Rounding(), linear), x, y, 0.05, seed=0, batch_size=6)
    summary = SuiteSummary.of(masked)
    assert summary.n == 6 and summary.eps == 0.05
    assert any("zero or non-finite input gradients" in w for w in summary.warnings)
    plain = SuiteSummary.of(run_suite(linear, x, y, 0.05, seed=0, batch_size=6))
    assert not any("gradients" in w for w in plain.warnings)
    assert "fired on no run" in checks_sentence([("plain", [])])
    assert "masked: " in checks_sentence([("masked", summary.warnings)])
    assert checks_sentence([]) == ""
