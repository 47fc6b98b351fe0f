"""Sampled homegrid episodes in a compact form, and the episode queries the judge answers.

Ten thousand episodes of ``(T + 1, 12, 14, 4)`` float32 grids would take about
half a gigabyte, yet a homegrid grid is fully determined by four tiles and one
flag. ``EpisodeBank`` keeps only those (robot tile per step, cat alive per step,
fruit and cat tiles, actions) in an ``.npz`` file and rebuilds grids on demand:
``LazyGrids`` is a ``Sequence`` of grid arrays that the episode classifier's
fitting code indexes like a list, decoding one episode at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import numpy as np

from judgerl.envs import homegrid_layout as hl
from judgerl.envs.homegrid import _OBS_TEMPLATE, CH_CAT, CH_FRUIT, CH_ROBOT, OBS_SHAPE, HomegridState
from judgerl.envs.homegrid_captions import caption_step, decode_obs, infer_step
from judgerl.queries.segments import episode_segment
from judgerl.types import Episode, Query


@dataclass(frozen=True)
class EpisodeBank:
    """Many homegrid episodes, stored by positions.

    Attributes:
        robot: Robot tile ``(x, y)`` per grid, all episodes concatenated, shape ``(S, 2)`` int16
            (``S = Σ (T_i + 1)``: the grid before each step plus the one after the last).
        alive: Cat alive per grid, shape ``(S,)`` bool.
        offsets: Start of each episode in ``robot``/``alive``, shape ``(N + 1,)`` int64.
        actions: Actions concatenated, shape ``(Σ T_i,)`` int8; episode ``i`` owns
            ``actions[offsets[i] - i : offsets[i + 1] - i - 1]``.
        fruit: Fruit tile per episode, shape ``(N, 2)`` int16.
        cat: Cat tile per episode, shape ``(N, 2)`` int16.
        harmed: Ground truth per episode, shape ``(N,)`` bool.
        reached: Fruit reached per episode, shape ``(N,)`` bool.
    """

    robot: np.ndarray
    alive: np.ndarray
    offsets: np.ndarray
    actions: np.ndarray
    fruit: np.ndarray
    cat: np.ndarray
    harmed: np.ndarray
    reached: np.ndarray

    def __len__(self) -> int:
        return len(self.harmed)

    @classmethod
    def from_rollouts(
        cls, grids: Sequence[np.ndarray], actions: Sequence[np.ndarray], harmed: np.ndarray, reached: np.ndarray
    ) -> EpisodeBank:
        """Compress ``rollout_episodes`` output: grids ``(T_i + 1, 12, 14, 4)``, actions ``(T_i,)``, facts ``(N,)``."""
        robots, alive, fruit, cat = [], [], [], []
        for g in grids:
            flat = g.reshape(len(g), -1, 4)
            r = flat[:, :, CH_ROBOT].argmax(axis=1)
            robots.append(np.stack([r % hl.WIDTH, r // hl.WIDTH], axis=1))
            alive.append((flat[:, :, CH_CAT] > 0.5).any(axis=1))
            f = int(flat[0, :, CH_FRUIT].argmax())
            c = int(np.abs(flat[0, :, CH_CAT]).argmax())
            fruit.append((f % hl.WIDTH, f // hl.WIDTH))
            cat.append((c % hl.WIDTH, c // hl.WIDTH))
        lengths = np.array([len(g) for g in grids], dtype=np.int64)
        return cls(
            robot=np.concatenate(robots).astype(np.int16),
            alive=np.concatenate(alive),
            offsets=np.concatenate([[0], np.cumsum(lengths)]),
            actions=np.concatenate([np.asarray(a, np.int8) for a in actions]),
            fruit=np.array(fruit, np.int16),
            cat=np.array(cat, np.int16),
            harmed=np.asarray(harmed, bool),
            reached=np.asarray(reached, bool),
        )

    def save(self, path: str | Path) -> None:
        """Write all arrays to one ``.npz`` (a few bytes per step)."""
        np.savez_compressed(Path(path), **{k: getattr(self, k) for k in self.__dataclass_fields__})

    @classmethod
    def load(cls, path: str | Path) -> EpisodeBank:
        """Read a bank written by ``save``."""
        with np.load(Path(path), allow_pickle=False) as z:
            return cls(**{k: z[k] for k in cls.__dataclass_fields__})

    def length(self, i: int) -> int:
        """Number of steps ``T_i`` of episode ``i``."""
        return int(self.offsets[i + 1] - self.offsets[i] - 1)

    def episode_actions(self, i: int) -> np.ndarray:
        """Actions of episode ``i``, shape ``(T_i,)`` int64."""
        start = int(self.offsets[i]) - i
        return self.actions[start : start + self.length(i)].astype(np.int64)

    def grids(self, i: int) -> np.ndarray:
        """Grids of episode ``i``, shape ``(T_i + 1, 12, 14, 4)`` float32 (same encoding as the env)."""
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        n = b - a
        out = np.repeat(_OBS_TEMPLATE[None], n, axis=0)
        rows = np.arange(n)
        out[rows, self.robot[a:b, 1], self.robot[a:b, 0], CH_ROBOT] = 1.0
        out[:, self.fruit[i, 1], self.fruit[i, 0], CH_FRUIT] = 1.0
        out[rows, self.cat[i, 1], self.cat[i, 0], CH_CAT] = np.where(self.alive[a:b], 1.0, -1.0)
        return out

    def lengths(self) -> np.ndarray:
        """Steps per episode, shape ``(N,)``."""
        return np.diff(self.offsets) - 1


class LazyGrids(Sequence[np.ndarray]):
    """Episodes ``idx`` of a bank as a sequence of grid arrays, decoded when indexed.

    Args:
        bank: The episodes.
        idx: Which episodes, in order, shape ``(K,)``.
    """

    def __init__(self, bank: EpisodeBank, idx: np.ndarray | Sequence[int]) -> None:
        self.bank = bank
        self.idx = np.asarray(idx, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.idx)

    @overload
    def __getitem__(self, i: int) -> np.ndarray: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[np.ndarray]: ...
    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return LazyGrids(self.bank, self.idx[i])
        return self.bank.grids(int(self.idx[int(i)]))

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self.bank.grids(int(j)) for j in self.idx)


def step_captions(grids: np.ndarray, actions: np.ndarray) -> tuple[str, ...]:
    """One sentence per step about what it did (as the env's ``info["caption"]``), from grids and actions.

    Args:
        grids: ``(T + 1, 12, 14, 4)``.
        actions: ``(T,)``.

    Returns:
        ``T`` captions; caption ``t`` describes the state after step ``t``, so the
        last one shows a crush on the final step and a blood stain otherwise.
    """
    out = []
    for t, a in enumerate(np.asarray(actions, np.int64)):
        before, after = decode_obs(grids[t]), decode_obs(grids[t + 1])
        event, (x, y), reached = infer_step(before, int(a))
        blocked_by = ""
        if event == "blocked":
            dx, dy, _ = hl.DIRECTIONS[int(a)]
            bx, by = before.robot[0] + dx, before.robot[1] + dy
            blocked_by = "fruit" if (bx, by) == before.fruit else hl.blocker_name(bx, by)
        if reached and event != "crushed":
            event = "reached"
        state = HomegridState(
            robot=after.robot,
            facing=int(a),
            fruit=after.fruit,
            cat=after.cat or after.robot,
            cat_alive=after.cat_alive,
            t=t + 1,
            event=event,  # type: ignore[arg-type]
            last_action=int(a),
            blocked_by=blocked_by,
        )
        out.append(caption_step(state))
    return tuple(out)


def bank_episode(bank: EpisodeBank, i: int, episode_prefix: str = "", frame_size: int | None = None) -> Episode:
    """Episode ``i`` as a judgerl ``Episode`` (flattened observations, captions, optional frames).

    Args:
        bank: The episodes.
        i: Index.
        episode_prefix: Prepended to the episode id ``"{prefix}{i}"``.
        frame_size: Render frames (longer side in pixels) when given.

    Returns:
        The episode; ``infos`` hold ``cat_harmed`` and ``fruit_reached`` (0/1).
    """
    g = bank.grids(i)
    acts = bank.episode_actions(i)
    t = len(acts)
    rewards = np.zeros(t, np.float32)
    if bank.reached[i] and t:
        rewards[-1] = 1.0 - 0.9 * t / 100.0
    frames = None
    if frame_size is not None:
        from judgerl.envs.homegrid_render import render_obs

        tile = max(1, frame_size // hl.WIDTH)
        # Frames after each step (what the captions describe), so a crush on the last step is shown.
        frames = np.stack([render_obs(g[k + 1], tile_size=max(8, tile), facing=int(acts[k])) for k in range(t)])
    return Episode(
        obs=g[:-1].reshape(t, -1),
        acts=acts.astype(np.float32).reshape(t, 1),
        env_rewards=rewards,
        terminated=bool(bank.reached[i]),
        final_obs=g[-1].reshape(-1),
        captions=step_captions(g, acts),
        frames=frames,
        episode_id=f"{episode_prefix}{i}",
        infos={"cat_harmed": float(bank.harmed[i]), "fruit_reached": float(bank.reached[i])},
    )


def episode_query(episode: Episode) -> Query:
    """The episode-verdict query about a whole episode.

    ``mark_end=False``: an absorbing step would add the caption "the episode is
    over" as the last keyframe, hiding the final caption that shows the stain.
    """
    return Query("episode", (episode_segment(episode, mark_end=False),))


def bank_queries(
    bank: EpisodeBank, idx: Sequence[int] | np.ndarray, prefix: str = "", frame_size: int | None = None
) -> list[Query]:
    """Episode queries for episodes ``idx`` of ``bank``, in order."""
    return [episode_query(bank_episode(bank, int(i), prefix, frame_size)) for i in idx]


def shape_for_obs() -> tuple[int, int, int]:
    """Per-step classifier input shape, ``(12, 14, 4)``."""
    return OBS_SHAPE
