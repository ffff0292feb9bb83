"""Progressive growing of GANs (Karras et al. 2018): the lecture's Figure 1 (both networks grow
from 4x4 to the final resolution, new layers fading in) and the paper's Table 1 ablation, with
the paper's metrics: sliced Wasserstein distance on Laplacian-pyramid patches per level, the
MS-SSIM between generated pairs (variation) and, beside them, FID with classifier features.

Every row trains `advlab gan train --loss wgan-gp-drift --arch progressive` (WGAN-GP with the
drift term, Adam 1e-3 (0, 0.99), EMA of G: 0.999 at paper scale, 0.99 for the 100x shorter
quick runs) for the same number of real images. The rows
follow Table 1 cumulatively: (a) no growing and none of the paper's additions (the training
configuration the paper starts from is Gulrajani et al. 2017's; here the same networks without
growing, minibatch stddev, equalised lr or pixel norm), (b) + progressive growing, (e) +
minibatch stddev, (f) + equalised learning rate, (g) + pixelwise normalisation: the full
method. The paper's rows (c) small minibatch, (d) revised training parameters and (e*)
minibatch discrimination are not reproduced.

Quick scale: mnist-5k zero-padded to 32x32 (real digits, black border), 4 -> 8 -> 16 -> 32 px,
small widths and 3,000 images per phase (minutes on a 2-core CPU); the paper trained
CelebA and LSUN bedrooms at 128x128 (paper scale: CelebA at 128 through torchvision).

The paper's claim is quality and speed (Figure 4: a given SWD is reached sooner with growing),
so every row records SWD against training time, compute and images (`progressive_speed`), and
(b) meets (a) at its own final budget of each. Rule, fixed before the runs: shown at a budget
when (b)'s final SWD is at or below (a)'s in at least 2 of 3 seeds; not shown at equal compute
or images in seeds 0-2, and the caption gives each run's measured reason (README).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from advlab.experiments.base import ExperimentConfig
from advlab.experiments.progressive_speed import (
    BudgetComparison,
    Curve,
    chain_hooks,
    compare,
    curve_hook,
    images_of,
    judgement,
    read_curve,
    speed_figure,
    speed_table,
)
from advlab.gan.config import GANTrainConfig
from advlab.gan.growth import GrowthSchedule, phase_at
from advlab.report.figures import save_figure
from advlab.report.gan_figures import resolution_row, save_sample_mosaic
from advlab.report.rendered import Figure, Rendered
from advlab.report.tables import Table
from advlab.zoo.context import RunContext
from advlab.zoo.gan_runs import GANRun, cached_run_dir, feature_network, run_gan
from advlab.zoo.memorisation import classifier_for_padded

NAME = "progressive-gan"
TITLE = "Progressive growing of GANs: samples per resolution and the Table 1 ablation"
PAPER = "Karras et al. 2018 (arXiv:1710.10196), Figure 1 and Table 1"

# row -> (Table 1 label, progressive growing, minibatch-stddev group, equalised lr, pixel norm)
ROWS: dict[str, tuple[str, bool, int, bool, bool]] = {
    "no-growing": ("(a) no growing, none of the additions", False, 0, False, False),
    "growing": ("(b) + progressive growing", True, 0, False, False),
    "mbstd": ("(e) + minibatch stddev", True, 4, False, False),
    "eqlr": ("(f) + equalized learning rate", True, 4, True, False),
    "pixelnorm": ("(g) + pixelwise normalization", True, 4, True, True),
}
FULL_ROW = "pixelnorm"
SHORT_LABELS: dict[str, str] = {"no-growing": "(a) no growing", "growing": "(b) +growing",
                                "mbstd": "(e) +mbstd", "eqlr": "(f) +eq. lr",
                                "pixelnorm": "(g) +pixel norm"}


@dataclass(frozen=True)
class PaperTable1Row:
    """One row of the paper's Table 1 (CelebA and LSUN bedroom at 128x128; SWD x 1e3 averaged
    over the pyramid levels, MS-SSIM of generated pairs); None = not known here."""

    celeba_swd: float | None = None
    celeba_ms_ssim: float | None = None
    lsun_swd: float | None = None
    lsun_ms_ssim: float | None = None


# The values could not be read from the stored copies of the paper available to this
# session, so every cell stays None rather than be written from memory.
PAPER_TABLE1: dict[str, PaperTable1Row] = {row: PaperTable1Row() for row in ROWS}


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Each row trains the progressive networks for the same number of real images: growth
    from `initial_resolution` with `stable_images` per stabilisation and `fade_images` per
    fade-in, then `final_images` at the final resolution (the no-growing row trains all of
    them at the final resolution). width: feature maps at the final resolution (doubling per
    halving, capped at max_width); batch_size: the minibatch at every resolution (or
    `batch_sizes` per resolution 4, 8, ...); metrics on `eval_samples` generated images
    against as many training images (SWD), test images (FID) and pairs of them (MS-SSIM).

    Quick scale (the defaults): 750 generator iterations per row. EMA 0.99 rather than the
    paper's 0.999: the EMA starts from the initial weights, which keep 0.999^750 = 47% of a
    750-step run's average (0.99^750 < 0.1%); the paper's runs are 100x longer.

    curve_every: generator steps between the SWD recordings of the Figure 4 curves (and at
    the last step; 0 = none), each on `curve_samples` samples against as many training
    images."""

    data: str = "mnist-5k"
    image_pad: int = 2
    image_size: int = 0  # 0 = the dataset's (before padding)
    rows: tuple[str, ...] = tuple(ROWS)
    width: int = 8
    max_width: int = 64
    latent_dim: int = 64
    initial_resolution: int = 4
    stable_images: int = 3000
    fade_images: int = 3000
    final_images: int = 6000
    batch_size: int = 32
    batch_sizes: tuple[int, ...] = ()
    ema_decay: float = 0.99
    eval_samples: int = 1000
    swd_min_resolution: int = 16
    curve_every: int = 50
    curve_samples: int = 256
    features: str = "classifier"
    seed: int = 0

    @classmethod
    def demo(cls) -> Config:
        # the full method only, 800 images per phase: the growth and the Figure 1 layout
        return cls(rows=(FULL_ROW,), stable_images=800, fade_images=800, final_images=1600,
                   eval_samples=256)

    @classmethod
    def paper(cls) -> Config:
        # CelebA at 128x128 (Table 1), the official networks (fmap_base 8192, fmap_max 512:
        # 128 maps at 128 px), schedule, minibatch sizes (config.py preset-v2-1gpu) and EMA
        return cls(data="celeba", image_pad=0, image_size=128, width=128, max_width=512,
                   latent_dim=512, stable_images=600_000, fade_images=600_000,
                   final_images=2_000_000, batch_sizes=(128, 128, 128, 64, 32, 16),
                   ema_decay=0.999, eval_samples=10_000, curve_every=2_000,
                   curve_samples=2_048, features="inception")


