"""Landmarks on a NetHack level (stairs, fountains, altars, gold), what the hero sees of them, in numbers and words.

Motif's captions are the game's messages, and NetHack prints none when a
staircase comes into view or when the hero steps onto it: the only message on
the way down is the level change itself, once per game, at the very end. A judge
asked to reward going down then has a single rare event to pay for, and the
500k-step runs showed that an agent which meets it once in 20 games does not
learn from it (decision 0048). This module names what a player sees on the
screen and the game does not print:

- a landmark **comes into view**: a cell of the map shows it for the first time
  in this game ("You see a staircase down.", "You see gold.");
- the hero **arrives on** a landmark ("You are standing on a staircase down.").
  The hero's glyph hides what lies under it, so the tracker remembers the
  terrain of every cell it has seen (:class:`GroundMemory`).

The words are generic (every landmark in :data:`LANDMARKS`, whatever the goal);
which of them is progress is still the judge's call.

The env (``judgerl.envs.nethack``, ``landmarks=True``) keeps a
:class:`LandmarkTracker` and stores its output as the ``landmarks`` member,
``(3, L)`` int16: row 0 how many cells of each landmark came into view this step,
row 1 whether the hero stands on it, row 2 whether the hero arrived on it this step.
"""

from __future__ import annotations

from collections.abc import Hashable
from functools import cache

import numpy as np

LANDMARKS: tuple[str, ...] = (
    "staircase down", "staircase up", "fountain", "altar", "sink", "throne", "grave", "gold",
)  # fmt: skip
"""What the tracker follows, in the order of the ``landmarks`` member's columns."""

# NetHack 3.6's defsym.h indices of the map symbols (glyph = GLYPH_CMAP_OFF + index) that are landmarks.
_CMAP_LANDMARKS = {23: "staircase up", 24: "staircase down", 25: "staircase up", 26: "staircase down",
                   27: "altar", 28: "grave", 29: "throne", 30: "sink", 31: "fountain"}  # fmt: skip
_TERRAIN_SYMBOLS = 42  # defsym.h: S_stone .. S_water and the clouds; after them come traps and effects
ROWS = 3  # came into view, stands on, arrived on
STONE_GLYPH = 2359  # GLYPH_CMAP_OFF + S_stone: the blank glyph of unexplored rock (tests check it against nle)


@cache
def glyph_tables() -> tuple[np.ndarray, np.ndarray]:
    """``(landmark, shows_ground)``, each ``(MAX_GLYPH + 1,)``.

    ``landmark[g]`` is the index in :data:`LANDMARKS` that glyph ``g`` shows, or -1;
    ``shows_ground[g]`` is whether ``g`` shows what lies on a cell (terrain or an
    object) rather than a creature standing over it, so it may overwrite the
    tracker's memory of that cell.
    """
    from judgerl.envs.nethack import MAX_GLYPH, import_nle  # here: judgerl.envs.nethack imports this module

    import_nle()
    from nle import nethack as n

    landmark = np.full(MAX_GLYPH + 1, -1, np.int64)
    ground = np.zeros(MAX_GLYPH + 1, bool)
    ground[n.GLYPH_OBJ_OFF : n.GLYPH_CMAP_OFF + _TERRAIN_SYMBOLS] = True
    ground[n.GLYPH_BODY_OFF : n.GLYPH_RIDDEN_OFF] = True  # corpses lie on the ground
    for symbol, name in _CMAP_LANDMARKS.items():
        landmark[n.GLYPH_CMAP_OFF + symbol] = LANDMARKS.index(name)
    gold = next(i for i in range(n.NUM_OBJECTS) if n.OBJ_NAME(n.objclass(i)) == "gold piece")
    landmark[n.GLYPH_OBJ_OFF + gold] = LANDMARKS.index("gold")
    return landmark, ground


