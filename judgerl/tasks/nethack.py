"""NetHack tasks (Motif, seed 002): score, staircase and Oracle, judged on the game's messages.

The caption of a step is the game message in words (``NO_MESSAGE`` when the
line is empty), optionally followed by status-line changes
(:func:`nethack_task` with ``status_changes=True``). There is no ground-truth
verdict for a message, so ``oracle_verdict`` is ``None``; the oracle judge
answers caption pairs with a documented proxy instead (``judgerl.forms.caption_pairs``).

Success:

- ``nethack/score-v0``: the in-game score rose above 0 (a weak bar: the
  task's measure is the score itself, reported as ``eval/score``).
- ``nethack/staircase-v0``: descended: the final observation is on dungeon level 2 or deeper.
- ``nethack/oracle-v0``: the Oracle stands next to the hero (NLE's rule) *and*
  the hero is not hallucinating *and* the level is in the Dungeons of Doom at
  depth 5–9, where the real Oracle lives. Motif's agents learned to hallucinate
  until some monster looked like the Oracle, which NLE's rule counts as success;
  NLE's own verdict is still reported, as ``eval/nle_success``.

The env (``judgerl.envs.nethack``) needs ``nle`` (``pip install 'judgerl[nethack]'``);
these specs register without it and building the env then says how to install it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from judgerl.envs.nethack import (
    BL_CONDITION,
    BL_DEPTH,
    BL_DNUM,
    BL_SCORE,
    ENV_IDS,
    MASK_HALLU,
    Layout,
    NetHackCaptioner,
    oracle_glyph,
)
from judgerl.types import TaskSpec

# MiniLM zero-shot texts for the embedded judge: the similarity of each message to the goal.
_GOAL = "You kill the monster. You find gold and useful items. You go down the stairs to a deeper level."
_BASELINE = "Nothing happens."


def _score_success(layout: Layout) -> Callable[[float, np.ndarray], bool]:
    def success(true_return: float, final_obs: np.ndarray) -> bool:
        """Solved when the in-game score rose above 0."""
        return bool(np.asarray(final_obs)[layout.blstats][BL_SCORE] > 0)

    return success


def _staircase_success(layout: Layout) -> Callable[[float, np.ndarray], bool]:
    def success(true_return: float, final_obs: np.ndarray) -> bool:
        """Solved when the hero descended: the final observation is on dungeon level 2 or deeper."""
        return bool(np.asarray(final_obs)[layout.blstats][BL_DEPTH] >= 2)

    return success


def oracle_next_to_hero(row: np.ndarray, layout: Layout) -> bool:
    """NLE's rule: the Oracle's glyph is in the 3×3 window around the hero (the crop's centre)."""
    crop = np.asarray(row)[layout.glyphs].reshape(layout.crop, layout.crop)
    c = layout.crop // 2
    return bool(np.any(np.rint(crop[c - 1 : c + 2, c - 1 : c + 2]) == oracle_glyph()))


def real_oracle(row: np.ndarray, layout: Layout) -> bool:
    """The stricter check: NLE's rule, and not hallucinating, and in the Dungeons of Doom at depth 5 to 9."""
    b = np.asarray(row)[layout.blstats].astype(np.int64)
    sane = not (int(b[BL_CONDITION]) & MASK_HALLU)
    return oracle_next_to_hero(row, layout) and sane and int(b[BL_DNUM]) == 0 and 5 <= int(b[BL_DEPTH]) <= 9


def _oracle_success(layout: Layout) -> Callable[[float, np.ndarray], bool]:
    def success(true_return: float, final_obs: np.ndarray) -> bool:
        """Solved when the real Oracle stands next to the hero (see :func:`real_oracle`)."""
        return real_oracle(final_obs, layout)

    return success


_SUCCESS = {"score": _score_success, "staircase": _staircase_success, "oracle": _oracle_success}
_INSTRUCTIONS = {
    "score": "Play NetHack well: explore the dungeon, fight monsters, collect gold and items and go deeper, "
    "to raise the in-game score.",
    "staircase": "Find the staircase down on the first level of NetHack and go down it.",
    "oracle": "Reach the Oracle in NetHack (she lives on a dungeon level between 5 and 9) and stand next to her.",
}


def nethack_task(
    name: str,
    task_id: str | None = None,
    crop: int = 9,
    status_changes: bool = False,
    full_map: bool = False,
    game_events_only: bool = False,
    landmarks: bool = False,
    max_episode_steps: int = 1000,
    instruction: str | None = None,
    penalty_step: float | None = None,
    hero_terrain: bool = False,
) -> TaskSpec:
    """A NetHack TaskSpec (register it with ``judgerl.tasks.register_task`` for a variant).

    Args:
        name: ``score``, ``staircase`` or ``oracle``.
        task_id: Registry id; default ``nethack/<name>-v0``.
        crop: Side of the glyph window around the hero.
        status_changes: Captions also name status-line changes (depth, gold, level, HP).
        full_map: The observation also holds the whole glyph map (``map``), the policy's memory of the level.
        game_events_only: Captions leave out prompts to the player and echoes of unusable keys
            (``judgerl.envs.nethack_messages``): opening a menu is no event to be judged or paid.
        landmarks: Captions also say when stairs, fountains, altars or gold come into view and which one the
            hero steps onto (``judgerl.envs.nethack_landmarks``); the policy sees the same member.
        max_episode_steps: Time limit (NLE's own is 5000; 1000 keeps 2-core budgets and evaluations short).
        instruction: The goal in words; default: the task's.
        penalty_step: NLE's reward for a step on which the game clock does not move (walking into a wall,
            a prompt, ``--More--``); default: NLE's -0.01. Random play spends 70 % of its steps so.
        hero_terrain: The crop's centre shows what the hero stands on (e.g. the staircase down) instead of
            the hero's own glyph, which is always there (decision 0053).

    Returns:
        The spec.
    """
    if name not in _SUCCESS:
        raise ValueError(f"unknown NetHack task {name!r}; choose one of {sorted(_SUCCESS)}")
    layout = Layout(crop, status_changes, full_map, landmarks)
    kwargs: dict[str, object] = {}
    if crop != 9:
        kwargs["crop"] = crop
    if status_changes:
        kwargs["status_changes"] = True
    if full_map:
        kwargs["full_map"] = True
    if landmarks:
        kwargs["landmarks"] = True
    if penalty_step is not None:
        kwargs["penalty_step"] = float(penalty_step)
    if hero_terrain:
        kwargs["hero_terrain"] = True
    return TaskSpec(
        id=task_id or f"nethack/{name}-v0",
        instruction=instruction or _INSTRUCTIONS[name],
        env_id=f"judgerl.envs.nethack:{ENV_IDS[name]}",
        env_kwargs=kwargs,
        captioner=NetHackCaptioner(layout, game_events_only),
        success=_SUCCESS[name](layout),
        modalities=("captions", "state"),
        max_episode_steps=max_episode_steps,
        default_algo="PPO",
        question="Does this show progress towards the goal?",
        goal_text=_GOAL,
        baseline_text=_BASELINE,
        segment_length=20,
        absorbing=False,
        oracle_verdict=None,
        explores=True,
    )


NETHACK_TASKS: tuple[TaskSpec, ...] = (
    *(nethack_task(name) for name in ("score", "staircase", "oracle")),
    # Motif's captions are the game message alone; going down the stairs or picking up gold often prints none,
    # so a goal about depth or gold has nothing to reward. These variants add the status-line changes in words.
    *(nethack_task(name, f"nethack/{name}-status-v0", status_changes=True) for name in ("score", "staircase")),
    # The 9x9 crop alone leaves a memoryless policy blind to a staircase out of view; the -map variants add the
    # whole glyph map to the observation (captions unchanged).
    *(
        nethack_task(name, f"nethack/{name}-status-map-v0", status_changes=True, full_map=True)
        for name in ("score", "staircase")
    ),
    # v1 of the map variants: captions without prompts and key echoes ("In what direction?", "Unknown command"),
    # which the 500k runs' reward audit found among the messages paid most (decision 0046).
    *(
        nethack_task(name, f"nethack/{name}-status-map-v1", status_changes=True, full_map=True, game_events_only=True)
        for name in ("score", "staircase")
    ),
    # v2: v1 and the landmarks the hero sees or stands on, in words. NetHack prints nothing when the staircase comes
    # into view or when the hero steps onto it, so a goal about going down had one rare message to pay (decision 0048).
    *(
        nethack_task(
            name,
            f"nethack/{name}-status-map-v2",
            status_changes=True,
            full_map=True,
            game_events_only=True,
            landmarks=True,
        )
        for name in ("score", "staircase")
    ),
    # v3 (staircase only): v2 without NLE's penalty for steps on which the game clock stands still. The staircase's
    # env reward is 1 for going down; random play collects about -6 of that penalty a game (70 % of its steps) and
    # goes down in 1 game of 10, so the env reward is mostly penalty (decision 0050).
    nethack_task(
        "staircase",
        "nethack/staircase-status-map-v3",
        status_changes=True,
        full_map=True,
        game_events_only=True,
        landmarks=True,
        penalty_step=0.0,
    ),
    # v4 (staircase only): v3 with the crop's centre showing what the hero stands on. Every trained v3 agent pressed
    # '>' as often off the stairs as on them: standing on the stairs showed nowhere in the crop, whose centre is
    # always the hero, and the landmarks member alone did not teach it (decision 0053).
    nethack_task(
        "staircase",
        "nethack/staircase-status-map-v4",
        status_changes=True,
        full_map=True,
        game_events_only=True,
        landmarks=True,
        penalty_step=0.0,
        hero_terrain=True,
    ),
)
