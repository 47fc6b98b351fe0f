"""Compare a run's reward with the task's true reward or another run's: EPIC and correlations.

``judgerl evaluate RUN_DIR --against true|OTHER_RUN_DIR`` calls :func:`compare_run`;
``judgerl sweep-alpha`` and ``benchmarks/epic.py`` use the pieces.

Sampling distributions (documented defaults; docs/reward_evaluation.md):

* ``D_S`` (states): a half-and-half mixture of (1) the live states of the
  segments the run collected and stored in its label store (what the judge was
  shown: the states the reward was fitted on) and (2) states uniform over the
  task's range (``TrueReward.sample_states``). Without stored segments (a
  zero-shot run buys no labels) all come from the range; a task without a range
  needs stored segments.
* ``D_A`` (actions): uniform over the action space (a ``Box`` between its
  bounds, a ``Discrete`` over its indices).
* Coverage: independent ``s, s' ~ D_S``, ``a ~ D_A`` (``epic.sample_transitions``).

A run's reward is the reward model's output ``r̂(s, a)`` *as the agent was
trained on it*: minus the model's absorbing-state prediction when the run used
the absorbing offset, and 0 from states the task calls terminal (they stand for
the absorbing state, where an episode pays nothing; ``true_reward``). Mixing
(``reward.mix``: env weight, scaling, clipping) is not applied: EPIC compares the
reward model, and a positive scale does not change it anyway.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from judgerl.config import RunConfig, load_config
from judgerl.configbase import ConfigError
from judgerl.evaluation.epic import EpicResult, RewardFn, epic, sample_transitions
from judgerl.evaluation.true_reward import TrueReward, get_true_reward, has_true_reward
from judgerl.types import TaskSpec

EPIC_FILE = "epic.json"


def action_sampler(space: gym.Space[Any]) -> Any:
    """``(n, rng) -> (n, A)`` uniform actions as flat float rows (a ``Discrete`` index as one column).

    Raises:
        ConfigError: An unbounded ``Box`` or another space type.
    """
    if isinstance(space, gym.spaces.Discrete):
        start, n_act = int(space.start), int(space.n)
        return lambda n, rng: rng.integers(start, start + n_act, size=(n, 1)).astype(np.float64)
    if isinstance(space, gym.spaces.Box):
        low, high = space.low.reshape(-1).astype(np.float64), space.high.reshape(-1).astype(np.float64)
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
            raise ConfigError("EPIC samples actions uniformly: the action space must be bounded")
        return lambda n, rng: rng.uniform(low, high, size=(n, len(low)))
    raise ConfigError(f"EPIC supports Box and Discrete action spaces, not {type(space).__name__}")


def model_reward(
    model: Any, obs_dim: int, action_dim: int, absorbing_offset: bool, terminal: TrueReward | None, name: str
) -> RewardFn:
    """A judgerl ``RewardModel`` as an EPIC reward, as the agent was trained on it.

    Args:
        model: Has ``predict(obs (N, O), acts (N, A), dones) -> (N,)``.
        obs_dim: ``O``.
        action_dim: ``A``.
        absorbing_offset: Subtract the model's absorbing-state reward (all-zero row, ``dones = 1``).
        terminal: Its ``is_terminal`` marks the absorbing states, where the reward is 0; ``None``: no such states.
        name: Shown in tables and errors.

    Returns:
        A reward marked ``"sa"`` (``probe_reads`` finds out whether it ignores the action).

    Raises:
        ConfigError: A history-dependent reward (a stream): EPIC needs a reward of single transitions.
    """
    if not callable(getattr(model, "predict", None)):
        raise ConfigError(f"{name}: a history-dependent reward (episode classifier) has no per-transition reward")
    # The wrapper's absorbing offset (LearnedRewardVecEnv.offset): the model's reward for the padded all-zero row.
    offset = _absorbing_reward(model, obs_dim, action_dim) if absorbing_offset else 0.0

    def fn(obs: np.ndarray, acts: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
        m = len(obs)
        rows, actions = np.asarray(obs, np.float32), np.asarray(acts, np.float32).reshape(m, -1)
        out = np.asarray(model.predict(rows, actions, np.zeros(m, np.float32)), np.float64).reshape(m)
        out = out - offset
        if terminal is not None:
            out[terminal.is_terminal(obs)] = 0.0
        return out

    return RewardFn(fn, "sa", name)


def _absorbing_reward(model: Any, obs_dim: int, action_dim: int) -> float:
    obs = np.zeros((1, obs_dim), np.float32)
    return float(np.asarray(model.predict(obs, np.zeros((1, action_dim), np.float32), np.ones(1, np.float32)))[0])


def probe_reads(reward: RewardFn, states: np.ndarray, sample_actions: Any, rng: np.random.Generator) -> RewardFn:
    """The same reward marked ``"s"`` when it gives exactly the same value for every probed action."""
    x = states[: min(64, len(states))]
    a1, a2 = sample_actions(len(x), rng), sample_actions(len(x), rng)
    if np.array_equal(reward(x, a1, x), reward(x, a2, x)):
        return RewardFn(reward.fn, "s", reward.name)
    return reward


@dataclass(frozen=True)
class RunReward:
    """A run's final reward, loaded, with what EPIC needs around it."""

    cfg: RunConfig
    task: TaskSpec
    model: Any
    obs_space: gym.Space[Any]
    action_space: gym.Space[Any]


