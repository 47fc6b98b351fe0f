"""NetHack (the NetHack Learning Environment, ``nle``) as a small gymnasium Dict env.

NLE's full observation is large (``glyphs`` alone is 21×79); judgerl stores every
observation as a flat row in the label store, so this env keeps three members and a few optional ones:

- ``glyphs``: a ``crop × crop`` window of glyph ids centred on the hero
  (``blstats`` x, y; outside the map padded with the blank "stone" glyph), int16;
  with ``hero_terrain=True`` its centre shows what the hero stands on, not the hero;
- ``blstats``: NLE's 27 bottom-line statistics (position, score, HP, depth,
  gold, experience level, turn, conditions...), int64;
- ``message``: the game message line, 256 bytes, NUL-padded;
- ``prev_blstats`` (only with ``status_changes=True``): the previous step's
  ``blstats``, so the caption can say what changed;
- ``map`` (only with ``full_map=True``): the whole 21×79 glyph map, int16. The
  crop shows the hero's surroundings only, and a policy without memory cannot
  find a staircase it does not see; the map is its memory of the level (what was
  explored, where the ``>`` is), as in NLE's baseline and Motif's policy;
- ``landmarks`` (only with ``landmarks=True``): ``(3, 8)`` int16, which stairs,
  fountains, altars and gold came into view this step and which one the hero
  stands on (``judgerl.envs.nethack_landmarks``), for captions that say what the
  game does not print.

The members and their offsets in a flat row are ``judgerl.envs.nethack_row``.

With the default 9×9 crop a flat row is 27 + 81 + 256 = 364 values (2,023 with the map).

**Seeding.** NLE ignores gymnasium's ``reset(seed=...)``; here every reset draws
NetHack's core and display seeds from the env's ``np_random`` (seeded by
``reset(seed=s)``), so a seeded env plays a reproducible *sequence* of distinct
games, and the moon phase is derived from the seed (``fix_moon_phase``).

**After the game ends** NLE reports all-zero ``blstats`` and glyphs; this env
repeats the last in-game ``blstats`` and crop instead, so the final observation
still says where the hero died, how deep and with what score.

**Facts.** Every step's ``info["episode_facts"]`` holds the episode so far:
``score`` (in-game score), ``max_depth``, ``gold``, ``distinct_messages``, ``kills``
(monsters the hero killed, by the messages: :func:`judgerl.envs.nethack_messages.hero_kills`) and
``nle_success`` (1 when NLE ended the episode with ``TASK_SUCCESSFUL``: the
staircase descended, the Oracle next to the hero); with ``landmarks``, also
``stood_on_stairs_down`` (1 once the hero has stood on a staircase down: the
step before going down, which the descend goal's agents may reach without taking it). ``judgerl.evaluation`` averages
them into ``eval/<fact>``.

**Exploration.** Every step's ``info["explored_cells"]`` says how many map cells the step showed for the
first time on their level (``judgerl.envs.nethack_explore``), for ``reward.mix.explore_weight``.

``nle`` is an optional dependency (the ``nethack`` extra; ``make extras`` installs it): this
module imports it only when an env is built.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import gymnasium as gym
import numpy as np

from judgerl.envs.nethack_explore import SeenCells
from judgerl.envs.nethack_landmarks import LANDMARKS, ROWS, GroundMemory, LandmarkTracker, glyph_tables
from judgerl.envs.nethack_messages import hero_kills
from judgerl.envs.nethack_row import (  # re-exported: the tasks and the policy read rows through this module
    BL_CONDITION,
    BL_DEPTH,
    BL_DNUM,
    BL_GOLD,
    BL_HP,
    BL_SCORE,
    BL_X,
    BL_XP,
    BL_Y,
    MAP_SHAPE,
    MASK_HALLU,
    MAX_GLYPH,
    MESSAGE_LEN,
    N_BLSTATS,
    STONE_GLYPH,
    TASK_SUCCESSFUL,
    Layout,
    NetHackCaptioner,
    decode_message,
    observation_space,
    status_changes_in_words,
)
from judgerl.install_hints import MissingDependency, install_hint
from judgerl.types import EXPLORED_INFO_KEY

__all__ = [
    "BL_CONDITION", "BL_DEPTH", "BL_DNUM", "BL_GOLD", "BL_HP", "BL_SCORE", "BL_X", "BL_XP", "BL_Y", "ENV_IDS",
    "MAP_SHAPE", "MASK_HALLU", "MAX_GLYPH", "MESSAGE_LEN", "N_BLSTATS", "NLE_TASKS", "STONE_GLYPH",
    "TASK_SUCCESSFUL", "Layout", "NetHackCaptioner", "NetHackCropEnv", "crop_glyphs", "decode_message",
    "import_nle", "nle_task_class", "observation_space", "oracle_glyph", "register_envs", "status_changes_in_words",
]  # fmt: skip

STAIRS_DOWN = LANDMARKS.index("staircase down")
NLE_TASKS = {"score": "NetHackScore", "staircase": "NetHackStaircase", "oracle": "NetHackOracle"}
ENV_IDS = {name: f"judgerl/{cls}Crop-v0" for name, cls in NLE_TASKS.items()}
NLE_MISSING = (
    f"NetHack tasks need the NetHack Learning Environment (nle), which is not installed: {install_hint('nethack')}"
)


def import_nle() -> Any:
    """``nle.env.tasks``, or an ImportError saying how to install it."""
    try:
        from nle.env import tasks
    except ImportError as e:
        raise MissingDependency(NLE_MISSING) from e
    return tasks


@cache
def oracle_glyph() -> int:
    """The glyph id of the Oracle (a peaceful monster), found as NLE's oracle task finds it."""
    import_nle()
    from nle import nethack

    for glyph in range(nethack.GLYPH_MON_OFF, nethack.GLYPH_PET_OFF):
        if nethack.permonst(nethack.glyph_to_mon(glyph)).mname == "Oracle":
            return int(glyph)
    raise RuntimeError("nle has no Oracle glyph")


