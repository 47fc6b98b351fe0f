"""Collect whole episodes (with captions and frames) for judging.

Plain gymnasium envs are stepped in lock-step by hand rather than through a
vector env: that makes the episode boundaries explicit (the observation
returned by the terminating ``step`` is the episode's ``final_obs``; the env is
then reset by us), and lets the step budget be spent exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from judgerl.envs.factory import make_env
from judgerl.envs.spaces import flatten_one, stack_obs
from judgerl.types import Episode, TaskSpec

Policy = Callable[[np.ndarray], np.ndarray]


def _resize(frame: np.ndarray, size: int | None) -> np.ndarray:
    """Shrink an ``(H, W, 3)`` frame so its longer side is at most ``size`` pixels."""
    h, w = frame.shape[:2]
    if size is None or max(h, w) <= size:
        return np.ascontiguousarray(frame, dtype=np.uint8)
    from PIL import Image

    ratio = size / max(h, w)
    new = (max(1, round(w * ratio)), max(1, round(h * ratio)))
    return np.asarray(Image.fromarray(np.asarray(frame, dtype=np.uint8)).resize(new, Image.Resampling.BILINEAR))


def _env_action(action: Any, space: spaces.Space) -> Any:
    """Turn one row of a policy's output into what ``env.step`` expects."""
    if isinstance(space, spaces.Discrete):
        return int(np.asarray(action).reshape(-1)[0])
    if isinstance(space, spaces.Box):
        # Store and execute the same, in-bounds action (envs clip silently otherwise).
        a = np.asarray(action, dtype=space.dtype).reshape(space.shape)
        return np.clip(a, space.low, space.high)
    raise TypeError(f"unsupported action space {space!r}: judgerl supports Box and Discrete")


class _Buffer:
    """The steps of one env's episode in progress."""

    def __init__(self) -> None:
        self.obs: list[np.ndarray] = []
        self.acts: list[np.ndarray] = []
        self.rews: list[float] = []
        self.caps: list[str] = []
        self.frames: list[np.ndarray] = []

    def to_episode(
        self,
        ended: tuple[bool, bool],
        final_obs: np.ndarray,
        episode_id: str,
        infos: dict[str, Any],
        final_caption: str = "",
        final_frame: np.ndarray | None = None,
    ) -> Episode:
        return Episode(
            obs=np.asarray(self.obs, dtype=np.float32),
            acts=np.asarray(self.acts, dtype=np.float32),
            env_rewards=np.asarray(self.rews, dtype=np.float32),
            terminated=ended[0],
            final_obs=np.asarray(final_obs, dtype=np.float32).reshape(-1),
            captions=tuple(self.caps),
            frames=np.stack(self.frames) if self.frames else None,
            episode_id=episode_id,
            infos=dict(infos),
            truncated=ended[1],
            final_caption=final_caption,
            final_frame=final_frame,
        )


