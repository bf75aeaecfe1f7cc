"""Scene records and their rendering: a textured background plus 1-4 objects, and the exact per-pixel class map.

A scene is plain data (`Scene`, `Obj`); `render` turns it into an RGB image and a class map drawn from the very
same binary object masks, so the ground truth agrees with the pixels by construction. Randomness comes only from
the numpy Generator passed in, which is what makes every split byte-identical for a given seed.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
from PIL import Image, ImageDraw

from .vocab import (
    BACKGROUNDS,
    CATEGORIES,
    CATEGORY_ID,
    CATEGORY_PATTERNS,
    COLOURS,
    DIGITS,
    PATTERN_AMPLITUDE,
    POSITIONS,
    SIZES,
    TEXTURES,
    typical_colour,
)


@dataclasses.dataclass(frozen=True)
class Obj:
    """One object of a scene. `box` is (x0, y0, x1, y1) in pixels, exclusive end, of the drawn object."""

    category: str
    colour: str
    size: str
    position: str
    rotation: float = 0.0
    glyph: int = 0  # which handwritten sample draws a digit (index into that digit's samples)
    box: tuple[int, int, int, int] = (0, 0, 0, 0)

    def to_json(self) -> dict:
        return dataclasses.asdict(self) | {"box": list(self.box)}


@dataclasses.dataclass(frozen=True)
class Scene:
    background: str
    texture: str
    noise_seed: int
    objects: tuple[Obj, ...]

    @property
    def dominant(self) -> Obj:
        return self.objects[0]

    def to_json(self) -> dict:
        return {"background": self.background, "texture": self.texture, "noise_seed": self.noise_seed,
                "objects": [o.to_json() for o in self.objects]}


@functools.lru_cache(maxsize=1)
def _digit_glyphs() -> dict[str, np.ndarray]:
    """scikit-learn's bundled handwritten digits (1,797 8x8 images, offline), grouped by digit name."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return {DIGITS[k]: d.images[d.target == k] / 16.0 for k in range(10)}


def n_glyphs(category: str) -> int:
    return len(_digit_glyphs()[category]) if category in DIGITS else 1


def _shape_polygon(category: str, s: int) -> list[tuple[float, float]] | None:
    c, r = (s - 1) / 2, (s - 1) / 2
    if category == "triangle":
        return [(c, 0), (s - 1, s - 1), (0, s - 1)]
    if category == "hexagon":
        return [(c + r * np.cos(a), c + r * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 7)[:-1]]
    if category == "star":
        pts = []
        for i in range(10):
            rad = r if i % 2 == 0 else r * 0.45
            a = -np.pi / 2 + i * np.pi / 5
            pts.append((c + rad * np.cos(a), c + rad * np.sin(a)))
        return pts
    if category == "cross":
        t = s * 0.32
        a, b = c - t / 2, c + t / 2
        return [(a, 0), (b, 0), (b, a), (s - 1, a), (s - 1, b), (b, b), (b, s - 1), (a, s - 1), (a, b), (0, b),
                (0, a), (a, a)]
    return None


def object_mask(obj: Obj, side: int) -> np.ndarray:
    """Binary mask (side x side) of one object, rotated by obj.rotation degrees."""
    if obj.category in DIGITS:
        glyph = _digit_glyphs()[obj.category][obj.glyph]
        img = Image.fromarray((glyph * 255).astype(np.uint8)).resize((side, side), Image.BILINEAR)
        img = img.point(lambda v: 255 if v > 100 else 0)
    else:
        img = Image.new("L", (side, side), 0)
        draw = ImageDraw.Draw(img)
        poly = _shape_polygon(obj.category, side)
        if obj.category == "circle":
            draw.ellipse((0, 0, side - 1, side - 1), fill=255)
        elif obj.category == "square":
            m = side * 0.12
            draw.rectangle((m, m, side - 1 - m, side - 1 - m), fill=255)
        else:
            draw.polygon(poly, fill=255)
    if obj.rotation:
        img = img.rotate(obj.rotation, resample=Image.NEAREST)
    return np.asarray(img) > 127


