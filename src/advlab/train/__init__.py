"""Classifier training: a seeded, resumable loop with a pluggable batch loss.

    >>> from advlab import data, models, train
    >>> net = models.create("lenet")
    >>> train.fit(net, data.load("mnist-5k", "train"), data.load("mnist-5k", "test"),
    ...           train.TrainConfig(epochs=5), "runs/lenet", meta={"model": "lenet"})
"""

from advlab.train.config import TrainConfig
from advlab.train.evaluate import EvalResult, evaluate, predict
from advlab.train.loop import StepHook, TrainingDiverged, TrainSummary, epoch_order, fit
from advlab.train.losses import BatchLoss, BatchOutput, cross_entropy_loss

__all__ = [
    "BatchLoss",
    "BatchOutput",
    "EvalResult",
    "StepHook",
    "TrainConfig",
    "TrainSummary",
    "TrainingDiverged",
    "cross_entropy_loss",
    "epoch_order",
    "evaluate",
    "fit",
    "predict",
]
