"""Ask every pairwise query in both orders and keep only order-consistent answers.

Model judges often prefer whichever segment is shown first (or second).
Showing the pair as (A, B) and as (B, A) and comparing the two answers turns a
position-biased answer into a tie or an abstention instead of a wrong label
(the swap-consistency idea of RL-SaLLM-F). Non-pairwise queries pass through.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Literal

from judgerl.forms.registry import is_pair
from judgerl.judges.base import Judge, OnLabel
from judgerl.types import Label, Provenance, Query, TaskSpec

Disagreement = Literal["tie", "abstain"]


def swapped(query: Query) -> Query:
    """The same pairwise query with its two segments in the other order.

    Args:
        query: A pairwise query ``(A, B)``.

    Returns:
        The query ``(B, A)``; its preference ``p'`` means ``P(B≻A)``, so ``1 − p'``
        is the preference for A.
    """
    if not is_pair(query.kind):
        raise ValueError(f"only two-item queries (pairwise, caption_pairs) can be swapped, got {query.kind}")
    return Query(kind=query.kind, segments=(query.segments[1], query.segments[0]))


def opposite(p: float, q: float) -> bool:
    """True when two preferences for A pick different segments (a tie picks neither)."""
    return (p > 0.5 and q < 0.5) or (p < 0.5 and q > 0.5)


class BothOrders:
    """Wraps a judge so that each pairwise query is judged as (A, B) and as (B, A).

    Combination, per pair: either label failed → failed (transient if either
    was); else either abstained → abstain; else the two preferences for A
    (``p`` and ``1 − p'``) pick opposite segments → a tie (0.5) or an abstention,
    per ``on_disagreement``; else their mean. A tie beside a preference is not a
    disagreement. Provenance sums tokens, cost, latency, retries and requests, keeps both raw
    answers, and has ``swapped=False``.

    Args:
        judge: The inner judge; it receives each pair and its swap in one batch.
        on_disagreement: What an order disagreement becomes.
    """

    def __init__(self, judge: Judge, on_disagreement: Disagreement = "tie") -> None:
        if on_disagreement not in ("tie", "abstain"):
            raise ValueError(f"on_disagreement must be 'tie' or 'abstain', got {on_disagreement!r}")
        self.inner = judge
        self.on_disagreement: Disagreement = on_disagreement
        self.position_bias_events = 0
        self.swap_pairs = 0

    @property
    def id(self) -> str:
        """Hash of the inner judge's id, ``both_orders`` and the disagreement policy."""
        spec = f"{self.inner.id}\x1fboth_orders\x1f{self.on_disagreement}"
        return f"both_orders-{hashlib.sha256(spec.encode()).hexdigest()[:12]}"

    def stats(self) -> dict[str, float]:
        """Order-consistency counters since construction.

        Returns:
            ``judge/swap_disagreements`` (pairs whose two orders picked opposite
            segments), ``judge/swap_pairs`` (pairs with both orders ok) and
            ``judge/swap_disagreement_rate`` (their ratio, 0 when no pairs).
        """
        rate = self.position_bias_events / self.swap_pairs if self.swap_pairs else 0.0
        return {
            "judge/swap_disagreements": float(self.position_bias_events),
            "judge/swap_pairs": float(self.swap_pairs),
            "judge/swap_disagreement_rate": rate,
        }

    def judge(self, task: TaskSpec, queries: Sequence[Query], on_label: OnLabel | None = None) -> list[Label]:
        """Judge pairs in both orders (one inner batch) and combine.

        Args:
            task: The task.
            queries: Any kinds; pairwise ones are asked twice.
            on_label: Called once per outer query when its combined label is ready.

        Returns:
            One label per query, in order.
        """
        # Expanded batch: for outer query i, slots[i] lists its inner positions.
        inner: list[Query] = []
        slots: list[tuple[int, ...]] = []
        for q in queries:
            if is_pair(q.kind):
                slots.append((len(inner), len(inner) + 1))
                inner.extend((q, swapped(q)))
            else:
                slots.append((len(inner),))
                inner.append(q)
        owner = [i for i, s in enumerate(slots) for _ in s]
        # Inner labels arrive through the callback possibly out of order and with
        # only the query to tell them apart; equal keys mean equal queries, so any
        # open slot with that key may take the label.
        open_slots: dict[str, list[int]] = {}
        for pos, q in enumerate(inner):
            open_slots.setdefault(q.key, []).append(pos)
        got: list[Label | None] = [None] * len(inner)
        done: list[Label | None] = [None] * len(queries)

        def finish(i: int) -> None:
            parts = [got[p] for p in slots[i]]
            if done[i] is not None or any(p is None for p in parts):
                return
            ready = [p for p in parts if p is not None]
            done[i] = ready[0] if len(ready) == 1 else self._combine(queries[i], ready[0], ready[1])
            if on_label is not None:
                on_label(queries[i], done[i])  # type: ignore[arg-type]

        def inner_cb(q: Query, label: Label) -> None:
            free = open_slots.get(q.key)
            if not free:
                return  # a label we cannot place; the returned list settles it
            pos = free.pop(0)
            got[pos] = label
            finish(owner[pos])

        returned = self.inner.judge(task, inner, inner_cb)
        if len(returned) != len(inner):
            raise ValueError(f"inner judge {self.inner.id} returned {len(returned)} labels for {len(inner)} queries")
        for pos, label in enumerate(returned):
            if got[pos] is None:
                got[pos] = label
        for i in range(len(queries)):
            finish(i)
        return [d for d in done if d is not None]

    def _combine(self, q: Query, first: Label, second: Label) -> Label:
        """Merge the (A, B) label and the (B, A) label into one label for (A, B)."""
        p1, p2 = first.provenance, second.provenance
        raw = f"[A,B] {p1.raw_response}\n[B,A] {p2.raw_response}"
        errors = [e for e in (p1.error, p2.error) if e]
        status: Literal["ok", "abstain", "failed"]
        pref: float | None = None
        if "failed" in (first.status, second.status):
            status = "failed"
        elif "abstain" in (first.status, second.status) or first.preference is None or second.preference is None:
            status = "abstain"
        else:
            a, b = first.preference, 1.0 - second.preference
            self.swap_pairs += 1
            if opposite(a, b):
                self.position_bias_events += 1
                errors.append(f"order disagreement: A-first says {a:.2f}, B-first says {b:.2f}")
                if self.on_disagreement == "tie":
                    status, pref = "ok", 0.5
                else:
                    status = "abstain"
            else:
                status, pref = "ok", (a + b) / 2.0
        prov = Provenance(
            judge_id=self.id,
            model=p1.model,
            prompt_sha=p1.prompt_sha,
            raw_response=raw,
            swapped=False,
            tokens_in=p1.tokens_in + p2.tokens_in,
            tokens_out=p1.tokens_out + p2.tokens_out,
            cost_usd=p1.cost_usd + p2.cost_usd,
            latency_s=p1.latency_s + p2.latency_s,
            timestamp=max(p1.timestamp, p2.timestamp),
            is_oracle=p1.is_oracle and p2.is_oracle,
            retries=p1.retries + p2.retries,
            requests=p1.requests + p2.requests,
            error="; ".join(errors),
            transient=status == "failed" and (p1.transient or p2.transient),
        )
        return Label(query_key=q.key, status=status, provenance=prov, preference=pref)


def order_counts(judge: object) -> tuple[int, int] | None:
    """``(order disagreements, pairs asked in both orders)`` so far of the ``BothOrders`` in ``judge``.

    Follows wrapper judges through their ``inner`` attribute; ``None`` when none is ``BothOrders``.
    """
    j: object | None = judge
    while j is not None:
        if isinstance(j, BothOrders):
            return j.position_bias_events, j.swap_pairs
        j = getattr(j, "inner", None)
    return None
