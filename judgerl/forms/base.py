"""The FeedbackForm interface, and the training targets a form turns stored labels into.

A feedback form is *what* a judge is asked and what its answer means: which
items a query shows (two segments, one segment, a whole episode), which label
field an answer fills (a preference or a value), and what a reward model is
fitted on (pairs with a preference, or items with a verdict). One object per
form owns all three, so adding a form is one module plus one registry line
(``judgerl.forms.registry.register_form``). The roles follow imitation's
``Fragmenter`` (queries from trajectories) and ``PreferenceGatherer`` (answers
into labels), with the label → target step made explicit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from judgerl.types import END_CAPTION, Episode, Label, Provenance, Query, Segment, TaskSpec

ValueScale = Literal["probability", "margin", "similarity"]
"""What a judge's ``value`` means: a probability or 0/1 verdict (yes at ≥ 0.5), a
log-prob margin (yes above 0), or an uncalibrated similarity score (yes above a
threshold found from the scores themselves)."""

Uncertainty = Callable[[Sequence[tuple[Segment, ...]]], np.ndarray]
"""``f(items) -> (Q,)``: the reward model's disagreement about each candidate
query's segments (larger = more informative), for active query selection."""


@dataclass(frozen=True)
class QueryPlan:
    """How a form turns collected episodes into queries.

    Attributes:
        segment_length: Steps ``T`` per segment, for forms that cut segments.
        absorbing: Pad terminated episodes with the absorbing state so a
            window may show the end (see ``judgerl.queries.segments``).
        end_caption: Caption of those absorbing steps (the task's ``end_caption``).
        sampler: ``random``, or ``disagreement`` (the candidates the reward
            model's members disagree on most; needs ``uncertainty``).
        candidate_factor: Disagreement sampling: candidates drawn per query kept.
        uncertainty: The reward model's disagreement function, or ``None``.
        empty_pair_share: ``caption_pairs``: share of pairs that show one empty
            message beside a non-empty one (``query.empty_pair_share``).
    """

    segment_length: int = 25
    absorbing: bool = False
    end_caption: str = END_CAPTION
    sampler: Literal["random", "disagreement"] = "random"
    candidate_factor: int = 4
    uncertainty: Uncertainty | None = None
    empty_pair_share: float = 0.1

    @classmethod
    def for_task(cls, task: TaskSpec, segment_length: int | None = None, **settings: Any) -> QueryPlan:
        """The plan for ``task``: its segment length (unless given), absorbing padding and end caption.

        Args:
            task: The task whose episodes are cut.
            segment_length: Overrides ``task.segment_length`` (``task.segment_length`` in the config).
            **settings: The other fields (``sampler``, ``empty_pair_share``...).
        """
        return cls(
            segment_length=segment_length or task.segment_length,
            absorbing=task.absorbing,
            end_caption=task.end_caption,
            **settings,
        )


@dataclass(frozen=True)
class TargetPlan:
    """How a form turns stored labels into training targets.

    Attributes:
        val_fraction: Share of targets held out for validation (chosen by a hash,
            so an item keeps its side across the fits of a run).
        value_scale: What the judge's ``value`` means (see :data:`ValueScale`).
        pairs_per_score: Pointwise: derived pairs each scored segment takes part in.
        truth: Ground-truth verdict of a segment (``TaskSpec.oracle_verdict``),
            for reporting only; ``None`` when the task has none.
        mirror: The task whose mirror symmetry adds a mirrored copy of each
            pair (``reward.mirror``, ``judgerl.forms.mirror``); ``None``: off.
    """

    val_fraction: float = 0.2
    value_scale: ValueScale = "probability"
    pairs_per_score: int = 4
    truth: Callable[[Segment], bool] | None = None
    mirror: TaskSpec | None = None


@dataclass(frozen=True)
class PreferenceTargets:
    """Pairs of segments with the probability that the first is better (Bradley–Terry targets).

    Attributes:
        first: Segment A of each pair, ``P`` segments.
        second: Segment B of each pair, ``P`` segments.
        prefs: ``P(A better)``, shape ``(P,)`` float32 in ``[0, 1]`` (0.5 = tie).
        val: Held out for validation, shape ``(P,)`` bool.
        keys: A key per pair (the label's query key, or a derived pair's key), ``P`` strings.
    """

    first: tuple[Segment, ...]
    second: tuple[Segment, ...]
    prefs: np.ndarray
    val: np.ndarray
    keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.first)
        if not (len(self.second) == len(self.prefs) == len(self.val) == n):
            raise ValueError(
                f"PreferenceTargets lengths differ: first {n}, second {len(self.second)}, "
                f"prefs {len(self.prefs)}, val {len(self.val)}"
            )
        if self.keys and len(self.keys) != n:
            raise ValueError(f"PreferenceTargets has {len(self.keys)} keys for {n} pairs")

    def __len__(self) -> int:
        return len(self.first)