@dataclass(kw_only=True)
class TableRow(GANRun):
    """One Table 1 row: the `GANRun` summary; row / label: its key in ROWS and Table 1 label;
    images: real images its discriminator saw; metrics: "swd_<px>" per pyramid level,
    "swd_avg" (x 1e3), "ms_ssim", "fid" of its samples (None: no generator left); paper: the
    paper's values of this row; curve: its SWD against time, compute and images
    (`progressive_speed.Curve`; empty when not recorded)."""

    row: str
    label: str
    images: int
    metrics: dict[str, float | None] | None = None
    paper: PaperTable1Row = field(default_factory=PaperTable1Row)
    curve: Curve = field(default_factory=dict)


@dataclass
class Result:
    """rows: one per training configuration; snapshots: {resolution: grid PNG} of the full
    method at the end of each resolution's stabilisation, snapshot_images: {resolution: real
    images seen then}; real: the metrics of real images (training against test images);
    speed: every growing row against the row without growing at equal wall-clock, compute
    and images (Figure 4; empty without a no-growing row or curves)."""

    rows: list[TableRow] = field(default_factory=list)
    speed: list[BudgetComparison] = field(default_factory=list)
    snapshots: dict[str, str] = field(default_factory=dict)
    snapshot_images: dict[str, int] = field(default_factory=dict)
    real: dict[str, float | None] = field(default_factory=dict)


