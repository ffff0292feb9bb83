"""Measure per-batch costs of the wong-table Fashion-MNIST row on this machine, before a run:
robust training steps (Cauchy projections), normal training steps, and certification
(exact bound + FGSM + PGD-40) per test batch. Used to choose the robust epochs that fit a
wall-time budget. Usage: python scripts/time_wong_fashion.py [projections] [batches]
"""

from __future__ import annotations

import logging
import sys
import time

import torch

from advlab import data, models
from advlab.defenses.certify.evaluate import certify_model
from advlab.defenses.certify.training import RobustBatchLoss

log = logging.getLogger("time_wong_fashion")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    projections = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    batches = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    x, y = data.as_tensors(data.load("fashion-mnist", "train"), limit=50 * batches)  # (B*50, 1, 28, 28)
    torch.manual_seed(0)
    net = models.create("wong-small", in_channels=1, num_classes=10, image_size=28)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for name, loss_fn in (
        ("normal", lambda m, xb, yb, p: torch.nn.functional.cross_entropy(m(xb), yb)),
        (f"robust, {projections} projections", lambda m, xb, yb, p: RobustBatchLoss(
            0.1, eps_start=0.01, projections=projections or None)(m, xb, yb, p).loss),
    ):
        start = time.perf_counter()
        for i in range(batches):
            xb, yb = x[50 * i: 50 * i + 50], y[50 * i: 50 * i + 50]  # (50, 1, 28, 28), (50,)
            opt.zero_grad()
            loss = loss_fn(net, xb, yb, 0.6)  # past warmup: full eps
            loss.backward()
            opt.step()
        per = (time.perf_counter() - start) / batches
        log.info("%s: %.3f s per batch of 50 -> %.1f min per epoch of 60,000", name, per, per * 1200 / 60)
    xt, yt = data.as_tensors(data.load("fashion-mnist", "test"), limit=100)
    start = time.perf_counter()
    certify_model(net, xt, yt, 0.1, batch_size=50, pgd_steps=40)
    per = (time.perf_counter() - start) / 2
    log.info("certify (exact + FGSM + PGD-40): %.3f s per batch of 50 -> %.1f min per 10,000", per, per * 200 / 60)


if __name__ == "__main__":
    main()
