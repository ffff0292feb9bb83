"""Where things are in a procedural outdoor scene: per-image parameters drawn from a seed,
and the per-pixel concept labels painted from them.

Everything is batched over images (numpy, no loop over samples): each scene element is a
"slot" (a cloud, a tree, a building) with one parameter per image and an `active` flag, and
its mask (n, H, W) is computed from the pixel-centre coordinates u (x, left to right) and v
(y, top to bottom) in [0, 1] with broadcasting. Masks are exact: a pixel belongs to a shape
when its centre does. Only +, -, *, /, abs, floor and comparisons of float32 touch the
geometry (no transcendental functions), so the labels are bit-identical on every machine.

Painting order (later layers occlude earlier ones): sky, clouds, mountains, ground cover
(grass or ground), water, road or path, trees behind the buildings, buildings (wall, roof,
windows, door), trees in front of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advlab.data.scene_catalogue import CONCEPTS

SKY, CLOUD, MOUNTAIN, WATER, GRASS, GROUND, ROAD, BUILDING, ROOF, WINDOW, DOOR, TREE = range(12)
# Render materials beyond the concepts (they carry the label of the concept they belong to)
TRUNK, ROAD_LINE, SNOW = 12, 13, 14
MATERIALS = len(CONCEPTS) + 3
HOUSE, CHURCH, STREET, FOREST, FIELD, LAKE = range(6)
CLOUD_SLOTS, CLOUD_LOBES, MOUNTAIN_PEAKS, TREE_SLOTS, BUILDING_SLOTS = 4, 3, 3, 14, 3


class _Draw:
    """Uniform draws for n images with ranges that may depend on the scene class."""

    def __init__(self, rng: np.random.Generator, classes: np.ndarray) -> None:
        self.rng, self.classes, self.n = rng, classes, len(classes)

    def uniform(self, lo: float | tuple[float, ...], hi: float | tuple[float, ...],
                extra: tuple[int, ...] = ()) -> np.ndarray:
        """U[lo, hi) of shape (n, *extra); tuple bounds are per scene class."""
        lo_n, hi_n = (np.asarray(b, np.float64)[self.classes] if isinstance(b, tuple)
                      else np.full(self.n, b, np.float64) for b in (lo, hi))
        shape = (self.n, *extra)
        lo_n, hi_n = (b.reshape((self.n,) + (1,) * len(extra)) for b in (lo_n, hi_n))
        return lo_n + (hi_n - lo_n) * self.rng.random(shape)

    def chance(self, p: float | tuple[float, ...], extra: tuple[int, ...] = ()) -> np.ndarray:
        return self.uniform(0.0, 1.0, extra) < (
            np.asarray(p)[self.classes].reshape((self.n,) + (1,) * len(extra))
            if isinstance(p, tuple) else p)

    def integers(self, lo: tuple[int, ...], hi: tuple[int, ...]) -> np.ndarray:
        """Integers in [lo, hi] (inclusive, per scene class) as (n,)."""
        lo_n, hi_n = np.asarray(lo)[self.classes], np.asarray(hi)[self.classes]
        return np.floor(lo_n + (hi_n - lo_n + 1) * self.rng.random(self.n)).astype(np.int64)


@dataclass
class Buildings:
    """BUILDING_SLOTS facades per image, each (n, BUILDING_SLOTS): wall [x0, x1) x [top,
    base), roof (triangle of height roof_h and overhang when `gable`, else a band of roof_h),
    a window grid of nx x ny cells with margins mx, my inside [win_top, win_bottom), and a
    door [door_x0, door_x1) x [door_top, base)."""

    active: np.ndarray
    x0: np.ndarray
    x1: np.ndarray
    top: np.ndarray
    base: np.ndarray
    gable: np.ndarray
    roof_h: np.ndarray
    overhang: np.ndarray
    nx: np.ndarray
    ny: np.ndarray
    mx: np.ndarray
    my: np.ndarray
    win_top: np.ndarray
    win_bottom: np.ndarray
    door: np.ndarray
    door_x0: np.ndarray
    door_x1: np.ndarray
    door_top: np.ndarray


def _buildings(d: _Draw, classes: np.ndarray, horizon: np.ndarray) -> Buildings:
    """Houses (one facade with a gable roof), churches (a nave and a tower with a spire),
    streets (three tall flat-roofed facades side by side) and distant houses in fields,
    forests and lakes."""
    n, k = d.n, BUILDING_SLOTS
    is_ = {c: (classes == c)[:, None] for c in range(6)}
    slot = np.arange(k)[None, :]
    # --- houses: slot 0; distant houses (fields, lakes, forests) in slot 0 too, smaller
    distant = (is_[FIELD] | is_[LAKE] | is_[FOREST]) & d.chance((0, 0, 0, 0.12, 0.3, 0.25))[:, None]
    width = np.where(distant, d.uniform(0.1, 0.2)[:, None], d.uniform(0.3, 0.55)[:, None])
    x0 = d.uniform(0.04, 1.0)[:, None] * (0.96 - width)
    base = horizon[:, None] + np.where(distant, d.uniform(0.01, 0.06)[:, None],
                                       d.uniform(0.08, 0.25)[:, None])
    height = np.where(distant, d.uniform(0.06, 0.1)[:, None], d.uniform(0.16, 0.28)[:, None])
    roof_h = np.where(distant, d.uniform(0.04, 0.07)[:, None], d.uniform(0.08, 0.16)[:, None])
    active = np.where(slot == 0, is_[HOUSE] | distant, False)
    gable = np.where(slot == 0, d.chance(0.85)[:, None] | distant, False)
    # --- churches: slot 0 the nave, slot 1 the tower (left or right end) with a spire
    nave_w = d.uniform(0.3, 0.45)[:, None]
    nave_x0 = 0.04 + d.uniform(0.0, 1.0)[:, None] * (0.92 - nave_w)
    nave_base = horizon[:, None] + d.uniform(0.06, 0.2)[:, None]
    tower_w = d.uniform(0.08, 0.14)[:, None]
    tower_left = d.chance(0.5)[:, None]
    tower_x0 = np.where(tower_left, nave_x0 - 0.3 * tower_w, nave_x0 + nave_w - 0.7 * tower_w)
    church0, church1 = is_[CHURCH] & (slot == 0), is_[CHURCH] & (slot == 1)
    x0 = np.where(church0, nave_x0, np.where(church1, tower_x0, x0))
    width = np.where(church0, nave_w, np.where(church1, tower_w, width))
    base = np.where(is_[CHURCH], nave_base, base)
    height = np.where(church0, d.uniform(0.13, 0.2)[:, None],
                      np.where(church1, d.uniform(0.3, 0.45)[:, None], height))
    roof_h = np.where(church0, d.uniform(0.06, 0.12)[:, None],
                      np.where(church1, d.uniform(0.12, 0.22)[:, None], roof_h))
    active = active | church0 | church1
    gable = gable | church0 | church1
    # --- streets: three facades spanning the width, standing on the horizon
    cuts = np.sort(d.uniform(0.2, 0.8, (2,)), axis=1)  # (n, 2)
    edges = np.concatenate([np.full((n, 1), -0.05), cuts, np.full((n, 1), 1.05)], axis=1)
    street = is_[STREET] & np.ones((1, k), bool)
    x0 = np.where(street, edges[:, :k], x0)
    width = np.where(street, edges[:, 1:] - edges[:, :k], width)
    base = np.where(street, horizon[:, None] + d.uniform(0.0, 0.05, (k,)), base)
    height = np.where(street, d.uniform(0.25, 0.45, (k,)), height)
    roof_h = np.where(street, d.uniform(0.02, 0.04, (k,)), roof_h)
    active = active | street
    overhang = np.where(gable & ~church1, d.uniform(0.0, 0.03, (k,)), 0.0)
    top = base - height
    # --- windows: a grid inside the wall (narrow, tall cells in churches)
    nx = np.floor(d.uniform((2, 3, 2, 1, 1, 1), (5, 6, 5, 3, 3, 3), (k,)))
    ny = np.floor(d.uniform((1, 1, 2, 1, 1, 1), (3, 2, 6, 2, 2, 2), (k,)))
    nx = np.where(church1 | (distant & (slot == 0)), np.minimum(nx, 2), nx)
    nx = np.where(church1, 1, nx)
    ny = np.where(church1, np.floor(d.uniform(2, 4)[:, None]), ny)
    mx = d.uniform((0.22, 0.32, 0.2, 0.25, 0.25, 0.25), (0.35, 0.42, 0.32, 0.35, 0.35, 0.35), (k,))
    my = d.uniform((0.22, 0.15, 0.2, 0.25, 0.25, 0.25), (0.35, 0.25, 0.32, 0.35, 0.35, 0.35), (k,))
    win_top = top + 0.015
    win_bottom = np.where(church1, base - 0.45 * height, base - 0.01)
    # --- doors: at the bottom of the wall (on the tower in churches)
    door_h = np.minimum(d.uniform(0.08, 0.13, (k,)), 0.6 * height)
    door_w = np.where(church1, 0.55 * width, d.uniform(0.045, 0.08, (k,)))
    door_w = np.where(distant, 0.03, door_w)
    door_h = np.where(distant, np.minimum(door_h, 0.05), door_h)
    door_c = x0 + door_w + d.uniform(0.0, 1.0, (k,)) * np.maximum(width - 2 * door_w, 0.0)
    door_c = np.where(church1, x0 + 0.5 * width, door_c)
    door = active & np.where(is_[CHURCH], church1, d.chance((1.0, 1.0, 0.8, 1, 1, 1), (k,)))
    return Buildings(
        active=active, x0=x0, x1=x0 + width, top=top, base=base, gable=gable, roof_h=roof_h,
        overhang=overhang, nx=nx, ny=ny, mx=mx, my=my, win_top=win_top, win_bottom=win_bottom,
        door=door, door_x0=door_c - door_w / 2, door_x1=door_c + door_w / 2,
        door_top=base - door_h,
    )


def draw_layout(classes: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Every parameter of n scenes of the given classes (n,), as float64/bool arrays with a
    leading dimension n. The order of draws is fixed, so the same (classes, rng state) gives
    the same scenes; the image size plays no part (the same scene renders at 32 or 64 px)."""
    d = _Draw(rng, classes)
    p: dict[str, np.ndarray] = {"classes": classes}
    p["horizon"] = d.uniform((0.45, 0.5, 0.48, 0.35, 0.4, 0.38), (0.6, 0.62, 0.58, 0.55, 0.62, 0.55))
    p["tilt"] = d.uniform(-0.05, 0.05)
    # clouds: CLOUD_SLOTS clouds of CLOUD_LOBES elliptic lobes each
    count = d.integers((0, 0, 0, 0, 0, 0), (4, 4, 3, 2, 4, 4))
    p["cloud_active"] = np.arange(CLOUD_SLOTS)[None, :] < count[:, None]
    p["cloud_x"] = d.uniform(0.0, 1.0, (CLOUD_SLOTS,))
    p["cloud_y"] = 0.06 + d.uniform(0.0, 1.0, (CLOUD_SLOTS,)) * (p["horizon"][:, None] - 0.16)
    p["cloud_r"] = d.uniform(0.035, 0.08, (CLOUD_SLOTS,))
    p["lobe_dx"] = d.uniform(-1.2, 1.2, (CLOUD_SLOTS, CLOUD_LOBES))
    p["lobe_dy"] = d.uniform(-0.5, 0.2, (CLOUD_SLOTS, CLOUD_LOBES))
    p["lobe_scale"] = d.uniform(0.6, 1.0, (CLOUD_SLOTS, CLOUD_LOBES))
    # mountains: a ridge of MOUNTAIN_PEAKS triangular peaks behind the horizon, maybe snowy
    p["mountains"] = d.chance((0.3, 0.3, 0.1, 0.3, 0.6, 0.8))
    p["peak_x"] = d.uniform(0.0, 1.0, (MOUNTAIN_PEAKS,))
    p["peak_h"] = d.uniform(0.04, 0.2, (MOUNTAIN_PEAKS,))
    p["peak_slope"] = d.uniform(0.5, 1.5, (MOUNTAIN_PEAKS,))
    p["snow"] = d.chance(0.4) & p["mountains"]
    # ground cover: grass, or bare ground (ploughed fields, forest floor, pavements)
    p["bare_ground"] = d.chance((0.0, 0.0, 1.0, 0.3, 0.3, 0.0))
    # water: a lake (or a pond in some fields)
    p["water"] = d.chance((0.0, 0.0, 0.0, 0.0, 0.15, 1.0))
    p["water_x"] = d.uniform(0.3, 0.7)
    p["water_y"] = p["horizon"] + d.uniform(0.22, 0.35)
    p["water_rx"] = d.uniform(0.35, 0.8)
    p["water_ry"] = d.uniform(0.12, 0.3)
    # roads: streets vanish at the horizon; fields may have a dirt track (ground)
    p["road"] = d.chance((0.0, 0.0, 1.0, 0.0, 0.4, 0.0))
    p["road_vanish_x"] = d.uniform(0.35, 0.65)
    p["road_bottom_x"] = d.uniform(0.3, 0.7)
    p["road_half_width"] = d.uniform((0.08, 0.08, 0.25, 0.08, 0.08, 0.08), (0.2, 0.2, 0.45, 0.2, 0.2, 0.2))
    p["road_line"] = d.chance(0.6) & (classes == STREET)
    buildings = _buildings(d, classes, p["horizon"])
    p.update({f"building_{k}": v for k, v in vars(buildings).items()})
    # a path from the front door to the bottom edge (houses and churches)
    p["path"] = d.chance((0.6, 0.6, 0.0, 0.0, 0.0, 0.0))
    p["path_paved"] = d.chance(0.5)
    p["path_bottom_x"] = d.uniform(0.2, 0.8)
    p["path_half_width"] = d.uniform(0.06, 0.15)
    # trees: far ones first (sorted by where they stand), nearer ones bigger
    count = d.integers((1, 0, 0, 10, 0, 2), (4, 3, 3, 14, 3, 6))
    p["tree_active"] = np.arange(TREE_SLOTS)[None, :] < count[:, None]
    base = p["horizon"][:, None] + d.uniform(0.01, 1.0, (TREE_SLOTS,)) * (
        1.05 - p["horizon"][:, None])
    order = np.argsort(np.where(p["tree_active"], base, 2.0), axis=1, kind="stable")
    p["tree_base"] = np.take_along_axis(base, order, axis=1)
    street_side = d.chance(0.5, (TREE_SLOTS,))
    x = d.uniform(-0.05, 1.05, (TREE_SLOTS,))
    p["tree_x"] = np.where((classes == STREET)[:, None],
                           np.where(street_side, x * 0.2, 0.8 + x * 0.2), x)
    depth = (p["tree_base"] - p["horizon"][:, None]) / (1.0 - p["horizon"][:, None])
    p["tree_r"] = d.uniform((0.04, 0.04, 0.04, 0.07, 0.04, 0.04),
                            (0.09, 0.09, 0.07, 0.14, 0.09, 0.09), (TREE_SLOTS,)) * (0.5 + depth)
    p["tree_conifer"] = d.chance((0.3, 0.3, 0.1, 0.5, 0.3, 0.5), (TREE_SLOTS,))
    p["trunk_h"] = d.uniform(0.6, 1.0, (TREE_SLOTS,)) * p["tree_r"]
    p["lobe_side"] = d.uniform(-0.6, 0.6, (TREE_SLOTS,))
    return p


