"""The closed vocabulary of the synthetic scenes benchmark: categories, colours, sizes, positions.

Everything a caption, a mask or a probe can mention is listed here, so that hard negatives and MMVP-style pairs
can be built by editing structured records and re-rendering, never by string surgery.
"""

from __future__ import annotations

# Category ids start at 1: 0 is the background in every class map.
SHAPES = ("circle", "square", "triangle", "star", "cross", "hexagon")
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DIGITS = tuple(f"digit {w}" for w in DIGIT_WORDS)
CATEGORIES: tuple[str, ...] = SHAPES + DIGITS
CATEGORY_ID = {name: i + 1 for i, name in enumerate(CATEGORIES)}

# Each category's surface pattern, as real object categories have characteristic textures (a zebra's stripes, a
# dog's fur). Shape alone is a slow cue for a tiny ViT: supervised on the dominant object for 200 steps at batch 32,
# ViT-Tiny-8-64 reaches 8.9% top-1 (chance 6.25) on flat-colour objects and 74.6% with these patterns
# (`python benchmarks/learnability.py`; no crops there: with a RandomResizedCrop the patterns' phase against the
# patch grid is no longer fixed and CLIP stops learning them in 200 steps, hence v4's typical colours below;
# docs/findings.md, "Category classification at tiny scale"). Periods are pixels at 64 px, scaled with the image.
# Every pattern is +-1 over the image plane; the renderer adds +-PATTERN_AMPLITUDE to the object's colour (colour
# names stay true).
CATEGORY_PATTERNS: dict[str, str] = dict(zip(CATEGORIES, (
    "solid", "hstripes-4", "vstripes-4", "diagonal-6", "antidiagonal-6", "checker-2", "checker-4", "dots-4",
    "grid-4", "hstripes-8", "vstripes-8", "diagonal-12", "antidiagonal-12", "rings-6", "dots-6", "waffle-4-8"),
    strict=True))
PATTERN_AMPLITUDE = 45.0

# Category-typical colours (benchmark v4), as real categories have typical colours (bananas are yellow): each object
# takes its category's typical colour with probability ScenesConfig.typical_colour_p, else a uniform draw from the
# palette. Why: patterns are painted over the image plane, so without a crop each category has a fixed phase
# against the 8-px patch grid, and the CLIP view's RandomResizedCrop removes that shortcut; after 200 tiny steps
# at batch 32 with that crop, CLIP reaches 7.5% zero-shot with v3's uniform colours (chance 6.25), 28.6% with
# typical colours at probability 0.6 and 42.5% at 0.8 (`python benchmarks/learnability.py --typical`; the dominant
# object's colour alone allows 40.0 and 51.25%). A colour word stays true of the object it names.


def typical_colour(category: str, categories: tuple[str, ...], colours: tuple[str, ...]) -> str:
    """The k-th category's typical colour is the (k mod C)-th colour of the benchmark's palette of C colours."""
    return colours[categories.index(category) % len(colours)]


# Digits whose upside-down glyph is not another digit (orientation probes avoid 0, 1, 6, 8, 9).
ORIENTABLE = ("triangle", "digit two", "digit three", "digit four", "digit five", "digit seven")

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (40, 170, 40),
    "blue": (40, 70, 220),
    "yellow": (240, 220, 30),
    "purple": (140, 40, 170),
    "orange": (250, 140, 20),
    "white": (245, 245, 245),
    "black": (15, 15, 15),
    "cyan": (30, 220, 220),
    "pink": (250, 130, 190),
}

# Background colours are named apart from object colours so a caption's colour word is never ambiguous.
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "gray": (128, 128, 128),
    "beige": (200, 185, 150),
    "brown": (110, 80, 55),
    "olive": (120, 120, 60),
}
TEXTURES = ("smooth", "grainy", "striped")

SIZES = {"large": (0.42, 0.50), "small": (0.20, 0.26)}  # object side as a fraction of the image side

# 3x3 grid regions, row-major; (row, col) of each named region.
POSITIONS: dict[str, tuple[int, int]] = {
    "top left": (0, 0), "top": (0, 1), "top right": (0, 2),
    "left": (1, 0), "center": (1, 1), "right": (1, 2),
    "bottom left": (2, 0), "bottom": (2, 1), "bottom right": (2, 2),
}

RELATIONS = ("to the left of", "to the right of", "above", "below")

# Benchmark v5 (docs/benchmark.md): a palette whose chromatic hues are >= 110 degrees apart (red 0, green 120, blue
# 230), so the official hue jitter (+-36 degrees) never turns one colour into another, plus white and black; and
# only vertical relations, which a horizontal flip keeps true. Every word is one token of CLIP's tokenizer.
V5_COLOURS = ("red", "green", "blue", "white", "black")
V5_RELATIONS = ("above", "below")

CLASSIFICATION_TEMPLATES = (
    "a photo of a {}.",
    "a picture of a {}.",
    "an image of a {}.",
    "a drawing of a {}.",
    "a {} in the scene.",
    "a large {}.",
)


def relation(a_box: tuple[float, float, float, float], b_box: tuple[float, float, float, float]) -> str:
    """The dominant spatial relation of box a to box b (x0, y0, x1, y1): the axis with the larger centre gap."""
    ax, ay = (a_box[0] + a_box[2]) / 2, (a_box[1] + a_box[3]) / 2
    bx, by = (b_box[0] + b_box[2]) / 2, (b_box[1] + b_box[3]) / 2
    if abs(ax - bx) >= abs(ay - by):
        return "to the left of" if ax < bx else "to the right of"
    return "above" if ay < by else "below"


def vertical_relation(a_box: tuple[float, float, float, float], b_box: tuple[float, float, float, float]) -> str:
    """Box a "above" or "below" box b, by their centres' height (v5 places objects in distinct rows)."""
    return "above" if a_box[1] + a_box[3] < b_box[1] + b_box[3] else "below"


def opposite(rel: str) -> str:
    return {"to the left of": "to the right of", "to the right of": "to the left of",
            "above": "below", "below": "above"}[rel]


def check_choice(kind: str, value: str, choices) -> str:
    """Return value if it is one of choices, else raise a ValueError naming the valid ones."""
    if value not in choices:
        raise ValueError(f"unknown {kind} {value!r}; valid choices: {', '.join(choices)}")
    return value
