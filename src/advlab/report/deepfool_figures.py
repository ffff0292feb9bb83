"""Tables and figure of the `deepfool-table` experiment (Moosavi-Dezfooli et al. 2016,
Tables 1 and 2): ours beside the paper's values, which every row carries.

`result` below is an `advlab.experiments.deepfool_table.Result` (report/ does not import
experiments/): rows with row, n, test_error, weights, deepfool_l2, deepfool_linf, fgsm, lbfgs
(None where L-BFGS did not run), paper_table1 and paper_table2 (None where the paper has none),
suite (an `advlab.zoo.worst_case.SuiteSummary`, None where the suite did not run).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from advlab.report.figures import pyplot, save_figure
from advlab.report.rendered import Figure, Rendered
from advlab.report.tables import Cell, Table
from advlab.zoo.worst_case import SUITE_DESCRIPTION, checks_sentence

if TYPE_CHECKING:
    import matplotlib.figure


def _percent(rate: float | None) -> float | None:
    return None if rate is None else 100 * rate


def _one_decimal(percent: float | None) -> float | None:
    """Test errors in % to one decimal, as classifier-baselines shows them."""
    return None if percent is None else round(percent, 1)


def _table1_cells(r: Any, name: str) -> list[Cell]:
    paper, lbfgs = r.paper_table1, r.lbfgs
    return [
        name, _one_decimal(r.test_error), paper.test_error if paper else None,
        r.deepfool_l2.rho, paper.rho_deepfool if paper else None,
        100 * r.deepfool_l2.success, r.deepfool_l2.ms,
        r.fgsm.rho_l2, paper.rho_fgsm if paper else None, 100 * r.fgsm.success, r.fgsm.ms,
        lbfgs.rho if lbfgs else None, paper.rho_lbfgs if paper else None,
        _percent(lbfgs.success if lbfgs else None), lbfgs.ms if lbfgs else None,
    ]


def _table2_cells(r: Any, name: str) -> list[Cell]:
    paper = r.paper_table2
    return [
        name, r.deepfool_linf.rho, paper.rho_inf_deepfool if paper else None,
        100 * r.deepfool_linf.success, r.fgsm.rho_linf, paper.rho_inf_fgsm if paper else None,
        100 * r.fgsm.success, round(r.suite.eps, 4) if r.suite else None,
        round(r.suite.robust_accuracy, 1) if r.suite else None,
    ]


def render_deepfool(result: Any, out_dir: Path) -> Rendered:
    """Table 1 and Table 2 (ours beside the paper's) and a bar chart of rho_adv per method,
    ours beside the paper's."""
    names = [r.row + (" [random weights]" if r.weights == "random" else "") for r in result.rows]
    first = result.rows[0] if result.rows else None
    n = first.n if first else 0
    n_lbfgs = first.lbfgs.n if first and first.lbfgs else 0
    table1 = Table(
        "Table 1: rho_adv (l2) and time per sample",
        ["classifier", "test error % (ours)", "test error % (paper)",
         "rho DeepFool (ours)", "rho DeepFool (paper)", "DeepFool success %", "ms DeepFool (ours)",
         "rho FGSM (ours)", "rho FGSM (paper)", "FGSM success %", "ms FGSM (ours)",
         "rho L-BFGS (ours)", "rho L-BFGS (paper)", "L-BFGS success %", "ms L-BFGS (ours)"],
        [_table1_cells(r, name) for r, name in zip(result.rows, names, strict=True)],
        caption=f"rho_adv = mean ||r||_2 / ||x||_2 (eq. 15) over the samples each attack fooled, "
        f"with its success rate beside it; DeepFool and FGSM on {n} test samples, "
        f"L-BFGS on the first {n_lbfgs} of them. FGSM: the smallest eps that misclassifies 90% "
        f"of the samples. Test error: on the same {n} test samples (classifier-baselines gives "
        "the same models' error on the whole test split, so the two differ by sampling); empty "
        "where the dataset's labels are not the model's classes (an ImageFolder without all "
        "1000 ImageNet synsets). Paper: full MNIST; times on a 2015 laptop CPU: DeepFool 110 / "
        "50 ms, FGSM 20 / 10 ms, L-BFGS > 4 s / > 2 s for LeNet / FC500-150-10.",
    )
    table2 = Table(
        "Table 2: rho_adv (linf), DeepFool against FGSM",
        ["classifier", "rho_inf DeepFool (ours)", "rho_inf DeepFool (paper)",
         "DeepFool success %", "rho_inf FGSM (ours)", "rho_inf FGSM (paper)", "FGSM success %",
         "suite eps", "robust accuracy % (suite)"],
        [_table2_cells(r, name) for r, name in zip(result.rows, names, strict=True)],
        caption="rho_inf = mean ||r||_inf / ||x||_inf (eq. 15 with p = inf) over the fooled "
        "samples. DeepFool with p = inf (eq. 8-9, q = 1); FGSM at the eps of Table 1 (smallest "
        "eps misclassifying 90%). " + _suite_caption(result) + "Paper values: "
        "Moosavi-Dezfooli et al. 2016, Table 2 (no ImageNet rows there; no suite).",
    )
    save_figure(rho_figure(result), out_dir / "rho_adv.png")
    figure = Figure("rho_adv.png", "rho_adv (l2) per classifier and method: ours (solid) beside "
                    "the paper's (hatched)")
    return Rendered([table1, table2], [figure])


def _suite_caption(result: Any) -> str:
    """What the suite columns hold, and the checks that fired (empty: no suite ran)."""
    suites = [(r.row, r.suite) for r in result.rows if getattr(r, "suite", None) is not None]
    if not suites:
        return ""
    return (f"Robust accuracy: under the worst-case suite ({SUITE_DESCRIPTION}) in the l_inf "
            f"ball of radius suite eps, with the true labels, on the first {suites[0][1].n} of "
            "the attacked samples (a fixed radius, unlike the minimal perturbations rho); "
            "suite eps: by default the lecture's radius for the dataset (0.1 on MNIST: Wong & "
            "Kolter's Table 1; 0.007 on ImageNet: the lecture's FGSM figure; 8/255 on "
            "CIFAR-10: AutoAttack's). "
            + checks_sentence([(row, suite.warnings) for row, suite in suites]))


def rho_figure(result: Any) -> matplotlib.figure.Figure:
    """Grouped bars: per classifier, DeepFool / FGSM / L-BFGS rho_adv, ours and the paper's
    (0 where a value is missing)."""
    plt = pyplot()
    methods = [
        ("DeepFool", lambda r: r.deepfool_l2.rho,
         lambda p: p.rho_deepfool),
        ("FGSM", lambda r: r.fgsm.rho_l2, lambda p: p.rho_fgsm),
        ("L-BFGS", lambda r: r.lbfgs.rho if r.lbfgs else None, lambda p: p.rho_lbfgs),
    ]
    fig, ax = plt.subplots(figsize=(8, 3.4))
    width = 0.8 / (2 * len(methods))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    rows = result.rows
    for j, (name, ours, papers) in enumerate(methods):
        xs = [i + (2 * j - len(methods) + 0.5) * width for i in range(len(rows))]
        ax.bar(xs, [ours(r) or 0.0 for r in rows], width, color=colours[j],
               label=f"{name} (ours)")
        paper = [(papers(r.paper_table1) or 0.0) if r.paper_table1 else 0.0 for r in rows]
        ax.bar([x + width for x in xs], paper, width, color=colours[j], alpha=0.45, hatch="//",
               label=f"{name} (paper)")
    ax.set_xticks(range(len(rows)), [r.row for r in rows], fontsize=8)
    ax.set_ylabel("rho_adv (l2)")
    ax.legend(fontsize=7, ncol=3)
    return fig
