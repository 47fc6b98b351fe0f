"""ProcessJudge: the configured judge in a spawned process, with the in-process judge's id and labels."""

from __future__ import annotations

import numpy as np
import pytest

from judgerl.config import JudgeConfig
from judgerl.judges.factory import make_judge
from judgerl.labels.judge_process import JudgeProcessError, ProcessJudge
from judgerl.tasks import get_task
from judgerl.types import Label, Query, Segment

TASK = get_task("cartpole/balance-v0")
CFG = JudgeConfig.model_validate({"type": "oracle"})


def _pairs(n: int) -> list[Query]:
    rng = np.random.default_rng(0)

    def seg(alive: int) -> Segment:
        obs = rng.normal(0, 0.05, (10, 4)).astype(np.float32)
        dones = np.array([0.0] * alive + [1.0] * (10 - alive), np.float32)
        return Segment(obs, np.zeros((10, 1), np.float32), 1.0 - dones, dones)

    return [Query("pairwise", (seg(int(rng.integers(3, 11))), seg(int(rng.integers(3, 11))))) for _ in range(n)]


def test_a_judge_in_a_process_answers_like_the_one_here_and_comes_back_after_a_kill() -> None:
    queries = _pairs(6)
    here = make_judge(CFG, TASK, seed=3)
    want = here.judge(TASK, queries)
    judge = ProcessJudge(CFG, TASK.id, seed=3)
    try:
        assert judge.id == here.id
        heard: list[tuple[str, Label]] = []
        got = judge.judge(TASK, queries, on_label=lambda q, lab: heard.append((q.key, lab)))
        assert [(g.query_key, g.status, g.preference) for g in got] == [
            (w.query_key, w.status, w.preference) for w in want
        ]
        assert sorted(k for k, _ in heard) == sorted(q.key for q in queries)  # each label reported as it came
        assert all(lab.query_key == k for k, lab in heard)
        judge._child.proc.kill()  # a child that dies between batches is started again by the next one
        judge._child.proc.wait()
        again = judge.judge(TASK, queries[:2])
        assert [a.preference for a in again] == [w.preference for w in want[:2]]
        assert judge.metrics()["judge/process_restarts"] == 1.0
    finally:
        judge.close()
    assert judge._child.proc.poll() is not None


def test_a_judge_the_child_cannot_build_is_a_clear_error() -> None:
    with pytest.raises(JudgeProcessError, match="could not start: UnknownTaskError: unknown task 'nope/x-v0'"):
        ProcessJudge(CFG, "nope/x-v0", seed=0)
