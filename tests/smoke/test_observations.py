"""Dict and grid observations through the whole loop: collected, stored (npz), featurised, fed to SB3."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.policies import MultiInputActorCriticPolicy

import judgerl.testing.dict_env  # noqa: F401  (registers test/dict-cartpole-v0)
from judgerl.config import load_config, validate_references
from judgerl.envs.homegrid_policy import HomegridCNN
from judgerl.labels.store import LabelStore
from judgerl.loop import run
from judgerl.tasks import get_task


def test_dict_observations_run_with_a_multi_input_policy(tmp_path: Path) -> None:
    cfg = load_config(
        None,
        [
            f"runs_dir={tmp_path}",
            "name=dict",
            "task.id=test/dict-cartpole-v0",
            "iterations=2",
            "collect_steps=300",
            "labels.total=10",
            "agent.total_timesteps=512",
            "agent.hyperparams.n_steps=64",
            "agent.hyperparams.batch_size=64",
            "env.n_envs=4",
            "eval.episodes=2",
            "eval.fresh_timesteps=256",
        ],
    )
    validate_references(cfg)
    run_dir = run(cfg)
    agent = PPO.load(run_dir / "agent.zip")
    assert isinstance(agent.policy, MultiInputActorCriticPolicy)  # agent.policy: auto picked it
    with LabelStore(run_dir / "labels.sqlite") as store:
        rows = store.labelled()
    assert len(rows) == 10
    seg = rows[0][0].segments[0]
    # Stored as flat rows [cart x, x_dot, pole theta, theta_dot] (the Dict's key order), compressed npz.
    assert seg.obs.shape == (get_task("test/dict-cartpole-v0").segment_length, 4) and seg.obs.dtype == np.float32
    ev = json.loads((run_dir / "eval.json").read_text())
    assert ev["eval/fresh/episodes"] == 2 and "reward/mixed" in (run_dir / "metrics.jsonl").read_text()


def test_grid_observations_use_the_features_extractor_named_by_import_path(tmp_path: Path) -> None:
    cfg = load_config(
        None,
        [
            f"runs_dir={tmp_path}",
            "name=grid",
            "task.id=homegrid/cat-values-v0",
            "iterations=1",
            "reward.model=none",
            "reward.mix.env_weight=1",
            "reward.mix.learned_weight=0",
            "agent.total_timesteps=512",
            "env.n_envs=4",
            "agent.policy_kwargs.features_extractor_kwargs.channels=4",
            "agent.policy_kwargs.features_extractor_kwargs.features_dim=16",
            "eval.episodes=4",
        ],
    )
    validate_references(cfg)
    agent = PPO.load(run(cfg) / "agent.zip")
    extractor = agent.policy.features_extractor
    # The tuned default names judgerl.envs.homegrid_policy:HomegridCNN; the config changed its arguments.
    assert isinstance(extractor, HomegridCNN) and extractor.features_dim == 16
