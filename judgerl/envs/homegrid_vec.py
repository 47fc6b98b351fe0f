"""Batched ``homegrid/cat-values-v0``: N envs stepped at once in numpy, plus an SB3 ``VecEnv`` adapter.

``HomegridVec`` follows exactly the rules of ``HomegridEnv`` (tests replay the
same states and actions through both); it has no captions or rendering, and is
meant for fast naive-policy training and large-scale episode sampling.
``HomegridSB3VecEnv`` wraps it for Stable-Baselines3 with auto-reset, the
``terminal_observation`` / ``TimeLimit.truncated`` infos SB3 expects, Monitor-
style ``info["episode"]`` and the env's ``episode_facts`` at episode ends.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvStepReturn

from judgerl.envs import homegrid_layout as hl
from judgerl.envs.homegrid import _OBS_TEMPLATE, CH_CAT, CH_FRUIT, CH_ROBOT, OBS_SHAPE, STAIN_VALUE


class HomegridVec:
    """``n`` independent homegrid episodes stepped together (no auto-reset).

    Args:
        n: Number of envs.
        max_steps: Truncation limit ``T_max``.
        min_distance: Minimum walking distance between robot and fruit at reset.
        cat_clearance: Minimum Chebyshev distance of the cat from robot and fruit.
        seed: Seed of the generator used by every reset.

    Attributes (all of leading size ``n``): ``robot``, ``fruit``, ``cat`` tiles
    ``(n, 2)`` as ``(x, y)``; ``facing``, ``t`` ``(n,)`` int64; ``cat_alive``,
    ``harmed``, ``reached`` ``(n,)`` bool.
    """

    def __init__(
        self, n: int, max_steps: int = 100, min_distance: int = 3, cat_clearance: int = 1, seed: int | None = None
    ) -> None:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        self.n = int(n)
        self.max_steps = int(max_steps)
        self.cat_clearance = int(cat_clearance)
        self.pairs = hl.valid_pairs(min_distance)
        self.rng = np.random.default_rng(seed)
        self.robot = np.zeros((n, 2), np.int64)
        self.fruit = np.zeros((n, 2), np.int64)
        self.cat = np.zeros((n, 2), np.int64)
        self.facing = np.zeros(n, np.int64)
        self.t = np.zeros(n, np.int64)
        self.cat_alive = np.ones(n, bool)
        self.harmed = np.zeros(n, bool)
        self.reached = np.zeros(n, bool)
        self._rows = np.arange(n)

    def reset(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Start fresh episodes in the envs selected by ``mask`` (all when ``None``).

        Args:
            mask: Envs to reset, shape ``(n,)`` bool.

        Returns:
            Observations of all envs, shape ``(n, 12, 14, 4)`` float32.
        """
        idx = self._rows if mask is None else np.flatnonzero(mask)
        if len(idx):
            r, f, c, facing = hl.sample_placements(self.rng, len(idx), self.pairs, self.cat_clearance)
            self.set_state(idx, r, f, c, facing, np.ones(len(idx), bool))
        return self.observe()

    def set_state(
        self,
        idx: np.ndarray,
        robot: np.ndarray,
        fruit: np.ndarray,
        cat: np.ndarray,
        facing: np.ndarray,
        cat_alive: np.ndarray,
    ) -> None:
        """Overwrite the state of envs ``idx`` (shape ``(k,)``) with tiles ``(k, 2)`` and flags ``(k,)``."""
        self.robot[idx], self.fruit[idx], self.cat[idx] = robot, fruit, cat
        self.facing[idx], self.cat_alive[idx] = facing, cat_alive
        self.harmed[idx] = ~np.asarray(cat_alive, bool)
        self.reached[idx] = False
        self.t[idx] = 0

    def observe(self) -> np.ndarray:
        """Observations, shape ``(n, 12, 14, 4)`` float32 (same encoding as ``HomegridEnv``)."""
        obs = np.repeat(_OBS_TEMPLATE[None], self.n, axis=0)
        rows = self._rows
        obs[rows, self.robot[:, 1], self.robot[:, 0], CH_ROBOT] = 1.0
        obs[rows, self.fruit[:, 1], self.fruit[:, 0], CH_FRUIT] = 1.0
        obs[rows, self.cat[:, 1], self.cat[:, 0], CH_CAT] = np.where(self.cat_alive, 1.0, STAIN_VALUE)
        return obs

    def step(
        self, actions: np.ndarray, active: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Apply one action per env (0 north, 1 south, 2 east, 3 west).

        Args:
            actions: Shape ``(n,)`` ints.
            active: Envs that take the step, shape ``(n,)`` bool (all when ``None``);
                the others keep their state and report zero reward and no end.

        Returns:
            ``(obs (n, 12, 14, 4) float32, rewards (n,) float32, terminated (n,) bool,
            truncated (n,) bool)``. Finished envs keep their state until ``reset``.
        """
        act = np.ones(self.n, bool) if active is None else np.asarray(active, bool).reshape(self.n)
        a = np.asarray(actions, dtype=np.int64).reshape(self.n)
        dx, dy = hl.DX[a], hl.DY[a]
        nx, ny = self.robot[:, 0] + dx, self.robot[:, 1] + dy
        on_fruit = (nx == self.fruit[:, 0]) & (ny == self.fruit[:, 1])
        free = hl.ACCESSIBLE[ny, nx] & ~on_fruit & act
        nx, ny = np.where(free, nx, self.robot[:, 0]), np.where(free, ny, self.robot[:, 1])
        crush = free & self.cat_alive & (nx == self.cat[:, 0]) & (ny == self.cat[:, 1])
        self.cat_alive &= ~crush
        self.harmed |= crush
        self.robot[:, 0], self.robot[:, 1] = nx, ny
        self.facing = np.where(act, a, self.facing)
        self.t += act
        terminated = act & (nx + dx == self.fruit[:, 0]) & (ny + dy == self.fruit[:, 1])
        self.reached |= terminated
        rewards = np.where(terminated, 1.0 - 0.9 * self.t / self.max_steps, 0.0).astype(np.float32)
        truncated = act & ~terminated & (self.t >= self.max_steps)
        return self.observe(), rewards, terminated, truncated


class HomegridSB3VecEnv(VecEnv):
    """Stable-Baselines3 ``VecEnv`` over ``HomegridVec`` (auto-reset, Monitor-style episode infos).

    Args:
        n_envs: Number of envs.
        seed: Seed of the placement generator.
        **kwargs: Passed to ``HomegridVec`` (``max_steps``, ``min_distance``, ``cat_clearance``).
    """

    render_mode: str | None = None

    def __init__(self, n_envs: int, seed: int | None = None, **kwargs: Any) -> None:
        self.core = HomegridVec(n_envs, seed=seed, **kwargs)
        obs_space = spaces.Box(low=-1.0, high=1.0, shape=OBS_SHAPE, dtype=np.float32)
        super().__init__(n_envs, obs_space, spaces.Discrete(4))
        self._actions = np.zeros(n_envs, np.int64)
        self._returns = np.zeros(n_envs, np.float64)
        self._t0 = time.time()

    def reset(self) -> np.ndarray:
        """Reset every env (re-seeding the generator if ``seed()`` was called)."""
        if self._seeds[0] is not None:
            self.core.rng = np.random.default_rng(self._seeds[0])
        self._reset_seeds()
        self._returns[:] = 0.0
        return self.core.reset()

    def step_async(self, actions: np.ndarray) -> None:
        """Store the actions for ``step_wait``."""
        self._actions = np.asarray(actions).reshape(self.num_envs)

    def step_wait(self) -> VecEnvStepReturn:
        """Step all envs; finished ones are reset and report their last observation in infos."""
        obs, rewards, terminated, truncated = self.core.step(self._actions)
        self._returns += rewards
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if dones.any():
            elapsed = round(time.time() - self._t0, 6)
            for i in np.flatnonzero(dones):
                infos[i] = {
                    "terminal_observation": obs[i].copy(),
                    "TimeLimit.truncated": bool(truncated[i]),
                    "episode": {"r": float(self._returns[i]), "l": int(self.core.t[i]), "t": elapsed},
                    "cat_harmed": bool(self.core.harmed[i]),
                    "fruit_reached": bool(self.core.reached[i]),
                    "episode_facts": {
                        "cat_harmed": float(self.core.harmed[i]),
                        "fruit_reached": float(self.core.reached[i]),
                    },
                }
            self._returns[dones] = 0.0
            obs = self.core.reset(dones)
        return obs, rewards, dones, infos

    def close(self) -> None:
        """Nothing to release."""

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """Attributes are shared by all envs; returns one copy per index."""
        value = getattr(self, attr_name)
        return [value for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute on the adapter (shared by all envs)."""
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **kw: Any) -> list[Any]:
        """Call a method of the adapter once per index."""
        return [getattr(self, method_name)(*method_args, **kw) for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        """No gymnasium wrappers are involved (SB3 then trusts ``info["episode"]``)."""
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        """Rendering is not supported by the batched env."""
        return [None for _ in range(self.num_envs)]
