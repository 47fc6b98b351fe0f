"""A judge wrapper that asks only what the label store cannot answer.

``CachedJudge`` has the inner judge's ``id`` and is itself a :class:`Judge`. For
each batch it registers the queries in the store, reuses the stored label of
every query it can, sends the rest -- each distinct query once -- to the inner
judge, and commits every new label to the store the moment it arrives, so a
killed run loses at most the answer in flight and a resumed run pays for
nothing it already has.

Cache key: ``(judge.id, Query.key)``. ``judge.id`` hashes the model, the prompt
template sha and the sampling parameters; ``Query.key`` hashes the query kind
and everything the judge sees (arrays, captions, frame bytes). The effective
key is therefore hash(model, prompt sha, rendered prompt inputs, media bytes,
sampling params): change any of them and the query is asked afresh. Labels
marked ``transient`` (timeouts, server errors, budget stops) are not reused;
definitive ones (``ok``, ``abstain``, a ``failed`` parse error with its raw
text) are.

Runs: with a ``run_id`` the wrapper registers its queries as that run's and
records the run as the payer of every label row and unlabelled request it
stores; runs sharing one store then share labels (the cache) but not queries.

Configuration stops: when the inner judge raises
:class:`~judgerl.judges.base.JudgeConfigError` (401, wrong model, ...), the
exception propagates; labels committed before stay, and nothing at all is
stored for the queries that were not answered, so a fixed rerun asks them.
"""

from __future__ import annotations

from collections.abc import Sequence

from judgerl.judges.base import Judge, OnLabel, Spending
from judgerl.labels.store import LabelStore
from judgerl.types import Label, Query, TaskSpec


class CachedJudge:
    """Wraps a judge with the label store as a persistent cache.

    Args:
        judge: The judge that answers cache misses.
        store: Where queries and labels are kept.
        iteration: Outer-loop iteration recorded for queries this wrapper
            registers; the loop sets ``cached.iteration`` (or passes
            ``iteration=`` to :meth:`judge`) each iteration. Queries already
            registered keep their first iteration.
        run_id: The run these queries belong to and that pays for new labels
            (``None``: run-less, the legacy behaviour).

    Attributes:
        cache_hits: Queries (counted per position in each batch) answered from
            labels that were in the store before the call.
        cache_misses: Queries that needed a fresh answer.
        calls: Distinct queries sent to the inner judge (fewer than
            ``cache_misses`` when a batch repeats a query).
    """

    def __init__(self, judge: Judge, store: LabelStore, iteration: int = 0, run_id: str | None = None) -> None:
        self.inner = judge
        self.store = store
        self.iteration = iteration
        self.run_id = run_id
        self.cache_hits = 0
        self.cache_misses = 0
        self.calls = 0
        # requests that produce no label row (calibration) are committed as they happen, like labels
        node: object = judge
        while node is not None:
            sink = getattr(node, "set_spending_sink", None)
            if callable(sink):
                sink(self._record_spending)
                break
            node = getattr(node, "inner", None)

    def _record_spending(self, spending: Spending) -> None:
        """Commit requests without a label row, counted against this judge's budget.

        Args:
            spending: What the inner judge sent that no label will carry.
        """
        self.store.put_spending(self.id, spending, run_id=self.run_id)

    @property
    def id(self) -> str:
        """The inner judge's id: cached labels are interchangeable with fresh ones."""
        return self.inner.id

    def judge(
        self,
        task: TaskSpec,
        queries: Sequence[Query],
        on_label: OnLabel | None = None,
        *,
        iteration: int | None = None,
    ) -> list[Label]:
        """Judge every query, asking the inner judge only for missing or transient ones.

        Args:
            task: The task the queries are about.
            queries: The queries; repeats are asked once.
            on_label: Called once per query position, after the label is
                committed to the store (cached labels are reported first).
            iteration: Overrides ``self.iteration`` for registering new queries.

        Returns:
            One label per query, in query order.

        Raises:
            RuntimeError: When the inner judge breaks its contract (wrong number
                of labels, or a label for a query it was not asked).
            JudgeConfigError: From the inner judge (the run must stop); labels
                reported before are stored, nothing for the rest.
        """
        keys = [q.key for q in queries]
        self.store.add_queries(queries, self.iteration if iteration is None else iteration, run_id=self.run_id)
        judge_id = self.id
        results: dict[str, Label] = self.store.cached(judge_id, keys)
        positions: dict[str, list[int]] = {}
        for i, k in enumerate(keys):
            positions.setdefault(k, []).append(i)

        todo: dict[str, Query] = {}
        for q, k in zip(queries, keys, strict=True):
            if k in results:
                self.cache_hits += 1
                if on_label is not None:
                    on_label(q, results[k])
            else:
                self.cache_misses += 1
                todo.setdefault(k, q)

        if todo:
            stored: set[str] = set()

            def _store(query: Query, label: Label) -> None:
                # Commit first: once the caller hears of a label, it is durable.
                k = label.query_key
                if k not in todo:
                    raise RuntimeError(f"judge {judge_id} returned a label for query {k} it was not asked")
                if k in stored:  # a repeated callback for the same query: the first label stands
                    return
                self.store.put_label(judge_id, label, run_id=self.run_id)
                stored.add(k)
                results[k] = label
                if on_label is not None:
                    for i in positions[k]:
                        on_label(queries[i], label)

            asked = list(todo.values())
            self.calls += len(asked)
            fresh = self.inner.judge(task, asked, on_label=_store)
            if len(fresh) != len(asked):
                raise RuntimeError(f"judge {judge_id} returned {len(fresh)} labels for {len(asked)} queries")
            for q, label in zip(asked, fresh, strict=True):
                if label.query_key != q.key:
                    raise RuntimeError(f"judge {judge_id} answered query {label.query_key} in place of {q.key}")
                if q.key not in stored:  # the inner judge skipped on_label: store it now
                    _store(q, label)
        return [results[k] for k in keys]

    def stats(self) -> dict[str, float]:
        """Cache counters: ``judge/cache_hits``, ``judge/cache_misses``, ``judge/calls``, ``judge/cache_hit_rate``."""
        seen = self.cache_hits + self.cache_misses
        return {
            "judge/cache_hits": float(self.cache_hits),
            "judge/cache_misses": float(self.cache_misses),
            "judge/calls": float(self.calls),
            "judge/cache_hit_rate": self.cache_hits / seen if seen else 0.0,
        }


def carry_spending(judge: Judge, store: LabelStore, run_id: str | None = None) -> None:
    """Count what the store says ``judge`` already spent against its budget (if it has one).

    Walks wrapper judges through their ``inner`` attribute and calls
    ``count_earlier_spending(calls, tokens, cost_usd)`` on the first judge that
    offers it, so a run's money/token/call budget holds across resumes and
    preflights. Calls are the HTTP requests actually sent: each label row's
    ``requests`` (two for a pair asked in both orders or scored segment by
    segment, retries included) plus unlabelled requests such as the
    content-free calibration call.

    Args:
        judge: The (wrapped) judge; its ``id`` selects the store's rows.
        store: The label store.
        run_id: Count only what this run paid for (a store shared by several
            runs); ``None`` counts every row of this judge.
    """
    stats = store.stats(judge.id, run_id=run_id)
    node: object = judge
    while node is not None:
        count = getattr(node, "count_earlier_spending", None)
        if callable(count):
            count(
                int(stats.get("judge/requests", 0)),
                int(stats.get("judge/tokens_in", 0) + stats.get("judge/tokens_out", 0)),
                float(stats.get("judge/cost_usd", 0.0)),
            )
            return
        node = getattr(node, "inner", None)
