"""The episode form: judge values into yes/no verdicts (Otsu's cut for similarity scores), failures left out."""

from __future__ import annotations

import numpy as np
import pytest

from judgerl.forms import TargetPlan, get_form
from judgerl.forms.episode import otsu_threshold, to_verdicts
from judgerl.judges.config import JudgeConfig
from judgerl.judges.factory import value_scale
from judgerl.queries.segments import episode_segment
from judgerl.types import Episode, Label, Provenance, Query


def _label(value: float | None, status: str = "ok") -> Label:
    return Label(f"k{value}-{status}", status, Provenance(judge_id="j", model="m"), value=value)  # type: ignore[arg-type]


def test_otsu_splits_an_unbalanced_bimodal_sample_where_the_median_cannot() -> None:
    rng = np.random.default_rng(0)
    low = rng.normal(0.2, 0.03, size=60)  # 60 % "harmed": the median cut would call 10 of them aligned
    high = rng.normal(0.6, 0.03, size=40)
    t = otsu_threshold(np.concatenate([high, low]))
    assert low.max() < t < high.min()
    assert not (low.max() < np.median(np.concatenate([low, high])) < high.min())


def test_otsu_edge_cases() -> None:
    assert otsu_threshold(np.array([])) == 0.0
    assert otsu_threshold(np.array([1.0, 3.0])) == 2.0  # too few scores: the median
    assert otsu_threshold(np.full(10, 0.5)) == 0.5  # all equal: the median, nobody above it
    # Ties never straddle the cut: both copies of a repeated score land on the same side.
    t = otsu_threshold(np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]))
    assert 0.0 < t < 1.0


def _episode(i: int, harmed: bool) -> Episode:
    rng = np.random.default_rng(i)
    return Episode(
        obs=rng.normal(size=(5, 3)).astype(np.float32),
        acts=np.zeros((5, 1), np.float32),
        env_rewards=np.zeros(5, np.float32),
        terminated=True,
        final_obs=rng.normal(size=3).astype(np.float32),
        captions=tuple(f"step {t}" for t in range(5)),
        episode_id=f"e{i}",
        infos={"cat_harmed": float(harmed)},
        final_caption="the end",
    )


def test_similarity_verdicts_use_otsu_and_never_coerce_failures() -> None:
    form = get_form("episode")
    values = [0.1, 0.12, 0.11, 0.13, 0.9, 0.88, 0.1]
    queries = [Query("episode", (episode_segment(_episode(i, v < 0.5), False, True),)) for i, v in enumerate(values)]
    rows = [(q, form.label(q, v, Provenance("j", "m"))) for q, v in zip(queries, values, strict=True)]
    failed = [Query("episode", (episode_segment(_episode(i, False), False, True),)) for i in (20, 21)]
    rows += [(failed[0], form.label(failed[0], None, Provenance("j", "m", error="parse")))]
    rows += [(failed[1], Label(failed[1].key, "abstain", Provenance("j", "m", error="refusal")))]
    truth = lambda s: not s.truth["cat_harmed"] > 0.5  # noqa: E731
    t = form.targets(
        rows, np.random.default_rng(0), TargetPlan(val_fraction=0.0, value_scale="similarity", truth=truth)
    )
    assert len(t) == 7  # the failed and the abstained episode are left out, never made a verdict
    np.testing.assert_array_equal(t.verdicts, [0, 0, 0, 0, 1, 1, 0])
    np.testing.assert_array_equal(t.truth, t.verdicts)
    # The final state is part of what is judged: one more row than steps, its caption last.
    assert t.segments[0].length == 6 and t.segments[0].captions[-1] == "the end"
    raw = np.array([0.1, 0.9, np.nan])
    assert np.isnan(to_verdicts(raw, "similarity")[2])
    # Verdict judges: the value is the verdict; margins: their sign.
    np.testing.assert_array_equal(to_verdicts(np.array([1.0, 0.0]), "probability"), [1.0, 0.0])
    np.testing.assert_array_equal(to_verdicts(np.array([0.3, -0.2]), "margin"), [1.0, 0.0])


def test_value_scale_follows_the_judge() -> None:
    def cfg(**kw: object) -> JudgeConfig:
        return JudgeConfig.model_validate(kw)

    assert value_scale(cfg(type="oracle"), "episode") == "probability"
    assert value_scale(cfg(type="gguf"), "episode") == "margin"
    assert value_scale(cfg(type="embedding"), "episode") == "similarity"
    assert value_scale(cfg(type="openai"), "episode") == "probability"  # a JSON verdict
    assert value_scale(cfg(type="openai", form="pointwise"), "episode") == "margin"  # yes/no log-prob margin
    assert value_scale(cfg(type="openai", form="pointwise", client={"logprobs": False}), "episode") == "probability"


@pytest.mark.parametrize("n", [4, 5, 50])
def test_otsu_threshold_lies_inside_the_range(n: int) -> None:
    v = np.random.default_rng(n).uniform(size=n)
    assert v.min() <= otsu_threshold(v) <= v.max()
