"""ChatJudge + label store against the fake server: configuration stops and budgets counted in requests.

The fake server's request log is the evidence: what the store says was sent
must equal what the server received.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from judgerl.config import BudgetConfig, ClientConfig
from judgerl.judges.base import JudgeConfigError
from judgerl.judges.both_orders import BothOrders
from judgerl.judges.client_budget import Budget
from judgerl.judges.llm import ChatJudge
from judgerl.labels.cached import CachedJudge, carry_spending
from judgerl.labels.store import LabelStore
from judgerl.testing.fake_openai import FakeOpenAIServer, Reply, request_text
from judgerl.types import Query, Segment, TaskSpec

KEY_ENV = "JUDGERL_RELIABILITY_KEY"
TASK = TaskSpec(
    id="t/reliability-v0",
    instruction="Raise the value.",
    env_id="X-v0",
    captioner=lambda o: "",
    success=lambda r, o: True,
    question="Is the value high?",
)


def _seg(value: int) -> Segment:
    z = np.zeros(4, np.float32)
    obs = np.full((4, 2), value, np.float32)
    return Segment(obs=obs, acts=z[:, None], env_rewards=z + value, dones=z, captions=(f"qid-{value}",) * 4)


def _cfg(srv: FakeOpenAIServer, **kw: Any) -> ClientConfig:
    base: dict[str, Any] = {"timeout_s": 2.0, "backoff_base_s": 0.01, "api_key_env": KEY_ENV, "max_retries": 1}
    return ClientConfig.model_validate({"base_url": srv.base_url, "model": "m", **base, **kw})


def _answer(req: dict[str, Any]) -> Reply:
    """Higher value preferred; yes/no log-probs follow the value (content-free prompt: P(yes) = 0.6)."""
    vals = [int(v) for v in re.findall(r"qid-(-?\d+)", request_text(req))]
    if "segment a" in request_text(req).lower():
        return Reply("A" if vals[0] > vals[-1] else "B")
    p = 0.6 if not vals else 1 / (1 + math.exp(-vals[0]))
    return Reply("yes" if p >= 0.5 else "no", [("yes", math.log(p)), ("no", math.log(1 - p))])


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.mark.parametrize("fault", ["unauthorized", "forbidden", "not_found", "redirect"])
@pytest.mark.parametrize("concurrency", [1, 4])
def test_config_errors_store_nothing_final_and_the_fixed_rerun_asks_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str, concurrency: int
) -> None:
    """Defect 1: a 401/403/404/3xx stops the batch; the store holds no label for it; the rerun asks all."""
    queries = [Query("pairwise", (_seg(i), _seg(-i))) for i in range(1, 9)]
    keys = [q.key for q in queries]
    api_key = "sk-right" if fault == "unauthorized" else None
    script = [] if fault == "unauthorized" else [fault] * concurrency
    with (
        FakeOpenAIServer(responder=_answer, script=script, api_key=api_key, latency_s=0.02) as srv,
        LabelStore(tmp_path / "labels.sqlite") as store,
    ):
        judge = CachedJudge(ChatJudge(_cfg(srv, concurrency=concurrency)), store)
        with pytest.raises(JudgeConfigError) as err:
            judge.judge(TASK, queries)
        sent = srv.stats["requests"]
        assert 1 <= sent <= concurrency  # at most the requests already in flight
        assert store.cached(judge.id, keys) == {} and store.stats()["labels/total"] == 0
        assert store.stats(judge.id)["judge/requests"] == sent  # counted, though no label came of them
        assert "judge.client" in str(err.value) or "API key" in str(err.value)

        monkeypatch.setenv(KEY_ENV, "sk-right")  # the fix (for the other faults the server recovered)
        again = CachedJudge(ChatJudge(_cfg(srv, concurrency=concurrency)), store)
        labels = again.judge(TASK, queries)
        assert srv.stats["requests"] == sent + len(queries)  # every query asked again
        assert all(lab.status == "ok" and lab.preference == 1.0 for lab in labels)
        assert store.stats(judge.id)["judge/requests"] == srv.stats["requests"]


def test_carried_budget_counts_requests_not_rows(tmp_path: Path) -> None:
    """Defect 8: both orders and scored pairs are two requests a row; calibration is counted though unstored."""
    pairs = [Query("pairwise", (_seg(i), _seg(-i))) for i in range(1, 4)]
    points = [Query("pointwise", (_seg(v),)) for v in (-7, 5)]  # prompts no pair shows (a repeat would be reused)
    budget = BudgetConfig.model_validate({"max_calls": 100})

    def both_orders() -> tuple[ChatJudge, BothOrders]:
        inner = ChatJudge(_cfg(srv), budget=Budget(budget))
        return inner, BothOrders(inner)

    def scoring() -> tuple[ChatJudge, ChatJudge]:
        inner = ChatJudge(_cfg(srv), budget=Budget(budget), form="pointwise", calibration="content_free")
        return inner, inner

    with FakeOpenAIServer(responder=_answer) as srv, LabelStore(tmp_path / "labels.sqlite") as store:
        sent = 0
        for make, batch in ((both_orders, pairs), (scoring, [*pairs, *points])):
            labels = CachedJudge(make()[1], store).judge(TASK, batch)
            assert all(lab.status == "ok" for lab in labels)
            paid = srv.stats["requests"] - sent  # both orders: 3 x 2; scoring: 3 pairs x 2 + 2 points + 1 N/A call
            sent = srv.stats["requests"]
            resumed, outer = make()  # a resumed run carries what the server received
            carry_spending(outer, store)
            assert resumed.client.budget.spent.calls == paid == (6 if make is both_orders else 9)
            stats = store.stats(outer.id)
            assert stats["judge/requests"] == paid and resumed.client.budget.spent.tokens == stats_tokens(stats) > 0
        assert (stats["labels/total"], stats["judge/unlabelled_requests"]) == (5, 1)


def stats_tokens(stats: dict[str, float]) -> int:
    return int(stats["judge/tokens_in"] + stats["judge/tokens_out"])


def test_budget_holds_across_a_resume_with_calibration(tmp_path: Path) -> None:
    """Defect 8: a max_calls budget counts the first run's calibration call on resume."""
    points = [Query("pointwise", (_seg(v),)) for v in (1, 2, 3, 4)]
    budget = BudgetConfig.model_validate({"max_calls": 5})
    with FakeOpenAIServer(responder=_answer) as srv, LabelStore(tmp_path / "labels.sqlite") as store:
        for batch in (points[:2], points):  # 3 requests (N/A call + 2), then a resume with 2 left
            inner = ChatJudge(_cfg(srv, concurrency=1), budget=Budget(budget), calibration="content_free")
            judge = CachedJudge(inner, store)
            carry_spending(judge, store)
            labels = judge.judge(TASK, batch)
        assert srv.stats["requests"] == 5  # rows-only accounting carried 2 and paid a 6th request
        assert [lab.status for lab in labels] == ["ok", "ok", "ok", "failed"]
        assert "budget exhausted" in labels[3].provenance.error and labels[3].provenance.transient


