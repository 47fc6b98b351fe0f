"""Judge preflight: check a judge on probe queries before spending RL compute on it.

Like Gymnasium's ``check_env``, ``check_judge`` first enforces the Judge
contract (it raises ``JudgeContractError`` on a violation), then measures what
decides whether a judge is worth using: agreement with an oracle, swap-order
consistency (pairwise), the share of invalid answers, latency, tokens and cost,
and for pointwise/episode judges the AUC of their values against the oracle
verdict (which catches a judge whose scores are inverted).

Scoring conventions, shared by agreement and swap consistency: two pairwise
answers that pick the same segment (or are both ties) score 1, opposite picks
score 0, a tie beside a pick scores 0.5 ("ties count as half"). Only probes
where both labels are ``ok`` are compared. Two-item forms other than
``pairwise`` (``caption_pairs``) are checked the same way.

When the reference judge answers a documented *proxy* rather than the truth
(``proxy``: caption pairs have no ground truth), its agreement is reported as
``proxy_agreement``, over the probes the proxy does not call a tie, and is
not graded: a proxy cannot fail a judge.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from judgerl.forms.registry import is_pair
from judgerl.judges.base import Judge
from judgerl.judges.both_orders import order_counts, swapped
from judgerl.judges.check_compare import compare_labels as _compare
from judgerl.judges.check_compare import pair_score, rank_auc

__all__ = [
    "CheckResult",
    "JudgeContractError",
    "PreflightReport",
    "PreflightThresholds",
    "check_judge",
    "pair_score",
    "rank_auc",
]
from judgerl.types import Label, Query, QueryKind, TaskSpec

Verdict = Literal["pass", "warn", "fail"]
_SEVERITY: dict[Verdict, int] = {"pass": 0, "warn": 1, "fail": 2}


class JudgeContractError(ValueError):
    """A judge broke the Judge protocol (wrong label count, keys, statuses, id...)."""


@dataclass(frozen=True)
class PreflightThresholds:
    """Limits for the preflight verdicts.

    ``*_fail``/``*_warn`` on agreement, AUC and swap consistency are lower
    bounds (below = fail/warn); on the invalid rate they are upper bounds.
    """

    agreement_fail: float = 0.6
    agreement_warn: float = 0.75
    auc_fail: float = 0.6
    auc_warn: float = 0.75
    swap_fail: float = 0.5
    swap_warn: float = 0.8
    invalid_fail: float = 0.2
    invalid_warn: float = 0.05
    # A judge that ties (almost) every pair says nothing; a correct CartPole judge ties often, never always.
    tie_fail: float = 0.95


@dataclass(frozen=True)
class CheckResult:
    """One graded measurement: its value, verdict and the rule applied."""

    name: str
    value: float
    verdict: Verdict
    rule: str


@dataclass(frozen=True)
class PreflightReport:
    """Outcome of ``check_judge``.

    Attributes:
        judge_id: The judge's ``id``.
        kind: Kind of the probe queries.
        n_probes: Number of probe queries.
        invalid_rate: Share of labels (probes and swapped probes) that are
            ``failed`` or ``abstain``.
        latency_p50_s: Median ``provenance.latency_s`` over all labels, seconds.
        latency_p95_s: 95th percentile of the same, seconds.
        labels_per_s: Labels per second of wall-clock time of the judge calls.
        tokens_in_per_label: Mean prompt tokens per label.
        tokens_out_per_label: Mean completion tokens per label.
        cost_per_label_usd: Mean cost per label, US dollars.
        agreement: Agreement with the oracle in [0, 1] (ties count as half), or
            ``None`` without an oracle, without comparable probes, or for
            non-pairwise values outside [0, 1].
        n_compared: Probes where judge and oracle were both ``ok``.
        swap_consistency: Two-item forms only: agreement of each probe's answer with
            its swapped answer mapped back, in [0, 1].
        tie_rate: Two-item forms only: share of ``ok`` answers (both orders) that are ties.
        order_consistency: A judge asked in both orders (``judge.both_orders``) only: share
            of the probes' pairs whose two asked orders did not pick opposite segments,
            i.e. the wrapped model's own swap consistency. ``both_orders`` turns the rest
            into ties (or abstains), which would hide a model that always picks one
            position behind a perfect ``swap_consistency``.
        proxy: What the reference judge answers when it is a proxy, not the
            truth (then ``agreement`` is ``None``); ``None`` for a true oracle.
        proxy_agreement: Agreement with the proxy on the probes it does not
            call a tie (ties count as half), ungraded; ``None`` without a proxy.
        auc: Pointwise/episode only: rank AUC of the judge's value against the
            oracle verdict (0.5 = chance, 0 = inverted).
        planned_labels: Labels the run plans to buy, if given.
        projected_cost_usd: ``cost_per_label_usd * planned_labels``.
        checks: The graded checks.
        overall: Worst verdict among ``checks`` (``pass`` when there are none).
    """

    judge_id: str
    kind: QueryKind
    n_probes: int
    invalid_rate: float
    latency_p50_s: float
    latency_p95_s: float
    labels_per_s: float
    tokens_in_per_label: float
    tokens_out_per_label: float
    cost_per_label_usd: float
    agreement: float | None = None
    n_compared: int = 0
    swap_consistency: float | None = None
    tie_rate: float | None = None
    order_consistency: float | None = None
    proxy: str | None = None
    proxy_agreement: float | None = None
    auc: float | None = None
    planned_labels: int | None = None
    projected_cost_usd: float | None = None
    checks: tuple[CheckResult, ...] = ()
    overall: Verdict = "pass"

    def as_dict(self) -> dict[str, Any]:
        """JSON-able flat dict of ``preflight/...`` keys, with ``preflight/{verdict,rule}/<check>`` per check."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            if name != "checks":
                out[f"preflight/{name}"] = getattr(self, name)
        for c in self.checks:
            out[f"preflight/verdict/{c.name}"] = c.verdict
            out[f"preflight/rule/{c.name}"] = c.rule
        return out

    def as_table(self) -> str:
        """Plain aligned text table: graded checks, then measurements, then the overall verdict."""
        rows: list[tuple[str, str, str, str]] = [("check", "value", "verdict", "rule")]
        rows += [(c.name, _fmt(c.value), c.verdict, c.rule) for c in self.checks]
        graded = {c.name for c in self.checks}
        measures: list[tuple[str, float | int | None]] = [
            ("n_probes", self.n_probes),
            ("n_compared", self.n_compared),
            ("agreement", self.agreement),
            ("swap_consistency", self.swap_consistency),
            ("tie_rate", self.tie_rate),
            ("order_consistency", self.order_consistency),
            ("proxy_agreement (PROXY, not ground truth)", self.proxy_agreement),
            ("auc", self.auc),
            ("invalid_rate", self.invalid_rate),
            ("latency_p50_s", self.latency_p50_s),
            ("latency_p95_s", self.latency_p95_s),
            ("labels_per_s", self.labels_per_s),
            ("tokens_in_per_label", self.tokens_in_per_label),
            ("tokens_out_per_label", self.tokens_out_per_label),
            ("cost_per_label_usd", self.cost_per_label_usd),
            ("planned_labels", self.planned_labels),
            ("projected_cost_usd", self.projected_cost_usd),
        ]
        rows += [(n, _fmt(v), "-", "") for n, v in measures if n not in graded and v is not None]
        rows.append(("overall", "", self.overall, ""))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = [f"preflight of judge {self.judge_id} on {self.n_probes} {self.kind} probes"]
        if self.proxy:
            lines.append(f"no ground truth for these probes: the reference is a PROXY, {self.proxy}")
        lines += ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
        return "\n".join(lines)


