"""`judgerl sweep` end to end: local subprocesses in the default tier, Ray on loopback in `make test-slow`.

A tiny oracle-judged CartPole run (a few hundred steps) per grid value and seed, each in its own process
(~4 s of imports and ~3 s of work and report). The default tier runs the local backend on 2 runs and a
resume that skips them (~10 s). The Ray test (6 runs and Ray's start, 26-31 s of a test worker's time and
more CPU in Ray's own processes) moved to `make test-slow` (issue 14 allows a marked tier for a slow Ray
start): it shows that Ray reproduces the local backend's runs exactly. Ray on loopback stays in CI through
tests/unit/test_score_pool.py (the scoring actors).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from judgerl.testing.forked import run_forked

TINY_SWEEP = [
    "--grid",
    "judge.oracle.flip_prob=0.0,0.2",
    "--seeds",
    "0..1",
    "--set",
    "task.id=cartpole/balance-v0",
    "iterations=1",
    "collect_steps=200",
    "agent.total_timesteps=256",
    "labels.total=6",
    "eval.episodes=1",
    "eval.fresh_timesteps=256",
    "reward.epochs=2",
    "eval.gif_frames=0",
]
RUNS = (
    "judge.oracle.flip_prob-0.0/s0",
    "judge.oracle.flip_prob-0.0/s1",
    "judge.oracle.flip_prob-0.2/s0",
    "judge.oracle.flip_prob-0.2/s1",
)


def _evals(out: Path) -> dict[str, dict[str, float]]:
    """Every run's eval.json, wall-clock keys dropped (the only numbers a seeded run may change)."""
    drop = ("time/", "judge/latency")
    return {
        name: {
            k: v
            for k, v in json.loads((out / "runs" / name / "eval.json").read_text()).items()
            if not k.startswith(drop)
        }
        for name in RUNS
    }


def test_local_sweep_runs_each_point_in_its_own_directory_and_resume_skips(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    args = ["sweep", *TINY_SWEEP, "--backend", "local", "--jobs", "2", "--out", str(out)]
    args[args.index("0..1")] = "0"  # one seed per grid value: two runs
    res = run_forked(*args, timeout=400)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    assert "2 runs, 0 finished already, 2 to run (local)" in res.stdout
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["backend"] == "local"
    assert {r["name"]: r["status"] for r in summary["runs"]} == {RUNS[0]: "done", RUNS[2]: "done"}
    assert len({r["pid"] for r in summary["runs"]}) == 2, "each run in its own process"
    assert [p["finished"] for p in summary["points"]] == [1, 1]
    for r in summary["runs"]:  # each run its own directory and label store, its metrics in the table
        assert (out / "runs" / r["name"] / "labels.sqlite").exists() and "eval/fresh/return_mean" in r["metrics"]
    table = (out / "sweep.md").read_text()
    assert "0.2" in table and (out / "sweep.png").stat().st_size > 1000
    before = {r["name"]: r["metrics"] for r in summary["runs"]}

    res = run_forked(*args, timeout=120)  # everything finished: nothing runs again, the table is the same
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    assert "2 runs, 2 finished already, 0 to run (local)" in res.stdout
    again = json.loads((out / "sweep.json").read_text())
    assert {r["name"]: r["status"] for r in again["runs"]} == {RUNS[0]: "skipped", RUNS[2]: "skipped"}
    assert {r["name"]: r["metrics"] for r in again["runs"]} == before


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray not installed: pip install -e '.[ray]'")
def test_ray_sweep_on_loopback_matches_the_local_backend_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    res = run_forked("sweep", *TINY_SWEEP, "--backend", "local", "--jobs", "2", "--out", str(out), timeout=400)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    local = json.loads((out / "sweep.json").read_text())
    assert local["backend"] == "local" and [r["status"] for r in local["runs"]] == ["done"] * 4
    local_evals = _evals(out)
    assert len({json.dumps(v, sort_keys=True) for v in local_evals.values()}) > 1  # the runs do differ

    # Ray resumes the local sweep: the finished runs are skipped, the runs whose directory is gone (one of
    # each grid point and each seed) run again on Ray, each in a fresh worker, with the very same numbers.
    again = (RUNS[1], RUNS[2])
    for name in again:
        shutil.rmtree(out / "runs" / name)
    res = run_forked("sweep", *TINY_SWEEP, "--num-cpus", "1", "--out", str(out), timeout=400)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    assert "4 runs, 2 finished already, 2 to run" in res.stdout
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["backend"] == "ray"
    runs = {r["name"]: r for r in summary["runs"]}
    assert {n: (r["status"], r["backend"]) for n, r in runs.items()} == {
        n: ("done", "ray") if n in again else ("skipped", "local") for n in RUNS
    }
    # One CPU: the two Ray runs ran one after the other, so two pids mean a fresh worker per run (max_calls=1).
    assert len({runs[n]["pid"] for n in again}) == 2, "each run in a fresh worker process (max_calls=1)"
    assert [p["finished"] for p in summary["points"]] == [2, 2]
    assert (out / "sweep.png").stat().st_size > 1000 and "± " in (out / "sweep.md").read_text()
    for r in summary["runs"]:  # each run its own directory and label store
        assert (out / "runs" / r["name"] / "labels.sqlite").exists() and "eval/fresh/return_mean" in r["metrics"]
    ray_evals = _evals(out)
    assert ray_evals == local_evals  # exact: seeded runs, one BLAS thread, a fresh process each
    assert ray_evals[again[0]] != ray_evals[again[1]]  # the runs Ray repeated differ from each other