class Canvas:
    """Label and material maps (n, S, S) for a chunk of scenes, and the pixel centres.

    Shapes are computed only for the images where an element is present (`rows`), which
    keeps rare elements (the eighth tree of a forest) cheap."""

    def __init__(self, n: int, size: int) -> None:
        centres = (np.arange(size, dtype=np.float32) + 0.5) / size
        self.u = centres[None, None, :]  # (1, 1, S): x of each column
        self.v = centres[None, :, None]  # (1, S, 1): y of each row (0 = top)
        self.labels = np.zeros((n, size, size), np.uint8)  # all sky to begin with
        self.material = np.zeros((n, size, size), np.uint8)

    def paint(self, rows: np.ndarray, mask: np.ndarray, concept: int,
              material: int | None = None) -> None:
        """Set the pixels of images `rows` (k,) where mask (k, S, S) holds to `concept`."""
        if rows.size == 0:
            return
        for target, value in ((self.labels, concept),
                              (self.material, concept if material is None else material)):
            part = target[rows]
            np.putmask(part, mask, value)
            target[rows] = part


def _col(a: np.ndarray) -> np.ndarray:
    """(k,) parameter -> (k, 1, 1) float32 for broadcasting against pixel coordinates."""
    return np.asarray(a, np.float32)[:, None, None]