def _fmt(v: float | int | None) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, int):
        return str(v)
    return f"{v:.4g}"


def _grade_low(name: str, value: float, fail: float, warn: float) -> CheckResult:
    verdict: Verdict = "fail" if value < fail else ("warn" if value < warn else "pass")
    return CheckResult(name, value, verdict, f"fail < {fail:g}, warn < {warn:g}")


def _grade_high(name: str, value: float, fail: float, warn: float) -> CheckResult:
    verdict: Verdict = "fail" if value > fail else ("warn" if value > warn else "pass")
    return CheckResult(name, value, verdict, f"fail > {fail:g}, warn > {warn:g}")


def _check_contract(
    judge: Judge,
    queries: Sequence[Query],
    labels: Any,
    callbacks: list[tuple[Query, Label]],
) -> list[Label]:
    """Raise JudgeContractError unless ``labels`` answer ``queries`` as the protocol says."""
    jid = getattr(judge, "id", None)
    if not isinstance(labels, list):
        raise JudgeContractError(f"judge {jid} returned {type(labels).__name__}, expected a list of Label")
    if len(labels) != len(queries):
        raise JudgeContractError(f"judge {jid} returned {len(labels)} labels for {len(queries)} queries")
    for i, (q, lab) in enumerate(zip(queries, labels, strict=True)):
        if not isinstance(lab, Label):
            raise JudgeContractError(f"judge {jid}: labels[{i}] is a {type(lab).__name__}, not a Label")
        if lab.query_key != q.key:
            raise JudgeContractError(
                f"judge {jid}: labels[{i}].query_key {lab.query_key[:12]}... != queries[{i}].key {q.key[:12]}... "
                "(labels must be returned in query order)"
            )
        if lab.status not in ("ok", "abstain", "failed"):
            raise JudgeContractError(f"judge {jid}: labels[{i}].status {lab.status!r} is not ok/abstain/failed")
        if lab.status == "ok":
            field, x = ("preference", lab.preference) if is_pair(q.kind) else ("value", lab.value)
            if x is None or not math.isfinite(x):
                raise JudgeContractError(f"judge {jid}: ok labels[{i}] for a {q.kind} query needs a finite {field}")
    want = Counter(q.key for q in queries)
    seen = Counter(q.key for q, _ in callbacks)
    if seen != want:
        raise JudgeContractError(
            f"judge {jid}: on_label was called {sum(seen.values())} times for {len(queries)} queries "
            "(expected exactly once per query)"
        )
    for q, lab in callbacks:
        if lab.query_key != q.key:
            raise JudgeContractError(f"judge {jid}: on_label got a label whose query_key does not match its query")
    return labels


