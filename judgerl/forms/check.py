"""A contract checker for feedback forms, in the spirit of gymnasium's ``check_env``.

``check_form`` runs a form over real episodes of a task and checks what the
loop, the label store and the reward stage rely on: queries have the form's
kind and arity, are distinct and reproducible from the seed; an answer becomes
an ``ok`` label with exactly one field set, and a missing or invalid answer a
``failed`` label that keeps its provenance; targets come from ``ok`` labels
only (failed and abstained rows change nothing), have the declared kind, and
keep their validation split when labels are added.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from judgerl.forms.base import FeedbackForm, QueryPlan, TargetPlan, target_kind
from judgerl.types import Episode, Label, Provenance, Query


class FormContractError(AssertionError):
    """A feedback form broke the ``FeedbackForm`` contract; the message says which part."""


def _keys(queries: Sequence[Query]) -> list[str]:
    return [q.key for q in queries]


def check_form(
    form: FeedbackForm,
    episodes: Sequence[Episode],
    plan: QueryPlan | None = None,
    answer: Callable[[Query], float] | None = None,
    n: int = 12,
) -> None:
    """Raise ``FormContractError`` unless ``form`` keeps the contract on ``episodes``.

    Args:
        form: The form to check.
        episodes: Collected episodes (enough for ``n`` queries).
        plan: How to build queries; default ``QueryPlan()`` with random sampling.
        answer: A valid answer for a query on the form's scale; default 1.0.
        n: Queries to ask for (at least 2).
    """
    plan = plan or QueryPlan()
    answer = answer or (lambda q: 1.0)
    queries = form.queries(episodes, n, np.random.default_rng(0), plan)
    if not queries:
        raise FormContractError(f"form {form.name}: no query from {len(episodes)} episodes")
    if len(queries) > n:
        raise FormContractError(f"form {form.name}: asked for {n} queries, got {len(queries)}")
    for q in queries:
        if q.kind != form.name or len(q.segments) != form.arity:
            raise FormContractError(
                f"form {form.name}: a query has kind {q.kind!r} and {len(q.segments)} segments, "
                f"expected {form.name!r} and {form.arity}"
            )
    if len(set(_keys(queries))) != len(queries):
        raise FormContractError(
            f"form {form.name}: repeated queries (each would be paid for once, shrinking the budget)"
        )
    again = form.queries(episodes, n, np.random.default_rng(0), plan)
    if _keys(again) != _keys(queries):
        raise FormContractError(f"form {form.name}: queries differ for the same seed (a resumed run would ask others)")

    prov = Provenance(judge_id="check", model="check", raw_response="raw answer text")
    labels = [form.label(q, float(answer(q)), prov) for q in queries]
    for q, lab in zip(queries, labels, strict=True):
        if lab.status != "ok" or lab.query_key != q.key:
            raise FormContractError(
                f"form {form.name}: a valid answer gave status {lab.status!r} ({lab.provenance.error})"
            )
        if (lab.preference is None) == (lab.value is None):
            raise FormContractError(f"form {form.name}: an ok label must set exactly one of preference and value")
    for bad in (None, math.nan):
        lab = form.label(queries[0], bad, prov)
        if lab.status != "failed" or lab.provenance.raw_response != prov.raw_response or not lab.provenance.error:
            raise FormContractError(
                f"form {form.name}: answer {bad!r} must give a failed label keeping the raw text and an error, "
                f"got {lab.status!r} (never a tie or a zero)"
            )

    rows = list(zip(queries, labels, strict=True))
    tplan = TargetPlan(val_fraction=0.3)
    base = form.targets(rows, np.random.default_rng(1), tplan)
    if target_kind(base) != form.targets_kind:
        raise FormContractError(f"form {form.name}: targets are {target_kind(base)}, declared {form.targets_kind}")
    if len(base) == 0:
        raise FormContractError(f"form {form.name}: no targets from {len(rows)} ok labels")
    junk = [(q, Label(q.key, "failed", Provenance("check", "check", error="x"))) for q in queries[:2]]
    junk += [(q, Label(q.key, "abstain", Provenance("check", "check", error="refused"))) for q in queries[2:3]]
    mixed = form.targets([*junk, *rows], np.random.default_rng(1), tplan)
    if len(mixed) != len(base) or not np.array_equal(mixed.val, base.val):
        raise FormContractError(f"form {form.name}: failed or abstained labels changed the targets")
    if len(rows) < 10:
        return  # too few labels for a validation split to be made at all
    first = form.targets(rows[:-3], np.random.default_rng(1), tplan)
    if first.keys and base.keys:
        side = dict(zip(base.keys, base.val.tolist(), strict=True))
        moved = [k for k, v in zip(first.keys, first.val.tolist(), strict=True) if k in side and side[k] != v]
        if moved:
            raise FormContractError(f"form {form.name}: {len(moved)} targets changed validation side as labels grew")