@dataclass(frozen=True)
class VerdictTargets:
    """Items (usually whole episodes) with a yes/no verdict (classifier targets).

    Attributes:
        segments: The items, ``N`` segments.
        verdicts: ``1.0`` yes / ``0.0`` no, shape ``(N,)`` float32.
        val: Held out for validation, shape ``(N,)`` bool.
        truth: Ground-truth verdicts for reporting, shape ``(N,)`` float32, NaN
            where unknown (never used for fitting).
        keys: The label's query key per item.
    """

    segments: tuple[Segment, ...]
    verdicts: np.ndarray
    val: np.ndarray
    truth: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.segments)
        if not (len(self.verdicts) == len(self.val) == n):
            raise ValueError(f"VerdictTargets lengths differ: {n} segments, {len(self.verdicts)} verdicts")
        if len(self.truth) not in (0, n):
            raise ValueError(f"VerdictTargets has {len(self.truth)} truth values for {n} items")

    def __len__(self) -> int:
        return len(self.segments)


Targets = PreferenceTargets | VerdictTargets
TargetKind = Literal["preferences", "verdicts"]


def target_kind(targets: Targets) -> TargetKind:
    """``preferences`` or ``verdicts``: the name reward models declare they fit."""
    return "preferences" if isinstance(targets, PreferenceTargets) else "verdicts"


@runtime_checkable
class FeedbackForm(Protocol):
    """One feedback form: queries from episodes, answers into labels, labels into targets.

    Attributes:
        name: Registry name, also ``Query.kind`` of its queries.
        arity: Segments per query.
        targets_kind: What :meth:`targets` returns (``preferences`` or ``verdicts``).
    """

    name: str
    arity: int
    targets_kind: TargetKind

    def queries(self, episodes: Sequence[Episode], n: int, rng: np.random.Generator, plan: QueryPlan) -> list[Query]:
        """Build up to ``n`` distinct queries from collected episodes (fewer if the data is short)."""
        ...

    def label(self, query: Query, answer: float | None, provenance: Provenance) -> Label:
        """Turn a judge's answer into a label: ``ok`` with the form's field set, or ``failed``.

        Args:
            query: The query answered.
            answer: The judge's answer on the form's scale (pairwise: P(first
                better) in [0, 1]; one-item forms: a score or a 0/1 verdict), or
                ``None`` when the judge gave no usable answer (``provenance.error`` says why).
            provenance: Who answered, how, at what cost.
        """
        ...

    def targets(self, labelled: Sequence[tuple[Query, Label]], rng: np.random.Generator, plan: TargetPlan) -> Targets:
        """Training targets from the ``ok`` labels of this form (other rows are skipped, never coerced)."""
        ...


def failed(query: Query, provenance: Provenance, error: str) -> Label:
    """A ``failed`` label that keeps the provenance (raw text) and says why."""
    why = provenance.error or error
    return Label(query.key, "failed", Provenance(**{**provenance.__dict__, "error": why}))


def value_label(query: Query, answer: float | None, provenance: Provenance, what: str) -> Label:
    """``ok`` with ``value=answer`` when it is a finite number, else ``failed`` (one-item forms share this)."""
    import math

    if answer is None:
        return failed(query, provenance, "no answer")
    if not math.isfinite(answer):
        return failed(query, provenance, f"{what} {answer!r} is not finite")
    return Label(query.key, "ok", provenance, value=float(answer))


def hash_fraction(key: str) -> float:
    """A number in ``[0, 1)`` from a key's sha256: the same key always falls on the same side of a split."""
    import hashlib

    return int(hashlib.sha256(key.encode()).hexdigest()[:13], 16) / 16.0**13


def split_by_key(keys: Sequence[str], val_fraction: float, min_items: int = 5) -> np.ndarray:
    """Validation mask ``(N,)``: an item is held out when the hash of its key falls below ``val_fraction``.

    Hashing (not a random permutation) keeps every item on the same side in every
    fit of a run, so a warm-started model is never validated on items an earlier
    fit trained on. With fewer than ``min_items`` items, or ``val_fraction == 0``,
    nothing is held out. No item is ever moved to force a side, which would break
    that stability, except that when every item would be held out the one with
    the largest hash trains (there must be something to fit).
    """
    n = len(keys)
    val = np.zeros(n, bool)
    if n < min_items or val_fraction <= 0:
        return val
    u = np.array([hash_fraction(k) for k in keys])
    val = u < val_fraction
    if val.all():
        val[np.argmax(u)] = False
    return val
