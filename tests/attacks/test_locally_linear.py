"""The locally linear attack (Gopalakrishnan et al. 2018) on an affine classifier, where its
first-order model is exact and the best target has a closed form."""

from __future__ import annotations

import torch
from torch import nn

from advlab.attacks import FGSM, LocallyLinear

from .helpers import assert_fgsm_signs_agree


def _affine(k: int, d: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(d, k)).eval()


def test_affine_model_picks_the_closed_form_target() -> None:
    net = _affine(5, 12, 0)
    weight, bias = net[1].weight.detach(), net[1].bias.detach()  # (K, D), (K,)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(30, 1, 3, 4, generator=g)
    y = torch.randint(0, 5, (30,), generator=g)
    eps = 0.05
    result = LocallyLinear(eps=eps, bounds=(-10.0, 10.0))(net, x, y)
    z = x.flatten(1) @ weight.T + bias  # (N, K)
    # margin reached against target t: z_t - z_l + eps ||w_t - w_l||_1; best t != l
    gap = (weight[None] - weight[y][:, None]).abs().sum(2)  # (N, K)
    margin = z - z.gather(1, y[:, None]) + eps * gap
    margin[torch.arange(30), y] = -torch.inf
    target = margin.argmax(1)
    expected = x.flatten(1) + eps * (weight[target] - weight[y]).sign()
    torch.testing.assert_close(result.x_adv.flatten(1), expected)
    torch.testing.assert_close(result.logits, expected @ weight.T + bias)


def test_two_classes_is_fgsm_on_the_score() -> None:
    net = _affine(2, 12, 2)
    x = torch.rand(16, 1, 3, 4, generator=torch.Generator().manual_seed(3))
    y = torch.randint(0, 2, (16,), generator=torch.Generator().manual_seed(4))
    ours = LocallyLinear(eps=0.1)(net, x, y)
    fgsm = FGSM(eps=0.1)(net, x, y)
    # two computations (the score's direction vs the cross-entropy gradient): signs agree
    # except where the gradient is within rounding of zero
    assert_fgsm_signs_agree(net, x, y, ours.x_adv, fgsm.x_adv)


