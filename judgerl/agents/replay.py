"""Replay buffers that remember the env's reward, and relabelling them after a reward refit.

After a new reward fit the rewards in an off-policy agent's replay buffer are
stale; SAC/DQN would keep learning from the previous model's opinion. To
recompute ``a·r_env + b·g(r̂)`` the buffer must hold the env's own reward
beside the mixed one, which SB3's buffers don't: :class:`EnvRewardReplayBuffer`
adds that column (from ``info["env_reward"]``, which the reward wrapper sets).
SAC stores actions squashed into ``[-1, 1]``; the reward model was fitted on the
env's actions, so they are unscaled before relabelling.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.buffers import DictReplayBuffer, ReplayBuffer
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from judgerl.envs.spaces import flatten_batch


class _EnvRewardColumn:
    """Adds ``env_rewards`` ``(buffer_size, n_envs)`` to an SB3 replay buffer, NaN where not written yet.

    A mixin placed before SB3's buffer class, so one body serves the Box and the Dict buffer.
    """

    buffer_size: int
    n_envs: int
    pos: int

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.env_rewards = np.full((self.buffer_size, self.n_envs), np.nan, np.float32)

    def add(self, *args: Any, **kwargs: Any) -> None:
        """Store the transition and its ``info["env_reward"]``."""
        infos = kwargs.get("infos", args[-1] if args else [])
        row = [float(info.get("env_reward", np.nan)) for info in infos[: self.n_envs]]
        self.env_rewards[self.pos] = np.asarray(row, np.float32)
        super().add(*args, **kwargs)  # type: ignore[misc]


class EnvRewardReplayBuffer(_EnvRewardColumn, ReplayBuffer):
    """SB3's ``ReplayBuffer`` plus the ``env_rewards`` column: each transition's own env reward."""


class DictEnvRewardReplayBuffer(_EnvRewardColumn, DictReplayBuffer):
    """SB3's ``DictReplayBuffer`` (Dict observations) plus the ``env_rewards`` column."""


def replay_buffer_class(observation_space: spaces.Space[Any]) -> type[ReplayBuffer]:
    """The env-reward-keeping buffer class for these observations."""
    return DictEnvRewardReplayBuffer if isinstance(observation_space, spaces.Dict) else EnvRewardReplayBuffer


def relabel_replay_buffer(model: BaseAlgorithm, reward_fn: Any) -> int:
    """Recompute the stored rewards of an off-policy agent with the current reward.

    Args:
        model: An SB3 agent; on-policy agents are left alone.
        reward_fn: ``(obs (M, O) flat rows, env actions (M, A), env rewards (M,) or None) -> (M,)``,
            exactly what the reward wrapper gives (``LearnedRewardVecEnv.reward_for``).

    Returns:
        Number of transitions relabelled.
    """
    if not isinstance(model, OffPolicyAlgorithm) or model.replay_buffer is None:
        return 0
    buf = model.replay_buffer
    n = buf.buffer_size if buf.full else buf.pos
    if n == 0:
        return 0
    m = n * buf.n_envs
    obs = flatten_batch(model.observation_space, _rows(buf.observations, n), m)
    acts = np.asarray(buf.actions[:n], np.float32).reshape(m, -1)
    if isinstance(model.action_space, spaces.Box):
        # SAC/TD3 keep actions squashed into [-1, 1]; the reward saw the env's actions.
        acts = np.asarray(model.policy.unscale_action(acts), np.float32)
    env = getattr(buf, "env_rewards", None)
    env_rewards = None if env is None else np.asarray(env[:n], np.float32).reshape(m)
    rewards = np.asarray(reward_fn(obs, acts, env_rewards), dtype=np.float32)
    buf.rewards[:n] = rewards.reshape(n, buf.n_envs)
    return m


def _rows(observations: Any, n: int) -> Any:
    if isinstance(observations, dict):
        return {k: v[:n] for k, v in observations.items()}
    return observations[:n]
