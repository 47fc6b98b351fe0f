"""Small hand-built data for tests and examples: segments with a chosen true return, a tiny task."""

from __future__ import annotations

import itertools

import numpy as np

from judgerl.types import Segment, TaskSpec

_counter = itertools.count()


def make_segment(ret: float, t: int = 3, captions: tuple[str, ...] = ()) -> Segment:
    """A segment whose true return is ``ret``: random observations ``(t, 2)``, zero actions ``(t, 1)``.

    Every call draws different observations, so two segments never share a content key.
    """
    rng = np.random.default_rng(next(_counter))
    return Segment(
        obs=rng.normal(size=(t, 2)).astype(np.float32),
        acts=np.zeros((t, 1), dtype=np.float32),
        env_rewards=np.full(t, ret / t, dtype=np.float32),
        dones=np.zeros(t, dtype=np.float32),
        captions=captions,
    )


def tiny_task(verdict: bool = True) -> TaskSpec:
    """A task with no real env, whose oracle verdict is "the segment's true return is positive"."""
    return TaskSpec(
        id="test/tiny-v0",
        instruction="Be good.",
        env_id="Tiny-v0",
        captioner=lambda o: "a state",
        success=lambda r, o: r > 0,
        oracle_verdict=(lambda s: s.true_return > 0) if verdict else None,
    )
