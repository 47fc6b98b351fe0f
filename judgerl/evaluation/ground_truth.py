"""Ground-truth evaluation: run a policy on the true reward, never the learned one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from judgerl.envs.factory import make_env
from judgerl.envs.spaces import flatten_one, index_obs, stack_obs
from judgerl.types import EvalResult, TaskSpec

Policy = Callable[[Any], np.ndarray]
"""Maps a batch of observations (an array ``(B, ...)`` or a dict of such arrays) to actions ``(B, ...)``."""


def sb3_policy(model: object, deterministic: bool = True) -> Policy:
    """Wrap an SB3 model's ``predict`` as a :data:`Policy`."""

    def act(obs: Any) -> np.ndarray:
        action, _ = model.predict(obs, deterministic=deterministic)  # type: ignore[attr-defined]
        return np.asarray(action)

    return act


def evaluate(task: TaskSpec, policy: Policy | None, episodes: int, seed: int) -> EvalResult:
    """Run ``episodes`` episodes and score them with the true reward.

    Tasks with a batched env (``TaskSpec.vec_env``) are evaluated on it, many
    episodes side by side (:func:`evaluate_vec`); others one episode at a time,
    episode ``i`` reset with seed ``seed + i`` so two policies evaluated with the
    same seed face the same initial states.

    Args:
        task: The task; its ``success`` function decides ``success_rate``.
        policy: Batched policy, or ``None`` for uniformly random actions.
        episodes: Number of episodes.
        seed: Base seed.

    Returns:
        Mean/std of the true return, success rate, mean length, and the mean of
        any per-episode facts the env reports in ``info["episode_facts"]``
        (e.g. ``cat_harmed``) under ``extra``.
    """
    if task.vec_env is not None:
        return evaluate_vec(task, policy, episodes, seed)
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
                action = (
                    env.action_space.sample() if policy is None else policy(stack_obs(env.observation_space, [obs]))[0]
                )
                obs, reward, terminated, truncated, info = env.step(action)
                total += float(reward)
                steps += 1
                done = bool(terminated or truncated)
            returns.append(total)
            lengths.append(steps)
            successes.append(bool(task.success(total, flatten_one(env.observation_space, obs))))
            for k, v in dict(info.get("episode_facts", {})).items():
                facts.setdefault(k, []).append(float(v))
    finally:
        env.close()
    return _result(returns, lengths, successes, facts)


def evaluate_vec(task: TaskSpec, policy: Policy | None, episodes: int, seed: int, n_envs: int = 100) -> EvalResult:
    """Evaluate on the task's batched env: ``n_envs`` episodes side by side, each env running its share.

    Env ``i`` runs ``(episodes + i) // n_envs`` episodes (SB3's ``evaluate_policy``
    rule, so short episodes are not over-represented). Returns are the env's
    Monitor-style ``info["episode"]``; success is judged on the terminal observation.
    """
    if task.vec_env is None:
        raise ValueError(f"task {task.id!r} has no batched env")
    n_envs = max(1, min(n_envs, episodes))
    venv = task.vec_env(n_envs, seed)
    targets = np.array([(episodes + i) // n_envs for i in range(n_envs)])
    counts = np.zeros(n_envs, np.int64)
    returns: list[float] = []
    lengths: list[int] = []
    successes: list[bool] = []
    facts: dict[str, list[float]] = {}
    try:
        obs = venv.reset()
        while (counts < targets).any():
            actions = np.array([venv.action_space.sample() for _ in range(n_envs)]) if policy is None else policy(obs)
            obs, _, dones, infos = venv.step(actions)
            for i in np.flatnonzero(dones):
                if counts[i] >= targets[i]:
                    continue
                counts[i] += 1
                ep = infos[i]["episode"]
                returns.append(float(ep["r"]))
                lengths.append(int(ep["l"]))
                final = infos[i].get("terminal_observation", index_obs(obs, int(i)))
                successes.append(bool(task.success(float(ep["r"]), flatten_one(venv.observation_space, final))))
                for k, v in dict(infos[i].get("episode_facts", {})).items():
                    facts.setdefault(k, []).append(float(v))
    finally:
        venv.close()
    return _result(returns, lengths, successes, facts)


def _result(
    returns: list[float], lengths: list[int], successes: list[bool], facts: dict[str, list[float]]
) -> EvalResult:
    return EvalResult(
        return_mean=float(np.mean(returns)),
        return_std=float(np.std(returns)),
        success_rate=float(np.mean(successes)),
        episodes=len(returns),
        length_mean=float(np.mean(lengths)),
        extra={k: float(np.mean(v)) for k, v in facts.items()},
    )


def normalized_score(learned: float, random: float, expert: float) -> float:
    """(learned − random) / (expert − random): 0 = random policy, 1 = true-reward agent."""
    denom = expert - random
    return float("nan") if abs(denom) < 1e-12 else float((learned - random) / denom)