def collect_episodes(
    task: TaskSpec,
    n_steps: int,
    seed: int,
    policy: Policy | None = None,
    render: bool = False,
    captions: bool = True,
    n_envs: int = 4,
    episode_prefix: str = "",
    frame_size: int | None = 256,
    progress: Callable[[int], None] | None = None,
    n_episodes: int | None = None,
    noise: Sequence[float] = (0.0,),
) -> tuple[list[Episode], int]:
    """Run the task's env for exactly ``n_steps`` steps and return what happened as episodes.

    Finished episodes come first (in the order they ended), then the unfinished
    tail of each env as an episode with ``terminated=truncated=False``, so no
    step is wasted and the episodes' lengths sum to ``n_steps``. An episode cut
    by the time limit has ``truncated=True``. With ``n_episodes``, collection
    instead stops as soon as that many episodes have ended (tails are dropped;
    their steps still count in ``steps_spent``), and ``n_steps`` is a cap.

    Args:
        task: The task.
        n_steps: Total env steps to spend, over all envs.
        seed: Env ``i`` is reset with ``seed + i``; random actions are seeded too.
        policy: Maps a batch of observations, shape ``(N, *obs_shape)`` (a dict of
            such arrays for ``Dict`` spaces), to actions ``(N, *act_shape)`` or ``(N,)`` for
            discrete actions, e.g. ``lambda o: model.predict(o, deterministic=False)[0]``.
            ``None`` samples uniform random actions. Box actions are clipped to
            the action bounds, and the clipped action is what gets stored.
        render: Record an RGB frame of each step's observation.
        captions: Record ``task.captioner`` of each step's observation.
        n_envs: Envs stepped side by side (each episode comes from one env).
        episode_prefix: Prepended to episode ids, which are ``"{prefix}{seed}-{k}"``.
        frame_size: Longer side of the stored frames in pixels (downscaled with
            bilinear filtering; ``None`` keeps the renderer's size). Full-size
            classic-control frames are ~0.7 MB each.
        progress: Called with the steps spent so far after every round of
            ``n_envs`` steps (the run loop records them, see ``StepLedger``).
        n_episodes: Stop once this many episodes have ended (see above).
        noise: e-greedy noise levels, as in D-REX (Brown et al., 2019): at each
            step of an env run at level e the policy's action is replaced, with
            probability e, by a uniformly random one (Discrete and Box alike),
            so the pool also holds degraded behaviour and its failures. Env
            ``i`` runs at ``noise[i % len(noise)]`` throughout, and the envs
            step in lock-step, so each level gets its share of ``n_steps``
            (equal shares when ``n_envs`` is a multiple of ``len(noise)``) and
            long episodes are not cut short. ``(0.0,)`` (the default) is the
            plain policy and draws no extra random numbers; the levels do
            nothing when ``policy`` is ``None``.

    Returns:
        ``(episodes, steps_spent)``; ``steps_spent == n_steps`` unless
        ``n_episodes`` stopped collection first. Observations are stored as flat
        float32 rows (``judgerl.envs.spaces``). Each episode's ``infos`` is the
        env's ``info["episode_facts"]`` dict from its last step, if the env
        reports one; ``final_caption``/``final_frame`` describe ``final_obs``.
    """
    if n_steps < 0:
        raise ValueError(f"n_steps must be non-negative, got {n_steps}")
    levels = [float(e) for e in noise]
    if not levels or any(not 0.0 <= e <= 1.0 for e in levels):
        raise ValueError(f"noise levels must be a non-empty list of probabilities in [0, 1], got {list(noise)}")
    if n_steps == 0:
        return [], 0
    n_envs = max(1, min(n_envs, n_steps))
    envs: list[gym.Env] = [make_env(task, render=render) for _ in range(n_envs)]
    space = envs[0].action_space
    obs_space = envs[0].observation_space
    obs: list[Any] = []
    frames: list[np.ndarray | None] = []
    for i, env in enumerate(envs):
        o, _ = env.reset(seed=seed + i)
        env.action_space.seed(seed + i)
        obs.append(o)
        frames.append(_resize(env.render(), frame_size) if render else None)  # type: ignore[arg-type]
    buffers = [_Buffer() for _ in range(n_envs)]
    last_info: list[dict[str, Any]] = [{} for _ in range(n_envs)]
    episodes: list[Episode] = []
    noisy = policy is not None and any(e > 0.0 for e in levels)
    coin = np.random.default_rng([seed, 0x0D1E]) if noisy else None  # its own stream: e = 0 draws nothing
    eps = np.array([levels[i % len(levels)] for i in range(n_envs)])

    def _next_id() -> str:
        return f"{episode_prefix}{seed}-{len(episodes)}"

    steps = 0
    try:
        while steps < n_steps and (n_episodes is None or len(episodes) < n_episodes):
            k = min(n_envs, n_steps - steps)
            if policy is None:
                actions: Any = [envs[i].action_space.sample() for i in range(k)]
            else:
                actions = np.asarray(policy(stack_obs(obs_space, obs[:k])))
                if len(actions) != k:
                    raise ValueError(f"policy returned {len(actions)} actions for a batch of {k} observations")
                if coin is not None:
                    swap = coin.random(k) < eps[:k]
                    if swap.any():
                        actions = list(actions)
                        for j in np.flatnonzero(swap):
                            actions[j] = envs[j].action_space.sample()
            for i in range(k):
                a = _env_action(actions[i], space)
                buf = buffers[i]
                flat = flatten_one(obs_space, obs[i])
                buf.obs.append(flat)
                buf.acts.append(np.asarray(a, dtype=np.float32).reshape(-1))
                if captions:
                    buf.caps.append(task.captioner(flat))
                if render:
                    buf.frames.append(frames[i])  # type: ignore[arg-type]
                nxt, r, terminated, truncated, info = envs[i].step(a)
                buf.rews.append(float(r))
                last_info[i] = info
                steps += 1
                if terminated or truncated:
                    facts = info.get("episode_facts", {})
                    final = flatten_one(obs_space, nxt)
                    final_caption = task.captioner(final) if captions else ""
                    final_frame = _resize(envs[i].render(), frame_size) if render else None  # type: ignore[arg-type]
                    episodes.append(
                        buf.to_episode(
                            (bool(terminated), bool(truncated)), final, _next_id(), facts, final_caption, final_frame
                        )
                    )
                    buffers[i] = _Buffer()
                    nxt, _ = envs[i].reset()
                    if n_episodes is not None and len(episodes) >= n_episodes:
                        break
                obs[i] = nxt
                if render:
                    frames[i] = _resize(envs[i].render(), frame_size)  # type: ignore[arg-type]
            if progress is not None:
                progress(steps)
        for i, buf in enumerate(buffers):
            if buf.obs and n_episodes is None:
                facts = last_info[i].get("episode_facts", {})
                episodes.append(buf.to_episode((False, False), flatten_one(obs_space, obs[i]), _next_id(), facts))
    finally:
        for env in envs:
            env.close()
    return episodes, steps
