"""SB3 agent checkpoints (issue 12, defects 2 and 6): atomic, with a fallback, and a resume that never retrains."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import torch
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env

from judgerl.agents.checkpoint import (
    CheckpointInfo,
    PeriodicSave,
    load_agent_checkpoint,
    plan_training,
    replay_path,
    save_agent_atomic,
)
from judgerl.checkpoints import prev_path


def ppo(n_steps: int = 32) -> PPO:
    return PPO("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2, seed=0), n_steps=n_steps, batch_size=32, seed=0)


def test_agent_save_load_and_fallback_to_prev(tmp_path: Path) -> None:
    path = tmp_path / "agent.zip"
    agent = ppo()
    agent.learn(64)
    save_agent_atomic(agent, path, CheckpointInfo(iteration=0, stage="trained"))
    agent.learn(64, reset_num_timesteps=False)
    save_agent_atomic(agent, path, CheckpointInfo(iteration=1, stage="trained"))

    loaded = load_agent_checkpoint(path, "PPO", make_vec_env("CartPole-v1", n_envs=2))
    assert loaded.value is not None and loaded.value.num_timesteps == 128 and loaded.source == "current"
    assert loaded.info is not None and loaded.info.iteration == 1 and loaded.info.num_timesteps == 128

    # agent.zip damaged (e.g. by a writer from before this fix): the previous checkpoint loads, counted.
    path.write_bytes(path.read_bytes()[:100])
    fallback = load_agent_checkpoint(path, "PPO", make_vec_env("CartPole-v1", n_envs=2))
    assert fallback.value is not None and fallback.value.num_timesteps == 64
    assert fallback.source == "prev" and fallback.fell_back
    assert fallback.info is not None and fallback.info.iteration == 0

    # Both damaged: nothing loads, nothing raises; the loop builds a new agent and counts a retrain.
    prev_path(path).write_bytes(b"not a zip")
    path.with_name("agent.zip.meta.json.prev").unlink()
    none = load_agent_checkpoint(path, "PPO", make_vec_env("CartPole-v1", n_envs=2))
    assert none.value is None and none.source == "none" and none.fell_back and none.errors


def test_disk_full_while_saving_the_agent_keeps_the_old_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "agent.zip"
    agent = ppo()
    agent.learn(64)
    save_agent_atomic(agent, path, CheckpointInfo(iteration=0, stage="trained"))
    before = path.read_bytes()
    agent.learn(64, reset_num_timesteps=False)

    def full_disk(save_path: str, *args: object, **kwargs: object) -> None:
        Path(save_path).write_bytes(b"PK\x03\x04 half a zip")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(agent, "save", full_disk)
    with pytest.raises(OSError):
        save_agent_atomic(agent, path, CheckpointInfo(iteration=1, stage="trained"))
    assert path.read_bytes() == before
    loaded = load_agent_checkpoint(path, "PPO", make_vec_env("CartPole-v1", n_envs=2))
    assert loaded.value is not None and loaded.value.num_timesteps == 64 and loaded.source == "current"
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_off_policy_replay_buffer_is_part_of_the_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "agent.zip"
    agent = DQN("MlpPolicy", make_vec_env("CartPole-v1", n_envs=1, seed=0), buffer_size=500, learning_starts=10)
    agent.learn(50)
    info = save_agent_atomic(agent, path, CheckpointInfo(iteration=0, stage="trained"))
    assert set(info.files) == {"agent.zip", "agent.replay.pkl"}
    loaded = load_agent_checkpoint(path, "DQN", make_vec_env("CartPole-v1", n_envs=1))
    assert loaded.value is not None and loaded.value.replay_buffer.size() == agent.replay_buffer.size() > 0
    # A replay buffer that does not match its sidecar is never paired with the agent.
    replay_path(path).write_bytes(b"x")
    assert load_agent_checkpoint(path, "DQN", make_vec_env("CartPole-v1", n_envs=1)).source != "current"


def test_crash_after_saving_the_agent_does_not_retrain(tmp_path: Path) -> None:
    """Defect 6: iteration 0 trained and saved, state.json not: the resume trains 0 steps and counts none twice."""
    steps_per_iter = [64, 64]
    path = tmp_path / "agent.zip"
    agent = ppo()
    agent.learn(steps_per_iter[0])
    save_agent_atomic(agent, path, CheckpointInfo(iteration=0, stage="trained"))
    # ... killed here: state.json still says iteration 0, env_steps_train 0, in-flight 64 steps.

    loaded = load_agent_checkpoint(path, "PPO", make_vec_env("CartPole-v1", n_envs=2))
    assert loaded.value is not None
    plan = plan_training(0, steps_per_iter, loaded.value.num_timesteps, loaded.info, counted=0, in_flight=64)
    assert plan.steps == 0 and plan.already_trained and plan.lost_steps == 0

    # The next iteration trains its own share only, so the budget ends exact.
    nxt = plan_training(1, steps_per_iter, loaded.value.num_timesteps, loaded.info, counted=64, in_flight=64)
    assert nxt.steps == 64 and not nxt.already_trained and nxt.lost_steps == 0


def test_plan_counts_steps_a_fallback_lost() -> None:
    # state.json counted 128 trained steps, in flight reached 150, the loaded (previous) agent holds 64.
    plan = plan_training(2, [64, 64, 64], 64, CheckpointInfo(iteration=0, stage="trained"), counted=128, in_flight=150)
    assert plan.steps == 128 and not plan.already_trained and plan.lost_steps == 86
    # No sidecar (an old checkpoint): never "already trained", even when no steps are left.
    legacy = plan_training(0, [64, 64], 64, None, counted=0, in_flight=64)
    assert legacy.steps == 0 and not legacy.already_trained


class Tick(BaseCallback):
    """Advances a fake clock by one second per vec-env step."""

    def __init__(self, now: list[float]) -> None:
        super().__init__(verbose=0)
        self.now = now

    def _on_step(self) -> bool:
        self.now[0] += 1.0
        return True


def test_periodic_save_checkpoints_inside_training_at_rollout_starts(tmp_path: Path) -> None:
    # 2 envs x 32 steps: a rollout is 64 agent steps and 32 "seconds"; rollouts start at t = 0, 32, 64, 96, 128.
    # With every_s = 50 the saves fall at t = 64 and t = 128, i.e. at 128 and 256 agent steps.
    path = tmp_path / "agent.zip"
    agent = ppo()
    now = [0.0]
    weights: dict[int, list[torch.Tensor]] = {}

    def extra() -> dict[str, object]:
        weights[agent.num_timesteps] = [p.detach().clone() for p in agent.policy.parameters()]
        return {"mixer": {"mean": 0.5, "std": 2.0, "cut": None, "scale": None}}

    saver = PeriodicSave(path, 50.0, extra, clock=lambda: now[0])
    saver.iteration = 3
    agent.learn(320, callback=[Tick(now), saver])
    assert saver.saves == 2 and sorted(weights) == [128, 256]

    loaded = load_agent_checkpoint(path, "PPO", make_vec_env("CartPole-v1", n_envs=2))
    assert loaded.value is not None and loaded.info is not None
    assert loaded.info.stage == "training" and loaded.info.iteration == 3 and loaded.value.num_timesteps == 256
    # The checkpoint is the agent as it was at that rollout start (the update on the last rollout came after).
    for saved, then in zip(loaded.value.policy.parameters(), weights[256], strict=True):
        assert torch.equal(saved, then)
    assert any(not torch.equal(a, b) for a, b in zip(agent.policy.parameters(), weights[256], strict=True))

    # The resume trains the rest of the iteration and restores the mixer statistics the agent trained with.
    plan = plan_training(3, [128, 128, 64, 128], 256, loaded.info, counted=320, in_flight=300)
    assert plan.mid_iteration and plan.steps == 192 and not plan.already_trained and plan.lost_steps == 64
    assert plan.mixer == {"mean": 0.5, "std": 2.0, "cut": None, "scale": None}
    # A save from another iteration is no mid-iteration resume (and restores nothing).
    other = plan_training(4, [128, 128, 64, 128, 128], 256, loaded.info, counted=256)
    assert not other.mid_iteration and other.mixer is None


def test_periodic_save_is_off_at_zero_and_counts_from_each_learn(tmp_path: Path) -> None:
    now = [0.0]
    agent = ppo()
    off = PeriodicSave(tmp_path / "off.zip", 0.0, clock=lambda: now[0])
    agent.learn(320, callback=[Tick(now), off])
    assert off.saves == 0 and not (tmp_path / "off.zip").exists()

    # 1000 "seconds" pass between two learn calls (an evaluation, a judge): the next learn does not save at its
    # first rollout start (the steps the last save holds), nor at its second, 32 "seconds" into the learn.
    on = PeriodicSave(tmp_path / "on.zip", 50.0, clock=lambda: now[0])
    now[0] += 1000.0
    agent.learn(128, callback=[Tick(now), on], reset_num_timesteps=False)
    assert on.saves == 0
    agent.learn(192, callback=[Tick(now), on], reset_num_timesteps=False)  # rollout starts 32, 64 "s" in
    assert on.saves == 1


def test_periodic_save_of_an_off_policy_agent_holds_the_replay_buffer_of_its_steps(tmp_path: Path) -> None:
    path = tmp_path / "agent.zip"
    now = [0.0]
    agent = DQN("MlpPolicy", make_vec_env("CartPole-v1", n_envs=1, seed=0), buffer_size=500, learning_starts=10)
    saver = PeriodicSave(path, 20.0, clock=lambda: now[0])
    agent.learn(100, callback=[Tick(now), saver])
    assert saver.saves > 0
    loaded = load_agent_checkpoint(path, "DQN", make_vec_env("CartPole-v1", n_envs=1))
    assert loaded.value is not None and loaded.info is not None and loaded.info.stage == "training"
    assert 0 < loaded.value.num_timesteps < 100
    assert loaded.value.replay_buffer.size() == loaded.value.num_timesteps


def test_a_slow_save_pushes_the_next_one_back_so_saves_keep_to_their_share(tmp_path: Path) -> None:
    # Each save takes 10 "seconds" (a big replay buffer): with max_share 0.02 the next waits 10 * 49 = 490 s,
    # not every_s = 50. Rollouts start every 32 s (2 envs x 32 steps, 1 s a step) at t = 0, 32, ..., 608.
    now = [0.0]
    agent = ppo()
    times: list[float] = []

    def slow() -> dict[str, object]:
        times.append(now[0])
        now[0] += 10.0
        return {}

    saver = PeriodicSave(tmp_path / "agent.zip", 50.0, slow, clock=lambda: now[0], max_share=0.02)
    agent.learn(64 * 20, callback=[Tick(now), saver])
    assert saver.wait_s == pytest.approx(490.0)
    assert len(times) == 2 and times[1] - times[0] >= 490.0
