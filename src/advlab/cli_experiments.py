"""The `advlab list / reproduce / report / demo` commands, attached to `advlab.cli.app`:
the lecture's experiments, their reproduction with a running total, and the HTML report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from advlab.cli import EXTRA, DataRoot, Device, UserError, _words, app, console, progress, say, show
from advlab.tables import Table


@app.command("list")
def list_command(
    models_: Annotated[bool, typer.Option("--models", help="List the classifiers instead.")] = False,
    attacks: Annotated[bool, typer.Option("--attacks", help="List the attacks and their options instead.")] = False,
) -> None:
    """Every experiment (lecture figure or table) with its paper reference."""
    if models_:
        from advlab import models

        show(Table("Classifiers", ["name", "description"],
                   [[n, models.describe(n) if not n.endswith("<name>") else "any torchvision model"]
                    for n in models.names()]))  # fmt: skip
        return
    if attacks:
        from advlab.attacks import ATTACKS, Attack
        from advlab.commands.attack_protocols import PROTOCOLS
        from advlab.options import describe_fields

        for name, cls in [*ATTACKS.items(), *PROTOCOLS.items()]:
            doc = " ".join((cls.__doc__ or "").split("\n\n")[0].split())
            show(Table(f"advlab attack {name}", ["option", "type", "default"],
                       [list(r) for r in describe_fields(cls, chosen={Attack})], caption=doc))  # fmt: skip
        return
    from advlab.commands.experiments import experiment_table

    show(experiment_table())


@app.command("reproduce", context_settings=EXTRA)
def reproduce(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Experiment name (advlab list) or 'all'.")],
    scale: Annotated[str, typer.Option(help="demo (make demo's size), quick (CPU, embedded data, minutes) or paper (full data, GPU).")] = "quick",
    out: Annotated[Path, typer.Option(help="Results folder; one sub-folder per experiment.")] = Path("runs/reproduce"),
    cache_dir: Annotated[Path | None, typer.Option(help="Cache of trained models (default ~/.cache/advlab/models).")] = None,
    seed: Annotated[int | None, typer.Option(help="Set every seed of the experiment's config (its training's too); default: the config's own.")] = None,
    data_root: DataRoot = None,
    device: Device = "cpu",
) -> None:
    """Reproduce a figure or table of the lecture. Extra `--field value` options override the
    experiment's config fields (see config.json in the output for the names)."""
    from advlab import experiments
    from advlab.options import split_words

    names = experiments.names() if name == "all" else [name]
    _run_experiments(names, scale, out, split_words(_words(ctx), set()), cache_dir, seed, data_root, device)


def _run_experiments(names: list[str], scale: str, out: Path, overrides: dict[str, str],
                     cache_dir: Path | None, seed: int | None, data_root: Path | None, device: str) -> None:  # fmt: skip
    """Validate, run each experiment with a running total, print its tables, write the report."""
    from advlab.commands.experiments import run_experiments, validate, write_report

    validate(names, scale, overrides)  # before anything is printed, run or imported (torch)
    from advlab.experiments.base import default_cache_dir
    from advlab.train.distributed import init_from_env, shutdown

    env, dev = init_from_env(device)
    start = time.perf_counter()
    main = env.is_main

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
        say(f"{outcome.name}: {outcome.seconds:.1f} s (running total {total:.0f} s), results in {outcome.out_dir}")

    ctx_kwargs = {"cache_dir": cache_dir or default_cache_dir(), "device": dev, "seed": seed,
                  "reporter": progress() if main else None, "data_root": data_root}  # fmt: skip
    if not main:  # other ranks compute the same experiments; only rank 0 writes the results
        import tempfile

        out = Path(tempfile.mkdtemp(prefix=f"advlab-rank{env.rank}-"))
        del ctx_kwargs["reporter"]
    try:
        finished = run_experiments(names, scale, out, overrides, ctx_kwargs, started, done)
    finally:
        shutdown(env)
    if not main:
        return
    report = write_report(out)
    say(f"finished in {time.perf_counter() - start:.0f} s; report: [bold]{report.resolve()}[/]")
    failures = [f.name for f in finished if f.error]
    if failures:
        raise UserError(f"{len(failures)} experiment(s) failed: {', '.join(failures)}")


@app.command("report")
def report_command(
    folder: Annotated[Path, typer.Argument(help="Folder with experiment results (advlab reproduce --out).")],
    out: Annotated[Path | None, typer.Option(help="HTML file (default FOLDER/report.html).")] = None,
) -> None:
    """Render every result in FOLDER into one self-contained report.html."""
    from advlab.commands.experiments import write_report

    say(f"report: [bold]{write_report(folder, out)}[/]")


DEMO_EXPERIMENTS: tuple[str, ...] = (
    "classifier-baselines", "deepfool-table", "fgsm-figure",  # adversarial examples
    "spatial-table", "eot-table", "rp2-table",  # transformation attacks
    "universal", "transfer-table", "decision-regions",  # universal and transfer attacks
    "wong-table",  # certified defence
    "sparsity-table", "sparsity-curves",  # sparsity defences
    "inception-curves", "progressive-gan", "memorisation",  # GANs
    "classifier-dissection",  # dissection
)
"""What `make demo` runs, at demo scale: every family of the lecture (about 6 minutes on a
2-core CPU with an empty model cache)."""


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option(help="Results folder.")] = Path("runs/demo"),
    cache_dir: Annotated[Path | None, typer.Option(help="Cache of trained models.")] = None,
) -> None:
    """The main job on the embedded default: every family of the lecture at demo size (one
    experiment or two each), with a running total, then the HTML report."""
    _run_experiments(list(DEMO_EXPERIMENTS), "demo", out, {}, cache_dir, None, None, "cpu")
