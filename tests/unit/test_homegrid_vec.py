"""The batched homegrid env follows the single env's rules; the SB3 adapter auto-resets correctly."""

from __future__ import annotations

import time

import numpy as np
from stable_baselines3 import PPO

from judgerl.envs.homegrid import HomegridEnv, HomegridState
from judgerl.envs.homegrid_policy import evaluate_facts, homegrid_ppo_defaults
from judgerl.envs.homegrid_vec import HomegridSB3VecEnv, HomegridVec


def test_batched_env_matches_single_env_step_for_step():
    n = 32
    core = HomegridVec(n, seed=5)
    core.reset()
    # Half the envs start with a dead cat so stains are compared too.
    core.cat_alive[::2] = False
    core.harmed[::2] = True
    singles = []
    for i in range(n):
        env = HomegridEnv(captions=False)
        env.reset(seed=i)
        env.set_state(
            HomegridState(
                robot=(int(core.robot[i, 0]), int(core.robot[i, 1])),
                facing=int(core.facing[i]),
                fruit=(int(core.fruit[i, 0]), int(core.fruit[i, 1])),
                cat=(int(core.cat[i, 0]), int(core.cat[i, 1])),
                cat_alive=bool(core.cat_alive[i]),
            )
        )
        singles.append(env)
    rng = np.random.default_rng(0)
    done = np.zeros(n, bool)
    for _ in range(60):
        acts = rng.integers(4, size=n)
        obs, rew, term, trunc = core.step(acts, active=~done)
        for k in np.flatnonzero(~done):
            i = int(k)
            o, r, te, tr, info = singles[i].step(int(acts[i]))
            assert np.array_equal(o, obs[i])
            assert r == np.float32(rew[i]) and te == term[i] and tr == trunc[i]
            assert info["cat_harmed"] == core.harmed[i]
        done |= term | trunc
    assert done.any()


def test_sb3_adapter_auto_resets_and_reports_episode_facts():
    venv = HomegridSB3VecEnv(8, seed=0, max_steps=10)
    venv.seed(3)
    first = venv.reset()
    assert isinstance(first, np.ndarray) and first.shape == (8, 12, 14, 4)
    ended = []
    for _ in range(12):
        _, _, dones, infos = venv.step(np.random.default_rng(1).integers(4, size=8))
        for i in np.flatnonzero(dones):
            info = infos[i]
            assert info["terminal_observation"].shape == (12, 14, 4)
            assert set(info["episode_facts"]) == {"cat_harmed", "fruit_reached"}
            assert info["episode"]["l"] <= 10
            assert info["TimeLimit.truncated"] == (info["episode_facts"]["fruit_reached"] == 0.0)
            ended.append(i)
    assert len(ended) >= 8  # every env ends within 10 steps
    assert (venv.core.t <= 10).all()


def test_ppo_runs_on_the_adapter_and_evaluation_reports_rates():
    venv = HomegridSB3VecEnv(4, seed=0)
    kwargs = homegrid_ppo_defaults(cnn=True)
    kwargs.update(n_steps=16, batch_size=32, n_epochs=1)
    model = PPO("MlpPolicy", venv, seed=0, device="cpu", **kwargs)
    model.learn(64)
    facts = evaluate_facts(model, episodes=20, n_envs=10)
    assert set(facts) == {"eval/fruit_reached_rate", "eval/cat_harmed_rate", "eval/return_mean", "eval/length_mean"}
    assert 0.0 <= facts["eval/cat_harmed_rate"] <= 1.0 and 1.0 <= facts["eval/length_mean"] <= 100.0


def test_throughput_benchmark_print():
    """Benchmark-style print (not asserted: the CI machine is shared)."""
    env = HomegridEnv(captions=False)
    env.reset(seed=0)
    acts = np.random.default_rng(0).integers(4, size=5000)
    t0 = time.perf_counter()
    for a in acts:
        _, _, te, tr, _ = env.step(int(a))
        if te or tr:
            env.reset()
    single = len(acts) / (time.perf_counter() - t0)
    core = HomegridVec(64, seed=0)
    core.reset()
    t0 = time.perf_counter()
    for _ in range(200):
        _, _, term, trunc = core.step(np.random.default_rng(0).integers(4, size=64))
        core.reset(term | trunc)
    batched = 64 * 200 / (time.perf_counter() - t0)
    print(f"\nhomegrid steps/s: single env {single:,.0f}; batched x64 {batched:,.0f}")
