"""Turning judge labels into yes/no verdicts: Otsu's cut for similarity scores, failures left out."""

from __future__ import annotations

import numpy as np
import pytest

from judgerl.study.labelling import otsu_threshold, verdicts
from judgerl.types import Label, Provenance


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


def test_similarity_verdicts_use_otsu_and_never_coerce_failures() -> None:
    values = [0.1, 0.12, 0.11, 0.13, 0.9, 0.88, 0.1]
    labels = [_label(v) for v in values] + [_label(None, "failed"), _label(None, "abstain")]
    got = verdicts(labels, "embedding")
    np.testing.assert_array_equal(got[:7], [0, 0, 0, 0, 1, 1, 0])
    assert np.isnan(got[7:]).all()
    # Verdict judges: the value is the verdict; gguf: the sign of the calibrated margin.
    np.testing.assert_array_equal(verdicts([_label(1.0), _label(0.0)], "oracle"), [1.0, 0.0])
    np.testing.assert_array_equal(verdicts([_label(0.3), _label(-0.2)], "gguf"), [1.0, 0.0])


@pytest.mark.parametrize("n", [4, 5, 50])
def test_otsu_threshold_lies_inside_the_range(n: int) -> None:
    v = np.random.default_rng(n).uniform(size=n)
    assert v.min() <= otsu_threshold(v) <= v.max()
