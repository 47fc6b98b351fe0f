"""The whole loop learns from oracle preferences, over several seeds (slow: `make test-slow`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from judgerl.config import load_config
from judgerl.loop import run

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("flip", [0.0, 0.1])
def test_cartpole_fresh_agent_beats_random_by_a_wide_margin_in_every_seed(tmp_path: Path, flip: float) -> None:
    """Three seeds, 120 labels: the fresh agent trained only on the learned reward balances the pole.

    Random play lasts ~22 steps (return ~22). The assertion asks every seed for at least 5x that and the
    mean over seeds for 8x, so one lucky seed cannot carry it. (Measured 2026-11-23 with 30k PPO steps:
    clean labels gave fresh returns 138 / 500 / 175, 10 % flips passed the same bars; a fresh PPO agent
    on a learned CartPole reward is unstable across seeds — see benchmarks/results/README.md.)
    """
    fresh, random = [], []
    for seed in (0, 1, 2):
        cfg = load_config(
            None,
            [
                f"name=s{seed}",
                f"runs_dir={tmp_path}",
                f"seed={seed}",
                "task.id=cartpole/balance-v0",
                "iterations=3",
                "collect_steps=1500",
                "agent.total_timesteps=30000",
                "labels.total=120",
                f"judge.oracle.flip_prob={flip}",
                "eval.episodes=10",
                "eval.fresh_timesteps=30000",
            ],
        )
        ev = json.loads((run(cfg) / "eval.json").read_text())
        fresh.append(ev["eval/fresh/return_mean"])
        random.append(ev["eval/random/return_mean"])
    assert max(random) < 40
    assert min(fresh) >= 5 * np.mean(random), fresh
    assert np.mean(fresh) >= 8 * np.mean(random), fresh