def _ellipse(c: Canvas, cx: np.ndarray, cy: np.ndarray, rx: np.ndarray, ry: np.ndarray) -> np.ndarray:
    du = ((c.u - _col(cx)) / _col(rx)) ** 2  # (k, 1, S)
    dv = ((c.v - _col(cy)) / _col(ry)) ** 2  # (k, S, 1)
    return du + dv < 1.0


def _rect(c: Canvas, x0: np.ndarray, x1: np.ndarray, y0: np.ndarray, y1: np.ndarray) -> np.ndarray:
    cols = (c.u >= _col(x0)) & (c.u < _col(x1))  # (k, 1, S)
    rows = (c.v >= _col(y0)) & (c.v < _col(y1))  # (k, S, 1)
    return cols & rows


def _triangle(c: Canvas, xc: np.ndarray, apex: np.ndarray, bottom: np.ndarray,
              half_width: np.ndarray) -> np.ndarray:
    """Isosceles triangle pointing up: apex (xc, apex), base [xc -+ half_width] at `bottom`."""
    inside = (c.v - _col(apex)) * _col(half_width) >= (_col(bottom) - _col(apex)) * np.abs(
        c.u - _col(xc))
    return inside & (c.v < _col(bottom))


def _perspective_band(c: Canvas, top: np.ndarray, x_top: np.ndarray, x_bottom: np.ndarray,
                      half_top: np.ndarray, half_bottom: np.ndarray) -> np.ndarray:
    """A road from (x_top, top) to the bottom edge, widening linearly with depth."""
    depth = (c.v - _col(top)) / (1.0 - _col(top))  # (k, S, 1): 0 at `top`, 1 at the bottom
    centre = _col(x_top) + (_col(x_bottom) - _col(x_top)) * depth
    half = _col(half_top) + (_col(half_bottom) - _col(half_top)) * depth
    return (np.abs(c.u - centre) < half) & (depth > 0)


