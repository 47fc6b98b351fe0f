"""``judgerl check-judge``: build probe queries for a run's task and preflight its judge.

Probes are cut from random-policy episodes and *stratified by true return*, so
they span bad to good behaviour even when a random policy rarely does well
(a pendulum starts at a random angle, so some windows begin upright). Every
probe answer goes through the run's label store, so a preflight is paid for
once: rerunning it, or the run that follows, reuses the answers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from judgerl.config import RunConfig
from judgerl.envs.collect import collect_episodes
from judgerl.judges.check import PreflightReport, check_judge
from judgerl.judges.factory import make_judge
from judgerl.judges.oracle import OracleJudge
from judgerl.labels.cached import CachedJudge, carry_spending
from judgerl.labels.store import LabelStore
from judgerl.queries.segments import cut_segments, episode_segment
from judgerl.runstate import write_atomic
from judgerl.tasks import get_task
from judgerl.types import Query, Segment, TaskSpec

PREFLIGHT_ITERATION = -1
"""Iteration number under which probe queries are registered in the label store."""


def probe_queries(task: TaskSpec, kind: str, n: int, seg_len: int, seed: int, render: bool) -> list[Query]:
    """Probe queries spanning the range of true returns.

    Args:
        task: The task.
        kind: ``pairwise``, ``pointwise`` or ``episode``.
        n: Number of probes.
        seg_len: Segment length ``T``.
        seed: Collection and sampling seed.
        render: Record frames (for image judges).

    Returns:
        ``n`` queries (fewer if the random rollouts are too short).
    """
    rng = np.random.default_rng(seed)
    steps = max(4 * n * seg_len, 2 * task.max_episode_steps)
    episodes, _ = collect_episodes(task, steps, seed=seed, render=render, episode_prefix="probe-")
    if kind == "episode":
        segments: list[Segment] = [episode_segment(e) for e in episodes if e.length > 0]
    else:
        segments = cut_segments(episodes, seg_len, rng, absorbing=task.absorbing)
    if not segments:
        return []
    # Stratify by true return: sort, then take evenly spaced ranks.
    order = np.argsort([s.true_return for s in segments], kind="stable")
    if kind == "pairwise":
        picks = order[np.linspace(0, len(order) - 1, min(2 * n, len(order))).astype(int)]
        rng.shuffle(picks)
        pairs = [(segments[a], segments[b]) for a, b in zip(picks[0::2], picks[1::2], strict=False)]
        return [Query("pairwise", p) for p in pairs[:n]]
    picks = order[np.linspace(0, len(order) - 1, min(n, len(order))).astype(int)]
    rng.shuffle(picks)
    return [Query(kind, (segments[i],)) for i in picks]  # type: ignore[arg-type]


def run_preflight(cfg: RunConfig, n_probes: int = 64) -> PreflightReport:
    """Preflight the configured judge on probes of the configured task and save ``preflight.json``.

    Args:
        cfg: The run configuration (judge, task, query kind, label budget).
        n_probes: Number of probe queries.

    Returns:
        The report; its ``overall`` is ``pass``, ``warn`` or ``fail``.
    """
    task = get_task(cfg.task.id)
    seg_len = cfg.task.segment_length or task.segment_length
    probes = probe_queries(task, cfg.query.kind, n_probes, seg_len, seed=cfg.seed + 777, render=cfg.task.render)
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    store_path = Path(cfg.labels.store)
    store = LabelStore(store_path if store_path.is_absolute() else cfg.run_dir / store_path, fsync=cfg.labels.fsync)
    try:
        judge = CachedJudge(make_judge(cfg.judge, task, cfg.seed), store, iteration=PREFLIGHT_ITERATION)
        carry_spending(judge, store)
        oracle = (
            OracleJudge(seed=cfg.seed) if (task.oracle_verdict is not None or cfg.query.kind == "pairwise") else None
        )
        report = check_judge(judge, task, probes, oracle=oracle, planned_labels=cfg.labels.total)
    finally:
        store.close()
    write_atomic(cfg.run_dir / "preflight.json", json.dumps(report.as_dict(), indent=2, default=str))
    return report