def crop_glyphs(glyphs: np.ndarray, x: int, y: int, size: int) -> np.ndarray:
    """A ``(size, size)`` int16 window of ``glyphs`` ``(21, 79)`` centred on column ``x``, row ``y``.

    Cells outside the map are the blank stone glyph (what unexplored rock looks like).
    """
    r = size // 2
    out = np.full((size, size), STONE_GLYPH, np.int16)
    h, w = glyphs.shape
    y0, x0 = y - r, x - r
    sy0, sx0, sy1, sx1 = max(y0, 0), max(x0, 0), min(y0 + size, h), min(x0 + size, w)
    if sy1 > sy0 and sx1 > sx0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = glyphs[sy0:sy1, sx0:sx1]
    return out


@cache
def nle_task_class(nle_task: str) -> Any:
    """NLE's task class for ``nle_task``, changed in two ways that make its last observation honest.

    1. NLE reads a task's end (``_is_episode_end``) on the in-game observation and then
       quits the game, and the arrays it returns are reused, so the step that succeeds
       comes back all zeros: the hero standing next to the Oracle is never seen. The
       subclass keeps a copy of the observation it ended on (``ended_on``).
    2. NLE's staircase task ends (+1) as soon as the hero stands on ``>``;
       ``nethack/staircase-v0`` asks to go *down* it, so that episode ends (+1,
       ``TASK_SUCCESSFUL``) on the step that reaches dungeon level 2. NLE's
       rewards and time penalty are kept.
    """
    tasks = import_nle()
    base = getattr(tasks, NLE_TASKS[nle_task])

    class Task(base):  # type: ignore[misc, valid-type]
        ended_on: tuple[np.ndarray, ...] | None = None

        def _is_episode_end(self, observation: Any) -> Any:
            if nle_task == "staircase":
                descended = observation[self._blstats_index][BL_DEPTH] >= 2
                status = self.StepStatus.TASK_SUCCESSFUL if descended else self.StepStatus.RUNNING
            else:
                status = super()._is_episode_end(observation)
            if status != self.StepStatus.RUNNING:
                self.ended_on = tuple(np.array(a, copy=True) for a in observation)
            return status

    Task.__name__ = Task.__qualname__ = f"{NLE_TASKS[nle_task]}Judgerl"
    return Task