class GroundMemory:
    """The last terrain or object glyph seen on each cell of the current level; one instance per env.

    The hero's own glyph hides the cell it stands on. :class:`LandmarkTracker`
    reads this memory to know which landmark the hero stands on, and an env with
    ``hero_terrain=True`` shows the remembered glyph at the centre of its crop,
    where the hero always is (decision 0053).

    Args:
        shows_ground: ``(G,)`` bool: whether glyph ``g`` shows what lies on a cell (terrain or an object)
            rather than a creature over it (:func:`glyph_tables`).
    """

    def __init__(self, shows_ground: np.ndarray) -> None:
        self.shows_ground = np.asarray(shows_ground, bool)
        self.reset()

    def reset(self) -> None:
        """Forget everything (a new game)."""
        self.ground = np.zeros((0, 0), np.int64)  # the glyph last seen on each cell, -1 for none
        self._level: Hashable = None

    def update(self, glyphs: np.ndarray, level: Hashable) -> bool:
        """Remember what the map shows on its cells; another level starts from nothing seen.

        Args:
            glyphs: ``(21, 79)`` glyph ids of the whole map, each below ``len(shows_ground)``.
            level: The level's key (a level met again under another key starts afresh).

        Returns:
            Whether this started a new level.
        """
        g = np.asarray(glyphs, np.int64)
        new_level = level != self._level or g.shape != self.ground.shape
        if new_level:
            self.ground = np.full(g.shape, -1, np.int64)
            self._level = level
        visible = self.shows_ground[g]
        self.ground[visible] = g[visible]
        return new_level

    def at(self, x: int, y: int) -> int:
        """The glyph last seen on column ``x``, row ``y`` (blank rock if never seen or off the map)."""
        rows, cols = self.ground.shape
        glyph = int(self.ground[y, x]) if 0 <= y < rows and 0 <= x < cols else -1
        return glyph if glyph >= 0 else STONE_GLYPH


class LandmarkTracker:
    """Remembers the landmarks of one level as the hero sees them; one instance per env, reset per game.

    Args:
        tables: ``(landmark, shows_ground)`` glyph tables (default: :func:`glyph_tables`, which needs ``nle``).
    """

    def __init__(self, tables: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        self.landmark, shows_ground = tables if tables is not None else glyph_tables()
        self.memory = GroundMemory(shows_ground)  # what lies on each cell, the hero's included
        self.reset()

    def reset(self) -> None:
        """Forget the level (a new game)."""
        self.memory.reset()
        self._seen = np.zeros((len(LANDMARKS), 0, 0), bool)  # cells that have shown each landmark
        self._on = -1

    def update(self, glyphs: np.ndarray, x: int, y: int, depth: int) -> np.ndarray:
        """Read one step's map; returns the ``(3, L)`` int16 member (see the module docstring).

        Args:
            glyphs: ``(21, 79)`` glyph ids of the whole map.
            x: The hero's column.
            y: The hero's row.
            depth: The dungeon level (a new level is a new map to remember).
        """
        g = np.clip(np.asarray(glyphs, np.int64), 0, len(self.landmark) - 1)
        if self.memory.update(g, depth):  # another level: forget the last one's map
            self._seen = np.zeros((len(LANDMARKS), *g.shape), bool)
            self._on = -1
        seen = self.memory.ground
        ground = np.where(seen >= 0, self.landmark[np.maximum(seen, 0)], -1)  # landmark index of each cell, or -1
        out = np.zeros((ROWS, len(LANDMARKS)), np.int16)
        for k in range(len(LANDMARKS)):
            new = (ground == k) & ~self._seen[k]
            out[0, k] = int(new.sum())
            self._seen[k] |= new
        rows, cols = g.shape
        on = int(ground[y, x]) if 0 <= y < rows and 0 <= x < cols else -1
        if on >= 0:
            out[1, on] = 1
            if on != self._on:
                out[2, on] = 1
        self._on = on
        return out


def landmarks_in_words(member: np.ndarray) -> list[str]:
    """The ``landmarks`` member ``(3, L)`` (or its flat ``(3L,)`` row slice) as sentences, sightings first."""
    m = np.asarray(member).reshape(ROWS, len(LANDMARKS))
    out = []
    for k, name in enumerate(LANDMARKS):
        if m[0, k] > 0:
            out.append("You see gold." if name == "gold" else f"You see a {name}.")
    for k, name in enumerate(LANDMARKS):
        if m[2, k] > 0 and name != "gold":  # gold is picked up on arrival, which the status line already says
            out.append(f"You are standing on a {name}.")
    return out
