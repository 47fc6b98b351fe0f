"""The Judge interface: queries in, labels out.

A judge is anything with an ``id`` and a ``judge`` method. Implementations may be
batched and concurrent inside (an async HTTP client), may fail per query (a
``failed`` label, never an exception for one bad answer), and may cost money
(recorded in each label's provenance). ``on_label`` lets the caller store each
label the moment it exists, so a crash loses nothing that was paid for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from judgerl.types import Label, Query, TaskSpec

OnLabel = Callable[[Query, Label], None]


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
