"""The outer loop of judgerl, top to bottom: collect → query → judge → fit → train → evaluate.

This is imitation's ``PreferenceComparisons`` loop, written out like a cleanrl
script so it can be read in one pass. Every stage that spends budget (env steps,
judge calls) records its progress in the run directory first, so a crashed or
interrupted run resumes where it stopped and never pays twice for a label.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm

from judgerl.agents.callbacks import ReturnRecorder, StepProgress, reward_callbacks
from judgerl.agents.sb3 import (
    DEFAULT_N_ENVS,
    load_agent,
    make_agent,
    relabel_replay_buffer,
    resolve_algo,
    rollout_size,
    save_agent,
)
from judgerl.config import RunConfig, dump_config
from judgerl.envs.collect import collect_episodes
from judgerl.envs.factory import make_vec_env, obs_dim
from judgerl.envs.normalize import RunningRewardScale
from judgerl.envs.reward_wrapper import LearnedRewardVecEnv
from judgerl.evaluation.ground_truth import evaluate, normalized_score, sb3_policy
from judgerl.evaluation.logger import MetricsLogger
from judgerl.judges.factory import make_judge
from judgerl.labels.cached import CachedJudge, carry_spending
from judgerl.labels.store import LabelStore
from judgerl.queries.samplers import make_sampler
from judgerl.queries.segments import cut_segments
from judgerl.reward.ensemble import RewardEnsemble
from judgerl.reward.features import Featurizer
from judgerl.reward.targets import training_pairs
from judgerl.reward.trainer import fit_preferences
from judgerl.runstate import RunState, StepLedger, label_schedule, step_schedule, write_atomic
from judgerl.tasks import get_task
from judgerl.types import Query


class RunStopped(RuntimeError):
    """The run stopped cleanly before finishing; everything bought is stored and running again resumes."""


class BudgetStop(RunStopped):
    """The judge's budget ran out; raise the budget and run again to resume."""


class NoUsableLabels(RunStopped):
    """Every label so far failed or abstained: there is nothing to fit a reward model on."""


