"""`judgerl sweep` end to end: a local Ray on loopback and local subprocesses give the same runs; resume skips.

2 grid values x 2 seeds of a tiny oracle-judged CartPole run (a few hundred steps), each backend running
2 at once. Measured at load average 5-8 on the 2 shared cores: ~35-40 s per backend (each run ~4 s of
imports and ~4 s of report; Ray's start ~6 s), ~85 s for the test. Kept in the default tier: it is the
evidence that a Ray sweep reproduces the runs, and Ray on loopback is what CI must exercise.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from judgerl.testing.cli import cli

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


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray not installed: pip install -e '.[ray]'")
def test_ray_sweep_on_loopback_matches_the_local_backend_and_resumes(tmp_path: Path) -> None:
    local, ray_out = tmp_path / "local", tmp_path / "ray"
    res = cli("sweep", *TINY_SWEEP, "--backend", "local", "--jobs", "2", "--out", str(local), timeout=400)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    res = cli("sweep", *TINY_SWEEP, "--num-cpus", "2", "--out", str(ray_out), timeout=400)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    summary = json.loads((ray_out / "sweep.json").read_text())
    assert summary["backend"] == "ray" and [r["status"] for r in summary["runs"]] == ["done"] * 4
    assert len({r["pid"] for r in summary["runs"]}) == 4, "each run in a fresh worker process (max_calls=1)"
    assert [p["finished"] for p in summary["points"]] == [2, 2]
    assert (ray_out / "sweep.png").stat().st_size > 1000 and "± " in (ray_out / "sweep.md").read_text()
    for r in summary["runs"]:  # each run its own directory and label store
        assert (ray_out / "runs" / r["name"] / "labels.sqlite").exists() and "eval/fresh/return_mean" in r["metrics"]
    ray_evals = _evals(ray_out)
    assert ray_evals == _evals(local)  # exact: seeded runs, one BLAS thread, a fresh process each
    assert len({json.dumps(v, sort_keys=True) for v in ray_evals.values()}) > 1  # the runs do differ

    # Re-running skips the finished runs; a run whose directory is gone runs again, with the same numbers.
    shutil.rmtree(local / "runs" / RUNS[3])
    again = cli("sweep", *TINY_SWEEP, "--backend", "local", "--out", str(local), timeout=400)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "4 runs, 3 finished already, 1 to run" in again.stdout
    statuses = {r["name"]: r["status"] for r in json.loads((local / "sweep.json").read_text())["runs"]}
    assert statuses == {**dict.fromkeys(RUNS[:3], "skipped"), RUNS[3]: "done"}
    assert _evals(local) == ray_evals
