"""Command-line options derived from dataclass fields (`advlab.options`), nested ones included."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from advlab.options import describe_fields, parse_field_options


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
