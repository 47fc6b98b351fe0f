"""The outer loop of judgerl, top to bottom: collect → ask → judge → fit → train → evaluate.

This is imitation's ``PreferenceComparisons`` loop, written out like a cleanrl
script so it can be read in one pass, with each seam a plug-in: the feedback
form (``query.kind``: what is asked, and what a label trains), the reward model
(``reward.model``, from the reward registry) and the reward mixing
(``reward.mix``: ``a·r_env + b·g(r̂)``). Every stage that spends budget (env
steps, judge calls) records its progress in the run directory first, so a
crashed or interrupted run resumes where it stopped and never pays twice for a
label. A reward model with nothing to fit (``zero_shot``, ``none``) skips the
collect/ask/judge/fit stages: the loop then only trains and evaluates.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from judgerl.agents.callbacks import ReturnRecorder, StepProgress, reward_callbacks
from judgerl.agents.checkpoint import PeriodicSave, load_agent_checkpoint, plan_training, save_agent_atomic
from judgerl.agents.online_callback import OnlineLabelling, start_online
from judgerl.agents.replay import relabel_replay_buffer
from judgerl.agents.sb3 import (
    agent_from_config,
    default_n_envs,
    init_agent,
    iteration_seed,
    reseed,
    resolve_algo,
    rollout_size,
)
from judgerl.checkpoints import CheckpointInfo, Loaded, clean_stale_temps, load_checkpoint, save_checkpoint
from judgerl.config import RunConfig
from judgerl.envs.collect import collect_episodes
from judgerl.envs.factory import make_vec_env
from judgerl.envs.reward_wrapper import LearnedRewardVecEnv
from judgerl.evaluation.agent_gif import START_GIF, write_agent_gif
from judgerl.evaluation.curve import curve_callbacks
from judgerl.evaluation.final import RewardSetup, final_evaluation
from judgerl.evaluation.ground_truth import evaluate, sb3_policy
from judgerl.evaluation.judge_quality import judge_vs_oracle
from judgerl.evaluation.logger import MetricsLogger
from judgerl.faults import kill_point
from judgerl.forms import QueryPlan, TargetPlan, get_form, plan_targets
from judgerl.judges.factory import value_scale
from judgerl.labels.cached import cached_judge
from judgerl.loop_parts import (
    begin_collection,
    budget_metrics,
    count_key_fn,
    ensure_run_id,
    env_step_metrics,
    judge_metrics,
    learned_values,
    open_store,
    settle_collection,
)
from judgerl.progress import StepBar, progress_bar
from judgerl.reward.mixing import RewardMixer
from judgerl.reward.registry import RewardSpec, get_reward_entry, reward_frame_size
from judgerl.reward.threads import run_threads
from judgerl.rundir import RunLock, count_label_rows, label_health_warning, prepare_run_dir
from judgerl.runstate import RunState, StepLedger, label_schedule, step_schedule, write_atomic
from judgerl.tasks import get_task


class RunStopped(RuntimeError):
    """The run stopped cleanly before finishing; everything bought is stored and running again resumes."""


class BudgetStop(RunStopped):
    """The judge's budget ran out; raise the budget and run again to resume."""


class NoUsableLabels(RunStopped):
    """Every label so far failed or abstained: there is nothing to fit a reward model on."""


def run(cfg: RunConfig, force_config: bool = False) -> Path:
    """Run (or resume) the whole pipeline described by ``cfg``, holding the run directory's lock.

    Args:
        cfg: A validated run configuration.
        force_config: Resume even though settings that give stored work its
            meaning changed (recorded in ``config_changes.jsonl``; ``--force-config``).

    Returns:
        The run directory, holding config.yaml, labels.sqlite, reward_model.pt,
        agent.zip, metrics.jsonl, eval.json and report.html.

    Raises:
        RunLocked: Another process runs on this directory.
        ConfigError: The config changed since the stored work was done, or the
            label store lost labels ``state.json`` says were bought.
    """
    with RunLock(cfg.run_dir), run_threads(cfg.threads):
        prepare_run_dir(cfg, force=force_config)  # resume checks, then config.yaml
        return _pipeline(cfg)


