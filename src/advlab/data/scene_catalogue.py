"""What the procedural `scenes` datasets hold, without numpy or torch: the concepts, their
categories and the scene classes (registered as datasets by `advlab.data.scene_sets`)."""

from __future__ import annotations

CONCEPTS: tuple[str, ...] = ("sky", "cloud", "mountain", "water", "grass", "ground", "road",
                             "building", "roof", "window", "door", "tree")
CONCEPT_CATEGORY: dict[str, str] = {
    "sky": "stuff", "cloud": "object", "mountain": "stuff", "water": "stuff", "grass": "stuff",
    "ground": "stuff", "road": "stuff", "building": "object", "roof": "part", "window": "part",
    "door": "part", "tree": "object",
}  # fmt: skip
SCENE_CLASSES: tuple[str, ...] = ("house", "church", "street", "forest", "field", "lake")
SIZES = {"train": 5000, "test": 1000}
