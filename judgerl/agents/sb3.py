"""Stable-Baselines3 adapter: build, train, save and load PPO, SAC and DQN agents.

judgerl has no RL algorithm of its own. This module only chooses tuned defaults
(from rl-baselines3-zoo's hyperparameter files for the classic-control tasks),
turns YAML-friendly strings such as ``"lin_0.001"`` into SB3 schedules, and
relabels an off-policy replay buffer when the learned reward changes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from stable_baselines3 import DQN, PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from judgerl.types import TaskSpec

AlgoT = TypeVar("AlgoT", bound=BaseAlgorithm)

ALGOS: dict[str, type[BaseAlgorithm]] = {"PPO": PPO, "SAC": SAC, "DQN": DQN}

# Tuned defaults per (task, algo), adapted from rl-baselines3-zoo (hyperparams/*.yml).
# Keys not listed fall back to SB3's own defaults.
_TUNED: dict[tuple[str, str], dict[str, Any]] = {
    ("pendulum/swingup-v0", "SAC"): {"learning_rate": 1e-3, "learning_starts": 1000},
    ("pendulum/swingup-v0", "PPO"): {
        "n_steps": 1024,
        "gae_lambda": 0.95,
        "gamma": 0.9,
        "n_epochs": 10,
        "ent_coef": 0.0,
        "learning_rate": 1e-3,
        "clip_range": 0.2,
        "use_sde": True,
        "sde_sample_freq": 4,
    },
    ("cartpole/balance-v0", "PPO"): {
        "n_steps": 32,
        "batch_size": 256,
        "gae_lambda": 0.8,
        "gamma": 0.98,
        "n_epochs": 20,
        "ent_coef": 0.0,
        "learning_rate": "lin_0.001",
        "clip_range": "lin_0.2",
    },
    ("cartpole/balance-v0", "DQN"): {
        "learning_rate": 2.3e-3,
        "batch_size": 64,
        "buffer_size": 100_000,
        "learning_starts": 1000,
        "gamma": 0.99,
        "target_update_interval": 10,
        "train_freq": 256,
        "gradient_steps": 128,
        "exploration_fraction": 0.16,
        "exploration_final_eps": 0.04,
        "policy_kwargs": {"net_arch": [256, 256]},
    },
    ("mountaincar/reach-flag-v0", "DQN"): {
        "learning_rate": 4e-3,
        "batch_size": 128,
        "buffer_size": 10_000,
        "learning_starts": 1000,
        "gamma": 0.98,
        "target_update_interval": 600,
        "train_freq": 16,
        "gradient_steps": 8,
        "exploration_fraction": 0.2,
        "exploration_final_eps": 0.07,
        "policy_kwargs": {"net_arch": [256, 256]},
    },
    ("mountaincar/reach-flag-v0", "PPO"): {
        "n_steps": 16,
        "gae_lambda": 0.98,
        "gamma": 0.99,
        "n_epochs": 4,
        "ent_coef": 0.0,
        "normalize_advantage": True,
    },
}

# Changes on top of _TUNED for agents trained on a *learned* reward (co-trained and fresh agents; the
# true-reward baseline keeps the zoo's values). A learned reward carries spurious shaping that the true
# one lacks: on CartPole the reward fitted from 200 preferences rose towards the track's edge
# (0.34 at x = -2.2 vs 0.13 at the centre), and with the zoo's gamma 0.98 (a ~50-step horizon) the
# fresh agent drifted there and fell off at ~300 steps; with 0.995 the cost of ending the episode
# dominates. On the true reward the same change made PPO unstable (one seed of three at 154), so the
# baseline keeps 0.98. Measured: benchmarks/results/README.md, decision 0010.
_LEARNED_REWARD: dict[tuple[str, str], dict[str, Any]] = {
    ("cartpole/balance-v0", "PPO"): {"gamma": 0.995},
}

# Envs per algorithm when the config leaves env.n_envs unset: on-policy PPO wants
# many short rollouts; SAC/DQN with train_freq=1 are most sample-efficient on one.
DEFAULT_N_ENVS = {"PPO": 8, "SAC": 1, "DQN": 1}


def resolve_algo(algo: str, task: TaskSpec) -> str:
    """Return the SB3 algorithm name to use (``auto`` means the task's default)."""
    return task.default_algo if algo == "auto" else algo


def _schedule(value: Any) -> Any:
    """Turn ``"lin_X"`` into a linear schedule from X to 0 (rl-zoo's notation)."""
    if isinstance(value, str) and value.startswith("lin_"):
        start = float(value[4:])
        return lambda progress_remaining: progress_remaining * start
    return value


def agent_hyperparams(
    task: TaskSpec, algo: str, overrides: dict[str, Any], total_timesteps: int, learned_reward: bool = True
) -> dict[str, Any]:
    """Merge tuned defaults with user overrides into SB3 constructor kwargs.

    Args:
        task: The task (selects tuned defaults).
        algo: ``PPO``, ``SAC`` or ``DQN``.
        overrides: User keys from ``agent.hyperparams``; they win.
        total_timesteps: Planned training steps (caps the replay buffer size).
        learned_reward: Whether the agent trains on a learned reward (adds the
            learned-reward adjustments, e.g. CartPole PPO's longer horizon).

    Returns:
        Keyword arguments for the SB3 class.
    """
    params = dict(_TUNED.get((task.id, algo), {}))
    if learned_reward:
        params.update(_LEARNED_REWARD.get((task.id, algo), {}))
    params.update(overrides)
    if algo in ("SAC", "DQN"):
        # A replay buffer larger than the run only wastes memory and checkpoint disk.
        params["buffer_size"] = int(min(params.get("buffer_size", 1_000_000), max(total_timesteps, 1000)))
    return {k: _schedule(v) for k, v in params.items()}


def make_agent(
    algo: str,
    venv: VecEnv,
    task: TaskSpec,
    seed: int,
    overrides: dict[str, Any] | None = None,
    total_timesteps: int = 100_000,
    device: str = "cpu",
    tensorboard_log: str | None = None,
    learned_reward: bool = True,
) -> BaseAlgorithm:
    """Build an SB3 agent with judgerl's tuned defaults.

    Args:
        algo: ``PPO``, ``SAC`` or ``DQN``.
        venv: The (possibly reward-wrapped) vectorised env.
        task: The task (selects tuned defaults).
        seed: Seed for the agent's networks and exploration.
        overrides: SB3 constructor keys that replace the defaults.
        total_timesteps: Planned training steps.
        device: torch device.
        tensorboard_log: Folder for SB3's own TensorBoard logs, or None.
        learned_reward: False for an agent on the env's own reward (the
            true-reward baseline): the tuned defaults without learned-reward changes.

    Returns:
        An untrained SB3 model bound to ``venv``.
    """
    if algo not in ALGOS:
        raise ValueError(f"agent.algo {algo!r} is not one of {sorted(ALGOS)}")
    params = agent_hyperparams(task, algo, overrides or {}, total_timesteps, learned_reward)
    return quiet(
        ALGOS[algo]("MlpPolicy", venv, seed=seed, device=device, verbose=0, tensorboard_log=tensorboard_log, **params)
    )


def quiet(model: AlgoT) -> AlgoT:
    """Give a model without TensorBoard logging a logger that writes nothing.

    Without a custom logger SB3 calls ``configure()`` on every ``learn()``, which
    creates an empty ``SB3-<date>`` folder in the temp directory each time even
    with ``verbose=0`` (hundreds of them after a test run). judgerl logs its own
    metrics, so such a model needs no SB3 logger output at all.

    Returns:
        ``model`` itself.
    """
    if model.tensorboard_log is None:
        model.set_logger(Logger(folder=None, output_formats=[]))
    return model


def load_agent(path: str | Path, algo: str, venv: VecEnv, device: str = "cpu") -> BaseAlgorithm:
    """Load a saved agent (``agent.zip``) and bind it to ``venv``; restore its replay buffer if saved."""
    model = quiet(ALGOS[algo].load(str(path), env=venv, device=device))
    buf = Path(path).with_suffix(".replay.pkl")
    if isinstance(model, OffPolicyAlgorithm) and buf.exists():
        model.load_replay_buffer(str(buf))
    return model


def save_agent(model: BaseAlgorithm, path: str | Path) -> None:
    """Save the agent (and an off-policy replay buffer beside it, for exact resume)."""
    model.save(str(path))
    if isinstance(model, OffPolicyAlgorithm):
        model.save_replay_buffer(str(Path(path).with_suffix(".replay.pkl")))


def relabel_replay_buffer(model: BaseAlgorithm, reward_fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> int:
    """Recompute stored rewards of an off-policy agent with the current reward function.

    After a new reward fit the rewards in the replay buffer are stale; SAC/DQN
    would otherwise keep learning from the previous model's opinion.

    Args:
        model: An SB3 agent; on-policy agents are left alone.
        reward_fn: Maps observations ``(N, O)`` and actions ``(N, A)`` to rewards ``(N,)``,
            exactly as the reward wrapper computes them (offset and scaling included).

    Returns:
        Number of transitions relabelled.
    """
    if not isinstance(model, OffPolicyAlgorithm) or model.replay_buffer is None:
        return 0
    buf = model.replay_buffer
    n = buf.buffer_size if buf.full else buf.pos
    if n == 0:
        return 0
    obs = buf.observations[:n].reshape(n * buf.n_envs, -1)
    acts = buf.actions[:n].reshape(n * buf.n_envs, -1)
    rewards = np.asarray(reward_fn(obs.astype(np.float32), acts.astype(np.float32)), dtype=np.float32)
    buf.rewards[:n] = rewards.reshape(n, buf.n_envs)
    return int(n * buf.n_envs)


def rollout_size(model: BaseAlgorithm) -> int:
    """Env steps per collection round (PPO: n_steps × n_envs; off-policy: n_envs)."""
    n_envs = model.get_env().num_envs if model.get_env() is not None else 1  # type: ignore[union-attr]
    n_steps = getattr(model, "n_steps", 1)
    return int(n_steps * n_envs) if isinstance(model, PPO) else int(n_envs)