def test_carry_spending_of_one_run_in_a_shared_store(tmp_path: Path) -> None:
    """Defects 7 and 8: with a run id, a run's budget carries only what that run sent."""
    points = [Query("pointwise", (_seg(v),)) for v in (1, 2, 3)]
    with FakeOpenAIServer(responder=_answer) as srv, LabelStore(tmp_path / "labels.sqlite") as store:
        CachedJudge(ChatJudge(_cfg(srv), calibration="content_free"), store, run_id="a").judge(TASK, points[:2])
        CachedJudge(ChatJudge(_cfg(srv), calibration="content_free"), store, run_id="b").judge(TASK, points)
        assert srv.stats["requests"] == 3 + 2  # b: its own N/A call and one new point; two points were cached
        for run, calls in (("a", 3), ("b", 2), (None, 5)):
            fresh = ChatJudge(_cfg(srv), calibration="content_free")
            carry_spending(fresh, store, run_id=run)
            assert fresh.client.budget.spent.calls == calls


def test_cli_prints_one_line_and_exits_2_on_a_judge_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Defect 1: the run stops with one clear line and exit code 2, no traceback."""
    import judgerl.cli as cli

    def stop(args: Any) -> int:
        raise JudgeConfigError("HTTP 401 from https://x/v1: authentication failed -- wrong, expired or missing key")

    monkeypatch.setattr(cli, "_cmd_run", stop)
    assert cli.main(["run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("judgerl: judge configuration error") and "HTTP 401" in err[0]


def test_identical_prompts_are_paid_once_and_reused_at_no_cost(tmp_path: Path) -> None:
    """Different queries, the same prompt text: one request at temperature 0, every label ok, cost counted once."""
    # Pairs share segments (each of 4 segments in 3 of the 6 pairs), scored pointwise: 4 distinct prompts.
    segs = [_seg(v) for v in (1, 2, 3, 4)]
    pairs = [Query("pairwise", (a, b)) for i, a in enumerate(segs) for b in segs[i + 1 :]]
    with FakeOpenAIServer(responder=_answer) as srv, LabelStore(tmp_path / "labels.sqlite") as store:
        judge = ChatJudge(_cfg(srv, concurrency=8), form="pointwise")
        labels = CachedJudge(judge, store).judge(TASK, pairs)
        assert [lab.status for lab in labels] == ["ok"] * 6
        assert all(lab.preference is not None and lab.preference < 0.5 for lab in labels)  # higher value wins
        assert srv.stats["requests"] == 4 and judge.metrics()["judge/prompt_reuses"] == 8
        assert store.stats(judge.id)["judge/requests"] == 4  # the rows carry the 4 requests, reuses carry 0
        off = ChatJudge(_cfg(srv, concurrency=8, reuse_prompts=False), form="pointwise")
        off.judge(TASK, pairs)
        assert srv.stats["requests"] == 4 + 12
        hot = ChatJudge(_cfg(srv, concurrency=8, temperature=0.7), form="pointwise")
        hot.judge(TASK, pairs)  # sampling: another draw is another answer, so nothing is reused
        assert srv.stats["requests"] == 4 + 12 + 12 and hot.metrics()["judge/prompt_reuses"] == 0


def test_a_failed_prompt_is_not_reused() -> None:
    """An answer that did not arrive is not reused: its twin in flight is a transient failure, the next query asks."""
    with FakeOpenAIServer(responder=_answer, faults={"server_error": 1.0}) as srv:
        judge = ChatJudge(_cfg(srv, concurrency=8, max_retries=0), form="pointwise")
        labels = judge.judge(TASK, [Query("pointwise", (_seg(3),)), Query("pointwise", (_seg(3),))])
        assert [lab.status for lab in labels] == ["failed", "failed"]
        assert all(lab.provenance.transient for lab in labels)
        assert judge.metrics()["judge/prompt_reuses"] == 0
        before = srv.stats["requests"]
        judge.judge(TASK, [Query("pointwise", (_seg(3),))])
        assert srv.stats["requests"] == before + 1
