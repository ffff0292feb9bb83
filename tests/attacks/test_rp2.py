"""RP2: the sticker mask from the l1 stage, the non-printability score, the threat model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advlab.attacks import RP2
from advlab.attacks.masks import non_printability, sticker_mask, sticker_size_pixels
from advlab.transforms import TransformDistribution


def test_stickers_go_where_the_saliency_is() -> None:
    saliency = torch.zeros(2, 1, 10, 10)
    saliency[0, 0, 1:3, 6:8] = 5.0  # two hot spots in sample 0, one in sample 1
    saliency[0, 0, 7:9, 1:3] = 3.0
    saliency[1, 0, 4:6, 4:6] = 1.0
    mask = sticker_mask(saliency, stickers=2, size=(2, 2))
    assert mask.shape == (2, 1, 10, 10) and bool(((mask == 0) | (mask == 1)).all())
    assert bool(mask[0, 0, 1:3, 6:8].eq(1).all() and mask[0, 0, 7:9, 1:3].eq(1).all())
    assert int(mask[0].sum()) == 8 and int(mask[1].sum()) == 8  # the second sticker of 1 goes elsewhere
    assert bool(mask[1, 0, 4:6, 4:6].eq(1).all())
    assert sticker_size_pixels((0.25, 0.5), 28, 28) == (7, 14)
    with pytest.raises(ValueError, match="do not fit"):
        sticker_mask(saliency, 1, (11, 2))


def test_non_printability_is_zero_on_the_palette_and_a_product_of_distances() -> None:
    palette = torch.tensor([[0.0], [0.5], [1.0]])
    x = torch.tensor([0.0, 0.5, 1.0, 0.25]).view(1, 1, 2, 2)
    on_palette = torch.tensor([1.0, 1.0, 1.0, 0.0]).view(1, 1, 2, 2)
    torch.testing.assert_close(non_printability(x, on_palette, palette), torch.zeros(1), atol=1e-5, rtol=0)
    off = torch.tensor([0.0, 0.0, 0.0, 1.0]).view(1, 1, 2, 2)  # only the 0.25 pixel
    torch.testing.assert_close(non_printability(x, off, palette), torch.tensor([0.25 * 0.25 * 0.75]), atol=1e-5, rtol=0)


def test_rp2_keeps_x_outside_its_mask(trained_mlp: nn.Module, digits) -> None:
    x, y = digits[0][:10], digits[1][:10]
    attack = RP2(steps=10, mask_steps=5, stickers=1, sticker_size=(0.25, 0.5), draws=2,
                 palette=(0.0, 1.0), nps_weight=0.1)  # fmt: skip
    result = attack(trained_mlp, x, y, generator=torch.Generator().manual_seed(0))
    mask = result.params.view(10, 1, 8, 8)
    assert bool((mask.flatten(1).sum(1) == 8).all())  # one 2x4 sticker each
    assert torch.equal(torch.where(mask > 0, x, result.x_adv), x)  # a selection, no arithmetic: exact
    assert int(result.steps[0]) == 15
    whole = RP2(mask="object", steps=5, draws=2)(trained_mlp, x, y, generator=torch.Generator().manual_seed(0))
    assert bool((whole.params == 1).all()) and int(whole.steps[0]) == 5


def test_robust_to_conditions_beats_the_plain_masked_attack(trained_mlp: nn.Module, digits) -> None:
    """Optimising over sampled conditions makes the target survive them more often."""
    x, y = digits[0][:30], digits[1][:30]
    target = (y + 1) % 10
    conditions = TransformDistribution(rotation=(-20, 20), blur=(0, 0.8))
    common = {"mask": "object", "steps": 40, "draws": 8, "targeted": True, "norm_weight": 0.05}
    robust = RP2(conditions=conditions, **common)(trained_mlp, x, target, generator=torch.Generator().manual_seed(0))
    plain = RP2(conditions=TransformDistribution(), **common)(trained_mlp, x, target)
    g = torch.Generator().manual_seed(1)
    params = conditions.uniform.sample(30 * 20, generator=g).view(30, 20, -1)
    with torch.no_grad():
        rate = {name: (trained_mlp(conditions.apply(r.x_adv, params).flatten(0, 1)).argmax(1)
                       == target.repeat_interleave(20)).float().mean() for name, r in (("robust", robust), ("plain", plain))}  # fmt: skip
    assert rate["robust"] > rate["plain"], rate


def test_rp2_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="mask must be one of stickers, object"):
        RP2(mask="circle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs a palette"):
        RP2(nps_weight=1.0)
    with pytest.raises(ValueError, match="sticker_size must be fractions"):
        RP2(sticker_size=(0.0, 0.5))
    with pytest.raises(ValueError, match="not a multiple of the 3 channels"):
        RP2(palette=(0.0, 1.0), nps_weight=1.0)._palette(torch.zeros(1, 3, 2, 2))
