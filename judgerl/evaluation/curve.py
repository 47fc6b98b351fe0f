"""A learning curve on the true reward while the agent trains (``eval.curve_every``).

Every ``curve_every`` training env steps an SB3 callback evaluates the current
policy for ``curve_episodes`` greedy episodes on the task's true reward and logs
one ``curve`` record: the return, the normalised score when baselines are given,
the env steps and the wall-clock since the run started. It is how "time to reach
a score" is measured (benchmarks/online_curve.py): the per-iteration evaluation
only sees the agent at iteration ends, after a blocking run has waited for its judge.

The evaluation must not change what the agent learns: it runs in its own env
(:func:`judgerl.evaluation.ground_truth.evaluate`, seed ``30000 + seed``, apart
from the per-iteration ``10000 + seed`` and final ``20000 + seed``), never steps
the training env, and acts greedily, which draws no random numbers from torch
(a sampled action would advance the generator the agent's own sampling uses).
"""

from __future__ import annotations

import time

from stable_baselines3.common.callbacks import BaseCallback

from judgerl.config import EvalConfig
from judgerl.evaluation.ground_truth import evaluate, normalized_score, sb3_policy
from judgerl.evaluation.logger import MetricsLogger
from judgerl.types import TaskSpec

CURVE_SEED_OFFSET = 30_000


class CurveCallback(BaseCallback):
    """Log a true-reward evaluation of the policy every ``every`` training env steps.

    Points fall at the first step at or past each multiple of ``every`` (with
    ``n_envs`` envs the agent's step count moves ``n_envs`` at a time), counted
    on the agent's ``num_timesteps``, so they continue across iterations and
    resumed runs.

    Args:
        task: The task (its env and true reward).
        every: Training env steps between points (> 0).
        episodes: Episodes per point.
        seed: The run's seed; the evaluation env uses ``30000 + seed``.
        log: Where the ``curve`` records go (``step`` = training env steps).
        started: ``time.perf_counter()`` when the run started in this process.
        baseline: ``(random return, expert return)`` for ``eval/curve_normalized``, or ``None``.
    """

    def __init__(
        self,
        task: TaskSpec,
        every: int,
        episodes: int,
        seed: int,
        log: MetricsLogger,
        started: float,
        baseline: tuple[float, float] | None = None,
    ) -> None:
        super().__init__(verbose=0)
        if every <= 0:
            raise ValueError(f"curve interval must be positive, got {every}")
        self.task, self.every, self.episodes, self.seed = task, every, episodes, seed
        self.log, self.started, self.baseline = log, started, baseline
        self.next_at = every
        self.points: list[dict[str, float]] = []

    def _on_training_start(self) -> None:
        # The next multiple of `every` after the steps already trained (earlier iterations, a resumed run).
        self.next_at = (self.model.num_timesteps // self.every + 1) * self.every

    def _on_step(self) -> bool:
        steps = int(self.model.num_timesteps)
        if steps >= self.next_at:
            self.next_at = (steps // self.every + 1) * self.every
            self._point(steps)
        return True

    def _point(self, steps: int) -> None:
        """Evaluate now and log one record (stage ``curve``, step = training env steps)."""
        t0 = time.perf_counter()
        result = evaluate(self.task, sb3_policy(self.model, True), self.episodes, seed=CURVE_SEED_OFFSET + self.seed)
        point = {
            "eval/curve_return": result.return_mean,
            "eval/curve_success_rate": result.success_rate,
            "eval/curve_env_steps": float(steps),
            "eval/curve_wall_s": t0 - self.started,
            "eval/curve_eval_s": time.perf_counter() - t0,
        }
        if self.baseline is not None:
            point["eval/curve_normalized"] = normalized_score(result.return_mean, *self.baseline)
        self.points.append(point)
        self.log.log(steps, point, stage="curve")


def curve_callbacks(
    cfg: EvalConfig, task: TaskSpec, seed: int, log: MetricsLogger, started: float
) -> list[BaseCallback]:
    """The curve callback ``cfg`` asks for (``curve_every`` > 0), else none.

    Args:
        cfg: The run's ``eval`` section.
        task: The task.
        seed: The run's seed.
        log: The run's metrics logger.
        started: ``time.perf_counter()`` when the run started in this process.

    Returns:
        ``[CurveCallback]`` or ``[]``.
    """
    if not cfg.curve_every:
        return []
    baseline = None
    if cfg.curve_random_return is not None and cfg.curve_expert_return is not None:
        baseline = (cfg.curve_random_return, cfg.curve_expert_return)
    return [CurveCallback(task, cfg.curve_every, cfg.curve_episodes, seed, log, started, baseline)]
