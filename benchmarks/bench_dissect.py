"""Network dissection speed: `advlab.dissect.dissect` (bounded memory, several streaming
passes) against its physical floor and against dissecting with every activation in memory.

Model: ``scene-vgg`` width 8 on 500 `scenes-32` test scenes, all six conv layers dissected
against the exact masks (top 1% thresholds on maps upsampled to 32x32, IoU with 12
concepts), CPU. Candidates, run in turn (median of --repeats):
- forward floor: one forward pass over the scenes recording the six layers, times the
  number of passes `dissect` makes (range, counting passes, IoU): what any streaming
  dissection that never stores activations must spend on the model;
- advlab dissect;
- in memory: every upsampled activation kept (N x U x 32 x 32 floats per layer), thresholds
  by sorting each unit's values (torch.kthvalue; torch.quantile refuses inputs over 16M
  values), IoU by one matrix product, as NetDissect-Lite does with np.percentile over the
  stored features.
Run: python -m benchmarks.bench_dissect [--repeats 3]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from advlab import models
from advlab.data.scenes import CONCEPTS, load_scenes
from advlab.dissect import ConceptOverlap, MaskLabels, Probe, dissect, record
from advlab.models.scene_nets import scene_vgg_layers
from benchmarks.common import interleaved_medians, print_table, save

IMAGES, QUANTILE = 500, 0.01


def main(repeats: int = 3) -> dict:
    scenes = load_scenes(32, "test", n=IMAGES)
    torch.manual_seed(0)
    net = models.create("scene-vgg", in_channels=3, num_classes=6, image_size=32, width=8).eval()
    layers = tuple(scene_vgg_layers())
    probe = Probe(net, layers, scenes.images)
    passes = {"count": 0}

    def counted(description: str) -> None:
        passes["count"] += 1

    dissect(probe, MaskLabels(scenes.masks), CONCEPTS, QUANTILE, progress=counted)
    n_passes = passes["count"]

    def floor() -> None:
        for _ in range(n_passes):
            for _ in probe.batches():
                pass

    def ours() -> None:
        dissect(probe, MaskLabels(scenes.masks), CONCEPTS, QUANTILE)

    def in_memory() -> None:
        with torch.no_grad(), record(net, layers) as seen:
            net(scenes.images)
            for name in layers:
                up = F.interpolate(seen[name], size=(32, 32), mode="bilinear", align_corners=False)
                values = up.transpose(0, 1).reshape(up.shape[1], -1)  # (U, N*H*W), all in memory
                k = int(round((1 - QUANTILE) * (values.shape[1] - 1))) + 1
                thresholds = values.kthvalue(k, dim=1).values
                overlap = ConceptOverlap(up.shape[1], len(CONCEPTS))
                overlap.add(up > thresholds[None, :, None, None], scenes.masks.long())
                overlap.iou()

    medians = interleaved_medians({"forward floor": floor, "advlab dissect": ours,
                                   "in memory": in_memory}, repeats=repeats)
    with torch.no_grad(), record(net, layers) as seen:
        net(scenes.images[:1])
    stored = sum(IMAGES * seen[name].shape[1] * 32 * 32 * 4 for name in layers)
    ratio_floor = medians["advlab dissect"] / medians["forward floor"]
    ratio_memory = medians["advlab dissect"] / medians["in memory"]
    print_table(
        f"Dissection of scene-vgg (6 layers, {IMAGES} scenes-32), CPU threads {torch.get_num_threads()} "
        f"(median of {repeats})",
        [*[(name, f"{seconds:.2f} s") for name, seconds in medians.items()],
         ("passes over the data", str(n_passes)),
         ("ratio dissect / forward floor", f"{ratio_floor:.2f}"),
         ("ratio dissect / in memory", f"{ratio_memory:.2f}"),
         ("activations the in-memory version stores", f"{stored / 2**20:.0f} MiB")],
    )  # fmt: skip
    payload = {"benchmark": "dissect-scene-vgg", "seconds": medians, "passes": n_passes,
               "ratio_over_forward_floor": ratio_floor, "ratio_over_in_memory": ratio_memory,
               "in_memory_bytes": stored, "images": IMAGES, "repeats": repeats}
    save("dissect", payload)
    return payload


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    main(parser.parse_args().repeats)
