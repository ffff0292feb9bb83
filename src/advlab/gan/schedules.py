"""Goodfellow et al.'s learning-rule schedules as pure functions of where the run is.

Goodfellow et al. 2014 (arXiv:1406.2661), Algorithm 1: "The gradient-based updates can use any
standard gradient-based learning rule. We used momentum in our experiments." The authors'
released MNIST configuration (goodfeli/adversarial, mnist.yaml, pylearn2) adds two schedules to
SGD with momentum (lr 0.1, initial momentum 0.5, batch 100; our discriminator's lr is half of
that, `LearningRule.d_lr_scale`, because the authors' D cost is half of ours):

- `pylearn2.training_algorithms.sgd.ExponentialDecay(decay_factor=1.000004, min_lr=1e-6)`:
  after the n-th update the learning rate is max(lr_0 / decay_factor**n, min_lr)
  (`exponential_decay_lr`);
- `pylearn2.training_algorithms.learning_rule.MomentumAdjustor(start=1, saturate=250,
  final_momentum=0.7)`: the momentum grows linearly with the EPOCH count, from 0.5 to 0.7
  (`linear_momentum`).

Both are functions of counters the trainer checkpoints (generator steps and real batches
consumed, `advlab.gan.state.RunProgress`), never of mutable scheduler objects, so a resumed run
sets exactly the values the uninterrupted run set. `advlab.gan.learning_rule.LearningRule`
combines them (`LearningRule.at`) and writes them into an optimiser's param groups before each
step (`LearningRule.apply_`).

Our counters: the discriminator's n-th update is the one on real batch number n (0-based,
`BatchStream.position`): it decays per D update, k times per generator iteration; the
generator's n-th update is generator iteration n + 1. An epoch is one pass over the training
images by the discriminator (`BatchStream.per_epoch` batches); both players use the momentum of
the epoch their update falls in (pylearn2 updates both from one minibatch, with one momentum).

pylearn2's momentum update is  inc <- mu * inc - lr * g;  w <- w + inc  (learning_rule.Momentum)
and torch's SGD is  b <- mu * b + g;  w <- w - lr * b. They agree while lr is constant; with the
decay above lr changes by a relative 4e-6 per update, so the difference is negligible.

Provenance. Read in the stored sources (not from memory): goodfeli/adversarial mnist.yaml (two
stored versions agree) for lr .1, init_momentum .5, batch 100, ExponentialDecay(1.000004,
.000001), MomentumAdjustor(start 1, saturate 250, final .7), D dropout include probabilities
.8 (input) / .5 (hidden) with scales 1.25 / 2, and the absence of any max_col_norm;
tfd_pretrain/train.yaml of the same repository for max_col_norm 1.9365 on every layer of G and
D; adversarial/__init__.py (AdversaryCost2) for D's halved cost, G's -log D cost and the joint
update; pylearn2's sgd.py, learning_rule.py and train.py for the ExponentialDecay and
MomentumAdjustor formulas, the Momentum update and the adjustor's call before the first epoch.
"""

from __future__ import annotations


def exponential_decay_lr(base_lr: float, updates: int, decay_factor: float, min_lr: float) -> float:
    """The learning rate of pylearn2's `ExponentialDecay` callback for the update that follows
    `updates` earlier updates:  max(base_lr / decay_factor**updates, min_lr).

    pylearn2 divides the rate by decay_factor after every SGD update and never goes below
    min_lr; Goodfellow et al.'s MNIST GAN uses decay_factor = 1.000004, min_lr = 1e-6
    (goodfeli/adversarial, mnist.yaml), which halves the rate every ~173,000 updates.
    decay_factor = 1 keeps the rate constant. `updates` >= 0.
    """
    if updates < 0:
        raise ValueError(f"updates must be >= 0, got {updates}")
    if decay_factor < 1.0:
        raise ValueError(f"decay_factor must be >= 1 (1 = constant), got {decay_factor}")
    if decay_factor == 1.0:
        return max(base_lr, min_lr)
    return max(base_lr / decay_factor**updates, min_lr)


def linear_momentum(epochs_done: int, initial: float, final: float, start: int,
                    saturate: int) -> float:
    """The momentum of pylearn2's `MomentumAdjustor(final_momentum, start, saturate)` during the
    epoch that follows `epochs_done` completed epochs.

    pylearn2 calls the adjustor once before the first epoch and after every epoch, so its
    counter c is epochs_done + 1, and the momentum is
        initial + (final - initial) * clip((c - start) / (saturate - start), 0, 1)
    (saturate == start: `final` once c >= start, `initial` before). Goodfellow et al.'s MNIST
    GAN: initial 0.5, final 0.7, start 1, saturate 250 (goodfeli/adversarial, mnist.yaml), so
    the momentum is 0.5 in the first epoch and reaches 0.7 after 249 completed epochs.
    """
    if epochs_done < 0:
        raise ValueError(f"epochs_done must be >= 0, got {epochs_done}")
    if saturate < start:
        raise ValueError(f"saturate ({saturate}) must be >= start ({start})")
    count = epochs_done + 1
    if saturate == start:
        return final if count >= start else initial
    alpha = min(max((count - start) / (saturate - start), 0.0), 1.0)
    return initial * (1.0 - alpha) + alpha * final
