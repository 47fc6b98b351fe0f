"""``judgerl check-judge``: build probe queries for a run's task and preflight its judge.

Probes are cut from episodes of the policy the run starts from (``agent.init``,
else random actions) and spread over good and bad behaviour: one-segment
probes with a ground-truth verdict are balanced between "yes" and "no";
others are *stratified by true return*, so they span bad to good behaviour even
when a random policy rarely does well (a pendulum starts at a random angle, so
some windows begin upright). Other forms (``caption_pairs``) build their probes
with their own ``queries``; two-item probes whose reference values differ
come first, so a proxy-judged form still has probes the proxy can rank. Every
probe answer goes through the run's label store, so a preflight is paid for
once: rerunning it, or the run that follows, reuses the answers.
"""

from __future__ import annotations

import json

import numpy as np

from judgerl.config import RunConfig
from judgerl.envs.collect import Policy, collect_episodes
from judgerl.forms import QueryPlan, get_form, is_pair
from judgerl.forms.caption_pairs import compared_values
from judgerl.judges.check import PreflightReport, check_judge
from judgerl.judges.oracle import OracleJudge
from judgerl.labels.cached import cached_judge
from judgerl.labels.store import LabelStore
from judgerl.queries.segments import cut_segments, episode_segment
from judgerl.runstate import write_atomic
from judgerl.tasks import get_task
from judgerl.types import Episode, Query, Segment, TaskSpec

PREFLIGHT_ITERATION = -1
"""Iteration number under which probe queries are registered in the label store."""


def probe_queries(
    task: TaskSpec,
    kind: str,
    n: int,
    seg_len: int,
    seed: int,
    render: bool,
    policy: Policy | None = None,
    plan: QueryPlan | None = None,
) -> list[Query]:
    """Probe queries spanning bad to good behaviour.

    Args:
        task: The task.
        kind: ``pairwise``, ``pointwise`` or ``episode``.
        n: Number of probes.
        seg_len: Segment length ``T``.
        seed: Collection and sampling seed.
        render: Record frames (for image judges).
        policy: The policy that collects the probe episodes (the run's
            ``agent.init``, so the judge is tried on what it will be asked
            about); ``None`` = random actions.
        plan: Query options for forms that build their own probes (``caption_pairs``).

    Returns:
        ``n`` queries (fewer if the rollouts are too short). One-segment probes
        with a ground-truth verdict are balanced between "yes" and "no" (an AUC
        needs both); otherwise probes are stratified by true return.
    """
    rng = np.random.default_rng(seed)
    if kind == "episode":
        episodes, _ = collect_episodes(
            task, 4 * n * task.max_episode_steps, seed=seed, render=render, policy=policy,
            episode_prefix="probe-", n_episodes=4 * n,
        )  # fmt: skip
        segments: list[Segment] = [
            episode_segment(e, mark_end=False, final_state=True) for e in episodes if e.complete and e.length > 0
        ]
    else:
        steps = max(4 * n * seg_len, 2 * task.max_episode_steps)
        episodes, _ = collect_episodes(task, steps, seed=seed, render=render, policy=policy, episode_prefix="probe-")
        segments = cut_segments(episodes, seg_len, rng, absorbing=task.absorbing, end_caption=task.end_caption)
    if kind not in ("pairwise", "pointwise", "episode"):
        return _form_probes(kind, episodes, n, rng, plan or QueryPlan(segment_length=seg_len))
    if not segments:
        return []
    if kind != "pairwise" and task.oracle_verdict is not None:
        verdict = task.oracle_verdict
        yes = [i for i, s in enumerate(segments) if verdict(s)]
        no = [i for i, s in enumerate(segments) if not verdict(s)]
        k_no = min(len(no), max(n // 2, n - len(yes)))
        picks = np.array(list(rng.permutation(no)[:k_no]) + list(rng.permutation(yes)[: n - k_no]), dtype=np.int64)
        rng.shuffle(picks)
        return [Query(kind, (segments[i],)) for i in picks]
    # Stratify by true return: sort, then take evenly spaced ranks.
    order = np.argsort([s.true_return for s in segments], kind="stable")
    if kind == "pairwise":
        picks = order[np.linspace(0, len(order) - 1, min(2 * n, len(order))).astype(int)]
        rng.shuffle(picks)
        pairs = [(segments[a], segments[b]) for a, b in zip(picks[0::2], picks[1::2], strict=False)]
        return [Query("pairwise", p) for p in pairs[:n]]
    picks = order[np.linspace(0, len(order) - 1, min(n, len(order))).astype(int)]
    rng.shuffle(picks)
    return [Query(kind, (segments[i],)) for i in picks]


def _form_probes(kind: str, episodes: list[Episode], n: int, rng: np.random.Generator, plan: QueryPlan) -> list[Query]:
    """``n`` probes from the form's own queries; for two-item forms, pairs the reference can rank come first."""
    candidates = get_form(kind).queries(episodes, 4 * n, rng, plan)
    if not is_pair(kind):
        return candidates[:n]
    ranked = [(a != b) for a, b, _ in map(compared_values, candidates)]
    differ = [q for q, r in zip(candidates, ranked, strict=True) if r]
    same = [q for q, r in zip(candidates, ranked, strict=True) if not r]
    take = differ[: max(n // 2, n - len(same))]
    return take + same[: n - len(take)]


def _init_policy(cfg: RunConfig, task: TaskSpec) -> Policy | None:
    """The stochastic policy of ``agent.init`` (what iteration 0 collects with), or ``None``."""
    if cfg.agent.init is None:
        return None
    from judgerl.agents.sb3 import ALGOS, resolve_algo
    from judgerl.evaluation.ground_truth import sb3_policy

    model = ALGOS[resolve_algo(cfg.agent.algo, task)].load(cfg.agent.init, device="cpu")
    return sb3_policy(model, deterministic=False)


def run_preflight(cfg: RunConfig, n_probes: int = 64, run_id: str | None = None) -> PreflightReport:
    """Preflight the configured judge on probes of the configured task and save ``preflight.json``.

    Args:
        cfg: The run configuration (judge, task, query kind, label budget).
        n_probes: Number of probe queries.
        run_id: The run the probes belong to and whose budget pays for them
            (pass the run's id so its budget carries the preflight's requests
            when the store is shared); ``None``: run-less.

    Returns:
        The report; its ``overall`` is ``pass``, ``warn`` or ``fail``.
    """
    task = get_task(cfg.task.id)
    seg_len = cfg.task.segment_length or task.segment_length
    probes = probe_queries(
        task,
        cfg.query.kind,
        n_probes,
        seg_len,
        seed=cfg.seed + 777,
        render=cfg.task.render,
        policy=_init_policy(cfg, task),
        plan=QueryPlan.for_task(task, seg_len, empty_pair_share=cfg.query.empty_pair_share),
    )
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    store = LabelStore(cfg.store_path, fsync=cfg.labels.fsync)
    try:
        judge = cached_judge(cfg, task, store, run_id, iteration=PREFLIGHT_ITERATION)
        kind = cfg.query.kind
        oracle = OracleJudge(seed=cfg.seed) if (task.oracle_verdict is not None or is_pair(kind)) else None
        proxy = getattr(get_form(kind), "oracle_proxy", None)  # caption pairs: no ground truth, a documented proxy
        report = check_judge(judge, task, probes, oracle=oracle, planned_labels=cfg.labels.total, proxy=proxy)
    finally:
        store.close()
    write_atomic(cfg.run_dir / "preflight.json", json.dumps(report.as_dict(), indent=2, default=str))
    return report
