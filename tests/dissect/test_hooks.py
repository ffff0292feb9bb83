"""record / ablate / insert: what they do to a layer's output, and that the model always comes
back unchanged (also after an exception inside the block)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advlab.dissect import ablate, edit_output, insert, layer_shapes, module_named, record


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(inplace=True), nn.BatchNorm2d(6),
                         nn.Conv2d(6, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 5 * 5, 3))


def _state(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.state_dict().items()}


def _hooks(net: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in net.modules())


def test_record_gives_detached_copies_of_each_layer() -> None:
    net = _net().eval()
    x = torch.rand(2, 3, 5, 5)
    with record(net, ["0", "3"]) as seen:
        out = net(x)
    # the conv output is recorded before the in-place ReLU overwrites it
    assert (seen["0"] < 0).any() and seen["0"].shape == (2, 6, 5, 5)
    assert torch.allclose(seen["0"], net[0](x)) and not seen["0"].requires_grad
    assert torch.allclose(net[5](seen["3"].flatten(1)), out)
    assert _hooks(net) == 0


def test_ablate_zeroes_exactly_the_units_and_nothing_else() -> None:
    net = _net().eval()
    x = torch.rand(3, 3, 5, 5)
    with record(net, "3") as clean:
        net(x)
    with ablate(net, "3", [1, 3]), record(net, "3") as edited:
        net(x)
    assert edited["3"][:, [1, 3]].abs().sum() == 0
    assert torch.equal(edited["3"][:, [0, 2]], clean["3"][:, [0, 2]])
    # downstream: the same as feeding the ablated map to the remaining layers
    expected = net[5]((clean["3"] * torch.tensor([1.0, 0, 1, 0])[None, :, None, None]).flatten(1))
    with ablate(net, "3", torch.tensor([1, 3])):
        assert torch.allclose(net(x), expected, atol=1e-6)
    with ablate(net, "5", [0]):  # (N, C) outputs too
        assert (net(x)[:, 0] == 0).all()


def test_insert_sets_values_only_where_asked() -> None:
    net = _net().eval()
    x = torch.rand(2, 3, 5, 5)
    where = torch.zeros(5, 5, dtype=torch.bool)
    where[1, 2] = where[4, 0] = True
    with record(net, "0") as clean:
        net(x)
    with insert(net, "0", [2, 5], torch.tensor([7.0, -3.0]), where), record(net, "0") as seen:
        net(x)
    assert (seen["0"][:, 2][:, where] == 7.0).all() and (seen["0"][:, 5][:, where] == -3.0).all()
    untouched = ~where[None, None].expand(2, 6, 5, 5).clone()
    untouched[:, [0, 1, 3, 4]] = True
    assert torch.equal(seen["0"][untouched], clean["0"][untouched])
    per_image = torch.zeros(2, 5, 5, dtype=torch.bool)
    per_image[1, 0, 0] = True  # only the second image
    with insert(net, "0", [0], 9.0, per_image), record(net, "0") as seen:
        net(x)
    assert seen["0"][1, 0, 0, 0] == 9.0 and seen["0"][0, 0, 0, 0] == clean["0"][0, 0, 0, 0]


def test_model_is_restored_also_after_an_exception() -> None:
    net = _net().train()
    x = torch.rand(4, 3, 5, 5)
    before, modes = _state(net), [m.training for m in net.modules()]
    net.eval()
    reference = net(x)
    net.train()
    contexts = [lambda: record(net, "3"), lambda: ablate(net, "3", [0]),
                lambda: insert(net, "0", [1], 5.0, torch.ones(5, 5, dtype=torch.bool)),
                lambda: edit_output(net, "1", lambda y: y * 2)]
    for make in contexts:
        with pytest.raises(RuntimeError, match="boom"), make():
            assert _hooks(net) == 1
            raise RuntimeError("boom")
        assert _hooks(net) == 0
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    assert [m.training for m in net.modules()] == modes
    net.eval()
    assert torch.equal(net(x), reference)


def test_edits_nest_and_unwind_in_order() -> None:
    net = _net().eval()
    x = torch.rand(1, 3, 5, 5)
    with ablate(net, "3", [0]):
        with ablate(net, "3", [1]), record(net, "3") as seen:
            net(x)
        assert (seen["3"][:, :2] == 0).all()
        with record(net, "3") as seen:
            net(x)
        assert (seen["3"][:, 0] == 0).all() and (seen["3"][:, 1] != 0).any()
    assert _hooks(net) == 0


def test_bad_layers_units_and_shapes_are_named() -> None:
    net = _net().eval()
    x = torch.rand(1, 3, 5, 5)
    with pytest.raises(ValueError, match="no layer 'conv9'.*valid layers: 0, 1, 2"):
        module_named(net, "conv9")
    with pytest.raises(ValueError, match="layer '3' has 4 units"), ablate(net, "3", [4]):
        net(x)
    with pytest.raises(ValueError, match=r"must be \(5, 5\) or \(1, 5, 5\)"), insert(
            net, "3", [0], 1.0, torch.ones(3, 3, dtype=torch.bool)):
        net(x)
    with pytest.raises(ValueError, match="2 units but values"), insert(
            net, "3", [0, 1], torch.ones(3), torch.ones(5, 5, dtype=torch.bool)):
        net(x)
    with pytest.raises(ValueError, match=r"needs a \(N, C, H, W\) output"), insert(
            net, "5", [0], 1.0, torch.ones(5, 5, dtype=torch.bool)):
        net(x)
    assert _hooks(net) == 0
    assert layer_shapes(net, ["0", "5"], x) == {"0": (6, 5, 5), "5": (3,)}
