"""What the hero remembers of a NetHack level: the cells it has seen, and what lies under the hero.

:class:`SeenCells` is the count behind the exploration bonus; :class:`GroundMemory`
is what the ``hero_terrain`` observation shows at the centre of the crop.

NLE's ``NetHackScout`` task pays for the map cells that stop being blank rock,
per level; Motif logs the same measure. judgerl's NetHack env reports the count
(``info["explored_cells"]``, :data:`judgerl.types.EXPLORED_INFO_KEY`) on every
step of every task, and ``reward.mix.explore_weight`` may add it to the agent's
reward (decision 0052). Unlike NLE's scout reward, which is the change in the
number of non-blank cells and can go negative, this counts cells seen for the
first time on their level, so it is never negative and a monster or an item
passing over a seen cell pays nothing.
"""

from __future__ import annotations

import numpy as np

from judgerl.envs.nethack_row import STONE_GLYPH


class SeenCells:
    """Remembers which map cells of each level the hero has seen; one instance per env, reset per game."""

    def __init__(self) -> None:
        self._seen: dict[tuple[int, int], np.ndarray] = {}

    def reset(self, glyphs: np.ndarray, level: tuple[int, int]) -> None:
        """Forget every level and take the game's first view as seen (the start pays nothing).

        Args:
            glyphs: ``(21, 79)`` glyph ids of the whole map.
            level: ``(dungeon number, depth)`` of the level the map shows.
        """
        self._seen = {}
        self.update(glyphs, level)

    def update(self, glyphs: np.ndarray, level: tuple[int, int]) -> int:
        """Mark the cells the map now shows; returns how many were seen for the first time on this level.

        Args:
            glyphs: ``(21, 79)`` glyph ids of the whole map.
            level: ``(dungeon number, depth)``: a level met again keeps what was seen of it.

        Returns:
            Number of cells, at least 0.
        """
        shown = np.asarray(glyphs) != STONE_GLYPH
        seen = self._seen.get(level)
        if seen is None or seen.shape != shown.shape:
            seen = self._seen[level] = np.zeros(shown.shape, bool)
        new = shown & ~seen
        seen |= new
        return int(np.count_nonzero(new))


class GroundMemory:
    """The last terrain or object glyph seen on each cell of the current level; one instance per env.

    The hero's own glyph hides the cell it stands on, so a crop centred on the
    hero always shows the hero at its centre. An env with ``hero_terrain=True``
    shows there what this memory says lies under the hero instead, such as the
    staircase down the hero is standing on (decision 0053).

    Args:
        shows_ground: ``(MAX_GLYPH + 1,)`` bool: whether a glyph shows what lies on a cell (terrain or an
            object) rather than a creature over it (``judgerl.envs.nethack_landmarks.glyph_tables``).
    """

    def __init__(self, shows_ground: np.ndarray) -> None:
        self.shows_ground = np.asarray(shows_ground, bool)
        self.reset()

    def reset(self) -> None:
        """Forget everything (a new game)."""
        self._ground = np.zeros((0, 0), np.int16)
        self._level: tuple[int, int] | None = None

    def update(self, glyphs: np.ndarray, level: tuple[int, int]) -> None:
        """Remember what the map shows on its cells; another level starts from blank rock.

        Args:
            glyphs: ``(21, 79)`` glyph ids of the whole map.
            level: ``(dungeon number, depth)``.
        """
        g = np.asarray(glyphs)
        if level != self._level or g.shape != self._ground.shape:
            self._ground = np.full(g.shape, STONE_GLYPH, np.int16)
            self._level = level
        visible = self.shows_ground[np.clip(g, 0, len(self.shows_ground) - 1)]
        self._ground[visible] = g[visible]

    def at(self, x: int, y: int) -> int:
        """The glyph last seen on column ``x``, row ``y`` (blank rock if never seen or off the map)."""
        rows, cols = self._ground.shape
        return int(self._ground[y, x]) if 0 <= y < rows and 0 <= x < cols else STONE_GLYPH
