# mypy: disable-error-code="call-arg"
"""GGUFJudge: yes/no margin math, and the real packaged SmolLM2-135M through llama-cpp-python."""

from __future__ import annotations

import importlib.util
import json
import math
from typing import Any

import numpy as np
import pytest

from judgerl.config import GGUFConfig, JudgeConfig
from judgerl.judges.gguf import GGUFJudge
from judgerl.judges.gguf_scoring import answer_token_ids, longest_common_prefix, margin_from_logits
from judgerl.testing.optional import importorskip, skip_missing
from judgerl.types import Query, Segment, TaskSpec

BAD = [
    "the robot steps on the cat; the cat is crushed",
    "the cat is crushed under the robot's wheel",
    "the robot drives over the cat and crushes it",
    "the cat lies crushed and flattened under the robot",
]
GOOD = [
    "the robot walks around the cat; the cat is unharmed",
    "the cat sits safely far from the robot",
    "the robot delivers the parcel; the cat is playing happily",
    "the cat is sleeping in the corner, the robot is far away",
]


def _task(modalities: tuple[Any, ...] = ("captions", "state")) -> TaskSpec:
    return TaskSpec(
        id="test/cat",
        instruction="Deliver the parcel without harming the cat.",
        env_id="CartPole-v1",
        captioner=lambda o: BAD[0] if o[0] > 0 else GOOD[0],
        success=lambda r, o: True,
        modalities=modalities,
        question="Is the cat crushed?",
    )


def _seg(caption: str | None, t: int = 3, sign: float = 1.0) -> Segment:
    z = np.zeros(t, np.float32)
    obs = np.full((t, 1), sign, np.float32)
    caps = (caption,) * t if caption is not None else ()
    return Segment(obs=obs, acts=np.zeros((t, 1), np.float32), env_rewards=z, dones=z, captions=caps)


# ---------------------------------------------------------------- no model needed


def test_margin_from_logits_is_logsumexp_difference() -> None:
    logits = np.log(np.array([0.1, 0.2, 0.3, 0.05, 0.35]))
    m = margin_from_logits(logits, yes_ids=[1, 2], no_ids=[4])
    assert m == pytest.approx(math.log(0.5 / 0.35))
    # invariant to a constant shift (the softmax normaliser cancels)
    assert margin_from_logits(logits + 7.0, [1, 2], [4]) == pytest.approx(m)


def test_answer_token_ids_keeps_single_token_spellings() -> None:
    table = {"yes": [5], " yes": [6], "Yes": [5], " Yes": [7], "YES": [1, 2], " YES": [3, 4]}
    assert answer_token_ids(lambda s: table[s], ("yes", "Yes", "YES")) == (5, 6, 7)
    with pytest.raises(ValueError, match="single token"):
        answer_token_ids(lambda s: [1, 2], ("yes",))
    assert longest_common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2


def test_frames_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="text only"):
        GGUFJudge(GGUFConfig(), _task(), modality="frames")
    with pytest.raises(ValueError, match="cannot judge frames"):
        GGUFJudge(GGUFConfig(), _task(modalities=("frames",)))


def test_builder_names_the_fix_when_llama_cpp_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from judgerl.judges.factory import JudgeUnavailableError, make_judge

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real(name, *a))
    with pytest.raises(JudgeUnavailableError, match="`make gguf`"):
        make_judge(JudgeConfig(type="gguf"), _task(), seed=0)


def test_ids_depend_on_prompt_relevant_settings() -> None:
    a = GGUFJudge(GGUFConfig(), _task())
    assert a.id == GGUFJudge(GGUFConfig(n_threads=3), _task()).id
    assert a.id != GGUFJudge(GGUFConfig(), _task(), calibration="none").id
    assert a.id != GGUFJudge(GGUFConfig(), _task(), question="Is the cat safe?").id
    assert a.id.startswith("gguf:")


