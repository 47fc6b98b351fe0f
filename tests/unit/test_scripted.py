"""Scripted judge: answer forms, failures, delay, call log."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from judgerl.judges.base import Judge
from judgerl.judges.scripted import ScriptedJudge, scripted_from_true_return
from judgerl.testing import fixtures
from judgerl.testing.fixtures import make_segment
from judgerl.types import Label, Provenance, Query, TaskSpec

seg = make_segment


def tiny_task(verdict: bool = False) -> TaskSpec:
    """The shared tiny task, without an oracle verdict unless asked."""
    return fixtures.tiny_task(verdict)


def test_answer_forms() -> None:
    answers = iter([0.7, None, "abstain", 0.25])
    j = ScriptedJudge(lambda task, q: next(answers))
    qs = [Query("pairwise", (seg(1), seg(0))), Query("pairwise", (seg(1), seg(0)))]
    qs += [Query("pointwise", (seg(1),)), Query("episode", (seg(1),))]
    labels = j.judge(tiny_task(), qs)
    assert isinstance(j, Judge)
    assert [lab.status for lab in labels] == ["ok", "failed", "abstain", "ok"]
    assert labels[0].preference == 0.7 and labels[0].value is None
    assert labels[1].provenance.raw_response == "unparseable" and labels[1].preference is None
    assert labels[3].value == 0.25 and labels[3].preference is None
    assert [lab.query_key for lab in labels] == [q.key for q in qs]
    assert j.calls == 4
    assert all(lab.provenance.judge_id == j.id and not lab.provenance.is_oracle for lab in labels)


def test_label_answers_pass_through_unchanged() -> None:
    bad = Label(query_key="wrong", status="ok", provenance=Provenance("x", "m"), preference=1.0)
    j = ScriptedJudge(lambda task, q: bad)
    assert j.judge(tiny_task(), [Query("pairwise", (seg(1), seg(0)))]) == [bad]


def test_bad_string_is_rejected() -> None:
    j = ScriptedJudge(lambda task, q: "maybe")  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="abstain"):
        j.judge(tiny_task(), [Query("pointwise", (seg(1),))])


def test_fail_rate_is_deterministic_per_key_and_transient() -> None:
    n = 1000
    qs = [Query("pointwise", (seg(float(i)),)) for i in range(n)]
    j = ScriptedJudge(lambda task, q: 1.0, fail_rate=0.3, seed=1)
    first = [lab.status for lab in j.judge(tiny_task(), qs)]
    rate = first.count("failed") / n
    assert abs(rate - 0.3) < 3.5 * math.sqrt(0.3 * 0.7 / n)
    again = ScriptedJudge(lambda task, q: 1.0, fail_rate=0.3, seed=1).judge(tiny_task(), qs[::-1])
    assert [lab.status for lab in again][::-1] == first
    failed = [lab for lab in again if lab.status == "failed"]
    assert all(lab.provenance.transient and lab.provenance.error for lab in failed)


def test_delay_and_calls_log(tmp_path: Path) -> None:
    log = tmp_path / "calls.txt"
    j = scripted_from_true_return(delay_s=0.02, calls_log=str(log))
    qs = [Query("pairwise", (seg(1), seg(0))) for _ in range(3)]
    seen: list[str] = []
    t0 = time.perf_counter()
    j.judge(tiny_task(), qs, lambda q, lab: seen.append(log.read_text()))
    assert time.perf_counter() - t0 >= 0.06
    assert log.read_text().splitlines() == [q.key for q in qs]
    # The line is on disk before on_label sees the label.
    assert seen[0].splitlines() == [qs[0].key]
    j.judge(tiny_task(), qs[:1])
    assert j.calls == 4 and len(log.read_text().splitlines()) == 4


def test_scripted_from_true_return() -> None:
    j = scripted_from_true_return()
    qs = [
        Query("pairwise", (seg(2), seg(1))),
        Query("pairwise", (seg(-2), seg(1))),
        Query("pairwise", (seg(1), seg(1))),
    ]
    assert [lab.preference for lab in j.judge(tiny_task(), qs)] == [1.0, 0.0, 0.5]
    pts = [Query("episode", (seg(3.0),)), Query("episode", (seg(-1.0),))]
    assert [lab.value for lab in j.judge(tiny_task(verdict=True), pts)] == [1.0, 0.0]
    assert [lab.value for lab in j.judge(tiny_task(verdict=False), pts)] == pytest.approx([3.0, -1.0])


def test_id_is_stable_and_depends_on_settings() -> None:
    a, b = scripted_from_true_return(), scripted_from_true_return(delay_s=1.0)
    assert a.id == b.id  # delay does not change labels
    assert a.id != scripted_from_true_return(fail_rate=0.1).id
    assert a.id != ScriptedJudge(lambda t, q: 1.0).id
