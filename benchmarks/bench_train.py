"""Classifier training speed: advlab's `fit` against a plain PyTorch loop over the same tensors.

LeNet on mnist-5k (4,000 images), 5 epochs, batch 64, SGD momentum 0.9, lr 0.01, CPU. Every
loop sees the same initial weights and the same sample order; ours also checkpoints every
epoch, writes metrics.csv and TensorBoard, checks the loss for NaN and tracks accuracy.

Three loops, run in turn: `fit`; the plain loop on the model as `models.create` returns it
(torch's default NCHW weights: what a user's own loop runs; the issue's target is fit <= 1.0x
this); and the plain loop on channels-last weights, the layout `fit` switches conv nets to
(`advlab.models.use_channels_last`), which is the floor: fit / floor is fit's own overhead
(checkpoints, metrics, NaN checks).
Run: python -m benchmarks.bench_train [--repeats 5]
"""

from __future__ import annotations

import tempfile

import torch
import torch.nn.functional as F

from advlab import data, models
from advlab.train import TrainConfig, epoch_order, fit
from benchmarks.common import interleaved_medians, print_table, save

EPOCHS, BATCH = 5, 64


def main(repeats: int = 5) -> dict:
    x, y = data.as_tensors(data.load("mnist-5k", "train"))
    torch.manual_seed(0)
    init = models.create("lenet").state_dict()
    cfg = TrainConfig(epochs=EPOCHS, batch_size=BATCH, lr=0.01, momentum=0.9)

    def ours() -> None:
        net = models.create("lenet")
        net.load_state_dict(init)
        with tempfile.TemporaryDirectory() as out:
            fit(net, (x, y), None, cfg, out, meta={"model": "lenet", "model_args": {}})

    def plain(channels_last: bool = False) -> None:
        net = models.create("lenet")
        net.load_state_dict(init)
        if channels_last:
            models.use_channels_last(net)
        net.train()
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        for epoch in range(EPOCHS):
            order = epoch_order(len(x), 0, epoch)
            for i in range(0, len(x), BATCH):
                idx = order[i : i + BATCH]
                loss = F.cross_entropy(net(x[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()

    medians = interleaved_medians(
        {"advlab fit": ours, "plain loop": plain, "plain loop, channels-last": lambda: plain(True)},
        repeats=repeats,
    )
    ratio = medians["advlab fit"] / medians["plain loop"]
    overhead = medians["advlab fit"] / medians["plain loop, channels-last"]
    print_table(
        f"LeNet / mnist-5k, {EPOCHS} epochs, CPU threads {torch.get_num_threads()} (median of {repeats})",
        [*[(name, f"{seconds:.2f} s") for name, seconds in medians.items()],
         ("ratio fit / plain loop", f"{ratio:.3f} (target <= 1.0)"),
         ("ratio fit / channels-last plain loop", f"{overhead:.3f} (fit's own overhead)")],
    )  # fmt: skip
    payload = {"benchmark": "train-lenet-mnist5k", "seconds": medians, "ratio": ratio,
               "ratio_over_channels_last_floor": overhead, "repeats": repeats}  # fmt: skip
    save("train", payload)
    return payload


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    main(parser.parse_args().repeats)
