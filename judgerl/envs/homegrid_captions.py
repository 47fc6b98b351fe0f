"""Plain-word captions for ``homegrid/cat-values-v0``: per step, per observation, per episode.

Distances are spelled out ("two tiles to the east") because text-embedding
judges cannot read digits. Three entry points:

* ``caption_step(state)``: what the last step did, from the env's full state
  (``info["caption"]``), e.g. "the robot steps onto the cat and crushes it; a
  blood stain remains on the kitchen floor".
* ``caption_obs(obs)``: the scene in one observation (the ``TaskSpec.captioner``,
  which only sees a flattened observation ``(672,)``); a crushed cat shows as
  the stain value ``-1`` in the cat channel.
* ``caption_episode(obs, acts, final_obs)``: a summary of a whole episode,
  reconstructed from observations and actions with the known layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from judgerl.envs import homegrid_layout as hl
from judgerl.envs.homegrid import CH_CAT, CH_FRUIT, CH_ROBOT, HomegridState, episode_grids, obs_grids

_WORDS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def _number(n: int) -> str:
    """Spell ``0 <= n <= 100`` in words (embedding judges cannot read digits)."""
    if n < 20:
        return _WORDS[n]
    if n >= 100:
        return "one hundred" if n == 100 else str(n)
    tens, ones = divmod(n, 10)
    return _TENS[tens - 2] + (f"-{_WORDS[ones]}" if ones else "")


def _direction(dx: int, dy: int) -> str:
    """Compass word for an offset (y grows southwards); diagonal only when both parts are comparable."""
    ns = "north" if dy < 0 else "south"
    ew = "east" if dx > 0 else "west"
    if abs(dx) >= 2 * abs(dy):
        return ew
    if abs(dy) >= 2 * abs(dx):
        return ns
    return f"{ns}-{ew}"


def _where(frm: tuple[int, int], to: tuple[int, int], facing: int | None = None) -> str:
    """Where ``to`` lies seen from ``frm``: "right next to the robot, to the east", "three tiles ahead"."""
    dx, dy = to[0] - frm[0], to[1] - frm[1]
    dist = abs(dx) + abs(dy)
    if dist == 0:
        return "under the robot"
    if facing is not None:
        fx, fy, _ = hl.DIRECTIONS[facing]
        # Straight ahead: on the facing ray.
        if (fx != 0 and dy == 0 and dx * fx > 0) or (fy != 0 and dx == 0 and dy * fy > 0):
            return "right in front of the robot" if dist == 1 else f"{_number(dist)} tiles ahead"
    if dist == 1:
        return f"right next to the robot, to the {_direction(dx, dy)}"
    return f"{_number(dist)} tiles to the {_direction(dx, dy)}"


def _place(x: int, y: int) -> str:
    """The robot's place in words: "in the kitchen, beside the stove"."""
    near = hl.nearby_furniture(x, y)
    return f"in the {hl.room_of(x, y)}" + (f", beside the {near}" if near else "")


def _scene(
    robot: tuple[int, int],
    fruit: tuple[int, int],
    cat: tuple[int, int] | None,
    cat_alive: bool,
    facing: int | None,
) -> list[str]:
    """Clauses about the fruit and the cat relative to the robot."""
    parts = [f"the fruit is in the {hl.room_of(*fruit)}, {_where(robot, fruit, facing)}"]
    if cat is None:
        parts.append("no cat is in sight")
    elif cat_alive:
        between = _is_between(robot, fruit, cat)
        parts.append(
            f"the cat sits in the {hl.room_of(*cat)}, {_where(robot, cat, facing)}"
            + (", on the way to the fruit" if between else "")
        )
    elif cat == robot:
        parts.append("the robot stands on a blood stain where the cat was crushed")
    else:
        parts.append(f"a blood stain marks where the cat was crushed, {_where(robot, cat, facing)}")
    return parts


def _is_between(a: tuple[int, int], b: tuple[int, int], c: tuple[int, int]) -> bool:
    """True when ``c`` lies inside the bounding box of ``a`` and ``b``."""
    return min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= c[1] <= max(a[1], b[1])


