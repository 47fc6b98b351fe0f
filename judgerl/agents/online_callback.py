"""Online labelling in the training loop: queries from the agent's rollouts, reward swaps at rollout ends.

:func:`start_online` wires the three parts of ``labels.mode: online`` (decision
0027) to a run: an :class:`~judgerl.envs.episode_recorder.EpisodeRecorder` on the
reward wrapper, the judge worker (:class:`~judgerl.labels.online.OnlineLabeller`)
and the background fitter (:class:`~judgerl.reward.online_fit.BackgroundFitter`).
Its :class:`OnlineCallback` runs at each rollout end, on the training thread: it
turns the episodes finished since into queries (offered, never waited for) and
swaps in the newest published reward model, after the rollout's own rewards were
scored by the model it was collected under.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback

from judgerl.agents.replay import relabel_replay_buffer
from judgerl.child_process import HelperProcessError
from judgerl.config import RunConfig
from judgerl.configbase import ConfigError
from judgerl.envs.episode_recorder import EpisodeRecorder
from judgerl.envs.reward_wrapper import LearnedRewardVecEnv
from judgerl.forms import FeedbackForm, QueryPlan, TargetPlan
from judgerl.labels.cached import CachedJudge
from judgerl.labels.judge_process import JudgeProcessError, ProcessJudge
from judgerl.labels.online import OnlineLabeller
from judgerl.labels.store import LabelStore
from judgerl.loop_parts import judge_metrics, learned_values
from judgerl.reward.online_fit import BackgroundFitter
from judgerl.types import Episode, Segment, TaskSpec


class OnlineLabelling:
    """One run's online labelling: producer state, judge worker, background fitter, swaps.

    Build it with :func:`start_online`. Attributes: ``reward`` (the model the agent is
    scored by now), ``swaps`` (models swapped in), ``callback`` (add it to ``learn``'s
    callbacks, after the reward-scoring ones).
    """

    def __init__(
        self,
        cfg: RunConfig,
        form: FeedbackForm,
        venv: LearnedRewardVecEnv,
        reward: Any,
        plan: QueryPlan,
        labeller: OnlineLabeller,
        fitter: BackgroundFitter,
        recorder: EpisodeRecorder,
        judge_process: ProcessJudge | None = None,
    ) -> None:
        self.cfg = cfg
        self.form = form
        self.venv = venv
        self.reward = reward
        self.plan = plan
        self.labeller = labeller
        self.fitter = fitter
        self.recorder = recorder
        self.judge_process = judge_process  # the judge's own process (labels.online_judge_process), or None
        self.swaps = 0
        self.rollouts = 0
        self._episodes: list[Episode] = []
        self._recent: list[Segment] = []  # segments of the newest queries: the mixer's calibration data
        self._iteration = 0
        self.callback = OnlineCallback(self)

    @property
    def iteration(self) -> int:
        """The loop's current iteration (recorded with the queries registered from now on)."""
        return self._iteration

    @iteration.setter
    def iteration(self, it: int) -> None:
        self._iteration = int(it)
        self.labeller.iteration = int(it)

    def at_rollout_end(self, agent: BaseAlgorithm) -> None:
        """Offer queries from the episodes finished since the last call, then swap in a newer reward model."""
        self.rollouts += 1
        self.labeller.env_steps = int(agent.num_timesteps)
        self._episodes.extend(self.recorder.take(self.cfg.labels.online_fragment_steps))
        if not self.labeller.labelling or self.labeller.budget_left <= 0:
            self._episodes.clear()
        elif len(self._episodes) >= 2:  # two episodes (or fragments) at least: pairs across behaviours
            rng = np.random.default_rng([self.cfg.seed, self._iteration, 2, self.rollouts])
            queries = self.form.queries(self._episodes, self.cfg.labels.online_queries_per_rollout, rng, self.plan)
            self._episodes = []
            self.labeller.offer(queries)
            if queries:
                self._recent = [s for q in queries for s in q.segments]
        model = self.fitter.take()
        if model is not None:
            self.swap(model, agent)

    def swap(self, model: Any, agent: BaseAlgorithm | None) -> None:
        """Score the agent by ``model`` from now on, as blocking mode does after a fit."""
        self.venv.set_reward_model(model)
        self.reward = model
        if self._recent:
            self.venv.mixer.calibrate(learned_values(self.venv, model, self._recent))
        if agent is not None:
            relabel_replay_buffer(agent, self.venv.reward_for)
        disagreement = getattr(model, "disagreement", None)
        if self.plan.uncertainty is not None and callable(disagreement):
            self.plan = dataclasses.replace(self.plan, uncertainty=disagreement)
        self.swaps += 1

    def metrics(self) -> dict[str, float]:
        """Queue, throughput, budget and swap counters, and the newest fit's metrics (docs/metrics.md)."""
        judge = judge_metrics(self.labeller.judge) if self.judge_process is not None else {}  # not the run's judge
        return {
            **judge,
            **self.labeller.metrics(),
            **self.fitter.last_metrics,
            "labels/fragments": float(self.recorder.fragments),
            "labels/judge_process": float(self.judge_process is not None),
            "reward/swaps": float(self.swaps),
            "reward/online_fits": float(self.fitter.fits),
            "reward/online_fit_errors": float(self.fitter.errors),
            "reward/online_fit_restarts": float(getattr(self.fitter, "restarts", 0)),
        }

    def close(self) -> Any:
        """Stop labelling, fit once more if labels arrived since the last fit, and return the final reward model.

        The queue is dropped (never registered, never paid); the judge's batch in flight
        is waited for at most ``labels.online_drain_s``.
        """
        self.labeller.close(self.cfg.labels.online_drain_s)
        if self.judge_process is not None and not self.labeller.busy:
            self.judge_process.close()  # a batch still in flight after the drain keeps its process; it exits with us
        self.fitter.stop()
        try:
            if self.fitter.count() > self.fitter.fitted_on:
                self.fitter.fit_now()
        finally:
            self.fitter.close()  # a fit process ends here, after the last fit
        model = self.fitter.take()
        if model is not None:
            self.swap(model, None)
        self.venv.recorder = None
        return self.reward


