"""A CartPole whose observation is a ``Dict`` (``cart``: position and velocity, ``pole``: angle and angular velocity).

A test fixture for Dict observation spaces: the same dynamics and reward as
gymnasium's CartPole-v1, so a judged run can be compared with the flat task.
``gymnasium.spaces.Dict`` orders keys alphabetically, so the flat row is
``[x, x_dot, theta, theta_dot]``, CartPole's own order: the cart-pole
captioner and oracle apply unchanged. Importing this module registers the
task ``test/dict-cartpole-v0`` (idempotent).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

ENV_ID = "judgerl-test/DictCartPole-v0"
TASK_ID = "test/dict-cartpole-v0"


class DictCartPole(gym.Env):
    """CartPole-v1 with observations ``{"cart": (x, x_dot), "pole": (theta, theta_dot)}``."""

    metadata = CartPoleEnv.metadata

    def __init__(self, render_mode: str | None = None) -> None:
        self.env = CartPoleEnv(render_mode=render_mode)
        self.render_mode = render_mode
        self.action_space = self.env.action_space
        inner = self.env.observation_space
        assert isinstance(inner, spaces.Box)
        lo, hi = inner.low, inner.high
        self.observation_space = spaces.Dict(
            {
                "cart": spaces.Box(lo[:2], hi[:2], dtype=np.float32),
                "pole": spaces.Box(lo[2:], hi[2:], dtype=np.float32),
            }
        )

    @staticmethod
    def _split(obs: np.ndarray) -> dict[str, np.ndarray]:
        obs = np.asarray(obs, np.float32)
        return {"cart": obs[:2], "pole": obs[2:]}

    def reset(self, **kwargs: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Reset; the observation as a dict."""
        super().reset(seed=kwargs.get("seed"))
        obs, info = self.env.reset(**kwargs)
        return self._split(obs), info

    def render(self) -> Any:
        """The inner CartPole's frame."""
        return self.env.render()

    def close(self) -> None:
        """Close the inner env."""
        self.env.close()

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Step; the observation as a dict."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._split(obs), float(reward), terminated, truncated, info


def register() -> None:
    """Register the gym env and the judgerl task (idempotent)."""
    from judgerl.tasks import get_task, register_task
    from judgerl.tasks.classic import CARTPOLE

    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point="judgerl.testing.dict_env:DictCartPole", max_episode_steps=500)
    try:
        get_task(TASK_ID)
    except KeyError:
        register_task(replace(CARTPOLE, id=TASK_ID, env_id=ENV_ID))


register()
