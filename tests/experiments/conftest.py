"""What the experiment tests share: running an experiment's config end to end and checking
that its result serialises and its render writes every figure and fills every table."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from advlab.report.rendered import Rendered
from advlab.zoo.context import RunContext


def _run_and_render(module: ModuleType, config: Any, ctx: RunContext) -> tuple[Any, Rendered]:
    result = module.run(config, ctx)
    json.dumps(dataclasses.asdict(result))  # results must be JSON-serialisable
    rendered = module.render(result, ctx.out_dir)
    assert rendered.tables and rendered.figures
    for figure in rendered.figures:
        assert (ctx.out_dir / figure.path).is_file(), figure.path
    for table in rendered.tables:
        assert table.rows
    return result, rendered


@pytest.fixture
def run_and_render() -> Callable[[ModuleType, Any, RunContext], tuple[Any, Rendered]]:
    """`run_and_render(module, config, ctx) -> (result, rendered)` with those checks."""
    return _run_and_render
