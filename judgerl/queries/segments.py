"""Cut episodes into fixed-length segments for the judge.

Why pad with an absorbing state: in CartPole (+1 per step alive) and
MountainCar (-1 per step until the flag) the true reward is constant per step,
so two segments of equal length have equal true return unless one of them
contains the episode's end. A window is therefore allowed to run past the end
of a *terminated* episode; the missing steps are filled with an absorbing
state (observation and action all zeros, reward 0, ``dones=1``, the task's
``end_caption`` -- by default "the episode is over" -- and a black frame). The
judge then sees the pole fall or the flag reached, the true returns differ by
the number of live steps, and the reward model learns what being "over" is worth (its prediction for that state
is the offset ``LearnedRewardVecEnv`` subtracts). This follows the absorbing
state treatment of DAC (Kostrikov et al., 2019) and imitation's
``AbsorbAfterDoneWrapper``.

Truncated episodes (time limit) and unfinished tails are not padded: nothing
happened at their end. A window over one must fit inside it; such an episode
shorter than ``length`` is skipped rather than clipped, so that all segments in
a pool have the same length (pairwise comparison of returns and batched reward
training both rely on it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from judgerl.types import END_CAPTION, Episode, Segment

__all__ = ["END_CAPTION", "cut_segments", "episode_segment"]


def _facts(episode: Episode) -> dict[str, float]:
    """The episode's numeric facts (bools become 0/1; other values are dropped)."""
    out: dict[str, float] = {}
    for key, value in episode.infos.items():
        if isinstance(value, bool | int | float | np.bool_ | np.integer | np.floating):
            out[str(key)] = float(value)
    return out


def _window(episode: Episode, start: int, length: int, end_caption: str = END_CAPTION) -> Segment:
    """Steps ``start .. start+length`` of ``episode``, padded with absorbing steps (captioned ``end_caption``)."""
    t = episode.length
    stop = min(start + length, t)
    pad = length - (stop - start)
    if pad and not episode.terminated:
        raise ValueError(f"episode {episode.episode_id!r} was not terminated; cannot pad past its end")
    obs = np.asarray(episode.obs, dtype=np.float32)[start:stop]
    acts = np.asarray(episode.acts, dtype=np.float32)[start:stop]
    rews = np.asarray(episode.env_rewards, dtype=np.float32)[start:stop]
    dones = np.zeros(length, dtype=np.float32)
    captions: tuple[str, ...] = tuple(episode.captions[start:stop]) if episode.captions else ()
    frames = None if episode.frames is None else np.asarray(episode.frames)[start:stop]
    if pad:
        obs = np.concatenate([obs, np.zeros((pad, obs.shape[1]), np.float32)])
        acts = np.concatenate([acts, np.zeros((pad, acts.shape[1]), np.float32)])
        rews = np.concatenate([rews, np.zeros(pad, np.float32)])
        dones[length - pad :] = 1.0
        if captions:
            captions = captions + (end_caption,) * pad
        if frames is not None:
            # Black, not a repeat of the last frame: a frozen, tilted pole would look still balanced.
            frames = np.concatenate([frames, np.zeros((pad, *frames.shape[1:]), frames.dtype)])
    truth: dict[str, Any] = {
        "return": float(np.sum(rews)),
        "episode_return": episode.true_return,
        "episode_length": float(t),
        "terminated": float(episode.terminated),
    }
    truth.update(_facts(episode))
    return Segment(
        obs=obs,
        acts=acts,
        env_rewards=rews,
        dones=dones,
        captions=captions,
        frames=frames,
        episode_id=episode.episode_id,
        start=start,
        truth=truth,
    )


def cut_segments(
    episodes: Sequence[Episode],
    length: int,
    rng: np.random.Generator,
    absorbing: bool,
    per_episode: int | None = None,
    end_caption: str = END_CAPTION,
) -> list[Segment]:
    """Cut random windows of ``length`` steps out of each episode.

    Args:
        episodes: Source episodes.
        length: Steps per segment ``T``.
        rng: Chooses the window starts.
        absorbing: Let windows of terminated episodes run past the end (start
            anywhere in the episode), padded with the absorbing state; otherwise
            every window lies inside its episode.
        per_episode: Windows per episode (distinct starts, fewer if the episode
            has fewer possible starts). ``None``: about one per ``length`` steps,
            ``max(1, T // length)``.
        end_caption: Caption of the absorbing steps (the task's ``end_caption``).

    Returns:
        The segments, episode by episode, each ``length`` steps long. Their
        ``truth`` holds ``return`` (the segment's true return),
        ``episode_return``, ``episode_length``, ``terminated`` (0/1) and the
        episode's numeric facts.
    """
    if length < 1:
        raise ValueError(f"segment length must be at least 1, got {length}")
    out: list[Segment] = []
    for ep in episodes:
        t = ep.length
        if t == 0:
            continue
        n_starts = t if (absorbing and ep.terminated) else t - length + 1
        if n_starts < 1:
            continue  # too short and not terminated: skipped (see module docstring)
        want = max(1, t // length) if per_episode is None else per_episode
        k = min(want, n_starts)
        if k < 1:
            continue
        starts = np.sort(rng.choice(n_starts, size=k, replace=False))
        out.extend(_window(ep, int(s), length, end_caption) for s in starts)
    return out


def episode_segment(
    episode: Episode, mark_end: bool = True, final_state: bool = False, end_caption: str = END_CAPTION
) -> Segment:
    """The whole episode as one segment (for episode-verdict queries).

    Args:
        episode: The episode.
        mark_end: Append one absorbing step (``dones=1``) when the episode
            terminated, so a judge and a reward model can tell "ended here"
            from "cut by the time limit or collection".
        final_state: Append the state the episode ended in (``final_obs``, its
            caption, action and reward 0, ``dones=0``) as one more row: what
            happened on the last step is only visible there (e.g. a cat crushed
            by the last move). Not combined with ``mark_end``.
        end_caption: Caption of the absorbing step ``mark_end`` appends.

    Returns:
        A segment of ``episode.length`` steps, plus one if the end was marked or
        the final state appended.
    """
    if final_state:
        if mark_end:
            raise ValueError("episode_segment: use either mark_end or final_state, not both")
        return _with_final_state(episode)
    extra = 1 if (mark_end and episode.terminated) else 0
    return _window(episode, 0, episode.length + extra, end_caption)


def _with_final_state(episode: Episode) -> Segment:
    """The episode's steps plus one row holding its final observation."""
    seg = _window(episode, 0, episode.length)
    final = np.asarray(episode.final_obs, np.float32).reshape(1, -1)
    caption: tuple[str, ...] = ()
    if seg.captions:
        caption = (episode.final_caption or seg.captions[-1],)
    frames = seg.frames
    if frames is not None:
        last = episode.final_frame if episode.final_frame is not None else frames[-1]
        frames = np.concatenate([frames, np.asarray(last, frames.dtype)[None]])
    return Segment(
        obs=np.concatenate([seg.obs, final]),
        acts=np.concatenate([seg.acts, np.zeros((1, seg.acts.shape[1]), np.float32)]),
        env_rewards=np.concatenate([seg.env_rewards, np.zeros(1, np.float32)]),
        dones=np.zeros(seg.length + 1, np.float32),
        captions=seg.captions + caption,
        frames=frames,
        episode_id=seg.episode_id,
        start=0,
        truth=seg.truth,
    )