def paint_labels(p: dict[str, np.ndarray], size: int) -> Canvas:
    """Paint the concept labels (and render materials) of the scenes of layout `p`."""
    n = len(p["horizon"])
    c = Canvas(n, size)
    every = np.arange(n)
    horizon = _col(p["horizon"]) + _col(p["tilt"]) * (c.u - 0.5)  # (n, 1, S)
    for i in range(CLOUD_SLOTS):
        rows = np.flatnonzero(p["cloud_active"][:, i])
        r0 = p["cloud_r"][rows, i]
        for j in range(CLOUD_LOBES):
            r = r0 * p["lobe_scale"][rows, i, j]
            c.paint(rows, _ellipse(c, p["cloud_x"][rows, i] + p["lobe_dx"][rows, i, j] * r0,
                                   p["cloud_y"][rows, i] + p["lobe_dy"][rows, i, j] * r0,
                                   1.5 * r, r), CLOUD)
    rows = np.flatnonzero(p["mountains"])
    ridge = np.zeros((rows.size, 1, size), np.float32)  # mountain height above the horizon
    for i in range(MOUNTAIN_PEAKS):
        peak = _col(p["peak_h"][rows, i]) - _col(p["peak_slope"][rows, i]) * np.abs(
            c.u - _col(p["peak_x"][rows, i]))
        ridge = np.maximum(ridge, peak)
    line = horizon[rows]
    mountain = (c.v > line - ridge) & (c.v <= line)
    c.paint(rows, mountain, MOUNTAIN)
    snowy = mountain & (c.v < line - 0.75 * ridge) & (ridge > 0.08) & p["snow"][rows, None, None]
    c.paint(rows, snowy, MOUNTAIN, SNOW)  # the top quarter of high peaks
    below = c.v > horizon  # (n, S, S)
    c.paint(every, below & ~p["bare_ground"][:, None, None], GRASS)
    c.paint(every, below & p["bare_ground"][:, None, None], GROUND)
    street = p["classes"] == STREET
    rows = np.flatnonzero(p["road"])
    road = _perspective_band(c, p["horizon"][rows], p["road_vanish_x"][rows],
                             p["road_bottom_x"][rows], np.full(rows.size, 0.01),
                             p["road_half_width"][rows])
    c.paint(rows, road & street[rows, None, None], ROAD)
    c.paint(rows, road & ~street[rows, None, None], GROUND)  # a dirt track across a field
    rows = np.flatnonzero(p["road_line"])
    line_mask = _perspective_band(c, p["horizon"][rows], p["road_vanish_x"][rows],
                                  p["road_bottom_x"][rows], np.full(rows.size, 0.0015),
                                  0.04 * p["road_half_width"][rows])
    dashes = np.floor(c.v * 10.0) % 2 == 0  # (1, S, 1)
    c.paint(rows, line_mask & dashes, ROAD, ROAD_LINE)
    rows = np.flatnonzero(p["water"])
    water = _ellipse(c, p["water_x"][rows], p["water_y"][rows], p["water_rx"][rows],
                     p["water_ry"][rows])
    c.paint(rows, water & (c.v > horizon[rows] + 0.01), WATER)
    _path(c, p)
    trees = _tree_masks(c, p)
    front_of = p["building_base"][:, 0]  # trees standing nearer than this occlude buildings
    in_front = p["building_active"][:, :1] & (p["tree_base"] > front_of[:, None])  # (n, T)
    _paint_trees(c, trees, ~in_front)
    _buildings_paint(c, p)
    _paint_trees(c, trees, in_front)
    return c