def run(cfg: RunConfig) -> Path:
    """Run (or resume) the whole pipeline described by ``cfg``.

    Args:
        cfg: A validated run configuration.

    Returns:
        The run directory, holding config.yaml, labels.sqlite, reward_model.pt,
        agent.zip, metrics.jsonl, eval.json and report.html.
    """
    # ── Setup: run directory, resolved config, seeds, logger, resume state ──────────
    run_dir = cfg.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    state = RunState.load(run_dir)
    if state.done:
        print(f"run {run_dir} is already complete; nothing to do (use a new name to start over)")
        return run_dir
    (run_dir / "config.yaml").write_text(dump_config(cfg))
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    log = MetricsLogger(run_dir)
    # Steps an interruption threw away: a collection never registered, a fresh agent never finished.
    ledger = StepLedger(state, run_dir)
    state.env_steps_repeated += ledger.settle("collect")
    state.env_steps_fresh_repeated += ledger.settle("fresh")
    timings: dict[str, float] = dict(state.extra.get("timings", {}))

    def timed(stage: str, t0: float) -> None:
        timings[f"time/{stage}_s"] = timings.get(f"time/{stage}_s", 0.0) + time.perf_counter() - t0

    # ── ① Task and environments ────────────────────────────────────────────────────
    task = get_task(cfg.task.id)
    algo = resolve_algo(cfg.agent.algo, task)
    n_envs = cfg.env.n_envs or DEFAULT_N_ENVS[algo]
    seg_len = cfg.task.segment_length or task.segment_length
    train_env = make_vec_env(task, n_envs, seed=cfg.seed)

    # ── ② Judge, behind the label store's cache ─────────────────────────────────────
    store = LabelStore(_store_path(cfg), fsync=cfg.labels.fsync)
    judge = CachedJudge(make_judge(cfg.judge, task, cfg.seed), store)
    carry_spending(judge, store)

    # ── ④ Reward model (ensemble) and the env wrapper that replaces the reward ──────
    featurizer = Featurizer(obs_dim(train_env.observation_space), train_env.action_space, cfg.reward.use_action)
    reward_path = run_dir / "reward_model.pt"
    reward = (
        RewardEnsemble.load(reward_path) if reward_path.exists() else RewardEnsemble(featurizer, cfg.reward, cfg.seed)
    )
    scale = RunningRewardScale(momentum=cfg.env.reward_scale_momentum) if cfg.reward.normalize else None
    if scale is not None and "reward_scale" in state.extra:
        scale.load_state(state.extra["reward_scale"])
    absorbing_offset = task.absorbing if cfg.env.absorbing_offset is None else cfg.env.absorbing_offset
    venv = LearnedRewardVecEnv(train_env, reward, normalizer=scale, absorbing_offset=absorbing_offset)
    sampler = make_sampler(cfg.query, uncertainty=reward.pair_std)

    # ── ⑤ Agent (resumed from its checkpoint when there is one) ─────────────────────
    agent_path = run_dir / "agent.zip"
    if agent_path.exists():
        agent = load_agent(agent_path, algo, venv, cfg.agent.device)
    else:
        agent = make_agent(
            algo, venv, task, cfg.seed, cfg.agent.hyperparams, cfg.agent.total_timesteps, cfg.agent.device
        )
    # Training since agent.zip was saved is lost with the process; count it, then go on from the checkpoint.
    state.env_steps_repeated += ledger.settle("train", agent.num_timesteps)
    state.save(run_dir)
    recorder = ReturnRecorder(venv)
    progress = StepProgress(lambda n: ledger.record("train", n))
    callbacks = [*reward_callbacks(agent, venv, cfg.env.reward_per_rollout), recorder, progress]
    labels_per_iter = label_schedule(cfg.labels.total, cfg.iterations, cfg.labels.initial_fraction, cfg.labels.schedule)
    steps_per_iter = step_schedule(cfg.agent.total_timesteps, cfg.iterations, rollout_size(agent))

    for it in range(state.iteration, cfg.iterations):
        # Seeded per iteration, so a resumed run draws exactly what an uninterrupted one would.
        rng = np.random.default_rng([cfg.seed, it])
        # ── Collect episodes with the current agent (random before any training) ────
        queries = store.queries_for_iteration(it)
        if not queries:
            t0 = time.perf_counter()
            policy = None if it == 0 else sb3_policy(agent, deterministic=False)
            episodes, spent = collect_episodes(
                task,
                cfg.collect_steps,
                seed=cfg.seed * 1000 + it,
                policy=policy,
                render=cfg.task.render,
                n_envs=min(4, n_envs),
                episode_prefix=f"it{it}-",
                frame_size=cfg.task.frame_size,
                progress=lambda n: ledger.record("collect", n),
            )
            state.env_steps_collect += spent
            ledger.clear("collect")  # saved with the registered queries below
            timed("collect", t0)

            # ── Cut segments and choose what to ask (registered before asking) ──────
            t0 = time.perf_counter()
            # Enough windows that the pool can supply every label this iteration pays for
            # (about two distinct segments per query); a shortfall carries over to the next one.
            want = labels_per_iter[it] + state.extra.get("label_shortfall", 0)
            per_episode = max(-(-2 * want // max(1, len(episodes))), max(e.length for e in episodes) // seg_len, 1)
            segments = cut_segments(episodes, seg_len, rng, absorbing=task.absorbing, per_episode=per_episode)
            queries = sampler.sample(segments, want, rng)
            state.extra["label_shortfall"] = want - len(queries)
            store.add_queries(queries, iteration=it)
            state.stage = "collected"
            state.save(run_dir)
            timed("query", t0)

        # ── ② Judge through the cache: each answer is stored the moment it arrives ──
        t0 = time.perf_counter()
        labels = judge.judge(task, queries)
        timed("judge", t0)
        if any(lab.provenance.transient and lab.provenance.error.startswith("budget") for lab in labels):
            state.save(run_dir)
            raise BudgetStop(f"judge budget exhausted in iteration {it}; raise judge.budget and run again to resume")
        log.log(it, {**store.stats(judge.id), **_judge_metrics(judge)}, stage="judge")

        # ── ④ Fit the reward model on every usable label bought so far ───────────────
        # (preflight probes, iteration -1, are paid for but not part of the label budget)
        t0 = time.perf_counter()
        pairs = training_pairs(store.labelled(judge.id, min_iteration=0), rng)
        if not pairs:
            state.save(run_dir)
            raise NoUsableLabels(
                f"iteration {it}: the judge gave no usable label yet (see labels.sqlite: "
                f"{store.stats(judge.id)}); check it with `judgerl check-judge`, then run again"
            )
        fit_metrics = fit_preferences(reward, pairs, cfg.reward, rng)
        reward.save(reward_path)
        venv.set_reward_model(reward)
        if scale is not None:
            # A new fit has a new scale: re-estimate it on this iteration's transitions right away.
            scale.reset()
            scale.update(venv.reward_for(*_live_transitions(queries)))
        relabel_replay_buffer(agent, venv.reward_for)
        timed("fit", t0)
        log.log(it, fit_metrics, stage="reward")

        # ── ⑤ Train the agent on the learned reward (true reward kept in info) ──────
        t0 = time.perf_counter()
        if steps_per_iter[it] > 0:
            agent.learn(steps_per_iter[it], callback=callbacks, reset_num_timesteps=False, progress_bar=False)
        state.env_steps_train = int(agent.num_timesteps)
        timed("train", t0)
        save_agent(agent, agent_path)

        # ── ⑥ Evaluate on ground truth, log, checkpoint ─────────────────────────────
        t0 = time.perf_counter()
        result = evaluate(task, sb3_policy(agent), cfg.eval.episodes, seed=10_000 + cfg.seed)
        timed("eval", t0)
        log.log(it, {**recorder.summary(), **result.as_metrics()}, stage="iteration")
        state.iteration, state.stage = it + 1, "start"
        state.extra["timings"] = timings
        if scale is not None:
            state.extra["reward_scale"] = scale.state()
        state.save(run_dir)

    # ── Final evaluation: the co-trained agent, a fresh agent, and the baselines ────
    summary: dict[str, Any] = {}
    final = evaluate(task, sb3_policy(agent), cfg.eval.episodes, seed=20_000 + cfg.seed)
    summary.update(final.as_metrics("eval"))
    rand = evaluate(task, None, cfg.eval.episodes, seed=20_000 + cfg.seed)
    summary.update(rand.as_metrics("eval/random"))
    if cfg.eval.fresh_agent:
        # The honest test of the learned reward: a new agent that never co-evolved with it.
        t0 = time.perf_counter()
        fresh_steps = cfg.eval.fresh_timesteps or cfg.agent.total_timesteps
        fresh_env = LearnedRewardVecEnv(
            make_vec_env(task, n_envs, seed=cfg.seed + 1), reward, normalizer=scale, absorbing_offset=absorbing_offset
        )
        fresh = make_agent(algo, fresh_env, task, cfg.seed + 1, cfg.agent.hyperparams, fresh_steps, cfg.agent.device)
        fresh_callbacks = [
            *reward_callbacks(fresh, fresh_env, cfg.env.reward_per_rollout),
            StepProgress(lambda n: ledger.record("fresh", n)),
        ]
        fresh.learn(_whole_rollouts(fresh_steps, fresh), callback=fresh_callbacks, progress_bar=False)
        save_agent(fresh, run_dir / "fresh_agent.zip")
        summary.update(
            evaluate(task, sb3_policy(fresh), cfg.eval.episodes, seed=20_000 + cfg.seed).as_metrics("eval/fresh")
        )
        summary["budget/env_steps_fresh"] = float(fresh.num_timesteps + state.env_steps_fresh_repeated)
        timed("fresh", t0)
    if cfg.eval.true_reward_baseline:
        t0 = time.perf_counter()
        true_steps = cfg.eval.fresh_timesteps or cfg.agent.total_timesteps
        base = make_agent(
            algo,
            make_vec_env(task, n_envs, seed=cfg.seed + 2),
            task,
            cfg.seed + 2,
            cfg.agent.hyperparams,
            true_steps,
            cfg.agent.device,
            learned_reward=False,
        )
        base.learn(_whole_rollouts(true_steps, base), progress_bar=False)
        true_eval = evaluate(task, sb3_policy(base), cfg.eval.episodes, seed=20_000 + cfg.seed)
        summary.update(true_eval.as_metrics("eval/true_reward"))
        for who in ("eval", "eval/fresh"):
            if f"{who}/return_mean" in summary:
                summary[f"{who}/normalized_score"] = normalized_score(
                    summary[f"{who}/return_mean"], rand.return_mean, true_eval.return_mean
                )
        timed("baseline", t0)

    summary.update(
        {
            "budget/env_steps_train": float(state.env_steps_train),
            "budget/env_steps_collect": float(state.env_steps_collect),
            "budget/env_steps_repeated": float(state.env_steps_repeated),
            "budget/env_steps_total": float(state.env_steps_train + state.env_steps_collect + state.env_steps_repeated),
            "budget/labels_planned": float(cfg.labels.total),
            "labels/used_for_reward": float(len(store.labelled(judge.id, min_iteration=0))),
            **store.stats(judge.id),
            **timings,
        }
    )
    # Strict JSON: an undefined number (e.g. a normalised score with equal baselines) is null, not NaN.
    clean = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in summary.items()}
    write_atomic(run_dir / "eval.json", json.dumps(clean, indent=2, sort_keys=True, allow_nan=False))
    log.log(cfg.iterations, summary, stage="final")
    log.close()
    state.done = True
    state.save(run_dir)
    store.close()

    # ── Report ──────────────────────────────────────────────────────────────────────
    from judgerl.evaluation.report import write_report

    report = write_report(run_dir)
    print(f"report: {report}")
    return run_dir


def _whole_rollouts(steps: int, agent: BaseAlgorithm) -> int:
    """``steps`` rounded down to whole collection rounds (at least one), so SB3 does not overshoot it."""
    return max(step_schedule(steps, 1, rollout_size(agent))[0], rollout_size(agent))


def _live_transitions(queries: list[Query]) -> tuple[np.ndarray, np.ndarray]:
    """Observations ``(N, O)`` and actions ``(N, A)`` of the non-absorbing steps shown in ``queries``."""
    segs = [s for q in queries for s in q.segments]
    live = np.concatenate([s.dones == 0 for s in segs])
    obs = np.concatenate([s.obs.reshape(s.length, -1) for s in segs])[live]
    acts = np.concatenate([s.acts.reshape(s.length, -1) for s in segs])[live]
    return obs.astype(np.float32), acts.astype(np.float32)


def _store_path(cfg: RunConfig) -> Path:
    p = Path(cfg.labels.store)
    return p if p.is_absolute() else cfg.run_dir / p


def _judge_metrics(judge: CachedJudge) -> dict[str, float]:
    """Cache counters plus whatever the inner judge (and its wrappers) report, e.g. ``judge/http_*``."""
    out = dict(judge.stats())
    node: object = judge.inner
    while node is not None:
        for name in ("metrics", "stats"):
            fn = getattr(node, name, None)
            if callable(fn):
                out.update({k: float(v) for k, v in fn().items() if isinstance(v, int | float)})
        node = getattr(node, "inner", None)
    return out
