"""A paid judge's request in flight when its process dies: recorded before it is sent, never paid twice.

``labels.in_flight_lost`` (``judgerl.labels.in_flight``): ``skip`` gives the query a failed label that
counts one request; ``reask`` asks it again. The end-to-end kill of a run with a request in the air is in
tests/smoke/test_online_mode.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from judgerl.config import ClientConfig
from judgerl.judges.base import JudgeConfigError
from judgerl.judges.llm import ChatJudge
from judgerl.labels.cached import CachedJudge
from judgerl.labels.in_flight import LOST_ERROR
from judgerl.labels.store import LabelStore
from judgerl.testing.fake_openai import FakeOpenAIServer, request_text
from judgerl.testing.fixtures import tiny_task
from judgerl.types import Query, Segment

TASK = tiny_task()


def _seg(value: int) -> Segment:
    return Segment(
        obs=np.full((4, 2), value, np.float32),
        acts=np.zeros((4, 1), np.float32),
        env_rewards=np.full(4, value, np.float32),
        dones=np.zeros(4, np.float32),
        captions=tuple(f"qid-{value} value {value}" for _ in range(4)),
    )


QUERIES = [Query("pairwise", (_seg(i), _seg(-i))) for i in range(1, 5)]


def _chat(srv: FakeOpenAIServer) -> ChatJudge:
    cfg = {"base_url": srv.base_url, "model": "m", "api_key_env": "", "logprobs": False, "concurrency": 1}
    return ChatJudge(ClientConfig.model_validate({**cfg, "max_retries": 0, "timeout_s": 2.0}), form="pairwise")


def _prompts(srv: FakeOpenAIServer) -> Counter[str]:
    """Requests the server computed an answer for, per prompt text (what was paid, delivered or not)."""
    return Counter(r.text for r in srv.records if r.outcome == "ok")


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_the_row_is_committed_before_the_request_reaches_the_server_and_leaves_with_the_label(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "labels.sqlite")
    seen: list[set[str]] = []

    def answer(req: dict[str, Any]) -> str:
        # Another connection, as another process would read the file: the row is already committed.
        with LabelStore(tmp_path / "labels.sqlite") as other:
            seen.append(set(other.in_flight(judge.id, [q.key for q in QUERIES])))
        values = [int(v) for v in re.findall(r"qid-(-?\d+)", request_text(req))]
        return "A" if values[0] > values[-1] else "B"

    with FakeOpenAIServer(responder=answer) as srv:
        judge = CachedJudge(_chat(srv), store, run_id="r")
        labels = judge.judge(TASK, QUERIES)
    assert [lab.status for lab in labels] == ["ok"] * 4
    assert len(seen) == 4 and all(len(s) == 1 for s in seen)  # concurrency 1: exactly the one being answered
    assert set().union(*seen) == {q.key for q in QUERIES}
    assert store.in_flight(judge.id, [q.key for q in QUERIES]) == {}  # every label's commit removed its row


@pytest.mark.parametrize("sender", ["this process", "a dead process"])
def test_skip_gives_a_lost_answer_a_failed_label_without_asking_again(tmp_path: Path, sender: str) -> None:
    store = LabelStore(tmp_path / "labels.sqlite")
    with FakeOpenAIServer(responder=lambda req: "A") as srv:
        judge = CachedJudge(_chat(srv), store, run_id="r")
        store.add_queries(QUERIES, 0, run_id="r")
        store.mark_in_flight(judge.id, QUERIES[1].key, run_id="r")  # what a kill -9 mid-request leaves
        if sender == "a dead process":
            with store._write() as c:
                c.execute("UPDATE in_flight SET pid = ?", (_dead_pid(),))
        labels = judge.judge(TASK, QUERIES)
        asked = _prompts(srv)
    assert [lab.status for lab in labels] == ["ok", "failed", "ok", "ok"]
    assert labels[1].provenance.error == LOST_ERROR and not labels[1].provenance.transient
    assert sum(asked.values()) == 3  # the lost one is not bought again
    assert judge.stats()["judge/lost_in_flight"] == 1.0
    stats = store.stats(judge.id, run_id="r")
    assert stats["judge/requests"] == 4  # ... but its request counts against the budget
    assert store.cached(judge.id, [QUERIES[1].key])[QUERIES[1].key].status == "failed"  # definitive: never re-asked


def test_reask_asks_a_lost_answer_again_and_counts_it(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "labels.sqlite")
    with FakeOpenAIServer(responder=lambda req: "A") as srv:
        judge = CachedJudge(_chat(srv), store, run_id="r", in_flight_lost="reask")
        store.add_queries(QUERIES, 0, run_id="r")
        store.mark_in_flight(judge.id, QUERIES[1].key, run_id="r")
        labels = judge.judge(TASK, QUERIES)
        asked = _prompts(srv)
    assert [lab.status for lab in labels] == ["ok"] * 4 and sum(asked.values()) == 4
    assert judge.stats()["judge/reasked_in_flight"] == 1.0 and judge.stats()["judge/lost_in_flight"] == 0.0


def test_a_request_another_live_process_is_waiting_for_is_not_taken_for_lost(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "labels.sqlite")
    with FakeOpenAIServer(responder=lambda req: "A") as srv:
        judge = CachedJudge(_chat(srv), store, run_id="r")
        store.add_queries(QUERIES, 0, run_id="r")
        store.mark_in_flight(judge.id, QUERIES[0].key, run_id="r")
        with store._write() as c:  # a second run sharing the store, alive, still waiting for that answer
            c.execute("UPDATE in_flight SET pid = ?", (os.getppid(),))
        labels = judge.judge(TASK, QUERIES[:1])
    assert labels[0].status == "ok" and judge.lost_in_flight == 0


def test_a_configuration_stop_leaves_no_row_so_the_fixed_rerun_asks_everything(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "labels.sqlite")
    with FakeOpenAIServer(api_key="sk-right") as srv:  # the judge sends no key: 401, not billed
        judge = CachedJudge(_chat(srv), store, run_id="r")
        with pytest.raises(JudgeConfigError):
            judge.judge(TASK, QUERIES)
    assert store.in_flight(judge.id, [q.key for q in QUERIES]) == {}


def test_a_transient_failure_leaves_no_row(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "labels.sqlite")
    with FakeOpenAIServer(responder=lambda req: "A") as srv:
        judge = CachedJudge(_chat(srv), store, run_id="r")
        srv.down()  # connection refused: the client gives up, a transient audit row is stored
        labels = judge.judge(TASK, QUERIES[:2])
        srv.up()
    assert [lab.provenance.transient for lab in labels] == [True, True]
    assert store.in_flight(judge.id, [q.key for q in QUERIES]) == {}