def _run(judge: Judge, task: TaskSpec, queries: Sequence[Query]) -> tuple[list[Label], float]:
    """Judge ``queries`` under the contract checks; return the labels and the wall time in seconds."""
    callbacks: list[tuple[Query, Label]] = []
    t0 = time.perf_counter()
    labels = judge.judge(task, queries, lambda q, lab: callbacks.append((q, lab)))
    wall = time.perf_counter() - t0
    return _check_contract(judge, queries, labels, callbacks), wall


def _judge_id(judge: Judge) -> str:
    jid = judge.id
    if not isinstance(jid, str) or not jid:
        raise JudgeContractError(f"judge {type(judge).__name__}.id must be a non-empty string, got {jid!r}")
    return jid


def check_judge(
    judge: Judge,
    task: TaskSpec,
    probes: Sequence[Query],
    oracle: Judge | None = None,
    thresholds: PreflightThresholds | None = None,
    planned_labels: int | None = None,
    proxy: str | None = None,
) -> PreflightReport:
    """Run the preflight of ``judge`` on ``probes``.

    Args:
        judge: The judge under test.
        task: The task the probes are about.
        probes: Probe queries, all of one kind (at least one).
        oracle: Reference judge for agreement/AUC; without one only the contract,
            invalid rate, latency, tokens and cost (and swap consistency) are measured.
        thresholds: Verdict limits; ``PreflightThresholds()`` by default.
        planned_labels: Labels the run plans to buy, for the cost projection.
        proxy: Set when ``oracle`` answers a documented proxy instead of the
            truth (what it answers, in words): its agreement is then reported as
            ``proxy_agreement`` and not graded.

    Returns:
        The report (``overall`` is the worst verdict).

    Raises:
        JudgeContractError: The judge broke the Judge protocol.
        ValueError: No probes, or probes of mixed kinds.
    """
    th = thresholds if thresholds is not None else PreflightThresholds()
    if not probes:
        raise ValueError("check_judge needs at least one probe query")
    kinds = {q.kind for q in probes}
    if len(kinds) != 1:
        raise ValueError(f"probes must all be of one kind, got {sorted(kinds)}")
    kind: QueryKind = probes[0].kind

    jid = _judge_id(judge)
    orders_before = order_counts(judge)
    labels, wall = _run(judge, task, probes)
    all_labels = list(labels)
    swap_consistency: float | None = None
    tie_rate: float | None = None
    if is_pair(kind):
        swap_labels, swap_wall = _run(judge, task, [swapped(q) for q in probes])
        all_labels += swap_labels
        wall += swap_wall
        scores = [
            pair_score(a.preference, 1.0 - b.preference)
            for a, b in zip(labels, swap_labels, strict=True)
            if a.status == "ok" and b.status == "ok" and a.preference is not None and b.preference is not None
        ]
        swap_consistency = float(np.mean(scores)) if scores else None
        prefs = [lab.preference for lab in all_labels if lab.status == "ok" and lab.preference is not None]
        tie_rate = float(np.mean([p == 0.5 for p in prefs])) if prefs else None
    orders_after = order_counts(judge)
    order_consistency: float | None = None
    if orders_before is not None and orders_after is not None and orders_after[1] > orders_before[1]:
        order_consistency = 1.0 - (orders_after[0] - orders_before[0]) / (orders_after[1] - orders_before[1])
    if _judge_id(judge) != jid:
        raise JudgeContractError(f"judge id changed between calls: {jid!r} -> {judge.id!r}")

    agreement, n_compared, auc, proxy_agreement = None, 0, None, None
    if oracle is not None:
        truth, _ = _run(oracle, task, probes)
        if proxy is not None:  # a proxy answers "no difference" for most probes: compare where it picks one
            picked = [i for i, t in enumerate(truth) if t.status == "ok" and t.preference != 0.5]
            proxy_agreement, n_compared, _ = _compare(
                kind, [labels[i] for i in picked], [truth[i] for i in picked], [probes[i] for i in picked]
            )
        else:
            agreement, n_compared, auc = _compare(kind, labels, truth, probes)

    n = len(all_labels)
    lat = np.array([lab.provenance.latency_s for lab in all_labels], dtype=float)
    cost = float(np.mean([lab.provenance.cost_usd for lab in all_labels]))
    invalid = sum(lab.status != "ok" for lab in all_labels) / n
    checks = [_grade_high("invalid_rate", invalid, th.invalid_fail, th.invalid_warn)]
    if agreement is not None:
        checks.append(_grade_low("agreement", agreement, th.agreement_fail, th.agreement_warn))
    if auc is not None:
        checks.append(_grade_low("auc", auc, th.auc_fail, th.auc_warn))
    if swap_consistency is not None:
        checks.append(_grade_low("swap_consistency", swap_consistency, th.swap_fail, th.swap_warn))
    if order_consistency is not None:
        checks.append(_grade_low("order_consistency", order_consistency, th.swap_fail, th.swap_warn))
    if tie_rate is not None and tie_rate > th.tie_fail:
        checks.append(CheckResult("tie_rate", tie_rate, "fail", f"fail > {th.tie_fail:g} (no preference at all)"))
    if oracle is not None and proxy is None and agreement is None and auc is None:
        # Nothing to compare against (e.g. every probe had the same true return): never a silent pass.
        checks.append(CheckResult("oracle_comparison", float("nan"), "warn", "probes must differ in true return"))
    overall = max((c.verdict for c in checks), key=lambda v: _SEVERITY[v])
    return PreflightReport(
        judge_id=jid,
        kind=kind,
        n_probes=len(probes),
        invalid_rate=invalid,
        latency_p50_s=float(np.percentile(lat, 50)),
        latency_p95_s=float(np.percentile(lat, 95)),
        labels_per_s=n / max(wall, 1e-9),
        tokens_in_per_label=float(np.mean([lab.provenance.tokens_in for lab in all_labels])),
        tokens_out_per_label=float(np.mean([lab.provenance.tokens_out for lab in all_labels])),
        cost_per_label_usd=cost,
        agreement=agreement,
        n_compared=n_compared,
        swap_consistency=swap_consistency,
        tie_rate=tie_rate,
        order_consistency=order_consistency,
        proxy=proxy,
        proxy_agreement=proxy_agreement,
        auc=auc,
        planned_labels=planned_labels,
        projected_cost_usd=cost * planned_labels if planned_labels is not None else None,
        checks=tuple(checks),
        overall=overall,
    )