def run_config(run_dir: Path) -> RunConfig:
    """The run's resolved ``config.yaml``.

    Raises:
        ConfigError: Not a run directory.
    """
    if not (run_dir / "config.yaml").exists():
        raise ConfigError(f"{run_dir} is not a run directory (no config.yaml)")
    return load_config(run_dir / "config.yaml")


def load_run_reward(run_dir: Path) -> RunReward:
    """The run's final reward model: ``reward_model.pt`` (or its previous copy), or built for ``zero_shot``.

    Raises:
        ConfigError: Not a run directory, ``reward.model: none``, or no reward model saved yet.
    """
    from judgerl.checkpoints import load_checkpoint
    from judgerl.envs.factory import make_env
    from judgerl.reward.registry import RewardSpec, get_reward_entry
    from judgerl.tasks import get_task

    cfg = run_config(run_dir)
    if cfg.reward.model == "none":
        raise ConfigError(f"{run_dir}: reward.model is none: the run has no reward model to compare")
    task = get_task(cfg.task.id)
    env = make_env(task)
    obs_space, action_space = env.observation_space, env.action_space
    env.close()
    entry = get_reward_entry(cfg.reward.model)
    load = entry.load
    if load is None:
        model = entry.build(RewardSpec(task, obs_space, action_space, cfg, cfg.seed))
    else:
        loaded = load_checkpoint(run_dir / "reward_model.pt", lambda path, _: load(path))
        if loaded.value is None:
            raise ConfigError(f"{run_dir} holds no reward model yet (reward_model.pt); run it first")
        model = loaded.value
    return RunReward(cfg, task, model, obs_space, action_space)


def stored_states(run_dir: Path, cfg: RunConfig, limit: int = 20_000) -> np.ndarray:
    """Live observation rows of the segments this run stored in its label store, shape ``(K, O)`` (may be empty)."""
    from judgerl.labels.store import LabelStore
    from judgerl.runstate import RunState

    store = Path(cfg.labels.store)
    path = store if store.is_absolute() else run_dir / store  # the run directory may have moved since
    run_id = RunState.load(run_dir).extra.get("run_id")
    if not path.is_file() or not run_id:
        return np.zeros((0, 0))
    rows: list[np.ndarray] = []
    seen: set[str] = set()
    with LabelStore(path) as db:
        last = db.last_iteration(run_id)
        for it in range(0 if last is None else last + 1):
            for q in db.queries_for_iteration(it, run_id):
                for seg in q.segments:
                    if seg.key not in seen:
                        seen.add(seg.key)
                        rows.append(np.asarray(seg.obs, np.float64)[np.asarray(seg.dones) < 0.5])
    if not rows:
        return np.zeros((0, 0))
    return np.concatenate(rows)[:limit]


