"""The final evaluation's agents go on from their own saves (decision 0051): ``train_resumable``."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env

from judgerl.agents.checkpoint import CheckpointInfo, save_agent_atomic
from judgerl.config import RunConfig, load_config
from judgerl.evaluation.final import train_resumable


class Steps(BaseCallback):
    """Counts the env steps an agent trains under this callback."""

    def __init__(self) -> None:
        super().__init__(verbose=0)
        self.steps = 0

    def _on_step(self) -> bool:
        self.steps += self.training_env.num_envs
        return True


def config(tmp_path: Path) -> RunConfig:
    return load_config(None, [f"runs_dir={tmp_path}", "name=r", "agent.checkpoint_every_s=0"])


def env():  # type: ignore[no-untyped-def]
    return make_vec_env("CartPole-v1", n_envs=2, seed=0)


def ppo(venv) -> PPO:  # type: ignore[no-untyped-def]
    return PPO("MlpPolicy", venv, n_steps=32, batch_size=32, seed=0)


def resume_from(tmp_path: Path, stage: str) -> tuple[RunConfig, list[tuple[int, str | None]], Steps, BaseAlgorithm]:
    """Leave a 128-step save with sidecar ``stage`` as ``fresh_agent.zip``, then train a 256-step fresh agent."""
    cfg = config(tmp_path)
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    part = ppo(env())
    part.learn(128)
    save_agent_atomic(part, cfg.run_dir / "fresh_agent.zip", CheckpointInfo(stage=stage))
    seen: list[tuple[int, str | None]] = []
    counter = Steps()
    venv = env()
    agent = train_resumable(
        cfg, "fresh_agent", "PPO", venv, lambda: ppo(venv), 256, lambda a: [counter],
        before_training=lambda held, info: seen.append((held, None if info is None else info.stage)),
    )  # fmt: skip
    return cfg, seen, counter, agent


def test_an_agent_saved_part_way_trains_only_the_rest_and_a_finished_one_not_at_all(tmp_path: Path) -> None:
    cfg, seen, counter, agent = resume_from(tmp_path, "fresh_agent_training")
    assert seen == [(128, "fresh_agent_training")] and counter.steps == 128 and agent.num_timesteps == 256
    meta = json.loads((cfg.run_dir / "fresh_agent.zip.meta.json").read_text())
    assert (meta["stage"], meta["num_timesteps"]) == ("fresh_agent", 256)

    again = Steps()
    venv = env()
    done = train_resumable(cfg, "fresh_agent", "PPO", venv, lambda: ppo(venv), 256, lambda a: [again])
    assert again.steps == 0 and done.num_timesteps == 256
    for a, b in zip(done.policy.parameters(), agent.policy.parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_save_of_another_stage_is_not_taken_for_this_agents(tmp_path: Path) -> None:
    _, seen, counter, agent = resume_from(tmp_path, "trained")  # the co-trained agent's stage
    assert seen == [(0, None)] and counter.steps == 256 and agent.num_timesteps == 256
