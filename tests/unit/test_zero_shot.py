# mypy: disable-error-code="call-arg"
"""Zero-shot judges: projection math, labels with a fake encoder, the packaged MiniLM."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import pytest

from judgerl.config import JudgeConfig, ZeroShotConfig
from judgerl.judges.zero_shot import ClipJudge, EmbeddingJudge
from judgerl.judges.zero_shot_math import projection_matrix, projection_reward
from judgerl.reward.zero_shot_captions import ZeroShotReward
from judgerl.testing.optional import importorskip, skip_missing
from judgerl.types import Query, Segment, TaskSpec

S2 = math.sqrt(0.5)


# ---------------------------------------------------------------- math


@pytest.mark.parametrize(
    ("x", "alpha", "want"),
    [
        ([1.0, 0.0], 0.0, 1.0),  # the goal itself
        ([1.0, 0.0], 1.0, 1.0),
        ([0.0, 1.0], 0.0, 0.0),  # the baseline: cos = 0
        ([0.0, 1.0], 1.0, 0.0),  # the baseline: full distance along d
        ([S2, S2], 0.0, S2),  # cos 45 degrees
        ([S2, S2], 1.0, 0.75),  # d.(x-g) = -sqrt(1/2) -> 1 - 1/2 * 1/2
        ([S2, S2], 0.5, 0.739277),  # worked by hand in the comment of the test module
        ([-1.0, 0.0], 0.0, -1.0),
    ],
)
def test_projection_reward_hand_values(x: list[float], alpha: float, want: float) -> None:
    # goal g = e1, baseline b = e2, d = (1, -1)/sqrt(2). For x = (s, s), v = x - g = (s-1, s);
    # alpha=0.5: P v = 0.5 d (d.v) + 0.5 v = (-0.39645, 0.60355), |Pv|^2 = 0.52145 -> 0.739277.
    got = projection_reward(np.array([x]), np.array([1.0, 0.0]), np.array([0.0, 1.0]), alpha)
    assert got.shape == (1,)
    assert got[0] == pytest.approx(want, abs=1e-5)


def test_projection_matches_vlmrm_formula_random() -> None:
    rng = np.random.default_rng(0)
    g, b = rng.normal(size=8), rng.normal(size=8)
    x = rng.normal(size=(5, 8))
    for alpha in (0.0, 0.3, 1.0):
        gn, bn = g / np.linalg.norm(g), b / np.linalg.norm(b)
        xn = x / np.linalg.norm(x, axis=1, keepdims=True)
        d = (gn - bn) / np.linalg.norm(gn - bn)
        p = alpha * np.outer(d, d) + (1 - alpha) * np.eye(8)
        want = np.array([1 - 0.5 * np.linalg.norm(p @ (xi - gn)) ** 2 for xi in xn])
        np.testing.assert_allclose(projection_reward(x, g, b, alpha), want, atol=1e-12)
    # alpha = 0 is cosine similarity with the goal
    np.testing.assert_allclose(projection_reward(x, g, b, 0.0), xn @ gn, atol=1e-12)


def test_projection_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="alpha"):
        projection_matrix(np.ones(3), np.zeros(3), 1.5)
    with pytest.raises(ValueError, match="same embedding"):
        projection_matrix(np.ones(3), 2 * np.ones(3), 0.5)


# ---------------------------------------------------------------- judge with a fake encoder


class FakeTextEncoder:
    """Embeds 'good' words near the goal; counts encoded texts."""

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        self.encoded.extend(texts)
        out = []
        for t in texts:
            if t == "GOAL":
                out.append([1.0, 0.0, 0.0])
            elif t == "BASE":
                out.append([0.0, 1.0, 0.0])
            else:
                up = t.count("up")
                out.append([float(up), 1.0, 0.3])
        return np.asarray(out, dtype=np.float32)


def _task(captioner=lambda o: "up" * int(o[0])) -> TaskSpec:  # type: ignore[no-untyped-def]
    return TaskSpec(
        id="test/zs",
        instruction="be up",
        env_id="Pendulum-v1",
        captioner=captioner,
        success=lambda r, o: r > 0,
        goal_text="GOAL",
        baseline_text="BASE",
    )


def _seg(captions: Sequence[str] = (), n_up: int = 0, frames: np.ndarray | None = None) -> Segment:
    t = len(captions) if captions else 3
    obs = np.full((t, 1), n_up, dtype=np.float32)
    z = np.zeros(t, dtype=np.float32)
    return Segment(
        obs=obs, acts=np.zeros((t, 1), np.float32), env_rewards=z, dones=z, captions=tuple(captions), frames=frames
    )


def test_embedding_judge_labels_pairwise_pointwise_and_failures() -> None:
    enc = FakeTextEncoder()
    judge = EmbeddingJudge(ZeroShotConfig(alpha=1.0), _task(), encoder=enc)
    hi = _seg(("upup", "upup", "up"))
    lo = _seg(("flat", "flat", "up"))
    qs = [
        Query("pairwise", (hi, lo)),
        Query("pairwise", (lo, hi)),
        Query("pairwise", (hi, hi)),
        Query("pointwise", (hi,)),
        Query("episode", (_seg(n_up=2),)),  # no captions: the task captioner fills them in
    ]
    seen = []
    labels = judge.judge(_task(), qs, on_label=lambda q, lab: seen.append(q.key))
    assert [lab.query_key for lab in labels] == [q.key for q in qs] == seen
    assert all(lab.status == "ok" for lab in labels)
    assert [lab.preference for lab in labels[:3]] == [1.0, 0.0, 0.5]
    want = float(np.mean(judge.score_captions(["upup", "upup", "up"])))
    assert labels[3].value == pytest.approx(want)
    assert labels[4].value == pytest.approx(float(judge.score_captions(["upup"])[0]))
    prov = labels[0].provenance
    assert prov.judge_id == judge.id and prov.cost_usd == 0.0 and len(prov.prompt_sha) == 64
    # Goal/baseline encoded once; each distinct caption once per call.
    assert enc.encoded.count("GOAL") == 1
    # Soft preferences with a temperature.
    soft = EmbeddingJudge(ZeroShotConfig(alpha=1.0, temperature=0.1), _task(), encoder=FakeTextEncoder())
    p = soft.judge(_task(), qs[:2])
    assert 0.5 < p[0].preference < 1.0  # type: ignore[operator]
    assert p[0].preference == pytest.approx(1 - p[1].preference)  # type: ignore[operator]


@pytest.mark.parametrize(("aggregate", "pick"), [("mean", np.mean), ("min", np.min), ("last", lambda s: s[-1])])
def test_aggregate_reduces_step_scores(aggregate: str, pick) -> None:  # type: ignore[no-untyped-def]
    judge = EmbeddingJudge(ZeroShotConfig(alpha=1.0, aggregate=aggregate), _task(), encoder=FakeTextEncoder())
    caps = ("upup", "flat", "up")
    [lab] = judge.judge(_task(), [Query("episode", (_seg(caps),))])
    steps = judge.score_captions(list(caps))
    assert len(set(steps.tolist())) == 3  # the three reductions differ on these captions
    assert lab.value == pytest.approx(float(pick(steps)))


def test_judge_ids_depend_on_texts_and_alpha_only() -> None:
    a = EmbeddingJudge(ZeroShotConfig(), _task(), encoder=FakeTextEncoder())
    assert a.id == EmbeddingJudge(ZeroShotConfig(batch_size=3), _task()).id
    assert a.id != EmbeddingJudge(ZeroShotConfig(alpha=0.5), _task()).id
    assert a.id != EmbeddingJudge(ZeroShotConfig(goal_text="other"), _task()).id
    assert a.id != EmbeddingJudge(ZeroShotConfig(aggregate="min"), _task()).id
    assert a.id != ClipJudge(ZeroShotConfig(), _task()).id
    assert a.id.startswith("embedding-")


def test_missing_texts_and_frames_are_clear() -> None:
    with pytest.raises(ValueError, match="goal_text"):
        EmbeddingJudge(ZeroShotConfig(goal_text=""), _task())
    with pytest.raises(ValueError, match="baseline"):
        EmbeddingJudge(ZeroShotConfig(baseline_text=""), _task())
    EmbeddingJudge(ZeroShotConfig(baseline_text="", alpha=0.0), _task())  # no baseline needed
    clip = ClipJudge(ZeroShotConfig(), _task(), encoder=FakeTextEncoder())
    [lab] = clip.judge(_task(), [Query("pointwise", (_seg(("a", "b")),))])
    assert lab.status == "failed" and "frames" in lab.provenance.error and lab.value is None


def test_zero_shot_reward_caches_captions() -> None:
    enc = FakeTextEncoder()
    judge = EmbeddingJudge(ZeroShotConfig(), _task(), encoder=enc)
    reward = ZeroShotReward(judge, cache_size=2)
    obs = np.array([[2.0], [0.0], [2.0], [1.0]], dtype=np.float32)
    r = reward.predict(obs, np.zeros((4, 1), np.float32))
    assert r.shape == (4,) and r.dtype == np.float32
    np.testing.assert_allclose(r, judge.score_captions(["upup", "", "upup", "up"]), rtol=1e-6)
    assert r[0] > r[3] > r[1]
    n = len(enc.encoded)
    reward.predict(obs[2:], np.zeros((2, 1), np.float32))  # both captions are the 2 most recent
    assert len(enc.encoded) == n
    assert len(reward._cache) == 2


def test_zero_shot_reward_scores_absorbing_rows_as_the_end_caption() -> None:
    # The wrapper's absorbing offset is predict(all-zero row, dones=1): it must be the score of the caption judges
    # see on absorbing padding, not of the zero observation's caption (for CartPole, the goal state itself).
    from judgerl.queries.segments import END_CAPTION

    judge = EmbeddingJudge(ZeroShotConfig(), _task(captioner=lambda o: "upup"), encoder=FakeTextEncoder())
    reward = ZeroShotReward(judge)
    obs = np.zeros((2, 1), np.float32)
    r = reward.predict(obs, np.zeros((2, 1), np.float32), np.array([0.0, 1.0], np.float32))
    np.testing.assert_allclose(r, judge.score_captions(["upup", END_CAPTION]), rtol=1e-6)
    assert r[0] != r[1]
    # A task that says what its end means: that caption, as the judges see it on padding.
    ended = dataclasses.replace(_task(captioner=lambda o: "upup"), end_caption="the pole has fallen")
    reward = ZeroShotReward(EmbeddingJudge(ZeroShotConfig(), ended, encoder=FakeTextEncoder()))
    r = reward.predict(obs, np.zeros((2, 1), np.float32), np.array([0.0, 1.0], np.float32))
    np.testing.assert_allclose(r, judge.score_captions(["upup", "the pole has fallen"]), rtol=1e-6)


def test_factory_builds_zero_shot_types() -> None:
    import importlib.util

    from judgerl.judges.factory import JudgeUnavailableError, make_judge

    if importlib.util.find_spec("sentence_transformers") is None or importlib.util.find_spec("transformers") is None:
        skip_missing("extras `embed` and `clip` not installed: run `make extras`")  # find_spec: no slow import
    judge = make_judge(JudgeConfig(type="embedding"), _task(), seed=0)
    assert isinstance(judge, EmbeddingJudge)
    with pytest.raises(JudgeUnavailableError, match="CLIP weights"):
        make_judge(JudgeConfig(type="clip"), _task(), seed=0)


# ---------------------------------------------------------------- the packaged MiniLM


@pytest.fixture(scope="module")
def minilm_judge() -> EmbeddingJudge:
    importorskip("sentence_transformers", "embed")
    from judgerl.judges.embedded import PackagedModelMissing, packaged_minilm_path

    try:
        packaged_minilm_path()
    except PackagedModelMissing as e:
        skip_missing(str(e))
    import torch

    torch.set_num_threads(1)
    cfg = ZeroShotConfig(goal_text="the pendulum is balanced upright", baseline_text="a pendulum", alpha=1.0)
    return EmbeddingJudge(cfg, _task())


def test_minilm_ranks_pendulum_captions(minilm_judge: EmbeddingJudge, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    up, down = minilm_judge.score_captions(["the pendulum is upright and still", "the pendulum hangs straight down"])
    assert up > down + 0.02
    # Across alpha and with/without projection the order holds for a few paraphrases.
    pairs = [
        ("the pendulum is nearly upright", "the pendulum is hanging low"),
        ("the pendulum points straight up", "the pendulum points straight down"),
    ]
    for good, bad in pairs:
        s = minilm_judge.score_captions([good, bad])
        assert s[0] > s[1], (good, bad, s)