def test_non_finite_margins_are_failed_never_a_nan_label(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defect 9 (GGUF side): an unusable answer is failed; with logit scoring that is a NaN/inf margin."""
    margins = iter([math.nan, 1.0, 2.0, -1.0, math.inf])
    judge = GGUFJudge(GGUFConfig(), _task(), calibration="none")
    monkeypatch.setattr(judge, "raw_margin", lambda text: (next(margins), 7))
    labels = judge.judge(
        _task(), [Query("pointwise", (_seg(BAD[0]),)), Query("pairwise", (_seg(BAD[1]), _seg(GOOD[0])))]
    )
    assert [lab.status for lab in labels] == ["failed", "ok"]
    assert "non-finite" in labels[0].provenance.error and labels[0].value is None
    (pair,) = judge.judge(_task(), [Query("pairwise", (_seg(BAD[2]), _seg(GOOD[1])))])
    assert pair.status == "failed" and pair.preference is None


# ---------------------------------------------------------------- the real model


@pytest.fixture(scope="module")
def llama() -> Any:
    importorskip("llama_cpp", "gguf")
    from judgerl.judges.embedded import PackagedModelMissing, packaged_smollm2_path
    from judgerl.judges.gguf import import_llama

    try:
        path = packaged_smollm2_path()
    except PackagedModelMissing as e:
        skip_missing(str(e))
    return import_llama().Llama(
        model_path=path, n_ctx=512, n_threads=1, n_threads_batch=1, logits_all=False, verbose=False
    )


def test_smollm2_ranks_crushed_cat_and_median_calibrates(llama: Any) -> None:
    judge = GGUFJudge(GGUFConfig(n_ctx=512), _task(), calibration="median", llama=llama)
    queries = [Query("pointwise", (_seg(c),)) for c in BAD + GOOD]
    seen: list[str] = []
    labels = judge.judge(_task(), queries, on_label=lambda q, lab: seen.append(q.key))
    assert seen == [q.key for q in queries]
    assert all(lab.status == "ok" for lab in labels)
    values = np.array([lab.value for lab in labels])
    bad, good = values[:4], values[4:]
    auc = np.mean([b > g for b in bad for g in good])
    assert auc >= 0.75, values
    assert bad.mean() > good.mean() + 0.1, values
    # Median calibration: the threshold is the median raw margin, frozen; half the values are positive.
    raw = [json.loads(lab.provenance.raw_response) for lab in labels]
    assert judge.threshold == pytest.approx(float(np.median([r["margin"] for r in raw])))
    assert all(r["offset"] == judge.threshold for r in raw)
    assert sum(judge.calibrated_verdict(lab) for lab in labels) == 4  # type: ignore[misc]
    assert labels[0].provenance.tokens_in > 50 and labels[0].provenance.cost_usd == 0.0
    # The threshold stays frozen for the next batch.
    before = judge.threshold
    judge.judge(_task(), queries[:2])
    assert judge.threshold == before
    m = judge.metrics()
    assert m["judge/gguf_reused_tokens"] > 0 and m["judge/labels_ok"] == 10


def test_prefix_reuse_gives_the_same_margins(llama: Any) -> None:
    # reuse_prompts off: the repeated text must run through the model again for this comparison.
    fresh = GGUFJudge(GGUFConfig(n_ctx=512, reuse_prefix=False, reuse_prompts=False), _task(), "none", llama=llama)
    reuse = GGUFJudge(GGUFConfig(n_ctx=512, reuse_prefix=True, reuse_prompts=False), _task(), "none", llama=llama)
    texts = [BAD[0], GOOD[1], BAD[0]]
    a = [fresh.raw_margin(fresh._text(_task(), _seg(c), episode=False))[0] for c in texts]
    b = [reuse.raw_margin(reuse._text(_task(), _seg(c), episode=False))[0] for c in texts]
    np.testing.assert_allclose(a, b, atol=1e-3)
    assert a[0] == pytest.approx(a[2], abs=1e-3)
    assert reuse.metrics()["judge/gguf_reused_tokens"] > fresh.metrics()["judge/gguf_reused_tokens"]


def test_a_repeated_prompt_is_scored_once(llama: Any) -> None:
    judge = GGUFJudge(GGUFConfig(n_ctx=512), _task(), calibration="none", llama=llama)
    text = judge._text(_task(), _seg(BAD[0]), episode=False)
    m1, n1 = judge.raw_margin(text)
    evaluated = judge.metrics()["judge/gguf_evaluated_tokens"]
    judge.raw_margin(judge._text(_task(), _seg(GOOD[0]), episode=False))  # another prompt in between
    after_other = judge.metrics()["judge/gguf_evaluated_tokens"]
    m2, n2 = judge.raw_margin(text)
    assert after_other > evaluated  # the other prompt ran the model
    assert m2 == m1 and n1 > 50 and n2 == 0
    m = judge.metrics()
    assert m["judge/gguf_evaluated_tokens"] == after_other and m["judge/gguf_prompts_reused"] == 1
    # A pair whose two captions repeat earlier ones costs no model call, and its label says 0 tokens.
    lab = judge.judge(_task(), [Query("pairwise", (_seg(GOOD[0]), _seg(BAD[0])))])[0]
    assert lab.status == "ok" and lab.provenance.tokens_in == 0
    assert judge.metrics()["judge/gguf_evaluated_tokens"] == after_other
    # Off: the same prompt runs the model again.
    off = GGUFJudge(GGUFConfig(n_ctx=512, reuse_prompts=False), _task(), calibration="none", llama=llama)
    off.raw_margin(text)
    once = off.metrics()["judge/gguf_evaluated_tokens"] + off.metrics()["judge/gguf_reused_tokens"]
    off.raw_margin(text)
    twice = off.metrics()["judge/gguf_evaluated_tokens"] + off.metrics()["judge/gguf_reused_tokens"]
    assert twice == 2 * once and "judge/gguf_prompts_reused" not in off.metrics()


def test_a_contrast_question_subtracts_its_margin(llama: Any) -> None:
    q, cq = "Is the cat safe?", "Is the cat hurt?"
    plain = GGUFJudge(GGUFConfig(n_ctx=512), _task(), calibration="none", question=q, llama=llama)
    other = GGUFJudge(GGUFConfig(n_ctx=512), _task(), calibration="none", question=cq, llama=llama)
    both = GGUFJudge(GGUFConfig(n_ctx=512), _task(), "none", question=q, contrast_question=cq, llama=llama)
    assert len({plain.id, other.id, both.id}) == 3
    segs = [_seg(c) for c in BAD[:2] + GOOD[:2]]
    labels = both.judge(_task(), [Query("pointwise", (s,)) for s in segs])
    for seg, lab in zip(segs, labels, strict=True):
        m_q = plain.raw_margin(plain._text(_task(), seg, episode=False))[0]
        m_c = other.raw_margin(other._text(_task(), seg, episode=False))[0]
        assert lab.status == "ok" and lab.value == pytest.approx(m_q - m_c, abs=1e-3)
        assert lab.provenance.tokens_in > 100  # two prompts
    assert len({round(lab.value or 0.0, 3) for lab in labels}) > 1  # the difference is not a constant
    # content_free calibration subtracts the content-free prompt's difference, not one question's margin
    cf = GGUFJudge(GGUFConfig(n_ctx=512), _task(), "content_free", question=q, contrast_question=cq, llama=llama)
    offset = cf._offset(_task())
    m_q0 = plain.raw_margin(plain._text(_task(), None, episode=False))[0]
    m_c0 = other.raw_margin(other._text(_task(), None, episode=False))[0]
    assert offset == pytest.approx(m_q0 - m_c0, abs=1e-3)


def test_pairwise_episode_content_free_and_failures(llama: Any) -> None:
    judge = GGUFJudge(GGUFConfig(n_ctx=512), _task(), calibration="content_free", llama=llama)
    bad, good = _seg(BAD[1]), _seg(GOOD[0])
    long_episode = _seg("the robot moves one step along the long corridor next to the sleeping cat", t=200)
    qs = [
        Query("pairwise", (bad, good)),
        Query("pairwise", (good, bad)),
        Query("pointwise", (bad,)),
        Query("episode", (_seg(None, t=30, sign=1.0),)),  # no captions: the task's captioner fills them in
        Query("pointwise", (long_episode,)),
    ]
    judge.view = type(judge.view)(show="captions", steps=200, keyframes=8)  # the last prompt cannot fit 512 tokens
    labels = judge.judge(_task(), qs)
    p_ab, p_ba = labels[0].preference, labels[1].preference
    assert p_ab is not None and p_ba is not None and p_ab > 0.5
    assert p_ab == pytest.approx(1.0 - p_ba, abs=1e-3)
    raw = json.loads(labels[2].provenance.raw_response)
    assert raw["offset"] == pytest.approx(judge._content_free["test/cat"])
    assert labels[2].value == pytest.approx(raw["margin"] - raw["offset"])
    m_a, m_b = json.loads(labels[0].provenance.raw_response)["margins"]
    assert p_ab == pytest.approx(1 / (1 + math.exp(-(m_a - m_b))), abs=1e-6)
    assert labels[3].status == "ok" and labels[3].value is not None
    assert labels[4].status == "failed" and "n_ctx" in labels[4].provenance.error
    assert labels[4].value is None


def test_factory_builds_gguf_with_median_by_default(llama: Any) -> None:
    from judgerl.judges.factory import make_judge

    judge = make_judge(JudgeConfig(type="gguf"), _task(), seed=0)
    assert isinstance(judge, GGUFJudge) and judge.calibration == "median"
    explicit = make_judge(JudgeConfig(type="gguf", calibration="none"), _task(), seed=0)
    assert isinstance(explicit, GGUFJudge) and explicit.calibration == "none"
    with pytest.raises(ValueError, match="yes/no"):
        make_judge(JudgeConfig(type="gguf", form="pairwise"), _task(), seed=0)
