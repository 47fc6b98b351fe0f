"""NetHack's glyphs in 14 map classes, for the policy's whole-map branch (``judgerl.envs.nethack_policy``).

Split from ``judgerl.envs.nethack`` (the env and its captions): this is what the
encoder reads the ``map`` member as (decision 0044).
"""

from __future__ import annotations

from functools import cache

import numpy as np

from judgerl.envs.nethack import MAX_GLYPH, import_nle

# What the policy's map encoder tells apart (judgerl.envs.nethack_policy): NetHack's 5,976 glyphs in 14 classes.
MAP_CLASSES = (
    "other", "unexplored", "wall", "door", "floor", "corridor", "stairs up", "stairs down",
    "dungeon feature", "water or lava", "monster", "pet", "object", "hero",
)  # fmt: skip
# NetHack 3.6's defsym.h order of the map symbols (glyph = GLYPH_CMAP_OFF + index) -> class
_CMAP_CLASSES = {
    0: "unexplored",  # S_stone
    **dict.fromkeys(range(1, 12), "wall"),  # S_vwall .. S_trwall
    **dict.fromkeys(range(12, 17), "door"),  # doorway, open and closed doors
    17: "wall",  # iron bars
    18: "wall",  # tree
    19: "floor",  # S_room
    20: "floor",  # S_darkroom
    21: "corridor",
    22: "corridor",  # lit
    23: "stairs up",
    24: "stairs down",
    25: "stairs up",  # ladder
    26: "stairs down",  # ladder
    **dict.fromkeys(range(27, 32), "dungeon feature"),  # altar, grave, throne, sink, fountain
    **dict.fromkeys(range(32, 42), "water or lava"),  # pool, ice, lava, drawbridges, air, cloud, water
}


@cache
def glyph_classes() -> np.ndarray:
    """``(MAX_GLYPH + 1,)`` int64: each glyph's index in :data:`MAP_CLASSES` (the hero is marked from ``blstats``)."""
    import_nle()
    from nle import nethack as n

    index = {name: i for i, name in enumerate(MAP_CLASSES)}
    out = np.zeros(MAX_GLYPH + 1, np.int64)  # "other": traps, effects, explosions, zaps, warnings
    out[n.GLYPH_MON_OFF : n.GLYPH_PET_OFF] = index["monster"]
    out[n.GLYPH_PET_OFF : n.GLYPH_INVIS_OFF] = index["pet"]
    out[n.GLYPH_INVIS_OFF : n.GLYPH_BODY_OFF] = index["monster"]  # remembered unseen, detected
    out[n.GLYPH_BODY_OFF : n.GLYPH_RIDDEN_OFF] = index["object"]  # corpses
    out[n.GLYPH_RIDDEN_OFF : n.GLYPH_OBJ_OFF] = index["monster"]
    out[n.GLYPH_OBJ_OFF : n.GLYPH_CMAP_OFF] = index["object"]
    out[n.GLYPH_WARNING_OFF : n.GLYPH_STATUE_OFF] = index["monster"]
    out[n.GLYPH_STATUE_OFF : MAX_GLYPH + 1] = index["object"]
    for symbol, name in _CMAP_CLASSES.items():
        out[n.GLYPH_CMAP_OFF + symbol] = index[name]
    return out
