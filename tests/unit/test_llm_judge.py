"""ChatJudge against the fake server: the three forms, faults → label status, calibration."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import re
import threading
from collections import defaultdict
from typing import Any

import numpy as np
import pytest

from judgerl.config import BudgetConfig, ClientConfig, JudgeConfig
from judgerl.judges.base import Judge, JudgeConfigError
from judgerl.judges.client_budget import Budget
from judgerl.judges.llm import ChatJudge, build_chat_judge
from judgerl.judges.llm_prompts import View
from judgerl.testing.fake_openai import FakeOpenAIServer, Reply, request_text
from judgerl.types import Label, Provenance, Query, Segment, TaskSpec

L = math.log
TASK = TaskSpec(
    id="t/test-v0",
    instruction="Raise the value as high as possible.",
    env_id="X-v0",
    captioner=lambda o: "",
    success=lambda r, o: True,
    question="Is the value high?",
)


def _seg(value: int, n: int = 6, frames: bool = False) -> Segment:
    return Segment(
        obs=np.full((n, 2), value, np.float32),
        acts=np.zeros((n, 1), np.float32),
        env_rewards=np.full(n, value, np.float32),
        dones=np.zeros(n, np.float32),
        captions=tuple(f"qid-{value} value {value}" for _ in range(n)),
        frames=np.zeros((n, 16, 16, 3), np.uint8) if frames else None,
    )


def _cfg(srv: FakeOpenAIServer, **kw: Any) -> ClientConfig:
    base: dict[str, Any] = {"timeout_s": 2.0, "backoff_base_s": 0.01, "api_key_env": "JUDGERL_NO_SUCH_KEY"}
    return ClientConfig.model_validate({"base_url": srv.base_url, "model": "m", **base, **kw})


def _values(req: dict[str, Any]) -> list[int]:
    return [int(v) for v in re.findall(r"qid-(-?\d+)", request_text(req))]


def _prefer_higher(req: dict[str, Any]) -> str:
    vals = _values(req)
    a, b = vals[0], vals[-1]
    return "A" if a > b else "B"


def test_pairwise_labels_follow_the_answers_and_on_label_runs_in_callers_thread() -> None:
    queries = [Query("pairwise", (_seg(i), _seg(10 - i))) for i in range(10) if i != 5]
    seen: list[tuple[str, int]] = []
    with FakeOpenAIServer(responder=_prefer_higher, latency_s=0.02) as srv:
        judge = ChatJudge(_cfg(srv), form="pairwise")
        labels = judge.judge(TASK, queries, lambda q, lab: seen.append((lab.query_key, threading.get_ident())))
    assert [lab.query_key for lab in labels] == [q.key for q in queries]
    assert [lab.preference for lab in labels] == [0.0] * 5 + [1.0] * 4
    assert sorted(k for k, _ in seen) == sorted(q.key for q in queries)
    assert {t for _, t in seen} == {threading.get_ident()}
    prov = labels[0].provenance
    assert prov.raw_response == "B" and prov.judge_id == judge.id and prov.model == "m"
    assert prov.prompt_sha == judge.templates["pairwise"].sha and prov.tokens_in > 0 and prov.latency_s > 0


def test_an_error_in_the_judges_loop_is_not_chained_to_the_no_running_loop_probe() -> None:
    """``run_here`` probes for a running loop with ``get_running_loop``, which raises; a judge's own error
    must not show that RuntimeError as its context (every dead worker's log used to start with it)."""
    from judgerl.judges.llm_async import run_here

    async def failing(emit: Any) -> list[Label]:
        raise ValueError("the judge failed")

    with pytest.raises(ValueError, match="the judge failed") as info:
        run_here(failing, None)
    assert info.value.__context__ is None


def test_on_label_in_callers_thread_when_a_loop_is_running() -> None:
    queries = [Query("pairwise", (_seg(i), _seg(-i))) for i in range(1, 5)]
    threads: list[int] = []

    async def inside_a_loop() -> list[Label]:
        return judge.judge(TASK, queries, lambda q, lab: threads.append(threading.get_ident()))

    with FakeOpenAIServer(responder=_prefer_higher) as srv:
        judge = ChatJudge(_cfg(srv))
        labels = asyncio.run(inside_a_loop())
    assert [lab.preference for lab in labels] == [1.0] * 4
    assert threads == [threading.get_ident()] * 4


@pytest.mark.parametrize(
    ("fault", "status", "error"),
    [("refusal", "abstain", "refusal"), ("truncated", "failed", "truncated"), ("empty", "failed", "empty")],
)
def test_content_faults_become_abstain_or_failed(fault: str, status: str, error: str) -> None:
    with FakeOpenAIServer(script=[fault], responder=lambda r: '{"aligned": true, "reasoning": "long text"}') as srv:
        (label,) = ChatJudge(_cfg(srv)).judge(TASK, [Query("episode", (_seg(1),))])
    assert label.status == status and error in label.provenance.error and not label.provenance.transient
    assert label.value is None
    if fault == "truncated":
        assert label.provenance.raw_response == '{"aligned": true, "re'  # parseable prefix, still failed


def test_refusal_in_the_text_is_an_abstention() -> None:
    with FakeOpenAIServer(script=["refusal"], refusal_in_content=True) as srv:
        (label,) = ChatJudge(_cfg(srv)).judge(TASK, [Query("pairwise", (_seg(1), _seg(2)))])
    assert label.status == "abstain" and label.provenance.raw_response.startswith("I can't")


def test_unparseable_and_tie_answers() -> None:
    q = Query("pairwise", (_seg(1), _seg(2)))
    with FakeOpenAIServer(responder=lambda r: "C") as srv:
        (label,) = ChatJudge(_cfg(srv)).judge(TASK, [q])
    assert label.status == "failed" and label.provenance.raw_response == "C" and label.preference is None
    with FakeOpenAIServer(responder=lambda r: "tie" if "tie" in request_text(r) else "?") as srv:
        (tie,) = ChatJudge(_cfg(srv), allow_ties=True).judge(TASK, [q])
        (no_tie,) = ChatJudge(_cfg(srv), allow_ties=False).judge(TASK, [q])
    assert tie.status == "ok" and tie.preference == 0.5
    assert no_tie.status == "failed"


def _yes_prob(req: dict[str, Any]) -> Reply:
    """P(yes) grows with the value shown; the content-free prompt gets P(yes) = 0.7."""
    vals = _values(req)
    p = 0.7 if not vals else 1 / (1 + math.exp(-vals[0]))
    return Reply("yes" if p >= 0.5 else "no", [("yes", L(p)), ("no", L(1 - p))])


def test_pointwise_margin_from_logprobs() -> None:
    queries = [Query("pointwise", (_seg(v),)) for v in (-2, 0, 3)]
    with FakeOpenAIServer(responder=_yes_prob) as srv:
        labels = ChatJudge(_cfg(srv), form="pointwise").judge(TASK, queries)
        assert all(r.body["logprobs"] and r.body["top_logprobs"] == 5 for r in srv.records)
    assert [lab.value for lab in labels] == pytest.approx([-2.0, 0.0, 3.0])  # logit(sigmoid(v)) = v


def test_text_mode_scores_yes_no_as_one_zero_under_its_own_id() -> None:
    queries = [Query("pointwise", (_seg(v),)) for v in (-2, 3)]
    with FakeOpenAIServer(responder=_yes_prob) as srv:
        judge = ChatJudge(_cfg(srv, logprobs=False))
        labels = judge.judge(TASK, queries)
        assert not any("logprobs" in r.body for r in srv.records)
    assert [(lab.status, lab.value, lab.provenance.error) for lab in labels] == [("ok", 0.0, ""), ("ok", 1.0, "")]
    assert judge.id != ChatJudge(_cfg(srv)).id  # the scale is part of the id: 0/1 never meets margins


@pytest.mark.parametrize("server", ["rejects", "ignores"])
def test_a_logprob_judge_never_falls_back_to_text_scores(server: str) -> None:
    """Defect 10: no log-probs mid-run stops the run instead of mixing 0/1 values with margins."""
    queries = [Query("pointwise", (_seg(v),)) for v in (-2, 3, 4, 5)]
    kw = {"reject_params": ("logprobs",)} if server == "rejects" else {"ignore_params": ("logprobs",)}
    seen: list[Label] = []
    with FakeOpenAIServer(responder=_yes_prob, **kw) as srv:  # type: ignore[arg-type]
        judge = ChatJudge(_cfg(srv, concurrency=1))
        with pytest.raises(JudgeConfigError, match=r"judge\.client\.logprobs=false"):
            judge.judge(TASK, queries, lambda q, lab: seen.append(lab))
        assert srv.stats["requests"] == 1  # no resend without logprobs, and the rest never sent
    assert seen == []


def test_pointwise_truncated_or_unparseable_answers_are_never_scored() -> None:
    """Defect 9: finish_reason=length or a non-yes/no text is failed with its raw text, log-probs or not."""
    top = [("yes", L(0.8)), ("no", L(0.2))]
    q = [Query("pointwise", (_seg(1),))]
    with FakeOpenAIServer(script=["truncated"], responder=lambda r: Reply("yes, the value is high", top)) as srv:
        (truncated,) = ChatJudge(_cfg(srv, max_tokens=3)).judge(TASK, q)
    with FakeOpenAIServer(responder=lambda r: Reply("maybe", top)) as srv:
        (maybe,) = ChatJudge(_cfg(srv)).judge(TASK, q)
    with FakeOpenAIServer(script=["empty"], responder=lambda r: Reply("yes", top)) as srv:
        (empty,) = ChatJudge(_cfg(srv)).judge(TASK, q)
    assert truncated.status == "failed" and truncated.value is None and not truncated.provenance.transient
    assert "truncated" in truncated.provenance.error and "max_tokens=3" in truncated.provenance.error
    assert truncated.provenance.raw_response == "yes, the va"
    assert maybe.status == "failed" and maybe.value is None and maybe.provenance.raw_response == "maybe"
    assert "not yes or no" in maybe.provenance.error
    assert empty.status == "failed" and "empty" in empty.provenance.error
    with FakeOpenAIServer(script=["truncated"], responder=lambda r: "yes, the value is high") as srv:
        (pair,) = ChatJudge(_cfg(srv), form="pointwise").judge(TASK, [Query("pairwise", (_seg(1), _seg(2)))])
    assert pair.status == "failed" and pair.preference is None and "truncated" in pair.provenance.error


def test_content_free_calibration_subtracts_the_na_margin() -> None:
    queries = [Query("pointwise", (_seg(v),)) for v in (-1, 2)]
    with FakeOpenAIServer(responder=_yes_prob) as srv:
        judge = ChatJudge(_cfg(srv), calibration="content_free")
        labels = judge.judge(TASK, queries)
        judge.judge(TASK, queries)
        assert sum("N/A" in r.text for r in srv.records) == 1  # asked once per task
    cf = L(0.7 / 0.3)
    assert [lab.value for lab in labels] == pytest.approx([-1.0 - cf, 2.0 - cf])
    assert [judge.calibrated_verdict(lab) for lab in labels] == [False, True]  # -1.85 and 1.15


def test_median_calibration_threshold() -> None:
    calib = [Query("pointwise", (_seg(v),)) for v in (1, 2, 3, 4, 5)]
    with FakeOpenAIServer(responder=_yes_prob) as srv:
        judge = ChatJudge(_cfg(srv), calibration="median")
        with pytest.raises(RuntimeError, match="calibrate"):
            judge.calibrated_verdict(Label("k", "ok", Provenance(judge_id="j", model="m"), value=1.0))
        assert judge.calibrate(TASK, calib) == pytest.approx(3.0)
        labels = judge.judge(TASK, [Query("pointwise", (_seg(v),)) for v in (2, 4)])
    assert [judge.calibrated_verdict(lab) for lab in labels] == [False, True]
    assert judge.metrics()["judge/threshold"] == pytest.approx(3.0)


def test_pointwise_judge_answers_pairs_by_scoring_each_segment() -> None:
    with FakeOpenAIServer(responder=_yes_prob) as srv:
        (label,) = ChatJudge(_cfg(srv), form="pointwise").judge(TASK, [Query("pairwise", (_seg(2), _seg(-1)))])
        assert srv.stats["requests"] == 2
    assert label.preference == pytest.approx(1 / (1 + math.exp(-3.0)))
    assert label.provenance.raw_response == "A: yes\nB: no"


def test_episode_verdicts_with_keyframes_as_images() -> None:
    def verdict(req: dict[str, Any]) -> str:
        vals = _values(req)
        aligned = "true" if (vals[0] > 0 if vals else "images" in request_text(req)) else "false"
        return f'```json\n{{"description": "d", "reasoning": "r", "aligned": {aligned}}}\n```'

    task = dataclasses.replace(TASK, modalities=("frames", "captions"))
    queries = [Query("episode", (_seg(v, n=30, frames=True),)) for v in (3, -3)]
    with FakeOpenAIServer(responder=verdict) as srv:
        labels = ChatJudge(_cfg(srv), view=View(show="frames", keyframes=4)).judge(task, queries)
        assert all(r.n_images == 4 and r.body["response_format"] == {"type": "json_object"} for r in srv.records)
        assert "qid" not in srv.records[0].text  # frames only: the captions are not shown
    assert [(lab.status, lab.value) for lab in labels] == [("ok", 1.0), ("ok", 1.0)]
    with FakeOpenAIServer(responder=verdict) as srv:  # auto: captions, and the verdict follows them
        labels = ChatJudge(_cfg(srv, json_mode=False)).judge(task, queries)
        assert "response_format" not in srv.records[0].body
    assert [(lab.status, lab.value) for lab in labels] == [("ok", 1.0), ("ok", 0.0)]


def test_form_mismatches_are_configuration_errors() -> None:
    with FakeOpenAIServer() as srv:
        with pytest.raises(ValueError, match="pairwise judge"):
            ChatJudge(_cfg(srv), form="pairwise").judge(TASK, [Query("pointwise", (_seg(1),))])
        with pytest.raises(ValueError, match="form"):
            ChatJudge(_cfg(srv), prompt="pairwise_v1")
        assert srv.stats["requests"] == 0


def test_mixed_faults_every_label_matches_the_servers_record() -> None:
    rates = {"rate_limit": 0.06, "server_error": 0.06, "timeout": 0.03, "malformed": 0.05}
    rates.update({"refusal": 0.04, "truncated": 0.03, "empty": 0.03})  # 30 % faults in all
    queries = [Query("pairwise", (_seg(i), _seg(-i))) for i in range(1, 101)]
    with FakeOpenAIServer(responder=_prefer_higher, faults=rates, seed=7, retry_after_s=0.02, hang_s=2.0) as srv:
        judge = ChatJudge(_cfg(srv, timeout_s=1.5, max_retries=4, concurrency=8))
        labels = judge.judge(TASK, queries)
        records = list(srv.records)
    by_query: dict[int, list[str]] = defaultdict(list)
    for rec in records:
        by_query[int(re.findall(r"qid-(\d+)", rec.text)[0])].append(rec.outcome)
    transient = {"rate_limit", "server_error", "timeout", "malformed"}
    expect = {"ok": "ok", "refusal": "abstain", "truncated": "failed", "empty": "failed"}
    assert len(labels) == 100 and len(by_query) == 100
    for i, lab in enumerate(labels, start=1):
        outcomes = by_query[i]
        final = outcomes[-1]
        assert lab.status == expect.get(final, "failed"), (i, outcomes, lab)
        assert lab.provenance.transient == (final in transient)
        assert lab.provenance.retries == len(outcomes) - 1
        if lab.status == "ok":
            assert lab.preference == 1.0
    n_transient_final = sum(by_query[i][-1] in transient for i in by_query)
    assert (
        sum(lab.provenance.retries for lab in labels)
        == sum(r.outcome in transient for r in records) - n_transient_final
    )
    assert sum(r.outcome != "ok" for r in records) > 20  # the faults really happened
    m = judge.metrics()
    assert m["judge/http_requests"] == len(records) and m["judge/http_retries"] == len(records) - 100


def test_budget_stop_then_resume_with_the_label_store(tmp_path: Any) -> None:
    from judgerl.labels.cached import CachedJudge
    from judgerl.labels.store import LabelStore

    queries = [Query("pairwise", (_seg(i), _seg(-i))) for i in range(1, 9)]
    cfg_budget = BudgetConfig.model_validate({"max_calls": 5})
    with FakeOpenAIServer(responder=_prefer_higher) as srv, LabelStore(tmp_path / "labels.sqlite") as store:
        first = ChatJudge(_cfg(srv, concurrency=2), budget=Budget(cfg_budget))
        labels = CachedJudge(first, store).judge(TASK, queries)
        assert first.budget_exhausted and srv.stats["requests"] == 5
        assert sum(lab.status == "ok" for lab in labels) == 5
        stopped = [lab for lab in labels if lab.status != "ok"]
        assert all(lab.provenance.transient and "budget exhausted" in lab.provenance.error for lab in stopped)
        second = ChatJudge(_cfg(srv, concurrency=2), budget=Budget())
        assert second.id == first.id
        labels = CachedJudge(second, store).judge(TASK, queries)
        assert srv.stats["requests"] == 8 and all(lab.status == "ok" for lab in labels)


def test_id_ignores_url_and_key_and_the_key_never_leaks(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-live-DO-NOT-LEAK-77"
    monkeypatch.setenv("JUDGERL_TEST_KEY2", secret)
    queries = [Query("pairwise", (_seg(1), _seg(2))), Query("episode", (_seg(3),))]
    with FakeOpenAIServer(api_key=secret, script=["ok", "server_error"], responder=lambda r: f"echo {secret}") as srv:
        judge = ChatJudge(_cfg(srv, api_key_env="JUDGERL_TEST_KEY2", max_retries=0, concurrency=1))
        labels = judge.judge(TASK, queries)
        other = ChatJudge(_cfg(srv, base_url="http://127.0.0.1:9/v1", api_key_env="OTHER"))
    assert judge.id == other.id and judge.id.startswith("openai:m:")
    assert judge.id != ChatJudge(_cfg(srv, temperature=0.7)).id
    text = repr(labels) + repr(judge.metrics()) + judge.id + repr(vars(judge.client))
    assert secret not in text and "***" in labels[0].provenance.raw_response
    with FakeOpenAIServer(api_key="another-key") as srv, pytest.raises(JudgeConfigError, match="401") as err:
        ChatJudge(_cfg(srv, api_key_env="JUDGERL_TEST_KEY2")).judge(TASK, queries[:1])
    assert secret not in str(err.value) and "JUDGERL_TEST_KEY2" in str(err.value)


def test_factory_builds_the_openai_judge() -> None:
    from judgerl.judges.factory import make_judge

    cfg = JudgeConfig.model_validate(
        {"type": "openai", "form": "pointwise", "calibration": "content_free", "captions_per_segment": 2}
    )
    judge = make_judge(cfg, TASK, seed=3)
    assert isinstance(judge, ChatJudge) and isinstance(judge, Judge)
    assert judge.form == "pointwise" and judge.view.steps == 2 and judge.calibration == "content_free"
    assert isinstance(build_chat_judge(cfg, TASK, 0), ChatJudge)


def test_an_error_in_on_label_stops_the_batch() -> None:
    queries = [Query("pairwise", (_seg(i), _seg(-i))) for i in range(1, 21)]

    def boom(q: Query, lab: Label) -> None:
        raise OSError("disk full")

    with FakeOpenAIServer(responder=_prefer_higher, latency_s=0.05) as srv:
        with pytest.raises(OSError, match="disk full"):
            ChatJudge(_cfg(srv, concurrency=2)).judge(TASK, queries, boom)
        assert srv.stats["requests"] < 20  # the rest was cancelled, not sent
