"""The figure and tables of the certify-methods experiment: certified accuracy per bounding
method (bars, one group per model and training, PGD accuracy as a marker above each group), the
time of the bounds per method on a log axis, and the tables of methods, trainings and the paper."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from advlab.report.figures import pyplot
from advlab.report.tables import Table


class MethodScore(Protocol):
    """What the figure reads from one row (certify_methods.MethodRow)."""

    model: str
    data: str
    training: str
    method: str
    certified_accuracy: float
    pgd_accuracy: float
    seconds: float


def methods_figure(rows: Sequence[MethodScore]) -> Any:
    """Two panels: certified accuracy (%) and seconds (log axis) per method, one bar group per
    (model, data, training) series, the series' PGD accuracy as a dashed line over its group."""
    methods = list(dict.fromkeys(r.method for r in rows))
    series = list(dict.fromkeys((r.model, r.data, r.training) for r in rows))
    by_key = {(r.model, r.data, r.training, r.method): r for r in rows}
    fig, (acc_ax, time_ax) = pyplot().subplots(1, 2, figsize=(11, 3.8))
    width = 0.8 / max(len(methods), 1)
    for k, method in enumerate(methods):
        offsets = [i - 0.4 + width * (k + 0.5) for i in range(len(series))]
        cells = [by_key.get((*s, method)) for s in series]
        acc = [c.certified_accuracy if c else 0.0 for c in cells]
        secs = [c.seconds if c else float("nan") for c in cells]
        acc_ax.bar(offsets, acc, width, label=method)
        time_ax.bar(offsets, secs, width, label=method)
    for i, s in enumerate(series):
        pgd = next(r.pgd_accuracy for r in rows if (r.model, r.data, r.training) == s)
        acc_ax.hlines(pgd, i - 0.42, i + 0.42, colors="black", linestyles="dashed",
                      label="PGD accuracy" if i == 0 else None)
    labels = [f"{m}\n{d}, {t}" for m, d, t in series]
    for ax in (acc_ax, time_ax):
        ax.set_xticks(range(len(series)), labels, fontsize=7)
    acc_ax.set_ylim(0, 105)
    acc_ax.set_ylabel("certified accuracy (%)")
    acc_ax.set_title("certified accuracy per method", fontsize=9)
    acc_ax.legend(fontsize=7, loc="upper left")
    time_ax.set_yscale("log")
    time_ax.set_ylabel("seconds (log)")
    time_ax.set_title("time of the bounds per method", fontsize=9)
    return fig


def methods_tables(result: Any, paper_size: dict[str, str]) -> list[Table]:
    """The tables of a certify_methods.Result: methods, training comparison (the paper's row
    beside CROWN-IBP's where known; `paper_size` maps our model to the paper's size), paper."""
    s = result.settings
    methods = Table(
        f"Bounding methods at eps {s.eps} (accuracies in %)",
        ["model", "data", "training", "method", "n", "certified", "PGD", "clean", "mean gap",
         "seconds", "peak MiB"],
        [[r.model, r.data, r.training, r.method, r.n_test, round(r.certified_accuracy, 1),
          round(r.pgd_accuracy, 1), round(r.clean_accuracy, 1), r.mean_gap, round(r.seconds, 2),
          None if r.peak_memory_mib is None else round(r.peak_memory_mib, 1)]
         for r in result.methods],
        caption=(
            "certified: correctly classified and every margin f_y - f_j has a positive lower bound "
            "over the l_inf ball (clipped to [0, 1]); PGD: accuracy under PGD "
            f"({s.pgd_steps} steps) on the same images, an upper bound of every certified "
            "accuracy; mean gap: upper - lower bound of the margins j != y; seconds: the bounds "
            f"of all n images in batches of {s.batch_size} on {s.device}; peak MiB: {s.memory}. "
            f"alpha-CROWN: {s.alpha_steps} Adam steps on the final layer's slopes. Normal "
            f"training {s.epochs} epochs; robust {s.robust_epochs} epochs."
        ),
    )  # fmt: skip
    rows: list[list[Any]] = []
    for r in result.trainings:
        rows.append([r.model, r.data, r.training, r.epochs, r.eps, f"ours, n={r.n_test}",
                     round(r.clean_accuracy, 1), round(r.pgd_accuracy, 1),
                     round(r.certified_accuracy, 1), round(r.crown_certified_accuracy, 1),
                     round(r.verified_error, 1)])
        if r.paper_verified_error is not None:
            rows.append([f"paper {paper_size.get(r.model, r.model)}", "mnist", r.training, None,
                         r.eps, "paper, best model", None, None, None, None,
                         r.paper_verified_error])
    trainings = Table(
        "CROWN-IBP against Wong-Kolter training at equal epochs (%)",
        ["model", "data", "training", "epochs", "eps", "source", "clean", "PGD", "certified",
         "certified (CROWN)", "verified error"],
        rows,
        caption=(
            "certified: by any of the methods (every one is sound); verified error: 100 - "
            "certified. Wong-Kolter: robust loss with eps ramped from the start value over the "
            f"first {100 * s.warmup_fraction:.0f}% of training and "
            f"{s.projections or 'no'} Cauchy projections; CROWN-IBP: eps 0 -> eps, kappa and "
            "beta 1 -> 0 over the same fraction (Zhang et al. 2020, eq. 8)."
        ),
    )
    by_size: dict[str, dict[float, float | None]] = {}
    for p in result.paper:
        by_size.setdefault(p.size, {})[p.eps] = p.verified_error
    epsilons = sorted({p.eps for p in result.paper})
    paper = Table(
        "CROWN-IBP paper: MNIST verified error (%)",
        ["models", *[f"eps {e}" for e in epsilons]],
        [[size, *[values.get(e) for e in epsilons]] for size, values in by_size.items()],
        caption="Zhang et al. 2020 (arXiv:1906.06316); the large models' 7.02% at eps 0.3 is the "
        "abstract's best; the rest of the paper's table is not read here (—).",
    )
    return [methods, trainings, paper]