class NetHackCropEnv(gym.Env[dict[str, np.ndarray], int]):
    """An NLE task with a small Dict observation (glyph crop, blstats, message) and per-episode facts.

    Args:
        nle_task: ``score``, ``staircase`` or ``oracle`` (NLE's ``NetHackScore``,
            ``NetHackStaircase``, ``NetHackOracle``: their rewards, actions and ends; the
            staircase episode ends on going down, :func:`nle_task_class`).
        crop: Side of the glyph window around the hero (odd, at least 3).
        status_changes: Add ``prev_blstats`` so captions can name status-line changes.
        full_map: Add ``map``, the whole 21×79 glyph map (the policy's memory of the level).
        landmarks: Add ``landmarks``, what the hero sees of stairs, fountains, altars and gold
            (``judgerl.envs.nethack_landmarks``), for captions and the policy.
        hero_terrain: The crop's centre shows what the hero stands on (the terrain or object last seen
            there, ``judgerl.envs.nethack_landmarks.GroundMemory``) instead of the hero, who is always there.
        character: NLE character string (default: NLE's neutral human monk).
        render_mode: ``None``, or ``"ansi"``: ``render()`` returns the terminal (24 lines of 80
            characters: message, map, status lines) as text, for replays in the report.
        **nle_kwargs: Passed to the NLE class (e.g. ``penalty_step``).

    Raises:
        ImportError: ``nle`` is not installed (the message says how to install it).
        ValueError: An unknown ``nle_task`` or a bad ``crop``.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        nle_task: str = "score",
        crop: int = 9,
        status_changes: bool = False,
        full_map: bool = False,
        landmarks: bool = False,
        hero_terrain: bool = False,
        character: str = "mon-hum-neu-mal",
        render_mode: str | None = None,
        **nle_kwargs: Any,
    ) -> None:
        if nle_task not in NLE_TASKS:
            raise ValueError(f"nle_task {nle_task!r} is not one of {sorted(NLE_TASKS)}")
        if crop < 3 or crop % 2 == 0:
            raise ValueError(f"crop must be odd and at least 3 (the hero's neighbours), got {crop}")
        if render_mode not in (None, "ansi"):
            raise ValueError(f"NetHack tasks render text only (render_mode None or 'ansi'), got {render_mode!r}")
        import_nle()
        self.nle_task = nle_task
        self.crop = int(crop)
        self.status_changes = bool(status_changes)
        self.full_map = bool(full_map)
        self._tracker = LandmarkTracker() if landmarks else None
        self._under: GroundMemory | None = None
        if hero_terrain:  # what lies under the hero: the landmark tracker keeps that memory already
            self._under = self._tracker.memory if self._tracker is not None else GroundMemory(glyph_tables()[1])
        self._landmarks = np.zeros((ROWS, len(LANDMARKS)), np.int16)
        # The TimeLimit outside ends episodes; NLE's own step limit is set out of the way.
        keys = ("glyphs", "blstats", "message") + (("tty_chars",) if render_mode == "ansi" else ())
        self._nle = nle_task_class(nle_task)(
            observation_keys=keys,
            max_episode_steps=10**9,
            fix_moon_phase=True,
            character=character,
            **nle_kwargs,
        )
        self.observation_space = observation_space(self.crop, self.status_changes, self.full_map, landmarks)
        self.action_space = self._nle.action_space
        self.render_mode = render_mode
        self._tty = ""
        self._blstats = np.zeros(N_BLSTATS, np.int64)
        self._prev = np.zeros(N_BLSTATS, np.int64)
        self._crop = np.full((self.crop, self.crop), STONE_GLYPH, np.int16)
        self._map = np.full(MAP_SHAPE, STONE_GLYPH, np.int16)
        self._facts: dict[str, float] = {}
        self._messages: set[bytes] = set()
        self._seen = SeenCells()

    def _observe(self, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if "tty_chars" in raw and np.asarray(raw["blstats"]).any():  # after the game: keep the last in-game screen
            self._tty = "\n".join(line.tobytes().decode("latin-1").rstrip() for line in np.asarray(raw["tty_chars"]))
        blstats = np.asarray(raw["blstats"], np.int64)
        self._prev = self._blstats
        if blstats.any():  # in a game; after it ended NLE reports zeros: keep the last in-game view
            x, y = int(blstats[BL_X]), int(blstats[BL_Y])
            self._blstats = blstats.copy()
            self._crop = crop_glyphs(np.asarray(raw["glyphs"]), x, y, self.crop)
            if self.full_map:
                self._map = np.asarray(raw["glyphs"], np.int16).copy()
            if self._tracker is not None:
                self._landmarks = self._tracker.update(np.asarray(raw["glyphs"]), x, y, int(blstats[BL_DEPTH]))
            if self._under is not None:
                if self._tracker is None:  # else the tracker's update above was this memory's
                    self._under.update(raw["glyphs"], (int(blstats[BL_DNUM]), int(blstats[BL_DEPTH])))
                self._crop[self.crop // 2, self.crop // 2] = self._under.at(x, y)
        elif self._tracker is not None:  # after the game: nothing new came into view
            self._landmarks = np.zeros_like(self._landmarks)
        message = np.asarray(raw["message"], np.uint8).copy()
        obs: dict[str, np.ndarray] = {"blstats": self._blstats.copy(), "glyphs": self._crop.copy(), "message": message}
        if self.status_changes:
            obs["prev_blstats"] = self._prev.copy()
        if self.full_map:
            obs["map"] = self._map.copy()
        if self._tracker is not None:
            obs["landmarks"] = self._landmarks.copy()
        self._note(message)
        return obs

    def _note(self, message: np.ndarray) -> None:
        b = self._blstats
        text = message.tobytes().split(b"\0", 1)[0].strip()
        if text:
            self._messages.add(text)
        if self._tracker is not None and self._landmarks[1, STAIRS_DOWN]:
            self._facts["stood_on_stairs_down"] = 1.0
        self._facts.update(
            kills=self._facts.get("kills", 0.0) + hero_kills(text.decode("latin-1")),
            score=float(b[BL_SCORE]),
            max_depth=max(self._facts.get("max_depth", 0.0), float(b[BL_DEPTH])),
            gold=float(b[BL_GOLD]),
            distinct_messages=float(len(self._messages)),
        )

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start a new game, seeded from this env's random stream (see the module docstring)."""
        super().reset(seed=seed)
        core, disp = (int(s) for s in self.np_random.integers(1, 2**31 - 1, size=2))
        self._nle.seed(core, disp, False)
        raw, _ = self._nle.reset()
        self._blstats = np.zeros(N_BLSTATS, np.int64)
        if self._under is not None and self._tracker is None:  # the tracker's reset below resets its own
            self._under.reset()
        self._facts = {"nle_success": 0.0}
        if self._tracker is not None:
            self._tracker.reset()
            self._facts["stood_on_stairs_down"] = 0.0
        self._messages = set()
        obs = self._observe(raw)
        self._seen.reset(raw["glyphs"], self._level())
        self._prev = self._blstats.copy()  # no change to report on the first step
        if self.status_changes:
            obs["prev_blstats"] = self._prev.copy()
        return obs, {"episode_facts": dict(self._facts)}

    def step(self, action: int) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """One NLE step; ``info["episode_facts"]`` holds the facts of the episode so far."""
        self._nle.ended_on = None
        raw, reward, terminated, truncated, info = self._nle.step(int(action))
        if self._nle.ended_on is not None:  # the task ended this step: observe the state it ended on
            keys = self._nle._observation_keys
            raw = {k: self._nle.ended_on[keys.index(k)] for k in raw}
        obs = self._observe(raw)
        # After the game NLE's glyphs are blank: nothing new was seen.
        explored = self._seen.update(raw["glyphs"], self._level()) if np.asarray(raw["blstats"]).any() else 0
        status = int(info.get("end_status", 0))
        if terminated and status == TASK_SUCCESSFUL:
            self._facts["nle_success"] = 1.0
        out = {"episode_facts": dict(self._facts), EXPLORED_INFO_KEY: explored}
        return obs, float(reward), bool(terminated), bool(truncated), out

    def _level(self) -> tuple[int, int]:
        """``(dungeon number, depth)`` of the level the hero is on (the last in-game one after the game)."""
        return int(self._blstats[BL_DNUM]), int(self._blstats[BL_DEPTH])

    @property
    def actions(self) -> tuple[Any, ...]:
        """NLE's actions (``nle.nethack`` enums) in the order of the action space: ``actions[i]`` is action ``i``."""
        return tuple(self._nle.actions)

    def render(self) -> str | None:  # type: ignore[override]
        """The terminal as text (``render_mode="ansi"``), the last in-game screen once the game is over."""
        return self._tty if self.render_mode == "ansi" else None

    def close(self) -> None:
        """Close NLE (it removes its temporary game directory)."""
        self._nle.close()
        super().close()


def register_envs() -> None:
    """Register the three envs with gymnasium (idempotent); ``TaskSpec.env_id`` names them as ``module:id``."""
    for name, env_id in ENV_IDS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point="judgerl.envs.nethack:NetHackCropEnv", kwargs={"nle_task": name})


register_envs()