def _path(c: Canvas, p: dict[str, np.ndarray]) -> None:
    """A path from the front door (of the house, or of the church tower) to the bottom."""
    door = np.where(p["building_door"][:, 1], 1, 0)  # the slot whose door the path leaves
    every = np.arange(len(door))
    x0, x1 = p["building_door_x0"][every, door], p["building_door_x1"][every, door]
    has_door = p["building_door"][every, door]
    rows = np.flatnonzero(p["path"] & has_door)
    path = _perspective_band(c, p["building_base"][rows, 0], (x0[rows] + x1[rows]) / 2,
                             p["path_bottom_x"][rows], (x1[rows] - x0[rows]) / 2,
                             p["path_half_width"][rows])
    paved = p["path_paved"][rows, None, None]
    c.paint(rows, path & paved, ROAD)
    c.paint(rows, path & ~paved, GROUND)


def _tree_masks(c: Canvas, p: dict[str, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(rows, trunk mask, crown mask) of each tree slot, for the images that have it."""
    out = []
    for i in range(TREE_SLOTS):
        rows = np.flatnonzero(p["tree_active"][:, i])
        base, r, x = p["tree_base"][rows, i], p["tree_r"][rows, i], p["tree_x"][rows, i]
        crown_bottom = base - p["trunk_h"][rows, i]
        trunk = _rect(c, x - 0.11 * r, x + 0.11 * r, crown_bottom - 0.5 * r, base)
        conifer = _triangle(c, x, crown_bottom - 2.6 * r, crown_bottom, r)
        round_crown = _ellipse(c, x, crown_bottom - 0.8 * r, r, 0.9 * r) | _ellipse(
            c, x + p["lobe_side"][rows, i] * r, crown_bottom - 0.6 * r, 0.7 * r, 0.65 * r)
        crown = np.where(p["tree_conifer"][rows, i, None, None], conifer, round_crown)
        out.append((rows, trunk, crown))
    return out


def _paint_trees(c: Canvas, trees: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                 selected: np.ndarray) -> None:
    """Paint the trees whose entry in selected (n, TREE_SLOTS) is true, far ones first."""
    for i, (rows, trunk, crown) in enumerate(trees):
        keep = selected[rows, i]
        c.paint(rows[keep], trunk[keep], TREE, TRUNK)
        c.paint(rows[keep], crown[keep], TREE)


def _buildings_paint(c: Canvas, p: dict[str, np.ndarray]) -> None:
    for i in range(BUILDING_SLOTS):
        rows = np.flatnonzero(p["building_active"][:, i])
        b = {k[len("building_"):]: v[rows, i] for k, v in p.items() if k.startswith("building_")}
        wall = _rect(c, b["x0"], b["x1"], b["top"], b["base"])
        c.paint(rows, wall, BUILDING)
        centre = (b["x0"] + b["x1"]) / 2
        gable = _triangle(c, centre, b["top"] - b["roof_h"], b["top"],
                          (b["x1"] - b["x0"]) / 2 + b["overhang"])
        band = _rect(c, b["x0"] - 0.005, b["x1"] + 0.005, b["top"] - b["roof_h"], b["top"])
        c.paint(rows, np.where(b["gable"][:, None, None], gable, band), ROOF)
        # window grid: cell coordinates a (columns) and e (rows); a window fills the middle
        # of each cell, leaving margins mx, my on both sides
        a = (c.u - _col(b["x0"])) / _col(b["x1"] - b["x0"]) * _col(b["nx"])  # (k, 1, S)
        e = (c.v - _col(b["win_top"])) / _col(b["win_bottom"] - b["win_top"]) * _col(b["ny"])
        in_cols = (a >= 0) & (a < _col(b["nx"])) & (a - np.floor(a) >= _col(b["mx"])) & (
            a - np.floor(a) < 1 - _col(b["mx"]))
        in_rows = (e >= 0) & (e < _col(b["ny"])) & (e - np.floor(e) >= _col(b["my"])) & (
            e - np.floor(e) < 1 - _col(b["my"]))
        has_door = b["door"][:, None, None]
        door_zone = _rect(c, b["door_x0"] - 0.02, b["door_x1"] + 0.02, b["door_top"] - 0.02,
                          b["base"])
        c.paint(rows, in_cols & in_rows & wall & ~(door_zone & has_door), WINDOW)
        door = _rect(c, b["door_x0"], b["door_x1"], b["door_top"], b["base"]) & has_door
        c.paint(rows, door, DOOR)
