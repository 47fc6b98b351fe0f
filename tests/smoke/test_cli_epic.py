"""``judgerl evaluate --against`` and ``judgerl sweep-alpha`` end to end on tiny runs.

Each command runs once in a process of its own (``run_forked``: forked from an interpreter that has
imported torch and the other third-party libraries; every judgerl module is imported afresh); its other
calls here (the run that ``evaluate`` reads, a second comparison, the error cases, the rerun of a sweep)
call ``judgerl.cli.main`` in this process.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from judgerl.testing.cli import TINY_RUN, cli_in_process, sets
from judgerl.testing.forked import run_forked
from judgerl.testing.metrics_docs import assert_documented

FAST = [*TINY_RUN, "eval.fresh_agent=false"]


def _metrics(stdout: str) -> dict[str, float]:
    return json.loads(stdout[stdout.index("{") :])


def test_evaluate_against_true_and_against_itself(tmp_path: Path) -> None:
    res = cli_in_process("run", *sets([*FAST, f"runs_dir={tmp_path}", "name=a"]))
    assert res.returncode == 0, res.stderr[-3000:]
    run = tmp_path / "a"

    res = run_forked("evaluate", str(run), "--against", "true", "--coverage", "1024", "--mean-samples", "128")
    assert res.returncode == 0, res.stderr[-3000:]
    m = _metrics(res.stdout)
    assert 0.0 <= m["epic/true/distance"] < 0.7, m  # an oracle-trained reward: closer than unrelated (0.707)
    assert m["epic/true/stored_states"] > 100  # the run's collected segments are part of D_S
    assert m["epic/true/n_coverage"] == 1024
    stored = json.loads((run / "epic.json").read_text())
    assert stored["epic/true/distance"] == m["epic/true/distance"]
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["stage"] == "epic" and last["epic/true/distance"] == m["epic/true/distance"]

    # A reward against itself is at distance 0; the file keeps both comparisons.
    res = cli_in_process("evaluate", str(run), "--against", str(run), "--coverage", "512", "--mean-samples", "64")
    assert res.returncode == 0, res.stderr[-3000:]
    assert _metrics(res.stdout)["epic/a/distance"] == pytest.approx(0.0, abs=1e-6)
    assert set(json.loads((run / "epic.json").read_text())) >= {"epic/true/distance", "epic/a/distance"}
    assert_documented(run)


def test_evaluate_against_a_missing_run_or_reward_is_a_one_line_error(tmp_path: Path) -> None:
    res = cli_in_process("evaluate", str(tmp_path / "nope"), "--against", "true")
    assert res.returncode == 2 and "not a run directory" in res.stderr
    for name, yaml, says in (
        ("none", "reward: {model: none, mix: {env_weight: 1.0}}", "no reward model to compare"),
        ("unfitted", "reward: {model: preference_ensemble}", "holds no reward model yet"),
        ("homegrid", "task: {id: homegrid/cat-values-v0}\nreward: {model: zero_shot}", "no true reward"),
    ):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.yaml").write_text(yaml + "\n")
        res = cli_in_process("evaluate", str(tmp_path / name), "--against", "true")
        assert res.returncode == 2 and says in res.stderr and "Traceback" not in res.stderr, (name, res.stderr)


def test_sweep_alpha_writes_table_and_landscape_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    args = [
        "sweep-alpha",
        *sets(
            [
                "task.id=cartpole/balance-v0",
                "agent.total_timesteps=256",
                "iterations=1",
                "eval.episodes=2",
                "eval.gif_frames=0",  # a balancing agent's 500-frame GIFs cost ~9 s; tests/unit/test_report.py has them
            ]
        ),
        "--alphas",
        "0,1",
        "--seeds",
        "0",
        "--out",
        str(out),
        # 256 x 32 samples gave 0.046-0.056 (alpha 0) and 0.602-0.618 (alpha 1) over seeds 0-3, as at 512 x 64
        # (0.056, 0.604), with the generic end caption: the sampling noise is ~0.01, far below the bars' room.
        "--coverage",
        "256",
        "--mean-samples",
        "32",
    ]
    res = run_forked(*args, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    doc = json.loads((out / "sweep.json").read_text())
    assert [(r["alpha"], r["seed"]) for r in doc["rows"]] == [(0.0, 0), (1.0, 0)]
    for r in doc["rows"]:
        assert r["success_rate"] in (0.0, 0.5, 1.0) and r["return_mean"] > 0
        assert (Path(r["run_dir"]) / "report.html").exists()
    # alpha 0 is the closer reward on CartPole: 0.096 vs 0.274 at 4096 samples (benchmarks/results/zero_shot).
    # Below 0.4 at alpha 1 only with CartPole's end caption ("the pole has fallen over"): with "the episode is
    # over" the absorbing row scored near the live captions and alpha 1 was at 0.606 (decision 0041).
    epic = {r["alpha"]: r["epic_distance"] for r in doc["rows"]}
    assert epic[0.0] < 0.18 < epic[1.0] < 0.4, epic
    assert [s["alpha"] for s in doc["summary"]] == [0.0, 1.0]
    assert "| 0 | 1 |" in (out / "sweep.md").read_text()
    land = json.loads((out / "landscape.json").read_text())
    assert set(land["series"]) == {"alpha=0", "alpha=1"} and set(land["absorbing_offset"]) == set(land["series"])
    assert (out / "landscape.png").stat().st_size > 10_000
    # Rerunning skips the rows it holds (no new training).
    before = (out / "sweep.json").read_text()
    res = cli_in_process(*args)
    assert res.returncode == 0 and json.loads((out / "sweep.json").read_text())["rows"] == json.loads(before)["rows"]