def final_resolution(config: Config) -> int:
    from advlab.data import info

    size = config.image_size or info(config.data).shape[-1]
    return size + 2 * config.image_pad


def row_config(config: Config, row: str, ctx: RunContext) -> GANTrainConfig:
    """The `advlab gan train` config of one Table 1 row."""
    if row not in ROWS:
        raise ValueError(f"unknown row {row!r}; valid: {', '.join(ROWS)}")
    _, growing, mbstd, equalized, pixel = ROWS[row]
    size = final_resolution(config)
    growth = GrowthSchedule(initial_resolution=config.initial_resolution,
                            stable_images=config.stable_images, fade_images=config.fade_images,
                            batch_sizes=config.batch_sizes)
    total = growth.images_to_final(size) + config.final_images  # the same for every row
    if not growing:
        growth = GrowthSchedule(initial_resolution=size, stable_images=0, fade_images=0,
                                batch_sizes=config.batch_sizes)
    iters = growth.iterations_to(total, size, config.batch_size)
    return GANTrainConfig(
        loss="wgan-gp-drift", arch="progressive", data=config.data,
        image_size=config.image_size or None, image_pad=config.image_pad,
        width=config.width, latent_dim=config.latent_dim, batch_size=config.batch_size,
        iters=iters, ema_decay=config.ema_decay, eval_every=0, sample_every=0,
        checkpoint_every=max(1, iters // 4), seed=config.seed, device=str(ctx.device),
    ).with_options(
        initial_resolution=growth.initial_resolution, stable_images=growth.stable_images,
        fade_images=growth.fade_images, batch_sizes=growth.batch_sizes,
        max_width=config.max_width, mbstd_group=mbstd, equalized_lr=equalized, pixel_norm=pixel)


def _snapshot_hook(cfg: GANTrainConfig, size: int, folder: Path, n: int = 36):
    """An on_step hook saving `n` samples of the training generator G (not its EMA, which
    after the 94 steps of the quick 4x4 phase still holds 0.99^94 = 39% of the initial
    weights, and of the newest layers at every phase) at the working resolution at
    the last step of every stabilisation and at the end (the Figure 1 panels)."""
    from advlab.gan.realdata import seed_for
    from advlab.gan.sampling import generate, sample_latent, save_grid

    growth = cfg.growth_schedule()
    assert growth is not None
    z = sample_latent(n, cfg.latent_dim, cfg.latent_prior,
                      torch.Generator().manual_seed(seed_for(cfg.seed, "snapshots")))
    counts: dict[str, int] = {}

    def hook(step: int, parts: dict[str, Any]) -> None:
        progress = parts["progress"]
        stage = progress.growth_stage  # this step's: even = stable, at initial * 2^(stage/2)
        upcoming = phase_at(growth, progress.images_seen, size).stage
        if stage % 2 or (upcoming == stage and step < cfg.iters):
            return
        resolution = growth.initial_resolution * 2 ** (stage // 2)
        generator = parts["G"]
        with torch.no_grad():  # G is mid-training: no graph, its weights and mode untouched
            images = generate(generator, z.to(next(generator.parameters()).device))  # (n, C, S, S)
        factor = size // resolution
        # exact: the output is the working-resolution image, nearest-upsampled
        working = F.avg_pool2d(images, factor) if factor > 1 else images
        save_grid(working, folder / f"res_{resolution}.png", nrow=6)
        counts[str(resolution)] = progress.images_seen
        (folder / "images_seen.json").write_text(json.dumps(counts))

    return hook


def run(config: Config, ctx: RunContext) -> Result:
    """Train every row, score it (SWD per level, MS-SSIM, FID, classes) and keep the full
    method's samples per resolution."""
    from advlab.gan.metrics import GenerativeScores
    from advlab.gan.realdata import load_real_images

    unknown = [r for r in config.rows if r not in ROWS]
    if unknown:
        raise ValueError(f"unknown rows {unknown}; valid: {', '.join(ROWS)}")
    classifier = feature_network(ctx, config.data, config.features)
    features = classifier_for_padded(classifier, config.image_pad)
    probe = row_config(config, config.rows[0], ctx)
    train_images = load_real_images(probe)[: config.eval_samples].to(ctx.device)
    test_images = load_real_images(probe, "test")[: config.eval_samples].to(ctx.device)
    n = min(config.eval_samples, train_images.shape[0], test_images.shape[0])
    scores = GenerativeScores(features, seed=config.seed)
    scores.extractor.to(ctx.device).eval()
    scores.add_real(test_images[:n])
    size = final_resolution(config)
    # real images scored as if generated: the training images against the test images
    result = Result(real=_image_metrics(train_images[:n], test_images[:n], scores, config))
    for row in ctx.progress(config.rows, "Table 1 rows"):
        cfg = row_config(config, row, ctx)
        run_dir = cached_run_dir(ctx, cfg)
        folder = run_dir / "snapshots"
        curve_path = run_dir / "swd_curve.json"
        if config.curve_every and not curve_path.is_file() and run_dir.is_dir():
            shutil.rmtree(run_dir)  # trained without its curve: train again, recording it
        hooks = [_snapshot_hook(cfg, size, folder)] if row == FULL_ROW else []
        if config.curve_every:
            m = min(config.curve_samples, train_images.shape[0])
            hooks.append(curve_hook(cfg.iters, config.curve_every, cfg.latent_dim,
                                    train_images[:m], curve_path, config.swd_min_resolution,
                                    config.seed))
        summary = run_gan(ctx, cfg, row, features, n_grid=36, on_step=chain_hooks(hooks),
                          cache=True)
        entry = TableRow(**summary.summary_fields(), row=row, label=ROWS[row][0],
                         images=images_of(cfg, size), paper=PAPER_TABLE1[row],
                         curve=read_curve(curve_path))
        if entry.samples is not None:
            from advlab.gan.metrics import generate_images
            from advlab.gan.state import load_generator

            G, _ = load_generator(entry.run_dir, ctx.device)
            fake = generate_images(G, n, latent_dim=cfg.latent_dim, seed=config.seed + 11,
                                   prior=cfg.latent_prior)  # type: ignore[arg-type]
            entry.metrics = _image_metrics(fake, train_images[:n], scores, config)
        if row == FULL_ROW and folder.is_dir():
            for png in sorted(folder.glob("res_*.png")):
                target = ctx.out_dir / f"progressive_{png.name}"
                shutil.copyfile(png, target)
                result.snapshots[png.stem.split("_")[1]] = target.name
            counts = folder / "images_seen.json"
            if counts.is_file():
                result.snapshot_images = json.loads(counts.read_text())
        result.rows.append(entry)
    curves = {r.row: r.curve for r in result.rows}
    if "no-growing" in curves:
        for r in result.rows:
            if ROWS[r.row][1]:  # a growing row
                result.speed.extend(compare(r.row, r.curve, curves["no-growing"]))
    return result


@torch.no_grad()
def _image_metrics(images: torch.Tensor, swd_reference: torch.Tensor, scores: Any,
                   config: Config) -> dict[str, float | None]:
    """Metrics of `images` (N, C, S, S) in [0, 1]: SWD x 1e3 per level against `swd_reference`
    (the training images), MS-SSIM of consecutive pairs (None below its 16 px: 5 scales), FID
    against the test images whose features `scores` holds."""
    from advlab.gan.ms_ssim import MIN_SIZE, generated_pairs_ms_ssim
    from advlab.gan.sliced_wasserstein import sliced_wasserstein_distance, swd_columns

    swd = sliced_wasserstein_distance(swd_reference, images,
                                      min_resolution=config.swd_min_resolution, seed=config.seed)
    scores.reset_fake()
    scores.add_fake(images)
    variation = generated_pairs_ms_ssim(images) if min(images.shape[-2:]) >= MIN_SIZE else None
    return {**swd_columns(swd), "ms_ssim": variation, "fid": scores.compute()["fid"]}


def growth_figure(result: Result, out_dir: Path) -> Any:
    """The matplotlib Figure of the full method's samples at the end of every resolution's
    stabilisation (the snapshot PNGs in out_dir), smallest resolution first."""
    return resolution_row(out_dir, result.snapshots, result.snapshot_images)


def render(result: Result, out_dir: Path) -> Rendered:
    """The Table 1 layout (ours beside the paper's), the Figure 4 comparison at equal budgets
    and its SWD curves, the samples per resolution (Figure 1) and the final samples of every
    row."""
    levels = sorted({k for r in result.rows for k in (r.metrics or {}) if k.startswith("swd_")
                     and k != "swd_avg"}, key=lambda k: -int(k.split("_")[1]))
    metric_keys = [*levels, "swd_avg", "ms_ssim", "fid"]
    rows: list[list[Any]] = []
    for r in result.rows:
        m = r.metrics or {}
        label = SHORT_LABELS[r.row]
        if r.status != "ok":
            label += f" (stopped: {r.status})"
        rows.append([label, *[m.get(k) for k in metric_keys],
                     sum(c > 0 for c in r.classes) if r.classes else None])
    rows.append(["real: train vs test", *[result.real.get(k) for k in metric_keys], None])
    images = result.rows[0].images if result.rows else 0
    wall_times = ", ".join(f"{SHORT_LABELS[r.row][:3]} {r.seconds:.0f}" for r in result.rows
                           if r.seconds is not None)
    ours = Table(
        "Table 1 layout, ours (mnist-5k padded to 32x32): SWD x 1e3 per level, MS-SSIM, FID",
        ["configuration", *[f"SWD {k.split('_')[1]}" for k in levels], "SWD avg", "MS-SSIM",
         "FID", "classes"], rows,
        caption=f"Each row trained on {images:,} real images. "
        + "Rows: " + "; ".join(ROWS[r.row][0] for r in result.rows) + ". SWD between "
        "generated and training images (7x7 patches, 128 per image per "
        "level, 512 directions; columns by pyramid level in px), MS-SSIM between consecutive "
        "generated pairs (lower = more varied; the real row gives test-image pairs), FID "
        "against test images with the features of a LeNet trained on the same digits, "
        "classes = digit classes among 1,000 samples. Lower SWD and FID are better. "
        "Training wall time (seconds, under the machine's load when each row trained): "
        + wall_times + ".",
    )
    paper_rows = [[SHORT_LABELS[r.row], r.paper.celeba_swd, r.paper.celeba_ms_ssim,
                   r.paper.lsun_swd, r.paper.lsun_ms_ssim] for r in result.rows]
    paper = Table(
        "Table 1 of Karras et al. 2018, the same rows (CelebA / LSUN bedroom at 128x128)",
        ["configuration", "CelebA SWD avg", "CelebA MS-SSIM", "LSUN SWD avg", "LSUN MS-SSIM"],
        paper_rows,
        caption="The paper's Table 1 values are not filled in here (cells left empty).",
    )
    tables = [ours, paper]
    figures = []
    curves = {SHORT_LABELS[r.row]: r.curve for r in result.rows if r.curve}
    if curves:
        save_figure(speed_figure(curves), out_dir / "progressive_swd_curves.png")
        figures.append(Figure("progressive_swd_curves.png",
                              "SWD avg of every row against training wall-clock, forward "
                              "compute and images seen (the paper's Figure 4b layout)"))
    if result.speed:
        by_row = {r.row: r.curve for r in result.rows}
        verdict = judgement(result.speed, by_row.get("growing"), by_row.get("no-growing"))
        tables.insert(1, speed_table(result.speed, SHORT_LABELS, verdict))
    if result.snapshots:
        save_figure(growth_figure(result, out_dir), out_dir / "progressive_growth.png")
        figures.append(Figure("progressive_growth.png",
                              "Samples of the full method at the end of each resolution's "
                              "stabilisation, from the training generator (the lecture's Figure 1 "
                              "layout); the final samples below come from its EMA"))
    cells = [(r.samples, r.label) for r in result.rows]
    if cells:
        figures.append(Figure(save_sample_mosaic(out_dir, cells, ncols=len(cells),
                                                 filename="progressive_rows_samples.png"),
                              "Final samples of every Table 1 row (same latents)"))
    return Rendered(tables, figures)
