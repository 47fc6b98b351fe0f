"""labels.online_fit_process: the online refits in a child process give the very model a fit in the thread gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from judgerl.child_process import HelperProcessError
from judgerl.config import load_config
from judgerl.forms import TargetPlan
from judgerl.forms.registry import get_form
from judgerl.judges.oracle import OracleJudge
from judgerl.labels.store import LabelStore
from judgerl.reward.fit_process import ProcessFitter
from judgerl.reward.online_fit import BackgroundFitter
from judgerl.reward.registry import RewardSpec, get_reward_entry
from judgerl.testing.fixtures import make_segment
from judgerl.types import Query, TaskSpec

TASK = TaskSpec(
    id="test/tiny-v0",
    instruction="Keep the pole up.",
    env_id="Tiny-v0",
    captioner=lambda o: "a pole",
    success=lambda r, o: r > 0,
)
RUN = "run-a"


def _ensemble() -> Any:
    spec = RewardSpec(
        TASK,
        gym.spaces.Box(-1.0, 1.0, (2,), np.float32),
        gym.spaces.Box(-1.0, 1.0, (1,), np.float32),
        load_config(None, ["reward.epochs=3"]),
        seed=0,
    )
    return get_reward_entry("preference_ensemble").build(spec)


def _label(store: LabelStore, judge: OracleJudge, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    queries = [Query("pairwise", (make_segment(a, 5), make_segment(b, 5))) for a, b in rng.normal(size=(n, 2))]
    store.add_queries(queries, iteration=0, run_id=RUN)
    for label in judge.judge(TASK, queries):
        store.put_label(judge.id, label, run_id=RUN)


def _fitter(cls: type[BackgroundFitter], model: Any, store: LabelStore, judge_id: str, **kw: Any) -> Any:
    n = len(store.labelled(judge_id, min_iteration=0, run_id=RUN))
    return cls(
        model,
        store,
        judge_id,
        RUN,
        get_form("pairwise"),
        TargetPlan(),
        count=lambda: n,
        refit_every=1,
        path=None,
        seed=7,
        iteration=lambda: 0,
        **kw,
    )


def test_a_fit_in_the_process_equals_a_fit_in_the_thread_and_survives_a_dead_child(tmp_path: Path) -> None:
    judge = OracleJudge()
    probe = np.random.default_rng(1).normal(size=(64, 2)).astype(np.float32)
    acts = np.zeros((64, 1), np.float32)
    model = _ensemble()
    with LabelStore(tmp_path / "labels.sqlite") as store:
        _label(store, judge, 24, seed=0)
        here = _fitter(BackgroundFitter, model, store, judge.id)
        there = _fitter(ProcessFitter, model, store, judge.id, threads=1)
        try:
            assert there.fit_now() and here.fit_now()
            a, b = here.take(), there.take()
            np.testing.assert_array_equal(a.predict(probe, acts), b.predict(probe, acts))
            untimed = [{k: v for k, v in f.last_metrics.items() if "seconds" not in k} for f in (here, there)]
            assert untimed[0] == untimed[1] and "reward/train_accuracy" in untimed[0]
            # Kill the child between fits: the next fit starts a new one from the last fitted model (the warm
            # start goes on) and gives the thread's second fit again.
            there._child.proc.kill()
            there._child.proc.wait()
            _label(store, judge, 8, seed=1)
            assert here.fit_now() and there.fit_now()
            assert there.restarts == 1 and there.fits == 2
            a, b = here.take(), there.take()
            np.testing.assert_array_equal(a.predict(probe, acts), b.predict(probe, acts))
            assert not np.array_equal(a.predict(probe, acts), model.predict(probe, acts))  # it did fit
            # The end of a run: the thread stops, one last fit runs in the same child, then the child ends.
            there.stop()
            _label(store, judge, 4, seed=2)
            assert there.fit_now() and there.restarts == 1 and there.fits == 3
        finally:
            there.close()
        assert not there._child.alive()
        with pytest.raises(RuntimeError, match="closed"):
            there.fit_now()


class _Unpicklable:
    """A reward model holding a lambda (pickle refuses it)."""

    def __init__(self) -> None:
        self.score = lambda x: x

    def fit(self, targets: Any, rng: np.random.Generator) -> dict[str, float]:
        return {}


def test_a_model_that_does_not_pickle_is_a_clear_error(tmp_path: Path) -> None:
    with LabelStore(tmp_path / "labels.sqlite") as store, pytest.raises(HelperProcessError, match="cannot be sent"):
        _fitter(ProcessFitter, _Unpicklable(), store, "oracle")