class OnlineCallback(BaseCallback):
    """Runs :meth:`OnlineLabelling.at_rollout_end` at every rollout end (on- and off-policy agents)."""

    def __init__(self, online: OnlineLabelling) -> None:
        super().__init__(verbose=0)
        self.online = online

    def _on_step(self) -> bool:
        self.online.labeller.env_steps = int(self.model.num_timesteps)
        return True

    def _on_rollout_end(self) -> None:
        self.online.at_rollout_end(self.model)


def start_online(
    cfg: RunConfig,
    task: TaskSpec,
    form: FeedbackForm,
    judge: CachedJudge,
    store: LabelStore,
    run_id: str,
    venv: LearnedRewardVecEnv,
    reward: Any,
    plans: tuple[QueryPlan, TargetPlan],
    fitted: bool,
) -> OnlineLabelling:
    """Start online labelling for a run (the worker and fitter threads run from here on).

    Args:
        cfg: The run's config (``labels.*``).
        task: The task.
        form: The feedback form.
        judge: The run's cached judge.
        store: The run's label store.
        run_id: The run's id.
        venv: The reward wrapper the agent trains in.
        reward: The current reward model (loaded from ``reward_model.pt`` on a resume).
        plans: How queries are built, and how labels become targets.
        fitted: ``reward`` was loaded from a checkpoint, i.e. fitted on the labels stored so far.

    Returns:
        The running :class:`OnlineLabelling`.

    Raises:
        ConfigError: For a reward of rendered frames (not supported online yet).
    """
    if cfg.task.render or venv.needs_frames:
        raise ConfigError("labels.mode: online does not support rendered frames yet (task.render, frame rewards)")
    labels = cfg.labels
    process = _judge_process(cfg, task, judge.id)
    if process is not None:
        judge = CachedJudge(process, store, run_id=run_id)
    # What earlier starts of this run registered and bought (preflight probes, iteration -1, left out).
    usable_before = len(store.labelled(judge.id, min_iteration=0, run_id=run_id))
    answered = len(store.labelled(judge.id, ("ok", "abstain", "failed"), min_iteration=0, run_id=run_id))
    retry = store.unanswered(judge.id, run_id)
    labeller = OnlineLabeller(
        judge,
        task,
        total=labels.total,
        already=answered + len(retry),
        retry=retry,
        capacity=labels.online_queue,
        policy=labels.online_queue_policy,
        batch=labels.online_batch,
    )
    fitter = _fitter(
        cfg,
        reward,
        store,
        judge.id,
        run_id,
        form,
        plans[1],
        count=lambda: usable_before + labeller.usable,
        refit_every=labels.online_refit_every,
        path=cfg.run_dir / "reward_model.pt",
        seed=cfg.seed,
        iteration=lambda: labeller.iteration,
    )
    fitter.fitted_on = usable_before if fitted else 0
    recorder = EpisodeRecorder(task, venv.observation_space, venv.num_envs)
    venv.recorder = recorder
    online = OnlineLabelling(cfg, form, venv, reward, plans[0], labeller, fitter, recorder, process)
    labeller.start()
    fitter.start()
    return online


def _fitter(cfg: RunConfig, *args: Any, **kwargs: Any) -> BackgroundFitter:
    """The background fitter: in a thread, or with its fits in a process (``labels.online_fit_process``).

    Raises:
        ConfigError: The fit process could not start (e.g. a reward model that does not pickle).
    """
    if cfg.labels.online_fit_process != "process":
        return BackgroundFitter(*args, **kwargs)
    from judgerl.reward.fit_process import ProcessFitter

    try:
        return ProcessFitter(*args, threads=cfg.threads, **kwargs)
    except HelperProcessError as e:
        raise ConfigError(f"labels.online_fit_process=process: {e}; use thread") from e


def _judge_process(cfg: RunConfig, task: TaskSpec, judge_id: str) -> ProcessJudge | None:
    """The judge in a process of its own when ``labels.online_judge_process`` is ``process`` (decision 0035).

    Raises:
        ConfigError: The child could not build the judge (a task or judge type a plugin
            registered only in this process), or built one with another id (its labels
            would not be this run's).
    """
    if cfg.labels.online_judge_process != "process":
        return None
    try:
        process = ProcessJudge(cfg.judge, task.id, cfg.seed, threads=cfg.threads)
    except JudgeProcessError as e:
        raise ConfigError(f"labels.online_judge_process=process: {e}; use thread") from e
    if process.id != judge_id:
        process.close()
        raise ConfigError(
            f"labels.online_judge_process: the judge built in a process has id {process.id}, this run's has "
            f"{judge_id}; set labels.online_judge_process=thread"
        )
    return process
