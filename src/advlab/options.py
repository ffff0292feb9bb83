"""The one command-line grammar for dataclass fields (light: no torch).

`advlab attack NAME --field value ...`, `advlab gan train --field value ...` and
`advlab reproduce NAME --field value ...` take every field of the attack's, the GAN config's or
the experiment config's dataclass as an option; `parse_field_options` turns the raw
``--field value`` / ``--field=value`` / ``--flag`` / ``--no-flag`` words into typed values,
and names the option the user typed in every error. Nested fields are named the same way
everywhere, ``--<field>-<part>`` (``--inner-eps``, ``--training-epochs``, ``--attack-xi``),
with the bare part name as a shorthand where it is unambiguous (``--epochs``); a nested part
changes the field's current value and keeps its other parts.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Collection, Mapping
from typing import Any


def coerce(text: str, kind: Any, name: str) -> Any:
    """Parse `text` as the type `kind` (int, float, bool, str, tuple[X, ...], X | None)."""
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null") and type(None) in args:
            return None
        kind = next(a for a in args if a is not type(None))
        return coerce(text, kind, name)
    if origin is tuple:
        item = args[0] if args else str
        return tuple(coerce(part.strip(), item, name) for part in text.split(",") if part.strip())
    if origin is typing.Literal:
        if text not in args:
            raise ValueError(f"{name} must be one of {', '.join(map(str, args))}, got {text!r}")
        return text
    try:
        if kind is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        return kind(text)
    except (TypeError, ValueError) as error:
        expected = getattr(kind, "__name__", kind)
        raise ValueError(f"{name} expects {expected}, got {text!r}") from error


def field_types(config_type: type) -> dict[str, Any]:
    """Field name -> resolved type of a dataclass type."""
    hints = typing.get_type_hints(config_type)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_type)}


def is_bool(kind: Any) -> bool:
    """Whether a field type is bool (or bool | None)."""
    optional = typing.get_origin(kind) in (typing.Union, types.UnionType)
    return kind is bool or (optional and set(typing.get_args(kind)) == {bool, type(None)})


def split_words(words: list[str], flags: set[str]) -> dict[str, str]:
    """``--key value`` / ``--key=value`` pairs; names in `flags` (booleans) may stand alone
    (``--targeted`` -> "true", ``--no-targeted`` -> "false"). Keys keep the dashes typed."""
    pairs: dict[str, str] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if not word.startswith("--") or word == "--":
            raise ValueError(f"unexpected argument {word!r}; options look like --name value")
        key, sep, value = word[2:].partition("=")
        name = key.replace("-", "_")
        if sep:
            pairs[key] = value
            i += 1
        elif name in flags and (i + 1 == len(words) or words[i + 1].startswith("--")):
            pairs[key] = "true"
            i += 1
        elif name.startswith("no_") and name[3:] in flags:
            pairs[key[3:]] = "false"
            i += 1
        elif i + 1 >= len(words):
            raise ValueError(f"option --{key} needs a value")
        else:
            pairs[key] = words[i + 1]
            i += 2
    return pairs


Choosers = Mapping[type, Callable[[str], type]]
"""Base type -> the function that resolves a name typed for a field of that type to a class
(``{Attack: ATTACKS.get}``: ``--inner pgd`` -> PGD)."""


def parse_field_options(
    words: list[str], config_type: type, owner: str, choosers: Choosers | None = None,
    prefix: str = "", current: Any = None,
) -> dict[str, Any]:
    """Typed values for the fields of `config_type` named in `words` (``--field value``).

    Unknown names are refused with the list of valid options; a value that does not parse as
    its field's type is refused naming the option (``--eps expects float, got 'x'``).

    Nested fields are configured part by part: a field whose type is a dataclass (or a
    dataclass | None) takes ``--<field>-<part> value`` for each of its fields
    (``--distribution-rotation -30,30``, ``--training-epochs 20``); a field whose type is a key
    of `choosers` takes a name (``--inner pgd``, resolved to a class by
    ``choosers[type](name)``) and that class's fields as ``--inner-<part> value``.

    The parts given change the field's current value and keep its other parts: the value in
    `current` (an instance of `config_type`), else the field's default, is copied with
    `dataclasses.replace`. Only when there is no current value, or the chooser picked another
    class, is the nested value built from its class (its missing required parts named as
    options).

    Shorthand: a part may be given by its bare name (``--epochs 20`` for ``--training-epochs``)
    when `config_type` has no field of that name and exactly one dataclass-typed field has
    that part; an ambiguous bare name is refused with the full names to choose from.
    """
    values, parts = parse_option_parts(words, config_type, owner, choosers, prefix, current)
    for field, (target, nested_values) in parts.items():
        base: Any = _current_value(config_type, field, current)
        if base is not None and type(base) is target:
            values[field] = dataclasses.replace(typing.cast(Any, base), **nested_values)
        else:
            values[field] = _build(target, nested_values, owner, f"{prefix}{field}_")
    return values


def apply_options(
    instance: Any, words: list[str], owner: str, choosers: Choosers | None = None
) -> Any:
    """A copy of the dataclass `instance` with the fields named in `words` changed
    (`parse_field_options` with `instance` as the current value: nested parts keep the rest)."""
    values = parse_field_options(words, type(instance), owner, choosers, current=instance)
    return dataclasses.replace(instance, **values)


def parse_option_parts(
    words: list[str], config_type: type, owner: str, choosers: Choosers | None = None,
    prefix: str = "", current: Any = None,
) -> tuple[dict[str, Any], dict[str, tuple[type, dict[str, Any]]]]:
    """The grammar of `parse_field_options` without building the nested values: (typed values
    of the flat fields, {nested field: (its class, typed values of the parts given)}), for a
    config that applies nested parts its own way (`GANTrainConfig.with_options`)."""
    kinds = field_types(config_type)
    choosers = choosers or {}
    nested = {n: k for n, k in kinds.items() if _nested_class(k, choosers) is not None}
    by_parts = {n: _nested_class(k, choosers) for n, k in nested.items() if k not in choosers}
    for name, kind in nested.items():  # a chosen field's parts: those of its current class
        chosen_now = _current_value(config_type, name, current) if kind in choosers else None
        if chosen_now is not None:
            by_parts[name] = type(chosen_now)
    words = _expand_shorthand(words, kinds, by_parts, owner, prefix)
    own, parts = _split_nested(words, kinds, nested)
    # a nested field's own value is a name (of the class a chooser picks)
    named = {n: (str if n in nested else k) for n, k in kinds.items()}
    flags = {name for name, kind in named.items() if is_bool(kind)}
    typed_prefix = "--" + prefix.replace("_", "-")
    for word in own:  # unknown names first: a typo is answered with the valid options
        key = word[2:].partition("=")[0] if word.startswith("--") else ""
        name = key.replace("-", "_")
        if key and name not in kinds and not (name.startswith("no_") and name[3:] in flags):
            valid = ", ".join(_option_names(kinds, by_parts, prefix))
            raise ValueError(f"{owner} has no option {typed_prefix}{key}; its options: {valid}")
    values = {}
    for key, text in split_words(own, flags).items():
        name = key.replace("-", "_")
        values[name] = coerce(text, named[name], f"{typed_prefix}{key}")
    nested_parts: dict[str, tuple[type, dict[str, Any]]] = {}
    for field, kind in nested.items():
        choice = values.pop(field, None)
        if choice is None and not parts[field]:
            continue
        option = option_name(prefix + field)
        base = _current_value(config_type, field, current)
        if kind in choosers:
            if choice is None and base is None:
                raise ValueError(f"{owner}: {option} needs a name before its parts ({option}-...)")
            target = type(base) if choice is None else choosers[kind](choice)
        elif choice is not None:
            raise ValueError(
                f"{owner}: {option} takes no value; set its parts with {option}-<part>"
            )
        else:
            target = _nested_class(kind, choosers)
        inner_current = base if type(base) is target else None
        typed = parse_field_options(parts[field], target, owner, choosers, f"{prefix}{field}_",
                                    inner_current)
        nested_parts[field] = (target, typed)
    return values, nested_parts


def _option_names(kinds: Mapping[str, Any], by_parts: Mapping[str, type], prefix: str) -> list[str]:
    """Every option of a dataclass for an error message: a dataclass-typed field's parts as
    ``--<field>-<part>``, every other field as ``--<field>``."""
    names = []
    for name in kinds:
        if name in by_parts:
            names += [option_name(f"{prefix}{name}_{part}") for part in field_types(by_parts[name])]
        else:
            names.append(option_name(prefix + name))
    return names


def _nested_class(kind: Any, choosers: Mapping[type, Any]) -> Any:
    """The class of a nested field (a dataclass, ``dataclass | None`` or a chosen base type),
    or None for a flat field."""
    if isinstance(kind, type) and (dataclasses.is_dataclass(kind) or kind in choosers):
        return kind
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(inner) == 1 and isinstance(inner[0], type) and dataclasses.is_dataclass(inner[0]):
            return inner[0]
    return None


def _current_value(config_type: type, field: str, current: Any) -> Any:
    """The value nested parts apply to: `current`'s, else the field's default (None: none)."""
    if current is not None:
        return getattr(current, field)
    spec = next(f for f in dataclasses.fields(config_type) if f.name == field)
    if spec.default is not dataclasses.MISSING:
        return spec.default
    if spec.default_factory is not dataclasses.MISSING:
        return spec.default_factory()
    return None


def _expand_shorthand(
    words: list[str], kinds: Mapping[str, Any], nested: Mapping[str, type], owner: str, prefix: str
) -> list[str]:
    """`words` with every bare part name (``--epochs``, ``--no-pixel-norm``) written out in
    full (``--training-epochs``, ``--progressive-no-pixel-norm``): a name that is no field of
    its own and a part of exactly one dataclass-typed field in `nested`."""
    holders: dict[str, list[str]] = {}
    for field, target in nested.items():
        for part, kind in field_types(target).items():
            holders.setdefault(part, []).append(field)
            if is_bool(kind):
                holders.setdefault("no_" + part, []).append(field)
    expanded = []
    for word in words:
        key, sep, value = word[2:].partition("=") if word.startswith("--") else ("", "", "")
        name = key.replace("-", "_")
        own = name in kinds or (name.startswith("no_") and name[3:] in kinds)
        if not key or own or name not in holders:
            expanded.append(word)
            continue
        if len(holders[name]) > 1:
            choices = ", ".join(option_name(f"{prefix}{f}_{name}") for f in holders[name])
            raise ValueError(f"{owner}: --{key} is ambiguous; give one of {choices}")
        field = holders[name][0]
        expanded.append(f"--{field.replace('_', '-')}-{key}{sep}{value}")
    return expanded


def _split_nested(
    words: list[str], kinds: Mapping[str, Any], nested: Mapping[str, Any]
) -> tuple[list[str], dict[str, list[str]]]:
    """The words of `words` that belong to nested fields (``--<field>-<part> [value]``, as
    ``--<part> [value]``) apart from the rest (a field of its own, such as ``mask_steps``
    beside a nested ``mask``, stays its own)."""
    own: list[str] = []
    parts: dict[str, list[str]] = {n: [] for n in nested}
    i = 0
    while i < len(words):
        word = words[i]
        key = word[2:].partition("=")[0].replace("-", "_") if word.startswith("--") else ""
        mine = key in kinds or (key.startswith("no_") and key[3:] in kinds)
        field = None if mine else next((n for n in nested if key.startswith(n + "_")), None)
        if field is None:
            own.append(word)
            i += 1
            continue
        parts[field].append("--" + word[3 + len(field):])
        i += 1
        if "=" not in word and i < len(words) and not words[i].startswith("--"):
            parts[field].append(words[i])
            i += 1
    return own, parts


def missing_required(config_type: type, values: Mapping[str, Any]) -> list[str]:
    """The fields of a dataclass type that have no default and are not in `values`."""
    return [
        f.name for f in dataclasses.fields(config_type)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        and f.name not in values
    ]


def _build(target: type, values: dict[str, Any], owner: str, prefix: str) -> Any:
    """target(**values), its missing required fields named as the options to give."""
    missing = missing_required(target, values)
    if missing:
        raise ValueError(f"{owner} needs {', '.join(option_name(prefix + n) for n in missing)}")
    return target(**values)


def option_name(field: str) -> str:
    """The command-line spelling of a field: ``step_size`` -> ``--step-size``."""
    return "--" + field.replace("_", "-")


def describe_fields(
    config_type: type, prefix: str = "", instance: Any = None, chosen: Collection[type] = ()
) -> list[tuple[str, str, str]]:
    """(option, type, default) for every field of a dataclass type, for help tables; the
    parts of a dataclass-typed field as ``--<field>-<part>`` rows (their defaults those of
    the field's default value, or of `instance`); a field typed by one of `chosen` (the keys
    of `parse_field_options`' choosers) as a name followed by its own options."""
    rows = []
    kinds = field_types(config_type)
    for f in dataclasses.fields(config_type):
        if instance is not None:
            value: Any = getattr(instance, f.name)
        elif f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        else:
            value = dataclasses.MISSING
        kind = kinds[f.name]
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            current = None if value is dataclasses.MISSING else value
            rows += describe_fields(kind, f"{prefix}{f.name}_", current, chosen)
            continue
        kind_name = type_name(kind)
        if kind in chosen:
            option = option_name(prefix + f.name)
            kind_name = f"{kind.__name__.lower()} name, then {option}-<option>"
        default = "required" if value is dataclasses.MISSING else repr(value)
        rows.append((option_name(prefix + f.name), kind_name, default))
    return rows


def type_name(kind: Any) -> str:
    """A short readable name of a field type: float, int | None, linf | l2, ..."""
    origin = typing.get_origin(kind)
    if origin is typing.Literal:
        return " | ".join(map(str, typing.get_args(kind)))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(kind))
    if origin is tuple:
        args = typing.get_args(kind)
        return f"{type_name(args[0]) if args else 'str'},..."
    return "None" if kind is type(None) else getattr(kind, "__name__", str(kind))
