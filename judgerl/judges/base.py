"""The Judge interface: queries in, labels out.

A judge is anything with an ``id`` and a ``judge`` method. Implementations may be
batched and concurrent inside (an async HTTP client), may fail per query (a
``failed`` label, never an exception for one bad answer), and may cost money
(recorded in each label's provenance). ``on_label`` lets the caller store each
label the moment it exists, so a crash loses nothing that was paid for.

Two things are not labels:

- :class:`JudgeConfigError`: the server says the *configuration* is wrong
  (401/403/404/3xx, or no log-probs for a log-prob judge). Every query would
  fail the same way, so the judge raises it instead of returning ``failed``
  labels -- nothing final is stored and a fixed rerun asks again.
- :class:`Spending`: requests that produce no label row (a calibration call,
  answers thrown away when the run stops). Judges that send such requests
  report them through a sink set with ``set_spending_sink`` so budgets count
  every request sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from judgerl.types import Label, Query, TaskSpec

OnLabel = Callable[[Query, Label], None]


class JudgeConfigError(RuntimeError):
    """The judge's server rejects the configuration itself: stop the run, store nothing final.

    Raised for authentication/permission failures, a wrong model name or
    ``base_url``, a redirect, or a log-prob judge whose server gives no
    log-probs. The message names the likely cause and the config field to fix.
    """


@dataclass(frozen=True)
class Spending:
    """Requests sent that produced no label row.

    Attributes:
        purpose: What they were for, e.g. ``content_free_calibration`` or
            ``stopped: <error>``.
        requests: HTTP requests sent (retries included).
        tokens_in: Prompt tokens billed.
        tokens_out: Completion tokens billed.
        cost_usd: Money billed, US dollars.
    """

    purpose: str
    requests: int
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0


OnSpending = Callable[[Spending], None]


@runtime_checkable
class Judge(Protocol):
    """Turns queries about a task into labels."""

    @property
    def id(self) -> str:
        """Stable identifier of this judge's configuration (model, prompt, params).

        Two judges with equal ids must give interchangeable labels: the label
        cache is keyed by ``(id, Query.key)``. Never include secrets.
        """
        ...

    def judge(self, task: TaskSpec, queries: Sequence[Query], on_label: OnLabel | None = None) -> list[Label]:
        """Judge every query, in order.

        Args:
            task: The task the queries are about.
            queries: The queries, each pairwise, pointwise or episode.
            on_label: Called once per query as soon as its label is ready
                (possibly out of order, always from the caller's thread).

        Returns:
            One label per query, ``labels[i].query_key == queries[i].key``.
        """
        ...
