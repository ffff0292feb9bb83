"""`advlab list | reproduce | report | demo`: the lecture's experiments, their reproduction
with a running total, and the HTML report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from advlab.cli.shared import DataRoot, Device, UserError, console, extra_words, progress, say, show
from advlab.report.tables import Table

SCALE_HELP = ("demo (make demo's size), quick (CPU, embedded data, minutes) or paper "
              "(full data, GPU).")
SEED_HELP = ("Set every seed of the experiment's config (its training's too); default: the "
             "config's own.")


def list_experiments(
    models_: Annotated[bool, typer.Option("--models", help="List the classifiers instead.")] = False,
    attacks: Annotated[bool, typer.Option(
        "--attacks", help="List the attacks and their options instead.")] = False,
) -> None:
    """Every experiment (lecture figure or table) with its paper reference."""
    if models_:
        from advlab import models

        rows: list[list[Any]] = [[n, "any torchvision model" if n.endswith("<name>") else models.describe(n)]
                for n in models.names()]
        show(Table("Classifiers", ["name", "description"], rows))
        return
    if attacks:
        from advlab import attack_catalogue  # the registry's tables without importing torch

        for name in attack_catalogue.names():
            entry = attack_catalogue.entry(name)
            show(Table(f"advlab attack {name}", ["option", "type", "default"],
                       [list(row) for row in entry.rows], caption=entry.doc))
        return
    from advlab.commands.experiments import experiment_table

    show(experiment_table())


def reproduce(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Experiment name (advlab list) or 'all'.")],
    scale: Annotated[str, typer.Option(help=SCALE_HELP)] = "quick",
    out: Annotated[Path, typer.Option(
        help="Results folder; one sub-folder per experiment.")] = Path("runs/reproduce"),
    cache_dir: Annotated[Path | None, typer.Option(
        help="Cache of trained models (default ~/.cache/advlab/models).")] = None,
    seed: Annotated[int | None, typer.Option(help=SEED_HELP)] = None,
    data_root: DataRoot = None,
    device: Device = "cpu",
) -> None:
    """Reproduce a figure or table of the lecture. Extra options override the experiment's
    config fields (see config.json in the output for the names): `--field value`, a nested
    config's part as `--<field>-<part> value` (`--training-epochs 20`), or by its bare name
    where only one nested config has it (`--epochs 20`)."""
    from advlab import experiments

    names = experiments.names() if name == "all" else [name]
    run_and_report(names, scale, out, extra_words(ctx), cache_dir, seed, data_root, device)


def run_and_report(
    names: list[str], scale: str, out: Path, overrides: list[str], cache_dir: Path | None,
    seed: int | None, data_root: Path | None, device: str,
) -> None:
    """Check the request, build every config, run each experiment with a running total, print
    its tables, write the report."""
    from advlab.commands.experiments import build_configs, check_request, run_experiments

    check_request(names, scale, overrides)  # before anything is printed or imported (torch)
    from advlab.commands.common import distributed
    from advlab.commands.experiments import write_report
    from advlab.commands.reproduce import RunSettings
    from advlab.threads import chosen_threads
    from advlab.zoo.context import default_cache_dir

    configs = build_configs(names, scale, overrides, seed)
    start = time.perf_counter()
    with distributed(device) as (env, dev):
        main = env.is_main
        if main:
            say(f"{len(names)} experiment(s) at {scale} scale on {dev}, "
                f"{chosen_threads().describe()}")

        def started(name: str, index: int) -> None:
            if main:
                console.rule(f"[bold]{name}[/] ({scale}, {index + 1} of {len(names)})")

        def done(outcome: Any) -> None:
            if not main:
                return
            for table in outcome.tables:
                show(table)
            total = time.perf_counter() - start
            if outcome.error:
                say(f"[red]{outcome.name} failed: {outcome.error}[/]")
            say(f"{outcome.name}: {outcome.seconds:.1f} s (running total {total:.0f} s), "
                f"results in {outcome.out_dir}")

        settings = RunSettings(cache_dir=cache_dir or default_cache_dir(), device=dev, seed=seed,
                               reporter=progress() if main else None, data_root=data_root)
        if not main:  # other ranks compute the same experiments; only rank 0 writes the results
            import tempfile

            out = Path(tempfile.mkdtemp(prefix=f"advlab-rank{env.rank}-"))
        finished = run_experiments(configs, scale, out, settings, started, done)
    if not main:
        return
    report = write_report(out)
    say(f"finished in {time.perf_counter() - start:.0f} s; report: [bold]{report.resolve()}[/]")
    failures = [f.name for f in finished if f.error]
    if failures:
        raise UserError(f"{len(failures)} experiment(s) failed: {', '.join(failures)}")


def report(
    folder: Annotated[Path, typer.Argument(
        help="Folder with experiment results (advlab reproduce --out).")],
    out: Annotated[Path | None, typer.Option(help="HTML file (default FOLDER/report.html).")] = None,
) -> None:
    """Render every result in FOLDER into one self-contained report.html."""
    from advlab.commands.experiments import write_report

    say(f"report: [bold]{write_report(folder, out)}[/]")


def demo(
    out: Annotated[Path, typer.Option(help="Results folder.")] = Path("runs/demo"),
    cache_dir: Annotated[Path | None, typer.Option(help="Cache of trained models.")] = None,
) -> None:
    """The main job on the embedded default: every family of the lecture at demo size (one
    experiment or two each), with a running total, then the HTML report."""
    from advlab.commands.experiments import DEMO_EXPERIMENTS

    run_and_report(list(DEMO_EXPERIMENTS), "demo", out, [], cache_dir, None, None, "cpu")
