"""Scripted judge: deterministic answers from a Python callable, for tests and demos.

It behaves like a slow, flaky model judge when asked to (``delay_s``,
``fail_rate``) while its answers stay fully predictable, and it can log every
call to a file so that a test can count what a killed-and-resumed run paid for.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from typing import Literal

from judgerl.forms.caption_pairs import compared_values
from judgerl.forms.registry import form_label, is_pair
from judgerl.judges.base import OnLabel
from judgerl.judges.oracle import query_rng
from judgerl.types import Label, Provenance, Query, TaskSpec

ScriptedAnswer = Label | float | Literal["abstain"] | None
"""What a script returns: a full ``Label`` (used as is, even if it breaks the
contract, which lets tests provoke violations), a float (the preference for
pairwise queries, the value otherwise), ``"abstain"``, or ``None`` (a failed
answer, kept with raw text ``"unparseable"``)."""

AnswerFn = Callable[[TaskSpec, Query], ScriptedAnswer]


class ScriptedJudge:
    """A judge whose answers come from a callable.

    Args:
        answer: Maps ``(task, query)`` to a ``ScriptedAnswer``.
        delay_s: Seconds to sleep per query (simulates a slow model).
        fail_rate: Probability that a query fails (a transient ``failed`` label)
            instead of being answered; drawn from ``(seed, query.key)``, so the
            same queries fail every time.
        seed: Seed for the failure draws.
        calls_log: If given, a file that gets one line (the query key) per
            answered query, written after the delay and before ``on_label``.
        name: Prefix of ``id`` and the provenance model name.

    Attributes:
        calls: Number of queries answered so far (failures included).
    """

    def __init__(
        self,
        answer: AnswerFn,
        delay_s: float = 0.0,
        fail_rate: float = 0.0,
        seed: int = 0,
        calls_log: str | None = None,
        name: str = "scripted",
    ) -> None:
        if not 0.0 <= fail_rate <= 1.0:
            raise ValueError(f"fail_rate must lie in [0, 1], got {fail_rate}")
        if delay_s < 0.0:
            raise ValueError(f"delay_s must be >= 0, got {delay_s}")
        self.answer = answer
        self.delay_s = float(delay_s)
        self.fail_rate = float(fail_rate)
        self.seed = int(seed)
        self.calls_log = calls_log
        self.name = name
        self.calls = 0
        # delay_s is left out of the id: it does not change any label.
        fn_name = getattr(answer, "__qualname__", type(answer).__name__)
        fn_mod = getattr(answer, "__module__", "")
        spec = f"{type(self).__name__}\x1f{name}\x1f{fn_mod}.{fn_name}\x1f{self.fail_rate}\x1f{self.seed}"
        self._id = f"{name}-{hashlib.sha256(spec.encode()).hexdigest()[:12]}"

    @property
    def id(self) -> str:
        """Stable identifier: name plus a hash of the callable's name, fail rate and seed."""
        return self._id

    def judge(self, task: TaskSpec, queries: Sequence[Query], on_label: OnLabel | None = None) -> list[Label]:
        """Answer every query with the script (after the optional delay).

        Args:
            task: The task, passed to the script.
            queries: Any kind of query.
            on_label: Called with each label as soon as it exists.

        Returns:
            One label per query, in order (unless the script returns bad Labels).
        """
        labels: list[Label] = []
        for q in queries:
            t0 = time.perf_counter()
            if self.delay_s > 0.0:
                time.sleep(self.delay_s)
            label = self._answer_one(task, q, t0)
            self.calls += 1
            if self.calls_log is not None:
                # Open, append, close per call: the line reaches the OS before
                # on_label runs, so it survives a SIGKILL of this process.
                with open(self.calls_log, "a", encoding="utf-8") as f:
                    f.write(q.key + "\n")
            labels.append(label)
            if on_label is not None:
                on_label(q, label)
        return labels

    def _answer_one(self, task: TaskSpec, q: Query, t0: float) -> Label:
        if self.fail_rate > 0.0 and float(query_rng(self.seed, q.key, salt="scripted").random()) < self.fail_rate:
            return Label(
                query_key=q.key,
                status="failed",
                provenance=self._prov("", t0, error="injected failure (fail_rate)", transient=True),
            )
        ans = self.answer(task, q)
        if isinstance(ans, Label):
            return ans
        if ans is None:
            return Label(
                query_key=q.key,
                status="failed",
                provenance=self._prov("unparseable", t0, error="script returned None"),
            )
        if isinstance(ans, str):
            if ans != "abstain":
                raise ValueError(f"a script may return the string 'abstain' only, got {ans!r}")
            return Label(query_key=q.key, status="abstain", provenance=self._prov("abstain", t0))
        x = float(ans)
        prov = self._prov(repr(x), t0)
        return form_label(q, x, prov)

    def _prov(self, raw: str, t0: float, error: str = "", transient: bool = False) -> Provenance:
        return Provenance(
            judge_id=self.id,
            model=self.name,
            raw_response=raw,
            latency_s=time.perf_counter() - t0,
            error=error,
            transient=transient,
        )


def prefer_higher_true_return(task: TaskSpec, query: Query) -> float:
    """Script answer: the segment with the higher true return wins.

    Pairwise: 1.0 if ``R_A > R_B``, 0.0 if lower, 0.5 if equal (caption pairs:
    the caption form's proxy, ``judgerl.forms.caption_pairs.compared_values``). Pointwise and
    episode: the task's ``oracle_verdict`` as 1.0/0.0 when it has one, else the
    segment's true return as a score.
    """
    if is_pair(query.kind):
        r_a, r_b, _ = compared_values(query)  # caption pairs: the caption form's proxy
        return 1.0 if r_a > r_b else (0.0 if r_a < r_b else 0.5)
    seg = query.segments[0]
    if task.oracle_verdict is not None:
        return 1.0 if task.oracle_verdict(seg) else 0.0
    return seg.true_return


def scripted_from_true_return(
    delay_s: float = 0.0,
    fail_rate: float = 0.0,
    seed: int = 0,
    calls_log: str | None = None,
    name: str = "scripted",
) -> ScriptedJudge:
    """A ScriptedJudge that prefers the higher true return (see ``prefer_higher_true_return``).

    Args:
        delay_s: Seconds to sleep per query.
        fail_rate: Probability of an injected transient failure per query.
        seed: Seed for the failure draws.
        calls_log: Optional file receiving one query key per answered query.
        name: Prefix of the judge's ``id``.

    Returns:
        The judge.
    """
    return ScriptedJudge(
        prefer_higher_true_return, delay_s=delay_s, fail_rate=fail_rate, seed=seed, calls_log=calls_log, name=name
    )
