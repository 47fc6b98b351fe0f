"""The flat row of a NetHack observation: its members, where each sits, and its caption in words.

Split from ``judgerl.envs.nethack`` (the env): the label store keeps every
observation as one flat row, and the captioner, the policy's encoder and the
task's success tests read members out of it by :class:`Layout`, without ``nle``.

Members, in the order gymnasium's ``Dict`` sorts them (a flat row is their
concatenation): ``blstats`` (27), ``glyphs`` (crop × crop), ``landmarks`` (3 × 8,
``landmarks=True``), ``map`` (21 × 79, ``full_map=True``), ``message`` (256),
``prev_blstats`` (27, ``status_changes=True``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

from judgerl.envs.nethack_landmarks import LANDMARKS, ROWS, landmarks_in_words
from judgerl.envs.nethack_landmarks import STONE_GLYPH as STONE_GLYPH  # re-exported: the rows' blank glyph
from judgerl.envs.nethack_messages import game_events
from judgerl.types import NO_MESSAGE

# nle.nethack constants, copied so captions and success tests work without importing nle
# (tests/unit/test_nethack.py checks them against nle).
BL_X, BL_Y, BL_SCORE, BL_HP, BL_DEPTH, BL_GOLD, BL_XP, BL_DNUM, BL_CONDITION = 0, 1, 9, 10, 12, 13, 18, 23, 25
N_BLSTATS = 27
MAX_GLYPH = 5976
MASK_HALLU = 0x200  # BL_MASK_HALLU: the hero is hallucinating
MESSAGE_LEN = 256
TASK_SUCCESSFUL = 2  # NetHackStaircase.StepStatus.TASK_SUCCESSFUL


def decode_message(values: np.ndarray) -> str:
    """Message bytes (any numeric dtype) as words: up to the first NUL, whitespace runs collapsed, stripped."""
    raw = np.asarray(values).astype(np.uint8).tobytes().split(b"\0", 1)[0]
    return " ".join(raw.decode("latin-1").split())


MAP_SHAPE = (21, 79)  # NLE's DUNGEON_SHAPE: rows, columns


def observation_space(
    crop: int = 9, status_changes: bool = False, full_map: bool = False, landmarks: bool = False
) -> spaces.Dict:
    """The env's observation space (a flat row is its members concatenated in key order)."""
    lo, hi = np.iinfo(np.int32).min, np.iinfo(np.int32).max
    members: dict[str, spaces.Space[Any]] = {
        "blstats": spaces.Box(lo, hi, (N_BLSTATS,), np.int64),
        "glyphs": spaces.Box(0, MAX_GLYPH, (crop, crop), np.int16),
        "message": spaces.Box(0, 255, (MESSAGE_LEN,), np.uint8),
    }
    if status_changes:
        members["prev_blstats"] = spaces.Box(lo, hi, (N_BLSTATS,), np.int64)
    if full_map:
        members["map"] = spaces.Box(0, MAX_GLYPH, MAP_SHAPE, np.int16)
    if landmarks:
        members["landmarks"] = spaces.Box(0, MAP_SHAPE[0] * MAP_SHAPE[1], (ROWS, len(LANDMARKS)), np.int16)
    return spaces.Dict(members)  # gymnasium sorts the keys: blstats, glyphs, landmarks, map, message, prev_blstats


@dataclass(frozen=True)
class Layout:
    """Where each member sits in a flat row (offsets in values), for a crop size and the member options."""

    crop: int = 9
    status_changes: bool = False
    full_map: bool = False
    landmarks: bool = False

    @property
    def blstats(self) -> slice:
        """The hero's bottom-line statistics."""
        return slice(0, N_BLSTATS)

    @property
    def glyphs(self) -> slice:
        """The glyph crop, raveled row by row."""
        return slice(N_BLSTATS, N_BLSTATS + self.crop * self.crop)

    @property
    def landmarks_slice(self) -> slice | None:
        """The landmarks member ``(3, L)`` raveled (``judgerl.envs.nethack_landmarks``), or ``None`` without it."""
        if not self.landmarks:
            return None
        start = self.glyphs.stop
        return slice(start, start + ROWS * len(LANDMARKS))

    @property
    def map(self) -> slice | None:
        """The whole glyph map, raveled row by row, or ``None`` without ``full_map``."""
        if not self.full_map:
            return None
        start = (self.landmarks_slice or self.glyphs).stop
        return slice(start, start + MAP_SHAPE[0] * MAP_SHAPE[1])

    @property
    def message(self) -> slice:
        """The message bytes."""
        start = (self.map or self.landmarks_slice or self.glyphs).stop
        return slice(start, start + MESSAGE_LEN)

    @property
    def prev_blstats(self) -> slice | None:
        """The previous step's statistics, or ``None`` without ``status_changes``."""
        if not self.status_changes:
            return None
        start = self.message.stop
        return slice(start, start + N_BLSTATS)

    @property
    def width(self) -> int:
        """Values per flat row ``O``."""
        end = self.prev_blstats or self.message
        return end.stop


def status_changes_in_words(prev: np.ndarray, now: np.ndarray) -> list[str]:
    """What changed on the status line between two ``blstats`` rows, as short sentences (depth, gold, level, HP)."""
    if not np.any(prev) or not np.any(now):
        return []
    p, n = (np.asarray(v, np.int64) for v in (prev, now))
    out = []
    if n[BL_DEPTH] != p[BL_DEPTH]:
        out.append(f"You are now on dungeon level {n[BL_DEPTH]} (was {p[BL_DEPTH]}).")
    if n[BL_GOLD] != p[BL_GOLD]:
        out.append(f"Your gold {'rises' if n[BL_GOLD] > p[BL_GOLD] else 'falls'} to {n[BL_GOLD]}.")
    if n[BL_XP] != p[BL_XP]:
        out.append(f"Your experience level is now {n[BL_XP]}.")
    if n[BL_HP] < p[BL_HP]:
        out.append(f"You lose {p[BL_HP] - n[BL_HP]} hit points.")
    elif n[BL_HP] > p[BL_HP]:
        out.append(f"You regain {n[BL_HP] - p[BL_HP]} hit points.")
    return out


@dataclass(frozen=True)
class NetHackCaptioner:
    """The caption of a flat NetHack row: the game message in words, then what the row adds to it.

    In order: the message; landmarks that came into view or that the hero arrived on, when the
    row has them (:func:`judgerl.envs.nethack_landmarks.landmarks_in_words`); status-line changes,
    when the row has the previous status line. A step with none of these is
    :data:`judgerl.types.NO_MESSAGE` (a caption is never empty). With ``game_events_only``
    prompts and key echoes are left out of the message
    (:func:`judgerl.envs.nethack_messages.game_events`).
    """

    layout: Layout
    game_events_only: bool = False

    def __call__(self, row: np.ndarray) -> str:
        """Caption of one flat row ``(O,)``."""
        row = np.asarray(row)
        message = decode_message(row[self.layout.message])
        words = [game_events(message) if self.game_events_only else message]
        seen = self.layout.landmarks_slice
        if seen is not None:
            words += landmarks_in_words(row[seen])
        prev = self.layout.prev_blstats
        if prev is not None:
            words += status_changes_in_words(row[prev], row[self.layout.blstats])
        text = " ".join(w for w in words if w)
        return text or NO_MESSAGE
