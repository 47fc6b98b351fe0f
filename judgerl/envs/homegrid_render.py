"""RGB rendering of ``homegrid/cat-values-v0``: numpy-drawn tiles and sprites, no image files.

Every tile and sprite is drawn from simple shapes (discs, ellipses, boxes,
triangles) in coordinates relative to the tile, so any ``tile_size`` works; 32
px tiles give the seed's 448×384 frames. The background (walls, floors,
furniture) and the sprites are cached per tile size, so a frame costs one copy
plus four masked pastes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np

from judgerl.envs import homegrid_layout as hl
from judgerl.envs.homegrid import HomegridState
from judgerl.envs.homegrid_captions import decode_obs

Colour = tuple[int, int, int]
Sprite = tuple[np.ndarray, np.ndarray]  # (rgb (s, s, 3) uint8, mask (s, s) bool)


def _grid(s: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates ``(u, v)`` in ``[0, 1]``, each ``(s, s)``: u = across, v = down."""
    v, u = (np.mgrid[0:s, 0:s] + 0.5) / s
    return u, v


def _disc(u: np.ndarray, v: np.ndarray, cu: float, cv: float, r: float) -> np.ndarray:
    return (u - cu) ** 2 + (v - cv) ** 2 <= r * r


def _ellipse(u: np.ndarray, v: np.ndarray, cu: float, cv: float, ru: float, rv: float) -> np.ndarray:
    return ((u - cu) / ru) ** 2 + ((v - cv) / rv) ** 2 <= 1.0


def _box(u: np.ndarray, v: np.ndarray, u0: float, v0: float, u1: float, v1: float) -> np.ndarray:
    return (u >= u0) & (u <= u1) & (v >= v0) & (v <= v1)


