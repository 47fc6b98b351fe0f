"""The final evaluation of a run: the co-trained agent, a fresh agent on the final reward, and the baselines.

The fresh agent is the honest test of a learned reward: a new agent, trained
from scratch on the final reward model, that never co-evolved with it. The
baselines are a uniformly random policy and, when asked, the same algorithm on
the true reward -- with judgerl's tuned defaults (what normalised scores use),
and optionally with exactly the learned-reward agent's hyperparameters, so a
score can be compared like with like.

The agents trained here are saved as they train (``agent.checkpoint_every_s``) and
when done, each to its own file (``fresh_agent.zip``, ``baseline_<name>.zip``): a run
stopped in its final evaluation goes on from them instead of training them again
(decision 0051).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv

from judgerl.agents.callbacks import StepProgress, reward_callbacks
from judgerl.agents.checkpoint import PeriodicSave, load_agent_checkpoint, save_agent_atomic
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


def train_resumable(
    cfg: RunConfig,
    name: str,
    algo: str,
    env: VecEnv,
    build: Callable[[], BaseAlgorithm],
    steps: int,
    callbacks: Callable[[BaseAlgorithm], Sequence[BaseCallback]] = lambda agent: (),
    extra: Callable[[], dict[str, Any]] = dict,
    before_training: Callable[[int, CheckpointInfo | None], None] | None = None,
) -> BaseAlgorithm:
    """Train one of the final evaluation's agents, going on from its checkpoint if a stopped run left one.

    The agent is saved to ``<name>.zip`` in the run directory with the sidecar stage ``name``
    when its training is done, and with ``<name>_training`` every ``agent.checkpoint_every_s``
    while it trains (:class:`~judgerl.agents.checkpoint.PeriodicSave`).

    Args:
        cfg: The run config (``run_dir``, ``iterations``, ``agent.device``, ``agent.checkpoint_every_s``).
        name: The agent's file stem and sidecar stage, e.g. ``fresh_agent``.
        algo: SB3 algorithm.
        env: Its vector env (a loaded agent is bound to it).
        build: Makes the agent when there is nothing to go on from.
        steps: Env steps it trains in all (rounded down to whole rollouts, :func:`whole_rollouts`).
        callbacks: The agent's training callbacks besides the periodic save.
        extra: What a save inside the training records besides the steps (the fresh agent's reward
            mixer statistics).
        before_training: Called before any training with the env steps the loaded checkpoint holds
            and its sidecar (``0, None``: built new), e.g. to restore what ``extra`` recorded.

    Returns:
        The trained agent.
    """
    path = cfg.run_dir / f"{name}.zip"
    loaded = load_agent_checkpoint(path, algo, env, cfg.agent.device)
    info = loaded.info
    if loaded.value is not None and info is not None and info.stage in (name, f"{name}_training"):
        agent, held = loaded.value, int(loaded.value.num_timesteps)
    else:
        agent, held, info = build(), 0, None
    if before_training is not None:
        before_training(held, info)
    left = max(0, whole_rollouts(steps, agent) - held)
    if held:
        done = "" if left else " (its training was done)"
        print(f"judgerl: {name.replace('_', ' ')} resumes at step {held}{done}")
    if left:
        every = cfg.agent.checkpoint_every_s
        saver = PeriodicSave(path, every, extra, stage=f"{name}_training", iteration=cfg.iterations)
        agent.learn(left, callback=[*callbacks(agent), saver], progress_bar=False, reset_num_timesteps=held == 0)
        save_agent_atomic(agent, path, CheckpointInfo(iteration=cfg.iterations, stage=name))
    return agent


def final_evaluation(
    cfg: RunConfig,
    task: TaskSpec,
    algo: str,
    n_envs: int,
    agent: BaseAlgorithm,
    reward: RewardSetup,
    on_fresh_steps: Callable[[int], None],
    timed: Callable[[str, float], None],
    settle_fresh: Callable[[int], None] = lambda held: None,
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
        settle_fresh: Called once, before the fresh agent trains, with the env steps its checkpoint
            from a stopped run holds (0 when there is none, or no fresh agent): the step ledger
            counts the rest of what that run had trained as repeated.

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

        def resume(held: int, info: CheckpointInfo | None) -> None:
            if info is not None and "mixer" in info.extra:  # the statistics the fresh agent's reward had reached
                env.mixer.load_state(info.extra["mixer"])
            settle_fresh(held)

        fresh = train_resumable(
            cfg,
            "fresh_agent",
            algo,
            env,
            lambda: agent_from_config(a, algo, env, task, cfg.seed + 1, steps),
            steps,
            lambda agent: [
                *reward_callbacks(agent, env, cfg.env.reward_per_rollout),
                StepProgress(on_fresh_steps),
                StepBar("fresh agent"),
            ],
            extra=lambda: {"mixer": env.mixer.state()},
            before_training=resume,
        )
        summary.update(ground_truth(fresh, "eval/fresh"))
        summary["budget/env_steps_fresh"] = float(fresh.num_timesteps)
        timed("fresh", t0)
    else:
        settle_fresh(0)
    baselines = [("true_reward", False)] if cfg.eval.true_reward_baseline else []
    if cfg.eval.same_hyperparams_baseline:
        baselines.append(("true_reward_same_hp", True))
    for name, same_hp in baselines:
        t0 = time.perf_counter()
        venv = make_vec_env(task, n_envs, seed=cfg.seed + 2)
        base = train_resumable(
            cfg,
            f"baseline_{name}",
            algo,
            venv,
            partial(agent_from_config, a, algo, venv, task, cfg.seed + 2, steps, learned_reward=same_hp),
            steps,
            lambda agent, label=f"baseline {name}": [StepBar(label)],  # type: ignore[misc]
        )
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
