"""Environment factories: one gymnasium env, or an SB3 vector env, for a task."""

from __future__ import annotations

import os
from collections.abc import Callable

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from judgerl.envs.spaces import flat_dim
from judgerl.types import TaskSpec


def make_env(task: TaskSpec, seed: int | None = None, render: bool = False) -> gym.Env:
    """Build the task's environment with its time limit.

    Args:
        task: The task; ``task.env_id`` may use gymnasium's ``"module:EnvId"``
            form to import the module that registers a custom env.
        seed: When given, the env is reset once with this seed and its action
            and observation spaces are seeded, so later plain ``reset()`` calls
            are reproducible.
        render: Create the env with ``render_mode="rgb_array"`` so
            ``env.render()`` returns ``(H, W, 3)`` uint8 frames.

    Returns:
        The env, wrapped in ``TimeLimit(task.max_episode_steps)``.
    """
    if render:
        # pygame-based renderers initialise audio and video on import; rgb_array mode needs
        # neither, and on a headless server both only print errors.
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    kwargs = dict(task.env_kwargs)
    if render:
        kwargs["render_mode"] = "rgb_array"  # only when asked: custom envs may not take the argument
    env = gym.make(task.env_id, max_episode_steps=task.max_episode_steps, **kwargs)
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
        env.observation_space.seed(seed)
    return env


def make_vec_env(
    task: TaskSpec, n_envs: int, seed: int | None, render: bool = False, frame_size: int | None = None
) -> VecEnv:
    """Build ``n_envs`` copies of the task's env in one SB3 ``DummyVecEnv``.

    Each copy is wrapped in SB3's ``Monitor`` (outside the time limit), so
    ``info["episode"] = {"r", "l", "t"}`` holds the TRUE return and length when an
    episode ends, whatever reward wrapper sits on top. ``DummyVecEnv`` rather than
    ``SubprocVecEnv``: classic-control steps are microseconds, far cheaper than
    inter-process messages, and the target machine has 2 cores.

    Args:
        task: The task.
        n_envs: Number of parallel envs.
        seed: Env ``i`` is seeded with ``seed + i``; ``None`` leaves them random.
        render: Create the envs with ``render_mode="rgb_array"``.
        frame_size: When given, render after every step and put the frame of the state reached,
            resized to ``frame_size × frame_size`` as CLIP sees it, into ``info["frame"]``
            (``judgerl.envs.frames.FrameInfo``; for rewards of frames, decision 0023). Implies ``render``.

    Returns:
        The vector env (not yet reset). A task with its own batched env
        (``TaskSpec.vec_env``, e.g. homegrid's numpy env) gets that instead:
        same observations, rules and ``info`` keys, many times faster.
    """
    if n_envs < 1:
        raise ValueError(f"n_envs must be at least 1, got {n_envs}")
    render = render or frame_size is not None
    if task.vec_env is not None and not render:
        return task.vec_env(n_envs, seed)

    def _factory(rank: int) -> Callable[[], gym.Env]:
        def _make() -> gym.Env:
            env = make_env(task, seed=None if seed is None else seed + rank, render=render)
            if frame_size is not None:
                from judgerl.envs.frames import FrameInfo

                env = FrameInfo(env, frame_size)
            return Monitor(env)

        return _make

    venv = DummyVecEnv([_factory(i) for i in range(n_envs)])
    if seed is not None:
        venv.seed(seed)  # the first venv.reset() uses seed + i for env i
    return venv


def _flat_size(space: spaces.Space, what: str) -> int:
    if isinstance(space, spaces.Discrete):
        return 1
    if isinstance(space, spaces.Box):
        return int(np.prod(space.shape))
    raise TypeError(f"unsupported {what} space {space!r}: judgerl supports Box and Discrete action spaces")


def obs_dim(space: spaces.Space) -> int:
    """Flattened observation size ``O`` (see ``judgerl.envs.spaces``: Box, Discrete, Dict, ...).

    Raises:
        TypeError: For an unsupported space.
    """
    return flat_dim(space)


def act_dim(space: spaces.Space) -> int:
    """Flattened action size ``A`` (1 for a Discrete space: the index as a float).

    Raises:
        TypeError: For spaces other than Box and Discrete.
    """
    return _flat_size(space, "action")


def flatten_actions(actions: np.ndarray, n: int) -> np.ndarray:
    """Actions as a float32 matrix, shape ``(n, A)`` (discrete indices become one column)."""
    return np.asarray(actions, dtype=np.float32).reshape(n, -1)
