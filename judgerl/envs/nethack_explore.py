"""How much of a NetHack level the hero has seen: the count behind the exploration bonus.

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
