"""Classifier training speed: advlab's `fit` against a plain PyTorch loop over the same tensors.

LeNet on mnist-5k (4,000 images), 5 epochs, batch 64, SGD momentum 0.9, lr 0.01, CPU. Both
loops see the same initial weights and the same sample order; ours also checkpoints every
epoch, writes metrics.csv and TensorBoard, checks the loss for NaN and tracks accuracy.
Run: python -m benchmarks.bench_train
"""

from __future__ import annotations

import tempfile

import torch
import torch.nn.functional as F

from advlab import data, models
from advlab.train import TrainConfig, epoch_order, fit
from benchmarks.common import interleaved_medians, print_table, save

EPOCHS, BATCH = 5, 64


def main(repeats: int = 3) -> dict:
    x, y = data.as_tensors(data.load("mnist-5k", "train"))
    torch.manual_seed(0)
    init = models.create("lenet").state_dict()
    cfg = TrainConfig(epochs=EPOCHS, batch_size=BATCH, lr=0.01, momentum=0.9)

    def ours() -> None:
        net = models.create("lenet")
        net.load_state_dict(init)
        with tempfile.TemporaryDirectory() as out:
            fit(net, (x, y), None, cfg, out, meta={"model": "lenet", "model_args": {}})

    def plain() -> None:
        net = models.create("lenet")
        net.load_state_dict(init)
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

    medians = interleaved_medians({"advlab fit": ours, "plain loop": plain}, repeats=repeats)
    ratio = medians["advlab fit"] / medians["plain loop"]
    print_table(
        f"LeNet / mnist-5k, {EPOCHS} epochs, CPU threads {torch.get_num_threads()} (median of {repeats})",
        [("advlab fit", f"{medians['advlab fit']:.2f} s"), ("plain loop", f"{medians['plain loop']:.2f} s"),
         ("ratio ours/plain", f"{ratio:.3f} (target <= 1.0)")],  # fmt: skip
    )
    payload = {"benchmark": "train-lenet-mnist5k", "seconds": medians, "ratio": ratio, "repeats": repeats}
    save("train", payload)
    return payload


if __name__ == "__main__":
    main()
