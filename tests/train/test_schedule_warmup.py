"""Learning-rate schedules of `fit` (`advlab.train.optim.lr_factor`)."""

import math

import pytest

from advlab.train import TrainConfig
from advlab.train.optim import lr_factor


def test_linear_warmup_then_the_schedule() -> None:
    cfg = TrainConfig(schedule="cosine", warmup_steps=4)
    assert [lr_factor(cfg, s, 100) for s in range(3)] == pytest.approx(
        [0.25 * _cos(0), 0.5 * _cos(1), 0.75 * _cos(2)])
    assert lr_factor(cfg, 3, 100) == pytest.approx(_cos(3)) and lr_factor(cfg, 50, 100) == pytest.approx(0.5)
    assert lr_factor(TrainConfig(), 0, 100) == 1.0  # no warm-up, constant
    with pytest.raises(ValueError, match="warmup_steps must be >= 0"):
        TrainConfig(warmup_steps=-1)


def _cos(step: int, total: int = 100) -> float:
    return 0.5 * (1 + math.cos(math.pi * step / total))
