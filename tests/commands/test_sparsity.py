"""`classifier_setup`: the work behind `advlab train classifier --front-end ... --l1-budget ...`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from advlab import data as datasets
from advlab import models
from advlab.commands.sparsity import classifier_setup, theorem2_table
from advlab.defenses.sparsity import satisfies
from advlab.train import TrainConfig, fit


def test_front_end_and_budget_train_and_rebuild_from_the_checkpoint(tmp_path: Path) -> None:
    setup = classifier_setup("sparsity-mlp", "digits", front_end="coif1:0.25", l1_budget="3,inf")
    assert setup.name == "sparsified" and setup.meta["model"] == "sparsified"
    assert setup.meta["front_end"] == "coif1:0.25" and setup.meta["l1_budget"] == [3.0, float("inf")]
    assert setup.args["classifier"] == "sparsity-mlp" and setup.args["num_classes"] == 10
    train, test = datasets.load("digits", "train"), datasets.load("digits", "test")
    summary = fit(setup.model, train, test, TrainConfig(epochs=2, lr=0.1), tmp_path, meta=setup.meta,
                  after_step=setup.after_step)  # fmt: skip
    assert summary.test_accuracy is not None and summary.test_accuracy > 0.3
    assert satisfies(setup.model.classifier, [3.0, float("inf")])
    loaded = models.load_checkpoint(tmp_path)
    x = datasets.as_tensors(test, limit=16)[0]
    torch.testing.assert_close(loaded(x), setup.model(x))
    assert loaded.front_end.rho == 0.25
    table = theorem2_table(loaded, 0.1)
    assert [row[0] for row in table.rows] == [1, 2] and table.rows[0][3] <= 3.0 + 1e-5


def test_plain_model_with_one_budget_for_every_layer() -> None:
    setup = classifier_setup("lenet", "mnist-5k", l1_budget="5")
    assert setup.name == "lenet" and setup.meta["l1_budget"] == [5.0] * 4
    assert satisfies(setup.model, [5.0] * 4)  # projected before the first step
    assert setup.after_step is not None


def test_errors_name_the_option() -> None:
    with pytest.raises(ValueError, match="--front-end .*unknown basis 'wavelet'; valid: dct"):
        classifier_setup("lenet", "mnist-5k", front_end="wavelet:0.1")
    with pytest.raises(ValueError, match="--l1-budget has 2 values but the model has 4 weight layers"):
        classifier_setup("lenet", "mnist-5k", l1_budget="1,2")
    with pytest.raises(ValueError, match="--l1-budget must be GAMMA"):
        classifier_setup("lenet", "mnist-5k", l1_budget="small")