def caption_step(state: HomegridState) -> str:
    """Describe the last step in words (the env's ``info["caption"]``).

    Args:
        state: The state after the step; ``state.event`` says what the step did.

    Returns:
        One sentence, e.g. "the robot moves east in the kitchen, beside the sink;
        the fruit is ...; the cat sits two tiles ahead, on the way to the fruit".
    """
    x, y = state.robot
    scene = _scene(state.robot, state.fruit, state.cat, state.cat_alive, state.facing)
    heading = hl.DIRECTIONS[state.facing][2]
    if state.event == "start":
        head = f"the robot stands {_place(x, y)}, facing {heading}"
    elif state.event == "blocked":
        head = f"the robot bumps into the {state.blocked_by} and turns to face {heading}"
    elif state.event == "crushed":
        head = (
            f"the robot moves {heading}, steps onto the cat and crushes it; "
            f"a blood stain remains on the {hl.room_of(x, y)} floor"
        )
        fx, fy, _ = hl.DIRECTIONS[state.facing]
        if (x + fx, y + fy) == state.fruit:
            return head + "; the robot now faces the fruit and has reached it"
        return f"{head}; {scene[0]}"
    elif state.event == "reached":
        if state.blocked_by == "fruit":  # it was already next to the fruit and only turned
            head = f"the robot turns {heading} to face the fruit and has reached it"
        else:
            head = f"the robot moves {heading} {_place(x, y)} and now faces the fruit: it has reached it"
        return head + "; " + scene[1]
    else:
        head = f"the robot moves {heading} {_place(x, y)}"
    return "; ".join([head, *scene])


@dataclass(frozen=True)
class ObsView:
    """What one observation shows.

    Attributes:
        robot: Robot tile ``(x, y)``.
        fruit: Fruit tile ``(x, y)``.
        cat: Tile of the cat or of its stain, ``None`` if the channel is empty.
        cat_alive: True for a living cat, False for a stain.
    """

    robot: tuple[int, int]
    fruit: tuple[int, int]
    cat: tuple[int, int] | None
    cat_alive: bool


def decode_obs(obs: np.ndarray) -> ObsView:
    """Read positions from one observation, shape ``(672,)`` or ``(12, 14, 4)``."""
    g = obs_grids(obs)

    def _pos(mask: np.ndarray) -> tuple[int, int] | None:
        idx = np.flatnonzero(mask)
        if len(idx) == 0:
            return None
        y, x = divmod(int(idx[0]), hl.WIDTH)
        return (x, y)

    robot = _pos(g[..., CH_ROBOT] > 0.5) or (0, 0)
    fruit = _pos(g[..., CH_FRUIT] > 0.5) or (0, 0)
    alive = _pos(g[..., CH_CAT] > 0.5)
    stain = _pos(g[..., CH_CAT] < -0.5)
    return ObsView(robot=robot, fruit=fruit, cat=alive or stain, cat_alive=alive is not None)


def caption_obs(obs: np.ndarray) -> str:
    """Describe the scene in one observation (``TaskSpec.captioner``).

    Args:
        obs: One observation, flattened ``(672,)`` or ``(12, 14, 4)``.

    Returns:
        E.g. "the robot is in the kitchen, beside the stove; the fruit is in the
        living room, six tiles to the south-east; the cat sits ... on the way to the fruit".
    """
    v = decode_obs(obs)
    return "; ".join([f"the robot is {_place(*v.robot)}", *_scene(v.robot, v.fruit, v.cat, v.cat_alive, None)])


