"""Stop rules of GAN training: a discriminator that has won outright, and losses or gradient
norms blowing up before they are NaN.

Both detectors keep their state in plain numbers that the trainer checkpoints
(`advlab.gan.state.RunProgress`), so a resumed run stops exactly where the uninterrupted one
would. Both raise `advlab.errors` exceptions (`DiscriminatorCollapsed`, `TrainingDiverged`);
the trainer never writes a checkpoint after a step that raised, so the last checkpoint on disk
is one taken before the run went bad.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from advlab.errors import DiscriminatorCollapsed, TrainingDiverged

WASSERSTEIN_LOSSES = ("wgan", "wgan-gp", "wgan-gp-drift")
# what the divergence detector watches: the two losses and the two players' gradient norms
WATCHED = ("d_loss", "g_loss", "d_grad_norm", "g_grad_norm")


class CollapseDetector:
    """Stops a run whose discriminator has won outright.

    Definition (objectives with a bounded-below, probabilistic or least-squares discriminator:
    minimax, nonsaturating, lsgan): the discriminator loss stays below `threshold` (1e-3) for
    `patience` consecutive generator iterations. For the logistic objectives that means
    D(x) > 0.999 on real and D(G(z)) < 0.001 on generated data, the saturated regime in which
    log(1 - D(G(z))) gives G no gradient (Goodfellow et al. 2014, Section 3; Arjovsky & Bottou
    2017, Theorem 2.4). WGAN critics have unbounded losses and are never judged collapsed.

    `run` is the number of consecutive collapsed steps seen so far; the trainer checkpoints it
    (`RunProgress.collapse_run`) and passes it back on resume.
    """

    def __init__(self, loss: str, patience: int, threshold: float = 1e-3, run: int = 0) -> None:
        if run < 0:
            raise ValueError(f"run must be >= 0, got {run}")
        self.active = patience > 0 and loss not in WASSERSTEIN_LOSSES
        self.patience, self.threshold, self.run = patience, threshold, run

    def update(self, step: int, d_loss: float, d_fake: float) -> None:
        """Count generator step `step` (D loss `d_loss`, mean D score on fakes `d_fake`) and
        raise `DiscriminatorCollapsed` once `patience` consecutive steps were collapsed."""
        if not self.active:
            return
        self.run = self.run + 1 if d_loss < self.threshold else 0
        if self.run >= self.patience:
            raise DiscriminatorCollapsed(
                f"discriminator collapse at step {step}: D loss < {self.threshold:g} for "
                f"{self.run} consecutive generator steps (last D loss {d_loss:.3g}, mean D score "
                f"on fakes {d_fake:.3g}); the generator gets no gradient. Lower the D learning "
                f"rate, use k=1, or the non-saturating/WGAN-GP objective"
            )


class DivergenceDetector:
    """Stops a run whose losses or gradient norms blow up, before they reach NaN/inf.

    For each watched quantity x (D and G losses, the global L2 norms of D's and G's gradients)
    it keeps a running scale s, the exponential moving average of |x| with `decay` (0.99: about
    the last 100 steps), and declares divergence at the first step where

        |x| > factor * max(s, floor),

    with `factor` 1000 (`GANTrainConfig.divergence_factor`) and a floor of 1 (a loss that
    hovers near 0.01 may legitimately rise to order 1 when the discriminator stops winning; a
    jump past 1000 is not training). Values that pass update the scale; the first value of a
    quantity only sets it. Example: Goodfellow's minimax rule without max-norm on mnist-5k has
    D loss about 0.01 and then 4e4 within 8 steps (G loss -3e7); it is stopped at the first
    D loss above 1000.

    `scales` (quantity -> s) is checkpointed by the trainer and passed back on resume.
    """

    def __init__(self, factor: float, decay: float = 0.99, floor: float = 1.0,
                 scales: Mapping[str, float] | None = None) -> None:
        if factor != 0 and factor <= 1:
            raise ValueError(f"factor must be > 1 (or 0 = off), got {factor}")
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.active = factor > 0
        self.factor, self.decay, self.floor = factor, decay, floor
        self.scales: dict[str, float] = dict(scales or {})

    def update(self, step: int, stats: Mapping[str, float]) -> None:
        """Check generator step `step`'s statistics (those of `WATCHED` it has) against their
        running scales, then fold them in; raises `TrainingDiverged` naming the quantity."""
        if not self.active:
            return
        for key in WATCHED:
            if key not in stats:
                continue
            value = abs(stats[key])
            scale = self.scales.get(key)
            limit = self.factor * max(scale if scale is not None else value, self.floor)
            if not math.isfinite(value) or value > limit:
                raise TrainingDiverged(
                    f"training diverged at generator step {step}: {key} = {stats[key]:.4g}, "
                    f"more than {self.factor:g} times its running scale "
                    f"{max(scale if scale is not None else value, self.floor):.3g}")
        for key in WATCHED:
            if key in stats:
                value = abs(stats[key])
                old = self.scales.get(key)
                self.scales[key] = value if old is None else self.decay * old + (1 - self.decay) * value