def place(rng: np.random.Generator, position: str, side: int, image_size: int) -> tuple[int, int, int, int]:
    """A box of the given side centred in the named 3x3 cell (with jitter), clamped inside the image."""
    row, col = POSITIONS[position]
    cell = image_size / 3
    cx = (col + 0.5) * cell + rng.uniform(-cell / 6, cell / 6)
    cy = (row + 0.5) * cell + rng.uniform(-cell / 6, cell / 6)
    half = side / 2
    cx, cy = float(np.clip(cx, half, image_size - half)), float(np.clip(cy, half, image_size - half))
    x0, y0 = int(round(cx - half)), int(round(cy - half))
    return (x0, y0, x0 + side, y0 + side)


def object_side(rng: np.random.Generator, size: str, image_size: int) -> int:
    lo, hi = SIZES[size]
    return max(4, int(round(rng.uniform(lo, hi) * image_size)))


def background(scene: Scene, image_size: int) -> np.ndarray:
    rng = np.random.default_rng(scene.noise_seed)
    base = np.array(BACKGROUNDS[scene.background], dtype=np.float32)
    img = np.broadcast_to(base, (image_size, image_size, 3)).copy()
    std = {"smooth": 3.0, "grainy": 12.0, "striped": 3.0}[scene.texture]
    img += rng.normal(0.0, std, size=(image_size, image_size, 1)).astype(np.float32)
    if scene.texture == "striped":
        period = rng.uniform(6, 12) * image_size / 64
        phase = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:image_size, 0:image_size]
        img += (14.0 * np.sin((xx + yy) * 2 * np.pi / period + phase))[..., None].astype(np.float32)
    return img


