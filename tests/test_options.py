"""Command-line options derived from dataclass fields (`advlab.options`), nested ones included."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from advlab.options import (
    apply_options,
    describe_fields,
    parse_field_options,
    parse_option_parts,
)


@dataclass(frozen=True)
class Box:
    low: float = 0.0
    high: float = 1.0


class Step:
    """Stands for an attack: a base class whose subclasses are chosen by name."""


@dataclass(frozen=True)
class Jump(Step):
    size: float
    signed: bool = True


@dataclass(frozen=True)
class Wrapper:
    inner: Step
    box: Box = field(default=Box())
    mask: str = "all"
    mask_steps: int = 3  # a flat field that starts with another field's name


CHOOSERS = {Step: {"jump": Jump}.__getitem__}


def test_flat_and_nested_fields_parse_to_their_types() -> None:
    words = ["--inner", "jump", "--inner-size", "0.5", "--inner-no-signed", "--box-high=2",
             "--mask", "stickers", "--mask-steps", "7"]  # fmt: skip
    values = parse_field_options(words, Wrapper, "wrapper", CHOOSERS)
    assert values == {"inner": Jump(size=0.5, signed=False), "box": Box(0.0, 2.0), "mask": "stickers",
                      "mask_steps": 7}  # fmt: skip


def test_nested_errors_name_the_option_typed() -> None:
    with pytest.raises(ValueError, match="has no option --inner-sise; its options: --inner-size, --inner-signed"):
        parse_field_options(["--inner", "jump", "--inner-sise", "1"], Wrapper, "wrapper", CHOOSERS)
    with pytest.raises(ValueError, match="wrapper needs --inner-size"):
        parse_field_options(["--inner", "jump"], Wrapper, "wrapper", CHOOSERS)
    with pytest.raises(ValueError, match="--inner needs a name"):
        parse_field_options(["--inner-size", "1"], Wrapper, "wrapper", CHOOSERS)
    with pytest.raises(ValueError, match="--box takes no value"):
        parse_field_options(["--box", "3"], Wrapper, "wrapper", CHOOSERS)
    with pytest.raises(ValueError, match="--box-low expects float, got 'x'"):
        parse_field_options(["--box-low", "x"], Wrapper, "wrapper", CHOOSERS)
    with pytest.raises(KeyError):
        parse_field_options(["--inner", "hop"], Wrapper, "wrapper", CHOOSERS)


def test_describe_fields_lists_the_parts_of_nested_fields() -> None:
    rows = {option: (kind, default) for option, kind, default in describe_fields(Wrapper)}
    assert rows["--box-high"] == ("float", "1.0") and "--box" not in rows
    assert rows["--inner"][1] == "required" and "--mask-steps" in rows


@dataclass(frozen=True)
class Framed:
    """A nested field whose default is not its class's default, and an optional one."""

    box: Box = field(default=Box(0.25, 0.75))
    outer: Box | None = None
    steps: int = 1


@dataclass(frozen=True)
class Training:
    epochs: int = 10
    lr: float = 0.1


@dataclass(frozen=True)
class Experiment:
    training: Training = Training()
    other_training: Training = Training()
    attack: Step = field(default=Jump(size=0.3, signed=False))
    lr: float = 1.0  # a field of its own: the bare name is never a shorthand for it


def test_a_nested_part_keeps_the_other_parts_of_the_current_value() -> None:
    # the default instance's low (0.25) stays: only high changes
    assert parse_field_options(["--box-high", "2"], Framed, "framed")["box"] == Box(0.25, 2.0)
    current = Framed(box=Box(0.5, 0.6))
    assert apply_options(current, ["--box-low=0.1"], "framed") == Framed(box=Box(0.1, 0.6))
    # no current value (None): built from the class
    assert apply_options(current, ["--outer-high", "3"], "framed").outer == Box(0.0, 3.0)
    # an attack-like field: the same class keeps its parts, another class is built anew
    base = Experiment()
    kept = apply_options(base, ["--attack-size", "0.9"], "experiment", CHOOSERS)
    assert kept.attack == Jump(size=0.9, signed=False)
    renamed = apply_options(base, ["--attack", "jump", "--attack-size", "0.9"], "experiment", CHOOSERS)
    assert renamed.attack == Jump(size=0.9, signed=False)


def test_a_bare_part_name_is_a_shorthand_when_unambiguous() -> None:
    @dataclass(frozen=True)
    class One:
        training: Training = Training()
        seed: int = 0

    assert apply_options(One(), ["--epochs", "3"], "one") == One(training=Training(epochs=3))
    assert apply_options(One(), ["--training-epochs=4"], "one").training.epochs == 4
    # a field of its own wins; a part of two nested fields is refused with both full names
    assert apply_options(Experiment(), ["--lr", "2"], "experiment", CHOOSERS).lr == 2.0
    with pytest.raises(ValueError, match="--epochs is ambiguous; give one of --training-epochs, "
                                         "--other-training-epochs"):
        apply_options(Experiment(), ["--epochs", "3"], "experiment", CHOOSERS)
    with pytest.raises(ValueError, match="has no option --epoch; its options: .*--seed"):
        apply_options(One(), ["--epoch", "3"], "one")


def test_parts_can_be_returned_unbuilt() -> None:
    values, parts = parse_option_parts(["--steps", "2", "--box-high", "5"], Framed, "framed")
    assert values == {"steps": 2} and parts == {"box": (Box, {"high": 5.0})}
