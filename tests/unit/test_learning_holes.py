"""Regression tests for the holes in what the agent learns from (issue: one pipeline for every seed).

Each test failed on the code before the fix:

- replay relabelling fed the reward model SAC's squashed actions ([-1, 1]) instead of the env's;
- a schedule with fewer PPO rollouts than iterations silently gave later iterations 0 training steps;
- pointwise-derived pairs were split into train/validation by pair, so one segment sat on both sides;
- ``import judgerl`` did not make ``gym.make("homegrid/cat-values-v0")`` work;
- the true-reward baseline could not be trained with the learned-reward agent's hyperparameters.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from stable_baselines3 import SAC

from judgerl.agents.replay import relabel_replay_buffer, replay_buffer_class
from judgerl.config import ConfigError, load_config, validate_references
from judgerl.envs.factory import make_vec_env
from judgerl.envs.reward_wrapper import LearnedRewardVecEnv
from judgerl.forms import TargetPlan, get_form
from judgerl.reward.config import MixConfig
from judgerl.reward.mixing import RewardMixer
from judgerl.tasks import get_task
from judgerl.testing.fixtures import make_segment
from judgerl.types import Label, Provenance, Query

PEND = get_task("pendulum/swingup-v0")


class ActionReward:
    """r = 3 * action (the raw env action, in [-2, 2] for Pendulum)."""

    def predict(self, obs: np.ndarray, acts: np.ndarray, dones: np.ndarray | None = None) -> np.ndarray:
        return (3.0 * acts[:, 0]).astype(np.float32)


@pytest.mark.parametrize("env_weight", [0.0, 1.0])
def test_relabelling_scores_the_env_actions_and_keeps_the_env_reward(env_weight: float) -> None:
    mixer = RewardMixer(MixConfig(env_weight=env_weight, learned_weight=1.0, normalize="none"), 1)
    venv = LearnedRewardVecEnv(make_vec_env(PEND, 1, seed=0), ActionReward(), mixer, absorbing_offset=False)
    sac = SAC(
        "MlpPolicy",
        venv,
        learning_starts=20,
        buffer_size=200,
        batch_size=16,
        seed=0,
        device="cpu",
        replay_buffer_class=replay_buffer_class(venv.observation_space),
    )
    sac.learn(120)
    buf = sac.replay_buffer
    n = buf.pos
    stored = buf.rewards[:n, 0].copy()
    buf.rewards[:n] = 0.0  # as if a refit had made them stale
    assert relabel_replay_buffer(sac, venv.reward_for) == n
    # The wrapper gave 3 * env action (+ env reward); relabelling must give exactly that back.
    np.testing.assert_allclose(buf.rewards[:n, 0], stored, rtol=1e-4, atol=1e-4)
    raw = sac.policy.unscale_action(buf.actions[:n, 0])
    np.testing.assert_allclose(
        buf.rewards[:n, 0], 3 * raw[:, 0] + env_weight * buf.env_rewards[:n, 0], rtol=1e-4, atol=1e-4
    )
    assert np.abs(buf.actions[:n, 0]).max() <= 1.0 < np.abs(raw).max()  # the buffer holds squashed actions


def test_a_schedule_with_no_training_in_later_iterations_is_refused() -> None:
    # homegrid's PPO rollout is 128 steps x 16 envs = 2048: 5 iterations need at least 10,240 steps.
    cfg = load_config(None, ["task.id=homegrid/cat-values-v0", "iterations=5", "agent.total_timesteps=8192"])
    with pytest.raises(ConfigError, match=r"agent.total_timesteps: .* at least 10240"):
        validate_references(cfg)
    validate_references(
        load_config(None, ["task.id=homegrid/cat-values-v0", "iterations=4", "agent.total_timesteps=8192"])
    )


def test_pointwise_pairs_never_put_a_segment_on_both_sides() -> None:
    form = get_form("pointwise")
    rows = []
    for i in range(120):
        seg = make_segment(float(i))
        q = Query("pointwise", (seg,))
        rows.append((q, Label(q.key, "ok", Provenance("j", "m"), value=float(i))))
    targets = form.targets(rows, np.random.default_rng(0), TargetPlan(val_fraction=0.25, pairs_per_score=6))
    train = {s.key for s, v in zip(targets.first + targets.second, np.tile(targets.val, 2), strict=True) if not v}
    val = {s.key for s, v in zip(targets.first + targets.second, np.tile(targets.val, 2), strict=True) if v}
    assert train and val and not (train & val)
    # Every target is ordered by the score, so a segment's side is its side in every fit.
    again = form.targets(rows, np.random.default_rng(1), TargetPlan(val_fraction=0.25, pairs_per_score=6))
    val_again = {s.key for s, v in zip(again.first + again.second, np.tile(again.val, 2), strict=True) if v}
    train_again = {s.key for s, v in zip(again.first + again.second, np.tile(again.val, 2), strict=True) if not v}
    # (Not val_again == val: a held-out segment the random pairing leaves out of one fit's pairs is in
    # neither set there; with make_segment's shared counter that happened for ~1 in 7 test orders.)
    assert val_again and not (val_again & train) and not (train_again & val)


def test_importing_judgerl_registers_its_gym_envs() -> None:
    code = (
        "import judgerl, gymnasium as gym; env = gym.make('homegrid/cat-values-v0'); print(env.reset(seed=0)[0].shape)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "(12, 14, 4)" in out.stdout


def test_same_hyperparameter_baseline_is_trained_and_scored(tmp_path: Path) -> None:
    from judgerl.cli import main

    args = ["run", "--set", f"runs_dir={tmp_path}", "--set", "name=b"]
    for s in (
        "task.id=cartpole/balance-v0",
        "iterations=1",
        "collect_steps=200",
        "labels.total=6",
        "agent.total_timesteps=256",
        "env.n_envs=4",
        "eval.episodes=2",
        "eval.fresh_timesteps=256",
        "eval.true_reward_baseline=true",
        "eval.same_hyperparams_baseline=true",
    ):
        args += ["--set", s]
    assert main(args) == 0
    ev = json.loads((tmp_path / "b" / "eval.json").read_text())
    for key in ("eval/true_reward/return_mean", "eval/true_reward_same_hp/return_mean"):
        assert key in ev
    assert "eval/fresh/normalized_score_same_hp" in ev and "eval/fresh/normalized_score" in ev