def state_sampler(truth: TrueReward | None, stored: np.ndarray, stored_share: float = 0.5) -> Any:
    """``D_S``: ``stored_share`` from the stored states (when any), the rest uniform over the task's range.

    Raises:
        ConfigError: Neither a range nor stored states.
    """
    have_stored = stored.size > 0
    if truth is None and not have_stored:
        raise ConfigError("no states to sample: the task has no state range and the run stored no segments")
    share = (stored_share if truth is not None else 1.0) if have_stored else 0.0

    def sample(n: int, rng: np.random.Generator) -> np.ndarray:
        k = int(rng.binomial(n, share)) if 0.0 < share < 1.0 else int(n * share)
        parts = []
        if k:
            parts.append(stored[rng.integers(0, len(stored), size=k)])
        if n - k and truth is not None:
            parts.append(truth.sample_states(n - k, rng))
        out = np.concatenate(parts)
        return out[rng.permutation(len(out))]

    return sample


def true_reward_fn(truth: TrueReward) -> RewardFn:
    """The task's true reward as an EPIC reward."""
    return RewardFn(lambda o, a, n: truth.reward(o, a), "s" if truth.reads == "s" else "sa", "true reward")


def run_reward_fn(run: RunReward, truth: TrueReward | None, name: str) -> RewardFn:
    """A loaded run's reward as the agent was trained on it (see the module doc)."""
    from judgerl.envs.factory import act_dim, obs_dim

    cfg, task = run.cfg, run.task
    absorbing = task.absorbing if cfg.env.absorbing_offset is None else cfg.env.absorbing_offset
    return model_reward(run.model, obs_dim(run.obs_space), act_dim(run.action_space), bool(absorbing), truth, name)


def compare_run(
    run_dir: Path,
    against: str,
    n_coverage: int = 4096,
    n_mean: int = 512,
    gamma: float = 0.99,
    seed: int = 0,
) -> dict[str, float]:
    """EPIC and correlations between a run's final reward and the true reward (``"true"``) or another run's.

    Args:
        run_dir: The run.
        against: ``"true"`` or another run directory (same task).
        n_coverage: Coverage transitions.
        n_mean: Samples per expectation.
        gamma: Discount of the canonicalisation.
        seed: Seeds the sampling.

    Returns:
        ``epic/<against>/...`` metrics (``<against>`` = ``true`` or the other run's directory name).

    Raises:
        ConfigError: A run or the task lacks what the comparison needs.
        DegenerateRewardError: A reward is constant on the samples.
    """
    task_id = run_config(run_dir).task.id
    # Checked before any model is loaded: a task without a true reward fails fast.
    truth = get_true_reward(task_id) if against == "true" or has_true_reward(task_id) else None
    run = load_run_reward(run_dir)
    stored = [stored_states(run_dir, run.cfg)]
    if against == "true":
        assert truth is not None
        other, label = true_reward_fn(truth), "true"
    else:
        other_dir = Path(against)
        other_run = load_run_reward(other_dir)
        if other_run.task.id != run.task.id:
            raise ConfigError(f"{other_dir} is a run of {other_run.task.id}, not {run.task.id}: rewards not comparable")
        other, label = run_reward_fn(other_run, truth, other_dir.name), other_dir.name
        stored.append(stored_states(other_dir, other_run.cfg))
    pool = np.concatenate([s for s in stored if s.size]) if any(s.size for s in stored) else np.zeros((0, 0))
    rng = np.random.default_rng(seed)
    acts = action_sampler(run.action_space)
    samples = sample_transitions(state_sampler(truth, pool), acts, rng, n_coverage, n_mean, gamma)
    mine = probe_reads(run_reward_fn(run, truth, run_dir.name), samples.obs, acts, rng)
    other = probe_reads(other, samples.obs, acts, rng)
    result: EpicResult = epic(mine, other, samples)
    metrics = result.as_metrics(f"epic/{label}")
    metrics[f"epic/{label}/stored_states"] = float(len(pool))
    return metrics


def write_epic(run_dir: Path, metrics: dict[str, float]) -> Path:
    """Merge ``metrics`` into ``<run_dir>/epic.json`` (atomically) and return its path."""
    from judgerl.checkpoints import atomic_write_text

    path = run_dir / EPIC_FILE
    old = json.loads(path.read_text()) if path.is_file() else {}
    old.update(metrics)
    atomic_write_text(path, json.dumps(old, indent=2, sort_keys=True, allow_nan=False))
    return path