def _pipeline(cfg: RunConfig) -> Path:
    """The loop itself (the caller holds the run lock and has checked the resume)."""
    # ── Setup: run directory, seeds, logger, resume state ───────────────────────────
    started = time.perf_counter()  # eval/curve_wall_s counts from here
    run_dir = cfg.run_dir
    run_id = ensure_run_id(run_dir)
    state = RunState.load(run_dir)
    if state.done:
        print(f"run {run_dir} is already complete; nothing to do (use a new name to start over)")
        return run_dir
    clean_stale_temps(run_dir)
    torch.manual_seed(cfg.seed)
    log = MetricsLogger(run_dir)
    # Steps an interruption threw away: a collection never registered (a fresh agent's: settled in its stage).
    ledger = StepLedger(state, run_dir)
    state.env_steps_repeated += ledger.settle("collect")
    timings: dict[str, float] = dict(state.extra.get("timings", {}))
    counters: dict[str, float] = dict(state.extra.get("checkpoint", {}))

    def timed(stage: str, t0: float) -> None:
        timings[f"time/{stage}_s"] = timings.get(f"time/{stage}_s", 0.0) + time.perf_counter() - t0

    def note_load(what: str, loaded: Loaded[Any]) -> None:
        # A damaged checkpoint is never fatal: the previous one loads, or the stage is redone; both are counted.
        if loaded.fell_back:
            key = f"checkpoint/{what}_{'fallbacks' if loaded.source == 'prev' else 'retrained'}"
            counters[key] = counters.get(key, 0.0) + 1.0
            print(f"judgerl: {what} checkpoint unusable ({'; '.join(loaded.errors)}); using {loaded.source}")

    # ── ① Task and environments ────────────────────────────────────────────────────
    task = get_task(cfg.task.id)
    algo = resolve_algo(cfg.agent.algo, task)
    n_envs = cfg.env.n_envs or default_n_envs(task, algo)
    entry = get_reward_entry(cfg.reward.model)
    frame_size = reward_frame_size(entry, cfg)  # a reward of rendered frames: the envs put them into info
    train_env = make_vec_env(task, n_envs, seed=cfg.seed, frame_size=frame_size)

    # ── ③ Feedback form, and ② the judge behind the label store's cache ─────────────
    form = get_form(cfg.query.kind)
    learns = entry.fits is not None
    store = open_store(cfg, run_id) if learns else None
    judge = cached_judge(cfg, task, store, run_id) if store is not None else None

    # ── ④ Reward model, reward mixing, and the env wrapper that gives the agent its reward ──
    spec = RewardSpec(task, train_env.observation_space, train_env.action_space, cfg, cfg.seed)
    reward_path = run_dir / "reward_model.pt"
    load_reward = entry.load
    reward: Any = None
    reward_info: CheckpointInfo | None = None  # what the loaded checkpoint holds: a fit it need not redo
    if load_reward is not None:
        loaded_reward = load_checkpoint(reward_path, lambda path, _: load_reward(path))
        note_load("reward_model", loaded_reward)
        reward, reward_info = loaded_reward.value, loaded_reward.info
    reward = reward if reward is not None else entry.build(spec)
    mixer = RewardMixer(cfg.reward.mix, n_envs, momentum=cfg.env.reward_scale_momentum)
    if "mixer" in state.extra:
        mixer.load_state(state.extra["mixer"])
    absorbing_offset = task.absorbing if cfg.env.absorbing_offset is None else cfg.env.absorbing_offset
    key_fn = count_key_fn(cfg.reward.mix.count_key, task) if mixer.needs_keys else None
    venv = LearnedRewardVecEnv(train_env, reward, mixer, absorbing_offset, key_fn)
    disagreement = getattr(reward, "disagreement", None)
    plan = QueryPlan.for_task(
        task,
        cfg.task.segment_length,
        sampler=cfg.query.sampler,
        candidate_factor=cfg.query.candidate_factor,
        uncertainty=disagreement if callable(disagreement) else None,
        empty_pair_share=cfg.query.empty_pair_share,
    )
    targets_plan = TargetPlan(
        val_fraction=cfg.reward.val_fraction,
        value_scale=value_scale(cfg.judge, cfg.query.kind),
        truth=task.oracle_verdict,
        mirror=task if cfg.reward.mirror else None,
    )

    # ── ⑤ Agent: resumed from its checkpoint, started from agent.init, or fresh ──────
    agent_path = run_dir / "agent.zip"
    a = cfg.agent
    loaded_agent = load_agent_checkpoint(agent_path, algo, venv, a.device)
    note_load("agent", loaded_agent)
    if loaded_agent.value is not None:
        agent = loaded_agent.value
    elif a.init is not None:
        agent = init_agent(a.init, algo, venv, a.hyperparams, a.device)
    else:
        agent = agent_from_config(a, algo, venv, task, cfg.seed)
    mixer.gamma = float(getattr(agent, "gamma", mixer.gamma))  # normalize_return discounts as the agent does
    # Training since the checkpoint was saved is lost with the process: counted below, then trained again.
    in_flight = ledger.settle("train")
    state.save(run_dir)
    recorder = ReturnRecorder(venv)
    progress = StepProgress(lambda n: ledger.record("train", n))
    saver = PeriodicSave(agent_path, a.checkpoint_every_s, lambda: {"mixer": mixer.state()})  # inside iterations
    callbacks = [*reward_callbacks(agent, venv, cfg.env.reward_per_rollout), recorder, progress, StepBar("train")]
    callbacks += [saver, *curve_callbacks(cfg.eval, task, cfg.seed, log, started)]  # curve: eval.curve_every
    labels_per_iter = label_schedule(cfg.labels.total, cfg.iterations, cfg.labels.initial_fraction, cfg.labels.schedule)
    steps_per_iter = step_schedule(a.total_timesteps, cfg.iterations, rollout_size(agent))
    # labels.mode online (ONI, decision 0027): the judge labels the agent's own rollouts in background threads
    # and refitted reward models are swapped in at rollout ends, so the collect/ask/judge/fit stages are skipped.
    online: OnlineLabelling | None = None
    if cfg.labels.mode == "online" and judge is not None and store is not None:
        fitted = reward_info is not None
        online = start_online(cfg, task, form, judge, store, run_id, venv, reward, (plan, targets_plan), fitted)
        callbacks.append(online.callback)  # after the reward callbacks: a rollout is scored before a swap

    # A collection whose queries were (or were not) registered when the last process died.
    settle_collection(state, store, run_id)
    for it in range(state.iteration, cfg.iterations):
        # One stream per stage and iteration, so a resumed run that skips a stage (its queries are stored)
        # still draws in the next stage exactly what an uninterrupted run draws.
        rng_ask, rng_fit = (np.random.default_rng([cfg.seed, it, stage]) for stage in (0, 1))
        todo = plan_training(
            it, steps_per_iter, agent.num_timesteps, loaded_agent.info, state.env_steps_train, in_flight
        )
        state.env_steps_repeated += todo.lost_steps
        in_flight = 0
        # Killed after this iteration's agent was saved, before state.json: nothing to redo.
        if not todo.already_trained and online is None and judge is not None and store is not None:
            # ── Collect episodes with the current agent (iteration 0: agent.init's, or random) ──
            queries = store.queries_for_iteration(it, run_id=run_id)
            if not queries:
                t0 = time.perf_counter()
                acting = it > 0 or a.init is not None
                reseed(agent, iteration_seed(cfg.seed, it, "collect"))
                episodes, spent = collect_episodes(
                    task,
                    cfg.collect_steps
                    if cfg.collect_episodes is None
                    else cfg.collect_episodes * task.max_episode_steps,
                    seed=cfg.seed * 1000 + it,
                    policy=sb3_policy(agent, deterministic=False) if acting else None,
                    render=cfg.task.render,
                    n_envs=max(min(4, n_envs), len(cfg.collect_noise)),  # one env at least per noise level
                    episode_prefix=f"it{it}-",
                    frame_size=cfg.task.frame_size,
                    progress=lambda n: ledger.record("collect", n),
                    n_episodes=cfg.collect_episodes,
                    noise=cfg.collect_noise,
                )
                timed("collect", t0)

                # ── Ask: the form builds this iteration's queries (registered before they are judged) ──
                t0 = time.perf_counter()
                want = labels_per_iter[it] + state.extra.get("label_shortfall", 0)
                queries = form.queries(episodes, want, rng_ask, plan)
                # The steps and the shortfall count once the queries are registered, not before (a kill between
                # the two must neither lose the steps nor count them twice): a two-step commit through state.json.
                ledger.clear("collect")
                begin_collection(state, it, spent, want - len(queries))
                state.save(run_dir)
                store.add_queries(queries, iteration=it, run_id=run_id)
                settle_collection(state, store, run_id)
                state.stage = "collected"
                state.save(run_dir)
                timed("query", t0)

            # ── ② Judge through the cache: each answer is stored the moment it arrives ──
            # Earlier iterations' queries that only failed transiently (timeouts, server errors) are asked again.
            t0 = time.perf_counter()
            keys = {q.key for q in queries}
            retry = [q for q in store.unanswered(judge.id, run_id) if q.key not in keys]
            with progress_bar(len(queries) + len(retry), f"judge it {it}", unit="label") as bar:
                labels = judge.judge(task, [*queries, *retry], on_label=lambda q, lab: bar.update(), iteration=it)
            state.labels_bought = count_label_rows(cfg.store_path) or 0
            timed("judge", t0)
            if any(lab.provenance.transient and lab.provenance.error.startswith("budget") for lab in labels):
                state.save(run_dir)
                raise BudgetStop(
                    f"judge budget exhausted in iteration {it}; raise judge.budget and run again to resume"
                )
            state.stage = "judged"
            state.save(run_dir)
            # Every usable label so far, in query order (answers of concurrent requests arrive in any order);
            # preflight probes (iteration -1) are paid for but not part of the label budget.
            labelled = sorted(store.labelled(judge.id, min_iteration=0, run_id=run_id), key=lambda r: r[1].query_key)
            quality = judge_vs_oracle(labelled, task, targets_plan.value_scale)
            log.log(it, {**store.stats(judge.id, run_id=run_id), **judge_metrics(judge), **quality}, stage="judge")

            # ── ④ Fit the reward model on the form's targets from every usable label so far ──
            t0 = time.perf_counter()
            if reward_info is not None and reward_info.iteration == it and reward_info.stage == "fitted":
                # This iteration's fit was saved before the last process died: refitting would warm-start from it.
                fit_metrics = dict(reward_info.extra.get("metrics", {}))
            else:
                targets = plan_targets(form, labelled, rng_fit, targets_plan)
                if len(targets) == 0:
                    raise NoUsableLabels(
                        f"iteration {it}: the judge gave no usable label yet (see labels.sqlite: "
                        f"{store.stats(judge.id, run_id=run_id)}); check it with `judgerl check-judge`, then run again"
                    )
                fit_metrics = reward.fit(targets, rng_fit)
                info = CheckpointInfo(iteration=it, stage="fitted", labels=len(targets), extra={"metrics": fit_metrics})
                save_checkpoint(reward_path, reward.save, info)
            reward_info = None
            venv.set_reward_model(reward)
            # A new fit has a new scale (and threshold): re-estimate them on this iteration's data right away.
            mixer.calibrate(learned_values(venv, reward, [s for q in queries for s in q.segments]))
            relabel_replay_buffer(agent, venv.reward_for)
            timed("fit", t0)
            log.log(it, fit_metrics, stage="reward")

        # ── ⑤ Train the agent on the mixed reward (true reward kept in info) ───────────
        t0 = time.perf_counter()
        if online is not None:
            online.iteration = it
        if todo.mixer is not None:
            mixer.load_state(todo.mixer)  # the statistics the checkpoint trained with
        if todo.mid_iteration:
            print(f"judgerl: iteration {it} resumes its training at step {agent.num_timesteps} (saved mid-iteration)")
        saver.iteration = it
        if todo.steps > 0 and not todo.already_trained:
            reseed(agent, iteration_seed(cfg.seed, it, "train"))
            agent.learn(todo.steps, callback=callbacks, reset_num_timesteps=False, progress_bar=False)
        state.env_steps_train = int(agent.num_timesteps)
        if not todo.already_trained:
            info = CheckpointInfo(iteration=it, stage="trained", extra={"mixer": mixer.state()})
            save_agent_atomic(agent, agent_path, info)
        ledger.clear("train")  # the checkpoint holds these steps
        timed("train", t0)

        # ── ⑥ Evaluate on ground truth, log, checkpoint ─────────────────────────────
        t0 = time.perf_counter()
        metrics: dict[str, Any] = {**recorder.summary(), **mixer.pop_stats(), **env_step_metrics(state)}
        if online is not None and judge is not None and store is not None:
            reward = online.reward  # the newest model swapped in
            metrics.update({**store.stats(judge.id, run_id=run_id), **judge_metrics(judge), **online.metrics()})
            state.labels_bought = count_label_rows(cfg.store_path) or 0
        if callable(getattr(reward, "pop_stats", None)):
            metrics.update(reward.pop_stats())  # a zero-shot frame reward's encoding and cache counters
        if cfg.eval.per_iteration:
            policy = sb3_policy(agent, cfg.eval.deterministic)
            metrics.update(evaluate(task, policy, cfg.eval.episodes, seed=10_000 + cfg.seed).as_metrics())
        if it == 0:
            write_agent_gif(cfg, task, agent, START_GIF)  # the report's "start" GIF; the next stage reseeds
        timed("eval", t0)
        log.log(it, metrics, stage="iteration")
        state.iteration, state.stage = it + 1, "start"
        state.extra.update(timings=timings, mixer=mixer.state(), checkpoint=counters)
        state.save(run_dir)

    if online is not None:
        reward = online.close()  # a last fit on every label bought, if new ones came since the last swap

    # ── Final evaluation: the co-trained agent, a fresh agent, and the baselines ────
    def fresh_env(seed: int) -> LearnedRewardVecEnv:
        copy = RewardMixer(cfg.reward.mix, n_envs, momentum=cfg.env.reward_scale_momentum)
        copy.load_state(mixer.state())
        fresh = make_vec_env(task, n_envs, seed=seed, frame_size=frame_size)
        return LearnedRewardVecEnv(fresh, reward, copy, absorbing_offset, key_fn)

    def settle_fresh(held: int) -> None:  # what a stopped run's fresh agent trained beyond its checkpoint
        state.env_steps_fresh_repeated += ledger.settle("fresh", held)

    summary = final_evaluation(
        cfg,
        task,
        algo,
        n_envs,
        agent,
        RewardSetup(fresh_env, learned=cfg.reward.model != "none", model=reward),
        lambda n: ledger.record("fresh", n),
        timed,
        settle_fresh,
    )
    if "budget/env_steps_fresh" in summary:
        summary["budget/env_steps_fresh"] += float(state.env_steps_fresh_repeated)
    summary.update({**counters, **budget_metrics(state, cfg.labels.total if learns else 0), **timings})
    if judge is not None and store is not None:
        summary["labels/used_for_reward"] = float(len(store.labelled(judge.id, min_iteration=0, run_id=run_id)))
        summary.update(store.stats(judge.id, run_id=run_id))
        summary["labels/unresolved"] = float(len(store.unanswered(judge.id, run_id)))
    warning = label_health_warning(summary) if learns else None
    if warning:
        print(f"judgerl: {warning}", file=sys.stderr)
    # Strict JSON: an undefined number (e.g. a normalised score with equal baselines) is null, not NaN.
    clean = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in summary.items()}
    write_atomic(run_dir / "eval.json", json.dumps(clean, indent=2, sort_keys=True, allow_nan=False))
    kill_point("eval_json")
    log.log(cfg.iterations, summary, stage="final")
    log.close()
    state.done = True
    state.save(run_dir)
    if store is not None:
        store.close()

    # ── Report (from stored data only) ───────────────────────────────────────────────
    from judgerl.evaluation.report import write_report

    report = write_report(run_dir)
    kill_point("report")
    print(f"report: {report}")
    return run_dir
