"""robust_accuracy (the AutoAttack standard sequence) and its checks: attribution adds up, the
suite is at least as strong as PGD, and each check fires on the model it is meant for."""

from __future__ import annotations

import collections

import pytest
import torch
from torch import nn

from advlab.attacks import APGD, APGDT, FAB, PGD, Square
from advlab.evaluate import (
    ThreatModel,
    check_monotone_in_eps,
    robust_accuracy,
    standard_attacks,
)

pytestmark = pytest.mark.usefixtures("single_thread")


def _small_suite(threat: ThreatModel) -> list:
    """The standard sequence at test size (fewer steps, targets and queries)."""
    common = {"eps": threat.eps, "norm": threat.norm, "bounds": threat.bounds}
    return [("apgd-ce", APGD(steps=20, **common)), ("apgd-t", APGDT(steps=10, n_target_classes=3, **common)),
            ("fab-t", FAB(steps=10, n_target_classes=2, **common)), ("square", Square(queries=300, **common))]  # fmt: skip


class _Noisy(nn.Module):
    """A randomised defence: Gaussian noise on the input at every call."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x + 0.05 * torch.randn_like(x))


class _Quantised(nn.Module):
    """A non-differentiable front end: inputs rounded to 4 levels (zero gradients everywhere)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(torch.round(x * 4) / 4)


def test_attribution_adds_up_and_suite_beats_pgd(trained_mlp: nn.Module, digits) -> None:
    x, y = digits[0][:60], digits[1][:60]
    threat = ThreatModel("linf", 0.08)
    result = robust_accuracy(trained_mlp, x, y, threat, attacks=_small_suite(threat), batch_size=25,
                             generator=torch.Generator().manual_seed(0))  # fmt: skip
    with torch.no_grad():
        clean_correct = trained_mlp(x).argmax(1) == y
        at_adv = trained_mlp(result.x_adv).argmax(1) == y
    # attribution: every broken point is named once, by the attack that broke it
    counts = collections.Counter(result.broken_by)
    assert counts["clean"] == int((~clean_correct).sum())
    assert sum(r.broken for r in result.attacks) == int(clean_correct.sum()) - int(result.robust.sum())
    for record in result.attacks:
        assert counts[record.name] == record.broken
    for before, after in zip(result.attacks, result.attacks[1:], strict=False):  # each attack runs on the survivors
        assert after.attacked == before.attacked - before.broken
    assert result.attacks[0].attacked == int(clean_correct.sum())
    # the returned points are inside the threat model and are what the flags say
    assert bool(((result.x_adv - x).abs().flatten(1).amax(1) <= 0.08 + 1e-6).all())
    assert torch.equal(at_adv, result.robust)
    assert result.robust_accuracy == pytest.approx(float(result.robust.float().mean()))
    assert result.warnings == ()
    pgd = PGD(eps=0.08, steps=20)(trained_mlp, x, y, generator=torch.Generator().manual_seed(0))
    assert result.robust_accuracy <= 1 - pgd.success_rate + 1e-9
    assert result.to_dict()["robust_accuracy"] == result.robust_accuracy


def test_standard_sequence_is_autoattacks() -> None:
    names = [name for name, _ in standard_attacks(ThreatModel("l2", 0.5))]
    assert names == ["apgd-ce", "apgd-t", "fab-t", "square"]
    attacks = dict(standard_attacks(ThreatModel("l2", 0.5)))
    assert attacks["apgd-t"].n_target_classes == 9 and attacks["fab-t"].n_target_classes == 9  # type: ignore[attr-defined]
    assert attacks["square"].queries == 5000 and attacks["apgd-ce"].steps == 100  # type: ignore[attr-defined]
    assert all(a.norm == "l2" and a.radius == 0.5 for a in attacks.values())
    assert attacks["fab-t"].stop_at_eps  # type: ignore[attr-defined]  # the suite needs one example within eps
    assert not attacks["square"].rescale_schedule  # type: ignore[attr-defined]  # the authors' AutoAttack


def test_the_budget_reaches_every_attack() -> None:
    """steps=10, rescale_schedule=True: torchattacks' standard version's budget."""
    attacks = dict(standard_attacks(ThreatModel("linf", 0.1), steps=10, queries=300, rescale_schedule=True))
    assert [attacks[k].steps for k in ("apgd-ce", "apgd-t", "fab-t")] == [10, 10, 10]  # type: ignore[attr-defined]
    assert attacks["square"].queries == 300 and attacks["square"].rescale_schedule  # type: ignore[attr-defined]


def test_randomised_model_is_flagged(trained_mlp: nn.Module, digits) -> None:
    x, y = digits[0][:20], digits[1][:20]
    threat = ThreatModel("linf", 0.05)
    result = robust_accuracy(_Noisy(trained_mlp).eval(), x, y, threat, attacks=[("apgd-ce", APGD(eps=0.05, steps=5))])
    assert any("randomised" in w for w in result.warnings)


def test_softmax_output_is_flagged(trained_mlp: nn.Module, digits) -> None:
    x, y = digits[0][:20], digits[1][:20]
    model = nn.Sequential(trained_mlp, nn.Softmax(dim=1)).eval()
    with pytest.warns(UserWarning, match="probabilities"):  # the attacks' own check says it too
        result = robust_accuracy(model, x, y, ThreatModel("linf", 0.05), attacks=[("apgd-ce", APGD(eps=0.05, steps=5))])
    assert any("probabilities" in w for w in result.warnings)
    assert not any("randomised" in w for w in result.warnings)


def test_masked_gradients_are_flagged_and_square_gains_noticed(trained_mlp: nn.Module, digits) -> None:
    x, y = digits[0][:60], digits[1][:60]
    threat = ThreatModel("linf", 0.1)
    result = robust_accuracy(_Quantised(trained_mlp).eval(), x, y, threat, attacks=_small_suite(threat),
                             generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert any("zero or non-finite input gradients" in w for w in result.warnings)
    square = next(r for r in result.attacks if r.name == "square")
    assert square.broken > 0  # the black-box attack finds what the gradient attacks cannot
    assert any("Square (black-box)" in w for w in result.warnings)


def test_no_checks_when_disabled(trained_mlp: nn.Module, digits) -> None:
    x, y = digits[0][:10], digits[1][:10]
    model = nn.Sequential(trained_mlp, nn.Softmax(dim=1)).eval()
    result = robust_accuracy(model, x, y, ThreatModel("linf", 0.05), attacks=[], run_checks=False)
    assert result.warnings == () and result.attacks == ()
    assert torch.equal(result.x_adv, x)


def test_monotone_in_eps() -> None:
    assert check_monotone_in_eps({0.0: 0.98, 0.05: 0.7, 0.1: 0.2}) is None
    warning = check_monotone_in_eps({0.1: 0.2, 0.05: 0.7, 0.2: 0.35})
    assert warning is not None and "eps 0.1" in warning and "eps 0.2" in warning
    assert check_monotone_in_eps({0.1: 0.2, 0.2: 0.21}, tolerance=0.02) is None


def test_attacks_must_share_the_threat_model(trained_mlp: nn.Module, digits) -> None:
    x, y = digits[0][:5], digits[1][:5]
    with pytest.raises(ValueError, match="threat model"):
        robust_accuracy(trained_mlp, x, y, ThreatModel("linf", 0.05), attacks=[("apgd-ce", APGD(eps=0.1, steps=2))])


def test_threat_model_is_validated() -> None:
    with pytest.raises(ValueError):
        ThreatModel("l3", 0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ThreatModel("linf", -0.1)
