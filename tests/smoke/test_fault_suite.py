"""The fault suite: a real run killed with SIGKILL at the places it writes, then resumed, equals an uninterrupted one.

Every run here is ``judgerl run`` in a process of its own (forked from a preloaded interpreter,
``judgerl.testing.forked``: the same command without 3 s of imports), asking a fake OpenAI-compatible
server on 127.0.0.1 (one server per run, so its request log is the evidence of
what was paid). A run is killed by ``JUDGERL_KILL_AT=<point>@<n>`` (the n-th pass
through a write, ``judgerl.faults``), resumed with the same command, and compared
with the uninterrupted run of the same config:

- labels lost 0: the same label rows (query, status, answer), each query stored once;
- labels paid twice 0: as many requests reached the server as in the uninterrupted run;
- budgets exact: the same env steps trained and collected, the same labels and
  requests counted; steps a kill threw away appear in ``budget/env_steps_repeated``;
- the same reward-model inputs and the same agents: the final reward model and the
  final evaluation are identical (iterations restart from reproducible states).

Two kill points and one full disk run in the default tier; the whole list (16 kill
points: every write point, early and late passes; a full disk after each kind of
write) runs with ``make test-slow``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from judgerl.testing.fake_openai import FakeOpenAIServer
from judgerl.testing.forked import run_forked
from judgerl.testing.metrics_docs import assert_documented

CONFIG = [
    "task.id=cartpole/balance-v0",
    "query.kind=pairwise",
    "judge.type=openai",
    "judge.client.model=fake",
    "judge.client.api_key_env=",
    "judge.client.concurrency=1",
    "judge.client.logprobs=false",
    "iterations=2",
    "collect_steps=200",
    "labels.total=8",
    "agent.total_timesteps=512",
    "env.n_envs=4",
    "reward.epochs=5",
    "eval.episodes=2",
    "eval.fresh_timesteps=256",
    "eval.gif_frames=0",  # no GIF write is a kill point; the GIFs have their own test (tests/unit/test_report.py)
]
# (point, n): the n-th pass. Two iterations of 4 labels each, one reward and one agent checkpoint per
# iteration (checkpoint 1 = reward model it 0, 2 = agent it 0, 3 = reward it 1, 4 = agent it 1, 5 = fresh agent).
QUICK = [("label", 6), ("checkpoint", 2)]
ALL = [
    ("label", 1),
    ("label", 4),
    ("label", 6),
    ("queries", 1),
    ("queries", 2),
    ("state", 2),
    ("state", 4),
    ("state", 7),
    ("checkpoint-files", 2),
    ("checkpoint-files", 3),
    ("checkpoint", 1),
    ("checkpoint", 2),
    ("checkpoint", 4),
    ("checkpoint", 5),
    ("eval_json", 1),
    ("report", 1),
]


def judgerl_run(
    runs_dir: Path,
    name: str,
    base_url: str,
    kill: str | None = None,
    fault: str = "JUDGERL_KILL_AT",
    extra: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("JUDGERL_KILL_AT", "JUDGERL_DISK_FULL_AT")}
    if kill is not None:
        env[fault] = kill
    sets = [*CONFIG, *extra, f"runs_dir={runs_dir}", f"name={name}", f"judge.client.base_url={base_url}"]
    # --force: the fake server answers "A" to every pair, which the preflight rightly fails.
    return run_forked("run", "--force", "--set", *sets, env=env, timeout=300)


def label_rows(run_dir: Path) -> list[tuple[str, str, float | None, float | None]]:
    with sqlite3.connect(run_dir / "labels.sqlite") as con:
        rows = con.execute("SELECT query_key, status, preference, value FROM labels WHERE transient = 0").fetchall()
    return sorted(rows)


def reward_weights(run_dir: Path) -> list[torch.Tensor]:
    blob = torch.load(run_dir / "reward_model.pt", weights_only=True)
    return [t for member in blob["members"] for t in member.values()]


def agent_weights(run_dir: Path) -> list[torch.Tensor]:
    from stable_baselines3 import PPO

    return list(PPO.load(run_dir / "agent.zip", device="cpu").policy.state_dict().values())


def complete_run(
    runs_dir: Path, name: str, kill: str | None, disk_full: bool = False, extra: tuple[str, ...] = ()
) -> tuple[Path, int]:
    """Run (killed, or out of disk, at ``kill``; then resumed); returns the run dir and the requests the server saw."""
    with FakeOpenAIServer() as srv:
        if kill is not None and disk_full:
            full = judgerl_run(runs_dir, name, srv.base_url, kill, fault="JUDGERL_DISK_FULL_AT", extra=extra)
            assert full.returncode == 3, f"rc {full.returncode}\n{full.stderr[-2000:]}"
            assert "disk full" in full.stderr and "Traceback" not in full.stderr
        elif kill is not None:
            killed = judgerl_run(runs_dir, name, srv.base_url, kill, extra=extra)
            assert killed.returncode == -9, (
                f"the run did not die at {kill}: rc {killed.returncode}\n{killed.stderr[-2000:]}"
            )
        done = judgerl_run(runs_dir, name, srv.base_url, extra=extra)
        assert done.returncode == 0, done.stderr[-3000:]
        return runs_dir / name, srv.stats["requests"]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    return complete_run(tmp_path_factory.mktemp("faults"), "uninterrupted", None)


def check_equivalent(baseline: tuple[Path, int], run_dir: Path, requests: int) -> None:
    ref_dir, ref_requests = baseline
    ref, got = label_rows(ref_dir), label_rows(run_dir)
    assert got == ref, "labels differ from the uninterrupted run (lost or different)"
    assert len({row[0] for row in got}) == len(got), "a query has two stored labels"
    assert requests == ref_requests, f"the server answered {requests} requests, the uninterrupted run {ref_requests}"
    ev, ref_ev = (json.loads((d / "eval.json").read_text()) for d in (run_dir, ref_dir))
    for key in ("budget/env_steps_train", "budget/env_steps_collect", "budget/env_steps_fresh", "labels/total"):
        assert ev[key] == ref_ev[key], key
    assert ev["judge/requests"] == ref_ev["judge/requests"] == ref_requests
    total = ev["budget/env_steps_train"] + ev["budget/env_steps_collect"] + ev["budget/env_steps_repeated"]
    assert ev["budget/env_steps_total"] == total
    for a, b in zip(reward_weights(run_dir), reward_weights(ref_dir), strict=True):
        assert torch.equal(a, b), "the final reward model was fitted on other inputs"
    for key in ("eval/return_mean", "eval/fresh/return_mean", "eval/random/return_mean"):
        assert np.isclose(ev[key], ref_ev[key]), key


@pytest.mark.parametrize(("point", "n"), QUICK, ids=[f"{p}@{n}" for p, n in QUICK])
def test_killed_and_resumed_run_equals_the_uninterrupted_one(
    baseline: tuple[Path, int], tmp_path: Path, point: str, n: int
) -> None:
    run_dir, requests = complete_run(tmp_path, "killed", f"{point}@{n}")
    check_equivalent(baseline, run_dir, requests)


@pytest.mark.slow
@pytest.mark.parametrize(("point", "n"), ALL, ids=[f"{p}@{n}" for p, n in ALL])
def test_every_kill_point(baseline: tuple[Path, int], tmp_path: Path, point: str, n: int) -> None:
    run_dir, requests = complete_run(tmp_path, "killed", f"{point}@{n}")
    check_equivalent(baseline, run_dir, requests)


def test_return_normalisation_resumes_exactly(tmp_path: Path) -> None:
    # The running std of the discounted returns lives in the mixer's saved state (decision 0056); a resumed
    # run that restarted it would hand the agent differently scaled rewards and train another agent.
    extra = ("reward.mix.normalize_return=true",)
    reference = complete_run(tmp_path / "ref", "uninterrupted", None, extra=extra)
    run_dir, requests = complete_run(tmp_path / "killed", "killed", "checkpoint@2", extra=extra)
    check_equivalent(reference, run_dir, requests)
    # The evaluation's returns can agree for agents that differ; the final agents' weights cannot.
    for a, b in zip(agent_weights(run_dir), agent_weights(reference[0]), strict=True):
        assert torch.equal(a, b), "the resumed run trained another agent"
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert any("reward/return_std" in row for row in rows)
    assert_documented(run_dir)


def test_a_run_killed_inside_an_iterations_training_resumes_from_the_save_made_there(
    baseline: tuple[Path, int], tmp_path: Path
) -> None:
    # agent.checkpoint_every_s tiny: the first save inside training comes at the first rollout start after the
    # iteration's first (later ones wait 49 x a save's seconds, timing-dependent, so the test uses the first).
    # A rollout is 32 steps x 4 envs = 128 agent steps: checkpoint 1 is the reward model of iteration 0,
    # checkpoint 2 the agent at 128 steps, inside iteration 0's training of 256.
    every = ("agent.checkpoint_every_s=0.000001",)
    run_dir = tmp_path / "killed"
    with FakeOpenAIServer() as srv:
        killed = judgerl_run(tmp_path, "killed", srv.base_url, "checkpoint@2", extra=every)
        assert killed.returncode == -9, f"rc {killed.returncode}\n{killed.stderr[-2000:]}"
        meta = json.loads((run_dir / "agent.zip.meta.json").read_text())
        assert (meta["stage"], meta["iteration"], meta["num_timesteps"]) == ("training", 0, 128)
        assert json.loads((run_dir / "state.json").read_text())["iteration"] == 0
        done = judgerl_run(tmp_path, "killed", srv.base_url, extra=every)
        assert done.returncode == 0, done.stderr[-3000:]
        requests = srv.stats["requests"]
    assert "iteration 0 resumes its training at step 128" in done.stdout
    ev = json.loads((run_dir / "eval.json").read_text())
    # Only the rest of iteration 0 was trained after the resume: nothing thrown away, nothing trained twice.
    assert ev["budget/env_steps_repeated"] == 0
    # Iteration 1 collected with an agent that went on from new episodes, so its queries are other ones than
    # the uninterrupted run's; the counts, the requests (nothing paid twice) and the budgets are the same.
    ref_dir, ref_requests = baseline
    ref_ev = json.loads((ref_dir / "eval.json").read_text())
    assert requests == ref_requests and len(label_rows(run_dir)) == len(label_rows(ref_dir))
    for key in ("budget/env_steps_train", "budget/env_steps_collect", "budget/env_steps_total", "labels/total"):
        assert ev[key] == ref_ev[key], key


def test_a_run_killed_in_its_final_evaluation_goes_on_from_the_fresh_agent_and_baseline_it_saved(
    baseline: tuple[Path, int], tmp_path: Path
) -> None:
    # Killed right after the fresh agent's save at 128 of its 256 steps (`saved:<stage>`, judgerl.faults), then
    # right after the true-reward baseline's, then resumed: each goes on from its save instead of starting over.
    every = ("agent.checkpoint_every_s=0.000001", "eval.true_reward_baseline=true")
    run_dir = tmp_path / "killed"
    stdout = []
    with FakeOpenAIServer() as srv:
        for kill, stem in (("fresh_agent", "fresh_agent"), ("baseline_true_reward", "baseline_true_reward")):
            killed = judgerl_run(tmp_path, "killed", srv.base_url, f"saved:{kill}_training@1", extra=every)
            assert killed.returncode == -9, f"rc {killed.returncode}\n{killed.stderr[-2000:]}"
            meta = json.loads((run_dir / f"{stem}.zip.meta.json").read_text())
            assert (meta["stage"], meta["num_timesteps"]) == (f"{kill}_training", 128)
            stdout.append(killed.stdout)
        done = judgerl_run(tmp_path, "killed", srv.base_url, extra=every)
        assert done.returncode == 0, done.stderr[-3000:]
        requests = srv.stats["requests"]
    assert "fresh agent resumes at step 128" in stdout[1]
    assert "fresh agent resumes at step 256 (its training was done)" in done.stdout
    assert "baseline true reward resumes at step 128" in done.stdout
    for stem in ("fresh_agent", "baseline_true_reward"):
        meta = json.loads((run_dir / f"{stem}.zip.meta.json").read_text())
        assert (meta["stage"], meta["num_timesteps"]) == (stem, 256)
    ev = json.loads((run_dir / "eval.json").read_text())
    ref_dir, ref_requests = baseline
    ref_ev = json.loads((ref_dir / "eval.json").read_text())
    # Nothing trained twice: the fresh agent's budget is its 256 steps, as in the uninterrupted run.
    assert ev["budget/env_steps_fresh"] == ref_ev["budget/env_steps_fresh"] == 256
    assert requests == ref_requests and label_rows(run_dir) == label_rows(ref_dir)
    # Saving touches no random stream: the co-trained agent is the uninterrupted run's.
    assert np.isclose(ev["eval/return_mean"], ref_ev["eval/return_mean"])
    assert np.isfinite(ev["eval/true_reward/return_mean"]) and "eval/normalized_score" in ev


# A full disk after one write of each kind (the next write fails with ENOSPC); the first runs by default.
DISK_FULL = [
    ("label", 3),
    *(
        pytest.param(p, n, marks=pytest.mark.slow)
        for p, n in [("queries", 2), ("state", 4), ("checkpoint-files", 2), ("checkpoint", 2), ("eval_json", 1)]
    ),
]
DISK_FULL_IDS = ["label@3", "queries@2", "state@4", "checkpoint-files@2", "checkpoint@2", "eval_json@1"]


@pytest.mark.parametrize(("point", "n"), DISK_FULL, ids=DISK_FULL_IDS)
def test_a_full_disk_stops_the_run_cleanly_and_it_resumes_once_space_is_freed(
    baseline: tuple[Path, int], tmp_path: Path, point: str, n: int
) -> None:
    # The disk fills right after a write (the next write fails with ENOSPC): one line, exit 3, and the
    # resumed run (space freed: no more injected failures) ends exactly as the uninterrupted one.
    run_dir, requests = complete_run(tmp_path, "full", f"{point}@{n}", disk_full=True)
    check_equivalent(baseline, run_dir, requests)
