"""The experiment convention (DESIGN.md 3): every lecture figure or table is a module with

    NAME, TITLE, PAPER              strings: registry name, what it shows, the source
    Config                          frozen dataclass (an `ExperimentConfig`) with classmethods
                                    demo(), quick() and paper()
    Result                          dataclass of typed rows, JSON-serialisable
    run(config, ctx) -> Result      computes; no printing, no plotting
    render(result, out_dir) -> Rendered   tables and PNG figures (advlab.report)

The services a recipe uses live in `advlab.zoo` (RunContext, trained-model cache, model sets)
and its figures go through `advlab.report.figures.save_figure`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self


@dataclass(frozen=True)
class ExperimentConfig:
    """Base of every experiment's Config: the three scales as constructors.

    quick(): a 2-core CPU in minutes, offline (the defaults of the fields);
    demo(): the size `make demo` runs; an experiment whose quick size already fits the demo
    says so by returning `cls.quick()` in its own `demo` (no silent fallback);
    paper(): the paper's data, models and schedules.
    """

    @classmethod
    def quick(cls) -> Self:
        return cls()

    @classmethod
    def demo(cls) -> Self:
        raise NotImplementedError(f"{cls.__module__}.Config has no demo size")

    @classmethod
    def paper(cls) -> Self:
        raise NotImplementedError(f"{cls.__module__}.Config has no paper size")