def _triangle(u: np.ndarray, v: np.ndarray, pts: tuple[tuple[float, float], ...]) -> np.ndarray:
    """Points inside the triangle ``pts`` (three ``(u, v)`` corners)."""
    (a0, b0), (a1, b1), (a2, b2) = pts

    def side(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        return (u - x1) * (y0 - y1) - (x0 - x1) * (v - y1)

    d1, d2, d3 = side(a0, b0, a1, b1), side(a1, b1, a2, b2), side(a2, b2, a0, b0)
    neg = (d1 < 0) | (d2 < 0) | (d3 < 0)
    pos = (d1 > 0) | (d2 > 0) | (d3 > 0)
    return ~(neg & pos)


class _Canvas:
    """One tile being painted: layers of (mask, colour) in order."""

    def __init__(self, s: int, base: Colour | None = None) -> None:
        self.u, self.v = _grid(s)
        self.rgb = np.zeros((s, s, 3), dtype=np.uint8)
        self.mask = np.zeros((s, s), dtype=bool)
        if base is not None:
            self.paint(np.ones((s, s), dtype=bool), base)

    def paint(self, mask: np.ndarray, colour: Colour) -> None:
        self.rgb[mask] = colour
        self.mask |= mask

    def sprite(self) -> Sprite:
        return self.rgb, self.mask


# ---------------------------------------------------------------------------
# floor, walls and furniture


def _floor(s: int, x: int, y: int) -> np.ndarray:
    c = _Canvas(s)
    if hl.room_of(x, y) == "kitchen":
        c.paint(np.ones((s, s), bool), (226, 224, 214) if (x + y) % 2 == 0 else (204, 202, 192))
    else:
        c.paint(np.ones((s, s), bool), (196, 156, 104))
        for edge in (0.33, 0.66):  # planks
            c.paint(np.abs(c.v - edge) < 0.02, (170, 130, 84))
    c.paint((c.u < 0.02) | (c.v < 0.02), (180, 178, 170))  # grid lines keep tiles countable
    return c.rgb


def _furniture(s: int, ch: str, floor: np.ndarray) -> np.ndarray:
    c = _Canvas(s)
    c.rgb[:] = floor
    u, v = c.u, c.v
    if ch == "#":
        c.paint(np.ones((s, s), bool), (72, 62, 58))
        c.paint(_box(u, v, 0, 0, 1, 0.12), (98, 86, 80))
    elif ch in "CKS":  # counter, sink, stove share the worktop
        c.paint(_box(u, v, 0, 0, 1, 1), (150, 110, 72))
        c.paint(_box(u, v, 0, 0, 1, 0.55), (232, 224, 206))
        c.paint(_box(u, v, 0.1, 0.62, 0.9, 0.95) & (np.abs(u - 0.5) > 0.03), (128, 92, 60))  # cupboard doors
        if ch == "K":
            c.paint(_ellipse(u, v, 0.5, 0.28, 0.34, 0.2), (150, 165, 180))
            c.paint(_box(u, v, 0.47, 0.02, 0.53, 0.14), (110, 110, 120))
        if ch == "S":
            c.paint(_box(u, v, 0, 0, 1, 0.55), (60, 60, 64))
            for cu in (0.28, 0.72):
                c.paint(_disc(u, v, cu, 0.28, 0.16) & ~_disc(u, v, cu, 0.28, 0.09), (200, 60, 40))
    elif ch == "F":
        c.paint(_box(u, v, 0.05, 0, 0.95, 1), (236, 240, 244))
        c.paint(np.abs(v - 0.4) < 0.02, (170, 175, 180))
        c.paint(_box(u, v, 0.78, 0.15, 0.84, 0.33) | _box(u, v, 0.78, 0.5, 0.84, 0.75), (120, 125, 130))
    elif ch == "T":
        c.paint(_box(u, v, 0.02, 0.02, 0.98, 0.98), (140, 92, 52))
        c.paint(_box(u, v, 0.08, 0.08, 0.92, 0.92), (160, 108, 62))
    elif ch == "B":
        c.paint(_box(u, v, 0.02, 0, 0.98, 1), (92, 60, 36))
        books = ((176, 48, 48), (48, 96, 168), (60, 140, 70), (200, 170, 60))
        for row, v0 in enumerate((0.08, 0.55)):
            for i in range(5):
                u0 = 0.1 + i * 0.16
                c.paint(_box(u, v, u0, v0, u0 + 0.12, v0 + 0.36), books[(i + row) % 4])
    elif ch == "P":
        c.paint(
            _triangle(u, v, ((0.3, 0.62), (0.7, 0.62), (0.5, 0.98))) | _box(u, v, 0.3, 0.6, 0.7, 0.8), (160, 84, 44)
        )
        for cu, cv, r in ((0.5, 0.3, 0.22), (0.3, 0.42, 0.16), (0.7, 0.42, 0.16)):
            c.paint(_disc(u, v, cu, cv, r), (52, 140, 60))
    elif ch == "A":
        c.paint(_box(u, v, 0.08, 0.1, 0.92, 0.95), (150, 58, 58))
        c.paint(_box(u, v, 0.22, 0.3, 0.78, 0.85), (182, 80, 80))
    elif ch == "c":
        c.paint(_box(u, v, 0.1, 0.2, 0.9, 0.8), (112, 76, 46))
        c.paint(_disc(u, v, 0.35, 0.5, 0.08), (230, 230, 230))  # a cup
    elif ch == "O":
        c.paint(_box(u, v, 0, 0.1, 1, 0.95), (70, 92, 160))
        c.paint(_box(u, v, 0.06, 0.42, 0.94, 0.9), (96, 120, 190))
    elif ch == "V":
        c.paint(_box(u, v, 0, 0.55, 1, 0.95), (80, 60, 44))
        c.paint(_box(u, v, 0.02, 0.08, 0.98, 0.6), (24, 24, 30))
        c.paint(_box(u, v, 0.08, 0.14, 0.92, 0.54), (40, 60, 92))
    return c.rgb


@lru_cache(maxsize=8)
def background(tile_size: int = 32) -> np.ndarray:
    """The static scene: floors, walls and furniture, shape ``(12·tile, 14·tile, 3)`` uint8 (read-only)."""
    s = tile_size
    img = np.zeros((hl.HEIGHT * s, hl.WIDTH * s, 3), dtype=np.uint8)
    for y, row in enumerate(hl.LAYOUT):
        for x, ch in enumerate(row):
            floor = _floor(s, x, y)
            img[y * s : (y + 1) * s, x * s : (x + 1) * s] = floor if ch == "." else _furniture(s, ch, floor)
    img.setflags(write=False)
    return img


# ---------------------------------------------------------------------------
# sprites


def _robot(s: int, facing: int) -> Sprite:
    c = _Canvas(s)
    u, v = c.u, c.v
    c.paint(_box(u, v, 0.2, 0.08, 0.8, 0.2) & (np.abs(u - 0.5) < 0.03), (90, 90, 100))  # antenna
    c.paint(_disc(u, v, 0.5, 0.08, 0.06), (230, 60, 60))
    c.paint(_box(u, v, 0.16, 0.2, 0.84, 0.9), (60, 64, 76))  # outline
    c.paint(_box(u, v, 0.2, 0.24, 0.8, 0.86), (170, 178, 192))  # body
    c.paint(_box(u, v, 0.26, 0.3, 0.74, 0.52), (40, 44, 56))  # visor
    dx, dy, _ = hl.DIRECTIONS[facing]
    # The eyes look the way the robot faces; northwards they disappear (we see its back).
    if facing != 0:
        for e in (-0.1, 0.1):
            c.paint(_disc(u, v, 0.5 + e + 0.1 * dx, 0.41 + 0.03 * dy, 0.055), (80, 220, 240))
    c.paint(_box(u, v, 0.1, 0.7, 0.2, 0.92) | _box(u, v, 0.8, 0.7, 0.9, 0.92), (40, 40, 44))  # wheels
    c.paint(_triangle(u, v, _arrow(facing)), (240, 200, 40))  # heading marker on the chest
    return c.sprite()


def _arrow(facing: int) -> tuple[tuple[float, float], ...]:
    cu, cv, r = 0.5, 0.7, 0.09
    dx, dy, _ = hl.DIRECTIONS[facing]
    tip = (cu + dx * r, cv + dy * r)
    left = (cu - dx * r - dy * r, cv - dy * r + dx * r)
    right = (cu - dx * r + dy * r, cv - dy * r - dx * r)
    return (tip, left, right)


def _fruit(s: int) -> Sprite:
    c = _Canvas(s)
    u, v = c.u, c.v
    c.paint(_disc(u, v, 0.4, 0.58, 0.27) | _disc(u, v, 0.6, 0.58, 0.27), (206, 30, 36))
    c.paint(_disc(u, v, 0.38, 0.5, 0.07), (240, 120, 120))  # highlight
    c.paint(_box(u, v, 0.48, 0.14, 0.53, 0.34), (100, 64, 30))  # stem
    c.paint(_ellipse(u, v, 0.64, 0.22, 0.13, 0.07), (60, 160, 60))  # leaf
    return c.sprite()


def _cat(s: int) -> Sprite:
    c = _Canvas(s)
    u, v = c.u, c.v
    orange, dark = (236, 146, 44), (150, 80, 20)
    tail = (_disc(u, v, 0.78, 0.62, 0.16) & ~_disc(u, v, 0.78, 0.62, 0.09)) & (u > 0.78)
    c.paint(tail, dark)
    c.paint(_ellipse(u, v, 0.55, 0.7, 0.3, 0.2), orange)  # body
    c.paint(_ellipse(u, v, 0.55, 0.7, 0.3, 0.2) & (np.abs(u - 0.6) < 0.03), dark)  # stripe
    c.paint(_triangle(u, v, ((0.16, 0.26), (0.24, 0.06), (0.34, 0.24))), dark)  # ears
    c.paint(_triangle(u, v, ((0.36, 0.24), (0.46, 0.06), (0.54, 0.26))), dark)
    c.paint(_disc(u, v, 0.35, 0.38, 0.2), orange)  # head
    for e in (0.27, 0.43):
        c.paint(_ellipse(u, v, e, 0.35, 0.04, 0.06), (40, 110, 40))
    c.paint(_triangle(u, v, ((0.32, 0.44), (0.38, 0.44), (0.35, 0.48))), (230, 110, 140))  # nose
    return c.sprite()


def _stain(s: int) -> Sprite:
    c = _Canvas(s)
    u, v = c.u, c.v
    blob = (
        _ellipse(u, v, 0.5, 0.55, 0.3, 0.22)
        | _disc(u, v, 0.3, 0.4, 0.14)
        | _disc(u, v, 0.68, 0.38, 0.12)
        | _disc(u, v, 0.62, 0.74, 0.13)
    )
    c.paint(blob, (120, 8, 12))
    c.paint(_disc(u, v, 0.45, 0.5, 0.12), (150, 14, 18))
    for cu, cv, r in ((0.12, 0.2, 0.05), (0.86, 0.18, 0.04), (0.88, 0.78, 0.05), (0.18, 0.82, 0.04)):
        c.paint(_disc(u, v, cu, cv, r), (120, 8, 12))  # splatter
    return c.sprite()


@lru_cache(maxsize=64)
def sprite(name: str, tile_size: int = 32, facing: int = 1) -> Sprite:
    """A sprite as ``(rgb (s, s, 3) uint8, mask (s, s) bool)``; ``name`` in robot, fruit, cat, stain."""
    makers: dict[str, Callable[[int], Sprite]] = {"fruit": _fruit, "cat": _cat, "stain": _stain}
    if name == "robot":
        return _robot(tile_size, facing)
    if name not in makers:
        raise ValueError(f"unknown sprite {name!r}; expected robot, fruit, cat or stain")
    return makers[name](tile_size)


def _paste(img: np.ndarray, spr: Sprite, x: int, y: int, s: int) -> None:
    rgb, mask = spr
    tile = img[y * s : (y + 1) * s, x * s : (x + 1) * s]
    tile[mask] = rgb[mask]


def render_state(state: HomegridState, tile_size: int = 32) -> np.ndarray:
    """Draw one state.

    Args:
        state: Robot, fruit, cat (or stain) and facing.
        tile_size: Pixels per tile.

    Returns:
        RGB frame, shape ``(12·tile_size, 14·tile_size, 3)`` uint8 (448×384 at 32 px).
    """
    s = tile_size
    img = background(s).copy()
    _paste(img, sprite("stain" if not state.cat_alive else "cat", s), *state.cat, s)
    _paste(img, sprite("fruit", s), *state.fruit, s)
    _paste(img, sprite("robot", s, state.facing), *state.robot, s)
    return img


def render_obs(obs: np.ndarray, tile_size: int = 32, facing: int = 1) -> np.ndarray:
    """Draw a frame from an observation alone (``(672,)`` or ``(12, 14, 4)``; facing is not observed).

    Useful to render the observation after an episode's last step, or stored
    observations, for image judges.

    Returns:
        RGB frame, shape ``(12·tile_size, 14·tile_size, 3)`` uint8.
    """
    v = decode_obs(obs)
    s = tile_size
    img = background(s).copy()
    if v.cat is not None:
        _paste(img, sprite("cat" if v.cat_alive else "stain", s), *v.cat, s)
    _paste(img, sprite("fruit", s), *v.fruit, s)
    _paste(img, sprite("robot", s, facing), *v.robot, s)
    return img
