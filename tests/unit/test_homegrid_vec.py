"""The batched homegrid env follows the single env's rules; the SB3 adapter auto-resets correctly."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from judgerl.envs.homegrid import HomegridEnv, HomegridState
from judgerl.envs.homegrid_vec import HomegridSB3VecEnv, HomegridVec
from judgerl.evaluation.ground_truth import evaluate
from judgerl.tasks import get_task


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


def test_batched_evaluation_agrees_with_the_gym_env() -> None:
    # The task's batched env evaluates (evaluate -> evaluate_vec); the gym env one episode at a time
    # must give the same rates for the same policy, within sampling error (random policy, 1000 episodes each).
    task = get_task("homegrid/cat-values-v0")
    batched = evaluate(task, None, 1000, seed=3)
    single = evaluate(replace(task, vec_env=None), None, 1000, seed=3)
    assert batched.episodes == single.episodes == 1000
    for key in ("cat_harmed", "fruit_reached"):
        p, q = batched.extra[key], single.extra[key]
        se = np.sqrt(p * (1 - p) / 1000 + q * (1 - q) / 1000)
        assert abs(p - q) < 4 * se + 1e-9, (key, p, q)
    assert abs(batched.length_mean - single.length_mean) < 6.0  # lengths' sd is ~30 steps: 4 SE


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