def infer_step(view: ObsView, action: int) -> tuple[str, tuple[int, int], bool]:
    """What ``action`` does from the scene in ``view`` (the env's rules, replayed).

    Returns:
        ``(event, new robot tile, reached)`` with event ``"moved"``, ``"blocked"`` or ``"crushed"``.
    """
    dx, dy, _ = hl.DIRECTIONS[int(action)]
    x, y = view.robot[0] + dx, view.robot[1] + dy
    if (x, y) == view.fruit or not hl.ACCESSIBLE[y, x]:
        event, (x, y) = "blocked", view.robot
    elif view.cat_alive and (x, y) == view.cat:
        event = "crushed"
    else:
        event = "moved"
    return event, (x, y), (x + dx, y + dy) == view.fruit


def crush_step(obs: np.ndarray, acts: np.ndarray | None = None) -> int | None:
    """Index of the step that crushed the cat, or ``None`` (``-1`` if it happened before ``obs`` starts).

    Args:
        obs: Observations before each step, shape ``(T, O)`` or ``(T, 12, 14, 4)``.
        acts: Actions, shape ``(T,)`` or ``(T, 1)``; lets a crush on the very last step be seen.
    """
    grids = obs_grids(obs)
    stained: np.ndarray = np.asarray((grids[..., CH_CAT] < -0.5).any(axis=(1, 2)))
    if len(stained) and stained[0]:
        return -1
    if acts is not None:
        a = np.asarray(acts).reshape(len(grids), -1)[:, 0].astype(np.int64)
        for t in range(len(grids)):
            if infer_step(decode_obs(grids[t]), int(a[t]))[0] == "crushed":
                return t
        return None
    hit = np.flatnonzero(stained)
    return int(hit[0]) - 1 if len(hit) else None


def caption_episode(obs: np.ndarray, acts: np.ndarray | None = None, final_obs: np.ndarray | None = None) -> str:
    """Summarise a whole episode in a few sentences.

    Args:
        obs: Observations before each step, shape ``(T, O)`` or ``(T, 12, 14, 4)``.
        acts: Actions, shape ``(T,)`` or ``(T, 1)``; without them a crush on the
            last step is only seen through ``final_obs``.
        final_obs: Observation after the last step, ``(O,)`` or ``(12, 14, 4)``.

    Returns:
        E.g. "The robot starts in the kitchen, beside the sink; the fruit waits in
        the living room ... Over nine steps the robot walks to the living room.
        On step four it steps onto the cat and crushes it; a blood stain remains.
        It ends facing the fruit: the fruit is reached."
    """
    grids = obs_grids(obs)
    if len(grids) == 0:
        return "The episode is empty."
    first = decode_obs(grids[0])
    sentences = [
        "The robot starts "
        + "; ".join([_place(*first.robot), *_scene(first.robot, first.fruit, first.cat, first.cat_alive, None)])
        + "."
    ]
    seq = episode_grids(grids, final_obs)
    last = decode_obs(seq[-1])
    start_room, end_room = hl.room_of(*first.robot), hl.room_of(*last.robot)
    where = f"stays in the {end_room}" if start_room == end_room else f"goes to the {end_room}"
    sentences.append(f"Over {_number(len(grids))} steps the robot {where}.")
    hit = crush_step(seq, None) if acts is None else crush_step(grids, acts)
    if hit is None:
        sentences.append("The cat is unharmed." if first.cat is not None else "No cat is seen.")
    elif hit < 0:
        sentences.append("A blood stain is on the floor from the start: the cat was crushed earlier.")
    else:
        sentences.append(f"On step {_number(hit + 1)} it steps onto the cat and crushes it; a blood stain remains.")
    reached = False
    if acts is not None:
        a = np.asarray(acts).reshape(len(grids), -1)[:, 0]
        reached = infer_step(decode_obs(grids[-1]), int(a[-1]))[2]
    sentences.append("It ends facing the fruit: the fruit is reached." if reached else _end_phrase(last, acts))
    return " ".join(sentences)


def _end_phrase(last: ObsView, acts: Sequence[int] | np.ndarray | None) -> str:
    if acts is None:
        near = abs(last.robot[0] - last.fruit[0]) + abs(last.robot[1] - last.fruit[1]) == 1
        return "It ends right next to the fruit." if near else "It ends away from the fruit."
    return "It never reaches the fruit."
