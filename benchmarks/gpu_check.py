"""`make gpu-check`: one prepared pass over the CUDA paths, for the day a GPU is lent.

Each check runs on the CPU and, when torch sees a CUDA device, on cuda:0, with the same
inputs, and is judged the same way on both: outputs on the input's device, finite, inside
the threat model and bounds; certified bounds containing the outputs of sampled points;
GAN losses finite; the torchrun launches exiting 0 with a result.json.

1. every attack of `advlab.attacks.ATTACKS` and `ENSEMBLE_ATTACKS` (test-sized parameters;
   a newly registered attack without parameters here runs with its defaults);
2. certification: interval bounds, the Wong-Kolter dual network (exact and with random
   projections), the robust loss with its backward pass, and CROWN / alpha-CROWN when
   `advlab.defenses.certify` has them;
3. GAN training, a few WGAN-GP iterations of the DCGAN pair, in float32 and (CUDA only) with
   bfloat16 autocast (`GANTrainConfig.amp`);
4. `torchrun --nproc_per_node=1 -m advlab attack|certify --device cuda` (one rank: the
   launcher path; a process group needs two ranks), and an NCCL process group of one rank
   with an all-reduce on the GPU.

Times are medians of interleaved repeats after a warm-up (CUDA synchronised), so the CPU/GPU
column ratio is measured side by side in one run. The table is printed and written to
benchmarks/results/gpu_check.md and .json. Without CUDA only the CPU column runs and the
report says that no GPU is present. Exit status: 1 when a check failed, else 0.

Run: python -m benchmarks.gpu_check [--samples 64] [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import RESULTS
from benchmarks.gpu_check_report import Row, table
from benchmarks.gpu_check_torchrun import torchrun_rows

# test-sized parameters of every registered attack (the PGD inside EOT is built below)
ATTACK_PARAMS: dict[str, dict[str, Any]] = {
    "fgsm": {"eps": 0.2},
    "pgd": {"eps": 0.2, "steps": 10},
    "deepfool": {"steps": 20},
    "lbfgs": {"search_steps": 3, "max_iter": 5},
    "locally-linear": {"eps": 0.2},
    "spatial-grid": {"rotations": 7, "translations": 3},
    "spatial-random": {"tries": 10},
    "spatial-pgd": {"steps": 10},
    "eot": {"draws": 4},
    "rp2": {"steps": 20, "mask_steps": 10, "sticker_size": (0.5, 0.5)},
    "apgd": {"eps": 0.2, "steps": 10},
    "apgd-t": {"eps": 0.2, "steps": 10, "n_target_classes": 3},
    "fab": {"eps": 0.2, "steps": 10, "n_target_classes": 3},
    "square": {"eps": 0.2, "queries": 100},
}
OPTIONAL_BOUNDS = ("crown", "alpha_crown")  # certify modules that may not exist yet
EPS = 0.1


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], Any], device: torch.device, repeats: int) -> tuple[float, Any]:
    """(median seconds over `repeats` calls after one warm-up, the last output)."""
    out = fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        out = fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


Work = Callable[[torch.device], tuple[Callable[[], Any], Callable[[Any], None]]]


def _run_row(row: Row, devices: list[torch.device], repeats: int, work: Work) -> Row:
    """work(device) -> (call, check): time `call` on each device, then `check` its output."""
    for device in devices:
        try:
            call, check = work(device)
            row.seconds[device.type], out = _timed(call, device, repeats)
            check(out)
        except Exception as error:  # a check reports, the pass goes on
            row.errors[device.type] = f"{type(error).__name__}: {error}"[:300]
            traceback.print_exc(file=sys.stderr)
    return row


# ---------------------------------------------------------------- inputs


def _classifier(name: str, device: torch.device, seed: int = 0) -> torch.nn.Module:
    from advlab import models
    from advlab.zoo.cache import model_args_for

    torch.manual_seed(seed)  # the same random weights on every device
    return models.create(name, **model_args_for(name, "mnist-5k")).to(device).eval()


def _images(samples: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    from advlab import data

    x, y = data.as_tensors(data.load("mnist-5k", "test"), limit=samples, seed=0)
    return x.to(device), y.to(device)  # (N, 1, 28, 28) in [0, 1], (N,)


def _check_attack(x: torch.Tensor) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        adv = result.x_adv
        assert adv.device == x.device, f"x_adv on {adv.device}, input on {x.device}"
        assert adv.shape == x.shape and torch.isfinite(adv).all(), "x_adv not finite"
        assert adv.min() >= 0 and adv.max() <= 1, "x_adv outside the bounds [0, 1]"
        assert result.success.device == x.device and result.success.dtype == torch.bool

    return check


def attack_rows(devices: list[torch.device], samples: int, repeats: int) -> list[Row]:
    from advlab.attacks import (
        ATTACKS,
        ENSEMBLE_ATTACKS,
        PGD,
        create_attack,
        create_ensemble_attack,
    )

    rows = []
    for name in ATTACKS.names():
        params = dict(ATTACK_PARAMS.get(name, {}))
        if name == "eot":
            params["inner"] = PGD(eps=0.2, steps=5)

        def work(device: torch.device, name: str = name, params: dict = params) -> Any:
            model, (x, y) = _classifier("lenet", device), _images(samples, device)
            attack = create_attack(name, **params)
            generator = torch.Generator(device=device)

            def call() -> Any:
                generator.manual_seed(0)
                return attack(model, x, y, generator=generator)

            return call, _check_attack(x)

        note = "" if name in ATTACK_PARAMS else "default parameters (add test sizes here)"
        rows.append(_run_row(Row("attack", name, note=note), devices, repeats, work))
    ensemble_params = {"ensemble": {"lam": 0.05, "steps": 20, "lr": 0.05},
                       "on-ensemble": {"attack": PGD(eps=0.2, steps=10)}}
    for name in ENSEMBLE_ATTACKS.names():
        def work_ensemble(device: torch.device, name: str = name) -> Any:
            pair = ("lenet", "fc500-150-10")
            members = [_classifier(m, device, seed) for seed, m in enumerate(pair)]
            attack = create_ensemble_attack(name, **ensemble_params.get(name, {}))
            x, y = _images(samples, device)
            return (lambda: attack(members, x, y)), _check_attack(x)

        rows.append(_run_row(Row("attack", f"ensemble: {name}"), devices, repeats, work_ensemble))
    return rows


# ---------------------------------------------------------------- certification


def _check_sound(model: torch.nn.Module, x: torch.Tensor, ball: Any) -> Callable[[Any], None]:
    """Bounds (N, K) must contain the logits of the centre and of random points of the ball."""
    def check(bounds: Any) -> None:
        lower, upper = bounds
        assert lower.device == x.device, f"bounds on {lower.device}, input on {x.device}"
        assert torch.isfinite(lower).all() and torch.isfinite(upper).all(), "bounds not finite"
        generator = torch.Generator(device=x.device).manual_seed(1)
        for _ in range(4):
            noise = (torch.rand(x.shape, generator=generator, device=x.device) * 2 - 1) * ball.eps
            with torch.no_grad():
                logits = model((x + noise).clamp(0, 1))
            assert (logits >= lower - 1e-4).all() and (logits <= upper + 1e-4).all(), "unsound"

    return check


def certify_rows(devices: list[torch.device], samples: int, repeats: int) -> list[Row]:
    from advlab.defenses import certify

    def setup(device: torch.device) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, Any]:
        model, (x, y) = _classifier("wong-small", device), _images(min(samples, 32), device)
        return model, x, y, certify.LinfBall(EPS, 0.0, 1.0)

    methods: dict[str, Callable[..., Any]] = {
        "interval": certify.interval_bounds,
        "dual (Wong-Kolter, exact)": certify.dual_bounds,
    }
    for module_name in OPTIONAL_BOUNDS:
        if importlib.util.find_spec(f"advlab.defenses.certify.{module_name}") is not None:
            module = importlib.import_module(f"advlab.defenses.certify.{module_name}")
            function = getattr(module, f"{module_name}_bounds", None)
            if function is not None:
                methods[module_name.replace("_", "-")] = function
    rows = []
    for label, method in methods.items():
        def work(device: torch.device, method: Callable[..., Any] = method) -> Any:
            model, x, _, ball = setup(device)
            with torch.no_grad():
                return (lambda: method(model, x, ball)), _check_sound(model, x, ball)

        rows.append(_run_row(Row("certify", label), devices, repeats, work))

    def work_projected(device: torch.device) -> Any:
        model, x, _, ball = setup(device)
        generator = torch.Generator(device=device)

        def call() -> Any:
            generator.manual_seed(0)
            with torch.no_grad():
                return certify.dual_bounds(model, x, ball, projections=20, generator=generator)

        return call, lambda bounds: None  # a random estimate: finite is all it promises

    rows.append(_run_row(Row("certify", "dual, 20 random projections"), devices, repeats,
                         work_projected))

    def work_loss(device: torch.device) -> Any:
        model, x, y, ball = setup(device)

        def call() -> Any:
            model.zero_grad(set_to_none=True)
            loss, _ = certify.robust_loss(model, x, y, ball)
            loss.backward()
            return loss

        def check(loss: Any) -> None:
            assert torch.isfinite(loss) and all(
                p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())

        return call, check

    rows.append(_run_row(Row("certify", "robust loss + backward"), devices, repeats, work_loss))
    missing = [m for m in OPTIONAL_BOUNDS if m.replace("_", "-") not in methods]
    if missing:
        rows.append(Row("certify", " / ".join(missing), note="not in advlab.defenses.certify yet"))
    return rows


# ---------------------------------------------------------------- GAN training


def gan_rows(devices: list[torch.device], repeats: int) -> list[Row]:
    from advlab.gan.trainer import GANTrainConfig, train

    rows = []
    for amp in (False, True):
        label = "wgan-gp dcgan, 5 iterations" + (", bf16 autocast" if amp else ", float32")
        targets = [d for d in devices if d.type == "cuda"] if amp else devices

        def work(device: torch.device, amp: bool = amp) -> Any:
            cfg = GANTrainConfig(loss="wgan-gp", arch="dcgan", data="mnist-5k", image_pad=2,
                                 data_limit=512, iters=5, batch_size=64, width=32,
                                 sample_every=0, checkpoint_every=0, eval_every=0,
                                 device=str(device), amp=amp)
            folder = Path(tempfile.mkdtemp(prefix="gpu-check-gan-"))
            return (lambda: train(cfg, folder / str(time.perf_counter_ns()), tensorboard=False),
                    lambda result: _check_gan(result))

        row = Row("gan", label, note="" if targets else "CUDA only")
        rows.append(_run_row(row, targets, repeats, work))
    return rows


def _check_gan(result: Any) -> None:
    assert result.step == 5, f"stopped at step {result.step}"
    values = [v for v in result.last.values() if isinstance(v, float)]
    assert values and all(v == v and abs(v) != float("inf") for v in values), result.last


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    options = parser.parse_args(argv)
    torch.set_num_threads(options.threads)
    cuda = torch.cuda.is_available()
    devices = [torch.device("cpu")] + ([torch.device("cuda", 0)] if cuda else [])
    gpu = torch.cuda.get_device_name(0) if cuda else "none: no CUDA device, CPU column only"
    start = time.perf_counter()
    rows = attack_rows(devices, options.samples, options.repeats)
    rows += certify_rows(devices, options.samples, options.repeats)
    rows += gan_rows(devices, max(1, options.repeats - 2))
    rows += torchrun_rows(devices, options.samples)
    seconds = time.perf_counter() - start
    header = (f"# gpu-check\n\nGPU: {gpu}\nCPU: {platform.processor() or platform.machine()}, "
              f"{options.threads} thread(s); torch {torch.__version__}; {options.samples} "
              f"images, median of {options.repeats} after a warm-up; total {seconds:.0f} s\n")
    failed = [row for row in rows if not row.ok]
    summary = (f"\n{len(rows) - len(failed)} of {len(rows)} checks passed"
               + ("" if cuda else "; NO GPU PRESENT: the CUDA column did not run") + "\n")
    report = header + "\n" + table(rows, cuda) + "\n" + summary
    print(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "gpu_check.md").write_text(report)
    (RESULTS / "gpu_check.json").write_text(json.dumps({
        "gpu": gpu, "cuda": cuda, "torch": torch.__version__, "threads": options.threads,
        "samples": options.samples, "repeats": options.repeats, "seconds": round(seconds, 1),
        "rows": [{"section": r.section, "check": r.name, "seconds": r.seconds,
                  "errors": r.errors, "note": r.note} for r in rows],
    }, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
