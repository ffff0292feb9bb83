"""The GAN experiments run their smallest configs end to end and render tables and figures."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from advlab import models
from advlab.experiments import (
    gan_algorithm1,
    gan_architectures,
    inception_curves,
    memorisation,
    progressive_gan,
)
from advlab.gan.learning_rule import LearningRule
from advlab.gan.losses import GOODFELLOW_RULE
from advlab.report import memorisation_figures
from advlab.report.gan_figures import sample_mosaic
from advlab.zoo.context import RunContext


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny networks: one intra-op thread is fastest (and avoids OpenMP spin on shared cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def ctx(tmp_path, monkeypatch):
    """A run context whose 'trained' classifier is an untrained LeNet (training one takes
    longer than these tests; the features only need the right shapes)."""
    from advlab.zoo import cache

    def untrained(ctx, model="lenet", data="mnist-5k", *args, **kwargs):
        torch.manual_seed(0)
        return models.create(model).eval()

    monkeypatch.setattr(cache, "trained_classifier", untrained)
    out = tmp_path / "out"
    out.mkdir()
    return RunContext(out_dir=out, cache_dir=tmp_path / "cache")


def test_gan_algorithm1_smallest(ctx, run_and_render):
    config = dataclasses.replace(gan_algorithm1.Config.quick(), width=4, iters=4, batch_size=32,
                                 eval_every=2, eval_samples=40)
    result, rendered = run_and_render(gan_algorithm1, config, ctx)
    assert [(r.loss, r.k) for r in result.runs] == [
        ("minimax", 1), ("minimax", 5), ("nonsaturating", 1), ("nonsaturating", 5)]
    assert all(r.final["fid"] > 0 and sum(r.classes) == 1000 for r in result.runs)
    assert all(r.curves["step"][-1] == 4 for r in result.runs)
    saved = json.loads(json.dumps(dataclasses.asdict(result)))
    assert set(saved["runs"][0]) == {"name", "status", "seconds", "curves", "final", "samples",
                                     "run_dir", "classes", "loss", "k"}
    assert len(rendered.tables[0].rows) == 4
    # the loss curves: D on the left, G on the right, one line per run
    fig = gan_algorithm1.loss_figure(result)
    assert [ax.get_ylabel() for ax in fig.axes] == ["discriminator loss", "generator loss"]
    assert all(ax.get_xlabel() == "generator iteration" for ax in fig.axes)
    assert [line.get_label() for line in fig.axes[1].get_lines()] == [
        "minimax, k=1", "minimax, k=5", "nonsaturating, k=1", "nonsaturating, k=5"]
    # the sample mosaic: one titled panel per run, k across, each showing its grid
    mosaic = sample_mosaic(ctx.out_dir, [(r.samples, f"{r.loss}, k={r.k}") for r in result.runs],
                           ncols=2)
    assert [ax.get_title() for ax in mosaic.axes] == [
        "minimax, k=1", "minimax, k=5", "nonsaturating, k=1", "nonsaturating, k=5"]
    assert all(len(ax.get_images()) == 1 for ax in mosaic.axes)
    # every run trains with the one learning rule of the config (the authors' by default)
    for name in ("minimax-k1", "nonsaturating-k5"):
        saved = json.loads((ctx.out_dir / "runs" / name / "config.json").read_text())
        assert LearningRule.from_json(saved["rule"]) == GOODFELLOW_RULE


def test_gan_algorithm1_rule_is_overridden_by_field_name():
    from advlab.commands.reproduce import build_config

    config = build_config(gan_algorithm1, "quick", {"lr": "0.05", "final-momentum": "0.9"})
    assert config.rule == GOODFELLOW_RULE.override(lr=0.05, final_momentum=0.9)
    # Adam ignores the momentum ramp; the lr decay and D lr scale stay unless set
    adam = build_config(gan_algorithm1, "quick", {"optimizer": "adam", "lr": "2e-4"})
    assert adam.rule.optimizer == "adam" and adam.rule.has_schedule
    plain = build_config(gan_algorithm1, "quick", {"optimizer": "adam", "lr_decay": "1"})
    assert not plain.rule.has_schedule and plain.rule.at("G", 10, 300)[0] == 0.1


def test_gan_architectures_smallest(ctx, run_and_render):
    config = dataclasses.replace(gan_architectures.Config.quick(), archs=("dcgan", "mlp512"),
                                 width=4, iters=2, batch_size=16, eval_samples=40)
    result, rendered = run_and_render(gan_architectures, config, ctx)
    assert len(result.cells) == 2 * 4
    assert [(c.arch, c.loss) for c in result.cells[:2]] == [("dcgan", "nonsaturating"),
                                                           ("dcgan", "lsgan")]
    assert "curves" not in dataclasses.asdict(result.cells[0])  # final samples only
    verdicts, fid_table = rendered.tables[0], rendered.tables[1]
    assert len(fid_table.rows) == 2 and len(fid_table.columns) == 1 + 4
    # 2 iterations train nothing: every cell is judged "no", and the summary row counts 0/2
    assert len(verdicts.rows) == 2 + 2 and verdicts.rows[-2][1:] == ["0/2"] * 4
    assert all(str(v).startswith("no (FID") for row in verdicts.rows[:-2] for v in row[1:])
    # each architecture has exactly one objective with the lowest FID
    lowest = verdicts.rows[-1][1:]
    assert sum(int(v.split("/")[0]) for v in lowest) == 2
    assert all(sum(c.classes) == 1000 for c in result.cells)
    # nothing trained: the run cannot judge the finding, and its caption says so
    assert gan_architectures.finding_shown(result) is None
    assert "too short to show or refute the finding" in verdicts.caption


def test_gan_architectures_verdict_rule():
    from advlab.experiments.gan_architectures import TRAINED_CLASSES, TRAINED_FID, Cell, trained

    good = Cell(name="dcgan-wgan-gp", status="ok", seconds=1.0, final={"fid": TRAINED_FID - 1},
                samples=None, run_dir="", classes=[100] * 10, arch="dcgan", loss="wgan-gp")
    assert trained(good) is True
    assert trained(dataclasses.replace(good, final={"fid": TRAINED_FID + 1})) is False
    collapsed = [1000] + [0] * 9  # every sample in one class
    assert trained(dataclasses.replace(good, classes=collapsed)) is False
    assert TRAINED_CLASSES > 1 and trained(dataclasses.replace(good, status="diverged")) is False
    assert trained(dataclasses.replace(good, final={})) is None
    assert dataclasses.replace(good, status="diverged").fid is None


def test_gan_architectures_finding_needs_wgan_gp_ahead_of_every_other_objective():
    from advlab.experiments.gan_architectures import Cell, Result, finding_shown, trained_counts

    def cell(arch, loss, fid):
        return Cell(name=f"{arch}-{loss}", status="ok", seconds=1.0, final={"fid": fid},
                    samples=None, run_dir="", classes=[100] * 10, arch=arch, loss=loss)

    fids = {"nonsaturating": (50, 500), "lsgan": (500, 500), "wgan-gp": (50, 50)}
    result = Result([cell(a, lo, f[i]) for lo, f in fids.items() for i, a in
                     enumerate(("dcgan", "mlp512"))])
    assert trained_counts(result) == {"nonsaturating": 1, "lsgan": 0, "wgan-gp": 2}
    assert finding_shown(result) is True
    tie = Result([c for c in result.cells if (c.arch, c.loss) != ("mlp512", "wgan-gp")])
    assert finding_shown(tie) is False  # 1 = 1: not more than each other objective
    assert finding_shown(Result([c for c in result.cells if c.loss != "wgan-gp"])) is None


def test_progressive_speed_compares_at_the_growing_rows_budget():
    from advlab.experiments.progressive_speed import compare, first_reach, value_at

    flat = {"step": [1, 2, 3], "seconds": [10.0, 20.0, 30.0], "gflops": [4.0, 8.0, 12.0],
            "images": [100.0, 200.0, 300.0], "swd_avg": [90.0, 60.0, 30.0]}
    grow = {"step": [1, 2, 3], "seconds": [2.0, 4.0, 6.0], "gflops": [0.5, 1.0, 2.0],
            "images": [100.0, 200.0, 300.0], "swd_avg": [80.0, 70.0, 75.0]}
    assert value_at(flat, "seconds", 15.0) == pytest.approx(75.0)
    assert value_at(flat, "seconds", 5.0) is None  # before its first recording
    assert first_reach(flat, "seconds", 75.0) == pytest.approx(15.0)
    assert first_reach(flat, "seconds", 10.0) is None
    seconds, gflops, images = compare("growing", grow, flat)
    assert (seconds.axis, seconds.budget, seconds.growing_swd) == ("seconds", 6.0, 75.0)
    assert seconds.baseline_swd is None and seconds.shown is None  # beyond flat's run start
    assert seconds.speedup == pytest.approx(15.0 / 6.0)
    assert gflops.baseline_swd is None
    assert images.baseline_swd == 30.0 and images.shown is False
    assert images.speedup == pytest.approx(150.0 / 300.0)


def test_progressive_speed_judgement_gives_the_measured_reason():
    from advlab.experiments.progressive_speed import BudgetComparison, judgement

    flat = {"gflops": [4.0, 8.0, 12.0], "images": [100.0, 200.0, 300.0], "swd_avg": [90.0, 60.0, 30.0]}
    grow = {"gflops": [0.5, 1.0, 2.0], "images": [100.0, 200.0, 300.0], "swd_avg": [80.0, 70.0, 75.0]}
    lost = [BudgetComparison("growing", "gflops", 2.0, 75.0, 80.0, 0.5, True),
            BudgetComparison("growing", "images", 300.0, 75.0, 30.0, 0.5, False)]
    text = judgement(lost, grow, flat)
    assert "equal compute 75.0 vs 80.0 (shown)" in text and "equal images 75.0 vs 30.0 (not shown)" in text
    assert "Measured reason" not in text  # shown at equal compute: nothing to explain
    lost[0] = BudgetComparison("growing", "gflops", 2.0, 75.0, 50.0, 0.8, False)
    text = judgement(lost, grow, flat)
    assert "6.00x less forward compute" in text and "2.50x no growing's at equal images" in text
    assert "0.80x growing's compute" in text
    assert judgement([], grow, flat) == ""  # no comparison judged: no sentence


def test_inception_curves_smallest(ctx, run_and_render):
    config = dataclasses.replace(inception_curves.Config.quick(), width=4, iters=4,
                                 batch_size=16, eval_every=2, eval_samples=40)
    result, rendered = run_and_render(inception_curves, config, ctx)
    assert [r.method for r in result.runs] == list(inception_curves.METHODS)
    for r in result.runs:
        # step 0 is the untrained generator, evaluated before training
        assert r.step == [0.0, 2.0, 4.0] and len(r.wall_seconds) == 3
        assert all(1.0 <= s <= 10.0 for s in r.inception_score)  # 10 classes bound IS
        assert r.wall_seconds[0] == 0.0 < r.wall_seconds[1] < r.wall_seconds[2]
        assert sum(r.classes) == 1000  # class coverage of 1,000 final samples
    # the paper's value sits beside the method it belongs to, None where it gives none
    assert [r.paper_inception_score for r in result.runs] == [None, None, 6.6, None]
    # the real-data floor: real images against real images score a finite, small FID
    assert 0.0 <= result.floor["fid"] < min(r.fid[0] for r in result.runs)
    assert len(rendered.figures) == 3 and len(rendered.tables[0].rows) == len(result.runs) + 1
    assert rendered.tables[0].rows[-1][:4] == ["WGAN-GP ResNet (Table 3)", "paper only", None,
                                               7.86]
    for x_key, x_label in (("step", "generator iterations"),
                           ("wall_seconds", "wall-clock time (s)")):
        (ax,) = inception_curves.curves_figure(result, x_key).axes
        assert ax.get_xlabel() == x_label
        assert ax.get_ylabel() == "Inception score (classifier features)"
        lines = ax.get_lines()
        assert [line.get_label() for line in lines] == list(inception_curves.METHODS)
        assert list(lines[0].get_xdata()) == getattr(result.runs[0], x_key)
    with pytest.raises(ValueError, match="unknown methods"):
        inception_curves.run(dataclasses.replace(config, methods=("BEGAN",)), ctx)


class RecordingProgress:
    """A `Progress` that records which tasks were open when each task started, and how far
    each was advanced."""

    def __init__(self) -> None:
        self.open: list[str] = []
        self.tasks: list[dict] = []

    def task(self, description, total):
        recorder = self

        class Context:
            def __enter__(self):
                entry = {"description": description, "total": total, "done": 0,
                         "inside": list(recorder.open)}
                recorder.tasks.append(entry)
                recorder.open.append(description)

                class Task:
                    def advance(self, n=1, **fields):
                        entry["done"] += n

                return Task()

            def __exit__(self, *exc):
                recorder.open.pop()

        return Context()


def test_inception_curves_reports_training_progress_inside_the_methods(ctx):
    ctx.reporter = RecordingProgress()
    config = dataclasses.replace(inception_curves.Config.demo(),
                                 methods=("DCGAN", "WGAN-GP (Adam)"), width=4, iters=3,
                                 batch_size=16, eval_every=3, eval_samples=40)
    inception_curves.run(config, ctx)
    tasks = ctx.reporter.tasks
    outer = [t for t in tasks if t["description"] == "Figure 3 runs"]
    inner = [t for t in tasks if t["inside"] == ["Figure 3 runs"]]
    assert len(outer) == 1 and outer[0]["total"] == outer[0]["done"] == 2
    # one training task per method, named by it, with a total (an ETA) and run to the end
    assert [t["description"] for t in inner] == ["dcgan", "wgan-gp-adam"]
    assert all(t["total"] == t["done"] == 3 for t in inner)


def test_progressive_gan_smallest(ctx, run_and_render):
    config = dataclasses.replace(progressive_gan.Config.quick(), rows=("no-growing", "pixelnorm"),
                                 width=4, max_width=8, latent_dim=8, stable_images=32,
                                 fade_images=32, final_images=32, batch_size=16, eval_samples=40,
                                 curve_every=5, curve_samples=32)
    result, rendered = run_and_render(progressive_gan, config, ctx)
    rows = {r.row: r for r in result.rows}
    # the same number of real images for both rows: 3 x (32 + 32) + 32 = 224
    assert rows["no-growing"].images == rows["pixelnorm"].images == 224
    for r in result.rows:
        m = r.metrics
        assert m is not None and set(m) == {"swd_32", "swd_16", "swd_avg", "ms_ssim", "fid"}
        assert m["swd_avg"] > 0 and 0 <= m["ms_ssim"] <= 1 and sum(r.classes) == 1000
        # the paper's Table 1 values beside the row: unknown here, so None, never invented
        assert r.paper == progressive_gan.PaperTable1Row()
        assert dataclasses.asdict(r.paper) == dict.fromkeys(
            ["celeba_swd", "celeba_ms_ssim", "lsun_swd", "lsun_ms_ssim"])
    # the full method's samples at the end of every resolution, 4x4 to 32x32 (Figure 1)
    assert sorted(result.snapshots, key=int) == ["4", "8", "16", "32"]
    # (a stabilisation includes the step that starts at exactly 32 images: 0, 16, 32)
    assert [result.snapshot_images[k] for k in ("4", "8", "16")] == [48, 112, 176]
    table = rendered.tables[0]
    assert len(table.rows) == 3 and table.columns[1:3] == ["SWD 32", "SWD 16"]
    assert rendered.tables[2].rows == [["(a) no growing", None, None, None, None],
                                       ["(g) +pixel norm", None, None, None, None]]
    # Figure 4: SWD recorded at steps 5, 10 and the last (14), against time, compute, images
    for r in result.rows:
        assert r.curve["step"] == [5.0, 10.0, 14.0] and r.curve["images"][-1] == 224
        assert all(b > a for key in ("seconds", "gflops") for a, b in
                   zip(r.curve[key], r.curve[key][1:], strict=False))
    grow, flat = rows["pixelnorm"].curve, rows["no-growing"].curve
    # the growing run does its first images at 4x4: far less compute for the same images
    assert grow["gflops"][0] < 0.1 * flat["gflops"][0] and grow["gflops"][-1] < flat["gflops"][-1]
    assert [(c.row, c.axis) for c in result.speed] == [
        ("pixelnorm", "seconds"), ("pixelnorm", "gflops"), ("pixelnorm", "images")]
    equal_images = result.speed[2]
    assert equal_images.baseline_swd == pytest.approx(flat["swd_avg"][-1])
    assert equal_images.shown == (grow["swd_avg"][-1] <= flat["swd_avg"][-1])
    speed = rendered.tables[1]
    assert speed.columns[1] == "budget" and [row[1].split(" (")[0] for row in speed.rows] == [
        "equal wall-clock", "equal compute", "equal images"]
    swd = progressive_gan.speed_figure({"(a)": flat, "(g)": grow})
    assert [ax.get_xlabel() for ax in swd.axes] == [
        "training wall-clock (s)", "forward compute (GFLOP)", "real images seen"]
    assert all([line.get_label() for line in ax.get_lines()] == ["(a)", "(g)"] for ax in swd.axes)
    assert list(swd.axes[1].get_lines()[1].get_xdata()) == grow["gflops"]
    assert "progressive_swd_curves.png" in [f.path for f in rendered.figures]
    # Figure 1: one panel per resolution, smallest first, with the images seen by then
    growth = progressive_gan.growth_figure(result, ctx.out_dir)
    assert [ax.get_title() for ax in growth.axes] == [
        "4x4\nafter 48 images", "8x8\nafter 112 images", "16x16\nafter 176 images",
        f"32x32\nafter {result.snapshot_images['32']} images"]
    assert all(len(ax.get_images()) == 1 for ax in growth.axes)
    # runs are cached: a second run trains nothing and gives the same numbers
    again = progressive_gan.run(config, ctx)
    assert [r.metrics for r in again.rows] == [r.metrics for r in result.rows]


def test_memorisation_of_any_run_and_of_the_progressive_generator(ctx, tmp_path, run_and_render):
    from advlab.gan.config import GANTrainConfig
    from advlab.gan.trainer import train

    run_dir = tmp_path / "dcgan"
    train(GANTrainConfig(loss="nonsaturating", width=4, batch_size=16, data_limit=200, iters=2,
                         sample_every=0, device="cpu"), run_dir, tensorboard=False)
    config = dataclasses.replace(memorisation.Config.quick(), checkpoint=str(run_dir),
                                 n_generated=30, n_heldout=40, shown=4, k=3)
    result, rendered = run_and_render(memorisation, config, ctx)
    assert len(result.distances.generated) == 30 and len(result.distances.heldout) == 40
    assert len(result.neighbours) == 4 and all(len(n) == 3 for n in result.neighbours)
    assert all(0 <= i < 200 for n in result.neighbours for i in n)  # the run's 200 images
    s = result.summary
    # the control copies training images: nearer than the held-out data by far
    assert s.median_copies < 0.2 * s.median_heldout and s.closer_copies > 0.9
    # an untrained generator makes noise: far from every training image
    assert s.ratio_generated > 1 and len(rendered.tables[0].rows) == 3
    assert "No sign of memorisation" in rendered.tables[0].caption
    # Figure 10: one image, its rows named generated, nearest 1..k
    (ax,) = memorisation_figures.neighbours_figure(result, ctx.out_dir).axes
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "generated", "nearest 1", "nearest 2", "nearest 3"]
    assert len(ax.get_images()) == 1 and "(classifier features)" in ax.get_title()
    (ax,) = memorisation_figures.distances_figure(result).axes
    assert ax.get_xlabel() == "distance to the nearest training image (classifier features)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "generated samples", "held-out real images", "copies of training images (+noise 0.02)"]
    pixels = memorisation.run(dataclasses.replace(config, features="pixels"), ctx)
    assert pixels.features == "pixels" and pixels.summary.ratio_generated > 1
    with pytest.raises(ValueError, match="unknown features 'sift'"):
        memorisation.run(dataclasses.replace(config, features="sift"), ctx)
    # without a checkpoint it checks a progressive-gan row, named as Table 1 names them
    with pytest.raises(ValueError, match="unknown row 'full'; valid: no-growing, growing"):
        memorisation.run(memorisation.Config(gan_row="full"), ctx)


def test_sample_mosaic_labels_rows_and_columns_and_marks_failed_cells(tmp_path):
    from advlab.gan.sampling import save_grid

    save_grid(torch.rand(4, 1, 8, 8), tmp_path / "a.png", nrow=2)
    fig = sample_mosaic(tmp_path, [("a.png", "FID 12.0"), (None, "stopped"),
                                   ("a.png", "FID 30.0")], ncols=2,
                        row_labels=["dcgan", "mlp512"], col_labels=["DCGAN", "WGAN-GP"])
    assert len(fig.axes) == 4  # 2 x 2 panels, the last one empty
    assert [ax.get_title() for ax in fig.axes] == ["DCGAN\nFID 12.0", "WGAN-GP\nstopped",
                                                   "FID 30.0", ""]
    assert [len(ax.get_images()) for ax in fig.axes] == [1, 0, 1, 0]
    assert [t.get_text() for t in fig.axes[1].texts] == ["no samples"]
    assert [t.get_text() for t in fig.axes[0].texts] == ["dcgan"]
    assert [t.get_text() for t in fig.axes[2].texts] == ["mlp512"]
