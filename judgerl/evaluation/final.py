"""The final evaluation of a run: the co-trained agent, a fresh agent on the final reward, and the baselines.

The fresh agent is the honest test of a learned reward: a new agent, trained
from scratch on the final reward model, that never co-evolved with it. The
baselines are a uniformly random policy and, when asked, the same algorithm on
the true reward -- with judgerl's tuned defaults (what normalised scores use),
and optionally with exactly the learned-reward agent's hyperparameters, so a
score can be compared like with like.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm

from judgerl.agents.callbacks import StepProgress, reward_callbacks
from judgerl.agents.checkpoint import save_agent_atomic
from judgerl.agents.sb3 import agent_from_config, rollout_size
from judgerl.checkpoints import CheckpointInfo
from judgerl.config import RunConfig
from judgerl.envs.factory import make_vec_env
from judgerl.envs.reward_wrapper import LearnedRewardVecEnv
from judgerl.evaluation.agent_gif import END_GIF, write_agent_gif
from judgerl.evaluation.ground_truth import evaluate, normalized_score, sb3_policy
from judgerl.evaluation.landscape import write_landscape
from judgerl.progress import StepBar
from judgerl.runstate import step_schedule
from judgerl.types import TaskSpec


@dataclass(frozen=True)
class RewardSetup:
    """What a fresh agent needs to train on the same reward as the co-trained one.

    Attributes:
        make_env: ``seed -> LearnedRewardVecEnv`` on a new vector env, with a copy
            of the run's reward model and mixing statistics.
        learned: Whether the run has a learned (or zero-shot) reward at all; a
            fresh agent on reward ``none`` would only repeat the baseline.
        model: The final reward model (for the reward landscape), ``None`` without one.
    """

    make_env: Callable[[int], LearnedRewardVecEnv]
    learned: bool
    model: Any = None


def whole_rollouts(steps: int, agent: BaseAlgorithm) -> int:
    """``steps`` rounded down to whole collection rounds (at least one), so SB3 does not overshoot it."""
    return max(step_schedule(steps, 1, rollout_size(agent))[0], rollout_size(agent))


def final_evaluation(
    cfg: RunConfig,
    task: TaskSpec,
    algo: str,
    n_envs: int,
    agent: BaseAlgorithm,
    reward: RewardSetup,
    on_fresh_steps: Callable[[int], None],
    timed: Callable[[str, float], None],
) -> dict[str, Any]:
    """Evaluate the run's agent and train/evaluate the fresh agent and baselines the config asks for.

    Args:
        cfg: The run config (``eval`` section).
        task: The task.
        algo: The SB3 algorithm of the run.
        n_envs: Envs per agent.
        agent: The co-trained agent.
        reward: How to make the fresh agent's reward env.
        on_fresh_steps: Called with the fresh agent's steps as it trains (the step ledger).
        timed: ``(stage, t0)`` adds the stage's wall-clock since ``t0`` to the run's timings.

    Returns:
        ``eval/...`` metrics (co-trained agent), ``eval/random/...``,
        ``eval/fresh/...``, ``eval/true_reward/...``, ``eval/true_reward_same_hp/...``,
        normalised scores, ``budget/env_steps_fresh``, and the reward audit's ``audit/*``
        (``judgerl.evaluation.reward_audit``; it also writes ``reward_audit.json``). Writes the
        final agent's GIF (``media/agent_end.gif``) and the reward landscape (``landscape.json``).
    """
    seed = 20_000 + cfg.seed
    summary: dict[str, Any] = {}

    def ground_truth(model: BaseAlgorithm, prefix: str) -> dict[str, float]:
        return evaluate(task, sb3_policy(model, cfg.eval.deterministic), cfg.eval.episodes, seed=seed).as_metrics(
            prefix
        )

    t0 = time.perf_counter()
    summary.update(ground_truth(agent, "eval"))
    rand = evaluate(task, None, cfg.eval.episodes, seed=seed)
    summary.update(rand.as_metrics("eval/random"))
    timed("eval", t0)
    steps = cfg.eval.fresh_timesteps or cfg.agent.total_timesteps
    a = cfg.agent
    if cfg.eval.fresh_agent and reward.learned:
        t0 = time.perf_counter()
        env = reward.make_env(cfg.seed + 1)
        fresh = agent_from_config(a, algo, env, task, cfg.seed + 1, steps)
        callbacks = [
            *reward_callbacks(fresh, env, cfg.env.reward_per_rollout),
            StepProgress(on_fresh_steps),
            StepBar("fresh agent"),
        ]
        fresh.learn(whole_rollouts(steps, fresh), callback=callbacks, progress_bar=False)
        save_agent_atomic(
            fresh, cfg.run_dir / "fresh_agent.zip", CheckpointInfo(iteration=cfg.iterations, stage="fresh")
        )
        summary.update(ground_truth(fresh, "eval/fresh"))
        summary["budget/env_steps_fresh"] = float(fresh.num_timesteps)
        timed("fresh", t0)
    baselines = [("true_reward", False)] if cfg.eval.true_reward_baseline else []
    if cfg.eval.same_hyperparams_baseline:
        baselines.append(("true_reward_same_hp", True))
    for name, same_hp in baselines:
        t0 = time.perf_counter()
        venv = make_vec_env(task, n_envs, seed=cfg.seed + 2)
        base = agent_from_config(a, algo, venv, task, cfg.seed + 2, steps, learned_reward=same_hp)
        base.learn(whole_rollouts(steps, base), callback=StepBar(f"baseline {name}"), progress_bar=False)
        summary.update(ground_truth(base, f"eval/{name}"))
        base_return = summary[f"eval/{name}/return_mean"]
        suffix = "" if name == "true_reward" else "_same_hp"
        for who in ("eval", "eval/fresh"):
            if f"{who}/return_mean" in summary:
                summary[f"{who}/normalized_score{suffix}"] = normalized_score(
                    summary[f"{who}/return_mean"], rand.return_mean, base_return
                )
        timed("baseline", t0)
    if reward.learned:
        # Last, so the audit's episodes (and a stochastic policy's draws) change nothing evaluated above.
        from judgerl.evaluation.reward_audit import final_audit

        t0 = time.perf_counter()
        summary.update(final_audit(cfg, task, agent, reward.make_env))
        timed("eval", t0)
    from judgerl.evaluation.text_replay import final_replay

    final_replay(cfg, task, agent)  # last too: its episode must not shift the draws evaluated above
    write_agent_gif(cfg, task, agent, END_GIF)  # the report's "end" GIF (its episode shifts nothing above)
    if reward.learned and reward.model is not None and cfg.eval.landscape_grid > 0:
        write_landscape(cfg.run_dir, task, reward.model, cfg.eval.landscape_grid)
    return summary
