"""End-to-end CLI runs on a tiny budget: artifacts, budgets, resume after SIGKILL, config errors.

The first run, SAC on discrete actions and ``--help`` are ``judgerl`` subprocesses, as a user starts them
(a fresh interpreter). The runs that are killed, the config errors and ``report`` run in processes of their
own forked from an interpreter that has imported the third-party libraries (``judgerl.testing.forked``:
the same command and exit status, no 3 s of imports). A command whose process is not what is tested (the
rerun of a finished run, a resume, the preflight's refusal) calls ``judgerl.cli.main`` in this process.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from judgerl.labels.store import LabelStore
from judgerl.reward.ensemble import RewardEnsemble
from judgerl.testing.cli import TINY_RUN, cli, cli_in_process, label_rows, sets
from judgerl.testing.forked import ForkedCommand, run_forked
from judgerl.testing.metrics_docs import assert_documented

TINY = TINY_RUN


def run_then_sigkill(args: list[str], ready: Callable[[], bool], timeout: float) -> None:
    """Start ``judgerl run ARGS``, wait until ``ready()`` (or ``timeout`` s), then SIGKILL it."""
    proc = ForkedCommand(["run", *args])
    deadline = time.time() + timeout
    while time.time() < deadline and not ready():
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()


def test_run_writes_every_artifact_and_counts_budgets(tmp_path: Path) -> None:
    res = cli("run", *sets([*TINY, f"runs_dir={tmp_path}", "name=tiny"]))
    assert res.returncode == 0, res.stderr[-3000:]
    run = tmp_path / "tiny"
    for name in (
        "config.yaml",
        "labels.sqlite",
        "reward_model.pt",
        "agent.zip",
        "fresh_agent.zip",
        "metrics.jsonl",
        "eval.json",
        "report.html",
    ):
        assert (run / name).exists(), name
    ev = json.loads((run / "eval.json").read_text())
    for key in (
        "eval/return_mean",
        "eval/return_std",
        "eval/success_rate",
        "eval/episodes",
        "eval/random/return_mean",
        "eval/fresh/return_mean",
    ):
        assert key in ev, key
    assert ev["eval/episodes"] == 2
    # Budgets mean what they say: every collected and trained step is counted, labels exactly as planned.
    assert ev["budget/env_steps_collect"] == 600
    assert 0 < ev["budget/env_steps_train"] <= 1024
    assert ev["budget/env_steps_repeated"] == 0
    # 600 fresh steps are rounded down to whole PPO rollouts (8 envs x 32 steps), never overshot.
    assert ev["budget/env_steps_fresh"] == 512
    assert ev["budget/env_steps_total"] == ev["budget/env_steps_collect"] + ev["budget/env_steps_train"]
    assert ev["labels/ok"] == 12
    assert len(label_rows(run / "labels.sqlite")) == 12
    assert "eval/return_mean" in (run / "report.html").read_text()
    # The reward is clipped to the states the judge was shown (reward.clip_to_data, on by default).
    bounds = RewardEnsemble.load(run / "reward_model.pt").obs_bounds
    with LabelStore(run / "labels.sqlite") as store:
        shown = np.concatenate([s.obs[s.dones == 0] for q, _ in store.labelled(min_iteration=0) for s in q.segments])
    assert bounds is not None
    np.testing.assert_array_equal(bounds[0], shown.min(axis=0))
    np.testing.assert_array_equal(bounds[1], shown.max(axis=0))

    # A second run on a finished directory changes nothing and buys nothing.
    again = cli_in_process("run", *sets([*TINY, f"runs_dir={tmp_path}", "name=tiny"]))
    assert again.returncode == 0
    assert "already complete" in again.stdout
    assert len(label_rows(run / "labels.sqlite")) == 12

    report = run_forked("report", str(run))
    assert report.returncode == 0 and "report.html" in report.stdout
    assert_documented(run)


# The fault suite's label@6 kill (tests/smoke/test_fault_suite.py) checks the same and more (the server's
# request log, budgets, the reward model) at a fixed point; this kill at a random moment runs in test-slow.
@pytest.mark.slow
def test_sigkill_during_labelling_loses_nothing_and_reasks_nothing(tmp_path: Path) -> None:
    args = sets(
        [
            *TINY,
            f"runs_dir={tmp_path}",
            "name=killed",
            "judge.type=scripted",
            "judge.delay_s=0.1",
            "labels.total=40",
            "labels.initial_fraction=0.9",
            "iterations=2",
        ]
    )
    db = tmp_path / "killed" / "labels.sqlite"

    def enough_labels() -> bool:
        try:
            return db.exists() and len(label_rows(db)) >= 8
        except sqlite3.OperationalError:
            return False

    run_then_sigkill(args, enough_labels, timeout=90)
    stored = label_rows(db)
    assert 8 <= len(stored) < 40, "the kill must land in the middle of labelling"

    res = cli_in_process("run", *args)
    assert res.returncode == 0, res.stderr[-3000:]
    final = label_rows(db)
    keys = [k for k, _ in final]
    # Nothing lost: every label stored before the kill is still there, exactly once (never asked again).
    for key, _ in stored:
        assert keys.count(key) == 1
    assert len(set(keys)) == len(keys) == 40
    ev = json.loads((tmp_path / "killed" / "eval.json").read_text())
    assert ev["labels/ok"] == 40


def test_sigkill_during_training_counts_the_steps_thrown_away(tmp_path: Path) -> None:
    args = sets(
        [
            *TINY,
            f"runs_dir={tmp_path}",
            "name=killed_training",
            "iterations=1",
            # ~3-5 s of training: the ledger writes at most once a second, so the kill lands after its
            # first write (>= 512 steps) with seconds to spare before training ends
            "agent.total_timesteps=10240",
            "eval.fresh_agent=false",
        ]
    )
    state_path = tmp_path / "killed_training" / "state.json"

    def training_under_way() -> bool:
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError, KeyError):
            return json.loads(state_path.read_text())["extra"].get("in_flight", {}).get("train", 0) >= 512
        return False

    run_then_sigkill(args, training_under_way, timeout=120)
    assert not (tmp_path / "killed_training" / "agent.zip").exists(), "the kill must land in the middle of training"
    recorded = json.loads(state_path.read_text())["extra"]["in_flight"]["train"]
    assert recorded >= 512

    res = cli_in_process("run", *args)
    assert res.returncode == 0, res.stderr[-3000:]
    ev = json.loads((tmp_path / "killed_training" / "eval.json").read_text())
    # The resumed run trains the full budget again; what the killed process trained is counted, not hidden.
    assert ev["budget/env_steps_train"] == 10240
    assert ev["budget/env_steps_repeated"] == recorded
    assert ev["budget/env_steps_total"] == 300 + 10240 + recorded


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("labels.totl=5", "labels.totl"),
        ("labels.total=-3", "labels.total"),
        ("agent.algo=A2C", "agent.algo"),
        ("task.id=pendulum/swingup-v9", "task.id"),
        ("reward.ensemble_size=many", "reward.ensemble_size"),
    ],
)
def test_config_errors_name_the_field_without_traceback(tmp_path: Path, override: str, needle: str) -> None:
    res = run_forked("run", "--set", f"runs_dir={tmp_path}", "--set", override, timeout=60)
    assert res.returncode == 2
    assert needle in res.stderr
    assert "Traceback" not in res.stderr
    assert not any(tmp_path.iterdir()), "no work may start on an invalid config"


def test_sac_on_discrete_actions_is_refused_before_work(tmp_path: Path) -> None:
    res = cli("run", *sets([f"runs_dir={tmp_path}", "task.id=cartpole/balance-v0", "agent.algo=SAC"]), timeout=60)
    assert res.returncode == 2
    assert "agent.algo" in res.stderr and "SAC" in res.stderr
    assert "Traceback" not in res.stderr


def test_help_lists_config_fields() -> None:
    res = cli("run", "--help", timeout=60)
    assert res.returncode == 0
    for key in ("labels.total", "judge.oracle.flip_prob", "agent.total_timesteps", "eval.fresh_agent"):
        assert key in res.stdout


def test_run_refuses_a_failing_judge_unless_forced(tmp_path: Path) -> None:
    """A model judge whose answers never parse fails its preflight: no RL compute is spent on it."""
    from judgerl.testing.fake_openai import FakeOpenAIServer

    with FakeOpenAIServer(latency_s=0.0, responder=lambda request: "perhaps, it depends") as server:
        args = sets(
            [
                f"runs_dir={tmp_path}",
                "name=bad-judge",
                "judge.type=openai",
                f"judge.client.base_url={server.base_url}",
                "judge.client.model=fake",
                "judge.client.max_retries=0",
                "query.kind=pointwise",
            ]
        )
        res = cli_in_process("run", *args)
    assert res.returncode == 2, res.stderr[-2000:]
    assert "preflight" in res.stderr and "--force" in res.stderr
    assert "invalid_rate" in res.stdout  # the table was shown
    assert not (tmp_path / "bad-judge" / "agent.zip").exists()
    assert (tmp_path / "bad-judge" / "preflight.json").exists()
