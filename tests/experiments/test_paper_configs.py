"""Every experiment's `paper` configuration, run end to end on stand-ins, so that the
paper-scale path cannot rot unnoticed.

Each config comes from `build_config(module, "paper", overrides)`: the overrides change sizes
only (images, iterations, epochs, grid points; checked below against the paper config), never
the models, datasets, losses or attacks. What the paper path reads from outside is replaced
by `standins`: tiny in-memory datasets under the torchvision names, a tiny ImageFolder tree
for ``folder:imagenet/...`` and ``folder:places365`` (at a small side: 64 px, 80 px where
Inception-v3 needs 75), torchvision architectures with random instead of pretrained weights,
and a random-weight FID Inception file. The run goes through `run_experiment`, the code
behind `advlab reproduce NAME --scale paper`, and must write its JSON and render every figure
and table.

The parametrisation follows `advlab.experiments.EXPERIMENTS`: a new experiment fails here
until it gets its stand-in sizes in PAPER_SIZES (or a reason in CANNOT_RUN).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import standins  # tests/experiments/standins.py: pytest puts this folder on sys.path

from advlab import experiments
from advlab.commands.reproduce import RunSettings, build_config, run_experiment

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("single_thread")]

_GAN = {"iters": "3", "batch_size": "8", "eval_samples": "16"}
_GAN_SCENES = {  # gan-dissection / gan-interventions: the scene GAN and its segmenter
    "gan-iters": "3", "gan-batch_size": "8", "gan-eval_samples": "16", "gan-sample_every": "2",
    "gan-checkpoint_every": "2", "segmenter_images": "48", "segmenter_training-epochs": "1",
    "quality_images": "16", "samples": "16",
}
_PROGRESSIVE = {
    "image_size": "8", "swd_min_resolution": "8", "stable_images": "8", "fade_images": "8",
    "final_images": "8",
    "batch_size": "4", "batch_sizes": "4,4,4,4,4,4", "eval_samples": "16",
}

PAPER_SIZES: dict[str, dict[str, str]] = {
    "classifier-baselines": {"training-epochs": "1", "suite_samples": "4"},
    "deepfool-table": {
        "n_attack": "4", "n_lbfgs": "2", "deepfool-steps": "3", "lbfgs-search_steps": "2",
        "lbfgs-max_iter": "3", "training-epochs": "1", "suite_samples": "4",
    },
    "fgsm-figure": {"training-epochs": "1"},
    "universal": {
        "n_fit": "4", "n_eval": "4", "attack-max_passes": "1", "attack-inner-steps": "3",
        "fit_sizes": "4", "training-epochs": "1",
    },
    "transfer-table": {"n": "2", "candidates": "6", "attack-steps": "2", "training-epochs": "1",
                       "lams": "0.005"},  # the paper's lam alone: one point of the sweep
    "decision-regions": {"grid": "5", "training-epochs": "1"},
    "spatial-table": {
        "rotations": "3", "translations": "3", "random_tries": "2", "pgd_steps": "2",
        "n_test": "4", "training-epochs": "1",
    },
    "spatial-landscape": {
        "examples": "1", "rotation_steps": "5", "translation_steps": "3", "grid-rotations": "3",
        "grid-translations": "3", "training-epochs": "1",
    },
    "eot-table": {
        "n_images": "1", "attack-inner-steps": "2", "attack-draws": "2", "eval_transforms": "4",
        "training-epochs": "1",
    },
    "rp2-table": {
        "n_objects": "2", "attack-steps": "2", "attack-mask_steps": "2", "attack-draws": "2",
        "training-epochs": "60",  # lenet-cifar must recognise class 14 of the stand-in gtsrb
    },
    "wong-table": {"training-epochs": "1", "robust_epochs": "1", "n_test": "4", "pgd_steps": "2",
                   "suite_samples": "4"},
    "certify-methods": {
        "samples": "2,2,2", "training-epochs": "1", "robust_epochs": "1", "alpha_steps": "2",
        "pgd_steps": "2",
    },
    "sparsity-curves": {"pgd_steps": "2", "training-epochs": "1", "suite_samples": "4"},
    "sparsity-table": {"pgd_steps": "2", "cnn_training-epochs": "1", "suite_samples": "4"},
    "gan-algorithm1": {"iters": "3", "batch_size": "8", "eval_every": "2", "eval_samples": "16"},
    # 28 cells, each scored twice by Inception-v3 at 299 px (untrained and final generator):
    # the smallest sizes that still train every cell and compute every FID (the 2048 x 2048
    # matrix square root per FID is a fixed cost)
    "gan-architectures": {"iters": "2", "batch_size": "4", "eval_samples": "4"},
    "inception-curves": {**_GAN, "eval_every": "2"},
    "progressive-gan": dict(_PROGRESSIVE),
    "memorisation": {"n_generated": "8", "n_heldout": "8", "shown": "2"},
    "classifier-dissection": {
        "images": "6", "ranking_images": "6", "random_draws": "1", "example_units": "2",
        "top_images": "2",
    },
    "gan-dissection": {
        **_GAN_SCENES, "classifier_samples": "16", "per_side": "8", "counterexamples": "2",
        "grid": "4", "example_units": "2", "top_images": "2",
    },
    "gan-interventions": {
        **_GAN_SCENES, "dissect_samples": "16", "insertion_samples": "16", "random_draws": "1",
        "door_units": "4", "examples": "2",
    },
}
"""Experiment -> the size overrides (option grammar) that make its paper config small."""

CANNOT_RUN: dict[str, str] = {
}
"""Experiment -> why its paper config does not yet run on stand-ins at its sizes in
PAPER_SIZES (the test is a strict xfail: it fails as soon as the experiment runs, so the entry
cannot outlive its reason)."""

FOLDER_SIDE: dict[str, int] = {"eot-table": 80}  # torchvision's Inception-v3 needs >= 75 px
"""Side of the stand-in ImageFolder images (default 64: AlexNet's smallest input is 63)."""

SIZE_NAMES = frozenset({
    "epochs", "n_attack", "n_lbfgs", "steps", "search_steps", "max_iter", "n_fit", "n_eval",
    "max_passes", "fit_sizes", "n", "candidates", "grid", "rotations", "translations",
    "random_tries", "pgd_steps", "n_test", "examples", "rotation_steps", "translation_steps",
    "n_images", "draws", "eval_transforms", "n_objects", "mask_steps", "robust_epochs", "iters",
    "batch_size", "batch_sizes", "eval_every", "eval_samples", "sample_every",
    "checkpoint_every", "segmenter_images", "quality_images", "samples", "image_size",
    "stable_images", "fade_images", "final_images", "n_generated", "n_heldout", "shown",
    "images", "ranking_images", "random_draws", "example_units", "top_images",
    "classifier_samples", "per_side", "counterexamples", "dissect_samples",
    "insertion_samples", "door_units", "swd_min_resolution", "alpha_steps", "suite_samples",
    "curve_samples", "curve_every", "lams",
})
"""The config fields an override may change: how many images, steps, epochs, grid points."""


def _leaves(config: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            yield from _leaves(value, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", value


def _folder_overrides(config: Any, root: Path, side: int) -> dict[str, str]:
    """Top-level fields naming ``folder:`` data, pointed at the stand-in trees."""
    overrides: dict[str, str] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        texts = value if isinstance(value, tuple) else (value,)
        if any(isinstance(t, str) and "folder:" in t for t in texts):
            moved = [standins.folder_standin(t, root, side) for t in texts]
            assert all("," not in t for t in moved), "a comma in the temporary path"
            overrides[f.name] = ",".join(moved)
    return overrides


def _check_sizes_only(paper: Any, small: Any, root: Path, side: int) -> None:
    """Every field that differs from the paper config is a size, or a ``folder:`` name moved
    to the stand-in tree."""
    small_leaves = dict(_leaves(small))
    for path, value in _leaves(paper):
        if small_leaves[path] == value:
            continue
        texts = value if isinstance(value, tuple) else (value,)
        if all(isinstance(t, str) for t in texts):
            moved = tuple(standins.folder_standin(t, root, side) for t in texts)
            if moved == (small_leaves[path] if isinstance(value, tuple) else (small_leaves[path],)):
                continue
        assert path.rsplit(".", 1)[-1] in SIZE_NAMES, f"override changes {path}, not a size"


def paper_config_on_standins(name: str, root: Path) -> Any:
    """The paper config of `name` with PAPER_SIZES and the stand-in folders."""
    module = experiments.get(name)
    paper = build_config(module, "paper")
    side = FOLDER_SIDE.get(name, 64)
    overrides = {**_folder_overrides(paper, root, side), **PAPER_SIZES[name]}
    small = build_config(module, "paper", overrides)
    _check_sizes_only(paper, small, root, side)
    return small


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return standins.write_image_folders(tmp_path_factory.mktemp("image-folders"))


@pytest.fixture(scope="module")
def inception_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inception") / "inception-standin.pth"
    with pytest.MonkeyPatch.context() as patch:
        return standins.write_inception_weights(path, patch)


@pytest.fixture(scope="module")
def paper_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model cache for this file: stand-in models never meet other tests' models."""
    return tmp_path_factory.mktemp("paper-cache")


def test_every_experiment_has_stand_in_sizes() -> None:
    registered = set(experiments.names())
    assert set(CANNOT_RUN) <= set(PAPER_SIZES), "an excused experiment still runs at its sizes"
    assert set(PAPER_SIZES) | set(CANNOT_RUN) == registered, (
        f"missing: {sorted(registered - set(PAPER_SIZES) - set(CANNOT_RUN))}; "
        f"stale: {sorted((set(PAPER_SIZES) | set(CANNOT_RUN)) - registered)}"
    )


def test_an_override_that_changes_structure_is_refused(tmp_path: Path) -> None:
    paper = build_config(experiments.get("wong-table"), "paper")
    changed = build_config(experiments.get("wong-table"), "paper", {"model": "lenet"})
    smaller = build_config(experiments.get("wong-table"), "paper", {"n_test": "4"})
    _check_sizes_only(paper, smaller, tmp_path, 64)
    with pytest.raises(AssertionError, match="changes model"):
        _check_sizes_only(paper, changed, tmp_path, 64)


def _params() -> list[Any]:
    marks = {n: pytest.mark.xfail(reason=CANNOT_RUN[n], strict=True) for n in CANNOT_RUN}
    return [pytest.param(n, marks=marks.get(n, ())) for n in experiments.names()]


@pytest.mark.parametrize("name", _params())
def test_paper_config_runs_on_standins(
    name: str, folders: Path, paper_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    if name not in PAPER_SIZES:
        pytest.fail(f"experiment {name!r} has no stand-in sizes in PAPER_SIZES")
    standins.patch_datasets(monkeypatch)
    standins.patch_pretrained_weights(monkeypatch)
    monkeypatch.setenv("ADVLAB_CACHE", str(paper_cache))
    config = paper_config_on_standins(name, folders)
    leaves = list(_leaves(config))
    if name == "memorisation":  # it checks the progressive-gan generator at gan_scale paper
        progressive = experiments.get("progressive-gan")
        small = paper_config_on_standins("progressive-gan", folders)
        monkeypatch.setattr(progressive.Config, "paper", classmethod(lambda cls: small))
        leaves += _leaves(small)
    if any(value == "inception" for _, value in leaves):  # FID / IS features
        inception_file = request.getfixturevalue("inception_file")
        monkeypatch.setenv(standins.INCEPTION_WEIGHTS_ENV, str(inception_file))
    settings = RunSettings(cache_dir=paper_cache, data_root=tmp_path / "no-data")
    outcome = run_experiment(name, config, "paper", tmp_path, settings)
    assert outcome.rendered is not None
    payload = json.loads((outcome.out_dir / "result.json").read_text())
    assert payload["scale"] == "paper" and payload["result"]
    assert outcome.rendered.tables and outcome.rendered.figures
    for figure in outcome.rendered.figures:
        assert (outcome.out_dir / figure.path).is_file(), figure.path
    for table in outcome.rendered.tables:
        assert table.rows, table
