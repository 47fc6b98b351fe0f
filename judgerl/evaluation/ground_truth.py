"""Ground-truth evaluation: run a policy on the true reward, never the learned one."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from judgerl.envs.factory import make_env
from judgerl.types import EvalResult, TaskSpec

Policy = Callable[[np.ndarray], np.ndarray]
"""Maps one batch of observations ``(1, O)`` to actions ``(1, ...)``."""


def sb3_policy(model: object, deterministic: bool = True) -> Policy:
    """Wrap an SB3 model's ``predict`` as a :data:`Policy`."""

    def act(obs: np.ndarray) -> np.ndarray:
        action, _ = model.predict(obs, deterministic=deterministic)  # type: ignore[attr-defined]
        return np.asarray(action)

    return act


def evaluate(task: TaskSpec, policy: Policy | None, episodes: int, seed: int) -> EvalResult:
    """Run ``episodes`` episodes and score them with the true reward.

    Args:
        task: The task; its ``success`` function decides ``success_rate``.
        policy: Batched policy, or ``None`` for uniformly random actions.
        episodes: Number of episodes (each seeded ``seed + i`` so two policies
            evaluated with the same seed face the same initial states).
        seed: Base seed.

    Returns:
        Mean/std of the true return, success rate, mean length, and the mean of
        any per-episode facts the env reports in ``info["episode_facts"]``
        (e.g. ``cat_harmed``) under ``extra``.
    """
    env = make_env(task, seed=seed)
    env.action_space.seed(seed)
    returns, lengths, successes = [], [], []
    facts: dict[str, list[float]] = {}
    try:
        for i in range(episodes):
            obs, _ = env.reset(seed=seed + i)
            total, steps, done = 0.0, 0, False
            info: dict = {}
            while not done:
                action = env.action_space.sample() if policy is None else policy(np.asarray(obs)[None])[0]
                obs, reward, terminated, truncated, info = env.step(action)
                total += float(reward)
                steps += 1
                done = bool(terminated or truncated)
            returns.append(total)
            lengths.append(steps)
            successes.append(bool(task.success(total, np.asarray(obs))))
            for k, v in dict(info.get("episode_facts", {})).items():
                facts.setdefault(k, []).append(float(v))
    finally:
        env.close()
    return EvalResult(
        return_mean=float(np.mean(returns)),
        return_std=float(np.std(returns)),
        success_rate=float(np.mean(successes)),
        episodes=episodes,
        length_mean=float(np.mean(lengths)),
        extra={k: float(np.mean(v)) for k, v in facts.items()},
    )


def normalized_score(learned: float, random: float, expert: float) -> float:
    """(learned − random) / (expert − random): 0 = random policy, 1 = true-reward agent."""
    denom = expert - random
    return float("nan") if abs(denom) < 1e-12 else float((learned - random) / denom)
