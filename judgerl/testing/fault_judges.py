"""A judge wrapper that kills the online judge worker at chosen labels (fault tests and benchmarks/faults.py).

:class:`DyingJudge` passes every call to the judge it wraps and raises
:class:`~judgerl.faults.WorkerKilled` right after the ``n``-th label it reports
(the label is committed by then, as with ``JUDGERL_KILL_AT=label@n``), so the
worker dies mid-batch with the rest of the batch's requests in flight.
"""

from __future__ import annotations

from collections.abc import Sequence

from judgerl.faults import WorkerKilled
from judgerl.judges.base import Judge, OnLabel
from judgerl.types import Label, Query, TaskSpec


class DyingJudge:
    """Kills the calling worker after chosen labels; otherwise the wrapped judge.

    Args:
        inner: The judge that answers (its id is this judge's id: the labels are its labels).
        die_at: 1-based counts of reported labels after which :class:`WorkerKilled` is raised.

    Attributes:
        reported: Labels reported so far (all calls).
        deaths: ``WorkerKilled`` raised so far.
    """

    def __init__(self, inner: Judge, die_at: Sequence[int]) -> None:
        self.inner = inner  # CachedJudge finds the spending sink and budget through ``inner``
        self.die_at = set(die_at)
        self.reported = 0
        self.deaths = 0

    @property
    def id(self) -> str:
        """The wrapped judge's id."""
        return self.inner.id

    def judge(self, task: TaskSpec, queries: Sequence[Query], on_label: OnLabel | None = None) -> list[Label]:
        """Judge through the wrapped judge; die after the chosen reported labels.

        Args:
            task: The task.
            queries: The queries.
            on_label: The caller's callback (called before a death: that label is stored).

        Returns:
            The wrapped judge's labels, when no death falls in this call.

        Raises:
            WorkerKilled: After the label numbered in ``die_at``.
        """

        def report(query: Query, label: Label) -> None:
            if on_label is not None:
                on_label(query, label)
            self.reported += 1
            if self.reported in self.die_at:
                self.deaths += 1
                raise WorkerKilled(f"judge worker killed after label {self.reported}")

        return self.inner.judge(task, queries, on_label=report)
