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

Requests in flight (:mod:`judgerl.labels.in_flight`): a paid chat judge reports each
query before its request goes out and the wrapper commits an in-flight row, deleted
with the label. A query that still has one when it is to be asked again (after a kill
-9 or a dead judge worker) was paid for and its answer lost: with
``in_flight_lost="skip"`` it gets a definitive ``failed`` label counted as one request,
with ``"reask"`` it is asked again.

Configuration stops: when the inner judge raises
:class:`~judgerl.judges.base.JudgeConfigError` (401, wrong model, ...), the
exception propagates; labels committed before stay, and nothing at all is
stored for the queries that were not answered, so a fixed rerun asks them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from judgerl.judges.base import Judge, JudgeConfigError, OnLabel, Spending
from judgerl.labels import in_flight
from judgerl.labels.in_flight import LOST_ERROR
from judgerl.labels.store import LabelStore
from judgerl.types import Label, Provenance, Query, TaskSpec

if TYPE_CHECKING:
    from judgerl.config import RunConfig


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
        in_flight_lost: What to do with a query whose earlier request was in
            flight when its process or worker died: ``skip`` (a ``failed``
            label, never paid twice) or ``reask``.

    Attributes:
        cache_hits: Queries (counted per position in each batch) answered from
            labels that were in the store before the call.
        cache_misses: Queries that needed a fresh answer.
        calls: Distinct queries sent to the inner judge (fewer than
            ``cache_misses`` when a batch repeats a query).
        lost_in_flight: Queries given a ``failed`` label because their answer
            was lost in flight (``skip``).
        reasked_in_flight: Queries asked again after their answer was lost
            in flight (``reask``).
    """

    def __init__(
        self,
        judge: Judge,
        store: LabelStore,
        iteration: int = 0,
        run_id: str | None = None,
        in_flight_lost: Literal["skip", "reask"] = "skip",
    ) -> None:
        self.inner = judge
        self.store = store
        self.iteration = iteration
        self.run_id = run_id
        self.in_flight_lost = in_flight_lost
        self.cache_hits = 0
        self.cache_misses = 0
        self.calls = 0
        self.lost_in_flight = 0
        self.reasked_in_flight = 0
        self._asking: set[str] = set()  # keys of this wrapper's calls under way (their rows are live)
        # requests that produce no label row (calibration) are committed as they happen, like labels;
        # a paid judge reports each query before its request goes out (an in-flight row)
        for hook, sink in (("set_spending_sink", self._record_spending), ("set_send_sink", self._record_sent)):
            setter = _first_method(judge, hook)
            if setter is not None:
                setter(sink)

    def _record_sent(self, query_key: str) -> None:
        """Commit an in-flight row for a query of this wrapper's call (not for a wrapper's inner variants)."""
        if query_key in self._asking:
            self.store.mark_in_flight(self.id, query_key, run_id=self.run_id)

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

            self._settle_lost(todo, _store)
            asked = [q for k, q in todo.items() if k not in stored]
            if not asked:
                return [results[k] for k in keys]
            self.calls += len(asked)
            asking = {q.key for q in asked} - self._asking
            self._asking |= asking
            try:
                fresh = self.inner.judge(task, asked, on_label=_store)
            except JudgeConfigError:  # refused before the server answered: nothing in the air was paid
                self.store.clear_in_flight(judge_id, sorted(asking - stored))
                raise
            finally:
                self._asking -= asking
            if len(fresh) != len(asked):
                raise RuntimeError(f"judge {judge_id} returned {len(fresh)} labels for {len(asked)} queries")
            for q, label in zip(asked, fresh, strict=True):
                if label.query_key != q.key:
                    raise RuntimeError(f"judge {judge_id} answered query {label.query_key} in place of {q.key}")
                if q.key not in stored:  # the inner judge skipped on_label: store it now
                    _store(q, label)
        return [results[k] for k in keys]

    def _settle_lost(self, todo: dict[str, Query], store: OnLabel) -> None:
        """Apply ``in_flight_lost`` to the queries of ``todo`` whose earlier request was in flight at a death."""
        lost = in_flight.lost(self.store.in_flight(self.id, list(todo)), self._asking)
        if not lost:
            return
        if self.in_flight_lost == "reask":  # the lost request was paid: it counts, with no label row
            self.store.put_spending(self.id, Spending("answer lost in flight, asked again", len(lost)), self.run_id)
            self.store.clear_in_flight(self.id, lost)
            self.reasked_in_flight += len(lost)
            return
        for k in lost:  # paid once, answer lost: one request against the budget, never asked again
            store(todo[k], Label(k, "failed", Provenance(self.id, "", error=LOST_ERROR, requests=1)))
            self.lost_in_flight += 1

    def stats(self) -> dict[str, float]:
        """Cache counters: ``judge/cache_hits|misses|hit_rate``, ``judge/calls``, ``judge/lost|reasked_in_flight``."""
        seen = self.cache_hits + self.cache_misses
        return {
            "judge/cache_hits": float(self.cache_hits),
            "judge/cache_misses": float(self.cache_misses),
            "judge/calls": float(self.calls),
            "judge/cache_hit_rate": self.cache_hits / seen if seen else 0.0,
            "judge/lost_in_flight": float(self.lost_in_flight),
            "judge/reasked_in_flight": float(self.reasked_in_flight),
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
    count = _first_method(judge, "count_earlier_spending")
    if count is not None:
        count(
            int(stats.get("judge/requests", 0)),
            int(stats.get("judge/tokens_in", 0) + stats.get("judge/tokens_out", 0)),
            float(stats.get("judge/cost_usd", 0.0)),
        )


def _first_method(judge: object, name: str) -> Callable[..., Any] | None:
    """Method ``name`` of ``judge`` or of the first judge down its wrappers' ``inner`` chain that has it."""
    node: object = judge
    while node is not None:
        method = getattr(node, name, None)
        if callable(method):
            return method  # type: ignore[no-any-return]
        node = getattr(node, "inner", None)
    return None


def cached_judge(
    cfg: RunConfig, task: TaskSpec, store: LabelStore, run_id: str | None, iteration: int = 0
) -> CachedJudge:
    """The run's judge (``cfg.judge``) behind ``store``, with what earlier starts spent counted against its budget.

    Args:
        cfg: The run's configuration (``judge``, ``seed``, ``labels.in_flight_lost``).
        task: The task.
        store: The run's label store.
        run_id: The run that registers the queries and pays for the labels.
        iteration: The iteration new queries are registered with (the preflight's is -1).
    """
    from judgerl.judges.factory import make_judge

    inner = make_judge(cfg.judge, task, cfg.seed)
    judge = CachedJudge(inner, store, iteration=iteration, run_id=run_id, in_flight_lost=cfg.labels.in_flight_lost)
    carry_spending(judge, store, run_id=run_id)
    return judge
