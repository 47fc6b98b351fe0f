"""``eval.curve_every``: the true-reward learning curve has the expected points and changes nothing the agent learns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from stable_baselines3 import PPO, SAC

from judgerl.config import load_config
from judgerl.evaluation.logger import read_metrics
from judgerl.loop import run
from judgerl.testing.metrics_docs import assert_documented

PPO_RUN = [
    "task.id=cartpole/balance-v0",
    "iterations=2",
    "collect_steps=300",
    "env.n_envs=4",
    "agent.algo=PPO",
    "agent.total_timesteps=1024",
    "labels.total=12",
    "reward.epochs=5",
    "eval.episodes=2",
    "eval.fresh_agent=false",
    "eval.gif_frames=0",
]
SAC_RUN = [
    "task.id=pendulum/swingup-v0",
    "iterations=2",
    "collect_steps=200",
    "agent.algo=SAC",
    "agent.total_timesteps=600",
    "labels.total=8",
    "reward.epochs=5",
    "eval.episodes=1",
    "eval.fresh_agent=false",
    "eval.gif_frames=0",
]
CURVE = [
    "eval.curve_every=200",
    "eval.curve_episodes=2",
    "eval.curve_random_return=-1200",
    "eval.curve_expert_return=-150",
]


def _run(tmp_path: Path, name: str, base: list[str], extra: list[str]) -> Path:
    return run(load_config(None, [*base, f"runs_dir={tmp_path}", f"name={name}", *extra]))


def _curve(run_dir: Path) -> list[dict[str, Any]]:
    return [r for r in read_metrics(run_dir) if r["stage"] == "curve"]


def _same_learning(a: Path, b: Path, algo: type[PPO] | type[SAC]) -> None:
    """Same final weights and the same per-iteration training and evaluation numbers (times aside)."""
    wa, wb = (algo.load(d / "agent.zip", device="cpu").policy.state_dict() for d in (a, b))
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)

    def iters(d: Path) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in r.items() if not k.startswith("time") and "seconds" not in k}
            for r in read_metrics(d)
            if r["stage"] == "iteration"
        ]

    assert iters(a) == iters(b)


@pytest.mark.parametrize(("algo", "base", "want"), [(PPO, PPO_RUN, 5), (SAC, SAC_RUN, 3)])
def test_curve_points_and_the_agent_learns_the_same_without_them(
    tmp_path: Path, algo: type[PPO] | type[SAC], base: list[str], want: int
) -> None:
    # PPO: 1024 steps over 2 iterations, the step count moving 4 (n_envs) at a time: points at 200 ... 1000.
    # SAC: 600 steps, one env: points at 200, 400, 600.
    on = _run(tmp_path, "with_curve", base, CURVE)
    off = _run(tmp_path, "without_curve", base, [])
    points = _curve(on)
    steps = [p["eval/curve_env_steps"] for p in points]
    assert steps == [200.0 * (i + 1) for i in range(want)]
    assert [p["step"] for p in points] == [int(s) for s in steps]
    walls = [p["eval/curve_wall_s"] for p in points]
    assert walls == sorted(walls) and walls[0] > 0
    for p in points:
        assert p["eval/curve_normalized"] == pytest.approx((p["eval/curve_return"] + 1200) / 1050)
    assert _curve(off) == []
    _same_learning(on, off, algo)
    assert_documented(on)


def test_curve_in_online_mode_without_baselines(tmp_path: Path) -> None:
    run_dir = _run(
        tmp_path,
        "online",
        SAC_RUN,
        ["labels.mode=online", "judge.type=oracle", "eval.curve_every=300", "eval.curve_episodes=1"],
    )
    points = _curve(run_dir)
    assert [p["eval/curve_env_steps"] for p in points] == [300.0, 600.0]
    assert all("eval/curve_normalized" not in p for p in points)  # no baselines given: no normalised score
    assert json.loads((run_dir / "eval.json").read_text())["budget/env_steps_train"] == 600.0