@functools.lru_cache(maxsize=64)
def surface_pattern(name: str, image_size: int) -> np.ndarray:
    """A +-1 (or all-zero for "solid") pattern over the image plane; periods are pixels at 64 px, scaled."""
    if name == "solid":
        return np.zeros((image_size, image_size), dtype=np.float32)
    kind, *periods = name.split("-")
    k = image_size / 64
    p, q = (float(v) * k for v in (periods + periods)[:2])
    yy, xx = np.mgrid[0:image_size, 0:image_size].astype(np.float32)
    on = {
        "hstripes": lambda: (yy // (p / 2)) % 2 == 0,
        "vstripes": lambda: (xx // (p / 2)) % 2 == 0,
        "diagonal": lambda: ((xx + yy) // (p / 2)) % 2 == 0,
        "antidiagonal": lambda: ((xx - yy) // (p / 2)) % 2 == 0,
        "checker": lambda: ((xx // p) + (yy // p)) % 2 == 0,
        "dots": lambda: ((xx % p) < p / 2) & ((yy % p) < p / 2),
        "grid": lambda: ((xx % p) < k) | ((yy % p) < k),
        "rings": lambda: (np.hypot(xx - image_size / 2, yy - image_size / 2) // (p / 2)) % 2 == 0,
        "waffle": lambda: ((xx // (p / 2)) % 2 == 0) ^ ((yy // (q / 2)) % 2 == 0),
    }[kind]()
    return np.where(on, 1.0, -1.0).astype(np.float32)


def render(scene: Scene, image_size: int, patterns: bool = True) -> tuple[Image.Image, np.ndarray]:
    """RGB image and uint8 class map (0 = background, CATEGORY_ID otherwise). Later objects occlude earlier ones.

    patterns: paint each object with its category's surface pattern (vocab.CATEGORY_PATTERNS) over its colour."""
    img = background(scene, image_size)
    cmap = np.zeros((image_size, image_size), dtype=np.uint8)
    for obj in scene.objects:
        x0, y0, x1, y1 = obj.box
        mask = np.zeros((image_size, image_size), dtype=bool)
        mask[y0:y1, x0:x1] = object_mask(obj, x1 - x0)
        colour = np.array(COLOURS[obj.colour], dtype=np.float32)
        if patterns:
            pattern = surface_pattern(CATEGORY_PATTERNS[obj.category], image_size)[mask]
            img[mask] = colour + PATTERN_AMPLITUDE * pattern[:, None]
        else:
            img[mask] = colour
        cmap[mask] = CATEGORY_ID[obj.category]
    rgb = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
    return rgb, cmap


def visible_fraction(scene: Scene, image_size: int) -> list[float]:
    """For each object, the fraction of its own mask pixels that no later object covers."""
    owner = np.full((image_size, image_size), -1, dtype=np.int16)
    areas = []
    for i, obj in enumerate(scene.objects):
        x0, y0, x1, y1 = obj.box
        m = np.zeros((image_size, image_size), dtype=bool)
        m[y0:y1, x0:x1] = object_mask(obj, x1 - x0)
        owner[m] = i
        areas.append(max(int(m.sum()), 1))
    return [float((owner == i).sum()) / a for i, a in enumerate(areas)]


def draw_colour(rng: np.random.Generator, category: str, categories: tuple[str, ...], colours: tuple[str, ...],
                typical_p: float, taken: tuple[str, ...] = ()) -> str:
    """An object's colour: its category's typical one with probability typical_p, else uniform; `taken` (v5: the
    colours of the scene's other objects) are never drawn (a taken typical colour falls back to the uniform draw)."""
    free = [c for c in colours if c not in taken]
    if typical_p > 0 and rng.random() < typical_p:
        typical = typical_colour(category, categories, colours)
        if typical not in taken:
            return typical
    return free[int(rng.integers(len(free)))]


def sample_scene(rng: np.random.Generator, *, image_size: int, min_objects: int, max_objects: int,
                 categories: tuple[str, ...], colours: tuple[str, ...], rotation_jitter: float,
                 min_visible: float = 0.4, typical_colour_p: float = 0.0, rows: bool = False) -> Scene:
    """One large dominant object and 0-3 smaller ones in distinct cells, every object at least min_visible seen.

    typical_colour_p: the probability that an object takes its category's typical colour (vocab.typical_colour)
    instead of a uniform draw from `colours`; at 0 no extra random number is drawn (v3's scenes exactly).
    rows (v5): every object in its own row of the 3x3 grid (so any two are "above" / "below" each other) and in
    its own colour (so a colour word names one object)."""
    n = int(rng.integers(min_objects, max_objects + 1))
    cats = [categories[i] for i in rng.choice(len(categories), size=n, replace=False)]
    bg = list(BACKGROUNDS)[int(rng.integers(len(BACKGROUNDS)))]
    texture = TEXTURES[int(rng.integers(len(TEXTURES)))]
    noise_seed = int(rng.integers(2**31))
    for _ in range(50):
        if rows:
            cells = [_cell(int(r), int(rng.integers(3))) for r in rng.choice(3, size=n, replace=False)]
        else:
            cells = [list(POSITIONS)[i] for i in rng.choice(len(POSITIONS), size=n, replace=False)]
        objs = []
        for k, (cat, pos) in enumerate(zip(cats, cells)):
            size = "large" if k == 0 else "small"
            side = object_side(rng, size, image_size)
            taken = tuple(o.colour for o in objs) if rows else ()
            objs.append(Obj(
                category=cat, colour=draw_colour(rng, cat, categories, colours, typical_colour_p, taken),
                size=size, position=pos,
                rotation=float(np.round(rng.uniform(-rotation_jitter, rotation_jitter), 1)),
                glyph=int(rng.integers(n_glyphs(cat))), box=place(rng, pos, side, image_size)))
        scene = Scene(bg, texture, noise_seed, tuple(objs))
        if min(visible_fraction(scene, image_size)) >= min_visible:
            return scene
    if rows:
        raise RuntimeError("no v5 layout with every object visible in 50 draws")  # never seen; a loud failure
    return Scene(bg, texture, noise_seed, tuple(objs[:1]))  # the dominant object alone is always fully visible


def _cell(row: int, col: int) -> str:
    return next(name for name, rc in POSITIONS.items() if rc == (row, col))


def rebind(scene: Scene, rng: np.random.Generator, image_size: int, colours: bool, rows: bool) -> Scene:
    """A v5 scene with the same objects, backdrop and words but other bindings: `colours` passes each object's
    colour on to the next one (a cyclic shift), `rows` moves each object to the next one's row (same column,
    fresh jitter). The test split's groups of four (generate.scene_for) differ only so."""
    objs = list(scene.objects)
    n = len(objs)
    if colours:
        objs = [dataclasses.replace(o, colour=objs[(k + 1) % n].colour) for k, o in enumerate(objs)]
    if rows:
        moved = []
        for k, o in enumerate(objs):
            row = POSITIONS[scene.objects[(k + 1) % n].position][0]
            pos = _cell(row, POSITIONS[o.position][1])
            moved.append(dataclasses.replace(o, position=pos, box=place(rng, pos, o.box[2] - o.box[0], image_size)))
        objs = moved
    return dataclasses.replace(scene, objects=tuple(objs))


assert len(CATEGORIES) >= 10 and len(COLOURS) >= 8
