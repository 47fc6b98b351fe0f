"""The SB3 adapter: tuned defaults, learned-reward adjustments, user overrides, a silent logger."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from judgerl.agents import sb3
from judgerl.agents.sb3 import agent_hyperparams, make_agent
from judgerl.envs.factory import make_vec_env
from judgerl.tasks import get_task


def test_learned_reward_adjustments_apply_to_learned_agents_only(monkeypatch: pytest.MonkeyPatch) -> None:
    task = get_task("cartpole/balance-v0")
    # No built-in adjustment today (decision 0017): the learned-reward agent and its baseline are alike.
    learned = agent_hyperparams(task, "PPO", {}, 50_000)
    baseline = agent_hyperparams(task, "PPO", {}, 50_000, learned_reward=False)
    assert learned["gamma"] == baseline["gamma"] == 0.98  # the zoo's value
    # An adjustment reaches learned-reward agents only.
    monkeypatch.setitem(sb3._LEARNED_REWARD, ("cartpole/balance-v0", "PPO"), {"gamma": 0.995})
    learned = agent_hyperparams(task, "PPO", {}, 50_000)
    baseline = agent_hyperparams(task, "PPO", {}, 50_000, learned_reward=False)
    assert learned["gamma"] == 0.995 and baseline["gamma"] == 0.98
    assert {k: v for k, v in learned.items() if k not in ("gamma", "learning_rate", "clip_range")} == {
        k: v for k, v in baseline.items() if k not in ("gamma", "learning_rate", "clip_range")
    }
    # The user's keys win over both.
    assert agent_hyperparams(task, "PPO", {"gamma": 0.9}, 50_000)["gamma"] == 0.9
    # "lin_X" strings become linear schedules from X to 0.
    assert learned["learning_rate"](1.0) == pytest.approx(1e-3) and learned["learning_rate"](0.0) == 0.0


def test_replay_buffer_is_capped_by_the_run_length() -> None:
    task = get_task("pendulum/swingup-v0")
    assert agent_hyperparams(task, "SAC", {}, 5_000)["buffer_size"] == 5_000
    assert agent_hyperparams(task, "SAC", {}, 10)["buffer_size"] == 1_000


def test_agents_leave_no_sb3_log_folders_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # SB3's default logger creates an empty SB3-<date> folder in the temp dir on every learn().
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    task = get_task("cartpole/balance-v0")
    agent = make_agent("PPO", make_vec_env(task, 2, seed=0), task, 0, {"n_steps": 16, "batch_size": 32}, 64)
    agent.learn(64)
    agent.learn(32, reset_num_timesteps=False)
    assert not list(tmp_path.glob("SB3-*"))
