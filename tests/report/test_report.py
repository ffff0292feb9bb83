from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from advlab.report.html import collect_sections, write_report
from advlab.report.rendered import Figure, Rendered
from advlab.report.tables import Table


def _fake_results(root: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for name in ("alpha-table", "beta-figure"):
        out = root / name
        out.mkdir(parents=True)
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot([0, 1], [1, 0])
        fig.savefig(out / "curve.png")
        plt.close(fig)
        rendered = Rendered(
            [Table(f"{name} table", ["row", "ours", "ours (paper)"], [["a", 0.25, 0.2], ["b", None, 1]])],
            [Figure("curve.png", f"{name} curve")],
        )
        (out / "rendered.json").write_text(json.dumps({
            "experiment": name, "title": f"Title of {name}", "paper": "Someone 2020, Table 9",
            "scale": "quick", "seconds": 1.5, **rendered.to_dict()}))  # fmt: skip


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


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian package 'chromium'; .ci/run installs it)")
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    _fake_results(tmp_path)
    page = write_report(tmp_path)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for name in ("alpha-table", "beta-figure"):
        assert f'id="{name}"' in dom.stdout
    assert dom.stdout.count("<img") == 2 and dom.stdout.count("<table") == 2
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, *flags, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()],
                   capture_output=True, timeout=120, check=True)  # fmt: skip
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank one
