"""Small helpers of the outer loop (kept out of ``loop.py`` so it reads as the pipeline)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from judgerl.config import RunConfig
from judgerl.envs.reward_wrapper import LearnedRewardVecEnv
from judgerl.labels.cached import CachedJudge
from judgerl.labels.store import LabelStore
from judgerl.runstate import RunState
from judgerl.types import Segment, TaskSpec


def ensure_run_id(run_dir: Path) -> str:
    """The run's id (``state.json``'s ``extra.run_id``), created on first use.

    Queries in the label store belong to a run by this id, so two runs sharing
    one store (an absolute ``labels.store``) never train on each other's
    segments; they share labels only through the content-hash cache. A fresh
    random id, not the directory's path: a run deleted and started again under
    the same name is a new run.
    """
    import uuid

    from judgerl.runstate import RunState

    run_dir.mkdir(parents=True, exist_ok=True)
    state = RunState.load(run_dir)
    run_id = state.extra.get("run_id")
    if not run_id:
        run_id = uuid.uuid4().hex
        state.extra["run_id"] = run_id
        state.save(run_dir)
    return str(run_id)


def open_store(cfg: RunConfig, run_id: str) -> LabelStore:
    """The run's label store; a store private to the run adopts rows written before runs had ids."""
    store = LabelStore(cfg.store_path, fsync=cfg.labels.fsync)
    if not Path(cfg.labels.store).is_absolute():
        store.claim_unowned(run_id)
    return store


def judge_metrics(judge: CachedJudge) -> dict[str, float]:
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


def count_key_fn(kind: str, task: TaskSpec) -> Callable[[np.ndarray], Hashable]:
    """What count decay counts: the step's caption (``task.captioner``) or the observation's bytes."""
    if kind == "caption":
        return task.captioner
    return lambda row: np.asarray(row, np.float32).tobytes()


def learned_values(venv: LearnedRewardVecEnv, reward: Any, segments: Sequence[Segment]) -> np.ndarray:
    """``r̂`` (as the wrapper computes it) on the real steps of ``segments``, shape ``(M,)``.

    A Markov model scores the non-absorbing rows in one batch; a history-dependent
    one is streamed through each segment as if it were an episode.
    """
    if not segments:
        return np.zeros(0, np.float32)
    if not venv.sequential:
        live = np.concatenate([s.dones == 0 for s in segments])
        obs = np.concatenate([s.obs.reshape(s.length, -1) for s in segments])[live]
        acts = np.concatenate([s.acts.reshape(s.length, -1) for s in segments])[live]
        return venv.learned_for(obs.astype(np.float32), acts.astype(np.float32))
    out = []
    for s in segments:
        stream = reward.stream(1)
        obs = np.asarray(s.obs, np.float32).reshape(s.length, 1, -1)
        stream.start(obs[0], np.ones(1, bool))
        for t in range(1, s.length):
            out.append(stream.step(obs[t], np.array([t == s.length - 1]))[0])
    return np.asarray(out, np.float32)


def begin_collection(state: RunState, iteration: int, steps: int, shortfall: int) -> None:
    """Record a finished collection as pending, before its queries are registered (the caller saves ``state``).

    Its env steps and label shortfall count only once the queries are in the
    store (:func:`settle_collection`), so a kill between the two commits
    neither loses the steps nor counts them twice.
    """
    state.extra["pending_collection"] = {"iteration": iteration, "steps": int(steps), "shortfall": int(shortfall)}


def settle_collection(state: RunState, store: LabelStore | None, run_id: str) -> None:
    """Count a pending collection: as collected if its queries are registered, else as thrown away."""
    pending = state.extra.pop("pending_collection", None)
    if not pending:
        return
    if store is not None and store.queries_for_iteration(int(pending["iteration"]), run_id=run_id):
        state.env_steps_collect += int(pending["steps"])
        state.extra["label_shortfall"] = int(pending["shortfall"])
    else:
        state.env_steps_repeated += int(pending["steps"])


def env_step_metrics(state: RunState) -> dict[str, float]:
    """The run's env steps so far, the x-axis of the report's learning curves (stage ``iteration``).

    Returns:
        ``agent/env_steps``: steps the co-trained agent trained for; ``agent/env_steps_total``: those plus
        the collection steps and steps an interruption threw away (what ``budget/env_steps_total`` ends at).
    """
    return {
        "agent/env_steps": float(state.env_steps_train),
        "agent/env_steps_total": float(state.env_steps_train + state.env_steps_collect + state.env_steps_repeated),
    }


def budget_metrics(state: RunState, labels_planned: int) -> dict[str, float]:
    """The run's final budget: env steps trained, collected and thrown away by interruptions, labels planned.

    Args:
        state: The run's state at the end.
        labels_planned: ``labels.total`` for a reward that learns from labels, else 0.

    Returns:
        ``budget/env_steps_{train,collect,repeated,total}`` and ``budget/labels_planned`` (docs/metrics.md).
    """
    return {
        "budget/env_steps_train": float(state.env_steps_train),
        "budget/env_steps_collect": float(state.env_steps_collect),
        "budget/env_steps_repeated": float(state.env_steps_repeated),
        "budget/env_steps_total": float(state.env_steps_train + state.env_steps_collect + state.env_steps_repeated),
        "budget/labels_planned": float(labels_planned),
    }
